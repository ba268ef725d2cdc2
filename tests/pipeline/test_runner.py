"""The engine directly: rapid review per chunk, input modes, one decode shared by several runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from livesight.judges import build_judge
from livesight.pipeline.runner import ChunkAnalysis, Run, RunConfig, RunProgress, RunResult
from livesight.pipeline.sinks import NullSink
from livesight.rules import StopReason, TriggerRule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.testing.vlm_server import VLMTestServer
from livesight.types import Chunk, Event, Sample, Verdict


async def _until(check: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit`` seconds (a bound, not a timing claim)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Collect(NullSink):
    def __init__(self) -> None:
        self.found: list[Event] = []
        self.chunks: list[Chunk] = []
        self.analysed: list[tuple[int, int, bool]] = []
        self.samples: list[Sample] = []

    async def events(
        self, progress: RunProgress, events: Sequence[Event], data: Sequence[dict[str, Any]], frames: Any
    ) -> None:
        self.found.extend(events)

    async def chunk_recorded(self, progress: RunProgress, chunk: Chunk) -> None:
        self.chunks.append(chunk)

    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None:
        self.analysed.append((analysis.chunk.index, analysis.event_count, analysis.ok))

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        self.samples.append(sample)


async def _run(settings: Settings, config: RunConfig, tmp_path: Path) -> tuple[RunResult, Collect]:
    registry = SourceRegistry(settings)
    judge = build_judge(settings)
    sink = Collect()
    try:
        run = Run("run_test", config, judge=judge, registry=registry, sink=sink, recordings_dir=tmp_path / "rec")
        return await run.run(), sink
    finally:
        registry.stop_all()
        await judge.aclose()


def test_rapid_review_finds_events_inside_chunks(settings: Settings, tmp_path: Path) -> None:
    spec = SceneSpec()
    config = RunConfig(
        source_url=str(cached_scene(spec, "mp4")),
        review_query="report every red square you see",
        source=SourceOptions(realtime=False),
    )
    result, sink = asyncio.run(_run(settings, config, tmp_path))
    assert result.reason is StopReason.SOURCE_ENDED
    assert [c.index for c in sink.chunks] == list(range(9))
    assert [a[0] for a in sink.analysed] == list(range(9)) and all(ok for _, _, ok in sink.analysed)
    assert [(e.chunk_index, round(e.stream_time)) for e in sink.found] == [(2, 20), (5, 50)]
    for event, (start, end) in zip(sink.found, spec.events, strict=True):
        assert start <= event.stream_time <= start + 1.0  # review frames are taken every second
        assert event.stream_time == pytest.approx(event.hls_cumulative_offset + event.chunk_relative_time)
        assert event.end_time is not None and end - 1.5 <= event.end_time <= end
        chunk = sink.chunks[event.chunk_index]
        assert event.chunk_id == chunk.chunk_id and event.hls_cumulative_offset == chunk.start_time


@pytest.mark.parametrize(("mode", "images"), [("frames", 1), ("clip", 6), ("hybrid", 7)])
def test_input_modes_send_the_right_images(settings: Settings, tmp_path: Path, mode: str, images: int) -> None:
    spec = SceneSpec(duration=12.0, events=())
    config = RunConfig(
        source_url=str(cached_scene(spec, "mp4")),
        condition="is there a red square?",
        interval_seconds=4.0,
        input_mode=mode,  # type: ignore[arg-type]
        clip_duration_seconds=3.0,
        source=SourceOptions(realtime=False),
        prefilter=False,  # every check point judged: the scene is static, the gate would skip t = 4, 8
    )
    result, sink = asyncio.run(_run(settings, config, tmp_path))
    assert result.stats.checks_performed == 3  # t = 0, 4, 8
    last = sink.samples[-1]
    assert len(last.images) == images
    if mode != "frames":
        times = [i.session_time for i in last.images]
        assert times[-1] == last.session_time and last.session_time - times[0] <= 3.0 + 1e-6
    if mode == "hybrid":
        assert (last.images[-1].width, last.images[-1].height) == (640, 360)  # the full-resolution frame
    assert max(i.width for i in last.images[: images - (mode == "hybrid")]) <= 640


def test_runs_on_one_url_share_one_decoder(settings: Settings, tmp_path: Path) -> None:
    spec = SceneSpec(duration=40.0, events=((20.0, 26.0),))

    async def main() -> list[RunResult]:
        registry = SourceRegistry(settings)
        judge = build_judge(settings)
        with LiveHLSServer(spec=spec, speed=4.0, end_list=True) as server:
            configs = [
                RunConfig(
                    source_url=server.url,
                    condition="is there a red square?",
                    interval_seconds=1.0,
                    rule=TriggerRule(max_triggers=None, once_per_appearance=True),
                ),
                RunConfig(source_url=server.url, review_query="red square"),
            ]
            runs = [Run(f"r{i}", c, judge=judge, registry=registry, sink=Collect()) for i, c in enumerate(configs)]
            tasks = [asyncio.create_task(r.run()) for r in runs]
            await _until(lambda: all(r.source is not None for r in runs), "both runs to open their source")
            assert len(registry) == 1 and runs[0].source is runs[1].source
            results = await asyncio.gather(*tasks)
        registry.stop_all()
        await judge.aclose()
        assert len(registry) == 0
        return results

    results = asyncio.run(main())
    assert [r.reason for r in results] == [StopReason.SOURCE_ENDED, StopReason.SOURCE_ENDED]
    assert results[0].stats.triggers_fired == 1


def test_a_slow_model_gets_overlapping_checks_applied_in_stream_order(
    settings: Settings, tmp_path: Path, vlm: VLMTestServer
) -> None:
    """A model slower than the interval: checks overlap, the first one is answered last, and still every
    verdict is applied in stream order and none is lost. How many checks a slow model gets, and their lag,
    is measured in benchmarks/slow_model.py, not here."""
    spec = SceneSpec(duration=12.0, events=((6.0, 12.0),))
    httpx.post(f"{vlm.root_url}/_control/reset").raise_for_status()  # max_in_flight counts this run only
    # The model is slow on purpose (the test server waits before answering): 2 s a check, and 3 s more for
    # the first, so the answers to later checks arrive before it.
    vlm.latency_seconds = 2.0
    vlm.add_faults({"kind": "delay", "seconds": 3.0})
    try:
        config = RunConfig(
            source_url=str(cached_scene(spec, "mp4")),
            condition="is there a red square?",
            interval_seconds=1.0,
            concurrency=4,
            rule=TriggerRule(max_triggers=None, once_per_appearance=True),
            source=SourceOptions(realtime=True),  # the file plays at its recorded pace, like a camera
            prefilter=False,  # every check point must reach the slow model
        )
        result, sink = asyncio.run(_run(settings, config, tmp_path))
        served = vlm.stats()
    finally:
        vlm.latency_seconds = 0.0
        httpx.post(f"{vlm.root_url}/_control/reset").raise_for_status()
    assert result.reason is StopReason.SOURCE_ENDED
    assert served["max_in_flight"] >= 2  # checks overlapped at the model
    answered = [r["fault"] for r in served["recent"]]
    assert answered.index("delay") > 0  # the first check was answered after a later one…
    times = [s.session_time for s in sink.samples]
    assert times == sorted(times)  # …yet verdicts were applied in stream order
    # Nothing lost: one check in every interval the stream played, each answered and applied.
    assert result.stats.checks_dropped == 0 and result.stats.checks_failed == 0
    assert [int(t) for t in times] == list(range(int(result.stats.session_time) + 1))  # interval: 1 s
    assert result.stats.checks_performed == len(times) == served["chat_completions"]
    assert [round(e.stream_time) for e in sink.found] == [6]  # each verdict went with its own frame


class BrokenSink(Collect):
    """Storing the third verdict fails, as a database that went away would."""

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        if len(self.samples) == 2:
            raise RuntimeError("database is gone")
        await super().checked(progress, sample, verdict, fired)


def test_a_run_whose_results_cannot_be_applied_fails_instead_of_hanging(settings: Settings, tmp_path: Path) -> None:
    """Footage applies backpressure: with the worker that frees check slots dead, the run must still end."""
    config = RunConfig(
        source_url=str(cached_scene(SceneSpec(duration=30.0, events=()), "mp4")),
        condition="is there a red square?",
        interval_seconds=1.0,
        concurrency=1,
        source=SourceOptions(realtime=False),
        prefilter=False,
    )

    async def main() -> tuple[RunResult, Collect]:
        registry = SourceRegistry(settings)
        judge = build_judge(settings)
        sink = BrokenSink()
        try:
            run = Run("run_broken", config, judge=judge, registry=registry, sink=sink)
            return await asyncio.wait_for(run.run(), 60), sink
        finally:
            registry.stop_all()
            await judge.aclose()

    result, sink = asyncio.run(main())
    assert result.reason is StopReason.INTERNAL_ERROR
    assert "database is gone" in result.detail
    assert len(sink.samples) == 2


@pytest.mark.parametrize("prefilter", [True, False])
def test_rapid_review_skips_unchanged_chunks_and_still_finds_every_appearance(
    settings: Settings, tmp_path: Path, prefilter: bool
) -> None:
    """The square is visible 15–45 s and 62–66 s: chunks 2 and 3 show no change (the square just stays)
    and are not sent with the gate on, yet the first appearance stays one event and the second is found."""
    spec = SceneSpec(duration=80.0, events=((15.0, 45.0), (62.0, 66.0)))
    config = RunConfig(
        source_url=str(cached_scene(spec, "mp4")),
        review_query="report every red square you see",
        source=SourceOptions(realtime=False),
        prefilter=prefilter,
    )
    result, sink = asyncio.run(_run(settings, config, tmp_path))
    assert result.reason is StopReason.SOURCE_ENDED
    assert [round(e.stream_time) for e in sink.found] == [15, 62]
    assert [a[0] for a in sink.analysed] == list(range(8)) and all(ok for _, _, ok in sink.analysed)
    stats = result.stats
    if prefilter:
        # Reviewed: 0 (first), 1 (appears), 4 (leaves), 6 (appears and leaves); skipped: 2, 3, 5, 7.
        assert (stats.chunks_analysed, stats.chunks_skipped, stats.model_calls) == (4, 4, 4)
        assert 4 * 9 <= stats.frames_skipped <= 4 * 10  # the frames kept for those chunks' reviews
        assert stats.gate is not None and stats.gate["unchanged"] >= stats.frames_skipped
    else:
        assert (stats.chunks_analysed, stats.chunks_skipped, stats.model_calls) == (8, 0, 8)


@pytest.mark.parametrize("review", [False, True])
def test_a_run_lets_go_of_each_chunk_once_it_is_recorded(settings: Settings, tmp_path: Path, review: bool) -> None:
    config = RunConfig(
        source_url=str(cached_scene(SceneSpec(duration=40.0, events=()), "mp4")),
        review_query="report every red square you see" if review else None,
        source=SourceOptions(realtime=False),
    )

    async def main() -> Run:
        registry = SourceRegistry(settings)
        judge = build_judge(settings) if review else None
        try:
            run = Run("run_mem", config, judge=judge, registry=registry, sink=Collect(), recordings_dir=tmp_path)
            assert (await run.run()).stats.chunks_recorded == 4
            return run
        finally:
            registry.stop_all()
            if judge is not None:
                await judge.aclose()

    assert asyncio.run(main()).ctx.writes == {}
