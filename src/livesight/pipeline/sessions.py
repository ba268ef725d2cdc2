"""Livestream sessions (SPEC §2): a recorded, chunked run with an optional rapid-review query.

``INITIALIZING`` (created, connecting) → ``ACTIVE`` (first frame) → ``ENDING`` (end requested; the last
chunk is recorded and analysed) → ``FINISHED``; or ``FAILED`` with ``error``. A source that ends
finishes its session by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from livesight.delivery.broker import Message
from livesight.metrics import RunCounters
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.manager import RunManager
from livesight.pipeline.runner import ChunkAnalysis, Resume, Run, RunConfig, resume_point
from livesight.pipeline.sinks import StoreSink
from livesight.rules import session_status_for
from livesight.sources.hub import SourceOptions
from livesight.store.records import EventRecord, SessionRecord
from livesight.types import Event

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

ENDED = ("FINISHED", "FAILED")


class SessionManager(RunManager):
    """Runs every livestream session of this process."""

    async def recover(self) -> None:
        """Resume every session a previous process left running (same ids, the timeline continued, the
        outage recorded as a gap); a source that is gone ends it FAILED by the give-up rule."""
        for session in await self.store.running_sessions():
            try:
                if session.status == "ENDING":  # it was asked to end: finish it
                    await self.store.update_session(session.id, status="FINISHED", ended_at=datetime.now(UTC))
                    continue
                resume = await resume_point(
                    self.store, "session", session.id, session.stats, session.started_at or session.created_at
                )
                self._launch(session, (session.config or {}).get("webhook_url"), resume)
                log.info("session %s resumed at %.1fs after a restart", session.id, resume.time_offset)
            except Exception as exc:
                log.exception("session %s could not be resumed", session.id)
                await self.store.update_session(
                    session.id,
                    status="FAILED",
                    error=f"could not resume after a restart: {exc}",
                    ended_at=datetime.now(UTC),
                )

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
        session = await self.store.create_session(stream.id, name, source_url, rapid_review_query, config, owner)
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
            resume=resume,
        )
        task = asyncio.create_task(self._supervise(session, run), name=f"session:{session.id}")
        self._runs[session.id] = (task, run)
        task.add_done_callback(lambda _t: self._runs.pop(session.id, None))
        self.metrics.sessions_running.set(len(self._runs))

    async def end(self, session: SessionRecord) -> str:
        """``ended`` when this call ended it, ``already_ended`` when it had ended (or was ending)."""
        if session.status in ENDED or session.status == "ENDING":
            return "already_ended"
        changed = await self.store.set_session_status_if(session.id, ("INITIALIZING", "ACTIVE"), "ENDING")
        if not changed:
            return "already_ended"
        entry = self._runs.get(session.id)
        if entry is None:
            await self.store.update_session(session.id, status="FINISHED", ended_at=datetime.now(UTC))
            return "ended"
        task, run = entry
        run.cancel()
        # The last chunk is recorded and analysed before FINISHED; wait a bounded time for it.
        await asyncio.wait({task}, timeout=self.settings.model_timeout_seconds + 10)
        return "ended"

    async def _supervise(self, session: SessionRecord, run: Run) -> None:
        result = await self.outcome(run, f"session {session.id}")
        status = session_status_for(result.reason)
        await self.store.update_session(
            session.id,
            status=status.value,
            error=result.detail if status.value == "FAILED" else None,
            ended_at=datetime.now(UTC),
            stats=result.stats.as_dict(),
        )
        self.metrics.sessions_running.set(max(0, len(self._runs) - 1))
        final = {
            "session_id": session.id,
            "stream_id": session.stream_id,
            "status": status.value,
            "reason": result.reason.value,
            "error": result.detail if status.value == "FAILED" else None,
        }
        self.broker.publish(session.id, Message("ended", final, terminal=True))
        webhook_url = (session.config or {}).get("webhook_url")
        if webhook_url and self.dispatcher is not None:
            await self.dispatcher.enqueue(
                owner=session.owner, url=webhook_url, event_type="session_ended", session_id=session.id, data=final
            )

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
        await self.store.set_session_status_if(self.session.id, "INITIALIZING", "ACTIVE", started_at=datetime.now(UTC))
        self.manager.broker.publish(self.session.id, Message("status", {"status": "ACTIVE"}))
        if self.webhook_url and run.resume is None and self.manager.dispatcher is not None:
            await self.manager.dispatcher.enqueue(
                owner=self.session.owner,
                url=self.webhook_url,
                event_type="session_started",
                session_id=self.session.id,
                data={"session_id": self.session.id, "stream_id": self.session.stream_id},
            )

    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None:
        records = await self.store.add_events("session", self.session.id, events, [dict(d) for d in data])
        self.manager.metrics.events.inc(len(records))
        for record in records:
            message = self.manager.message_for(record)
            self.manager.broker.publish(self.session.id, message)
            if self.webhook_url and self.manager.dispatcher is not None:
                await self.manager.dispatcher.enqueue(
                    owner=self.session.owner,
                    url=self.webhook_url,
                    event_type="event_detected",
                    session_id=self.session.id,
                    data=message.data,
                )
