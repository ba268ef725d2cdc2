"""Local CLIP: the full loading and scoring path on a tiny random model, and what it says when it cannot run.

The tiny model (``tiny_clip_dir``) is transformers' CLIP with small sizes, exported to ONNX in the real
hub repository's layout; its answers mean nothing, so these tests check the mechanics — files found,
models loaded, prompts scored, thresholds applied, usage counted — never what CLIP "sees".
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livesight.judges import ClipJudge, ClipUnavailable, JudgeError, JudgeNotConfigured, build_judge, clip_weights
from livesight.judges._clip_model import load_clip_model
from livesight.judges.clip import clip_scores, prompts_for
from livesight.judges.clip_weights import find_clip_files
from livesight.pipeline.runner import Run, RunConfig
from livesight.pipeline.sinks import NullSink
from livesight.rules import StopReason
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.scene import SceneSpec, cached_scene, scene_jpeg
from livesight.types import JudgeImage, Sample

SPEC = SceneSpec()


def frame(t: float) -> JudgeImage:
    return JudgeImage(scene_jpeg(SPEC, t), t, SPEC.width, SPEC.height)


def local(tmp_path: Path, **overrides: object) -> Settings:
    """Settings with no model endpoint: whatever judges is local."""
    return Settings(data_dir=tmp_path / "data", clip_cache_dir=tmp_path / "empty-cache", **overrides)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_nothing_configured_and_weights_present_means_local_clip(tiny_clip_dir: Path, tmp_path: Path) -> None:
    judge = build_judge(local(tmp_path, clip_model_dir=tiny_clip_dir))
    assert isinstance(judge, ClipJudge) and judge.name.startswith("local-clip:")
    assert judge.files.vision.name == "vision_model_quantized.onnx"  # int8 first: smaller and faster
    try:
        verdict = await judge.check("is there a red square?", Sample(22.0, 22.0, (frame(22.0),)))
        again = await judge.check("is there a red square?", Sample(22.0, 22.0, (frame(22.0),)))
    finally:
        await judge.aclose()
    assert verdict.score is not None and 0.0 < verdict.score < 1.0
    assert verdict.match == (verdict.score >= 0.5)
    assert verdict.confidence == pytest.approx(verdict.score if verdict.match else 1.0 - verdict.score, abs=1e-3)
    assert verdict.score == again.score  # deterministic
    assert (verdict.usage.local_calls, verdict.usage.model_calls, verdict.usage.images_sent) == (1, 0, 0)
    assert verdict.judge == judge.name and "a red square" in verdict.explanation


async def test_the_threshold_decides(tiny_clip_dir: Path, tmp_path: Path) -> None:
    files = find_clip_files(local(tmp_path, clip_model_dir=tiny_clip_dir, clip_quantized=False))
    assert files is not None and files.vision.name == "vision_model.onnx"
    sample = Sample(5.0, 5.0, (frame(5.0),))
    score = (await ClipJudge(files).check("a red square", sample)).score
    assert score is not None
    below, above = ClipJudge(files, threshold=score - 1e-3), ClipJudge(files, threshold=min(0.999, score + 1e-3))
    assert (await below.check("a red square", sample)).match is True
    assert (await above.check("a red square", sample)).match is False


def test_scores_are_clips_zero_shot_probabilities(tiny_clip_dir: Path, tmp_path: Path) -> None:
    """The score is softmax(scale · cosine) of the ensembled positive prompt against each contrast prompt."""
    files = find_clip_files(local(tmp_path, clip_model_dir=tiny_clip_dir))
    assert files is not None
    model = load_clip_model(files)
    assert model.logit_scale == pytest.approx(14.2857, rel=1e-3)  # read from livesight_clip.json
    prompts = prompts_for("Is there a red square?")
    assert prompts.subject == "a red square" and prompts.contrasts[0] == "a photo with no red square"
    jpegs = [frame(5.0).jpeg, frame(22.0).jpeg]
    images = model.embed_images(jpegs)
    texts = model.embed_texts([*prompts.positives, *prompts.contrasts])
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    positive = texts[:3].mean(axis=0)
    classes = np.vstack([positive / np.linalg.norm(positive), texts[3:]])
    logits = model.logit_scale * images @ classes.T
    expected = np.exp(logits[:, 0]) / np.exp(logits).sum(axis=1)
    assert clip_scores(model, prompts, jpegs) == pytest.approx(list(expected), rel=1e-4)


async def test_review_reports_runs_of_frames_above_the_threshold(tiny_clip_dir: Path, tmp_path: Path) -> None:
    files = find_clip_files(local(tmp_path, clip_model_dir=tiny_clip_dir))
    assert files is not None
    images = [frame(float(t)) for t in range(16, 32)]
    scores = clip_scores(load_clip_model(files), prompts_for("red square"), [i.jpeg for i in images])
    threshold = float(np.median(scores))
    above = [s >= threshold for s in scores]
    runs = sum(1 for i, a in enumerate(above) if a and (i == 0 or not above[i - 1]))
    review = await ClipJudge(files, threshold=threshold).review("red square", images, 16.0, 16.0)
    assert len(review.events) == runs >= 1
    for event in review.events:
        assert 0.0 <= event.start <= event.end <= 16.0 and event.confidence >= threshold - 1e-3
    assert review.usage.local_calls == 1


def test_weights_in_the_hub_cache_are_found_without_network(tiny_clip_dir: Path, tmp_path: Path) -> None:
    """The Hugging Face cache layout (what a first-use download leaves behind) is read offline."""
    cache = tmp_path / "hub"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--tiny--clip" / "snapshots" / revision
    shutil.copytree(tiny_clip_dir, snapshot)
    (cache / "models--tiny--clip" / "refs").mkdir()
    (cache / "models--tiny--clip" / "refs" / "main").write_text(revision)
    settings = Settings(data_dir=tmp_path, clip_model="tiny/clip", clip_cache_dir=cache)
    judge = build_judge(settings, download=True)  # found in the cache: nothing to download
    assert isinstance(judge, ClipJudge) and judge.files.source == "hub:tiny/clip"
    verdict = asyncio.run(judge.check("is there a red square?", Sample(1.0, 1.0, (frame(1.0),))))
    assert verdict.usage.local_calls == 1


@pytest.mark.usefixtures("clip_runtime")
def test_offline_without_weights_says_exactly_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")  # the network is down
    settings = local(tmp_path)
    with pytest.raises(ClipUnavailable) as info:
        build_judge(settings, download=True)
    error = info.value
    text = f"{error.message} {error.remediation}"
    assert error.code == "JUDGE_NOT_CONFIGURED" and "\n" not in text
    for needle in (
        str(tmp_path / "empty-cache"),
        "unreachable",
        "python -m livesight.judges.clip_download",
        "LIVESIGHT_CLIP_MODEL_DIR",
        "onnx/vision_model_quantized.onnx",
        "LIVESIGHT_MODEL_BASE_URL",
    ):
        assert needle in text, needle
    # Without leave to download (a server's request path), it is plainly "not configured", naming both ways.
    with pytest.raises(JudgeNotConfigured) as plain:
        build_judge(settings)
    assert "LIVESIGHT_MODEL_BASE_URL" in plain.value.remediation and "livesight[clip]" in plain.value.remediation


def test_a_missing_extra_or_directory_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clip_weights, "clip_runtime_missing", lambda: None)  # the directory is named first
    with pytest.raises(ClipUnavailable) as info:
        build_judge(local(tmp_path, clip_model_dir=tmp_path / "nowhere"), download=True)
    assert str(tmp_path / "nowhere") in info.value.message
    monkeypatch.setattr(clip_weights, "clip_runtime_missing", lambda: "onnxruntime")
    with pytest.raises(ClipUnavailable) as missing:
        build_judge(local(tmp_path), download=True)
    assert "'onnxruntime'" in missing.value.message and "pip install 'livesight[clip]'" in missing.value.remediation


async def test_broken_weights_fail_with_a_message(tiny_clip_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_clip_dir, broken)
    (broken / "onnx" / "vision_model_quantized.onnx").write_bytes(b"not an onnx model")
    judge = build_judge(local(tmp_path, clip_model_dir=broken))
    with pytest.raises(JudgeError) as info:
        await judge.check("is there a red square?", Sample(1.0, 1.0, (frame(1.0),)))
    assert info.value.code == "JUDGE_NOT_CONFIGURED" and str(broken) in info.value.message


def test_a_gated_run_with_local_clip_counts_local_calls(tiny_clip_dir: Path, tmp_path: Path) -> None:
    settings = local(tmp_path, clip_model_dir=tiny_clip_dir)
    spec = SceneSpec(duration=20.0, events=((8.0, 14.0),))

    async def main() -> Run:
        registry = SourceRegistry(settings)
        judge = build_judge(settings)
        config = RunConfig(
            source_url=str(cached_scene(spec, "mp4")),
            condition="is there a red square?",
            interval_seconds=1.0,
            source=SourceOptions(realtime=False),
        )
        run = Run("clip", config, judge=judge, registry=registry, sink=NullSink())
        try:
            result = await run.run()
        finally:
            registry.stop_all()
            await judge.aclose()
        assert result.reason is StopReason.SOURCE_ENDED
        return run

    stats = asyncio.run(main()).stats
    assert stats.model_calls == 0 and stats.checks_failed == 0
    assert stats.local_calls == stats.checks_performed == 3  # t = 0, the square on at 8, off at 14
    assert stats.frames_skipped == 17
    assert stats.as_dict()["latency_ms"]["p50"] is not None


@pytest.mark.usefixtures("clip_runtime")
def test_download_command_offline_prints_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "livesight.judges.clip_download"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2 and result.stderr == ""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("livesight: error: ") and "HF_HUB_OFFLINE" in lines[0]
