"""Secrets and stream credentials stay out of every answer, SSE event, webhook and log line of a real server.

One server holds every kind of secret it knows: a model API key (the test VLM *requires* it, so it is
really sent), an API key's bearer token, that key's webhook secret and the server-wide one, an HLS
source URL with ``user:password@``, an RTSP URL with credentials, a camera URL with ``user:password@`` and
``?token=`` that answers 403 (so FFmpeg's error text, which quotes the URL, reaches the answers), and a
webhook URL with ``?token=``. It is driven through jobs, sessions, SSE, the manifest, webhooks and their
deliveries, the UI API and error paths (422, 404, 401, unreachable and refusing sources). Only
``GET /api/webhook-secret``, whose job it is, may show the key's webhook secret; nothing else may show any
secret, and where a credentialed URL is echoed its redacted form (``***``) must stand in.

Logs: every record of the process at DEBUG — root, uvicorn, httpx/httpcore, FFmpeg — goes through the
handler ``livesight serve`` installs (``livesight.logs``: its ``RedactingFilter``), and LiveSight's own
records (``livesight.*``) must be clean before any filter too. SQLAlchemy's and aiosqlite's statement
echo stays at WARNING, as ``livesight.logs`` keeps it: it prints every bound parameter and row, i.e. the
stored data itself (source URLs as given, webhook secrets), which is what a database dump is for.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from livesight.api.app import create_app
from livesight.logs import RedactingFilter
from livesight.settings import Settings
from livesight.sources.urls import redact
from livesight.store import Store, new_webhook_secret
from livesight.testing._server import ServerThread
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.vlm_server import VLMTestServer

from .conftest import LiveServer
from .test_monitor import read_sse

MODEL_KEY = "sk-model-" + secrets.token_hex(12)
SERVER_WEBHOOK_SECRET = new_webhook_secret()
HLS_USER, HLS_PASSWORD = "camviewer", "s3cretPass" + secrets.token_hex(4)
RTSP_USER, RTSP_PASSWORD = "rtspadmin", "rtspPw" + secrets.token_hex(4)
HOOK_TOKEN = "hooktok" + secrets.token_hex(6)
SOURCE_TOKEN = "srctok" + secrets.token_hex(6)
CONDITION = "is there a red square?"
QUERY = "report every red square you see"
SECRET_ROUTE = "GET /api/webhook-secret"  # the one answer allowed to carry the key's webhook secret

# Opened up to DEBUG for the test (uvicorn's loggers may keep their own handlers and not propagate).
_OPEN = ("", "livesight", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "libav", "asyncio")
_QUIET = ("sqlalchemy", "aiosqlite")  # statement echo: bound parameters and rows (see the module docstring)


@dataclass
class Logs:
    served: io.StringIO  # everything, through the handler `livesight serve` installs
    own: io.StringIO  # livesight.* records, before any filter


@contextmanager
def captured_logs() -> Iterator[Logs]:
    logs = Logs(io.StringIO(), io.StringIO())
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")  # tracebacks are appended
    served = logging.StreamHandler(logs.served)
    served.addFilter(RedactingFilter())
    own = logging.StreamHandler(logs.own)
    handlers = {"": served, "uvicorn": served, "uvicorn.access": served, "livesight": own}
    levels = {name: logging.getLogger(name).level for name in (*_OPEN, *_QUIET)}
    for handler in (served, own):
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(formatter)
    for name in _OPEN:
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, handler in handlers.items():
        logging.getLogger(name).addHandler(handler)
    try:
        yield logs
    finally:
        for name, handler in handlers.items():
            logging.getLogger(name).removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class _Receiver(BaseHTTPRequestHandler):
    """The webhook receiver (POST) and a camera that refuses every viewer (GET: 403)."""

    server: _ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        with self.server.lock:
            self.server.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the receiver stands for someone else's server: its log is not ours


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []


@contextmanager
def receiver() -> Iterator[_ReceiverServer]:
    server = _ReceiverServer()
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Recorder:
    """An API client that keeps every answer (status, headers, body) and every SSE line it got."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.seen: list[tuple[str, str]] = []

    def keep(self, label: str, response: httpx.Response) -> httpx.Response:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self.seen.append((label, f"{response.status_code}\n{headers}\n\n{response.text}"))
        return response

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.keep(f"{method} {path.split('?')[0]}", self.client.request(method, path, **kw))

    def get(self, url: str) -> httpx.Response:
        """A link the server handed out (signed, no bearer)."""
        return self.keep(f"GET {url.split('?')[0]}", httpx.get(url, timeout=30))

    def sse(self, path: str, stop_after: str | None = None, **kw: Any) -> list[dict[str, Any]]:
        raw: list[str] = []
        with self.client.stream("GET", path, **kw) as response:

            class Tee:
                def iter_lines(self) -> Iterator[str]:
                    for line in response.iter_lines():
                        raw.append(line)
                        yield line

            events = read_sse(Tee(), stop_after)  # type: ignore[arg-type]
            headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self.seen.append((f"SSE {path.split('?')[0]}", f"{response.status_code}\n{headers}\n\n" + "\n".join(raw)))
        return events


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {value}")
        time.sleep(0.3)


def _find(haystacks: list[tuple[str, str]], needles: dict[str, str], allowed: dict[str, str]) -> list[str]:
    """``"<what> in <where>: …context…"`` for every needle found outside the place it is allowed."""
    found = []
    for where, text in haystacks:
        for what, needle in needles.items():
            at = text.find(needle)
            if at >= 0 and allowed.get(what) != where:
                found.append(f"{what} in {where}: …{text[max(0, at - 120) : at + len(needle) + 40]!r}…")
    return found


def test_no_secret_in_answers_events_webhooks_or_logs(server_settings: Settings, stream: LiveHLSServer) -> None:
    async def make_key() -> tuple[str, str]:
        store = await Store.open(server_settings.resolved_database_url())
        try:
            record, token = await store.create_api_key("owner")
            return token, await store.get_webhook_secret(record.id)
        finally:
            await store.close()

    token, key_secret = asyncio.run(make_key())
    cred_url = stream.url.replace("http://", f"http://{HLS_USER}:{HLS_PASSWORD}@")
    rtsp_url = f"rtsp://{RTSP_USER}:{RTSP_PASSWORD}@127.0.0.1:{_closed_port()}/x"
    offline_url = f"http://{HLS_USER}:{HLS_PASSWORD}@127.0.0.1:{_closed_port()}/live.m3u8"

    with (
        VLMTestServer(api_key=MODEL_KEY) as vlm,  # answers 401 without the key: triggers prove it was sent
        receiver() as hooks,
        captured_logs() as logs,
    ):
        base = f"http://127.0.0.1:{hooks.server_address[1]}"
        hook_url = f"{base}/hook?token={HOOK_TOKEN}"
        denied_url = f"http://{HLS_USER}:{HLS_PASSWORD}@{base[7:]}/cam.mp4?token={SOURCE_TOKEN}"
        settings = server_settings.model_copy(
            update={
                "model_base_url": vlm.base_url,
                "model_api_key": MODEL_KEY,
                "webhook_secret": SERVER_WEBHOOK_SECRET,
                "give_up_after_seconds": 3.0,
                "open_timeout_seconds": 2.0,
            }
        )
        # start_server(), with uvicorn's loggers left to us (log_config=None) and at DEBUG.
        thread = ServerThread(create_app(settings), log_config=None, log_level="debug").start()
        settings.public_url = thread.base_url
        server = LiveServer(thread, settings)
        try:
            with server.client(token) as client, server.client() as anonymous:
                api = Recorder(client)
                assert api("GET", "/api/webhook-secret").json()["secret"] == key_secret

                # A webhook job and a session on the credentialed HLS URL; the square shows at 5 s (wall).
                job = api(
                    "POST",
                    "/api/live-monitor",
                    json={
                        "stream_url": cred_url,
                        "condition": CONDITION,
                        "webhook_url": hook_url,
                        "interval_seconds": 1,
                        "max_triggers": 1,
                    },
                )
                assert job.status_code == 200, job.text
                job_id = job.json()["job_id"]
                assert job.json()["stream_url"] == redact(cred_url) == f"http://***@{stream.url[7:]}"
                assert "token=***" in job.json()["message"]
                ids = api(
                    "POST",
                    "/api/live/start-session",
                    data={"source_url": cred_url, "name": "door", "rapid_review_query": QUERY, "webhook_url": hook_url},
                ).json()
                session_path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"

                # Sources that cannot be read, with credentials: refused up front, or failing with a reason.
                valid = api("POST", "/api/streams/validate", json={"stream_url": rtsp_url}).json()
                assert valid["is_live"] is False and valid["error_hint"]
                assert valid["parsed_url"] == redact(rtsp_url) and valid["parsed_url"].startswith("rtsp://***@")
                denied = api("POST", "/api/streams/validate", json={"stream_url": denied_url}).json()
                assert denied["is_live"] is False and "403" in denied["error_hint"], denied
                assert "://***@" in denied["error_hint"] and "token=***" in denied["error_hint"], denied
                for url in (rtsp_url, offline_url, denied_url):
                    refused = api("POST", "/api/live-monitor", json={"stream_url": url, "condition": CONDITION})
                    assert refused.status_code == 400, refused.text
                    assert "://***@" in refused.json()["error"]["message"], refused.text
                rtsp_job = api(
                    "POST",
                    "/api/live-monitor",
                    json={"stream_url": rtsp_url, "condition": CONDITION, "skip_validation": True},
                ).json()
                for url in (rtsp_url, denied_url):  # sessions check their source at start, as jobs do
                    refused = api("POST", "/api/live/start-session", json={"source_url": url, "name": "cam"})
                    assert refused.status_code == 400 and "://***@" in refused.json()["error"]["message"], refused.text
                failing = {  # and fail later, with a reason, when told not to
                    url: api(
                        "POST",
                        "/api/live/start-session",
                        json={"source_url": url, "name": "cam", "skip_validation": True},
                    ).json()
                    for url in (rtsp_url, denied_url)
                }

                # Bad input, unknown ids, no key.
                bad = {
                    "stream_url": cred_url,
                    "interval_seconds": 0,
                    "input_mode": "video",
                    "webhook_url": f"ftp://{HLS_USER}:{HLS_PASSWORD}@127.0.0.1/?token={HOOK_TOKEN}",
                }
                assert api("POST", "/api/live-monitor", json=bad).status_code == 422
                too_long = {"stream_url": cred_url + "/x" * 300, "condition": CONDITION}
                assert api("POST", "/api/live-monitor", json=too_long).status_code == 422
                assert api("POST", "/api/live/start-session", data={"source_url": cred_url}).status_code == 422
                assert api("GET", "/api/jobs/job_nope").status_code == 404
                assert api("GET", "/api/live/live-sessions/s/sess_nope").status_code == 404
                assert api("POST", f"/api/jobs/{job_id}/deliveries/wh_nope/resend").status_code == 404
                assert api.keep("GET /api/jobs (no key)", anonymous.get("/api/jobs")).status_code == 401

                # The job triggers (the model answered: the key was sent) and its webhooks arrive.
                done = _poll(
                    lambda: api("GET", f"/api/jobs/{job_id}").json(),
                    lambda j: j["status"] in ("completed", "stopped", "failed"),
                )
                assert done["status"] == "completed" and done["stats"]["triggers_fired"] == 1, done
                assert done["stream_url"] == redact(cred_url)
                listed = api("GET", "/api/jobs").json()
                assert {j["stream_url"] for j in listed["jobs"]} == {redact(cred_url), redact(rtsp_url)}
                job_events = api.sse(f"/api/jobs/{job_id}/events")
                assert job_events[0]["event"] == "started" and "triggered" in [e["event"] for e in job_events]

                # The session reviews a chunk, streams its events, and plays back.
                _poll(lambda: api("GET", session_path).json(), lambda s: len(s["events"]) >= 1)
                assert api.sse(f"{session_path}/events", stop_after="event")[-1]["event"] == "event"
                manifest = api("POST", f"/api/live/session/{ids['session_id']}/signed-manifest").json()
                assert "#EXTINF" in api.get(manifest["url"]).text
                assert api("POST", "/api/live/end-session", json=ids).json() == {"status": "ended"}
                ended = api("GET", session_path).json()
                assert ended["status"] == "FINISHED" and ended["source_url"] == redact(cred_url)
                assert api.sse(f"{session_path}/events")[-1]["event"] == "ended"

                # Deliveries: listed with the URL redacted, one sent again.
                deliveries = _poll(
                    lambda: api("GET", f"/api/jobs/{job_id}/deliveries").json(),
                    lambda d: bool(d["deliveries"]) and all(x["status"] == "delivered" for x in d["deliveries"]),
                )["deliveries"]
                assert all(d["url"] == redact(hook_url) and "token=***" in d["url"] for d in deliveries)
                count = len(hooks.received)
                api("POST", f"/api/jobs/{job_id}/deliveries/{deliveries[0]['webhook_id']}/resend")
                _poll(lambda: {"received": len(hooks.received)}, lambda r: r["received"] > count)

                # The sources that cannot be read fail, saying why without the credentials.
                failed = _poll(
                    lambda: api("GET", f"/api/jobs/{rtsp_job['job_id']}").json(), lambda j: j["status"] == "failed"
                )
                assert failed["stream_url"] == redact(rtsp_url) and failed["stats"]["reason"]
                api.sse(f"/api/jobs/{rtsp_job['job_id']}/events")
                for url, started in failing.items():
                    path = f"/api/live/live-sessions/{started['stream_id']}/{started['session_id']}"
                    gone = _poll(lambda path=path: api("GET", path).json(), lambda s: s["status"] == "FAILED")
                    assert gone["error"] and gone["source_url"] == redact(url), gone
                    api.sse(f"{path}/events")

                # Everything else that shows sources: the UI's API and the operations routes.
                api("GET", "/api/live/live-sessions")
                assert api("GET", "/api/ui/whoami").json()["key_name"] == "owner"
                overview = api("GET", "/api/ui/overview").json()
                assert {g["source_url"] for g in overview["streams"]} >= {redact(cred_url), redact(rtsp_url)}
                api.sse("/api/ui/overview/stream", stop_after="snapshot")
                api("GET", "/healthz")
                api("GET", "/metrics")
                api("GET", "/")
        finally:
            thread.stop()  # inside the capture: shutdown logs count too
        with hooks.lock:
            webhooks = list(hooks.received)
        by_status = vlm.stats()["by_status"]

    assert by_status.get("200") and not by_status.get("401"), by_status  # the model key was sent, every time
    types = {Webhook(key_secret).verify(h["body"], h["headers"])["type"] for h in webhooks}  # the key's secret
    assert {"job_started", "watch_triggered", "session_started"} <= types, types
    needles = {
        "model API key": MODEL_KEY,
        "bearer token": token,
        "key webhook secret": key_secret,
        "key webhook secret (base64)": key_secret.removeprefix("whsec_"),
        "server webhook secret": SERVER_WEBHOOK_SECRET.removeprefix("whsec_"),
        "source password": HLS_PASSWORD,
        "source user": HLS_USER,
        "source token": SOURCE_TOKEN,
        "RTSP password": RTSP_PASSWORD,
        "RTSP user": RTSP_USER,
        "webhook URL token": HOOK_TOKEN,
    }
    allowed = {"key webhook secret": SECRET_ROUTE, "key webhook secret (base64)": SECRET_ROUTE}
    served, own = logs.served.getvalue(), logs.own.getvalue()
    haystacks = [
        *api.seen,
        *((f"webhook {h['headers'].get('webhook-id')}", repr(h)) for h in webhooks),
        ("the log", served),
        ("livesight's own log records", own),
    ]
    leaks = _find(haystacks, needles, allowed)
    assert not leaks, "\n".join(leaks)
    # The capture saw the server at work, and the credentialed URLs were echoed there — redacted.
    assert "GET /api/jobs" in served and "HTTP Request: GET" in served and "livesight.sources.hub" in own
    for url in (cred_url, rtsp_url, denied_url):
        assert redact(url) in own, redact(url)
