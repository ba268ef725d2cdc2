"""The API process's state, built in the application's lifespan: its resources, the runner that places runs,
and the services the routes call. Routes get it typed with :func:`app_state`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request

from livesight.delivery.broker import Bus
from livesight.delivery.webhooks import WebhookDispatcher
from livesight.judges import Judge, build_judge
from livesight.metrics import Metrics
from livesight.netpolicy import NetworkPolicy
from livesight.runs.runner import Runner
from livesight.runs.services import JobService, SessionService
from livesight.runs.views import Views, public_url
from livesight.settings import Settings
from livesight.signing import URLSigner
from livesight.sources.errors import InvalidSourceURL, NotLive, SourceOffline
from livesight.sources.hub import SourceRegistry
from livesight.sources.probe import probe
from livesight.sources.urls import SourceKind, classify, redact
from livesight.storage import Storage
from livesight.store import Store


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
    views: Views  # signed links and the views of stored events
    dispatcher: WebhookDispatcher
    runner: Runner = field(init=False)  # where runs are placed: this process, or a Ray cluster
    jobs: JobService = field(init=False)
    sessions: SessionService = field(init=False)
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
        return public_url(self.settings)


def app_state(request: Request) -> AppState:
    """The state of the application serving ``request``."""
    state: AppState = request.app.state.ls
    return state
