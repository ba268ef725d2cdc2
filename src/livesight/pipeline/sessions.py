"""Livestream sessions (SPEC §2): a recorded, chunked run with an optional rapid-review query.

``INITIALIZING`` (created, connecting) → ``ACTIVE`` (first frame) → ``ENDING`` (end requested; the last
chunk is recorded and analysed) → ``FINISHED``; or ``FAILED`` with ``error``. A source that ends
finishes its session by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from livesight.delivery.broker import Message, until_ended
from livesight.delivery.webhooks import new_delivery
from livesight.metrics import RunCounters
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.manager import RunManager
from livesight.pipeline.runner import ChunkAnalysis, Resume, Run, RunConfig, resume_point
from livesight.pipeline.sinks import StoreSink
from livesight.rules import session_status_for
from livesight.sources.hub import SourceOptions
from livesight.store.records import EventRecord, NewDelivery, SessionRecord
from livesight.types import Event

log = logging.getLogger(__name__)

ENDED = ("FINISHED", "FAILED")


class SessionManager(RunManager):
    """Runs every livestream session of this process."""

    async def claim(self, dead_workers: Iterable[str] = ()) -> int:
        """Claim the sessions whose lease ran out (their process is gone) and resume them here (same ids,
        the timeline continued, the outage recorded as a gap); a source that is gone ends it FAILED by the
        give-up rule. One that was asked to end meanwhile is finished."""
        lease = self.settings.lease_seconds
        resumed = 0
        for session in await self.store.claim_sessions(self.worker_id, lease, dead_workers=dead_workers):
            if session.id in self._runs:
                continue  # already runs here: the claim renewed a lease that had lapsed
            try:
                if session.status == "ENDING":  # it was asked to end: finish it
                    await self.store.update_session(session.id, status="FINISHED", ended_at=datetime.now(UTC))
                    continue
                resume = await resume_point(
                    self.store, "session", session.id, session.stats, session.started_at or session.created_at
                )
                self._launch(session, (session.config or {}).get("webhook_url"), resume)
                resumed += 1
                log.info("session %s resumed at %.1fs by worker %s", session.id, resume.time_offset, self.worker_id)
            except Exception as exc:
                log.exception("session %s could not be resumed", session.id)
                await self.store.update_session(
                    session.id,
                    status="FAILED",
                    error=f"could not resume after a restart: {exc}",
                    ended_at=datetime.now(UTC),
                )
        return resumed

    async def start(
        self,
        *,
        source_url: str,
        name: str,
        rapid_review_query: str | None,
        stream_id: str | None,
        owner: str | None,
        webhook_url: str | None = None,
    ) -> SessionRecord:
        if rapid_review_query:
            self.judge()  # raises JudgeNotConfigured before anything is created
        stream = await self.store.create_stream(name, source_url, owner=owner, stream_id=stream_id)
        config = {"webhook_url": webhook_url, "chunk_seconds": self.settings.chunk_seconds}
        session = await self.store.create_session(
            stream.id,
            name,
            source_url,
            rapid_review_query,
            config,
            owner,
            worker_id=self.worker_id,
            lease_seconds=self.settings.lease_seconds,
        )
        self._launch(session, webhook_url)
        return session

    def _launch(self, session: SessionRecord, webhook_url: str | None, resume: Resume | None = None) -> None:
        judge = self.judge() if session.rapid_review_query else None
        run_config = RunConfig(
            source_url=session.source_url,
            review_query=session.rapid_review_query,
            chunk_seconds=self.settings.chunk_seconds,
            record=True,
            source=SourceOptions(realtime=True),
            concurrency=self.settings.model_concurrency,
            frame_long_side=self.settings.frame_long_side,
            jpeg_quality=self.settings.jpeg_quality,
            prefilter=self.settings.session_prefilter,
            gate=GateConfig.from_settings(self.settings),
            event_max_hold_seconds=self.settings.session_event_max_hold_seconds,
        )
        sink = _SessionSink(self, session, webhook_url)
        run = Run(
            session.id,
            run_config,
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

    async def end(self, session: SessionRecord) -> str:
        """``ended`` when this call ended it, ``already_ended`` when it had ended (or was ending).

        Ending is the status ENDING in the store, which the worker running the session acts on (within a
        second, whichever replica received the request); this waits a bounded time until the store shows
        it ended — the last chunk is recorded and analysed before FINISHED.
        """
        if session.status in ENDED or session.status == "ENDING":
            return "already_ended"
        changed = await self.store.set_session_status_if(session.id, ("INITIALIZING", "ACTIVE"), "ENDING")
        if not changed:
            return "already_ended"
        current = await self.store.get_session(session.id)
        if current is not None and (current.lease_until is None or current.lease_until <= datetime.now(UTC)):
            # No live worker holds it: nothing would finish it before a claim, so finish it here, and tell
            # whoever follows it (SSE clients on any replica) as its worker would have.
            await self.store.set_session_status_if(session.id, "ENDING", "FINISHED", ended_at=datetime.now(UTC))
            final = {"session_id": session.id, "stream_id": session.stream_id, "status": "FINISHED", "error": None}
            self.broker.publish(session.id, Message("ended", final, terminal=True))
            return "ended"
        within = self.settings.model_timeout_seconds + 10
        self.stop_requested(session.id)  # it runs here: act now rather than at the next poll
        await self._wait_local(session.id, within)

        async def ended() -> bool:
            row = await self.store.get_session(session.id)
            return row is None or row.status in ENDED

        await until_ended(self.broker, session.id, ended, within)
        return "ended"

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
        self.broker.publish(session.id, Message("ended", final, terminal=True))
        if deliveries and self.dispatcher is not None:
            self.dispatcher.notify()

    # -- views -----------------------------------------------------------------------------------
    def signed(self, path: str, ttl: float | None = None) -> tuple[str, int]:
        signed_path, expires = self.signer.sign(path, ttl or self.settings.signed_url_ttl_seconds)
        return self.public_url() + signed_path, expires

    def event_view(self, record: EventRecord) -> dict[str, Any]:
        """An event as the session payload shows it: every field of SPEC §2, plus evidence links."""
        view = asdict(record.to_event())
        view["seq"] = record.seq
        sid = record.session_id
        if record.data.get("frame_path"):
            view["thumbnail_url"] = self.signed(f"/api/live/session/{sid}/events/{record.id}/thumbnail.jpg")[0]
        view["clip_url"] = self.signed(f"/api/live/session/{sid}/chunks/{record.chunk_index}.ts")[0]
        return view

    def message_for(self, record: EventRecord) -> Message:
        return Message("event", self.event_view(record), record.seq)


class _SessionSink(StoreSink):
    def __init__(self, manager: SessionManager, session: SessionRecord, webhook_url: str | None) -> None:
        super().__init__(manager.store, "session", session.id)
        self.manager = manager
        self.session = session
        self.webhook_url = webhook_url
        self._counters = RunCounters(manager.metrics)

    async def chunk_analysed(self, run: Run, analysis: ChunkAnalysis) -> None:
        await super().chunk_analysed(run, analysis)
        # A chunk's review is the model call: account for it in /metrics and the session's stored stats.
        self._counters.usage(run.stats)
        await self.store.update_session(self.session.id, stats=run.stats.as_dict())

    async def started(self, run: Run) -> None:
        deliveries = []
        if self.webhook_url and run.resume is None:
            data = {"session_id": self.session.id, "stream_id": self.session.stream_id}
            deliveries.append(
                new_delivery(self.session.owner, self.webhook_url, "session_started", data, session_id=self.session.id)
            )
        changed = await self.store.set_session_status_if(
            self.session.id, "INITIALIZING", "ACTIVE", started_at=datetime.now(UTC), deliveries=deliveries
        )
        self.manager.broker.publish(self.session.id, Message("status", {"status": "ACTIVE"}))
        if changed and deliveries:
            self._notify()

    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None:
        records = await self.store.add_events(
            "session", self.session.id, events, [dict(d) for d in data], deliveries=self._webhooks
        )
        self.manager.metrics.events.inc(len(records))
        for record in records:
            self.manager.broker.publish(self.session.id, self.manager.message_for(record))
        if self.webhook_url and records:
            self._notify()

    def _webhooks(self, records: Sequence[EventRecord]) -> list[NewDelivery]:
        """``event_detected`` for each stored event, written with them (``Store.add_events``)."""
        if not self.webhook_url:
            return []
        return [
            new_delivery(
                self.session.owner,
                self.webhook_url,
                "event_detected",
                self.manager.message_for(r).data,
                session_id=self.session.id,
            )
            for r in records
        ]

    def _notify(self) -> None:
        if self.manager.dispatcher is not None:
            self.manager.dispatcher.notify()
