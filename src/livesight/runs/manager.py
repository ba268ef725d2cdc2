"""What job and session managers share: the resources of a worker's runs, the runs this worker holds, and the
leases that make the store, not this process, the system of record for who runs what.

Every live session and job row names the worker (process) running it and a lease it renews (:class:`Leases`).
A run whose lease runs out — its process died — is claimed by another worker and resumed, so N replicas on
one database run each run exactly once. A cancel or end request is a change to the row, whichever replica
received it; the owner sees it within a second and stops the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from livesight.delivery.broker import Bus
from livesight.judges import Judge
from livesight.metrics import Metrics
from livesight.pipeline.runner import Run, RunResult
from livesight.rules import StopReason
from livesight.runs.views import Views
from livesight.settings import Settings
from livesight.sources.hub import SourceRegistry
from livesight.storage import Storage
from livesight.store import ClaimScope, Store

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often a worker reads its own runs' rows for stop requests (a cancel is acted on within this)."""


def new_worker_id() -> str:
    """This process's name in the store's ``worker_id`` columns: ``hostname:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def gone_from_this_host(worker_id: str) -> bool:
    """Whether ``worker_id`` names a process of this host that no longer exists.

    Only trusted for SQLite (one file, so one host and one pid namespace): containers sharing a host name
    but not a pid namespace would make a live worker look dead.
    """
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but is not ours to signal
        return False
    return False


@dataclass
class RunResources:
    """What a worker's runs use. Built from settings and the store alone — in ``livesight serve`` for the local
    runner, in a Ray actor for the Ray runner — never handed over from an API process's memory."""

    settings: Settings
    store: Store
    registry: SourceRegistry
    bus: Bus
    judge: Callable[[], Judge]
    views: Views
    metrics: Metrics
    worker_id: str
    #: Wakes the webhook dispatcher(s) after deliveries were queued (they also poll the outbox).
    wake_deliveries: Callable[[], None] = lambda: None
    storage: Storage | None = None  # None: recordings stay in the local directory, as files


class RunManager:
    """Supervises the runs of one kind that this worker holds, keyed by job or session id.

    ``self._runs`` is what this process runs (to stop, renew and supervise it); what the API reports comes
    from the store.
    """

    def __init__(self, resources: RunResources) -> None:
        self.resources = resources
        self.settings = resources.settings
        self.store = resources.store
        self.registry = resources.registry
        self.bus = resources.bus
        self.judge = resources.judge
        self.views = resources.views
        self.metrics = resources.metrics
        self.storage = resources.storage
        self.worker_id = resources.worker_id
        self._runs: dict[str, tuple[asyncio.Task[None], Run]] = {}
        self._stopping: set[str] = set()  # stop requests already acted on
        self._lost: set[str] = set()  # runs another worker claimed: this copy stops without writing its end

    def running(self) -> int:
        return len(self._runs)

    def held(self) -> list[str]:
        """Ids of the runs this process runs (whose leases it renews)."""
        return list(self._runs)

    async def claim(self, dead_workers: Iterable[str] = (), scope: ClaimScope | None = None) -> int:
        """Claim the runs (within ``scope``) whose lease ran out, or whose worker is dead, and run them here;
        returns how many started."""
        raise NotImplementedError

    async def take(self, run_id: str, from_worker: str | None = None) -> bool:
        """Run ``run_id``, just placed on this worker by ``from_worker`` (which created it and holds its first
        lease); ``False`` when it is not this kind's, has ended, or another worker holds it."""
        dead = [from_worker] if from_worker else []
        await self.claim(dead, ClaimScope(ids=frozenset([run_id])))
        return run_id in self._runs

    def stop_requested(self, run_id: str) -> None:
        """The store says ``run_id`` was asked to stop: stop it, if it runs here (once)."""
        entry = self._runs.get(run_id)
        if entry is None or run_id in self._stopping:
            return
        self._stopping.add(run_id)
        entry[1].cancel()

    def lost(self, run_id: str) -> None:
        """Another worker claimed ``run_id`` (this one's lease ran out): stop this copy without storing its end."""
        entry = self._runs.get(run_id)
        if entry is None:
            return
        log.warning("%s: its lease was lost to another worker; stopping the copy here", run_id)
        self._lost.add(run_id)
        entry[1].cancel()

    def _track(self, run_id: str, task: asyncio.Task[None], run: Run) -> None:
        self._runs[run_id] = (task, run)

        def done(_task: asyncio.Task[None]) -> None:
            self._runs.pop(run_id, None)
            self._stopping.discard(run_id)
            self._lost.discard(run_id)

        task.add_done_callback(done)

    async def wait_local(self, run_id: str, within: float) -> None:
        """Wait (at most ``within`` seconds) for ``run_id`` to end, if it runs here."""
        entry = self._runs.get(run_id)
        if entry is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(entry[0]), timeout=within)

    async def shutdown(self) -> None:
        """Stop every run cleanly: each ends as cancelled, its state stored by its supervisor (which
        gets up to 30 s; past that the process exits and another worker resumes the run once its lease ends)."""
        for _, run in list(self._runs.values()):
            run.cancel()
        tasks = [t for t, _ in self._runs.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    @staticmethod
    async def outcome(run: Run, what: str) -> RunResult:
        """Why ``run`` ended; a bug ends it visibly as an internal error, never leaves it "running"."""
        try:
            return await run.run()
        except asyncio.CancelledError:
            return RunResult(StopReason.CANCELLED, "server shutting down", run.stats, run.progress())
        except Exception as exc:
            log.exception("%s crashed", what)
            detail = f"internal error: {type(exc).__name__}"
            return RunResult(StopReason.INTERNAL_ERROR, detail, run.stats, run.progress())


class LeasesState(enum.StrEnum):
    """``new`` → ``running`` (``start``) → ``draining`` (``drain``: renews, claims nothing) → ``stopped``."""

    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


class Leases:
    """This process's leases: renews those of its runs every ``lease_seconds / 3``, acts on stop requests
    for them once a second, and claims runs whose lease ran out every ``lease_seconds / 3``.

    ``scope`` limits what it claims (a Ray actor: the runs of its source). ``predecessors`` is a worker-id
    prefix of this worker's earlier incarnations (a restarted Ray actor): their runs are claimed at once, not a
    lease later. ``clock`` (monotonic seconds) and ``sleep`` are for tests.
    """

    def __init__(
        self,
        store: Store,
        managers: Sequence[RunManager],
        *,
        worker_id: str,
        lease_seconds: float,
        scope: ClaimScope | None = None,
        predecessors: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.managers = list(managers)
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.scope = scope
        self.predecessors = predecessors
        self._clock = clock
        self._sleep = sleep
        self._every = lease_seconds / 3
        self._renewed = self._claimed = clock()
        self._state = LeasesState.NEW
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> LeasesState:
        return self._state

    async def claim(self) -> int:
        """Claim and resume every run whose lease ran out (at start-up, then periodically)."""
        dead: set[str] = set()
        if self.store.dialect == "sqlite":
            # One file on one host: a worker whose process is gone holds nothing, whatever its lease says, so a
            # restarted single server resumes its runs at once instead of a lease later.
            dead = {w for w in await self.store.lease_holders() if gone_from_this_host(w)}
        if self.predecessors:
            holders = await self.store.lease_holders()
            dead |= {w for w in holders if w.startswith(self.predecessors) and w != self.worker_id}
        claimed = 0
        for manager in self.managers:
            claimed += await manager.claim(dead, self.scope)
        self._claimed = self._clock()
        return claimed

    async def renew(self) -> None:
        """Extend the leases of this process's runs; a run another worker took over is stopped here."""
        held = [run_id for m in self.managers for run_id in m.held()]
        self._renewed = self._clock()
        if not held:
            return
        kept = await self.store.renew_leases(self.worker_id, held, self.lease_seconds)
        for manager in self.managers:
            for run_id in manager.held():
                if run_id in held and run_id not in kept:
                    manager.lost(run_id)

    async def poll_stops(self) -> None:
        """Stop the runs of this process whose rows ask for it (a cancel or end any replica received)."""
        if not any(m.held() for m in self.managers):
            return
        for run_id in await self.store.stops_requested(self.worker_id):
            for manager in self.managers:
                manager.stop_requested(run_id)

    async def tick(self) -> None:
        """One round: stop requests always, renewal and claims when due."""
        await self.poll_stops()
        now = self._clock()
        if now - self._renewed >= self._every:
            await self.renew()
        if self._state is LeasesState.RUNNING and now - self._claimed >= self._every:
            await self.claim()

    def start(self) -> None:
        if self._state is LeasesState.NEW:
            self._state = LeasesState.RUNNING
            self._task = asyncio.get_running_loop().create_task(self._run(), name="leases")

    def drain(self) -> None:
        """Keep renewing (runs are ending) but claim nothing more: the process is shutting down."""
        if self._state is LeasesState.RUNNING:
            self._state = LeasesState.DRAINING

    async def aclose(self) -> None:
        self._state = LeasesState.STOPPED
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while self._state in (LeasesState.RUNNING, LeasesState.DRAINING):
            try:
                await self.tick()
                failures = 0
            except Exception:
                # The database may be restarting: keep going; a lease lost meanwhile is noticed at the next renewal.
                failures += 1
                log.exception("leases: a round failed (%d in a row)", failures)
            await self._sleep(min(POLL_SECONDS, self._every))
