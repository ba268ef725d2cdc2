"""The synthetic scene: exact segments, continuous PTS, and the square exactly when the spec says."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from livesight.testing import SceneSpec, cached_scene, frame_index_from_image, read_segments, scene_jpeg, write_file
from livesight.testing._vision import colour_fraction


def _centre_rgb(image: np.ndarray) -> tuple[int, int, int]:
    h, w, _ = image.shape
    r, g, b = image[h // 2, w // 2]
    return int(r), int(g), int(b)


def _decode_segment(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def test_hls_segments_are_exact_keyframe_aligned_and_continuous(default_hls: Path) -> None:
    spec = SceneSpec()
    segments = read_segments(default_hls)
    assert [s.name for s in segments[:2]] == ["seg00000.ts", "seg00001.ts"]
    assert len(segments) == 45
    assert all(s.duration == 2.0 for s in segments)
    assert [s.start for s in segments] == [2.0 * k for k in range(45)]

    for k in (0, 1, 22, 44):
        with av.open(str(default_hls / segments[k].name)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.size]
            assert packets[0].is_keyframe
            assert not any(p.is_keyframe for p in packets[1:])  # exactly one GOP per segment
            assert len(packets) == spec.gop
            # PTS origin is 0 and runs on across segments (90 kHz clock, no B-frames).
            assert packets[0].pts is not None and packets[0].pts * stream.time_base == segments[k].start
            assert all(p.pts == p.dts for p in packets)


@pytest.mark.parametrize(
    ("t", "visible"),
    [(19.9, False), (20.0, True), (27.9, True), (28.0, False), (49.9, False), (50.0, True), (58.0, False)],
)
def test_square_is_visible_exactly_during_events(default_hls: Path, t: float, visible: bool) -> None:
    segment = default_hls / f"seg{int(t // 2):05d}.ts"
    [image] = [image for time, image in _decode_segment(segment) if abs(time - t) < 1e-6]
    r, g, b = _centre_rgb(image)
    if visible:
        assert r > 200 and g < 50 and b < 50
    else:
        assert max(r, g, b) - min(r, g, b) < 10  # neutral grey, no colour at all
    assert frame_index_from_image(image) == round(t * 10)


def test_every_decoded_frame_matches_the_spec(short_hls: Path, short_spec: SceneSpec) -> None:
    seen = []
    for segment in read_segments(short_hls):
        for t, image in _decode_segment(short_hls / segment.name):
            n = frame_index_from_image(image, short_spec)
            seen.append(n)
            assert n == round(t * short_spec.fps)
            has_red = colour_fraction(Image.fromarray(image), "red") > 0.01
            assert has_red == short_spec.square_visible(t), f"frame {n} at t={t}"
    assert seen == list(range(short_spec.frame_count))


@pytest.mark.parametrize("suffix", [".mp4", ".ts"])
def test_write_file_holds_the_whole_scene(tmp_path: Path, suffix: str) -> None:
    spec = SceneSpec(duration=4.0, events=((1.0, 2.0),), color=(20, 40, 230))
    path = write_file(spec, tmp_path / f"scene{suffix}")
    with av.open(str(path)) as container:
        frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert [round(t * 10) for t, _ in frames] == list(range(40))
    assert frames[0][0] == 0.0
    for t, image in frames:
        assert (colour_fraction(Image.fromarray(image), "blue") > 0.01) == (1.0 <= t < 2.0)


def test_cached_scene_is_generated_once_per_spec(tmp_path: Path) -> None:
    spec = SceneSpec(duration=2.0, events=())
    first = cached_scene(spec, "ts", cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    again = cached_scene(spec, "ts", cache_dir=tmp_path)
    other = cached_scene(SceneSpec(duration=2.0, events=((0.0, 1.0),)), "ts", cache_dir=tmp_path)
    hls = cached_scene(spec, "hls", cache_dir=tmp_path)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert other != first and other.is_file()
    assert hls.is_dir() and [s.name for s in read_segments(hls)] == ["seg00000.ts"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_frame_counter_survives_jpeg_and_downscaling() -> None:
    spec = SceneSpec()
    for t in (0.0, 12.3, 20.0, 89.9):
        jpeg = scene_jpeg(spec, t, size=(320, 180), quality=60)
        image = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        assert frame_index_from_image(image, spec) == round(t * 10)


@pytest.mark.parametrize(
    "kwargs",
    [{"fps": 10, "segment_seconds": 0.15}, {"width": 641}, {"events": ((5.0, 4.0),)}, {"square": 400}],
)
def test_invalid_specs_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SceneSpec(**kwargs)  # type: ignore[arg-type]
