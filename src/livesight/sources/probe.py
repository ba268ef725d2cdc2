"""Answering "is this a stream I can watch?" quickly: reachable, live, codec, size, frame rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import av
import httpx

from livesight.settings import Settings
from livesight.sources.errors import NotAStream, SourceEnded, SourceError
from livesight.sources.hls import HLSReader
from livesight.sources.hub import SourceOptions, open_reader
from livesight.sources.pages import ResolvedPage, resolve_page
from livesight.sources.urls import SourceKind, classify, platform_of, redact

if TYPE_CHECKING:
    from livesight.netpolicy import NetworkPolicy


@dataclass(frozen=True)
class ProbeResult:
    """What ``POST /api/streams/validate`` and ``livesight validate`` report."""

    is_live: bool
    platform: str
    title: str | None
    parsed_url: str
    width: int | None
    height: int | None
    fps: float | None
    codec: str | None
    error_hint: str | None = None
    # Only a live page (YouTube, Twitch) tells these; an HLS or RTSP URL does not.
    stream_id: str | None = None
    channel: str | None = None
    thumbnail_url: str | None = None
    viewer_count: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "valid": self.is_live}


class RecentProbes:
    """Streams probed live a moment ago (``POST /api/prepare-stream``), so that the job or check-once that
    follows starts without probing again. Entries expire after ``ttl`` seconds: a stream live a minute ago
    is probably still live, and a job whose stream has gone since fails visibly (``error``, ``job_stopped``)."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic, size: int = 256) -> None:
        self.ttl, self._clock, self._size = ttl, clock, size
        self._seen: dict[str, tuple[float, ProbeResult]] = {}

    def remember(self, url: str, result: ProbeResult) -> None:
        self._seen.pop(url, None)
        self._seen[url] = (self._clock(), result)
        while len(self._seen) > self._size:  # oldest first: dicts keep insertion order
            self._seen.pop(next(iter(self._seen)))

    def recent(self, url: str) -> ProbeResult | None:
        entry = self._seen.get(url)
        if entry is None:
            return None
        if self._clock() - entry[0] > self.ttl:
            self._seen.pop(url, None)
            return None
        return entry[1]


def probe(url: str, settings: Settings, policy: NetworkPolicy | None = None) -> ProbeResult:
    """Open ``url`` and decode its first frame. Blocking; raises :class:`SourceError` when it can't.

    With a ``policy`` (the server's), every address contacted, redirects included, is checked first.
    """
    kind = classify(url)
    page: ResolvedPage | None = None
    target = url
    if kind is SourceKind.PAGE:
        page = resolve_page(url)
        target = page.stream_url
    stop = threading.Event()
    if policy is not None:
        from livesight.netpolicy import guarded_client

        policy.check_url_sync(target)
        client = guarded_client(policy, follow_redirects=True, timeout=settings.read_timeout_seconds)
    else:
        client = httpx.Client(follow_redirects=True, timeout=settings.read_timeout_seconds)
    with client:
        reader, live = open_reader(target, settings, SourceOptions(realtime=False), client, stop)
        decoder: av.VideoCodecContext | None = None
        try:
            for demuxed in reader.packets():
                if isinstance(reader, HLSReader) and live is None:
                    live = reader.live
                if decoder is None:
                    decoder = cast("av.VideoCodecContext", av.CodecContext.create(demuxed.info.codec, "r"))
                    if demuxed.info.extradata:
                        decoder.extradata = demuxed.info.extradata
                try:
                    frames = decoder.decode(demuxed.packet)
                except av.error.FFmpegError:
                    continue
                if frames:
                    info = demuxed.info
                    return ProbeResult(
                        is_live=bool(live),
                        platform=platform_of(url),
                        title=page.title if page else None,
                        parsed_url=redact(target),
                        width=info.width,
                        height=info.height,
                        fps=round(info.fps, 3) if info.fps else None,
                        codec=info.codec,
                        error_hint=None if live else "Not live: it will be replayed as a file.",
                        stream_id=page.stream_id if page else None,
                        channel=page.channel if page else None,
                        thumbnail_url=page.thumbnail_url if page else None,
                        viewer_count=page.viewer_count if page else None,
                    )
        except SourceEnded:
            pass
        except SourceError:
            raise
        finally:
            stop.set()
            reader.close()
    raise NotAStream(f"{redact(url)} delivered no decodable video.")
