"""The test VLM answers from the pixels of real JPEGs sent over real HTTP, and misbehaves on request."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livesight.testing import SceneSpec, VLMTestServer, scene_jpeg

SPEC = SceneSpec()  # red square during [20, 28) and [50, 58)

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "match": {"type": "boolean"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "explanation": {"type": "string"},
    },
    "required": ["match", "confidence", "explanation"],
    "additionalProperties": False,
}
REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "description": {"type": "string"},
                    "start": {"type": "number"},
                    "end": {"type": "number"},
                    "severity": {"type": "string", "enum": ["low", "medium", "high"]},
                    "confidence": {"type": "number"},
                },
                "required": ["label", "description", "start", "end", "severity", "confidence"],
                "additionalProperties": False,
            },
        },
        "summary": {"type": "string"},
    },
    "required": ["events", "summary"],
    "additionalProperties": False,
}


def _format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def _request(
    question: str,
    frames: list[tuple[float, bytes]],
    response_format: dict[str, Any] | None = None,
    system: str = "You watch video frames and answer precisely.",
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": question}]
    for i, (t, jpeg) in enumerate(frames, start=1):
        content.append({"type": "text", "text": f"Frame {i} at t={t:.2f}s"})
        url = f"data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}"
        content.append({"type": "image_url", "image_url": {"url": url, "detail": "low"}})
    body: dict[str, Any] = {
        "model": "test-model",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}],
    }
    if response_format is not None:
        body["response_format"] = response_format
    return body


def _frames(spec: SceneSpec, times: list[float], offset: float = 0.0) -> list[tuple[float, bytes]]:
    """JPEGs of the scene at ``times``, labelled relative to ``offset`` (a chunk's start)."""
    return [(t - offset, scene_jpeg(spec, t, size=(480, 270), quality=85)) for t in times]


@pytest.fixture
def http(vlm: VLMTestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vlm.base_url, timeout=10.0) as client:
        yield client


def _content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert isinstance(message["content"], str)
    return message["content"]


def _verdict(http: httpx.Client, question: str, frames: list[tuple[float, bytes]]) -> dict[str, Any]:
    response = http.post(
        "/chat/completions", json=_request(question, frames, _format("livesight_verdict", VERDICT_SCHEMA))
    )
    verdict: dict[str, Any] = json.loads(_content(response))
    return verdict


def test_verdict_follows_the_pixels(http: httpx.Client) -> None:
    question = "Is a red square visible?"
    shown = _verdict(http, question, _frames(SPEC, [20.0]))
    assert shown["match"] is True and 0.5 < shown["confidence"] <= 1.0
    assert "frame 1" in shown["explanation"]

    hidden = _verdict(http, question, _frames(SPEC, [19.9, 28.0]))
    assert hidden["match"] is False and 0.0 <= hidden["confidence"] <= 1.0

    # Any frame showing the colour is a match; the explanation names which.
    mixed = _verdict(http, question, _frames(SPEC, [18.0, 19.0, 20.0, 21.0]))
    assert mixed["match"] is True
    assert "frame 3 (t=20.00s)" in mixed["explanation"] and "frame 2 " not in mixed["explanation"]


def test_colour_comes_from_the_question(http: httpx.Client) -> None:
    green = SceneSpec(color=(30, 200, 40))
    frames = _frames(green, [25.0])
    assert _verdict(http, "Do you see something green?", frames)["match"] is True
    assert _verdict(http, "Is there anything blue in view?", frames)["match"] is False
    # No colour named: the server looks for red, and says so.
    default = _verdict(http, "Is the object present?", _frames(SPEC, [25.0]))
    assert default["match"] is True and "No colour was named" in default["explanation"]


def test_review_events_follow_frame_labels(http: httpx.Client) -> None:
    # A 12 s chunk starting at 18 s, one frame a second, labelled relative to the chunk's start.
    times = [18.0 + k for k in range(13)]
    body = _request("List every red object that appears.", _frames(SPEC, times, offset=18.0))
    body["response_format"] = _format("livesight_review", REVIEW_SCHEMA)
    review = json.loads(_content(http.post("/chat/completions", json=body)))
    [event] = review["events"]
    assert (event["start"], event["end"]) == (2.0, 9.0)  # frames at 20 s … 27 s of the scene
    assert event["severity"] in ("low", "medium", "high") and "red" in event["label"]

    two = _request("Any red objects?", _frames(SPEC, [19.0, 21.0, 30.0, 52.0, 53.0, 60.0]))
    two["response_format"] = _format("livesight_review", REVIEW_SCHEMA)
    events = json.loads(_content(http.post("/chat/completions", json=two)))["events"]
    assert [(e["start"], e["end"]) for e in events] == [(21.0, 21.0), (52.0, 53.0)]


def test_plain_text_without_response_format(http: httpx.Client) -> None:
    yes = _content(http.post("/chat/completions", json=_request("Red square?", _frames(SPEC, [50.0]))))
    no = _content(http.post("/chat/completions", json=_request("Red square?", _frames(SPEC, [49.0]))))
    assert yes.startswith("Yes. ") and no.startswith("No. ")


def test_png_images_and_realistic_completion_shape(http: httpx.Client) -> None:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (64, 64), (20, 20, 230)).save(buffer, "PNG")
    body = _request("Is it blue?", [])
    body["messages"][1]["content"].append(
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()},
        }
    )
    body["response_format"] = {"type": "json_object"}
    response = http.post("/chat/completions", json=body)
    payload = response.json()
    assert json.loads(_content(response))["match"] is True
    assert payload["object"] == "chat.completion" and payload["model"] == "test-model"
    assert payload["choices"][0]["finish_reason"] == "stop"
    usage = payload["usage"]
    assert usage["prompt_tokens"] >= 85 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_bad_requests_are_rejected(http: httpx.Client) -> None:
    broken = _request("Red?", [])
    broken["messages"][1]["content"].append({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}})
    assert http.post("/chat/completions", json=broken).status_code == 400
    remote = _request("Red?", [])
    remote["messages"][1]["content"].append({"type": "image_url", "image_url": {"url": "https://example.com/x.jpg"}})
    assert http.post("/chat/completions", json=remote).status_code == 400
    # A schema the answer cannot satisfy is the client's bug: fail loudly.
    strict = dict(VERDICT_SCHEMA, required=["match", "confidence", "explanation", "camera_id"])
    response = http.post(
        "/chat/completions", json=_request("Red?", _frames(SPEC, [20.0]), _format("livesight_verdict", strict))
    )
    assert response.status_code == 400 and "camera_id" in response.json()["error"]["message"]


def test_status_faults_with_retry_after(vlm: VLMTestServer, http: httpx.Client) -> None:
    control = httpx.post(
        f"{vlm.root_url}/_control/faults",
        json=[{"kind": "status", "status": 429, "retry_after": 0.5}, {"kind": "status", "status": 500, "count": 2}],
    )
    assert control.json() == {"pending_faults": 3}
    body = _request("Red?", _frames(SPEC, [20.0]), _format("livesight_verdict", VERDICT_SCHEMA))
    limited = http.post("/chat/completions", json=body)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0.5" and limited.headers["retry-after-ms"] == "500"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert [http.post("/chat/completions", json=body).status_code for _ in range(3)] == [500, 500, 200]
    stats = httpx.get(f"{vlm.root_url}/_control/stats").json()
    assert stats["chat_completions"] == 4 and stats["pending_faults"] == 0
    assert stats["by_status"] == {"429": 1, "500": 2, "200": 1}
    assert stats["faults_applied"] == {"status": 3}


def test_content_faults(vlm: VLMTestServer, http: httpx.Client) -> None:
    vlm.add_faults({"kind": "malformed"}, {"kind": "fenced"}, {"kind": "refusal"}, {"kind": "delay", "seconds": 0.05})
    body = _request("Red?", _frames(SPEC, [20.0]), _format("livesight_verdict", VERDICT_SCHEMA))

    malformed = _content(http.post("/chat/completions", json=body))
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed)

    fenced = _content(http.post("/chat/completions", json=body))
    assert not fenced.startswith("{")
    inner = re.search(r"```json\n(.*?)\n```", fenced, re.DOTALL)
    assert inner is not None and json.loads(inner.group(1))["match"] is True

    refused = http.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert refused["content"] is None and refused["refusal"] == "I can't help with that."

    delayed = json.loads(_content(http.post("/chat/completions", json=body)))
    assert delayed["match"] is True
    assert vlm.stats()["faults_applied"] == {"malformed": 1, "fenced": 1, "refusal": 1, "delay": 1}
    assert json.loads(_content(http.post("/chat/completions", json=body)))["match"] is True  # faults used up


def test_api_key_is_required_when_configured() -> None:
    with VLMTestServer(api_key="sk-test") as server, httpx.Client(base_url=server.base_url) as http:
        body = _request("Red?", _frames(SPEC, [20.0]))
        assert http.post("/chat/completions", json=body).status_code == 401
        wrong = http.post("/chat/completions", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        ok = http.post("/chat/completions", json=body, headers={"Authorization": "Bearer sk-test"})
        assert _content(ok).startswith("Yes.")
        models = http.get("/models", headers={"Authorization": "Bearer sk-test"}).json()
        assert models["data"][0]["id"] == "livesight-test-vlm"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runs_as_a_module_in_the_foreground() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "livesight.testing.vlm_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1.0)
                break
            except httpx.TransportError:
                assert process.poll() is None, "server exited early"
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        assert models.json()["data"][0]["id"] == "livesight-test-vlm"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "Warning" not in stderr
