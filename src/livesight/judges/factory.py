"""Choosing the judge a process uses, from :class:`~livesight.settings.Settings`."""

from __future__ import annotations

from dataclasses import replace

import httpx

from livesight.judges.base import Judge
from livesight.judges.cascade import CascadeJudge
from livesight.judges.clip_weights import fetch_clip_files, find_clip_files, unavailable
from livesight.judges.errors import JudgeNotConfigured
from livesight.judges.gemini import DEFAULT_GEMINI_BASE_URL, GeminiJudge
from livesight.judges.openai import DEFAULT_OPENAI_BASE_URL, DEFAULT_RETRY, OpenAICompatibleJudge
from livesight.retry import RetryPolicy
from livesight.settings import Settings

__all__ = ["build_judge", "build_local_judge"]


def build_judge(settings: Settings, *, http_client: httpx.AsyncClient | None = None, download: bool = False) -> Judge:
    """The judge ``settings`` ask for.

    A model endpoint when ``model_base_url`` or ``model_api_key`` is set (a key alone means OpenAI itself,
    or Google with ``model_api=gemini``), behind local CLIP when ``cascade`` is on; otherwise the embedded
    local CLIP judge when its weights are available; and when none is, :class:`JudgeNotConfigured`
    naming what to set. ``download`` lets local CLIP fetch missing weights from the hub first (blocking,
    with a progress bar: for the command line, not for a server's request). ``http_client`` is shared,
    not closed.
    """
    if settings.model_base_url or settings.model_api_key:
        first = build_local_judge(settings, download=download, required=True) if settings.cascade else None
        strong = _remote_judge(settings, http_client)
        if first is not None:
            return CascadeJudge(first, strong, threshold=settings.cascade_threshold)
        return strong
    local = build_local_judge(settings, download=download)
    if local is not None:
        return local
    raise JudgeNotConfigured()


def _remote_judge(settings: Settings, http_client: httpx.AsyncClient | None) -> Judge:
    if settings.model_api == "gemini":
        return GeminiJudge(
            settings.model_api_key,
            settings.model,
            base_url=settings.model_base_url or DEFAULT_GEMINI_BASE_URL,
            timeout=settings.model_timeout_seconds,
            retry=_retry_policy(settings),
            http_client=http_client,
            video_input=settings.model_video_input is not False,
        )
    return OpenAICompatibleJudge(
        base_url=settings.model_base_url or DEFAULT_OPENAI_BASE_URL,
        api_key=settings.model_api_key,
        model=settings.model,
        timeout=settings.model_timeout_seconds,
        retry=_retry_policy(settings),
        http_client=http_client,
        video_input=bool(settings.model_video_input),
    )


def _retry_policy(settings: Settings) -> RetryPolicy:
    return replace(DEFAULT_RETRY, max_attempts=max(0, settings.model_max_retries) + 1)


def build_local_judge(settings: Settings, *, download: bool = False, required: bool = False) -> Judge | None:
    """The embedded local CLIP judge that needs no endpoint or key (SPEC §5).

    ``None`` when its extra or weights are missing (``required``: raise
    :class:`~livesight.judges.clip_weights.ClipUnavailable` saying what to do instead); ``download``
    fetches missing weights from the hub first.
    """
    from livesight.judges.clip import ClipJudge

    files = fetch_clip_files(settings) if download else find_clip_files(settings)
    if files is None:
        if required:
            raise unavailable(settings, "they were not looked for online")
        return None
    label = str(settings.clip_model_dir) if settings.clip_model_dir is not None else settings.clip_model
    return ClipJudge(files, threshold=settings.clip_threshold, threads=settings.clip_threads, label=label)
