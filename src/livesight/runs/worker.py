"""A worker: the process (or Ray actor) that runs runs — its job and session managers and its leases.

``livesight serve`` with the local runner holds one worker beside the API, sharing its store and bus. With
the Ray runner each actor holds one, built by :func:`open_worker` from settings alone, that runs the runs of
one source URL (so they share one decode).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Literal

from livesight.delivery.broker import Message, build_bus
from livesight.judges import Judge, build_judge
from livesight.metrics import Metrics
from livesight.netpolicy import NetworkPolicy
from livesight.runs.jobs import JobManager
from livesight.runs.manager import Leases, RunResources
from livesight.runs.sessions import SessionManager
from livesight.runs.views import Views
from livesight.settings import Settings
from livesight.signing import URLSigner
from livesight.sources.hub import SourceRegistry
from livesight.storage import open_storage
from livesight.store import ClaimScope, Store

log = logging.getLogger(__name__)

RunKind = Literal["job", "session"]

DELIVERIES_TOPIC = "livesight:deliveries"
"""Bus topic on which a worker without a dispatcher of its own (a Ray actor) says it queued webhooks, so the
API replicas' dispatchers send them now instead of at their next poll of the outbox."""


class Worker:
    """The job and session managers of one worker, and the leases that tie their runs to it."""

    def __init__(
        self, resources: RunResources, *, scope: ClaimScope | None = None, predecessors: str | None = None
    ) -> None:
        self.resources = resources
        self.jobs = JobManager(resources)
        self.sessions = SessionManager(resources)
        self.leases = Leases(
            resources.store,
            [self.jobs, self.sessions],
            worker_id=resources.worker_id,
            lease_seconds=resources.settings.lease_seconds,
            scope=scope,
            predecessors=predecessors,
        )

    @property
    def worker_id(self) -> str:
        return self.resources.worker_id

    async def start(self) -> None:
        """Resume the runs no live worker holds (within this worker's scope), then keep the leases of what runs
        here, act on stop requests, and claim what dead workers leave behind."""
        await self.leases.claim()
        self.leases.start()

    async def take(self, kind: RunKind, run_id: str, from_worker: str | None = None) -> bool:
        """Run ``run_id``, just placed here (see :meth:`RunManager.take`)."""
        manager = self.jobs if kind == "job" else self.sessions
        return await manager.take(run_id, from_worker)

    def held(self) -> list[str]:
        return [*self.jobs.held(), *self.sessions.held()]

    async def stop_here(self, run_id: str, within: float) -> None:
        """A stop was asked for in the store: if the run is here, stop it now and wait (bounded) for its end."""
        for manager in (self.jobs, self.sessions):
            manager.stop_requested(run_id)
            await manager.wait_local(run_id, within)

    async def aclose(self) -> None:
        """Stop every run cleanly (each stores its end), renewing the leases meanwhile but claiming nothing."""
        self.leases.drain()
        await self.jobs.shutdown()
        await self.sessions.shutdown()
        await self.leases.aclose()


@contextlib.asynccontextmanager
async def open_worker(
    settings: Settings,
    *,
    worker_id: str,
    scope: ClaimScope | None = None,
    predecessors: str | None = None,
) -> AsyncIterator[Worker]:
    """A worker of its own — store, bus, decode hub, judge, storage — built from ``settings`` (a Ray actor's).

    It has no webhook dispatcher: the deliveries it queues are sent by the API replicas', which it wakes
    over the bus (:data:`DELIVERIES_TOPIC`).
    """
    store = await Store.open(settings.resolved_database_url())
    bus = build_bus(settings.resolved_database_url())
    policy = NetworkPolicy.from_settings(settings)
    registry = SourceRegistry(settings, policy=policy)
    storage = open_storage(settings)
    judges: list[Judge] = []
    try:
        await bus.start()
        resources = RunResources(
            settings=settings,
            store=store,
            registry=registry,
            bus=bus,
            judge=_lazy(lambda: build_judge(settings), judges),
            views=Views(settings, URLSigner.from_data_dir(settings.data_dir, settings.signing_secret)),
            metrics=Metrics(),
            worker_id=worker_id,
            wake_deliveries=lambda: bus.publish(DELIVERIES_TOPIC, Message("queued", {})),
            storage=storage,
        )
        worker = Worker(resources, scope=scope, predecessors=predecessors)
        try:
            yield worker
        finally:
            await worker.aclose()
    finally:
        registry.stop_all()
        for judge in judges:
            await judge.aclose()
        await bus.aclose()
        storage.close()
        await store.close()


def _lazy(build: Callable[[], Judge], built: list[Judge]) -> Callable[[], Judge]:
    """One judge, built at first use (a worker whose sessions ask no question needs none)."""

    def judge() -> Judge:
        if not built:
            built.append(build())
        return built[0]

    return judge
