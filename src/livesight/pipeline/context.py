"""What a run is configured with, what it hands out, and what its analysers share.

A :class:`~livesight.pipeline.runner.Run` talks to the world only through values it hands its
:class:`RunSink` — chunks, analyses, events, gaps, checks and, with each, a :class:`RunProgress` snapshot of
where it stands — so a sink (the store, the CLI's printer, a test's list) never reads the run itself. The two
analysers of a run, the condition checker (:mod:`.checks`) and the chunk reviewer (:mod:`.review`), get a
:class:`RunContext`: the few things of the run they use, and nothing of the run's loop.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from livesight.judges import Judge
from livesight.pipeline.chunker import Chunker, ChunkSpan
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.stats import RunStats
from livesight.rules import StopReason, TriggerRule
from livesight.rules.appearances import RuleSpec
from livesight.sources.hub import SourceHealth, SourceOptions
from livesight.storage import Storage
from livesight.types import Chunk, Event, Gap, InputMode, JudgeImage, Sample, Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """What one run watches and how. Sessions set ``review_query``; jobs and ``watch`` set ``condition``."""

    source_url: str
    condition: str | None = None
    #: Named rules asked together at each check point (the rules checker); empty: ``condition`` alone.
    rules: tuple[RuleSpec, ...] = ()
    review_query: str | None = None
    interval_seconds: float = 10.0
    input_mode: InputMode = "frames"
    clip_duration_seconds: float = 3.0
    clip_frames: int = 6
    chunk_seconds: float = 10.0
    review_frames: int = 10
    max_duration_seconds: float | None = None
    rule: TriggerRule = field(default_factory=TriggerRule)
    record: bool = True
    source: SourceOptions = field(default_factory=SourceOptions)
    concurrency: int = 4
    frame_long_side: int = 768
    jpeg_quality: int = 85
    review_attempts: int = 3  # a chunk the model failed on is tried again later, this many times in all
    review_retry_seconds: float = 15.0
    #: The change gate (``enable_prefilter``): reuse the last verdict while the picture is unchanged.
    prefilter: bool = True
    gate: GateConfig = field(default_factory=GateConfig)
    #: Model calls allowed per hour of session time; past it the interval stretches (None: no limit).
    max_model_calls_per_hour: int | None = None
    #: Clip and hybrid modes also encode the clip as a short MP4 for judges that take video.
    video_clips: bool = False
    #: Rapid review holds an event open at its chunk's end this long (stream time from its start) for its end.
    event_max_hold_seconds: float = 60.0
    #: Rapid review: the run ends (``max_windows_reached``) once this many chunks were reviewed (a digest's).
    max_reviews: int | None = None
    #: Seconds between :meth:`RunSink.progress` reports (a run's picture between its other reports).
    progress_seconds: float = 2.0


@dataclass(frozen=True)
class ChunkAnalysis:
    """The review of one chunk: how many events start in it, the judge's summary, and the frames it saw.

    ``skipped`` is true for a chunk the change gate did not send (unchanged since the last review).
    ``decoded_at`` is when the chunk's last kept frame was decoded (monotonic), for the run's lag.
    """

    chunk: Chunk
    analysis_id: str
    event_count: int
    ok: bool
    summary: str = ""
    images: tuple[JudgeImage, ...] = ()
    skipped: bool = False
    decoded_at: float | None = None


@dataclass(frozen=True)
class Resume:
    """Where a run that a restart interrupted left off, so it goes on under the same id.

    Its timeline continues at ``time_offset`` (the end of what was recorded), chunk indexes at
    ``next_chunk_index``, and its counters and trigger count where they were.
    """

    time_offset: float
    next_chunk_index: int
    stats: dict[str, Any]
    outage_seconds: float


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands, handed to its sink with every report.

    ``stats`` and ``health`` are copies taken when the report was made (shallow: read them, do not keep
    them); ``span`` is the chunk at ``stats.session_time``; ``resumed`` tells a run resumed after a restart.
    """

    run_id: str
    stats: RunStats
    health: SourceHealth | None
    span: ChunkSpan | None
    resumed: bool

    @property
    def session_time(self) -> float:
        return self.stats.session_time


@dataclass(frozen=True)
class RunResult:
    reason: StopReason
    detail: str
    stats: RunStats
    #: The run's last picture (its source's health, its chunk) when it ended; None if it never started.
    final: RunProgress | None = None


class RunSink(Protocol):
    """Where a run's output goes: the store, the CLI's printer, a test's list. Every call carries the run's
    progress at that moment; ``frames`` maps an event's id to its evidence JPEG."""

    async def started(self, progress: RunProgress) -> None: ...
    async def chunk_recorded(self, progress: RunProgress, chunk: Chunk) -> None: ...
    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None: ...
    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None: ...
    async def event_extended(self, progress: RunProgress, event: Event) -> None: ...
    async def gap(self, progress: RunProgress, gap: Gap) -> None: ...
    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None: ...
    async def progress(self, progress: RunProgress) -> None:
        """Every ``RunConfig.progress_seconds`` while the run goes on, whatever else it reported."""
        ...


class Evidence:
    """Where a run keeps its files: recorded chunks and evidence frames, in the local spool directory and, with
    a storage, uploaded there (the references then name the stored objects)."""

    def __init__(self, run_id: str, recordings_dir: Path | None, storage: Storage | None) -> None:
        self.run_id = run_id
        self.recordings_dir = recordings_dir  # the local spool: chunks are written here, then handed to storage
        self.storage = storage  # None: the files stay in recordings_dir, their paths are the references

    async def store_file(self, name: str, written: Path) -> str:
        if self.storage is None:
            return str(written)
        return await asyncio.to_thread(self.storage.put_file, f"{self.run_id}/{name}", written)

    async def save(self, event_id: str, jpeg: bytes) -> str | None:
        """Store an event's frame; returns its reference (``frame_path`` in the event's data)."""
        if self.recordings_dir is None:
            return None
        if self.storage is not None:
            return await asyncio.to_thread(self.storage.put_bytes, f"{self.run_id}/evidence/{event_id}.jpg", jpeg)
        path = self.recordings_dir / "evidence" / f"{event_id}.jpg"

        def write() -> str:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg)
            return str(path)

        return await asyncio.to_thread(write)

    async def discard(self, ref: str) -> None:
        """Delete a file this run stored that is not wanted after all (a continuation's thumbnail)."""
        if self.storage is None:
            await asyncio.to_thread(Path(ref).unlink, missing_ok=True)
        else:
            await asyncio.to_thread(self.storage.delete, ref)


@dataclass
class RunContext:
    """What a run's analysers share with it: its config, judge and counters, its sink, its chunk spans, the
    model-request limit, where evidence goes, and how to end the run or say where it stands."""

    run_id: str
    config: RunConfig
    judge: Judge | None
    stats: RunStats
    sink: RunSink
    chunker: Chunker
    model_slots: asyncio.Semaphore
    evidence: Evidence
    stop: Callable[[StopReason, str], None]
    #: Whether the run is ending for a reason other than its source ending: results still arriving must not
    #: fire (when the source ended, the outstanding ones are applied).
    halted: Callable[[], bool]
    progress: Callable[[], RunProgress]
    #: Recorded chunks by index while their recording is written (a review waits for its chunk's).
    writes: dict[int, asyncio.Task[Chunk]] = field(default_factory=dict)


def snapshot(
    run_id: str, stats: RunStats, health: SourceHealth | None, chunker: Chunker, *, resumed: bool
) -> RunProgress:
    """A :class:`RunProgress` of the run's counters and source as they are now."""
    return RunProgress(
        run_id=run_id,
        stats=copy.copy(stats),
        health=dataclasses.replace(health) if health is not None else None,
        span=chunker.span_at(stats.session_time),
        resumed=resumed,
    )
