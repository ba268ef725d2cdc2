"""The control plane without video: thousands of simulated runs writing through `livesight.store.Store`.

    python benchmarks/control_plane.py                          # 1,000 and 5,000 runs, 1 and 2 replicas, SQLite
                                                                # and PostgreSQL, 15 s each (~4 min)
    python benchmarks/control_plane.py --runs 5000 --replicas 2 --database postgresql --seconds 60

No decoding and no model: each simulated run is a stored live-monitor job (leased to its replica) that writes
what a real job's sink writes per 10 s chunk (measured by benchmarks/stream_cost.py at a 10 s interval):
the chunk (``add_chunk``), its check (``add_checks``), its stats (``update_job``), and now and then a trigger
— an event and its webhook outbox row in one transaction (``add_events(deliveries=…)``). Time is
compressed: ``--writers`` tasks per replica write the runs' chunks round-robin as fast as the database
takes them, for ``--seconds`` of wall time, so the rates are what the store *sustains*, and "runs it keeps
up with" is chunk writes/s × 10 s. Beside the writes, each replica does what its lease loop does at real
pace: ``renew_leases`` for all its runs every 5 s and ``stops_requested`` every second.

A replica is a process with its own Store (connection pool). With two, they write one database
concurrently (SQLite: one file, WAL, the write lock shared through busy_timeout).

Fan-out (PostgreSQL only), two ways side by side in the same run. After each event commits, its replica
publishes it on LiveSight's event bus (``livesight.delivery.pgbus.PostgresBus``: a small notice naming the
run and the event's ``seq``, sent by the bus's own connection), and, as the baseline, sends a raw
``pg_notify('livesight_bench_raw', …)`` on a connection of its own. In the parent process two ``PostgresBus``
instances subscribed to every topic (two API replicas) and two raw ``LISTEN`` connections receive them;
latency is from the event's commit to each subscriber's receipt (one clock: every process is on this
machine). SQLite's bus is in-process: not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from livesight.delivery.broker import Message
from livesight.store import Store
from livesight.store._checks import JobCheck
from livesight.store.records import NewDelivery, new_id
from livesight.types import Chunk, Event

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
CHANNEL = "livesight_bench_raw"
CHUNK_SECONDS = 10.0
WORKER = "bench-replica-{}"
LEASE_SECONDS = 15.0
OPS = ("chunk", "checks", "stats", "event")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# -- one replica (a process) ----------------------------------------------------------------------------


@dataclass
class ReplicaResult:
    replica: int
    seconds: float
    counts: dict[str, int]
    latency: dict[str, list[float]]  # ms per write, by op
    periodic: dict[str, list[float]]  # ms of the lease loop's statements
    errors: int
    notified: int
    cpu: float  # CPU seconds this replica process used while writing
    published: dict[str, float] = field(default_factory=dict)  # "run:seq" → when its event committed (epoch s)


def _trigger(run: str, index: int, chunk_id: str) -> tuple[Event, dict[str, Any], NewDelivery]:
    event_id = new_id("evt")
    t = index * CHUNK_SECONDS + 4.0
    stamp = f"{int(t // 60):02d}:{int(t % 60):02d}"
    event = Event(
        event_id=event_id,
        type="trigger",
        label="condition met",
        description="is there a red square? — yes: a red square in the middle of the frame",
        severity="medium",
        confidence=0.93,
        stream_time=t,
        capture_time=t,
        chunk_index=index,
        chunk_relative_time=4.0,
        hls_cumulative_offset=index * CHUNK_SECONDS,
        t_start=stamp,
        t_end=stamp,
        created_at="",
        analysis_id=new_id("ana"),
        chunk_id=chunk_id,
    )
    data = {"explanation": "a red square is visible", "frame_path": None}
    body = json.dumps(
        {
            "type": "live_monitor.triggered",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {
                "job_id": run,
                "event_id": event_id,
                "stream_time": t,
                "confidence": 0.93,
                "explanation": "…" * 40,
            },
        }
    )
    delivery = NewDelivery(
        id=new_id("msg"), url="https://hooks.example.com/livesight", event_type="live_monitor.triggered", body=body,
        job_id=run,
    )  # fmt: skip
    return event, data, delivery


async def _replica(
    ready: Any,
    go: Any,
    replica: int,
    url: str,
    runs: list[str],
    seconds: float,
    writers: int,
    p_event: float,
    pg_notify_url: str | None,
) -> ReplicaResult:
    store = await Store.open(url, migrate=False)
    notifier, bus = None, None
    if pg_notify_url is not None:
        import psycopg

        from livesight.delivery.pgbus import PostgresBus

        notifier = await psycopg.AsyncConnection.connect(pg_notify_url, autocommit=True)
        bus = PostgresBus(pg_notify_url)
        await bus.start()
    published: dict[str, float] = {}
    ready.put(replica)
    await asyncio.to_thread(go.wait)  # every replica starts writing at once
    rng = random.Random(replica)
    counts: dict[str, int] = defaultdict(int)
    latency: dict[str, list[float]] = defaultdict(list)
    periodic: dict[str, list[float]] = defaultdict(list)
    errors = 0
    notified = 0
    schedule = itertools.cycle(range(len(runs)))
    next_index = [0] * len(runs)
    stop_at = time.monotonic() + seconds
    worker = WORKER.format(replica)

    async def timed(op: str, coro: Any) -> Any:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            result = await coro
        except Exception:
            errors += 1
            return None
        latency[op].append((time.perf_counter() - t0) * 1000)
        counts[op] += 1
        return result

    async def writer() -> None:
        nonlocal notified
        while time.monotonic() < stop_at:
            i = next(schedule)
            run, index = runs[i], next_index[i]
            next_index[i] += 1
            chunk = Chunk(chunk_id=new_id("chk"), index=index, start_time=index * CHUNK_SECONDS,
                          end_time=(index + 1) * CHUNK_SECONDS, path=f"recordings/{run}/{index:06d}.ts")  # fmt: skip
            await timed("chunk", store.add_chunk("job", run, chunk))
            check = JobCheck(index * CHUNK_SECONDS + 5.0, False, 0.9, rng.random() < 0.9, False)
            await timed("checks", store.add_checks(run, [check]))
            stats = {"checks_performed": index + 1, "model_calls": index // 10 + 1, "frames_skipped": index,
                     "elapsed_seconds": index * CHUNK_SECONDS, "lag_seconds": 0.4, "triggers_fired": 0}  # fmt: skip
            await timed("stats", store.update_job(run, stats=stats))
            if rng.random() < p_event:
                event, data, delivery = _trigger(run, index, chunk.chunk_id)
                add = store.add_events("job", run, [event], [data], deliveries=lambda _r, d=delivery: [d])
                stored = await timed("event", add)
                if stored and notifier is not None and bus is not None:
                    committed = time.time()
                    bus.publish(run, Message("triggered", {}, stored[0].seq))  # LiveSight's bus: a notice
                    published[f"{run}:{stored[0].seq}"] = committed
                    payload = json.dumps({"e": event.event_id, "t": committed, "r": replica})
                    await notifier.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))  # the baseline
                    notified += 1

    async def lease_loop() -> None:
        renewed = time.monotonic()
        while time.monotonic() < stop_at:
            await asyncio.sleep(1.0)
            t0 = time.perf_counter()
            await store.stops_requested(worker)
            periodic["stops_requested"].append((time.perf_counter() - t0) * 1000)
            if time.monotonic() - renewed >= LEASE_SECONDS / 3:
                renewed = time.monotonic()
                t0 = time.perf_counter()
                await store.renew_leases(worker, runs, LEASE_SECONDS)
                periodic[f"renew_leases ({len(runs)} runs)"].append((time.perf_counter() - t0) * 1000)

    started, cpu = time.monotonic(), time.process_time()
    try:
        await asyncio.gather(lease_loop(), *(writer() for _ in range(writers)))
    finally:
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        if notifier is not None:
            await notifier.close()
        if bus is not None:
            await bus.aclose()  # sends what is still queued first
        await store.close()
    return ReplicaResult(
        replica, elapsed, dict(counts), dict(latency), dict(periodic), errors, notified, cpu, published
    )


def _replica_main(queue: Any, ready: Any, go: Any, *args: Any) -> None:
    queue.put(asyncio.run(_replica(ready, go, *args)))


# -- one configuration ----------------------------------------------------------------------------------


@dataclass
class Row:
    database: str
    runs: int
    replicas: int
    writers: int
    seconds: float
    counts: dict[str, int]
    latency: dict[str, list[float]]
    periodic: dict[str, list[float]]
    errors: int
    client_cpu: float = 0.0  # CPU seconds of all replica processes
    fanout: list[list[float]] = field(default_factory=list)  # ms, per raw LISTEN subscriber
    bus_fanout: list[list[float]] = field(default_factory=list)  # ms, per PostgresBus subscriber
    notified: int = 0
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # table → (rows, bytes with indexes)

    def rate(self, op: str) -> float:
        return self.counts.get(op, 0) / self.seconds


class Scratch:
    """A fresh database: a SQLite file in a temporary directory, or a PostgreSQL database dropped afterwards."""

    def __init__(self, kind: str, pg_url: str) -> None:
        self.kind, self.pg_url = kind, pg_url
        self.name = f"livesight_control_plane_{uuid.uuid4().hex[:8]}"
        self.dir = tempfile.TemporaryDirectory(prefix="livesight-cp-")

    @property
    def url(self) -> str:
        if self.kind == "postgresql":
            return f"{self.pg_url.rsplit('/', 1)[0]}/{self.name}"
        return f"sqlite:///{self.dir.name}/livesight.db"

    def __enter__(self) -> Scratch:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.dir.cleanup()


async def _create_runs(url: str, runs: int, replicas: int) -> list[list[str]]:
    """``runs`` running webhook jobs, dealt round-robin to the replicas and leased to them."""
    store = await Store.open(url)
    try:
        owned: list[list[str]] = [[] for _ in range(replicas)]
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem:
                r = i % replicas
                job = await store.create_job(
                    "live-monitor", f"rtsp://camera-{i}.example/stream", "is there a red square?", "webhook",
                    "https://hooks.example.com/livesight", {"interval_seconds": 10}, worker_id=WORKER.format(r),
                    lease_seconds=3600,
                )  # fmt: skip
                await store.set_job_status_if(job.id, "pending", "running")
                owned[r].append(job.id)

        await asyncio.gather(*(one(i) for i in range(runs)))
        return owned
    finally:
        await store.close()


async def _listen(url: str, subscribers: int, stop: asyncio.Event) -> list[list[float]]:
    import psycopg

    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(subscribers)]
    seen: list[list[float]] = [[] for _ in conns]
    for conn in conns:
        await conn.execute(f"LISTEN {CHANNEL}")

    async def follow(i: int, conn: Any) -> None:
        while not stop.is_set():
            async for note in conn.notifies(timeout=0.5):
                seen[i].append((time.time() - json.loads(note.payload)["t"]) * 1000)

    try:
        await asyncio.gather(*(follow(i, c) for i, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    return seen


async def _bus_listen(url: str, subscribers: int, stop: asyncio.Event) -> list[dict[str, float]]:
    """Two API replicas' buses subscribed to every topic: when each notice ("run:seq") arrived (epoch s)."""
    from livesight.delivery.broker import ANY
    from livesight.delivery.pgbus import PostgresBus

    buses = [PostgresBus(url) for _ in range(subscribers)]
    for bus in buses:
        await bus.start()
    subs = [bus.subscribe(ANY) for bus in buses]
    seen: list[dict[str, float]] = [{} for _ in buses]

    async def follow(i: int) -> None:
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(subs[i].queue.get(), 0.5)
            except TimeoutError:
                continue
            seen[i].setdefault(f"{message.topic}:{message.seq}", time.time())

    try:
        await asyncio.gather(*(follow(i) for i in range(subscribers)))
    finally:
        for bus in buses:
            await bus.aclose()
    return seen


SIZED = ("chunks", "job_checks", "events", "webhook_deliveries", "jobs")


def _row_sizes(scratch: Scratch) -> dict[str, tuple[int, int]]:
    """Rows and bytes (table + indexes + TOAST) of the tables the runs wrote, after the run."""
    if scratch.kind == "postgresql":
        import psycopg

        with psycopg.connect(scratch.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            out = {}
            for t in SIZED:
                row = conn.execute(f"SELECT count(*), pg_total_relation_size('{t}') FROM {t}").fetchone()
                out[t] = (int(row[0]), int(row[1])) if row else (0, 0)
            return out
    import sqlite3

    path = scratch.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        try:
            sized = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        except sqlite3.OperationalError:  # SQLite built without dbstat
            return {}
        indexes: dict[str, list[str]] = defaultdict(list)
        for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'"):
            indexes[table].append(name)
        return {
            t: (
                int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]),
                int(sized.get(t, 0) + sum(sized.get(i, 0) for i in indexes[t])),
            )
            for t in SIZED
        }


async def _drive(args: argparse.Namespace, database: str, runs: int, replicas: int) -> Row:
    with Scratch(database, args.pg_url) as scratch:
        t0 = time.monotonic()
        owned = await _create_runs(scratch.url, runs, replicas)
        print(f"  {database}: {runs} runs created in {time.monotonic() - t0:.1f} s", flush=True)
        ctx = mp.get_context("spawn")
        queue, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        pg = scratch.url if database == "postgresql" else None
        stop = asyncio.Event()
        listener = asyncio.create_task(_listen(pg, 2, stop)) if pg else None
        bus_listener = asyncio.create_task(_bus_listen(pg, 2, stop)) if pg else None
        await asyncio.sleep(0.5)
        procs = [
            ctx.Process(
                target=_replica_main,
                args=(
                    queue,
                    ready,
                    go,
                    r,
                    scratch.url,
                    owned[r],
                    args.seconds,
                    args.writers,
                    args.event_probability,
                    pg,
                ),
            )
            for r in range(replicas)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            await asyncio.to_thread(ready.get)
        go.set()
        results: list[ReplicaResult] = []
        while len(results) < replicas:
            results.append(await asyncio.to_thread(queue.get))
        for p in procs:
            p.join()
        await asyncio.sleep(0.5)  # the last notifications
        stop.set()
        fanout = await listener if listener else []
        arrivals = await bus_listener if bus_listener else []
        sizes = await asyncio.to_thread(_row_sizes, scratch)
    counts: dict[str, int] = defaultdict(int)
    latency: dict[str, list[float]] = defaultdict(list)
    periodic: dict[str, list[float]] = defaultdict(list)
    for res in results:
        for k, v in res.counts.items():
            counts[k] += v
        for k, lv in res.latency.items():
            latency[k].extend(lv)
        for k, lv in res.periodic.items():
            periodic[k].extend(lv)
    return Row(
        database=database,
        runs=runs,
        replicas=replicas,
        writers=args.writers,
        seconds=statistics.mean(r.seconds for r in results),
        counts=dict(counts),
        latency=dict(latency),
        periodic=dict(periodic),
        errors=sum(r.errors for r in results),
        client_cpu=sum(r.cpu for r in results),
        fanout=fanout,
        bus_fanout=[
            [(seen[key] - at) * 1000 for r in results for key, at in r.published.items() if key in seen]
            for seen in arrivals
        ],
        notified=sum(r.notified for r in results),
        sizes=sizes,
    )


# -- output ---------------------------------------------------------------------------------------------


def _p(values: list[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"


def table(rows: list[Row]) -> str:
    head = (
        "| database | runs | replicas × writers | chunk writes/s | events/s (+ webhook row) | write tx/s | "
        "runs kept up with (10 s chunks) | chunk p50 / p99 ms | event p50 / p99 ms | stats p50 / p99 ms | errors "
        "| replicas' CPU (cores) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        tx = sum(r.counts.values()) / r.seconds
        ch, ev, st = r.latency.get("chunk", []), r.latency.get("event", []), r.latency.get("stats", [])
        lines.append(
            f"| {r.database} | {r.runs:,} | {r.replicas} × {r.writers} | {r.rate('chunk'):,.0f} "
            f"| {r.rate('event'):,.1f} | {tx:,.0f} | {r.rate('chunk') * CHUNK_SECONDS:,.0f} "
            f"| {_p(ch)} | {_p(ev)} | {_p(st)} | {r.errors} | {r.client_cpu / r.seconds:.2f} |"
        )
    return "\n".join(lines)


def periodic_table(rows: list[Row]) -> str:
    lines = [
        "| database | runs | replicas | lease-loop statement | count | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name, values in sorted(r.periodic.items()):
            lines.append(
                f"| {r.database} | {r.runs:,} | {r.replicas} | {name} per replica | {len(values)} "
                f"| {percentile(values, 50):.1f} | {percentile(values, 99):.1f} |"
            )
    return "\n".join(lines)


def size_table(rows: list[Row]) -> str:
    """Bytes per row on disk (with indexes) in the largest configuration of each database."""
    lines = ["| database | table | rows after the run | bytes / row (with indexes) |", "|---|---|---|---|"]
    for database in dict.fromkeys(r.database for r in rows):
        biggest = max((r for r in rows if r.database == database), key=lambda r: sum(n for n, _ in r.sizes.values()))
        for table_name, (n, size) in biggest.sizes.items():
            lines.append(f"| {database} | {table_name} | {n:,} | {size / n if n else float('nan'):,.0f} |")
    return "\n".join(lines)


def fanout_table(rows: list[Row]) -> str:
    rows = [r for r in rows if r.fanout]
    if not rows:
        return ""
    lines = [
        "| runs | replicas (writers) | path | events published | received by subscriber 1 / 2 "
        "| commit → subscriber p50 / p99 / max ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        for path, subs in (("LiveSight's bus (PostgresBus)", r.bus_fanout), ("raw LISTEN/NOTIFY (baseline)", r.fanout)):
            every = [x for sub in subs for x in sub]
            lines.append(
                f"| {r.runs:,} | {r.replicas} | {path} | {r.notified} | {' / '.join(str(len(s)) for s in subs)} "
                f"| {percentile(every, 50):.2f} / {percentile(every, 99):.2f} "
                f"/ {max(every, default=float('nan')):.2f} |"
            )
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    for database in args.database or ["sqlite", "postgresql"]:
        for runs in args.runs or [1000, 5000]:
            for replicas in args.replicas or [1, 2]:
                row = await _drive(args, database, runs, replicas)
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print()
    print(periodic_table(rows))
    print()
    print(size_table(rows))
    side = fanout_table(rows)
    if side:
        print()
        print("Fan-out: LiveSight's event bus against raw LISTEN/NOTIFY, in the same run")
        print(side)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, action="append", help="simulated runs; repeatable (1000, 5000)")
    parser.add_argument("--replicas", type=int, action="append", help="writer processes; repeatable (1, 2)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), action="append", help="repeatable (both)")
    parser.add_argument("--seconds", type=float, default=15, help="wall seconds of writing per configuration (15)")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer tasks per replica (8)")
    parser.add_argument(
        "--event-probability", type=float, default=0.1, help="chance a chunk carries a trigger (0.1: one per 100 s)"
    )
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="a PostgreSQL database to create scratch databases from")
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(amain(args))
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
