"""A judge for any OpenAI-compatible ``/chat/completions`` endpoint that accepts images.

Covers OpenAI, Gemini's OpenAI endpoint, Ollama, vLLM, LM Studio, llama.cpp server and OpenRouter.
Structured output goes through ``response_format`` (JSON schema, falling back to JSON mode and then to
none for servers that lack it); answers are read tolerantly and, when unreadable, the model is asked
once more for clean JSON. With ``video_input``, clip and hybrid checks send the clip itself as a
``video_url`` part (a base64 MP4 data URL, as vLLM-served video models take it) instead of stills.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, TypeVar

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
from livesight.judges.parsing import looks_like_refusal, parse_review, parse_rule_verdicts, parse_verdict
from livesight.retry import RetryPolicy, parse_retry_after, retry_async
from livesight.types import JudgeImage, Review, RuleVerdicts, Sample, Usage, Verdict

__all__ = ["DEFAULT_OPENAI_BASE_URL", "DEFAULT_RETRY", "OpenAICompatibleJudge", "ResponseFormatMode"]

log = logging.getLogger(__name__)

R = TypeVar("R", Verdict, Review, RuleVerdicts)
ResponseFormatMode = Literal["json_schema", "json_object", "none"]
ImageDetail = Literal["low", "high", "auto"]

DEFAULT_OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
#: Model calls retry transient failures 3 times (4 attempts), starting at 1 s, never waiting over 30 s.
DEFAULT_RETRY: Final = RetryPolicy(initial=1.0, maximum=30.0, multiplier=2.0, jitter=0.25, max_attempts=4)

_FORMAT_MODES: Final[tuple[ResponseFormatMode, ...]] = ("json_schema", "json_object", "none")
# Words in a 4xx/5xx body that say the server cannot do the requested structured output.
_FORMAT_COMPLAINT = re.compile(
    r"response_format|response format|json_schema|json schema|json_object|structured output", re.IGNORECASE
)
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',;]+")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
_EXCERPT = 300


@dataclass
class _Tally:
    """What one check or review spent, across retries, format fallbacks and the repair call."""

    calls: int = 0
    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    videos: int = 0

    def usage(self, latency: float) -> Usage:
        return Usage(self.calls, self.images, self.input_tokens, self.output_tokens, latency, videos_sent=self.videos)


class _ParameterRejected(Exception):
    """The server rejected an optional request parameter; the judge drops it and asks again."""

    def __init__(self, parameter: str) -> None:
        super().__init__(parameter)
        self.parameter = parameter


class OpenAICompatibleJudge:
    """Asks a vision model behind an OpenAI-compatible chat-completions API.

    ``base_url`` is the API root (``…/v1``); ``api_key`` may be ``None`` for local servers. Transient
    failures (timeouts, 429, 5xx, connection errors) are retried with ``retry``; 400/401/403 are not.
    ``http_client`` lets the caller share a client (the judge then does not close it). ``sleep`` is the
    wait used between retries (tests inject a recorder). ``image_detail`` is sent with every image:
    ``"low"`` keeps a frame at a fixed, small token cost. ``video_input`` sends clips as ``video_url``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.AsyncClient | None = None,
        extra_headers: dict[str, str] | None = None,
        supports_json_schema: bool = True,
        image_detail: ImageDetail = "low",
        max_tokens: int | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        video_input: bool = False,
    ) -> None:
        self.name = f"openai-compatible:{model}"
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self._timeout = timeout
        self._retry = retry
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._headers = {"Content-Type": "application/json", **(extra_headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._format_index = 0 if supports_json_schema else 1
        self._send_temperature = True
        self._image_detail = image_detail
        self._max_tokens = max_tokens
        self._sleep = sleep
        self.accepts_video = video_input
        self._url = f"{self.base_url}/chat/completions"
        self._display_url = self._redact(_without_credentials(self._url))

    def __repr__(self) -> str:
        return f"OpenAICompatibleJudge(base_url={self._display_url!r}, model={self.model!r})"

    @property
    def response_format_mode(self) -> ResponseFormatMode:
        """The structured-output mode the judge currently sends (it only ever steps down, never back up)."""
        return _FORMAT_MODES[self._format_index]

    async def check(self, condition: str, sample: Sample) -> Verdict:
        """Ask whether ``condition`` holds in ``sample``'s frames.

        Frames are labelled with seconds since the sample's first frame.
        """
        if not sample.images:
            raise ValueError("a check needs at least one image")
        if self.accepts_video and sample.video is not None:
            return await self._check_video(condition, sample)
        origin = sample.images[0].session_time
        content = [
            _text(prompts.check_intro(condition, len(sample.images))),
            *self._frame_parts(sample.images, origin),
            _text(prompts.check_outro()),
        ]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.CHECK_SYSTEM},
            {"role": "user", "content": content},
        ]
        return await self._ask(
            messages,
            schema_name=prompts.VERDICT_SCHEMA_NAME,
            schema=prompts.VERDICT_SCHEMA,
            shape=prompts.VERDICT_SHAPE,
            image_count=len(sample.images),
            parse=parse_verdict,
        )

    async def check_rules(self, rules: Sequence[tuple[str, str]], sample: Sample) -> RuleVerdicts:
        """Ask several ``(name, condition)`` rules about ``sample``'s frames in one request, with one JSON schema
        (a verdict per rule name): one model call whatever the number of rules."""
        if not sample.images:
            raise ValueError("a check needs at least one image")
        names = [name for name, _ in rules]
        origin = sample.images[0].session_time
        content = [
            _text(prompts.rules_intro(list(rules), len(sample.images))),
            *self._frame_parts(sample.images, origin),
            _text(prompts.check_outro()),
        ]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.CHECK_RULES_SYSTEM},
            {"role": "user", "content": content},
        ]
        answer = await self._ask(
            messages,
            schema_name=prompts.RULES_SCHEMA_NAME,
            schema=prompts.rules_schema(names),
            shape=prompts.rules_shape(names),
            image_count=len(sample.images),
            parse=lambda text: parse_rule_verdicts(text, names),
        )
        named = {name: replace(v, judge=self.name) for name, v in answer.verdicts.items()}
        return replace(answer, verdicts=named, judge=self.name)

    async def _check_video(self, condition: str, sample: Sample) -> Verdict:
        video = sample.video
        assert video is not None
        data = base64.b64encode(video.data).decode("ascii")
        content: list[dict[str, Any]] = [
            _text(prompts.check_intro_video(condition, video.end_time - video.start_time)),
            {"type": "video_url", "video_url": {"url": f"data:{video.mime_type};base64,{data}"}},
        ]
        stills = sample.images[-1:] if sample.mode == "hybrid" else ()  # hybrid: the newest frame, sharp
        content += self._frame_parts(stills, video.start_time)
        content.append(_text(prompts.check_outro()))
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.CHECK_SYSTEM_VIDEO},
            {"role": "user", "content": content},
        ]
        return await self._ask(
            messages,
            schema_name=prompts.VERDICT_SCHEMA_NAME,
            schema=prompts.VERDICT_SCHEMA,
            shape=prompts.VERDICT_SHAPE,
            image_count=len(stills),
            parse=parse_verdict,
            video_count=1,
        )

    async def review(
        self, query: str, images: Sequence[JudgeImage], chunk_start: float, chunk_duration: float
    ) -> Review:
        """Ask for the events matching ``query`` in one chunk.

        ``images`` carry absolute session times; the model sees times relative to ``chunk_start`` and the
        returned event times are relative to it too, clamped to ``[0, chunk_duration]``.
        """
        if not images:
            raise ValueError("a review needs at least one image")
        content = [
            _text(prompts.review_intro(query, chunk_duration)),
            *self._frame_parts(images, chunk_start),
            _text(prompts.review_outro(chunk_duration)),
        ]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.REVIEW_SYSTEM},
            {"role": "user", "content": content},
        ]

        def parse(text: str) -> Review:
            return parse_review(text, chunk_duration=chunk_duration)

        return await self._ask(
            messages,
            schema_name=prompts.REVIEW_SCHEMA_NAME,
            schema=prompts.REVIEW_SCHEMA,
            shape=prompts.REVIEW_SHAPE,
            image_count=len(images),
            parse=parse,
        )

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was handed in by the caller."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> OpenAICompatibleJudge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------------ one question

    async def _ask(
        self,
        messages: list[dict[str, Any]],
        *,
        schema_name: str,
        schema: dict[str, Any],
        shape: str,
        image_count: int,
        parse: Callable[[str], R],
        video_count: int = 0,
    ) -> R:
        started = time.perf_counter()
        tally = _Tally()
        tally.videos = video_count
        try:
            text = await self._complete(messages, schema_name, schema, image_count, tally)
            try:
                result = parse(text)
            except JudgeParseError:
                if looks_like_refusal(text):
                    raise JudgeRefused(f"the model declined: {_excerpt(text)}") from None
                log.info("unreadable answer from %s, asking once more for JSON: %s", self.model, _excerpt(text))
                repair = [
                    *messages,
                    {"role": "assistant", "content": text or "(empty answer)"},
                    {"role": "user", "content": prompts.REPAIR.format(shape=shape)},
                ]
                text = await self._complete(repair, schema_name, schema, image_count, tally)
                try:
                    result = parse(text)
                except JudgeParseError as exc:
                    if looks_like_refusal(text):
                        raise JudgeRefused(f"the model declined: {_excerpt(text)}") from None
                    raise JudgeBadResponse(
                        f"the model's answer could not be read, even after asking again for JSON: {_excerpt(text)}"
                    ) from exc
        except JudgeError as exc:
            # Last line of defence: whatever got into the message, the key does not leave this object.
            exc.message = self._redact(exc.message)
            exc.args = (exc.message,)
            exc.usage = tally.usage(time.perf_counter() - started)
            raise
        usage = tally.usage(time.perf_counter() - started)
        if isinstance(result, Verdict):
            return replace(result, usage=usage, judge=self.name)
        return replace(result, usage=usage)

    async def _complete(
        self,
        messages: list[dict[str, Any]],
        schema_name: str,
        schema: dict[str, Any],
        image_count: int,
        tally: _Tally,
    ) -> str:
        """One answer's text: retries transient failures, and steps down rejected optional parameters."""
        while True:
            format_index = self._format_index
            body = self._body(messages, schema_name, schema, _FORMAT_MODES[format_index])

            def attempt(body: dict[str, Any] = body) -> Awaitable[str]:
                return self._post(body, image_count, tally)

            try:
                return await retry_async(
                    attempt,
                    self._retry,
                    should_retry=lambda exc: isinstance(exc, TRANSIENT_ERRORS),
                    retry_after=lambda exc: exc.retry_after if isinstance(exc, JudgeRateLimited) else None,
                    on_retry=self._log_retry,
                    sleep=self._sleep,
                )
            except _ParameterRejected as rejected:
                # Remembered for the judge's lifetime: the server will not learn the feature mid-run. Stepping
                # down from the mode *this* request used keeps concurrent checks from skipping a mode.
                if rejected.parameter == "response_format":
                    self._format_index = max(self._format_index, min(len(_FORMAT_MODES) - 1, format_index + 1))
                    log.warning(
                        "%s rejected response_format; using %r from now on",
                        self._display_url,
                        self.response_format_mode,
                    )
                else:
                    self._send_temperature = False
                    log.warning("%s rejected temperature; leaving it out from now on", self._display_url)

    def _body(
        self, messages: list[dict[str, Any]], schema_name: str, schema: dict[str, Any], mode: ResponseFormatMode
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self._send_temperature:
            body["temperature"] = 0  # repeatable verdicts; the question has one right answer
        if self._max_tokens is not None:
            body["max_tokens"] = self._max_tokens
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": True, "schema": schema},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _frame_parts(self, images: Sequence[JudgeImage], origin: float) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for index, image in enumerate(images, start=1):
            parts.append(_text(prompts.frame_label(index, image.session_time - origin)))
            data = base64.b64encode(image.jpeg).decode("ascii")
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/jpeg;base64,{data}", "detail": self._image_detail},
                }
            )
        return parts

    # ------------------------------------------------------------------------------------------ one HTTP call

    async def _post(self, body: dict[str, Any], image_count: int, tally: _Tally) -> str:
        tally.calls += 1
        tally.images += image_count
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise JudgeTimeout(
                f"{self._display_url} did not answer within {self._timeout:g} s ({type(exc).__name__})"
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise JudgeRequestRejected(f"invalid model base URL {self._display_url}: {self._redact(str(exc))}") from exc
        except httpx.TransportError as exc:
            raise JudgeUnavailable(
                f"could not reach {self._display_url}: {type(exc).__name__}: {self._redact(str(exc))}"
            ) from exc
        if response.status_code >= 400:
            raise self._http_error(response, body)
        try:
            payload = response.json()
        except ValueError:
            raise JudgeBadResponse(
                f"{self._display_url} answered HTTP {response.status_code} with a body that is not JSON: "
                f"{self._excerpt_of(response)}",
                status_code=response.status_code,
            ) from None
        if not isinstance(payload, dict):
            raise JudgeBadResponse(f"{self._display_url} answered with JSON that is not an object")
        self._count_tokens(payload, tally)
        if "choices" not in payload and isinstance(payload.get("error"), dict):
            # OpenRouter and some proxies report upstream failures as HTTP 200 with an error object.
            raise self._error_from_body(payload["error"], response)
        return self._answer_text(payload)

    def _answer_text(self, payload: dict[str, Any]) -> str:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise JudgeBadResponse(f"{self._display_url} answered without choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise JudgeBadResponse(f"{self._display_url} answered without a message")
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise JudgeRefused(f"the model declined: {_excerpt(refusal)}")
        content = message.get("content")
        if isinstance(content, list):  # some servers answer with content parts, like the request's
            content = "".join(
                part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        text = content if isinstance(content, str) else ""
        if choice.get("finish_reason") == "content_filter" and not text.strip():
            raise JudgeRefused("the provider's content filter blocked the answer")
        return text

    def _http_error(self, response: httpx.Response, body: dict[str, Any]) -> Exception:
        status = response.status_code
        detail = self._excerpt_of(response)
        if status in (400, 422, 500) and "response_format" in body and _FORMAT_COMPLAINT.search(response.text):
            return _ParameterRejected("response_format")
        if status == 400 and "temperature" in body and "temperature" in response.text.lower():
            return _ParameterRejected("temperature")
        where = self._display_url
        if status in (401, 403):
            return JudgeAuthError(f"{where} rejected the credentials (HTTP {status}): {detail}", status_code=status)
        if status == 429:
            return JudgeRateLimited(
                f"{where} is rate limiting requests (HTTP 429): {detail}", retry_after=_retry_after_of(response)
            )
        if status == 408:
            return JudgeTimeout(f"{where} timed out the request (HTTP 408): {detail}", status_code=status)
        if status >= 500:
            return JudgeUnavailable(f"{where} failed (HTTP {status}): {detail}", status_code=status)
        if status == 404:
            return JudgeRequestRejected(
                f"{where} answered 404: wrong base URL or unknown model {self.model!r}: {detail}", status_code=status
            )
        return JudgeRequestRejected(f"{where} rejected the request (HTTP {status}): {detail}", status_code=status)

    def _error_from_body(self, error: dict[str, Any], response: httpx.Response) -> JudgeError:
        code = error.get("code")
        message = self._redact(_excerpt(str(error.get("message", error))))
        status = code if isinstance(code, int) and not isinstance(code, bool) else 502
        where = self._display_url
        if status in (401, 403):
            return JudgeAuthError(f"{where} rejected the credentials ({status}): {message}", status_code=status)
        if status == 429:
            return JudgeRateLimited(
                f"{where} is rate limiting requests: {message}", retry_after=_retry_after_of(response)
            )
        if 400 <= status < 500:
            return JudgeRequestRejected(f"{where} rejected the request ({status}): {message}", status_code=status)
        return JudgeUnavailable(f"{where} reported an upstream failure ({status}): {message}", status_code=status)

    @staticmethod
    def _count_tokens(payload: dict[str, Any], tally: _Tally) -> None:
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return
        tally.input_tokens += _int(usage.get("prompt_tokens", usage.get("input_tokens")))
        tally.output_tokens += _int(usage.get("completion_tokens", usage.get("output_tokens")))

    def _excerpt_of(self, response: httpx.Response) -> str:
        detail: object = response.text
        try:
            payload = response.json()
        except ValueError:
            pass
        else:
            if isinstance(payload, dict):
                error = payload.get("error")
                if isinstance(error, dict) and "message" in error:
                    detail = error["message"]
                elif isinstance(error, str):
                    detail = error
                elif "detail" in payload:
                    detail = payload["detail"]
        return self._redact(_excerpt(str(detail)))

    def _log_retry(self, attempt: int, exc: BaseException, delay: float) -> None:
        log.warning(
            "model call to %s failed (%s: %s); retry %d in %.2f s",
            self._display_url,
            type(exc).__name__,
            self._redact(str(exc)),
            attempt,
            delay,
        )

    def _redact(self, text: str) -> str:
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "[REDACTED]")
        text = _BEARER.sub("Bearer [REDACTED]", text)
        return _SK_KEY.sub("sk-[REDACTED]", text)


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _retry_after_of(response: httpx.Response) -> float | None:
    # OpenAI also sends the finer-grained retry-after-ms; prefer it when present.
    millis = parse_retry_after(response.headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    return parse_retry_after(response.headers.get("retry-after"))


def _without_credentials(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    # Query strings may carry keys (?key=…) and user info may carry passwords: show neither.
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))
