"""A judge for Gemini's native ``generateContent`` API, which takes video: clips go as real MP4 clips.

Gemini's OpenAI-compatible endpoint takes images only; its native API also takes ``inlineData`` video, so
clip and hybrid checks send the clip itself (and hybrid adds the newest frame as a sharp still). Frames
mode and reviews send labelled stills, like the chat-completions judge. Structured output goes through
``responseSchema``; answers are read by the same tolerant parser, with one repair request.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar

import httpx

from livesight.judges import _prompts as prompts
from livesight.judges.errors import (
    TRANSIENT_ERRORS,
    JudgeAuthError,
    JudgeBadResponse,
    JudgeError,
    JudgeParseError,
    JudgeRateLimited,
    JudgeRefused,
    JudgeRequestRejected,
    JudgeTimeout,
    JudgeUnavailable,
)
from livesight.judges.parsing import looks_like_refusal, parse_review, parse_verdict
from livesight.retry import RetryPolicy, parse_retry_after, retry_async
from livesight.types import JudgeImage, Review, Sample, Usage, Verdict

__all__ = ["DEFAULT_GEMINI_BASE_URL", "GeminiJudge"]

log = logging.getLogger(__name__)

R = TypeVar("R", Verdict, Review)
DEFAULT_GEMINI_BASE_URL: Final = "https://generativelanguage.googleapis.com/v1beta"
_RETRY: Final = RetryPolicy(initial=1.0, maximum=30.0, multiplier=2.0, jitter=0.25, max_attempts=4)
_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema in the OpenAPI subset ``responseSchema`` accepts (no ``additionalProperties``)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "additionalProperties":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = gemini_schema(value)
        else:
            out[key] = value
    return out


@dataclass
class _Tally:
    calls: int = 0
    images: int = 0
    videos: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def usage(self, latency: float) -> Usage:
        return Usage(self.calls, self.images, self.input_tokens, self.output_tokens, latency, videos_sent=self.videos)


class GeminiJudge:
    """Asks a Gemini model through ``{base_url}/models/{model}:generateContent`` (key in ``x-goog-api-key``).

    ``video_input`` (default on) sends clips as video; off, clip checks send their stills.
    """

    def __init__(
        self,
        api_key: str | None,
        model: str,
        *,
        base_url: str = DEFAULT_GEMINI_BASE_URL,
        timeout: float = 60.0,
        retry: RetryPolicy = _RETRY,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        video_input: bool = True,
    ) -> None:
        self.name = f"gemini:{model}"
        self.accepts_video = video_input
        self.model = model.removeprefix("models/")
        self.base_url = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["x-goog-api-key"] = api_key
        self._api_key = api_key
        self._timeout = timeout
        self._retry = retry
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep
        self._url = f"{self.base_url}/models/{self.model}:generateContent"

    async def check(self, condition: str, sample: Sample) -> Verdict:
        """Whether ``condition`` holds: the clip as video when the sample has one, else the stills."""
        if not sample.images:
            raise ValueError("a check needs at least one image")
        video = sample.video if self.accepts_video else None
        if video is not None:
            data = base64.b64encode(video.data).decode("ascii")
            parts: list[dict[str, Any]] = [
                {"text": prompts.check_intro_video(condition, video.end_time - video.start_time)},
                {"inlineData": {"mimeType": video.mime_type, "data": data}},
            ]
            stills = sample.images[-1:] if sample.mode == "hybrid" else ()
            parts += _frame_parts(stills, video.start_time)
            system = prompts.CHECK_SYSTEM_VIDEO
        else:
            stills = sample.images
            parts = [
                {"text": prompts.check_intro(condition, len(stills))},
                *_frame_parts(stills, stills[0].session_time),
            ]
            system = prompts.CHECK_SYSTEM
        parts.append({"text": prompts.check_outro()})
        tally = _Tally(images=0, videos=0)
        return await self._ask(
            system, parts, prompts.VERDICT_SCHEMA, prompts.VERDICT_SHAPE, parse_verdict, tally, len(stills), video
        )

    async def review(
        self, query: str, images: Sequence[JudgeImage], chunk_start: float, chunk_duration: float
    ) -> Review:
        """The events matching ``query`` in one chunk, from labelled stills (times relative to ``chunk_start``)."""
        if not images:
            raise ValueError("a review needs at least one image")
        parts = [
            {"text": prompts.review_intro(query, chunk_duration)},
            *_frame_parts(images, chunk_start),
            {"text": prompts.review_outro(chunk_duration)},
        ]

        def parse(text: str) -> Review:
            return parse_review(text, chunk_duration=chunk_duration)

        return await self._ask(
            prompts.REVIEW_SYSTEM,
            parts,
            prompts.REVIEW_SCHEMA,
            prompts.REVIEW_SHAPE,
            parse,
            _Tally(),
            len(images),
            None,
        )

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was handed in by the caller."""
        if self._owns_client:
            await self._client.aclose()

    # -- one question -----------------------------------------------------------------------------
    async def _ask(
        self,
        system: str,
        parts: list[dict[str, Any]],
        schema: dict[str, Any],
        shape: str,
        parse: Callable[[str], R],
        tally: _Tally,
        image_count: int,
        video: object,
    ) -> R:
        started = time.perf_counter()
        contents: list[dict[str, Any]] = [{"role": "user", "parts": parts}]
        media = (image_count, 1 if video is not None else 0)
        try:
            text = await self._complete(system, contents, schema, tally, media)
            try:
                result = parse(text)
            except JudgeParseError:
                if looks_like_refusal(text):
                    raise JudgeRefused(f"the model declined: {text[:300]}") from None
                contents += [
                    {"role": "model", "parts": [{"text": text or "(empty answer)"}]},
                    {"role": "user", "parts": [{"text": prompts.REPAIR.format(shape=shape)}]},
                ]
                text = await self._complete(system, contents, schema, tally, media)
                try:
                    result = parse(text)
                except JudgeParseError as exc:
                    raise JudgeBadResponse(f"the model's answer could not be read: {text[:300]}") from exc
        except JudgeError as exc:
            exc.usage = tally.usage(time.perf_counter() - started)
            raise
        usage = tally.usage(time.perf_counter() - started)
        if isinstance(result, Verdict):
            return replace(result, usage=usage, judge=self.name)
        return replace(result, usage=usage)

    async def _complete(
        self,
        system: str,
        contents: list[dict[str, Any]],
        schema: dict[str, Any],
        tally: _Tally,
        media: tuple[int, int],
    ) -> str:
        body = {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": contents,
            "generationConfig": {
                "temperature": 0,
                "responseMimeType": "application/json",
                "responseSchema": gemini_schema(schema),
            },
        }

        async def attempt() -> str:
            tally.calls += 1
            tally.images += media[0]
            tally.videos += media[1]
            return await self._post(body, tally)

        return await retry_async(
            attempt,
            self._retry,
            should_retry=lambda exc: isinstance(exc, TRANSIENT_ERRORS),
            retry_after=lambda exc: exc.retry_after if isinstance(exc, JudgeRateLimited) else None,
            sleep=self._sleep,
        )

    async def _post(self, body: dict[str, Any], tally: _Tally) -> str:
        where = self._url
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise JudgeTimeout(f"{where} did not answer within {self._timeout:g} s") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise JudgeRequestRejected(f"invalid Gemini base URL {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise JudgeUnavailable(f"could not reach {where}: {type(exc).__name__}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            raise self._http_error(response, payload)
        if not isinstance(payload, dict):
            raise JudgeBadResponse(f"{where} answered HTTP {response.status_code} without a JSON object")
        usage = payload.get("usageMetadata")
        if isinstance(usage, dict):
            tally.input_tokens += _int(usage.get("promptTokenCount"))
            tally.output_tokens += _int(usage.get("candidatesTokenCount")) + _int(usage.get("thoughtsTokenCount"))
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise JudgeRefused(f"Gemini blocked the request: {feedback['blockReason']}")
        candidates = payload.get("candidates")
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            raise JudgeBadResponse(f"{where} answered without candidates")
        candidate = candidates[0]
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        parts = content.get("parts") if isinstance(content, dict) else None
        text = "".join(
            p["text"]
            for p in (parts or [])
            if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
        )
        if not text.strip() and candidate.get("finishReason") in _BLOCKED:
            raise JudgeRefused(f"Gemini withheld the answer (finishReason {candidate['finishReason']})")
        return text

    def _http_error(self, response: httpx.Response, payload: Any) -> JudgeError:
        status = response.status_code
        error = payload.get("error") if isinstance(payload, dict) else None
        message = str(error.get("message", "")) if isinstance(error, dict) else response.text[:300]
        if self._api_key:
            message = message.replace(self._api_key, "[REDACTED]")
        where = self._url
        if status in (401, 403) or (status == 400 and "api key" in message.lower()):
            return JudgeAuthError(f"{where} rejected the key (HTTP {status}): {message}", status_code=status)
        if status == 429:
            return JudgeRateLimited(
                f"{where} is rate limiting (HTTP 429): {message}", retry_after=_retry_after(response, error)
            )
        if status == 408:
            return JudgeTimeout(f"{where} timed out the request: {message}", status_code=status)
        if status >= 500:
            return JudgeUnavailable(f"{where} failed (HTTP {status}): {message}", status_code=status)
        if status == 404:
            return JudgeRequestRejected(f"{where}: unknown model {self.model!r}: {message}", status_code=status)
        return JudgeRequestRejected(f"{where} rejected the request (HTTP {status}): {message}", status_code=status)


def _frame_parts(images: Sequence[JudgeImage], origin: float) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for index, image in enumerate(images, start=1):
        parts.append({"text": prompts.frame_label(index, image.session_time - origin)})
        parts.append({"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(image.jpeg).decode("ascii")}})
    return parts


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _retry_after(response: httpx.Response, error: Any) -> float | None:
    header = parse_retry_after(response.headers.get("retry-after"))
    if header is not None:
        return header
    # Gemini puts the wait in a google.rpc.RetryInfo detail: {"retryDelay": "7s"}.
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        match = _DELAY.match(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None
