"""Real HTTP servers for judge tests.

* ``vlm``: the project's test VLM (:mod:`livesight.testing.vlm_server`), which answers from the pixels
  it receives and injects faults (429, 5xx, delays, malformed answers, refusals) on request.
* ``scripted``: a tiny chat-completions endpoint that records every request and answers from a queue.
  It covers what a pixel-reading model cannot show: the exact request body, loose or prose answers,
  servers that reject ``response_format``, bodies that echo the credentials.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from judge_helpers import API_KEY, TEST_RETRY, JudgeFactory, ScriptedModel, SleepRecorder

from livesight.judges import OpenAICompatibleJudge
from livesight.testing.vlm_server import VLMTestServer


@pytest.fixture(scope="session")
def _scripted_server() -> Iterator[ScriptedModel]:
    server = ScriptedModel()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def scripted(_scripted_server: ScriptedModel) -> ScriptedModel:
    _scripted_server.reset()
    return _scripted_server


# ------------------------------------------------------------------------------------------- test VLM


@pytest.fixture(scope="session")
def _vlm_server() -> Iterator[VLMTestServer]:
    with VLMTestServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def vlm(_vlm_server: VLMTestServer) -> VLMTestServer:
    httpx.post(f"{_vlm_server.root_url}/_control/reset").raise_for_status()
    return _vlm_server


# ------------------------------------------------------------------------------------------- judges


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def make_judge(sleeps: SleepRecorder) -> AsyncIterator[JudgeFactory]:
    """Builds judges with test defaults (deterministic retries, recorded sleeps) and closes them afterwards."""
    judges: list[OpenAICompatibleJudge] = []

    def make(base_url: str, **kwargs: Any) -> OpenAICompatibleJudge:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("model", "livesight-test-vlm")
        kwargs.setdefault("retry", TEST_RETRY)
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("timeout", 10.0)
        judge = OpenAICompatibleJudge(base_url, **kwargs)
        judges.append(judge)
        return judge

    yield make
    for judge in judges:
        await judge.aclose()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, read back, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
