"""What job and session managers share: the engine's resources and the table of runs in progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from livesight.delivery.broker import Broker
from livesight.judges import Judge
from livesight.metrics import Metrics
from livesight.pipeline.runner import Run
from livesight.settings import Settings
from livesight.signing import URLSigner
from livesight.sources.hub import SourceRegistry
from livesight.store import Store

if TYPE_CHECKING:
    from livesight.delivery.webhooks import WebhookDispatcher


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

    def run_of(self, run_id: str) -> Run | None:
        entry = self._runs.get(run_id)
        return entry[1] if entry else None
