"""Helpers shared by the judge tests: test images, a recorded sleep, and a scripted chat-completions server."""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image, ImageDraw

from livesight.judges import OpenAICompatibleJudge
from livesight.retry import RetryPolicy
from livesight.testing._server import ServerThread
from livesight.types import JudgeImage, Sample

API_KEY = "sk-test-livesight-0123456789abcdef"
#: Deterministic backoff so tests can assert the exact waits: 0.5, 1, 2 …
TEST_RETRY = RetryPolicy(initial=0.5, maximum=8.0, multiplier=2.0, jitter=0.0, max_attempts=4)

RED = (220, 30, 30)
BLUE = (30, 40, 220)
GREY = (128, 128, 128)


def jpeg(square: tuple[int, int, int] | None = None, *, size: tuple[int, int] = (160, 90)) -> bytes:
    """A grey JPEG, with a coloured square in the middle when ``square`` is given."""
    picture = Image.new("RGB", size, GREY)
    if square is not None:
        w, h = size
        ImageDraw.Draw(picture).rectangle((w // 2 - 20, h // 2 - 20, w // 2 + 20, h // 2 + 20), fill=square)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


def image(at: float, square: tuple[int, int, int] | None = None) -> JudgeImage:
    return JudgeImage(jpeg=jpeg(square), session_time=at, width=160, height=90)


def sample(*images: JudgeImage) -> Sample:
    return Sample(session_time=images[-1].session_time, pts_time=images[-1].session_time, images=tuple(images))


#: ``make_judge(base_url, **overrides)``: builds a judge with test defaults; the fixture closes it.
JudgeFactory = Callable[..., OpenAICompatibleJudge]


class SleepRecorder:
    """Stands in for ``asyncio.sleep`` between retries: records the waits, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# ------------------------------------------------------------------------------------------- scripted server


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, str → sent verbatim as text/plain
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


def completion(
    content: str | None,
    *,
    refusal: str | None = None,
    usage: dict[str, int] | None = None,
    finish_reason: str = "stop",
) -> Reply:
    """An OpenAI-shaped chat completion answering ``content``."""
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "scripted",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    )


Responder = Callable[[dict[str, Any], dict[str, str]], Reply]


class ScriptedModel:
    """Answers each chat completion with the next queued :class:`Reply` (or responder), recording the request."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: deque[Reply | Responder] = deque()
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.add_api_route("/v1/chat/completions", self._handle, methods=["POST"])
        self._thread = ServerThread(self.app)

    @property
    def base_url(self) -> str:
        return f"{self._thread.base_url}/v1"

    def push(self, *replies: Reply | Responder) -> None:
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    async def _handle(self, request: Request) -> Response:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(body=body, headers=headers))
            nxt = self._queue.popleft() if self._queue else None
        if nxt is None:
            return JSONResponse({"error": {"message": "no scripted reply left"}}, status_code=418)
        reply = nxt if isinstance(nxt, Reply) else nxt(body, headers)
        if isinstance(reply.body, str):
            return PlainTextResponse(reply.body, status_code=reply.status, headers=reply.headers)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
