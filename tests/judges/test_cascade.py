"""The cascade: local CLIP screens, the vision model (the test VLM, judging pixels) decides."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from judge_helpers import API_KEY

from livesight.judges import CascadeJudge, ClipJudge, ClipUnavailable, OpenAICompatibleJudge, build_judge
from livesight.judges.clip_weights import find_clip_files
from livesight.pipeline.runner import Run, RunConfig, RunProgress, RunResult
from livesight.pipeline.sinks import NullSink
from livesight.rules import StopReason, TriggerRule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.scene import SceneSpec, cached_scene, scene_jpeg
from livesight.testing.vlm_server import VLMTestServer
from livesight.types import Event, JudgeImage, Sample

SPEC = SceneSpec()
CONDITION = "is there a red square?"


def sample_at(t: float) -> Sample:
    return Sample(t, t, (JudgeImage(scene_jpeg(SPEC, t), t, SPEC.width, SPEC.height),))


def cascade(tiny_clip_dir: Path, vlm: VLMTestServer, threshold: float) -> CascadeJudge:
    files = find_clip_files(Settings(clip_model_dir=tiny_clip_dir))
    assert files is not None
    strong = OpenAICompatibleJudge(vlm.base_url, API_KEY, "livesight-test-vlm")
    return CascadeJudge(ClipJudge(files), strong, threshold=threshold)


async def test_above_the_threshold_the_model_decides_and_both_verdicts_are_kept(
    tiny_clip_dir: Path, vlm: VLMTestServer
) -> None:
    judge = cascade(tiny_clip_dir, vlm, threshold=0.0)
    before = vlm.stats()["chat_completions"]
    try:
        seen = await judge.check(CONDITION, sample_at(22.0))
        empty = await judge.check(CONDITION, sample_at(5.0))
    finally:
        await judge.aclose()
    assert vlm.stats()["chat_completions"] == before + 2
    assert (seen.match, empty.match) == (True, False)  # the model's answers, from the pixels
    first, second = seen.stages
    assert first.judge.startswith("local-clip:") and first.score is not None
    assert second.judge == "openai-compatible:livesight-test-vlm" and second.match is True
    assert seen.judge == judge.name and seen.explanation == second.explanation
    assert (seen.usage.local_calls, seen.usage.model_calls, seen.usage.images_sent) == (1, 1, 1)


async def test_below_the_threshold_the_model_is_not_asked(tiny_clip_dir: Path, vlm: VLMTestServer) -> None:
    judge = cascade(tiny_clip_dir, vlm, threshold=1.0)  # nothing scores 1: CLIP rules everything out
    before = vlm.stats()["chat_completions"]
    try:
        verdict = await judge.check(CONDITION, sample_at(22.0))
    finally:
        await judge.aclose()
    assert vlm.stats()["chat_completions"] == before
    assert verdict.match is False and len(verdict.stages) == 1
    assert (verdict.usage.local_calls, verdict.usage.model_calls) == (1, 0)
    assert "was not asked" in verdict.explanation


def test_settings_build_the_cascade(tiny_clip_dir: Path, vlm: VLMTestServer, tmp_path: Path) -> None:
    configured = Settings(
        data_dir=tmp_path,
        model_base_url=vlm.base_url,
        model_api_key=API_KEY,
        model="livesight-test-vlm",
        cascade=True,
        cascade_threshold=0.3,
    )
    judge = build_judge(configured.model_copy(update={"clip_model_dir": tiny_clip_dir}))
    assert isinstance(judge, CascadeJudge) and judge.threshold == 0.3
    asyncio.run(judge.aclose())
    with pytest.raises(ClipUnavailable):  # asked for a cascade, but CLIP has no weights: say so
        build_judge(configured.model_copy(update={"clip_cache_dir": tmp_path / "empty"}))


class Keep(NullSink):
    def __init__(self) -> None:
        self.found: list[tuple[Event, dict[str, Any]]] = []

    async def events(
        self, progress: RunProgress, events: Sequence[Event], data: Sequence[dict[str, Any]], frames: Any
    ) -> None:
        self.found.extend(zip(events, data, strict=True))


def run_cascade(judge: CascadeJudge, spec: SceneSpec, settings: Settings, **config: Any) -> tuple[RunResult, Keep]:
    async def main() -> tuple[RunResult, Keep]:
        registry = SourceRegistry(settings)
        sink = Keep()
        run_config = RunConfig(
            source_url=str(cached_scene(spec, "mp4")),
            condition=CONDITION,
            interval_seconds=1.0,
            rule=TriggerRule(max_triggers=None, once_per_appearance=True),
            source=SourceOptions(realtime=False),
            **config,
        )
        try:
            return await Run("cascade", run_config, judge=judge, registry=registry, sink=sink).run(), sink
        finally:
            registry.stop_all()
            await judge.aclose()

    return asyncio.run(main())


def test_an_event_carries_both_stages(tiny_clip_dir: Path, vlm: VLMTestServer, settings: Settings) -> None:
    spec = SceneSpec(duration=20.0, events=((8.0, 14.0),))
    result, sink = run_cascade(cascade(tiny_clip_dir, vlm, threshold=0.0), spec, settings)
    assert result.reason is StopReason.SOURCE_ENDED
    [(event, data)] = sink.found
    assert round(event.stream_time) == 8
    assert [stage["judge"] for stage in data["stages"]] == [
        data["stages"][0]["judge"],
        "openai-compatible:livesight-test-vlm",
    ]
    assert data["stages"][0]["judge"].startswith("local-clip:") and "score" in data["stages"][0]
    assert data["stages"][1]["match"] is True
    assert result.stats.model_calls == result.stats.local_calls == result.stats.checks_performed


def test_the_budget_counts_only_real_model_calls(tiny_clip_dir: Path, vlm: VLMTestServer, settings: Settings) -> None:
    """CLIP rules every check out, so a budget of one model call an hour never stretches the interval."""
    spec = SceneSpec(duration=20.0, events=((8.0, 14.0),))
    judge = cascade(tiny_clip_dir, vlm, threshold=1.0)
    result, _ = run_cascade(judge, spec, settings, prefilter=False, max_model_calls_per_hour=1)
    stats = result.stats
    assert stats.checks_performed == 20 and stats.checks_deferred == 0
    assert stats.model_calls == 0 and stats.local_calls == 20
