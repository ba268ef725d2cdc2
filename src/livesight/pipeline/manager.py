"""What job and session managers share: the engine's resources and the table of runs in progress."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from livesight.delivery.broker import Broker
from livesight.judges import Judge
from livesight.metrics import Metrics
from livesight.pipeline.runner import Run, RunResult
from livesight.rules import StopReason
from livesight.settings import Settings
from livesight.signing import URLSigner
from livesight.sources.hub import SourceRegistry
from livesight.store import Store

if TYPE_CHECKING:
    from livesight.delivery.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)


class RunManager:
    """Holds the process's resources and the runs it supervises, keyed by job or session id."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        registry: SourceRegistry,
        broker: Broker,
        judge: Callable[[], Judge],
        signer: URLSigner,
        metrics: Metrics,
        public_url: Callable[[], str],
        dispatcher: WebhookDispatcher | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.broker = broker
        self.judge = judge
        self.signer = signer
        self.metrics = metrics
        self.public_url = public_url
        self.dispatcher = dispatcher
        self._runs: dict[str, tuple[asyncio.Task[None], Run]] = {}

    def running(self) -> int:
        return len(self._runs)

    async def shutdown(self) -> None:
        """Stop every run cleanly: each ends as cancelled, its state stored by its supervisor (which
        gets up to 30 s; past that the process exits and restart recovery resumes the run)."""
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
            return RunResult(StopReason.CANCELLED, "server shutting down", run.stats)
        except Exception as exc:
            log.exception("%s crashed", what)
            return RunResult(StopReason.INTERNAL_ERROR, f"internal error: {type(exc).__name__}", run.stats)

    def run_of(self, run_id: str) -> Run | None:
        entry = self._runs.get(run_id)
        return entry[1] if entry else None
