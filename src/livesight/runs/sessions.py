"""Livestream sessions (SPEC §2) on a worker: a recorded, chunked run with an optional rapid-review query.

``INITIALIZING`` (created, connecting) → ``ACTIVE`` (first frame) → ``ENDING`` (end requested; the last
chunk is recorded and analysed) → ``FINISHED``; or ``FAILED`` with ``error``. A source that ends
finishes its session by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from livesight.delivery.broker import Message
from livesight.delivery.webhooks import new_delivery
from livesight.metrics import RunCounters
from livesight.pipeline.runner import ChunkAnalysis, Resume, Run, RunProgress, resume_point
from livesight.pipeline.sinks import StoreSink
from livesight.rules import session_status_for
from livesight.runs.manager import RunManager
from livesight.runs.specs import session_run_config, session_stats, source_key
from livesight.store import ClaimScope
from livesight.store.records import EventRecord, NewDelivery, SessionRecord
from livesight.types import Chunk, Event

log = logging.getLogger(__name__)

ENDED = ("FINISHED", "FAILED")
_STATS_IDLE = 10.0  # seconds between stats writes while nothing else writes them


class SessionManager(RunManager):
    """Runs the livestream sessions this worker holds."""

    async def claim(self, dead_workers: Iterable[str] = (), scope: ClaimScope | None = None) -> int:
        """Claim the sessions whose lease ran out (their process is gone), or just placed here, and run them;
        one that had started is resumed (same ids, the timeline continued, the outage recorded as a gap), and a
        source that is gone ends it FAILED by the give-up rule. One that was asked to end meanwhile is finished."""
        lease = self.settings.lease_seconds
        claimed = await self.store.claim_sessions(self.worker_id, lease, dead_workers=dead_workers, scope=scope)
        started = 0
        for session in claimed:
            if session.id in self._runs:
                continue  # already runs here: the claim renewed a lease that had lapsed
            try:
                if session.status == "ENDING":  # it was asked to end: finish it
                    await self.store.update_session(session.id, status="FINISHED", ended_at=datetime.now(UTC))
                    continue
                resume = None
                if session.status != "INITIALIZING" or session.started_at is not None:
                    resume = await resume_point(
                        self.store, "session", session.id, session.stats, session.started_at or session.created_at
                    )
                self._launch(session, resume)
                started += 1
                if resume is not None:
                    log.info("session %s resumed at %.1fs by worker %s", session.id, resume.time_offset, self.worker_id)
            except Exception as exc:
                log.exception("session %s could not be started", session.id)
                await self.store.update_session(
                    session.id,
                    status="FAILED",
                    error=f"could not resume after a restart: {exc}",
                    ended_at=datetime.now(UTC),
                )
        return started

    def _launch(self, session: SessionRecord, resume: Resume | None = None) -> None:
        judge = self.judge() if session.rapid_review_query else None
        sink = _SessionSink(self, session, (session.config or {}).get("webhook_url"))
        run = Run(
            session.id,
            session_run_config(session, self.settings),
            judge=judge,
            registry=self.registry,
            sink=sink,
            recordings_dir=self.settings.recordings_dir / session.id,
            storage=self.storage,
            resume=resume,
        )
        task = asyncio.create_task(self._supervise(session, run), name=f"session:{session.id}")
        self._track(session.id, task, run)
        self.metrics.sessions_running.set(len(self._runs))

    async def _supervise(self, session: SessionRecord, run: Run) -> None:
        result = await self.outcome(run, f"session {session.id}")
        if session.id in self._lost:
            return  # another worker runs it now and will store its end
        status = session_status_for(result.reason)
        final = {
            "session_id": session.id,
            "stream_id": session.stream_id,
            "status": status.value,
            "reason": result.reason.value,
            "error": result.detail if status.value == "FAILED" else None,
        }
        webhook_url = (session.config or {}).get("webhook_url")
        deliveries = (
            [new_delivery(session.owner, webhook_url, "session_ended", final, session_id=session.id)]
            if webhook_url
            else []
        )
        # The final status and its webhook commit together: a crash loses neither and sends none twice.
        await self.store.update_session(
            session.id,
            status=status.value,
            error=result.detail if status.value == "FAILED" else None,
            ended_at=datetime.now(UTC),
            stats=result.stats.as_dict(),
            deliveries=deliveries,
        )
        self.metrics.sessions_running.set(max(0, len(self._runs) - 1))
        self.bus.publish(session.id, Message("ended", final, terminal=True))
        if deliveries:
            self.resources.wake_deliveries()


class _SessionSink(StoreSink):
    def __init__(self, manager: SessionManager, session: SessionRecord, webhook_url: str | None) -> None:
        super().__init__(manager.store, "session", session.id)
        self.manager = manager
        self.session = session
        self.webhook_url = webhook_url
        self._counters = RunCounters(manager.metrics)
        self._source_seen: tuple[str, int] | None = None
        self._last_stats = time.monotonic()

    async def progress(self, progress: RunProgress) -> None:
        """Between chunks (a source connecting or reconnecting), the stored stats follow the source's state:
        at once when it changes, and every ``_STATS_IDLE`` seconds."""
        seen = source_key(progress.health)
        if seen == self._source_seen and time.monotonic() - self._last_stats < _STATS_IDLE:
            return
        self._source_seen, self._last_stats = seen, time.monotonic()
        await self.store.update_session(self.session.id, stats=session_stats(progress.stats, progress.health))

    async def chunk_recorded(self, progress: RunProgress, chunk: Chunk) -> None:
        await super().chunk_recorded(progress, chunk)
        # The API and the web UI read a session's progress and source health from the store alone.
        await self.store.update_session(self.session.id, stats=session_stats(progress.stats, progress.health))

    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None:
        await super().chunk_analysed(progress, analysis)
        # A chunk's review is the model call: account for it in /metrics and the session's stored stats.
        self._counters.usage(progress.stats)
        await self.store.update_session(self.session.id, stats=session_stats(progress.stats, progress.health))

    async def started(self, progress: RunProgress) -> None:
        deliveries = []
        if self.webhook_url and not progress.resumed:
            data = {"session_id": self.session.id, "stream_id": self.session.stream_id}
            deliveries.append(
                new_delivery(self.session.owner, self.webhook_url, "session_started", data, session_id=self.session.id)
            )
        changed = await self.store.set_session_status_if(
            self.session.id, "INITIALIZING", "ACTIVE", started_at=datetime.now(UTC), deliveries=deliveries
        )
        self.manager.bus.publish(self.session.id, Message("status", {"status": "ACTIVE"}))
        if changed and deliveries:
            self._notify()

    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None:
        records = await self.store.add_events(
            "session", self.session.id, events, [dict(d) for d in data], deliveries=self._webhooks
        )
        self.manager.metrics.events.inc(len(records))
        for record in records:
            self.manager.bus.publish(self.session.id, self.manager.views.session_message(record))
        if self.webhook_url and records:
            self._notify()

    def _webhooks(self, records: Sequence[EventRecord]) -> list[NewDelivery]:
        """``event_detected`` for each stored event, written with them (``Store.add_events``); like every
        session webhook its data names the session and its stream."""
        if not self.webhook_url:
            return []
        names = {"session_id": self.session.id, "stream_id": self.session.stream_id}
        return [
            new_delivery(
                self.session.owner,
                self.webhook_url,
                "event_detected",
                {**names, **self.manager.views.event_view(r)},
                session_id=self.session.id,
            )
            for r in records
        ]

    def _notify(self) -> None:
        self.manager.resources.wake_deliveries()
