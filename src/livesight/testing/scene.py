"""Synthetic test video: a quiet grey scene in which a coloured square appears at known times.

The scene is real H.264 (libx264 via PyAV, no ``ffmpeg`` binary) so every layer above it — demuxing, decoding,
sampling, JPEG encoding, the model — runs on genuine video. Everything in the picture except the square is
neutral grey (zero chroma), so a colour detector sees the square and nothing else, even after JPEG artefacts.

Besides the square each frame carries:

* a light-grey marker that moves along the top, so consecutive frames differ (real motion, real P-frames);
* a row of 16 black/white blocks along the bottom encoding the frame number in binary, so a test can tell
  from the pixels alone which frame it is looking at (see :func:`frame_index_from_image`).

Frame ``n`` is shown at ``t = n / fps``; the square is visible exactly when ``start <= t < end`` for one of
``SceneSpec.events``. Generated HLS segments carry PTS starting at 0 (90 kHz clock, no B-frames, so
``pts == dts``) and are continuous across segments: segment ``k`` starts at ``k * segment_seconds``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

SceneKind = Literal["hls", "mp4", "ts"]

# Bump when the picture or the encoding changes, so caches from older code are not reused.
_GENERATOR_VERSION = 1

_COUNTER_BITS = 16
_BACKGROUND_LUMA = 48
_MARKER_LUMA = 190
_BIT_ON_LUMA = 235
_BIT_OFF_LUMA = 16


@dataclass(frozen=True)
class SceneSpec:
    """What to generate: size, frame rate, length, and when the coloured square is visible.

    ``events`` are ``(start, end)`` intervals in seconds; the square of ``color`` (RGB) and side ``square``
    pixels is centred in the frame for every frame whose time ``n / fps`` lies in ``[start, end)``.
    ``segment_seconds`` is both the GOP length and the HLS segment length, so ``fps * segment_seconds`` must
    be a whole number of frames.
    """

    width: int = 640
    height: int = 360
    fps: int = 10
    duration: float = 90.0
    events: tuple[tuple[float, float], ...] = ((20.0, 28.0), (50.0, 58.0))
    color: tuple[int, int, int] = (230, 20, 20)
    #: More appearances of the square in other colours: ``(start, end, (r, g, b))`` (``events`` win on overlap).
    coloured: tuple[tuple[float, float, tuple[int, int, int]], ...] = ()
    square: int = 100
    segment_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even (yuv420p)")
        if self.fps <= 0 or self.duration <= 0:
            raise ValueError("fps and duration must be positive")
        gop = self.fps * self.segment_seconds
        if gop < 1 or abs(gop - round(gop)) > 1e-9:
            raise ValueError("fps * segment_seconds must be a whole number of frames")
        if self.square > min(self.width, self.height):
            raise ValueError("square does not fit in the frame")
        for start, end in self.events:
            if end <= start:
                raise ValueError(f"event ({start}, {end}) ends before it starts")

    @property
    def frame_count(self) -> int:
        return round(self.duration * self.fps)

    @property
    def gop(self) -> int:
        """Frames per GOP (and per HLS segment)."""
        return round(self.fps * self.segment_seconds)

    def frame_time(self, n: int) -> float:
        return n / self.fps

    def square_visible(self, t: float) -> bool:
        """Whether the square (of ``color``) is in the frame shown at time ``t`` (seconds)."""
        return any(start <= t < end for start, end in self.events)

    def square_colour(self, t: float) -> tuple[int, int, int] | None:
        """The colour of the square shown at time ``t``, if one is."""
        if self.square_visible(t):
            return self.color
        return next((rgb for start, end, rgb in self.coloured if start <= t < end), None)

    def cache_key(self) -> str:
        fields = dataclasses.asdict(self)
        if not self.coloured:
            del fields["coloured"]  # scenes from before it existed keep their cache key
        payload = json.dumps({"v": _GENERATOR_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SegmentInfo:
    """One HLS segment: file name, duration and start time (seconds on the scene's timeline)."""

    name: str
    duration: float
    start: float

    @property
    def end(self) -> float:
        return self.start + self.duration


# --- rendering -------------------------------------------------------------------------------------------


def _rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    # BT.601 limited range: what decoders assume for untagged yuv420p, so the square decodes back to `color`.
    r, g, b = (c / 255.0 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def _even(x: float) -> int:
    return int(x) // 2 * 2


class _Layout:
    """Pixel positions of the scene's elements, as fractions-derived integers for one frame size."""

    def __init__(self, spec: SceneSpec) -> None:
        w, h = spec.width, spec.height
        self.bit = max(4, _even(w / 40))
        self.margin = max(2, _even(self.bit / 2))
        self.counter_y = h - self.margin - self.bit
        self.marker = max(4, _even(h / 15))
        self.marker_y = self.margin
        self.square_x = _even((w - spec.square) / 2)
        self.square_y = _even((h - spec.square) / 2)
        self.square = _even(spec.square)

    def bit_x(self, i: int) -> int:
        # Most significant bit first, left to right.
        return self.margin + i * self.bit


@functools.lru_cache(maxsize=8)
def _background(spec: SceneSpec) -> npt.NDArray[np.uint8]:
    # A faint fixed texture (neutral luma only) so the encoder has something to code, like a real wall.
    rng = np.random.default_rng(1234)
    texture = rng.integers(-5, 6, size=(spec.height // 8 + 1, spec.width // 8 + 1))
    texture = np.kron(texture, np.ones((8, 8), dtype=np.int64))[: spec.height, : spec.width]
    luma = np.clip(_BACKGROUND_LUMA + texture, 16, 235).astype(np.uint8)
    luma.setflags(write=False)
    return luma


def render_frame(spec: SceneSpec, n: int) -> av.VideoFrame:
    """Frame ``n`` of the scene as a yuv420p :class:`av.VideoFrame` with ``pts = n`` (time base ``1/fps``)."""
    layout = _Layout(spec)
    w, h = spec.width, spec.height
    y_plane = _background(spec).copy()  # the cached background is shared: never draw on it
    u_plane = np.full((h // 2, w // 2), 128, dtype=np.uint8)
    v_plane = np.full((h // 2, w // 2), 128, dtype=np.uint8)

    travel = max(1, w - layout.marker - 2 * layout.margin)
    mx = layout.margin + (n * 4) % travel
    y_plane[layout.marker_y : layout.marker_y + layout.marker, mx : mx + layout.marker] = _MARKER_LUMA

    for i in range(_COUNTER_BITS):
        on = (n >> (_COUNTER_BITS - 1 - i)) & 1
        x = layout.bit_x(i)
        y_plane[layout.counter_y : layout.counter_y + layout.bit, x : x + layout.bit] = (
            _BIT_ON_LUMA if on else _BIT_OFF_LUMA
        )

    colour = spec.square_colour(spec.frame_time(n))
    if colour is not None:
        yy, uu, vv = _rgb_to_yuv(colour)
        sx, sy, s = layout.square_x, layout.square_y, layout.square
        y_plane[sy : sy + s, sx : sx + s] = yy
        u_plane[sy // 2 : (sy + s) // 2, sx // 2 : (sx + s) // 2] = uu
        v_plane[sy // 2 : (sy + s) // 2, sx // 2 : (sx + s) // 2] = vv

    frame = av.VideoFrame.from_ndarray(
        np.concatenate([y_plane, u_plane.reshape(-1, w), v_plane.reshape(-1, w)]), format="yuv420p"
    )
    frame.pts = n
    frame.time_base = Fraction(1, spec.fps)
    return frame


def scene_jpeg(spec: SceneSpec, t: float, size: tuple[int, int] | None = None, quality: int = 85) -> bytes:
    """The frame shown at ``t`` as JPEG bytes, optionally resized to ``size`` — what a judge would send."""
    image = Image.fromarray(render_frame(spec, round(t * spec.fps)).to_ndarray(format="rgb24"))
    if size is not None:
        image = image.resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def frame_index_from_image(image: npt.NDArray[np.uint8], spec: SceneSpec | None = None) -> int:
    """Read the frame number back from the counter blocks of a decoded RGB (H×W×3) or grey (H×W) picture.

    Works on downscaled and JPEG-compressed frames: block positions are scaled from ``spec``'s size to the
    image's size, and each block is judged by the mean brightness of its middle.
    """
    spec = spec or SceneSpec()
    layout = _Layout(spec)
    grey = image.mean(axis=2) if image.ndim == 3 else image.astype(np.float64)
    sy = grey.shape[0] / spec.height
    sx = grey.shape[1] / spec.width
    value = 0
    for i in range(_COUNTER_BITS):
        cx = (layout.bit_x(i) + layout.bit / 2) * sx
        cy = (layout.counter_y + layout.bit / 2) * sy
        r = max(1.0, layout.bit * min(sx, sy) / 4)
        patch = grey[int(cy - r) : int(cy + r) + 1, int(cx - r) : int(cx + r) + 1]
        value = (value << 1) | int(patch.mean() > 128)
    return value


# --- encoding --------------------------------------------------------------------------------------------


def _encoder_options(spec: SceneSpec) -> dict[str, str]:
    gop = str(spec.gop)
    # A keyframe exactly every segment_seconds and never anywhere else, so every segment is independently
    # decodable and exactly segment_seconds long. ultrafast also means no B-frames (pts == dts).
    return {"preset": "ultrafast", "g": gop, "keyint_min": gop, "sc_threshold": "0", "bf": "0"}


def _encode_into(container: av.container.OutputContainer, spec: SceneSpec) -> None:
    stream = container.add_stream("libx264", rate=spec.fps, options=_encoder_options(spec))
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, spec.fps)
    for n in range(spec.frame_count):
        for packet in stream.encode(render_frame(spec, n)):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_hls(spec: SceneSpec, out_dir: str | os.PathLike[str]) -> list[SegmentInfo]:
    """Write the scene as MPEG-TS segments ``seg00000.ts``, … plus a VOD ``index.m3u8`` into ``out_dir``.

    Every segment starts with a keyframe and lasts exactly ``segment_seconds`` (the last one may be shorter
    when ``duration`` is not a multiple). PTS start at 0 and run on across segments.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = {
        "hls_time": f"{spec.segment_seconds:g}",
        "hls_list_size": "0",
        "hls_playlist_type": "vod",
        "hls_segment_type": "mpegts",
        "hls_segment_filename": str(out / "seg%05d.ts"),
        "hls_flags": "independent_segments",
        "start_number": "0",
    }
    with av.open(str(out / "index.m3u8"), "w", format="hls", options=options) as container:
        _encode_into(container, spec)
    return read_segments(out)


def read_segments(hls_dir: str | os.PathLike[str], playlist: str = "index.m3u8") -> list[SegmentInfo]:
    """Segments listed in a VOD media playlist written by :func:`write_hls`, with cumulative start times."""
    segments: list[SegmentInfo] = []
    start = 0.0
    duration: float | None = None
    for raw in (Path(hls_dir) / playlist).read_text().splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#"):
            if duration is None:
                raise ValueError(f"segment {line} has no #EXTINF")
            segments.append(SegmentInfo(name=line, duration=duration, start=start))
            start += duration
            duration = None
    return segments


def write_file(spec: SceneSpec, path: str | os.PathLike[str]) -> Path:
    """Write the whole scene as one file; the container (``.mp4`` or ``.ts``) follows the suffix."""
    target = Path(path)
    formats = {".mp4": "mp4", ".ts": "mpegts", ".mkv": "matroska"}
    fmt = formats.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported suffix {target.suffix!r}; use one of {sorted(formats)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(target), "w", format=fmt) as container:
        _encode_into(container, spec)
    return target


def h264_codecs_string(ts_path: str | os.PathLike[str]) -> str:
    """The RFC 6381 ``avc1.PPCCLL`` string for an Annex-B H.264 stream, read from its first SPS."""
    data = b""
    with av.open(str(ts_path)) as container:
        for packet in container.demux(video=0):
            data = bytes(packet)
            break
    i = 0
    while (i := data.find(b"\x00\x00\x01", i)) >= 0:
        if i + 6 < len(data) and data[i + 3] & 0x1F == 7:
            return "avc1." + data[i + 4 : i + 7].hex().upper()
        i += 3
    return "avc1.42E01E"  # baseline 3.0: a safe guess if no SPS is found


# --- caching ---------------------------------------------------------------------------------------------

_cache_locks: dict[str, threading.Lock] = {}
_cache_locks_guard = threading.Lock()


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "livesight-scenes"


def cached_scene(spec: SceneSpec | None = None, kind: SceneKind = "hls", cache_dir: Path | None = None) -> Path:
    """Generate ``spec`` once and reuse it: returns the HLS directory (``kind="hls"``) or the file.

    Output lives under ``cache_dir`` (default ``$TMPDIR/livesight-scenes``) keyed by a hash of the spec and
    the generator version. It is built in a scratch directory and renamed into place, so concurrent
    processes never see a half-written scene.
    """
    spec = spec or SceneSpec()
    root = cache_dir or default_cache_dir()
    final = root / f"{kind}-{spec.cache_key()}"
    result = final if kind == "hls" else final / f"scene.{kind}"
    if result.exists():
        return result
    with _cache_locks_guard:
        lock = _cache_locks.setdefault(str(final), threading.Lock())
    with lock:
        if result.exists():
            return result
        root.mkdir(parents=True, exist_ok=True)
        scratch = root / f".tmp-{uuid.uuid4().hex}"
        try:
            if kind == "hls":
                write_hls(spec, scratch)
            else:
                write_file(spec, scratch / f"scene.{kind}")
            (scratch / "spec.json").write_text(json.dumps(dataclasses.asdict(spec)))
            try:
                os.rename(scratch, final)
            except OSError:
                # Another process finished first; its copy is identical.
                if not result.exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return result
