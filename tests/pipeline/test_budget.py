"""The model-call budget: never more than N calls in an hour, a longer interval instead of a failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from gate_helpers import run_scene

from livesight.judges import build_judge
from livesight.pipeline.budget import CallBudget
from livesight.pipeline.runner import Run, RunConfig
from livesight.pipeline.sinks import NullSink
from livesight.pipeline.watch import status_line
from livesight.rules import StopReason
from livesight.settings import Settings
from livesight.sources.hub import SourceRegistry
from livesight.testing.scene import SceneSpec
from livesight.types import Usage


@pytest.mark.parametrize("per_hour", [1, 12, 60, 500])
def test_no_hour_holds_more_than_the_budget(per_hour: int) -> None:
    """A busy scene asks every 10 s for five hours; every one-hour window stays within the budget."""
    budget = CallBudget(per_hour)
    calls: list[float] = []
    for step in range(5 * 360):
        now = step * 10.0
        if budget.available(now):
            budget.spend(now)
            calls.append(now)
    for i, start in enumerate(calls):
        in_window = [t for t in calls[i:] if t < start + 3600.0]
        assert len(in_window) <= per_hour, (start, len(in_window))
    # …and it keeps checking at a steady, longer interval rather than stopping.
    sustained = min(360, max(1, per_hour - per_hour // 12))  # 360: one check every 10 s
    assert len([t for t in calls if t >= 4 * 3600]) >= sustained - 1


def test_a_refund_and_the_next_available_time() -> None:
    budget = CallBudget(24)  # burst 2, refill 22 per hour
    assert budget.burst == 2
    budget.spend(0.0)
    budget.spend(0.0)
    assert not budget.available(1.0)
    resume = budget.defer(1.0)
    assert resume == pytest.approx(3600 / 22, rel=0.01)
    assert budget.available(resume) and budget.limited and budget.deferred == 1
    budget.spend(resume, -1)  # a cascade that never asked the model gives its reservation back
    assert budget.available(resume)
    state = budget.as_dict(10.0)
    assert state["limited"] is True and state["effective_interval_seconds"] == pytest.approx(170.0)
    with pytest.raises(ValueError):
        CallBudget(0)


def test_over_budget_the_interval_stretches_and_the_run_goes_on(settings: Settings, tmp_path: Path) -> None:
    """120 calls an hour (a burst of 10, then one every ~33 s): a 90 s busy run checks ~12 times, not 90."""
    spec = SceneSpec(duration=90.0, events=((20.0, 28.0), (50.0, 58.0)))
    result, _ = run_scene(settings, spec, tmp_path, interval_seconds=1.0, prefilter=False, max_model_calls_per_hour=120)
    stats = result.stats
    assert result.reason is StopReason.SOURCE_ENDED
    assert 10 <= stats.model_calls <= 14 and stats.checks_failed == 0
    assert stats.checks_deferred >= 1
    assert stats.checks_performed + stats.checks_deferred < 90  # deferral jumps ahead, not one by one
    assert stats.budget is not None and stats.budget["limited"] is True
    assert stats.budget["effective_interval_seconds"] == pytest.approx(33.0)
    assert stats.as_dict()["checks_deferred"] == stats.checks_deferred


def test_the_status_line_shows_the_accounting(settings: Settings) -> None:
    judge = build_judge(settings)
    run = Run(
        "r",
        RunConfig(source_url="x.mp4", condition="c"),
        judge=judge,
        registry=SourceRegistry(settings),
        sink=NullSink(),
    )
    run.stats.checks_performed, run.stats.frames_skipped, run.stats.checks_deferred = 4, 40, 2
    run.stats.add_usage(Usage(model_calls=3, images_sent=3, input_tokens=900, output_tokens=60, latency_seconds=0.2))
    run.stats.add_usage(Usage(local_calls=1, latency_seconds=0.05))
    line = status_line(run.progress())
    asyncio.run(judge.aclose())
    for part in ("checks 4", "skipped 40", "model calls 3", "local 1", "tokens 900/60", "deferred 2"):
        assert part in line, line
