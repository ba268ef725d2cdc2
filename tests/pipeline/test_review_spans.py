"""Rapid review of appearances that cross chunk boundaries: one event each, ending where the appearance ends.

The runs write to a real SQLite store through :class:`StoreSink`, so what is checked is what the API lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from livesight.judges import build_judge
from livesight.pipeline.runner import Run, RunConfig, RunProgress, RunResult
from livesight.pipeline.sinks import NullSink, StoreSink
from livesight.rules import StopReason, format_clock
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.store import ChunkRecord, EventRecord, Store
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.types import Event

# Chunks of 10 s, reviewed from 10 frames each: a sampling step of 1 s. One appearance inside chunk 0,
# one across the boundary of chunks 0 and 1, one across chunks 2, 3 and 4 (chunk 3 unchanged: with the
# change gate on it is not sent to the model).
SPEC = SceneSpec(duration=60.0, events=((2.0, 4.0), (6.0, 14.0), (25.0, 47.0)))
STEP = 1.0
# Kept frames are the first decoded frame at least STEP after the last kept one; decoded frames come at
# ``analysis_fps`` (4/s by default): a kept frame can be this much late.
SAMPLING = STEP + 0.25 + 0.1


class Announced(NullSink):
    """What a listener behind the store is told: events as announced, and later ends."""

    def __init__(self) -> None:
        self.announced: list[Event] = []
        self.extended: list[Event] = []

    async def events(
        self, progress: RunProgress, events: Sequence[Event], data: Sequence[dict[str, Any]], frames: Any
    ) -> None:
        self.announced.extend(events)

    async def event_extended(self, progress: RunProgress, event: Event) -> None:
        self.extended.append(event)


async def _review(
    settings: Settings, tmp_path: Path, **config: Any
) -> tuple[RunResult, list[ChunkRecord], list[EventRecord], Announced]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'livesight.db'}")
    registry = SourceRegistry(settings)
    judge = build_judge(settings)
    try:
        stream = await store.create_stream("scene", "file://scene")
        session = await store.create_session(stream.id, "scene", "file://scene", "report every red square you see")
        announced = Announced()
        sink = StoreSink(store, "session", session.id, [announced])
        run_config = RunConfig(
            source_url=str(cached_scene(SPEC, "mp4")),
            review_query="report every red square you see",
            chunk_seconds=10.0,
            review_frames=10,
            source=SourceOptions(realtime=False),
            **config,
        )
        run = Run(session.id, run_config, judge=judge, registry=registry, sink=sink, recordings_dir=tmp_path / "rec")
        result = await run.run()
        chunks = await store.list_chunks("session", session.id)
        events = await store.list_events("session", session.id)
        return result, chunks, events, announced
    finally:
        registry.stop_all()
        await judge.aclose()
        await store.close()


def _assert_timed_like_the_scene(events: Sequence[EventRecord]) -> None:
    assert len(events) == len(SPEC.events)
    for event, (start, end) in zip(events, SPEC.events, strict=True):
        assert start <= event.stream_time <= start + SAMPLING
        assert event.end_time is not None and end - SAMPLING <= event.end_time <= end
        assert (event.t_start, event.t_end) == (format_clock(event.stream_time), format_clock(event.end_time))
        assert event.chunk_index == int(start // 10)
        assert event.stream_time == pytest.approx(event.hls_cumulative_offset + event.chunk_relative_time)


def _assert_counts_agree(chunks: Sequence[ChunkRecord], events: Sequence[EventRecord]) -> None:
    assert [c.chunk_index for c in chunks] == list(range(6))
    assert all(c.status.value == "analysed" for c in chunks)
    assert [c.event_count for c in chunks] == [sum(e.chunk_index == c.chunk_index for e in events) for c in chunks]


@pytest.mark.parametrize("prefilter", [True, False])
async def test_an_appearance_across_chunks_is_one_event_ending_where_it_ends(
    settings: Settings, tmp_path: Path, prefilter: bool
) -> None:
    result, chunks, events, announced = await _review(settings, tmp_path, prefilter=prefilter)
    assert result.reason is StopReason.SOURCE_ENDED
    _assert_timed_like_the_scene(events)
    assert events[1].t_start == "00:06" and events[1].t_end in ("00:12", "00:13")  # not 00:09, the first chunk's end
    assert events[2].t_end in ("00:45", "00:46")
    _assert_counts_agree(chunks, events)
    assert [c.event_count for c in chunks] == [2, 0, 1, 0, 0, 0]
    assert result.stats.events == 3
    # Held until its end was known: announced once, with the end that is stored, never extended afterwards.
    assert [(e.event_id, e.end_time) for e in announced.announced] == [(e.id, e.end_time) for e in events]
    assert announced.extended == []
    assert (result.stats.chunks_skipped > 0) is prefilter
    # Only the events' own thumbnails are kept: none for the continuations the judge reported.
    evidence = sorted(p.stem for p in (tmp_path / "rec" / "evidence").iterdir())
    assert evidence == sorted(e.id for e in events)


@pytest.mark.parametrize("prefilter", [True, False])
async def test_an_event_held_too_long_is_announced_then_its_stored_end_follows(
    settings: Settings, tmp_path: Path, prefilter: bool
) -> None:
    """With a 12 s hold the 25–47 s square is announced when chunk 3 is applied (40 s), with its end so far;
    chunk 4 shows it going on to 46 s, and the stored event's end moves there."""
    result, chunks, events, announced = await _review(
        settings, tmp_path, prefilter=prefilter, event_max_hold_seconds=12.0
    )
    assert result.reason is StopReason.SOURCE_ENDED
    _assert_timed_like_the_scene(events)
    _assert_counts_agree(chunks, events)
    assert result.stats.events == 3
    long = events[2]
    first = next(e for e in announced.announced if e.event_id == long.id)
    assert first.end_time is not None and 40.0 - SAMPLING <= first.end_time <= 40.0  # its end by 40 s
    assert announced.extended and all(e.event_id == long.id for e in announced.extended)
    assert long.end_time is not None and long.end_time > first.end_time
    assert (announced.extended[-1].end_time, announced.extended[-1].t_end) == (long.end_time, long.t_end)
    assert long.seq == 3  # updated in place, not announced again
