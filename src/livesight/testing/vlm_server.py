"""An OpenAI-compatible vision-language model for tests and the demo, answering from the pixels it is sent.

``POST /v1/chat/completions`` decodes every ``image_url`` part (base64 ``data:`` URLs, JPEG/PNG/WebP), finds
the colour named in the question (red, green, blue or yellow; red when none is named) and reports whether a
region of that colour is visible. It never consults a script of expected answers: a judge that sends the
wrong frames, mislabels times or drops images gets a wrong answer, as it would from a real model.

Frame times come from text parts of the form ``Frame {i} at t={seconds:.2f}s`` placed before each image.
The answer's shape follows ``response_format``: the ``livesight_verdict`` schema (``match``/``confidence``/
``explanation``), the ``livesight_review`` schema (one event per contiguous run of frames showing the colour),
``json_object`` (a verdict) or plain text ("Yes. …"/"No. …"). Output is validated against the requested
schema; a mismatch is a 400, so schema drift in a client shows up in tests.

Reliability tests inject faults with ``POST /_control/faults`` (a JSON list, consumed in order by the next
completions): ``delay``, ``status`` (with optional ``Retry-After``), ``malformed``, ``refusal``, ``fenced``.
``GET /_control/stats`` counts requests (and ``max_in_flight``: the most completions answered at once since
``POST /_control/reset``). Run it standalone with
``python -m livesight.testing.vlm_server --port 8911``.

Video: a ``video_url`` part (a base64 MP4 data URL, vLLM's shape) is decoded with PyAV and every frame is
looked at. Gemini's native API is served too, at ``/v1beta/models/{model}:generateContent`` (``inlineData``
images and videos, ``responseSchema``, ``usageMetadata``; the key in ``x-goog-api-key``), so
:class:`~livesight.judges.GeminiJudge` runs against real pixels as well (base URL ``{root_url}/v1beta``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from livesight.testing._gemini import gemini_answer, gemini_error, gemini_messages, gemini_output_kind
from livesight.testing._jsonschema import schema_errors
from livesight.testing._server import ServerThread
from livesight.testing._vlm_answer import (
    ChatRequestError,
    answer,
    choose_colour,
    output_kind,
    parse_messages,
)

MODEL_NAME = "livesight-test-vlm"
TOKENS_PER_IMAGE = 85
REFUSAL_TEXT = "I can't help with that."

FaultKind = Literal["delay", "status", "malformed", "refusal", "fenced"]


class Fault(BaseModel):
    """One injected misbehaviour, applied to the next ``count`` chat completions."""

    kind: FaultKind
    seconds: float = Field(default=0.0, ge=0.0, description="delay: how long to wait before answering.")
    status: int = Field(default=500, ge=400, le=599, description="status: the HTTP status to return.")
    retry_after: float | None = Field(default=None, ge=0.0, description="status: Retry-After header seconds.")
    count: int = Field(default=1, ge=1)


@dataclass
class _State:
    """Everything the app mutates; shared by the event loop and the thread that owns the server."""

    latency_seconds: float
    api_key: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: deque[Fault] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    #: Completions being answered now, and the most at once since the last reset: lets a test see that a
    #: client's requests overlap without timing them.
    in_flight: int = 0
    max_in_flight: int = 0

    def add_faults(self, faults: list[Fault]) -> int:
        with self.lock:
            self.faults.extend(faults)
            return sum(f.count for f in self.faults)

    def take_fault(self) -> Fault | None:
        with self.lock:
            if not self.faults:
                return None
            head = self.faults[0]
            if head.count <= 1:
                self.faults.popleft()
            else:
                self.faults[0] = head.model_copy(update={"count": head.count - 1})
            self.counts[f"fault_{head.kind}"] += 1
            return head

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.counts["requests"],
                "chat_completions": self.counts["chat_completions"],
                "gemini_generate": self.counts["gemini_generate"],
                "images": self.counts["images"],
                "by_status": {k[len("status_") :]: v for k, v in self.counts.items() if k.startswith("status_")},
                "faults_applied": {k[len("fault_") :]: v for k, v in self.counts.items() if k.startswith("fault_")},
                "pending_faults": sum(f.count for f in self.faults),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "recent": list(self.recent),
            }


def _estimate_tokens(text: str) -> int:
    return math.ceil(len(text.split()) * 1.3)


def _error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }
    return {"error": {"message": message, "type": kinds.get(status, "server_error"), "param": None, "code": code}}


def _completion(model: str, content: str | None, refusal: str | None, prompt_tokens: int) -> dict[str, Any]:
    completion_tokens = _estimate_tokens(content or refusal or "")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_livesight_test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# --- the app ----------------------------------------------------------------------------------------------


def create_vlm_app(latency_seconds: float = 0.0, api_key: str | None = None) -> FastAPI:
    """The test VLM as a FastAPI app; ``api_key`` makes ``Authorization: Bearer <key>`` mandatory on /v1."""
    state = _State(latency_seconds=latency_seconds, api_key=api_key)
    app = FastAPI(title="LiveSight test VLM", docs_url=None, redoc_url=None)
    app.state.vlm = state

    @app.middleware("http")
    async def count_in_flight(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith(("/v1/chat/", "/v1beta/")):
            return await call_next(request)
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            return await call_next(request)
        finally:
            with state.lock:
                state.in_flight -= 1

    def reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        with state.lock:
            state.counts[f"status_{status}"] += 1
        return JSONResponse(body, status_code=status, headers=headers)

    def unauthorised(request: Request) -> JSONResponse | None:
        if state.api_key is None or request.headers.get("authorization") == f"Bearer {state.api_key}":
            return None
        return reply(401, _error_body(401, "Incorrect API key provided.", "invalid_api_key"))

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        with state.lock:
            state.counts["requests"] += 1
        if (denied := unauthorised(request)) is not None:
            return denied
        model = {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "livesight"}
        return reply(200, {"object": "list", "data": [model]})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        with state.lock:
            state.counts["requests"] += 1
            state.counts["chat_completions"] += 1
        if (denied := unauthorised(request)) is not None:
            return denied
        fault = state.take_fault()
        if fault is not None and fault.kind == "status":
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
                headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
            code = "rate_limit_exceeded" if fault.status == 429 else None
            return reply(fault.status, _error_body(fault.status, f"Injected fault: HTTP {fault.status}", code), headers)
        delay = state.latency_seconds + (fault.seconds if fault is not None and fault.kind == "delay" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            body = await request.json()
        except ValueError:
            return reply(400, _error_body(400, "request body is not valid JSON"))
        try:
            if not isinstance(body, dict):
                raise ChatRequestError("request body must be a JSON object")
            if body.get("stream"):
                raise ChatRequestError("the test VLM does not support stream=true")
            kind, schema = output_kind(body.get("response_format"))
            # Decoding and measuring images is CPU work: keep it off the event loop.
            parsed = await asyncio.to_thread(parse_messages, body.get("messages"))
            result = await asyncio.to_thread(answer, parsed, kind)
            if schema is not None and (problems := schema_errors(result, schema)):
                raise ChatRequestError("the answer does not satisfy the requested schema: " + "; ".join(problems))
        except ChatRequestError as exc:
            return reply(exc.status, _error_body(exc.status, exc.message, exc.code))

        text = result if isinstance(result, str) else json.dumps(result)
        content: str | None = text
        refusal: str | None = None
        if fault is not None and fault.kind == "malformed":
            content = text[: max(1, len(text) // 2)] + ' "truncated'  # cut mid-value: never valid JSON
        elif fault is not None and fault.kind == "refusal":
            content, refusal = None, REFUSAL_TEXT  # what OpenAI structured outputs return when declining
        elif fault is not None and fault.kind == "fenced":
            content = f"Sure! Here is my analysis of the frames:\n```json\n{text}\n```\nHope this helps."
        prompt_tokens = TOKENS_PER_IMAGE * len(parsed.images) + math.ceil(parsed.text_words * 1.3)
        colour, _ = choose_colour(parsed)
        with state.lock:
            state.counts["images"] += len(parsed.images)
            state.recent.append(
                {
                    "model": body.get("model"),
                    "kind": kind,
                    "colour": colour,
                    "images": len(parsed.images),
                    "videos": parsed.videos,
                    "frame_times": [img.time for img in parsed.images],
                    "fault": fault.kind if fault is not None else None,
                }
            )
        return reply(200, _completion(str(body.get("model") or MODEL_NAME), content, refusal, prompt_tokens))

    @app.post("/v1beta/models/{target}")
    async def gemini_generate(target: str, request: Request) -> JSONResponse:
        model, _, action = target.partition(":")
        with state.lock:
            state.counts["requests"] += 1
            state.counts["gemini_generate"] += 1
        if action != "generateContent":
            return reply(404, gemini_error(404, f"unknown action {action!r}"))
        if state.api_key is not None and request.headers.get("x-goog-api-key") != state.api_key:
            return reply(400, gemini_error(400, "API key not valid. Please pass a valid API key."))
        fault = state.take_fault()
        if fault is not None and fault.kind == "status":
            message = f"Injected fault: HTTP {fault.status}"
            return reply(fault.status, gemini_error(fault.status, message, fault.retry_after))
        delay = state.latency_seconds + (fault.seconds if fault is not None and fault.kind == "delay" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ChatRequestError("request body must be a JSON object")
            kind, schema = gemini_output_kind(body.get("generationConfig"))
            parsed = await asyncio.to_thread(parse_messages, gemini_messages(body))
            result = await asyncio.to_thread(answer, parsed, kind)
            if schema is not None and (problems := schema_errors(result, schema)):
                raise ChatRequestError("the answer does not satisfy the requested schema: " + "; ".join(problems))
        except ValueError:
            return reply(400, gemini_error(400, "request body is not valid JSON"))
        except ChatRequestError as exc:
            return reply(exc.status, gemini_error(exc.status, exc.message))
        text: str | None = result if isinstance(result, str) else json.dumps(result)
        if fault is not None and fault.kind == "malformed":
            text = (text or "")[: max(1, len(text or "") // 2)] + ' "truncated'
        elif fault is not None and fault.kind == "refusal":
            text = None
        elif fault is not None and fault.kind == "fenced":
            text = f"Here you go:\n```json\n{text}\n```"
        prompt_tokens = TOKENS_PER_IMAGE * len(parsed.images) + math.ceil(parsed.text_words * 1.3)
        colour, _ = choose_colour(parsed)
        with state.lock:
            state.counts["images"] += len(parsed.images)
            state.recent.append(
                {
                    "model": model,
                    "api": "gemini",
                    "kind": kind,
                    "colour": colour,
                    "images": len(parsed.images),
                    "videos": parsed.videos,
                    "frame_times": [img.time for img in parsed.images],
                    "fault": fault.kind if fault is not None else None,
                }
            )
        return reply(200, gemini_answer(model, text, prompt_tokens, _estimate_tokens(text or "")))

    @app.post("/_control/faults")
    async def add_faults(request: Request) -> JSONResponse:
        raw = await request.json()
        try:
            faults = [Fault.model_validate(item) for item in (raw if isinstance(raw, list) else [raw])]
        except ValueError as exc:
            return JSONResponse(_error_body(400, str(exc)), status_code=400)
        return JSONResponse({"pending_faults": state.add_faults(faults)})

    @app.delete("/_control/faults")
    async def clear_faults() -> JSONResponse:
        with state.lock:
            state.faults.clear()
        return JSONResponse({"pending_faults": 0})

    @app.get("/_control/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(state.snapshot())

    @app.post("/_control/reset")
    async def reset() -> JSONResponse:
        with state.lock:
            state.faults.clear()
            state.counts.clear()
            state.recent.clear()
            state.max_in_flight = state.in_flight
        return JSONResponse(state.snapshot())

    return app


class VLMTestServer:
    """The test VLM on a real uvicorn server at ``127.0.0.1`` (a free port), in a background thread.

    ``base_url`` ends in ``/v1`` (what an OpenAI client's ``base_url`` wants). Faults can be queued over
    HTTP (``POST /_control/faults``) or directly with :meth:`add_faults`.
    """

    def __init__(self, latency_seconds: float = 0.0, api_key: str | None = None, port: int = 0) -> None:
        self.app = create_vlm_app(latency_seconds=latency_seconds, api_key=api_key)
        self.api_key = api_key
        self._thread = ServerThread(self.app, port=port)

    @property
    def _state(self) -> _State:
        state: _State = self.app.state.vlm
        return state

    @property
    def root_url(self) -> str:
        return self._thread.base_url

    @property
    def base_url(self) -> str:
        return f"{self._thread.base_url}/v1"

    @property
    def latency_seconds(self) -> float:
        return self._state.latency_seconds

    @latency_seconds.setter
    def latency_seconds(self, value: float) -> None:
        self._state.latency_seconds = value

    def add_faults(self, *faults: Fault | dict[str, Any]) -> int:
        """Queue faults for the next completions; returns how many fault applications are pending."""
        return self._state.add_faults([f if isinstance(f, Fault) else Fault.model_validate(f) for f in faults])

    def stats(self) -> dict[str, Any]:
        return self._state.snapshot()

    def start(self) -> VLMTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> VLMTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the test VLM in the foreground: ``python -m livesight.testing.vlm_server --port 8911``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8911)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every answer")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer <key>'")
    args = parser.parse_args(argv)
    print(f"LiveSight test VLM: base_url http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(create_vlm_app(args.latency, args.api_key), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
