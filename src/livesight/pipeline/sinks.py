"""Run sinks: persisting a run's output to the store, and fanning it out to listeners."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from livesight.types import Chunk, ChunkStatus, Event, Gap, Sample, Verdict

if TYPE_CHECKING:
    from livesight.pipeline.context import ChunkAnalysis, RunProgress, RunSink
    from livesight.store import Store

log = logging.getLogger(__name__)


class NullSink:
    """Ignores everything; a base for listeners that care about a few calls."""

    async def started(self, progress: RunProgress) -> None:
        pass

    async def chunk_recorded(self, progress: RunProgress, chunk: Chunk) -> None:
        pass

    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None:
        pass

    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None:
        pass

    async def event_extended(self, progress: RunProgress, event: Event) -> None:
        pass

    async def gap(self, progress: RunProgress, gap: Gap) -> None:
        pass

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        pass

    async def progress(self, progress: RunProgress) -> None:
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

    async def started(self, progress: RunProgress) -> None:
        for listener in self.listeners:
            await listener.started(progress)

    async def chunk_recorded(self, progress: RunProgress, chunk: Chunk) -> None:
        await self.store.add_chunk(self.kind, self.owner_id, chunk)
        for listener in self.listeners:
            await listener.chunk_recorded(progress, chunk)

    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None:
        status = ChunkStatus.ANALYSED if analysis.ok else ChunkStatus.FAILED
        await self.store.update_chunk(
            analysis.chunk.chunk_id,
            status=status.value,
            analysis_id=analysis.analysis_id,
            event_count=analysis.event_count,
        )
        for listener in self.listeners:
            await listener.chunk_analysed(progress, analysis)

    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None:
        await self.store.add_events(self.kind, self.owner_id, events, data)
        for listener in self.listeners:
            await listener.events(progress, events, data, frames)

    async def event_extended(self, progress: RunProgress, event: Event) -> None:
        """An event handed on before its appearance ended has a later end: the stored one is updated."""
        end = event.end_time if event.end_time is not None else event.stream_time
        await self.store.update_event_end(event.event_id, end_time=end, t_end=event.t_end)
        for listener in self.listeners:
            await listener.event_extended(progress, event)

    async def gap(self, progress: RunProgress, gap: Gap) -> None:
        await self.store.add_gap(self.kind, self.owner_id, gap.session_time, gap.wall_seconds, gap.reason)
        for listener in self.listeners:
            await listener.gap(progress, gap)

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        for listener in self.listeners:
            await listener.checked(progress, sample, verdict, fired)

    async def progress(self, progress: RunProgress) -> None:
        for listener in self.listeners:
            await listener.progress(progress)
