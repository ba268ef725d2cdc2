"""Runs survive a misbehaving stream and a misbehaving model: they record the damage and go on."""

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
from livesight.types import Event, Gap, Sample, Verdict

CONDITION = "is there a red square?"


@pytest.fixture(autouse=True)
def _clean_model(vlm: VLMTestServer) -> Any:
    """The test model is shared by the session: leave no injected fault behind."""
    yield
    httpx.post(f"{vlm.root_url}/_control/reset").raise_for_status()


async def _until(check: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit`` seconds (a bound, not a timing claim)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Record(NullSink):
    def __init__(self) -> None:
        self.found: list[Event] = []
        self.gaps: list[Gap] = []
        self.analyses: list[ChunkAnalysis] = []
        self.failed_checks = 0

    async def events(
        self, progress: RunProgress, events: Sequence[Event], data: Sequence[dict[str, Any]], frames: Any
    ) -> None:
        self.found.extend(events)

    async def gap(self, progress: RunProgress, gap: Gap) -> None:
        self.gaps.append(gap)

    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None:
        self.analyses.append(analysis)

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        self.failed_checks += verdict is None


def _run(settings: Settings, config: RunConfig) -> tuple[RunResult, Record, Run]:
    async def main() -> tuple[RunResult, Record, Run]:
        registry = SourceRegistry(settings)
        judge = build_judge(settings)
        sink = Record()
        try:
            run = Run("faults", config, judge=judge, registry=registry, sink=sink)
            return await run.run(), sink, run
        finally:
            registry.stop_all()
            await judge.aclose()

    return asyncio.run(main())


@pytest.mark.slow
def test_stream_faults_are_survived_and_recorded(settings: Settings) -> None:
    """404, 500, resets, truncated and corrupt segments, a stalled response, a failing playlist: the run
    reaches the end of the stream and still sees the square that appears after all of them."""
    spec = SceneSpec(duration=60.0, events=((44.0, 52.0),))
    faults = {"seg00003.ts": "404", "seg00006.ts": "corrupt", "seg00009.ts": "truncate", "seg00012.ts": "reset"}
    with LiveHLSServer(spec=spec, speed=3.0, end_list=True, segment_faults=faults, stall_seconds=3.0) as stream:
        stream.fail_next("seg00005.ts", "500", times=5)  # more than the reader's retry: skipped
        stream.fail_next("seg00015.ts", "stall")  # the read times out, the segment is fetched again
        stream.fail_next("live.m3u8", "503", times=2)
        config = RunConfig(
            source_url=stream.url,
            condition=CONDITION,
            interval_seconds=1.0,
            rule=TriggerRule(max_triggers=None, once_per_appearance=True),
        )
        result, sink, run = _run(settings.model_copy(update={"read_timeout_seconds": 2.0}), config)
        faulted = [r for r in stream.requests if r.fault]
    assert result.reason is StopReason.SOURCE_ENDED, result.detail
    assert len(sink.found) == 1 and 44.0 <= sink.found[0].capture_time <= 45.35
    assert {r.fault for r in faulted} >= {"404", "500", "503", "corrupt", "truncate", "reset", "stall"}
    health = run.health
    assert health is not None and health.discontinuities >= 1  # skipped segments leave marked breaks
    assert result.stats.chunks_recorded >= 5


@pytest.mark.slow
def test_model_faults_never_kill_the_run(settings: Settings, vlm: VLMTestServer) -> None:
    """Timeouts, 429 with Retry-After, 5xx, malformed JSON and refusals: checks are retried within limits,
    a check that still fails is counted, the run goes on and finds the square."""
    spec = SceneSpec(duration=30.0, events=((20.0, 26.0),))
    vlm.add_faults(
        {"kind": "status", "status": 429, "retry_after": 0.2, "count": 2},
        {"kind": "status", "status": 500, "count": 3},
        {"kind": "malformed", "count": 2},
        {"kind": "refusal", "count": 1},
        {"kind": "fenced", "count": 2},
        {"kind": "delay", "seconds": 3.0, "count": 1},
    )
    config = RunConfig(
        source_url=str(cached_scene(spec, "mp4")),
        condition=CONDITION,
        interval_seconds=1.0,
        rule=TriggerRule(max_triggers=None, once_per_appearance=True),
        source=SourceOptions(realtime=False),
        prefilter=False,  # every second must reach the (faulty) model
    )
    quick = settings.model_copy(update={"model_timeout_seconds": 1.0, "model_max_retries": 2})
    result, sink, _ = _run(quick, config)
    assert result.reason is StopReason.SOURCE_ENDED
    assert result.stats.checks_performed + result.stats.checks_failed == 30
    assert result.stats.checks_failed == sink.failed_checks >= 1  # the refusal at least
    assert [round(e.capture_time) for e in sink.found] == [20]


def test_a_chunk_the_model_failed_on_is_tried_again(settings: Settings, vlm: VLMTestServer, tmp_path: Path) -> None:
    spec = SceneSpec(duration=12.0, events=((2.0, 6.0),))
    vlm.add_faults({"kind": "status", "status": 503, "count": 2})  # the judge gives up on the first chunk…
    config = RunConfig(
        source_url=str(cached_scene(spec, "mp4")),
        review_query="red square",
        source=SourceOptions(realtime=False),
        review_retry_seconds=0.2,
    )
    no_retry = settings.model_copy(update={"model_max_retries": 0})
    result, sink, _ = _run(no_retry, config)
    assert result.reason is StopReason.SOURCE_ENDED
    assert all(a.ok for a in sink.analyses)  # …and the run tries it again later
    assert [round(e.capture_time) for e in sink.found] == [2]


@pytest.mark.slow
@pytest.mark.rtsp
def test_an_rtsp_camera_that_drops_is_followed(settings: Settings) -> None:
    from livesight.testing.rtsp_server import RTSPTestServer

    if not RTSPTestServer.available():
        pytest.skip(f"no RTSP test server here: {RTSPTestServer.unavailable_reason()}")
    spec = SceneSpec(duration=30.0, events=((12.0, 18.0),))
    with RTSPTestServer(cached_scene(spec, "ts"), loop=False) as camera:

        async def main() -> tuple[RunResult, Record, float]:
            registry = SourceRegistry(settings)
            judge = build_judge(settings)
            sink = Record()
            config = RunConfig(
                source_url=camera.url,
                condition=CONDITION,
                interval_seconds=1.0,
                max_duration_seconds=28.0,
                rule=TriggerRule(max_triggers=None, once_per_appearance=True),
            )
            run = Run("rtsp-drop", config, judge=judge, registry=registry, sink=sink)
            task = asyncio.create_task(run.run())
            try:
                # A few seconds of the camera's picture, long before the square (at 12 s) shows.
                await _until(lambda: run.stats.session_time >= 3.0, "3 s of the camera's picture")
                await asyncio.to_thread(camera.stop)  # the camera drops…
                await _until(lambda: (run.health.reconnects if run.health else 0) >= 1, "the source to notice")
                down = time.monotonic()
                # …stays down while the source tries again (and is refused) twice…
                await _until(lambda: (run.health.reconnects if run.health else 0) >= 3, "two more reconnects")
                await asyncio.to_thread(camera.start)  # …and comes back, playing its picture from the start
                back = time.monotonic()
                return await task, sink, back - down
            finally:
                registry.stop_all()
                await judge.aclose()

        result, sink, down_for = asyncio.run(main())
    assert result.reason is StopReason.MAX_DURATION_REACHED
    assert len(sink.gaps) == 1 and sink.gaps[0].reason == "reconnected"
    # The gap runs from the first failed read to the first frame after the camera came back, so it spans
    # at least the stretch the test kept the camera down after the source noticed.
    assert sink.gaps[0].wall_seconds >= down_for
    assert len(sink.found) == 1  # the square, 12 s into the camera's picture after it came back
