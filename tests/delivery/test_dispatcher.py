"""The webhook dispatcher end to end: a real uvicorn receiver, the real database (SQLite and PostgreSQL), and
the ``standardwebhooks`` library verifying on the receiving side. Backoff is tiny so nothing waits long;
no test asserts how long anything took."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from webhook_helpers import Receiver, eventually

from livesight.delivery.webhooks import SECRET_FILE, DispatcherState, InvalidWebhookURL, WebhookDispatcher
from livesight.settings import Settings
from livesight.store import DeliveryRecord, DeliveryStatus, Store, utcnow
from livesight.testing import ServerThread

Served = tuple[Receiver, ServerThread]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "allow_loopback": True,  # the receiver runs on 127.0.0.1
        "allowed_networks": [],
        "blocked_networks": [],
        "network_policy": "default",
        "webhook_secret": None,
        "webhook_timeout_seconds": 2.0,
        "webhook_retry_initial_seconds": 0.02,
        "webhook_retry_max_seconds": 0.1,
        "webhook_max_attempts": 100,
        "webhook_give_up_after_seconds": 3600.0,
        "webhook_lease_seconds": 10.0,
        "webhook_poll_seconds": 0.05,
        "webhook_shutdown_grace_seconds": 2.0,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def running(store: Store, settings: Settings, **kwargs: Any) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(store, settings, **kwargs)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.aclose()


async def settled(store: Store, delivery_id: str, *statuses: DeliveryStatus) -> DeliveryRecord:
    found: list[DeliveryRecord] = []

    async def check() -> bool:
        record = await store.get_delivery(delivery_id)
        found[:] = [record] if record is not None else []
        return record is not None and record.status in statuses

    await eventually(check, f"delivery {delivery_id} to become {', '.join(statuses)}")
    return found[0]


def verify(secret: str, received: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def test_deliveries_are_signed_with_the_owners_secret_and_verify(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    key, _ = await store.create_api_key("ci")
    job = await store.create_job("live-monitor", "https://cam/live.m3u8", "a cat?", "webhook", server.base_url)
    data = {"condition": "a cat?", "triggered": True, "confidence": 0.9, "explanation": "un chat — 🐈"}
    async with running(store, make_settings(tmp_path)) as dispatcher:
        queued = await dispatcher.enqueue(key.id, f"{server.base_url}/hook", "watch_triggered", data, job_id=job.id)
        done = await settled(store, queued.id, DeliveryStatus.DELIVERED)
    [got] = state.hooks()
    assert got.body == queued.body.encode() == done.body.encode()
    payload = verify(await store.get_webhook_secret(key.id), got)
    assert payload == {"type": "watch_triggered", "job_id": job.id, "timestamp": payload["timestamp"], "data": data}
    assert got.headers["webhook-id"] == queued.id
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("LiveSight-Webhooks/")
    assert [(a.status_code, a.error) for a in done.attempts] == [(200, None)]
    assert done.delivered_at is not None and dispatcher.metrics.delivered == 1
    assert [d.id for d in await store.list_deliveries(job_id=job.id)] == [queued.id]


async def test_ownerless_deliveries_use_the_server_secret(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    settings = make_settings(tmp_path)
    async with running(store, settings) as dispatcher:
        queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {"status": "running"})
        await settled(store, queued.id, DeliveryStatus.DELIVERED)
        assert await dispatcher.secret_for(None) == (settings.data_dir / SECRET_FILE).read_text().strip()
    assert verify((settings.data_dir / SECRET_FILE).read_text().strip(), state.hooks()[0])["data"] == {
        "status": "running"
    }


async def test_a_500_is_retried_with_the_same_id_until_acknowledged(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    state.script[:] = [500, 500, 200]
    async with running(store, make_settings(tmp_path)) as dispatcher:
        queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
        done = await settled(store, queued.id, DeliveryStatus.DELIVERED)
        secret = await dispatcher.secret_for(None)
        assert (dispatcher.metrics.retried, dispatcher.metrics.delivered) == (2, 1)
    hooks = state.hooks()
    assert len(hooks) == 3 and {h.headers["webhook-id"] for h in hooks} == {queued.id}
    assert {h.body for h in hooks} == {queued.body.encode()}  # byte-identical on every retry
    for hook in hooks:
        verify(secret, hook)  # each attempt carries its own valid signature
    assert [a.status_code for a in done.attempts] == [500, 500, 200]
    assert done.attempts[0].error == "HTTP 500 Internal Server Error"


async def test_410_disables_the_endpoint_and_nothing_more_is_sent(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    state.script[:] = [410]
    url = f"{server.base_url}/hook"
    settings = make_settings(tmp_path)
    key, _ = await store.create_api_key("ci")
    async with running(store, settings) as dispatcher:
        queued = await dispatcher.enqueue(key.id, url, "watch_triggered", {"n": 1})
        gone = await settled(store, queued.id, DeliveryStatus.DISABLED)
        assert dispatcher.metrics.disabled == 1
    assert gone.last_status_code == 410 and await store.is_endpoint_disabled(key.id, url)

    stopped = WebhookDispatcher(store, settings)
    later = await stopped.enqueue(key.id, url, "watch_triggered", {"n": 2})
    assert later.status is DeliveryStatus.DISABLED
    assert await stopped.run_once() == 0
    await stopped.aclose()
    assert len(state.hooks()) == 1


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    state.script[:] = [302, 302]
    state.extra_headers[302] = {"location": f"{server.base_url}/elsewhere"}
    async with running(store, make_settings(tmp_path, webhook_max_attempts=2)) as dispatcher:
        queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
        failed = await settled(store, queued.id, DeliveryStatus.FAILED)
        assert (dispatcher.metrics.retried, dispatcher.metrics.failed, dispatcher.metrics.delivered) == (1, 1, 0)
    assert state.hits("/elsewhere") == 0 and len(state.hooks()) == 2
    assert [a.status_code for a in failed.attempts] == [302, 302]
    assert failed.last_error is not None
    assert "not followed" in failed.last_error and "gave up after 2 attempts" in failed.last_error


async def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_back(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    url = f"{server.base_url}/hook"
    server.stop()  # the port is known and closed: connections are refused
    async with running(store, make_settings(tmp_path)) as dispatcher:
        queued = await dispatcher.enqueue(None, url, "job_started", {})

        async def failed_twice() -> bool:
            record = await store.get_delivery(queued.id)
            return record is not None and len(record.attempts) >= 2

        await eventually(failed_twice, "two refused attempts")
        server.start()  # back on the same port
        done = await settled(store, queued.id, DeliveryStatus.DELIVERED)
    assert all(a.status_code is None and "ConnectError" in (a.error or "") for a in done.attempts[:-1])
    assert done.attempts[-1].status_code == 200
    assert [h.headers["webhook-id"] for h in state.hooks()] == [queued.id]


async def test_a_slow_receiver_times_out_and_is_retried(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    state.script[:] = [0, 200]  # the first request hangs
    async with running(store, make_settings(tmp_path, webhook_timeout_seconds=0.3)) as dispatcher:
        queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
        done = await settled(store, queued.id, DeliveryStatus.DELIVERED)
    assert done.attempts[0].status_code is None and done.attempts[0].error == "no answer within 0.3 s"
    assert done.attempts[-1].status_code == 200


async def test_retry_after_from_the_receiver_is_honoured(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    state.script[:] = [503]
    state.extra_headers[503] = {"retry-after": "0"}
    # Our own backoff would wait an hour; the receiver's Retry-After: 0 says now.
    settings = make_settings(tmp_path, webhook_retry_initial_seconds=3600, webhook_retry_max_seconds=3600)
    async with running(store, settings):
        queued = await running_enqueue(store, settings, f"{server.base_url}/hook")
        done = await settled(store, queued.id, DeliveryStatus.DELIVERED)
    assert [a.status_code for a in done.attempts] == [503, 200]


async def running_enqueue(store: Store, settings: Settings, url: str) -> DeliveryRecord:
    # Enqueued by another dispatcher object, as another process would: the running one finds it by polling.
    other = WebhookDispatcher(store, settings)
    try:
        return await other.enqueue(None, url, "job_started", {})
    finally:
        await other.aclose()


async def test_a_blocked_address_fails_at_once_without_connecting(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    async with running(store, make_settings(tmp_path, allow_loopback=False)) as dispatcher:
        local = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
        metadata = await dispatcher.enqueue(None, "http://169.254.169.254/latest/meta-data/", "job_started", {})
        refused = await settled(store, local.id, DeliveryStatus.FAILED)
        refused_metadata = await settled(store, metadata.id, DeliveryStatus.FAILED)
        assert dispatcher.metrics.failed == 2 and dispatcher.metrics.retried == 0
    assert len(refused.attempts) == 1 and "loopback" in (refused.last_error or "")
    assert "LIVESIGHT_ALLOW_LOOPBACK" not in (refused.last_error or "")  # the message, not the remediation
    assert "metadata" in (refused_metadata.last_error or "")
    assert state.hooks() == []


async def test_an_injected_client_still_gets_the_network_policy(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    async with httpx.AsyncClient() as plain:
        async with running(store, make_settings(tmp_path, allow_loopback=False), http_client=plain) as dispatcher:
            refused = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
            assert "loopback" in ((await settled(store, refused.id, DeliveryStatus.FAILED)).last_error or "")
        assert state.hooks() == []
        async with running(store, make_settings(tmp_path), http_client=plain) as dispatcher:
            allowed = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
            await settled(store, allowed.id, DeliveryStatus.DELIVERED)
        assert not plain.is_closed  # the caller's client is the caller's to close
    assert len(state.hooks()) == 1


async def test_a_killed_dispatcher_loses_nothing(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    state.script[:] = [0]  # the first request hangs: the dispatcher dies while sending it
    settings = make_settings(tmp_path)
    first = WebhookDispatcher(store, settings)
    first.start()
    queued = await first.enqueue(None, f"{server.base_url}/hook", "job_started", {})
    await eventually(lambda: _true_when(len(state.hooks()) == 1), "the first attempt to arrive")
    await first.aclose(grace=0)  # nothing recorded: as after kill -9
    leased = await store.get_delivery(queued.id)
    assert leased is not None and leased.status is DeliveryStatus.DELIVERING and leased.attempts == ()

    # A dispatcher started later, once the lease has run out, sends it again.
    def later() -> datetime:
        return utcnow() + timedelta(seconds=settings.webhook_lease_seconds + 1)

    async with running(store, settings, clock=later) as second:
        done = await settled(store, queued.id, DeliveryStatus.DELIVERED)
        secret = await second.secret_for(None)
    hooks = state.hooks()
    assert [h.headers["webhook-id"] for h in hooks] == [queued.id, queued.id]
    verify(secret, hooks[1])
    assert [a.status_code for a in done.attempts] == [200]


async def _true_when(value: bool) -> bool:
    return value


async def test_aclose_lets_in_flight_sends_finish(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    state.script[:] = [0]
    dispatcher = WebhookDispatcher(store, make_settings(tmp_path))
    dispatcher.start()
    assert dispatcher.state is DispatcherState.RUNNING
    queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
    await eventually(lambda: _true_when(len(state.hooks()) == 1), "the request to arrive")
    closing = asyncio.create_task(dispatcher.aclose(grace=20))
    await eventually(lambda: _true_when(dispatcher.state is DispatcherState.STOPPING), "aclose to begin")
    # Stopping, with the request still hanging: had aclose given up on it, the delivery would stay leased and
    # unrecorded below (as after kill -9), not delivered by its one attempt.
    assert not closing.done()
    state.release.set()
    await closing
    assert dispatcher.state is DispatcherState.STOPPED
    done = await store.get_delivery(queued.id)
    assert done is not None and done.status is DeliveryStatus.DELIVERED
    assert [a.status_code for a in done.attempts] == [200] and len(state.hooks()) == 1


async def test_enqueue_wakes_an_idle_dispatcher(store: Store, receiver: Served, tmp_path: Path) -> None:
    state, server = receiver
    idle = asyncio.Event()

    async def never(seconds: float) -> None:
        """The dispatcher's idle wait, which never ends by itself: only notify() can wake it."""
        idle.set()
        await asyncio.Event().wait()

    async with running(store, make_settings(tmp_path), sleep=never) as dispatcher:
        await asyncio.wait_for(idle.wait(), 30)  # it has found nothing to send and waits
        queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
        await settled(store, queued.id, DeliveryStatus.DELIVERED)
    assert len(state.hooks()) == 1


async def test_two_dispatchers_on_one_database_send_each_message_once(
    database_url: str, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    settings = make_settings(tmp_path, webhook_concurrency=3)
    first_store, second_store = await Store.open(database_url), await Store.open(database_url)
    try:
        async with running(first_store, settings) as first, running(second_store, settings) as second:
            queued = [
                await (first if i % 2 else second).enqueue(None, f"{server.base_url}/hook", "e", {"n": i})
                for i in range(20)
            ]

            async def all_delivered() -> bool:
                return all(d.status is DeliveryStatus.DELIVERED for d in await first_store.list_deliveries())

            await eventually(all_delivered, "all 20 deliveries")
            assert first.metrics.delivered + second.metrics.delivered == 20
    finally:
        await first_store.close()
        await second_store.close()
    counts = Counter(h.headers["webhook-id"] for h in state.hooks())
    assert set(counts) == {d.id for d in queued} and set(counts.values()) == {1}
    assert sorted(json.loads(h.body)["data"]["n"] for h in state.hooks()) == list(range(20))


async def test_outcomes_are_also_counted_in_an_external_registry(
    store: Store, receiver: Served, tmp_path: Path
) -> None:
    state, server = receiver
    state.script[:] = [500]

    class Labelled:
        def __init__(self) -> None:
            self.counts: Counter[str] = Counter()

        def labels(self, *args: str, **kwargs: str) -> Any:
            counts, outcome = self.counts, kwargs["outcome"]

            class One:
                def inc(self, amount: float = 1) -> None:
                    counts[outcome] += int(amount)

            return One()

    class Registry:
        webhook_deliveries = Labelled()

    registry = Registry()
    async with running(store, make_settings(tmp_path), metrics=registry) as dispatcher:
        queued = await dispatcher.enqueue(None, f"{server.base_url}/hook", "job_started", {})
        await settled(store, queued.id, DeliveryStatus.DELIVERED)
        assert dispatcher.metrics.snapshot() == {
            "attempts": 2,
            "delivered": 1,
            "retried": 1,
            "failed": 0,
            "disabled": 0,
        }
    assert registry.webhook_deliveries.counts == {"retry": 1, "delivered": 1}


async def test_enqueue_refuses_urls_that_are_not_http(store: Store, tmp_path: Path) -> None:
    dispatcher = WebhookDispatcher(store, make_settings(tmp_path))
    with pytest.raises(InvalidWebhookURL):
        await dispatcher.enqueue(None, "file:///etc/passwd", "job_started", {})
    await dispatcher.aclose()
    assert await store.list_deliveries() == []
