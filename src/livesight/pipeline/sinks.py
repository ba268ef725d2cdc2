"""Run sinks: persisting a run's output to the store, and fanning it out to listeners."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from livesight.types import Chunk, ChunkStatus, Event, Gap, Sample, Verdict

if TYPE_CHECKING:
    from livesight.pipeline.runner import ChunkAnalysis, Run, RunSink
    from livesight.store import Store

log = logging.getLogger(__name__)


class NullSink:
    """Ignores everything; a base for listeners that care about a few calls."""

    async def started(self, run: Run) -> None:
        pass

    async def chunk_recorded(self, run: Run, chunk: Chunk) -> None:
        pass

    async def chunk_analysed(self, run: Run, analysis: ChunkAnalysis) -> None:
        pass

    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None:
        pass

    async def event_extended(self, run: Run, event: Event) -> None:
        pass

    async def gap(self, run: Run, gap: Gap) -> None:
        pass

    async def checked(self, run: Run, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        pass


class StoreSink(NullSink):
    """Writes chunks, events and gaps to the store first, then tells each listener.

    Writing first means a listener (webhook outbox, SSE, the CLI) never announces what a crash
    could lose.
    """

    def __init__(
        self, store: Store, kind: Literal["session", "job"], owner_id: str, listeners: Sequence[RunSink] = ()
    ) -> None:
        self.store = store
        self.kind = kind
        self.owner_id = owner_id
        self.listeners = list(listeners)

    async def started(self, run: Run) -> None:
        for listener in self.listeners:
            await listener.started(run)

    async def chunk_recorded(self, run: Run, chunk: Chunk) -> None:
        await self.store.add_chunk(self.kind, self.owner_id, chunk)
        for listener in self.listeners:
            await listener.chunk_recorded(run, chunk)

    async def chunk_analysed(self, run: Run, analysis: ChunkAnalysis) -> None:
        status = ChunkStatus.ANALYSED if analysis.ok else ChunkStatus.FAILED
        await self.store.update_chunk(
            analysis.chunk.chunk_id,
            status=status.value,
            analysis_id=analysis.analysis_id,
            event_count=analysis.event_count,
        )
        for listener in self.listeners:
            await listener.chunk_analysed(run, analysis)

    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None:
        await self.store.add_events(self.kind, self.owner_id, events, data)
        for listener in self.listeners:
            await listener.events(run, events, data)

    async def event_extended(self, run: Run, event: Event) -> None:
        """An event handed on before its appearance ended has a later end: the stored one is updated."""
        end = event.end_time if event.end_time is not None else event.stream_time
        await self.store.update_event_end(event.event_id, end_time=end, t_end=event.t_end)
        for listener in self.listeners:
            await listener.event_extended(run, event)

    async def gap(self, run: Run, gap: Gap) -> None:
        await self.store.add_gap(self.kind, self.owner_id, gap.session_time, gap.wall_seconds, gap.reason)
        for listener in self.listeners:
            await listener.gap(run, gap)

    async def checked(self, run: Run, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        for listener in self.listeners:
            await listener.checked(run, sample, verdict, fired)
