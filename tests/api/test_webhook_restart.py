"""Webhooks survive a receiver that is down and a server restart in between: the outbox loses nothing."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook

from livesight.settings import Settings
from livesight.testing._server import ServerThread
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.replicas import free_port, wait_until

from .conftest import start_server
from .test_monitor import wait_for_job


def _successes(delivery: dict[str, Any]) -> int:
    """Attempts the outbox recorded as answered 2xx: each is one request the receiver got."""
    return sum(1 for a in delivery["attempts"] if a["status_code"] is not None and 200 <= a["status_code"] < 300)


def test_receiver_down_and_server_restarted(server_settings: Settings, stream: LiveHLSServer) -> None:
    settings = server_settings.model_copy(
        update={
            "webhook_retry_initial_seconds": 0.5,
            "webhook_retry_max_seconds": 2.0,
            "webhook_poll_seconds": 0.5,
            # a delivery in flight when the first server stops is claimed again once its lease ends
            "webhook_timeout_seconds": 2.0,
            "webhook_lease_seconds": 3.0,
        }
    )
    port = free_port()
    received: list[dict[str, Any]] = []
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        # The body is read before the lock is taken: awaiting while holding a threading lock deadlocks this
        # server's event loop as soon as a second delivery arrives and waits for the lock on the same thread.
        body = (await request.body()).decode()
        with lock:
            received.append({"headers": dict(request.headers), "body": body})
        return JSONResponse({"ok": True})

    first = start_server(settings)
    try:
        with first.client() as client:
            job_id = client.post(
                "/api/live-monitor",
                json={
                    "stream_url": stream.url,
                    "condition": "is there a red square?",
                    "webhook_url": f"http://127.0.0.1:{port}/hook",
                    "interval_seconds": 1,
                    "max_triggers": 1,
                },
            ).json()["job_id"]
            job = wait_for_job(client, job_id)
            assert job["status"] == "completed"
            secret = client.get("/api/webhook-secret").json()["secret"]
            seen: list[Any] = []

            def retried() -> bool:
                seen[:] = client.get(f"/api/jobs/{job_id}/deliveries").json()["deliveries"]
                return len(seen) == 3 and all(d["attempt_count"] >= 2 for d in seen)

            wait_until(retried, lambda: f"every delivery tried twice: {seen}", 20)
            deliveries = seen
            assert {d["event_type"] for d in deliveries} == {"job_started", "watch_triggered", "job_stopped"}
            assert all(d["status"] != "delivered" and d["last_error"] for d in deliveries)
    finally:
        first.thread.stop()  # the server goes away with every delivery still owed

    second = start_server(settings)
    receiver = ServerThread(app, port=port)
    try:
        receiver.start()  # the receiver comes back
        outbox: list[Any] = []
        with second.client() as client:

            def settled() -> bool:
                """Every delivery delivered, and every request the receiver got recorded as a 2xx attempt.

                A message sent twice is two such attempts (a send is recorded whoever made it), so it is
                counted here as soon as it is recorded, rather than waited for."""
                outbox[:] = client.get(f"/api/jobs/{job_id}/deliveries").json()["deliveries"]
                with lock:
                    got = len(received)
                return all(d["status"] == "delivered" for d in outbox) and got == sum(map(_successes, outbox))

            wait_until(settled, lambda: f"the outbox to settle: {len(received)} received, {outbox}", 30)
        deliveries = outbox
    finally:
        receiver.stop()
        second.thread.stop()
    assert len(deliveries) == 3 and [_successes(d) for d in deliveries] == [1, 1, 1]
    assert len(received) == 3
    verifier = Webhook(secret)
    types = sorted(verifier.verify(r["body"], r["headers"])["type"] for r in received)
    assert types == ["job_started", "job_stopped", "watch_triggered"]
    assert len({r["headers"]["webhook-id"] for r in received}) == 3
    assert {d["webhook_id"] for d in deliveries} == {r["headers"]["webhook-id"] for r in received}
    assert all(d["status"] == "delivered" for d in deliveries)
