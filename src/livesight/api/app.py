"""The FastAPI application: the API, the webhook dispatcher, and the runner that places runs — in this process
(the local runner: one command on a laptop) or on a Ray cluster (``LIVESIGHT_RUNNER=ray``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from livesight import __version__
from livesight.api.auth import is_loopback
from livesight.api.errors import install_error_handlers
from livesight.api.idempotency import IdempotencyMiddleware
from livesight.api.state import AppState
from livesight.delivery.broker import Bus, build_bus
from livesight.errors import ConfigurationError
from livesight.metrics import Metrics
from livesight.netpolicy import NetworkPolicy
from livesight.pipeline.retention import retention_loop
from livesight.runs.manager import RunResources, new_worker_id
from livesight.runs.runner import LocalRunner, Runner, check_runner_settings
from livesight.runs.services import JobService, SessionService
from livesight.runs.views import Views
from livesight.runs.worker import DELIVERIES_TOPIC, Worker
from livesight.settings import Settings, load_settings
from livesight.signing import URLSigner
from livesight.sources.hub import SourceRegistry
from livesight.storage import open_storage
from livesight.store import Store

log = logging.getLogger(__name__)


def _runner(state: AppState) -> Runner:
    """The runner ``LIVESIGHT_RUNNER`` names; the local one runs a worker sharing this process's resources."""
    if state.settings.runner == "ray":
        from livesight.runs.ray_runner import RayRunner

        return RayRunner(state.settings, state.store)
    resources = RunResources(
        settings=state.settings,
        store=state.store,
        registry=state.registry,
        bus=state.bus,
        judge=state.judge,
        views=state.views,
        metrics=state.metrics,
        worker_id=new_worker_id(),  # this process's name in the runs' lease columns
        wake_deliveries=state.dispatcher.notify,
        storage=state.storage,
    )
    return LocalRunner(Worker(resources))


async def _wake_on_deliveries(bus: Bus, wake: Callable[[], None]) -> None:
    """Workers elsewhere (Ray actors) say on the bus when they queued webhooks: send them now."""
    subscriber = bus.subscribe(DELIVERIES_TOPIC)
    try:
        while True:
            await subscriber.queue.get()
            wake()
    finally:
        bus.unsubscribe(subscriber)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from livesight.delivery.webhooks import WebhookDispatcher

        store = await Store.open(settings.resolved_database_url())
        bus = build_bus(settings.resolved_database_url())
        try:
            check_runner_settings(settings, store)
            await bus.start()
            has_keys = bool(await store.list_api_keys())
            if not has_keys and not is_loopback(settings.host):
                raise ConfigurationError(
                    f"No API keys exist and the server would listen on {settings.host}.",
                    remediation="Create a key with `livesight keys create`, or bind to 127.0.0.1 for development.",
                )
            if not has_keys:
                log.warning("No API keys: development mode, the API is open to this machine only (%s).", settings.host)
            policy = NetworkPolicy.from_settings(settings)
            metrics = Metrics()
            signer = URLSigner.from_data_dir(settings.data_dir, settings.signing_secret)
            state = AppState(
                settings=settings,
                store=store,
                registry=SourceRegistry(settings, policy=policy),
                bus=bus,
                signer=signer,
                metrics=metrics,
                policy=policy,
                dev_mode=not has_keys,
                storage=open_storage(settings),
                views=Views(settings, signer),
                dispatcher=WebhookDispatcher(store, settings, metrics=metrics),
            )
            state.runner = _runner(state)
            state.jobs = JobService(settings, store, bus, state.runner, state.judge)
            state.sessions = SessionService(settings, store, bus, state.runner, state.judge)
            # Resume (or place) the runs no live worker holds — a restart's own, or a dead replica's — then keep
            # the leases of what runs here, act on stop requests and claim what other replicas leave behind.
            await state.runner.start()
            state.dispatcher.start()
            wake = asyncio.create_task(_wake_on_deliveries(bus, state.dispatcher.notify), name="deliveries:wake")
            retention = asyncio.create_task(
                retention_loop(
                    state.storage,
                    max_age_seconds=settings.retention_days * 86400 if settings.retention_days else None,
                    max_bytes=int(settings.retention_max_gb * 1e9) if settings.retention_max_gb else None,
                ),
                name="retention",
            )
            app.state.ls = state
            yield
        except BaseException:
            await bus.aclose()
            await store.close()
            raise
        retention.cancel()
        state.runner.drain()  # the runs end (each storing its end); nothing more is claimed or placed
        await state.runner.aclose()
        wake.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await wake
        await state.dispatcher.aclose()
        state.registry.stop_all()
        if state._judge is not None:
            await state._judge.aclose()
        await bus.aclose()  # after the runs' last messages
        await asyncio.to_thread(state.storage.close)  # after the runs' last uploads
        await store.close()

    app = FastAPI(
        title="LiveSight",
        version=__version__,
        description="Watch live video with natural-language conditions: live-monitor jobs, sessions, events.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    from livesight.api import routes_jobs, routes_sessions, routes_tools, routes_ui

    app.include_router(routes_jobs.router)
    routes_jobs.document_bounds(app, settings)  # /openapi.json states this server's minimum interval
    app.include_router(routes_sessions.router)
    app.include_router(routes_tools.router)
    app.include_router(routes_tools.health_router)
    routes_ui.install(app)  # the web UI: pages at / and /ui/..., its API under /api/ui
    return app
