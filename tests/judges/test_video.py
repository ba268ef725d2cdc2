"""Video-capable backends: clip checks sent as a real MP4 clip, judged from its decoded frames.

The test VLM decodes ``video_url`` parts (vLLM's shape) and Gemini's ``inlineData`` videos with PyAV and
looks at every frame, so a clip that does not really contain the square gets a "no".
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import av
import pytest
from judge_helpers import API_KEY, TEST_RETRY, SleepRecorder

from livesight.judges import GeminiJudge, JudgeAuthError, OpenAICompatibleJudge, accepts_video, build_judge
from livesight.pipeline.runner import Run, RunConfig
from livesight.pipeline.sampler import Sampler
from livesight.pipeline.sinks import NullSink
from livesight.rules import StopReason, TriggerRule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.testing.vlm_server import VLMTestServer
from livesight.types import Frame, Sample

SPEC = SceneSpec()
CONDITION = "is there a red square?"


async def clip_sample(end: float, mode: str = "clip") -> Sample:
    """What the runner builds at ``end`` in clip mode for a video judge: stills and the MP4 of the last 3 s."""
    sampler = Sampler(mode, clip_duration=3.0, long_side=320, video=True)  # type: ignore[arg-type]
    last: Frame | None = None
    with av.open(str(cached_scene(SPEC, "mp4"))) as container:
        for n, picture in enumerate(container.decode(video=0)):
            t = n / SPEC.fps
            if t > end + 1e-6:
                break
            if n % 4 == 0 and t >= end - 4.0:  # 2.5 frames a second, like the default analysis rate
                last = Frame(picture, t, t)
                sampler.add(last)
    assert last is not None
    return await sampler.sample(last)


async def test_a_clip_goes_as_video_url_to_an_openai_compatible_video_model(vlm: VLMTestServer) -> None:
    judge = OpenAICompatibleJudge(vlm.base_url, API_KEY, "livesight-test-vlm", video_input=True)
    try:
        entering = await clip_sample(20.4)  # the square appears at 20.0: only the clip's end shows it
        before = await clip_sample(19.6)
        assert entering.video is not None and entering.video.frame_count == 8
        with av.open(io.BytesIO(entering.video.data)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        seen = await judge.check(CONDITION, entering)
        unseen = await judge.check(CONDITION, before)
    finally:
        await judge.aclose()
    assert (seen.match, unseen.match) == (True, False)
    recent = vlm.stats()["recent"]
    assert [(r["videos"], r["images"]) for r in recent] == [(1, 8), (1, 8)]  # every frame of the clip, no stills
    assert recent[0]["frame_times"] == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8])
    assert (seen.usage.videos_sent, seen.usage.images_sent, seen.usage.model_calls) == (1, 0, 1)


async def test_hybrid_adds_the_newest_frame_as_a_still(vlm: VLMTestServer) -> None:
    judge = OpenAICompatibleJudge(vlm.base_url, API_KEY, "livesight-test-vlm", video_input=True)
    try:
        verdict = await judge.check(CONDITION, await clip_sample(21.0, "hybrid"))
    finally:
        await judge.aclose()
    assert verdict.match is True and (verdict.usage.videos_sent, verdict.usage.images_sent) == (1, 1)
    assert vlm.stats()["recent"][-1]["images"] == 9


async def test_without_video_input_clips_go_as_stills(vlm: VLMTestServer) -> None:
    judge = OpenAICompatibleJudge(vlm.base_url, API_KEY, "livesight-test-vlm")
    try:
        verdict = await judge.check(CONDITION, await clip_sample(21.0))
    finally:
        await judge.aclose()
    assert not accepts_video(judge) and verdict.usage.videos_sent == 0
    assert vlm.stats()["recent"][-1]["videos"] == 0


def gemini(vlm: VLMTestServer, sleeps: SleepRecorder | None = None, key: str = API_KEY) -> GeminiJudge:
    return GeminiJudge(
        key, "gemini-test", base_url=f"{vlm.root_url}/v1beta", retry=TEST_RETRY, sleep=sleeps or _no_wait
    )


async def _no_wait(seconds: float) -> None:
    pass


async def test_gemini_native_api_takes_the_clip_as_video(vlm: VLMTestServer) -> None:
    judge = gemini(vlm)
    try:
        seen = await judge.check(CONDITION, await clip_sample(20.4))
        stills = await judge.check(CONDITION, Sample(5.0, 5.0, (await clip_sample(5.0, "frames")).images))
        review = await judge.review("red square", (await clip_sample(21.0)).images, 18.0, 3.0)
    finally:
        await judge.aclose()
    assert (seen.match, stills.match) == (True, False)
    assert seen.judge == "gemini:gemini-test" and seen.usage.videos_sent == 1
    assert seen.usage.input_tokens > 0 and seen.usage.output_tokens > 0  # from usageMetadata
    assert len(review.events) == 1 and review.events[0].label == "red object"
    recent = vlm.stats()["recent"]
    assert [r["api"] for r in recent] == ["gemini"] * 3 and [r["videos"] for r in recent] == [1, 0, 0]
    assert vlm.stats()["gemini_generate"] == 3


async def test_gemini_errors_map_to_the_judge_errors(vlm: VLMTestServer) -> None:
    sleeps = SleepRecorder()
    vlm.add_faults({"kind": "status", "status": 429, "retry_after": 2.0})
    judge = gemini(vlm, sleeps)
    try:
        verdict = await judge.check(CONDITION, await clip_sample(21.0))
    finally:
        await judge.aclose()
    assert verdict.match is True and verdict.usage.model_calls == 2
    assert sleeps.delays == [2.0]  # Gemini's RetryInfo retryDelay is honoured
    wrong = gemini(vlm, key="wrong-key")
    try:
        with pytest.raises(JudgeAuthError):
            await wrong.check(CONDITION, await clip_sample(21.0))
    finally:
        await wrong.aclose()


def test_settings_choose_the_video_backend(tmp_path: Path) -> None:
    base: dict[str, Any] = {"data_dir": tmp_path, "model_api_key": "k", "model": "gemini-2.5-flash"}
    judges = [
        build_judge(Settings(**base, model_api="gemini")),
        build_judge(Settings(**base, model_api="gemini", model_video_input=False)),
        build_judge(Settings(**base, model_base_url="http://gpu-box:8000/v1", model_video_input=True)),
        build_judge(Settings(**base, model_base_url="http://gpu-box:8000/v1")),
    ]
    try:
        assert isinstance(judges[0], GeminiJudge) and judges[0].base_url.startswith("https://generativelanguage")
        assert [accepts_video(j) for j in judges] == [True, False, True, False]
    finally:
        for judge in judges:
            asyncio.run(judge.aclose())


def test_a_clip_mode_run_sends_clips_to_a_video_judge(vlm: VLMTestServer, settings: Settings) -> None:
    spec = SceneSpec(duration=16.0, events=((8.0, 12.0),))

    async def main() -> Run:
        registry = SourceRegistry(settings)
        judge = gemini(vlm)
        config = RunConfig(
            source_url=str(cached_scene(spec, "mp4")),
            condition=CONDITION,
            interval_seconds=2.0,
            input_mode="clip",
            rule=TriggerRule(max_triggers=None, once_per_appearance=True),
            source=SourceOptions(realtime=False),
            video_clips=accepts_video(judge),
        )
        run = Run("video", config, judge=judge, registry=registry, sink=NullSink())
        try:
            assert (await run.run()).reason is StopReason.SOURCE_ENDED
        finally:
            registry.stop_all()
            await judge.aclose()
        return run

    stats = asyncio.run(main()).stats
    assert stats.triggers_fired == 1 and stats.videos_sent == stats.model_calls >= 2
    assert all(r["videos"] == 1 for r in vlm.stats()["recent"])
