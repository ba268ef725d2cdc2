"""Opening sources with PyAV and mapping FFmpeg's errors to ours."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import av
import av.bitstream
import av.error

from livesight.sources.errors import NotAStream, SourceEnded, SourceError, SourceOffline, TransientSourceError
from livesight.sources.urls import redact, redact_text
from livesight.types import StreamInfo

log = logging.getLogger(__name__)


@dataclass
class DemuxedPacket:
    """A packet as read, before the hub places it on the timeline."""

    packet: av.Packet[Any]
    info: StreamInfo
    pts_time: float | None
    discontinuity: bool = False


def stream_info(stream: av.video.stream.VideoStream) -> StreamInfo:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return StreamInfo(
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        fps=float(rate) if rate else None,
        time_base=stream.time_base or Fraction(1, 90000),
        extradata=bytes(ctx.extradata) if ctx.extradata else None,
    )


def map_av_error(exc: BaseException, url: str) -> SourceError:
    """Turn an FFmpeg/OS error into a source error with a readable, credential-free message."""
    if isinstance(exc, SourceError):
        return exc
    safe = redact(url)
    # FFmpeg's own wording, without its "[Errno 1094995529] …: '<url>'" wrapping: the URL is named already,
    # and errno numbers mean nothing to a user. The whole text goes to the debug log.
    log.debug("reading %s failed: %s", safe, redact_text(str(exc)))
    strerror = getattr(exc, "strerror", None)
    text = redact_text(strerror if isinstance(strerror, str) and strerror else str(exc))
    if isinstance(exc, av.error.HTTPNotFoundError | FileNotFoundError | av.error.FileNotFoundError):
        return SourceOffline(f"{safe} was not found (404).")
    if isinstance(exc, av.error.HTTPForbiddenError | av.error.HTTPUnauthorizedError):
        return SourceOffline(
            f"{safe} refused access ({text}).", remediation="Check the credentials or token in the URL."
        )
    if isinstance(exc, av.error.HTTPError | av.error.HTTPServerError | av.error.HTTPClientError):
        return TransientSourceError(f"{safe} answered with an HTTP error: {text}")
    if isinstance(exc, av.error.ConnectionRefusedError | ConnectionRefusedError):
        return SourceOffline(f"Connection to {safe} was refused.")
    if isinstance(exc, av.error.InvalidDataError):
        return NotAStream(f"{safe} is not video LiveSight can read: a web page, or a format FFmpeg does not know.")
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return TransientSourceError(f"Timed out reading {safe}.")
    if isinstance(exc, av.error.ConnectionResetError | av.error.EOFError | ConnectionError | OSError):
        return TransientSourceError(f"Lost the connection to {safe}: {text}")
    return TransientSourceError(f"Reading {safe} failed: {text}")


class AVReader:
    """RTSP(S), files and other FFmpeg-readable URLs, opened as one container."""

    def __init__(
        self,
        url: str,
        *,
        live: bool,
        open_timeout: float,
        read_timeout: float,
        realtime: bool = True,
        options: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.live = live
        self.realtime = realtime
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.options = dict(options or {})
        if url.lower().startswith(("rtsp://", "rtsps://")):
            self.options.setdefault("rtsp_transport", "tcp")
            # FFmpeg probes 5 s of an RTSP stream by default before the first packet; 1 s is plenty
            # for a camera and makes reconnects quicker.
            self.options.setdefault("analyzeduration", "1000000")
        self._container: av.container.InputContainer | None = None
        self._pace_origin: tuple[float, float] | None = None

    def packets(self) -> Iterator[DemuxedPacket]:
        try:
            container = av.open(self.url, options=self.options, timeout=(self.open_timeout, self.read_timeout))
        except Exception as exc:
            raise map_av_error(exc, self.url) from None
        self._container = container
        try:
            if not container.streams.video:
                raise NotAStream(f"{redact(self.url)} has no video stream.")
            stream = container.streams.video[0]
            info = stream_info(stream)
            if not info.width:
                raise NotAStream(f"{redact(self.url)} has a video stream FFmpeg cannot decode.")
            bsf = None
            if info.codec in ("h264", "hevc") and info.extradata and info.extradata[0] == 1:
                # MP4-style (length-prefixed) packets: convert to Annex-B, which TS recording and our
                # decoder both take, with parameter sets in band at every keyframe.
                bsf = av.bitstream.BitStreamFilterContext(f"{info.codec}_mp4toannexb", stream)
                info = replace(info, extradata=None)
            self._pace_origin = None
            try:
                for raw in container.demux(stream):
                    if raw.size == 0:
                        continue
                    for packet in bsf.filter(raw) if bsf is not None else (raw,):
                        yield from self._paced(packet, info)
            except SourceError:
                raise
            except Exception as exc:
                raise map_av_error(exc, self.url) from None
        finally:
            self.close()
        if self.live:
            raise TransientSourceError(f"{redact(self.url)} ended (a live source is reconnected).")
        raise SourceEnded()

    def _paced(self, packet: av.Packet[Any], info: StreamInfo) -> Iterator[DemuxedPacket]:
        ts = packet.pts if packet.pts is not None else packet.dts
        pts_time = float(ts * packet.time_base) if ts is not None else None
        if self.realtime and not self.live and pts_time is not None:
            # Replay a file at the pace it was recorded, as a camera would deliver it.
            if self._pace_origin is None:
                self._pace_origin = (time.monotonic(), pts_time)
            wall_start, first_pts = self._pace_origin
            ahead = (pts_time - first_pts) - (time.monotonic() - wall_start)
            while ahead > 0.002:
                time.sleep(min(ahead, 0.5))
                ahead = (pts_time - first_pts) - (time.monotonic() - wall_start)
        yield DemuxedPacket(packet, info, pts_time)

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # closing a broken connection must not mask the original error
                pass
