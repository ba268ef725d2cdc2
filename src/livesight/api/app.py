"""The FastAPI application: one process runs the API, the engine's runs and the webhook dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from livesight import __version__
from livesight.api.auth import is_loopback
from livesight.api.errors import install_error_handlers
from livesight.api.idempotency import IdempotencyMiddleware
from livesight.delivery.broker import Bus, build_bus
from livesight.errors import ConfigurationError
from livesight.judges import Judge, build_judge
from livesight.metrics import Metrics
from livesight.netpolicy import NetworkPolicy
from livesight.pipeline.jobs import JobManager
from livesight.pipeline.manager import Leases, new_worker_id
from livesight.pipeline.retention import retention_loop
from livesight.pipeline.sessions import SessionManager
from livesight.settings import Settings, load_settings
from livesight.signing import URLSigner
from livesight.sources.errors import InvalidSourceURL, NotLive, SourceOffline
from livesight.sources.hub import SourceRegistry
from livesight.sources.probe import probe
from livesight.sources.urls import SourceKind, classify, redact
from livesight.storage import Storage, open_storage
from livesight.store import Store

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """Process-wide resources, built in the lifespan and closed on shutdown."""

    settings: Settings
    store: Store
    registry: SourceRegistry
    bus: Bus  # live messages of the runs, to SSE and the web UI, across replicas
    signer: URLSigner
    metrics: Metrics
    policy: NetworkPolicy
    dev_mode: bool
    storage: Storage  # recordings and evidence frames: the local directory or an S3-compatible store
    jobs: JobManager = field(init=False)
    sessions: SessionManager = field(init=False)
    dispatcher: Any = None
    _judge: Judge | None = None

    def judge(self) -> Judge:
        """The shared judge; raises ``JudgeNotConfigured`` (503) while none is configured."""
        if self._judge is None:
            self._judge = build_judge(self.settings)
        return self._judge

    async def check_source(self, url: str) -> None:
        """A source URL from an API client: well-formed, not a local file (unless allowed), and allowed
        by the network policy."""
        if classify(url) is SourceKind.FILE and not self.settings.allow_file_sources:
            raise InvalidSourceURL(
                "Local files are not accepted as sources over the API.",
                remediation="Use a stream URL, or set LIVESIGHT_ALLOW_FILE_SOURCES=true on a trusted server.",
            )
        try:
            await self.check_url(url)
        except OSError as exc:  # the host does not resolve: the stream cannot be reached (not a server error)
            raise SourceOffline(f"{redact(url)}: the host does not resolve ({exc.strerror or exc}).") from None

    async def probe_source(self, url: str, *, require_live: bool) -> None:
        """Check ``url`` (:meth:`check_source`), then open it and decode a frame, so that a source that
        404s, refuses, or is not video is refused at once with its error code (``STREAM_OFFLINE``,
        ``STREAM_FETCH_FAILED``, ``NOT_LIVESTREAM``…) instead of failing the run minutes later."""
        await self.check_source(url)
        result = await asyncio.to_thread(probe, url, self.settings, self.policy)
        if require_live and not result.is_live:
            raise NotLive(
                f"{redact(url)} is not a live stream.", remediation="Use a live URL, or pass skip_validation."
            )

    async def check_url(self, url: str) -> None:
        """Refuse user-supplied URLs that point where the operator's network policy forbids."""
        if "://" in url and not url.lower().startswith("file:"):
            await self.policy.check_url(url)

    async def webhook_secret(self, owner: str | None) -> str:
        return str(await self.dispatcher.secret_for(owner))

    async def rotate_webhook_secret(self, owner: str | None) -> str:
        return str(await self.dispatcher.rotate_secret(owner))

    def public_url(self) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.settings.port}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from livesight.delivery.webhooks import WebhookDispatcher

        store = await Store.open(settings.resolved_database_url())
        bus = build_bus(settings.resolved_database_url())
        try:
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
            state = AppState(
                settings=settings,
                store=store,
                registry=SourceRegistry(settings, policy=policy),
                bus=bus,
                signer=URLSigner.from_data_dir(settings.data_dir, settings.signing_secret),
                metrics=Metrics(),
                policy=policy,
                dev_mode=not has_keys,
                storage=open_storage(settings),
            )
            state.dispatcher = WebhookDispatcher(store, settings, metrics=state.metrics)
            worker_id = new_worker_id()  # this process's name in the runs' lease columns
            state.jobs = JobManager(
                settings=settings,
                store=store,
                registry=state.registry,
                broker=state.bus,
                judge=state.judge,
                signer=state.signer,
                metrics=state.metrics,
                public_url=state.public_url,
                dispatcher=state.dispatcher,
                worker_id=worker_id,
                storage=state.storage,
            )
            state.sessions = SessionManager(
                settings=settings,
                store=store,
                registry=state.registry,
                broker=state.bus,
                judge=state.judge,
                signer=state.signer,
                metrics=state.metrics,
                public_url=state.public_url,
                dispatcher=state.dispatcher,
                worker_id=worker_id,
                storage=state.storage,
            )
            # Resume the runs no live worker holds (a restart's own, or a dead replica's), then keep the
            # leases of what runs here, act on stop requests and claim what other replicas leave behind.
            managers = [state.jobs, state.sessions]
            leases = Leases(store, managers, worker_id=worker_id, lease_seconds=settings.lease_seconds)
            await leases.claim()
            leases.start()
            state.dispatcher.start()
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
        leases.drain()  # renew while the runs end, claim nothing more
        await state.jobs.shutdown()
        await state.sessions.shutdown()
        await leases.aclose()
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
