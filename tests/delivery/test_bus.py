"""The event bus: in one process, and across processes on one PostgreSQL database (``LISTEN/NOTIFY``).

Two ``Store`` + ``PostgresBus`` pairs on one database stand for two replicas. The SSE stream under test
is the real :func:`livesight.api.sse.event_stream`, fed by the bus and reading the real store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from livesight.api.sse import event_stream
from livesight.delivery.broker import ANY, RESYNC, InProcessBus, Message, build_bus, until_ended
from livesight.delivery.pgbus import PostgresBus
from livesight.metrics import Metrics
from livesight.store import Store
from livesight.store.records import EventRecord
from livesight.types import Event


def make_event(n: int) -> Event:
    return Event(
        event_id="",
        type="detection",
        label=f"person {n}",
        description="a person walks to the door",
        severity="high",
        confidence=0.875,
        stream_time=float(n),
        capture_time=float(n) + 100.0,
        chunk_index=n // 3,
        chunk_relative_time=1.5,
        hls_cumulative_offset=0.0,
        t_start="00:11",
        t_end="00:13",
        created_at="",
        analysis_id="ana_1",
        chunk_id="",
        end_time=float(n) + 2.0,
    )


async def _next(queue: asyncio.Queue[Message], within: float = 10.0) -> Message:
    return await asyncio.wait_for(queue.get(), within)


async def _until(check: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - a condition no event signals
            await asyncio.sleep(0.02)


# -- in one process ---------------------------------------------------------------------------------


async def test_in_process_bus_delivers_by_topic_and_to_every_topic_subscriber() -> None:
    bus = InProcessBus()
    await bus.start()
    mine, other, every = bus.subscribe("job_1"), bus.subscribe("job_2"), bus.subscribe(ANY)
    bus.publish("job_1", Message("progress", {"n": 1}))
    assert (await _next(mine.queue)).data == {"n": 1}
    assert other.queue.empty()
    seen = await _next(every.queue)
    assert (seen.topic, seen.data) == ("job_1", {"n": 1})
    bus.unsubscribe(mine)
    bus.publish("job_1", Message("progress", {"n": 2}))
    assert mine.queue.empty() and bus.subscribers("job_1") == 0
    await bus.aclose()


async def test_a_subscriber_that_falls_behind_is_cut_off() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("job_1")
    for n in range(sub.queue.maxsize + 1):
        bus.publish("job_1", Message("progress", {"n": n}))
    assert sub.overflowed and bus.subscribers("job_1") == 0


async def test_has_the_run_ended_is_read_again_when_the_bus_says_it_ended() -> None:
    bus = InProcessBus()
    reads: list[bool] = []
    over = False

    async def ended() -> bool:
        reads.append(over)
        return over

    waiting = asyncio.create_task(until_ended(bus, "job_1", ended, 10.0, recheck=60.0))
    await _until(lambda: len(reads) == 1)
    bus.publish("job_1", Message("progress", {}))  # not an end: no read
    over = True
    bus.publish("job_1", Message("stopped", {}, 3, terminal=True))
    assert await asyncio.wait_for(waiting, 5) is True
    assert reads == [False, True] and bus.subscribers() == 0
    assert await until_ended(bus, "job_2", lambda: _false(), 0.2) is False


async def _false() -> bool:
    return False


def test_the_bus_follows_the_database(tmp_path: Path) -> None:
    assert isinstance(build_bus(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"), InProcessBus)
    assert isinstance(build_bus("postgresql+psycopg://postgres@127.0.0.1:5432/x"), PostgresBus)


# -- across replicas on PostgreSQL ------------------------------------------------------------------


class Replica:
    def __init__(self, store: Store, bus: PostgresBus) -> None:
        self.store, self.bus = store, bus
        self.state = SimpleNamespace(
            store=store, bus=bus, metrics=Metrics(), settings=SimpleNamespace(sse_keepalive_seconds=0.2)
        )

    async def announce(self, job_id: str, n: int) -> EventRecord:
        """What a run does: store an event, then publish it."""
        [record] = await self.store.add_events("job", job_id, [make_event(n)])
        self.bus.publish(job_id, _message(record))
        return record


def _message(record: EventRecord) -> Message:
    return Message("event", {"label": record.label}, record.seq, terminal=record.label == "person 99")


@asynccontextmanager
async def _replica(url: str, **options: Any) -> AsyncIterator[Replica]:
    store = await Store.open(url)
    bus = PostgresBus(url, **options)
    try:
        await bus.start()
        assert bus.state.value == "listening"
        yield Replica(store, bus)
    finally:
        await bus.aclose()
        await store.close()


class Client:
    """An SSE client of ``event_stream`` on one replica: the ids and names it received, in order."""

    def __init__(self, replica: Replica, job_id: str, ended: Callable[[], Awaitable[Message | None]]) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.stream = event_stream(replica.state, "job", job_id, 0, None, to_message=_message, final=ended)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for chunk in self.stream:
            fields = dict(
                line.split(": ", 1) for line in chunk.decode().splitlines() if ": " in line and not line.startswith(":")
            )
            if "id" in fields:
                self.received.append((fields["id"], fields.get("event", ""), json.loads(fields.get("data", "{}"))))

    def ids(self) -> list[str]:
        return [i for i, _, _ in self.received]

    async def aclose(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def _no_end() -> Message | None:
    return None


@pytest.mark.postgres
async def test_a_message_published_on_one_replica_reaches_the_other(postgres_url: str) -> None:
    async with _replica(postgres_url) as a, _replica(postgres_url) as b:
        job = await a.store.create_job("live-monitor", "http://example.test/live.m3u8")
        on_a, on_b = a.bus.subscribe(job.id), b.bus.subscribe(job.id)
        record = await a.announce(job.id, 1)
        a.bus.publish(job.id, Message("progress", {"checks": 3}))

        # B gets a notice naming the stored event, then the progress snapshot inline, in that order.
        notice = await _next(on_b.queue)
        assert notice.stored and notice.seq == record.seq and notice.data == {}
        [stored] = await b.store.list_events("job", job.id, after_seq=notice.seq - 1, limit=1)
        assert stored.id == record.id
        progress = await _next(on_b.queue)
        assert (progress.name, progress.data, progress.stored) == ("progress", {"checks": 3}, False)

        # A gets its own messages once, as published (not a second time from its own NOTIFY): B's marker,
        # sent after A's notices committed, reaches A after them.
        b.bus.publish(job.id, Message("progress", {"marker": True}))
        got = [await _next(on_a.queue) for _ in range(3)]
        assert [m.data for m in got] == [{"label": "person 1"}, {"checks": 3}, {"marker": True}]
        assert not got[0].stored and on_a.queue.empty()


@pytest.mark.postgres
async def test_what_does_not_fit_a_notify_is_read_from_the_store_or_dropped(postgres_url: str) -> None:
    async with _replica(postgres_url) as a, _replica(postgres_url) as b:
        on_b = b.bus.subscribe("job_x")
        big = {"frames": "x" * 9000}
        a.bus.publish("job_x", Message("progress", big))  # superseded by the next one: not sent on
        a.bus.publish("job_x", Message("ended", big, terminal=True))  # its end is read from the store
        a.bus.publish("job_x", Message("progress", {"small": 1}))
        ended = await _next(on_b.queue)
        assert (ended.name, ended.terminal, ended.stored, ended.seq) == ("ended", True, True, None)
        assert (await _next(on_b.queue)).data == {"small": 1}


@pytest.mark.postgres
async def test_an_sse_client_on_the_other_replica_gets_every_stored_event_once_in_order(postgres_url: str) -> None:
    async with _replica(postgres_url) as a, _replica(postgres_url) as b:
        job = await a.store.create_job("live-monitor", "http://example.test/live.m3u8")
        first = await a.announce(job.id, 0)  # before the client: it comes from the replay
        client = Client(b, job.id, _no_end)
        await _until(lambda: client.ids() == [str(first.seq)] and b.bus.subscribers(job.id) == 1)
        for n in range(1, 6):
            await a.announce(job.id, n)
            a.bus.publish(job.id, Message("progress", {"n": n}))
        last = await a.announce(job.id, 99)  # terminal: the stream ends
        await asyncio.wait_for(client.task, 10)
        stored = [str(r.seq) for r in await b.store.list_events("job", job.id)]
        assert [i for i in client.ids() if "." not in i] == stored
        assert client.ids()[-1] == str(last.seq)
        assert sum("." in i for i in client.ids()) >= 1  # progress crossed over too


@pytest.mark.postgres
async def test_a_dropped_listen_connection_comes_back_and_nothing_stored_is_missed(postgres_url: str) -> None:
    reconnect = asyncio.Event()
    dropped = False

    async def connect(dsn: str) -> psycopg.AsyncConnection[Any]:
        if dropped:
            await reconnect.wait()  # the network is down until the test says so
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    async with _replica(postgres_url) as a, _replica(postgres_url, connect=connect) as b:
        job = await a.store.create_job("live-monitor", "http://example.test/live.m3u8")
        client = Client(b, job.id, _no_end)
        watcher = b.bus.subscribe(job.id)
        await _until(lambda: b.bus.subscribers(job.id) == 2)
        await a.announce(job.id, 1)
        await _until(lambda: len(client.ids()) == 1)

        dropped = True
        await b.bus.drop_connection()
        await _until(lambda: b.bus.state.value == "connecting")
        missed = [await a.announce(job.id, n) for n in (2, 3)]  # B hears nothing of these
        await asyncio.sleep(0)
        reconnect.set()
        await asyncio.wait_for(b.bus.wait_listening(), 10)
        assert b.bus.connections == 2

        names = []
        while (message := await _next(watcher.queue)).name != RESYNC:
            names.append(message.name)
        assert message.stored  # re-read the store from the last seq seen
        await _until(lambda: len(client.ids()) == 3)
        await a.announce(job.id, 4)  # and live again
        await _until(lambda: len(client.ids()) == 4)
        stored = [str(r.seq) for r in await b.store.list_events("job", job.id)]
        assert client.ids() == stored
        assert str(missed[-1].seq) in client.ids()
        await client.aclose()


@pytest.mark.postgres
async def test_a_run_that_ended_without_a_terminal_event_ends_the_stream_from_the_store(postgres_url: str) -> None:
    """A session ends by a status change: the notice of its end is read as the stored status."""
    async with _replica(postgres_url) as a, _replica(postgres_url) as b:
        job = await a.store.create_job("live-monitor", "http://example.test/live.m3u8")
        finished = False

        async def ended() -> Message | None:
            return Message("ended", {"status": "FINISHED"}, terminal=True) if finished else None

        client = Client(b, job.id, ended)
        await _until(lambda: b.bus.subscribers(job.id) == 1)
        finished = True
        a.bus.publish(job.id, Message("ended", {"status": "FINISHED", "pad": "x" * 9000}, terminal=True))
        await asyncio.wait_for(client.task, 10)
        assert client.received[-1][1:] == ("ended", {"status": "FINISHED"})


@pytest.mark.postgres
async def test_a_replica_shutting_down_sends_its_last_notices_first(postgres_url: str) -> None:
    async with _replica(postgres_url) as b:
        on_b = b.bus.subscribe("job_1")
        async with _replica(postgres_url) as a:
            a.bus.publish("job_1", Message("stopped", {"reason": "cancelled"}, 7, terminal=True))
        # `a` is closed: what it published just before is on its way all the same.
        notice = await _next(on_b.queue)
        assert (notice.name, notice.seq, notice.terminal, notice.stored) == ("stopped", 7, True, True)
