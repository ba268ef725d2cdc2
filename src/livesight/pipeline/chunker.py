"""Cutting the session timeline into chunks at keyframes, and writing each chunk to disk."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import av

from livesight.types import Chunk, ChunkStatus, EncodedPacket, StreamInfo, new_id

log = logging.getLogger(__name__)

# Codecs an HLS player takes in MPEG-TS as they are; anything else is re-encoded to H.264.
REMUX_CODECS = {"h264", "hevc"}
_SPANS_KEPT = 64


@dataclass
class PendingChunk:
    """A chunk whose packets are all known; ``write_chunk`` puts it on disk."""

    chunk_id: str
    index: int
    start_time: float
    end_time: float
    discontinuity: bool
    pts_offset: float  # source PTS time minus session time inside this chunk
    packets: list[EncodedPacket] = field(default_factory=list)

    def to_chunk(self, path: str | None, status: ChunkStatus) -> Chunk:
        return Chunk(self.chunk_id, self.index, self.start_time, self.end_time, path, status, self.discontinuity)


@dataclass(frozen=True)
class ChunkSpan:
    chunk_id: str
    index: int
    start_time: float
    pts_offset: float


class Chunker:
    """Starts a new chunk at the first keyframe at or after ``start + chunk_seconds``, and at every
    discontinuity (a new epoch), so each chunk is independently decodable and can be remuxed."""

    def __init__(self, chunk_seconds: float, first_index: int = 0) -> None:
        self.chunk_seconds = chunk_seconds
        self._open: PendingChunk | None = None
        self._epoch: int | None = None
        self._next_index = first_index
        self._resumed = first_index > 0  # the first chunk after a restart follows a break
        self._last_time = 0.0
        self._frame_duration = 0.04
        # The latest chunks, for :meth:`span_at` (results arrive a little after their frames); bounded, as
        # a run may go on for days.
        self.spans: deque[ChunkSpan] = deque(maxlen=_SPANS_KEPT)

    def add(self, packet: EncodedPacket) -> PendingChunk | None:
        """Add a packet; returns the chunk it closed, if any."""
        closed: PendingChunk | None = None
        current = self._open
        new_epoch = self._epoch is not None and packet.info.epoch != self._epoch
        if packet.is_keyframe and (
            current is None
            or new_epoch
            or packet.session_time >= current.start_time + self.chunk_seconds - self._frame_duration / 2
        ):
            if current is not None:
                current.end_time = packet.session_time  # chunks tile the timeline with no holes
                closed = current
            self._start(packet, discontinuity=new_epoch or self._resumed)
            self._resumed = False
        elif current is None:
            return None  # nothing decodable before the first keyframe
        assert self._open is not None
        self._open.packets.append(packet)
        if packet.info.fps:
            self._frame_duration = 1.0 / packet.info.fps
        self._epoch = packet.info.epoch
        self._last_time = max(self._last_time, packet.session_time)
        return closed

    def _start(self, packet: EncodedPacket, *, discontinuity: bool) -> None:
        start = packet.session_time
        pts = packet.pts if packet.pts is not None else packet.dts
        pts_time = float(pts * packet.time_base) if pts is not None else packet.session_time
        index = self._next_index
        self._next_index += 1
        self._open = PendingChunk(new_id("chk"), index, start, start, discontinuity, pts_time - packet.session_time)
        self.spans.append(ChunkSpan(self._open.chunk_id, index, start, self._open.pts_offset))

    def finish(self) -> PendingChunk | None:
        """Close the open chunk at the end of the source."""
        current, self._open = self._open, None
        if current is None or not current.packets:
            return None
        current.end_time = self._last_time + self._frame_duration
        return current

    def span_at(self, session_time: float) -> ChunkSpan | None:
        """The chunk (open or closed) that contains ``session_time``."""
        found = None
        for span in reversed(self.spans):
            if span.start_time <= session_time + 1e-6:
                found = span
                break
        return found or (self.spans[0] if self.spans else None)


def write_chunk(chunk: PendingChunk, path: Path) -> Path:
    """Write ``chunk`` as MPEG-TS: remuxed when H.264/H.265, re-encoded to H.264 otherwise.

    Timestamps are rewritten onto the session timeline so the recording's clock is the session's.
    Blocking: run it in a worker thread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    info = chunk.packets[0].info
    if info.codec in REMUX_CODECS:
        _remux(chunk, info, tmp)
    else:
        _reencode(chunk, info, tmp)
    tmp.replace(path)
    return path


_TS_TB = 90_000
# MPEG-TS players dislike PTS 0 with B-frames (negative DTS); start the session clock a little later.
_TS_ORIGIN = 1.4


def _ts(seconds: float) -> int:
    return round((seconds + _TS_ORIGIN) * _TS_TB)


def _remux(chunk: PendingChunk, info: StreamInfo, path: Path) -> None:
    from fractions import Fraction

    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_mux_stream(info.codec, width=info.width, height=info.height, time_base=Fraction(1, _TS_TB))
        for p in chunk.packets:
            data = p.data
            if p.is_keyframe and info.extradata and not has_parameter_sets(data, info.codec):
                # RTSP carries SPS/PPS out of band (SDP); a TS segment must carry them in band.
                data = info.extradata + data
            packet = av.Packet(data)
            pts_delta = p.session_time - _packet_time(p, p.pts)
            packet.pts = _ts(p.session_time)
            packet.dts = _ts(_packet_time(p, p.dts) + pts_delta) if p.dts is not None else packet.pts
            packet.time_base = Fraction(1, _TS_TB)
            packet.is_keyframe = p.is_keyframe
            packet.stream = stream
            out.mux(packet)


def _packet_time(p: EncodedPacket, ts: int | None) -> float:
    if ts is None:
        return p.session_time
    return float(ts * p.time_base)


def _reencode(chunk: PendingChunk, info: StreamInfo, path: Path) -> None:
    decoder = cast("av.VideoCodecContext", av.CodecContext.create(info.codec, "r"))
    if info.extradata:
        decoder.extradata = info.extradata
    with av.open(str(path), "w", format="mpegts") as out:
        fps = round(info.fps or 25)
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "tune": "zerolatency"})
        stream.width = info.width - info.width % 2
        stream.height = info.height - info.height % 2
        stream.pix_fmt = "yuv420p"
        from fractions import Fraction

        stream.codec_context.time_base = Fraction(1, _TS_TB)
        origin = chunk.packets[0]
        pts_shift = origin.session_time - _packet_time(origin, origin.pts)
        for p in chunk.packets:
            packet = av.Packet(p.data)
            packet.pts, packet.dts, packet.time_base = p.pts, p.dts, p.time_base
            try:
                frames = decoder.decode(packet)
            except av.error.FFmpegError:
                continue
            for frame in frames:
                _encode(out, stream, frame, info, pts_shift)
        for frame in decoder.decode(None):
            _encode(out, stream, frame, info, pts_shift)
        for packet in stream.encode(None):
            out.mux(packet)


def _encode(
    out: av.container.OutputContainer, stream: av.VideoStream, frame: av.VideoFrame, info: StreamInfo, pts_shift: float
) -> None:
    t = float(frame.pts * (frame.time_base or info.time_base)) + pts_shift if frame.pts is not None else 0.0
    image = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
    image.pts = _ts(t)
    image.time_base = stream.codec_context.time_base
    for packet in stream.encode(image):
        out.mux(packet)


def has_parameter_sets(data: bytes, codec: str) -> bool:
    """Whether an Annex-B access unit carries its SPS (H.264) or VPS (H.265)."""
    wanted = 7 if codec == "h264" else 32
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        header = data[i + 3]
        nal_type = header & 0x1F if codec == "h264" else (header >> 1) & 0x3F
        if nal_type == wanted:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False
