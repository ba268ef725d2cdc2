"""Following an HLS playlist ourselves: fetch the playlist, fetch new segments, demux each with PyAV.

We do not use FFmpeg's HLS demuxer for live streams: it ends silently when a playlist stalls, skips
ahead without telling, and joins three segments behind the live edge. Fetching segments ourselves
gives exact control over where we start, what we skipped (recorded as a discontinuity), timeouts,
and which addresses we connect to (the HTTP client carries the network policy).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin

import av
import httpx
import m3u8

from livesight.sources._av import DemuxedPacket, stream_info
from livesight.sources.errors import NotAStream, NotLive, SourceEnded, SourceOffline, TransientSourceError
from livesight.sources.urls import redact

log = logging.getLogger(__name__)

StartAt = Literal["live_edge", "first"]


@dataclass(frozen=True)
class Variant:
    url: str
    bandwidth: int | None
    resolution: tuple[int, int] | None


def choose_variant(variants: list[Variant], max_height: int = 1080) -> Variant:
    """The highest variant at or under ``max_height`` (analysis needs no more), else the smallest."""

    def height(v: Variant) -> int:
        return v.resolution[1] if v.resolution else 0

    fitting = [v for v in variants if height(v) <= max_height]
    pool = fitting or sorted(variants, key=height)[:1]
    return max(pool, key=lambda v: (height(v), v.bandwidth or 0))


def parse_playlist(text: str, url: str) -> m3u8.M3U8:
    """Parse playlist text; anything malformed is :class:`NotAStream`, never another exception."""
    if "#EXTM3U" not in text[:1024]:
        raise NotAStream(f"{redact(url)} is not an HLS playlist.")
    try:
        playlist = m3u8.loads(text, uri=url)
        # Touch what the reader uses, so lazy parsing errors surface here too.
        for segment in playlist.segments:
            _ = (segment.absolute_uri, segment.duration, segment.discontinuity)
        for variant in playlist.playlists:
            _ = (variant.uri, variant.stream_info.bandwidth, variant.stream_info.resolution)
        _ = (playlist.media_sequence, playlist.target_duration, playlist.is_endlist, playlist.playlist_type)
    except Exception as exc:  # m3u8 raises ValueError, IndexError, AttributeError… on hostile input
        raise NotAStream(f"{redact(url)} is not a valid HLS playlist ({type(exc).__name__}).") from None
    return playlist


class HLSReader:
    """Reads an HLS media playlist segment by segment; one instance lives across reconnects.

    ``packets()`` may be called again after it raised :class:`TransientSourceError`; it resumes at the
    next segment when that segment is still listed, or at the live edge with a discontinuity.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client,
        start_at: StartAt = "live_edge",
        read_timeout: float = 10.0,
        stop: threading.Event | None = None,
        resolve: Callable[[], str] | None = None,
        require_live: bool = False,
    ) -> None:
        self.url = url
        self.client = client
        self.start_at = start_at
        self.read_timeout = read_timeout
        self.stop = stop or threading.Event()
        self.resolve = resolve
        self.require_live = require_live
        self.live: bool | None = None
        self.title: str | None = None
        self._media_url: str | None = None
        self._next_seq: int | None = None
        self._pending_discontinuity = False
        self._init_cache: dict[str, bytes] = {}
        self.segments_fetched = 0
        self.segments_skipped = 0

    # -- playlist ---------------------------------------------------------------------------
    def _get(self, url: str) -> httpx.Response:
        try:
            response = self.client.get(url, timeout=self.read_timeout)
        except httpx.TimeoutException:
            raise TransientSourceError(f"Timed out fetching {redact(url)}.") from None
        except httpx.HTTPError as exc:
            raise TransientSourceError(f"Could not fetch {redact(url)}: {type(exc).__name__}.") from None
        return response

    def _load_playlist(self) -> m3u8.M3U8:
        url = self._media_url or self.url
        response = self._get(url)
        if response.status_code in (403, 410) and self.resolve is not None:
            # Signed page-derived URLs expire: resolve the page again and retry once.
            self.url = self.resolve()
            self._media_url = None
            url = self.url
            response = self._get(url)
        if response.status_code == 404:
            raise SourceOffline(f"{redact(url)} was not found (404).")
        if response.status_code >= 400:
            raise TransientSourceError(f"{redact(url)} answered HTTP {response.status_code}.")
        text = response.text
        playlist = parse_playlist(text, str(response.url))
        if playlist.is_variant:
            variants = [
                Variant(urljoin(str(response.url), p.uri), p.stream_info.bandwidth, p.stream_info.resolution)
                for p in playlist.playlists
            ]
            if not variants:
                raise NotAStream(f"{redact(url)} is a master playlist without variants.")
            self._media_url = choose_variant(variants).url
            return self._load_playlist()
        self._media_url = str(response.url)
        return playlist

    # -- segments ---------------------------------------------------------------------------
    def packets(self) -> Iterator[DemuxedPacket]:
        playlist = self._load_playlist()
        is_live = not playlist.is_endlist and (playlist.playlist_type or "").upper() != "VOD"
        if self.live is None:
            self.live = is_live
            if self.require_live and not is_live:
                raise NotLive(f"{redact(self.url)} is a finished (VOD) playlist, not a live stream.")
        last_new = time.monotonic()
        while not self.stop.is_set():
            segments = list(playlist.segments)
            first_seq = playlist.media_sequence or 0
            if not segments and not playlist.is_endlist:
                pass
            elif self._next_seq is None:
                if self.start_at == "first" or not is_live:
                    self._next_seq = first_seq
                else:
                    self._next_seq = first_seq + max(len(segments) - 1, 0)
            elif self._next_seq < first_seq:
                # We fell behind the sliding window (outage, slow reader): jump to the live edge.
                skipped = first_seq - self._next_seq
                self.segments_skipped += skipped
                log.warning("HLS %s: %d segment(s) left the window unread", redact(self.url), skipped)
                self._next_seq = first_seq + max(len(segments) - 1, 0) if is_live else first_seq
                self._pending_discontinuity = True
            advanced = False
            for offset, segment in enumerate(segments):
                seq = first_seq + offset
                if self._next_seq is None or seq < self._next_seq or self.stop.is_set():
                    continue
                data = self._fetch_segment(segment)
                self._next_seq = seq + 1
                advanced = True
                if data is None:
                    self._pending_discontinuity = True
                    continue
                discontinuity = self._pending_discontinuity or bool(segment.discontinuity)
                self._pending_discontinuity = False
                yield from self._demux(data, segment, discontinuity)
            if playlist.is_endlist:
                raise SourceEnded()
            now = time.monotonic()
            if advanced:
                last_new = now
            stall_limit = max(self.read_timeout, 3 * float(playlist.target_duration or 2))
            if now - last_new > stall_limit:
                raise TransientSourceError(f"{redact(self.url)} stopped advancing for {now - last_new:.0f}s.")
            if not advanced:
                self.stop.wait(max(0.2, float(playlist.target_duration or 2) / 2))
            playlist = self._load_playlist()

    def _fetch_segment(self, segment: m3u8.Segment) -> bytes | None:
        """Bytes of a segment (with its init section), or None after it failed twice."""
        url = segment.absolute_uri
        prefix = b""
        init = getattr(segment, "init_section", None)
        if init is not None and init.uri:
            init_url = urljoin(url, init.uri)
            if init_url not in self._init_cache:
                response = self._get(init_url)
                if response.status_code >= 400:
                    return None
                self._init_cache[init_url] = response.content
            prefix = self._init_cache[init_url]
        for attempt in range(2):
            try:
                response = self._get(url)
            except TransientSourceError:
                if attempt == 1:
                    break
                continue
            if response.status_code < 400 and response.content:
                self.segments_fetched += 1
                return prefix + response.content
            if response.status_code == 404:
                break  # it left the window or never existed: retrying will not help
        self.segments_skipped += 1
        log.warning("HLS %s: skipping segment %s", redact(self.url), redact(url))
        return None

    def _demux(self, data: bytes, segment: m3u8.Segment, discontinuity: bool) -> Iterator[DemuxedPacket]:
        fmt = "mp4" if getattr(segment, "init_section", None) is not None else None
        try:
            container = av.open(io.BytesIO(data), mode="r", format=fmt)
        except Exception as exc:
            log.warning("HLS %s: unreadable segment (%s)", redact(self.url), exc)
            self._pending_discontinuity = True
            return
        try:
            if not container.streams.video:
                log.warning("HLS %s: segment without video", redact(self.url))
                return
            stream = container.streams.video[0]
            info = stream_info(stream)
            first = True
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                pts_time = float(ts * packet.time_base) if ts is not None else None
                yield DemuxedPacket(packet, info, pts_time, discontinuity=discontinuity and first)
                first = False
        except av.error.FFmpegError as exc:
            # A truncated or corrupt segment: keep what decoded, mark the break.
            log.warning("HLS %s: corrupt segment (%s)", redact(self.url), exc)
            self._pending_discontinuity = True
        finally:
            container.close()

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the caller."""
