"""Several rules on one stream through the engine: one model call per check point, appearances with a start
and an end per rule, operators judged on their own, a schedule that is closed asks nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from livesight.judges import build_judge
from livesight.pipeline.runner import Run, RunConfig, RunProgress, RunResult
from livesight.pipeline.sinks import NullSink
from livesight.rules import TriggerRule
from livesight.rules.appearances import RuleSpec, Schedule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.testing.vlm_server import VLMTestServer
from livesight.types import Event

BLUE = (30, 40, 220)
SCENE = SceneSpec(duration=70.0, events=((20.0, 28.0), (50.0, 58.0)), coloured=((35.0, 45.0, BLUE),))
INTERVAL = 2.0


class Events(NullSink):
    def __init__(self) -> None:
        self.got: list[tuple[Event, dict[str, Any]]] = []
        self.frames: dict[str, bytes] = {}

    async def events(
        self, progress: RunProgress, events: Sequence[Event], data: Sequence[dict[str, Any]], frames: Any
    ) -> None:
        self.got.extend(zip(events, data, strict=True))
        self.frames.update(frames)

    def of(self, rule: str, kind: str) -> list[dict[str, Any]]:
        return [d for e, d in self.got if d["rule"] == rule and d["transition"] == kind]


def _closed_now() -> Schedule:
    """A schedule whose window is not now (in UTC): the hour two hours ahead, for one hour."""
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).time().replace(minute=0, second=0, microsecond=0)
    return Schedule(start=later, end=(dt.datetime.combine(dt.date.today(), later) + dt.timedelta(hours=1)).time())


async def _run(settings: Settings, rules: tuple[RuleSpec, ...], tmp_path: Path) -> tuple[RunResult, Events]:
    registry, judge, sink = SourceRegistry(settings), build_judge(settings), Events()
    config = RunConfig(
        source_url=str(cached_scene(SCENE, "mp4")),
        rules=rules,
        interval_seconds=INTERVAL,
        rule=TriggerRule(max_triggers=None),
        source=SourceOptions(realtime=False),
        prefilter=False,  # every check point asked: the count of model calls is the count of check points
    )
    try:
        run = Run("run_rules", config, judge=judge, registry=registry, sink=sink, recordings_dir=tmp_path / "rec")
        return await run.run(), sink
    finally:
        registry.stop_all()
        await judge.aclose()


def test_three_rules_one_call_per_check_point(settings: Settings, vlm: VLMTestServer, tmp_path: Path) -> None:
    httpx.post(f"{vlm.root_url}/_control/reset").raise_for_status()
    rules = (
        RuleSpec("red", "is there a red square?", min_duration_seconds=5),
        RuleSpec("blue", "is there a blue square?", k=2, n=3),
        RuleSpec("red_at_night", "is there a red square?", schedule=_closed_now()),
    )
    result, sink = asyncio.run(_run(settings, rules, tmp_path))
    points = round(SCENE.duration / INTERVAL)
    assert result.stats.checks_performed == points
    assert result.stats.model_calls == points  # one call per check point for the two rules asked
    asked = vlm.stats()["recent"]
    assert all(r["kind"] == "rules" for r in asked)

    red_started, red_ended = sink.of("red", "started"), sink.of("red", "ended")
    near = functools.partial(pytest.approx, abs=0.3)  # a check point is the first decoded frame on its grid time
    assert [d["start"] for d in red_started] == [near(20.0), near(50.0)]  # dated from the first positive answer
    assert [d["announced_at"] for d in red_started] == [near(26.0), near(56.0)]  # once it lasted 5 s (on the grid)
    for ended, (start, end) in zip(red_ended, SCENE.events, strict=True):
        assert abs(ended["duration"] - (end - start)) <= INTERVAL  # within one interval of the truth
        assert ended["end"] <= end and ended["peak_confidence"] > 0.5
    [blue_started] = sink.of("blue", "started")
    [blue_ended] = sink.of("blue", "ended")
    assert blue_started["start"] == near(36.0) and blue_started["announced_at"] == near(38.0)  # 2 of 3: 2nd yes
    assert abs(blue_ended["duration"] - 10.0) <= INTERVAL
    assert sink.of("red_at_night", "started") == []  # never asked: its schedule is closed
    assert result.stats.triggers_fired == 3
    # Every event carries its evidence frame, and the started event's is the appearance's first positive frame.
    for event, data in sink.got:
        assert data["frame_path"] and event.event_id in sink.frames
    first_red = next(e for e, d in sink.got if d["rule"] == "red" and d["transition"] == "started")
    assert first_red.stream_time == near(20.0) and first_red.type == "rule_started"
