"""The published Nomadic SDKs (``nomadic==0.1.64``, ``nomadicml==0.1.53``) against a real LiveSight server.

Each SDK runs in a virtualenv of its own (see ``_published.py``), driven in a subprocess; a real server
reviews a live HLS stream with the test model, and the whole livestream workflow a Nomadic user writes
goes through the SDK: attach a stream, start a session with a rapid-review query, iterate its events,
fetch it, list sessions in each documented scope, get the signed playlist (and play it), end it twice,
``verify_auth()``, and errors from a bad key and a missing session that read as text.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from livesight.pipeline.runner import RunConfig
from livesight.settings import Settings
from livesight.store import Store
from livesight.testing._server import LiveServer, ServerThread, start_server
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.playback import frames_by_time
from livesight.testing.scene import SceneSpec

from ._published import PUBLISHED, Published, RegistryUnreachable, SDKCallError, SDKDriver, sdk_python

pytestmark = pytest.mark.slow

QUERY = "report every red square you see"
# Two appearances of the red square, each running across chunk boundaries (chunks are 10 s): the first
# over 10 s, the second over 30 s and 40 s. The scene runs on past the second one so that the session is
# still ACTIVE when the test ends it.
APPEARANCES = ((6.0, 14.0), (25.0, 47.0))
SCENE = SceneSpec(duration=80.0, events=APPEARANCES)
SPEED = 4.0  # 80 s of scene in 20 s; the test ends the session at about 52 s, 13 s in
PAUSED = 1e-3  # the stream's pace until the session has joined it at its first segment

Drivers = Callable[..., SDKDriver]


@dataclass(frozen=True)
class Keyed:
    """The server, and two keys on it: the one the SDK uses and another user's."""

    server: LiveServer
    key_id: str
    token: str
    other_token: str


@pytest.fixture(scope="session", params=PUBLISHED, ids=lambda sdk: sdk.id)
def published(request: pytest.FixtureRequest) -> tuple[Published, Path]:
    sdk: Published = request.param
    try:
        return sdk, sdk_python(sdk)
    except RegistryUnreachable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def keyed(settings: Settings) -> Iterator[Keyed]:
    # chunk_seconds stays at its default (10 s): the appearances above are placed across those boundaries.
    server_settings = settings.model_copy(
        update={"min_interval_seconds": 1.0, "allow_loopback": True, "sse_keepalive_seconds": 1.0}
    )

    async def make() -> tuple[str, str, str]:
        store = await Store.open(server_settings.resolved_database_url())
        try:
            record, token = await store.create_api_key("sdk-user")
            _, other = await store.create_api_key("someone-else")
            return record.id, token, other
        finally:
            await store.close()

    key_id, token, other = asyncio.run(make())
    live = start_server(server_settings)
    try:
        yield Keyed(live, key_id, token, other)
    finally:
        live.thread.stop()


@pytest.fixture
def drivers(published: tuple[Published, Path], tmp_path: Path) -> Iterator[Drivers]:
    """Opens SDK driver processes (``drivers(token, base_url)``) and ends every one when the test ends."""
    sdk, python = published
    opened: list[SDKDriver] = []

    def open_driver(token: str, base_url: str) -> SDKDriver:
        driver = SDKDriver(python, sdk, base_url, token, tmp_path / f"driver-{len(opened)}.stderr")
        opened.append(driver)
        return driver

    try:
        yield open_driver
    finally:
        for driver in opened:
            driver.close()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _seconds(clock: str) -> int:
    """``MM:SS`` or ``HH:MM:SS`` in seconds."""
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


def _reads_well(error: SDKCallError, code: str) -> None:
    """The SDK's message names the error code in words, not as the repr of the server's error dict."""
    assert code in error.text, error.text
    assert "{'" not in error.text and "'code':" not in error.text, error.text


def _mistimed(event: dict[str, Any], truth: tuple[float, float], step: float) -> list[str]:
    """How ``event``'s timing misses the appearance ``truth`` (scene seconds: the session's timeline here)
    by more than one sampling step of the review."""
    start, end = truth
    found = {
        "stream_time": (event["stream_time"], start),
        "capture_time": (event["capture_time"], start),
        "end_time": (event["end_time"], end),
        # MM:SS drops the fraction of a second
        "t_start": (_seconds(event["t_start"]), start - (start % 1)),
        "t_end": (_seconds(event["t_end"]), end - (end % 1)),
    }
    return [
        f"{name} {got} for the appearance at {start:g}–{end:g} s ({event['t_start']}–{event['t_end']}): "
        f"off by {abs(got - want):.2f} s, more than one sampling step ({step:g} s)"
        for name, (got, want) in found.items()
        if abs(got - want) > step + 1e-3
    ]


def _assert_placed(event: dict[str, Any], chunks: list[dict[str, Any]]) -> None:
    """``event``'s timing fields agree with each other and with the chunk it names."""
    assert abs(event["stream_time"] - (event["hls_cumulative_offset"] + event["chunk_relative_time"])) < 1e-3
    chunk = chunks[event["chunk_index"]]
    assert chunk["chunk_id"] == event["chunk_id"] and chunk["start_time"] == event["hls_cumulative_offset"]
    assert chunk["start_time"] <= event["stream_time"] < chunk["end_time"], (chunk, event)
    assert event["stream_time"] < event["end_time"], event


def test_seed_workflow(published: tuple[Published, Path], keyed: Keyed, drivers: Drivers) -> None:
    sdk, _ = published
    server = keyed.server
    step = server.settings.chunk_seconds / RunConfig(source_url="-").review_frames  # review's sampling step
    with LiveHLSServer(spec=SCENE, speed=PAUSED, end_list=True) as hls:
        caller = drivers(keyed.token, server.url)
        watcher = drivers(keyed.token, server.url)
        caller.send("hello")
        hello = caller.result()
        assert hello["version"] == sdk.version and hello["client"].startswith(f"{sdk.module}."), hello

        assert caller.call("livestream.attach_stream", "front-door", "Front door", hls.url) == {"ok": True}
        started = caller.call(
            "livestream.start_session", source_url=hls.url, name="front door", rapid_review_query=QUERY,
            stream_id="front-door",
        )  # fmt: skip
        assert started["stream_id"] == "front-door" and started["session_id"], started
        assert started["status"] == "INITIALIZING", started
        ids = {"stream_id": "front-door", "session_id": started["session_id"]}
        # ACTIVE once the session has its first frame: from the first segment, the only one listed while the
        # stream is paused, so the session's timeline is the scene's. Then the stream plays on.
        _wait(lambda: caller.call("livestream.get_session", **ids)["status"] == "ACTIVE", "the session to be ACTIVE")
        hls.set_speed(SPEED)

        yielded: list[dict[str, Any]] = []
        watcher.send("iter_events", kwargs={**ids, "poll_interval": 0.2, "timeout": 60})
        deadline = time.monotonic() + 45
        while len(yielded) < len(APPEARANCES):
            message = watcher.message(max(0.1, deadline - time.monotonic()))
            assert message["kind"] == "event", f"iter_events ended with {len(yielded)} events: {message}"
            yielded.append(message["event"])
        active = caller.call("livestream.get_session", **ids)
        assert active["status"] == "ACTIVE", active["status"]  # the stream plays on: the user ends it

        assert caller.call("livestream.end_session", **ids) == {"status": "ended"}
        assert caller.call("livestream.end_session", **ids) == {"status": "already_ended"}
        # iter_events stops by itself once the session is FINISHED, having yielded nothing more.
        assert watcher.result(timeout=30, on_event=yielded.append) == {"yielded": len(APPEARANCES)}

        final = caller.call("livestream.get_session", **ids)
        assert final["status"] == "FINISHED" and final["name"] == "front door", final["status"]
        assert final["source_url"] == hls.url and final["created_by"] == "sdk-user"
        chunks = final["chunks"]
        assert final["chunk_count"] == len(chunks) >= 5
        assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
        events = final["events"]
        # Each appearance reported once, though each ran across chunk boundaries.
        assert [e["event_id"] for e in events] == [e["event_id"] for e in yielded], (events, yielded)
        assert len(events) == len(APPEARANCES), [(e["t_start"], e["t_end"]) for e in events]
        # Timing against the truth is asserted last, so that a miss there does not hide the rest.
        mistimed: list[str] = []
        for event, seen, truth in zip(events, yielded, APPEARANCES, strict=True):
            _assert_placed(event, chunks)
            mistimed += _mistimed(event, truth, step)
            assert (seen["stream_time"], seen["t_start"]) == (event["stream_time"], event["t_start"])
        for chunk in chunks:
            starting = sum(1 for e in events if e["chunk_index"] == chunk["chunk_index"])
            assert chunk["event_count"] == starting, (chunk, [e["chunk_index"] for e in events])

        # Another user's session: listed to them, never to this key, whatever the scope.
        other = drivers(keyed.other_token, server.url)
        theirs = other.call("livestream.start_session", source_url=hls.vod_url, name="theirs")
        for scope in (None, "personal", "org"):
            listed = caller.call("livestream.get_sessions", scope=scope)
            assert [s["session_id"] for s in listed] == [ids["session_id"]], (scope, listed)
            assert listed[0]["status"] == "FINISHED", scope
            assert [e["event_id"] for e in listed[0]["events"]] == [e["event_id"] for e in events], scope
            assert {"stream_id", "name", "source_url", "created_by", "created_at", "chunk_count", "chunks"} <= set(
                listed[0]
            )
        assert [s["session_id"] for s in other.call("livestream.get_sessions")] == [theirs["session_id"]]
        assert other.call("livestream.end_session", theirs["stream_id"], theirs["session_id"]) == {"status": "ended"}

    manifest = caller.call("livestream.get_signed_manifest", ids["session_id"])
    assert manifest["method"] == "GET", manifest
    assert datetime.fromisoformat(manifest["expires_at"]) > datetime.now(UTC)
    playlist = httpx.get(manifest["url"])
    assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
    frames = frames_by_time(manifest["url"])  # the recording plays, in this process, from the signed link
    recorded = sum(c["duration"] for c in chunks)
    assert abs(frames[-1][0] - recorded) < 0.5, (frames[-1], recorded)
    for event in events:
        # the frame at each event's time shows the square, 3 s before and 1.5 s after its end do not
        for t, red in ((event["stream_time"] + 0.5, True), (event["stream_time"] - 3, False)):
            near = min(frames, key=lambda f: abs(f[0] - t))
            assert (near[1] > 0.003) is red, (event["stream_time"], t, near)
        after = min(frames, key=lambda f: abs(f[0] - (event["end_time"] + 1.5)))
        assert after[1] < 0.001, (event["end_time"], after)

    verified = caller.call("verify_auth")
    assert verified["user_id"] == keyed.key_id and verified["valid"] is True, verified

    with pytest.raises(SDKCallError) as missing:
        caller.call("livestream.get_session", "front-door", "ses_000000000000000000000000")
    assert missing.value.error["status_code"] == 404
    _reads_well(missing.value, "SESSION_NOT_FOUND")

    bad = drivers("ls_not-a-valid-key", server.url)
    for method, args in (("verify_auth", ()), ("livestream.get_session", tuple(ids.values()))):
        with pytest.raises(SDKCallError) as refused:
            bad.call(method, *args)
        assert refused.value.type.endswith("AuthenticationError"), refused.value.error
        _reads_well(refused.value, "UNAUTHORIZED")

    assert not mistimed, "\n".join(mistimed)


class Gateway:
    """A reverse proxy in front of the server that answers 503 to the first start-session it forwarded —
    a load balancer timing out after the server did the work — and records what went through."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self.forward, methods=["GET", "POST"])

    async def forward(self, path: str, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
            answer = await client.request(
                request.method, f"/{path}", params=request.query_params, content=body, headers=headers
            )
        route = f"{request.method} /{path}"
        first_start = route == "POST /api/live/start-session" and not any(s["route"] == route for s in self.seen)
        self.seen.append(
            {
                "route": route,
                "idempotency_key": request.headers.get("idempotency-key"),
                "status": answer.status_code,
                "replayed": answer.headers.get("idempotent-replayed"),
                "json": answer.json(),
            }
        )
        if first_start:
            return JSONResponse({"detail": "upstream timed out"}, status_code=503)
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))


def test_a_retried_start_session_starts_one_session(
    published: tuple[Published, Path], keyed: Keyed, drivers: Drivers
) -> None:
    """The same POST sent again with its Idempotency-Key answers the first session and starts nothing new."""
    sdk, _ = published
    server = keyed.server
    with LiveHLSServer(spec=SceneSpec(duration=20.0, events=()), speed=SPEED, end_list=True) as hls:
        form = {"source_url": hls.url, "name": "retried"}
        if sdk.package == "nomadic":
            # 0.1.64 re-sends a POST only after a transport error; what it re-sends is this: the same request
            # with the same key (``_make_request`` takes the key; it takes no other headers).
            caller = drivers(keyed.token, server.url)
            key = f"retry-{uuid.uuid4()}"
            answers = [
                caller.call("_make_request", "POST", "/api/live/start-session", data=form, idempotency_key=key)
                for _ in range(2)
            ]
            first, again = answers
            assert first["status_code"] == again["status_code"] == 200, answers
            assert again["json"] == first["json"], answers
            replayed = {k.lower(): v for k, v in again["headers"].items()}.get("idempotent-replayed")
            assert replayed == "true", again["headers"]
            session_id = first["json"]["session_id"]
            # the same key for another request is refused, in words
            with pytest.raises(SDKCallError) as reused:
                caller.call(
                    "_make_request", "POST", "/api/live/start-session", data={**form, "name": "other"},
                    idempotency_key=key,
                )  # fmt: skip
            assert reused.value.error["status_code"] == 422
            _reads_well(reused.value, "IDEMPOTENCY_KEY_REUSED")
        else:
            # 0.1.53 re-sends a POST after a 503 by itself, with the same key: a gateway provokes it.
            gateway = Gateway(server.url)
            with ServerThread(gateway.app, graceful_timeout=0.5) as proxy:
                caller = drivers(keyed.token, proxy.base_url)
                started = caller.call("livestream.start_session", source_url=hls.url, name="retried")
            sent = [s for s in gateway.seen if s["route"] == "POST /api/live/start-session"]
            assert len(sent) == 2, gateway.seen
            assert sent[0]["idempotency_key"] and sent[0]["idempotency_key"] == sent[1]["idempotency_key"], sent
            assert [s["status"] for s in sent] == [200, 200] and [s["replayed"] for s in sent] == [None, "true"]
            assert sent[0]["json"] == sent[1]["json"] == started, sent
            session_id = started["session_id"]
        listed = drivers(keyed.token, server.url).call("livestream.get_sessions")
        assert [s["session_id"] for s in listed] == [session_id], listed
