"""Choosing the judge a process uses, from :class:`~livesight.settings.Settings`."""

from __future__ import annotations

from dataclasses import replace

import httpx

from livesight.judges.base import Judge
from livesight.judges.errors import JudgeNotConfigured
from livesight.judges.openai import DEFAULT_OPENAI_BASE_URL, DEFAULT_RETRY, OpenAICompatibleJudge
from livesight.retry import RetryPolicy
from livesight.settings import Settings

__all__ = ["build_judge"]


def build_judge(settings: Settings, *, http_client: httpx.AsyncClient | None = None) -> Judge:
    """The judge ``settings`` ask for.

    An OpenAI-compatible endpoint when ``model_base_url`` or ``model_api_key`` is set (a key alone means
    OpenAI itself); otherwise the embedded local judge; and when none is available,
    :class:`JudgeNotConfigured` naming the variables to set. ``http_client`` is shared, not closed.
    """
    if settings.model_base_url or settings.model_api_key:
        return OpenAICompatibleJudge(
            base_url=settings.model_base_url or DEFAULT_OPENAI_BASE_URL,
            api_key=settings.model_api_key,
            model=settings.model,
            timeout=settings.model_timeout_seconds,
            retry=_retry_policy(settings),
            http_client=http_client,
        )
    local = _build_local_judge(settings)
    if local is not None:
        return local
    raise JudgeNotConfigured()


def _retry_policy(settings: Settings) -> RetryPolicy:
    return replace(DEFAULT_RETRY, max_attempts=max(0, settings.model_max_retries) + 1)


def _build_local_judge(settings: Settings) -> Judge | None:
    """The embedded default judge that needs no endpoint or key.

    Seam for the local CLIP judge (SPEC §5): it will return it here when its weights are available,
    and ``None`` otherwise so that :func:`build_judge` can explain what to configure.
    """
    return None
