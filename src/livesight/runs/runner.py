"""The runner seam: where the runs the API creates are placed (``LIVESIGHT_RUNNER``).

- ``local`` (default): in the ``livesight serve`` process, by the :class:`~livesight.runs.worker.Worker` it
  holds — one command on a laptop; replicas on one PostgreSQL database share the runs through leases.
- ``ray``: on a Ray cluster (:mod:`livesight.runs.ray_runner`), one actor per source URL; the API processes
  hold no run at all.

Either way a run is created in the store first, leased to :attr:`Runner.worker_id`, then placed; the worker
that runs it reads everything it needs from the store and its settings.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from livesight.errors import ConfigurationError
from livesight.runs.worker import Worker
from livesight.settings import Settings
from livesight.store import Store

log = logging.getLogger(__name__)

RunKind = Literal["job", "session"]


class Runner(Protocol):
    worker_id: str
    """The worker a new run is leased to when it is created (the local worker, or the Ray placer)."""

    async def start(self) -> None: ...

    async def place(self, kind: RunKind, run_id: str, source_url: str) -> None:
        """Start the run just created (its row holds all it needs). A run this fails to place is placed
        again once its first lease runs out."""
        ...

    async def stop_here(self, run_id: str, within: float) -> None:
        """The store says ``run_id`` should stop: if it runs in this process, stop it now and wait (bounded)."""
        ...

    def jobs_running(self) -> int:
        """Jobs running in this process (``/healthz``)."""
        ...

    def drain(self) -> None:
        """Shutting down: place nothing more."""
        ...

    async def aclose(self) -> None: ...


class LocalRunner:
    """Runs every run in this process, on its worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.worker_id = worker.worker_id

    async def start(self) -> None:
        await self.worker.start()

    async def place(self, kind: RunKind, run_id: str, source_url: str) -> None:
        if not await self.worker.take(kind, run_id):
            log.warning("%s %s: not started here (it ended, or another worker holds it)", kind, run_id)

    async def stop_here(self, run_id: str, within: float) -> None:
        await self.worker.stop_here(run_id, within)

    def jobs_running(self) -> int:
        return self.worker.jobs.running()

    def drain(self) -> None:
        self.worker.leases.drain()

    async def aclose(self) -> None:
        await self.worker.aclose()


def check_runner_settings(settings: Settings, store: Store) -> None:
    """Refuse a runner the deployment cannot support, before anything starts."""
    if settings.runner != "ray":
        return
    if store.dialect != "postgresql":
        raise ConfigurationError(
            "LIVESIGHT_RUNNER=ray needs a PostgreSQL database: the Ray workers and the API replicas share it.",
            remediation="Set LIVESIGHT_DATABASE_URL=postgresql+psycopg://… (pip install 'livesight[postgres]').",
        )
    if not settings.signing_secret:
        raise ConfigurationError(
            "LIVESIGHT_RUNNER=ray needs LIVESIGHT_SIGNING_SECRET: links signed on a Ray node must verify on "
            "every API replica.",
            remediation="Set the same LIVESIGHT_SIGNING_SECRET (any long random string) for every replica.",
        )
