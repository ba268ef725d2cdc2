"""The change gate: what counts as a change on real decoded video, and how a gated run behaves."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from gate_helpers import run_scene
from PIL import Image

from livesight.pipeline.gate import ChangeGate, GateConfig, GateReason, thumbnail, thumbnail_of_array
from livesight.rules import StopReason, TriggerRule
from livesight.settings import Settings
from livesight.testing.scene import SceneSpec, cached_scene, scene_jpeg
from livesight.testing.vlm_server import VLMTestServer


def decoded_frames(spec: SceneSpec, every: float = 1.0) -> list[tuple[float, av.VideoFrame]]:
    """The scene's frames as the source decodes them (H.264 from the cached file), one per ``every`` s."""
    step = max(1, round(every * spec.fps))
    with av.open(str(cached_scene(spec, "mp4"))) as container:
        return [(n / spec.fps, f) for n, f in enumerate(container.decode(video=0)) if n % step == 0]


def jpeg_thumbnail(jpeg: bytes, width: int = 64) -> np.ndarray[Any, Any]:
    with Image.open(io.BytesIO(jpeg)) as opened:
        picture = opened.convert("RGB")
    height = round(width * picture.height / picture.width)
    return thumbnail_of_array(np.asarray(picture.resize((width, height), Image.Resampling.BOX)))


@pytest.mark.parametrize("spec", [SceneSpec(), SceneSpec(width=320, height=180, fps=2, square=50)], ids=str)
def test_the_marker_and_counter_do_not_count_but_the_square_does(spec: SceneSpec) -> None:
    """Every frame moves the marker and changes the counter blocks; only the square is a change."""
    frames = [(t, thumbnail(f)) for t, f in decoded_frames(spec)]
    config = GateConfig()
    verdicts = {}
    for (t_ref, ref), (t, thumb) in [(a, b) for a in frames[::15] for b in frames]:
        gate = ChangeGate(config)
        gate.judged(ref, t_ref)
        decision = gate.decide(thumb, t_ref + 1.0)  # never stale here
        verdicts[(t_ref, t)] = decision.judge
        assert decision.judge == (spec.square_visible(t_ref) != spec.square_visible(t)), (t_ref, t, decision)
    assert any(verdicts.values()) and not all(verdicts.values())


def test_jpeg_noise_does_not_count() -> None:
    """The same moments re-encoded as JPEG at different qualities are not a change; the square is."""
    spec = SceneSpec()
    gate = ChangeGate()
    gate.judged(jpeg_thumbnail(scene_jpeg(spec, 10.0, quality=95)), 10.0)
    assert not gate.decide(jpeg_thumbnail(scene_jpeg(spec, 10.0, quality=40)), 11.0).judge
    assert not gate.decide(jpeg_thumbnail(scene_jpeg(spec, 14.0, quality=60)), 12.0).judge
    decision = gate.decide(jpeg_thumbnail(scene_jpeg(spec, 22.0, quality=60)), 13.0)
    assert decision.judge and decision.reason is GateReason.CHANGED
    assert decision.changed_fraction is not None and decision.changed_fraction > GateConfig().area_threshold


def test_sensitivity_is_the_knob() -> None:
    """At full sensitivity the moving marker and counter count as a change; at the default they do not."""
    spec = SceneSpec()
    [(_, first), (_, later)] = [(t, thumbnail(f)) for t, f in decoded_frames(spec, every=5.0)[:2]]
    for sensitivity, changed in ((0.5, False), (1.0, True)):
        gate = ChangeGate(GateConfig(sensitivity=sensitivity))
        gate.judged(first, 0.0)
        assert gate.decide(later, 5.0).judge is changed
    assert GateConfig(sensitivity=1.0).pixel_threshold < GateConfig().pixel_threshold
    with pytest.raises(ValueError):
        GateConfig(sensitivity=1.5)


def test_staleness_epochs_and_resolution_force_a_look() -> None:
    thumb = jpeg_thumbnail(scene_jpeg(SceneSpec(), 3.0))
    gate = ChangeGate(GateConfig(max_staleness_seconds=30.0))
    assert gate.decide(thumb, 0.0).reason is GateReason.FIRST
    gate.judged(thumb, 0.0)
    assert gate.decide(thumb, 29.0).reason is GateReason.UNCHANGED
    assert gate.decide(thumb, 30.0).reason is GateReason.STALE
    assert gate.decide(thumb, 10.0, epoch=1).reason is GateReason.FIRST  # a reconnect: look again
    assert gate.decide(jpeg_thumbnail(scene_jpeg(SceneSpec(), 3.0), width=32), 11.0).reason is GateReason.CHANGED
    gate.forget()
    assert gate.decide(thumb, 12.0).reason is GateReason.FIRST
    counts = gate.stats.as_dict()
    assert (counts["first"], counts["unchanged"], counts["stale"], counts["changed"]) == (3, 1, 1, 1)


# --- a gated run ------------------------------------------------------------------------------------------


def test_a_gated_run_finds_what_fixed_interval_finds_with_fewer_calls(settings: Settings, tmp_path: Path) -> None:
    spec = SceneSpec()
    fixed, fixed_sink = run_scene(settings, spec, tmp_path / "fixed", prefilter=False)
    gated, gated_sink = run_scene(settings, spec, tmp_path / "gated")
    assert fixed.reason is gated.reason is StopReason.SOURCE_ENDED
    found = [round(e.stream_time, 1) for e, _ in gated_sink.found]
    assert found == [round(e.stream_time, 1) for e, _ in fixed_sink.found]
    assert [round(e.stream_time) for e, _ in gated_sink.found] == [20, 50]
    # Every check point is accounted for: judged or answered from the last verdict.
    assert gated.stats.checks_performed + gated.stats.frames_skipped == fixed.stats.checks_performed == 45
    assert gated.stats.model_calls == gated.stats.checks_performed <= 6 < fixed.stats.model_calls
    assert gated.stats.gate is not None
    assert gated.stats.gate["unchanged"] == gated.stats.frames_skipped
    assert gated.stats.gate["first"] == 1 and gated.stats.gate["changed"] == 4  # square on, off, on, off
    # Results stay in stream order, reused ones included, and agree with the fixed-interval verdicts.
    times = [s.session_time for s, _ in gated_sink.checks]
    assert times == sorted(times) == [s.session_time for s, _ in fixed_sink.checks]
    for (sample, verdict), (_, truth) in zip(gated_sink.checks, fixed_sink.checks, strict=True):
        assert verdict is not None and truth is not None and verdict.match == truth.match
        assert verdict.reused == (sample.images == ())
    stats = gated.stats.as_dict()
    assert stats["frames_skipped"] == gated.stats.frames_skipped and stats["prefilter"]["unchanged"] > 30


def test_a_reused_verdict_fires_like_a_fresh_one(settings: Settings, tmp_path: Path) -> None:
    """ "Every positive check" mode: the square stays on screen, so reused verdicts fire too, with the
    current frame as evidence — the same triggers as fixed-interval checking, for one model call."""
    spec = SceneSpec(duration=20.0, events=((4.0, 20.0),))
    every = TriggerRule(max_triggers=None, once_per_appearance=False)
    _, fixed_sink = run_scene(settings, spec, tmp_path / "fixed", rule=every, prefilter=False)
    gated, gated_sink = run_scene(settings, spec, tmp_path / "gated", rule=every)
    assert [round(e.stream_time) for e, _ in gated_sink.found] == [round(e.stream_time) for e, _ in fixed_sink.found]
    assert len(gated_sink.found) == 8  # t = 4, 6, …, 18
    reused = [(e, d) for e, d in gated_sink.found if d["reused"]]
    assert len(reused) == 7 and gated.stats.checks_performed == 2  # t = 0 (no square) and t = 4
    for event, data in reused:
        assert data["images_judged"] == 1 and Path(data["frame_path"]).is_file()
        with Image.open(data["frame_path"]) as frame:
            assert frame.size == (640, 360)
        assert data["stages"][0]["match"] is True and event.confidence == data["stages"][0]["confidence"]


def test_a_failed_reference_check_is_not_reused(settings: Settings, tmp_path: Path, vlm: VLMTestServer) -> None:
    """When the judged check fails, nothing is reused from it and the next check point is judged."""
    spec = SceneSpec(duration=30.0, events=())
    vlm.add_faults({"kind": "malformed", "count": 2})  # the first check and its repair: a bad response
    try:
        result, sink = run_scene(settings, spec, tmp_path, interval_seconds=1.0)
    finally:
        vlm.stats()  # faults are consumed by now; nothing left for other tests
    stats = result.stats
    assert result.reason is StopReason.SOURCE_ENDED
    assert stats.checks_failed == 1 and stats.checks_performed >= 1
    assert stats.checks_performed + stats.checks_failed + stats.frames_skipped == 30
    assert sink.checks[0][1] is None  # the failure is reported; skipped points are not
    judged_after = [s for s, v in sink.checks[1:] if v is not None and not v.reused]
    assert judged_after, "after the failure a check point must be judged again"
