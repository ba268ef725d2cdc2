"""One decode thread per source, shared by every run that watches the same URL."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, cast

import av
import httpx

from livesight.errors import LiveSightError
from livesight.retry import RetryPolicy
from livesight.settings import Settings
from livesight.sources._av import AVReader, DemuxedPacket
from livesight.sources.errors import InvalidSourceURL, NotAStream, NotLive, SourceEnded, SourceError
from livesight.sources.hls import HLSReader, StartAt
from livesight.sources.pages import resolve_page
from livesight.sources.subscription import DropPolicy, SourceEnd, Subscription
from livesight.sources.timeline import Timeline
from livesight.sources.urls import SourceKind, classify, file_path, redact
from livesight.types import EncodedPacket, Frame, Gap, StreamInfo

if TYPE_CHECKING:
    from livesight.netpolicy import NetworkPolicy

log = logging.getLogger(__name__)


class SourceState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class SourceOptions:
    """How to read a source. Runs with equal options share one decode thread."""

    realtime: bool = True  # files: replay at recorded pace (False: as fast as decoding allows)
    start_at: StartAt = "live_edge"


@dataclass
class SourceHealth:
    state: SourceState = SourceState.CONNECTING
    live: bool | None = None
    info: StreamInfo | None = None
    frames_decoded: int = 0
    packets_read: int = 0
    reconnects: int = 0
    discontinuities: int = 0
    gaps: int = 0
    last_frame_monotonic: float | None = None
    error: str | None = None
    started_monotonic: float = field(default_factory=time.monotonic)

    def last_frame_age(self) -> float | None:
        if self.last_frame_monotonic is None:
            return None
        return time.monotonic() - self.last_frame_monotonic


def open_reader(
    url: str, settings: Settings, options: SourceOptions, client: httpx.Client, stop: threading.Event
) -> tuple[HLSReader | AVReader, bool | None]:
    """Build the reader for ``url``; returns it and whether the source is known to be live."""
    kind = classify(url)
    if kind is SourceKind.PAGE:
        page = resolve_page(url)
        return (
            HLSReader(
                page.stream_url,
                client=client,
                start_at=options.start_at,
                read_timeout=settings.read_timeout_seconds,
                stop=stop,
                resolve=lambda: resolve_page(url).stream_url,
            ),
            page.is_live,
        )
    if kind is SourceKind.HLS:
        reader = HLSReader(
            url, client=client, start_at=options.start_at, read_timeout=settings.read_timeout_seconds, stop=stop
        )
        return reader, None
    live = kind in (SourceKind.RTSP, SourceKind.HTTP_MEDIA)
    target = str(file_path(url)) if kind is SourceKind.FILE else url
    return (
        AVReader(
            target,
            live=live,
            open_timeout=settings.open_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            realtime=options.realtime,
        ),
        live,
    )


class SharedSource:
    """Connects, decodes and reconnects one source in its own thread; fans out to subscriptions."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        options: SourceOptions = SourceOptions(),
        policy: NetworkPolicy | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self.options = options
        self.policy = policy
        self.health = SourceHealth()
        self._stop = threading.Event()
        self._subs: list[Subscription] = []
        self._subs_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"source:{redact(url)[:60]}", daemon=True)
        self._timeline = Timeline()
        self._epoch = 0
        self._decoder: av.VideoCodecContext | None = None
        self._decoder_info: StreamInfo | None = None
        self._awaiting_keyframe = True
        self._provisional = False
        self._next_frame_time = 0.0
        self._retry = RetryPolicy(
            initial=settings.reconnect_initial_seconds, maximum=settings.reconnect_max_seconds, max_attempts=None
        )
        self._on_state: list[Callable[[SourceState], None]] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def subscribe(
        self, loop: asyncio.AbstractEventLoop, *, max_frames: int | None = None, policy: DropPolicy | None = None
    ) -> Subscription:
        if policy is None:
            policy = DropPolicy.BLOCK if not self.options.realtime else DropPolicy.DROP_OLDEST
        sub = Subscription(loop, max_frames or self.settings.frame_queue_size, policy)
        with self._subs_lock:
            self._subs.append(sub)
            if self.health.state in (SourceState.ENDED, SourceState.FAILED, SourceState.STOPPED):
                sub.put(SourceEnd(self.health.state.value, self.health.error or self.health.state.value))  # type: ignore[arg-type]
        return sub

    def unsubscribe(self, sub: Subscription) -> int:
        """Detach ``sub``; returns how many subscriptions remain."""
        sub.close()
        with self._subs_lock:
            if sub in self._subs:
                self._subs.remove(sub)
            return len(self._subs)

    def _publish(self, item: Frame | EncodedPacket | Gap | SourceEnd) -> None:
        with self._subs_lock:
            subs = list(self._subs)
        for sub in subs:
            sub.put(item, self._stop)

    def _set_state(self, state: SourceState, error: str | None = None) -> None:
        if self.health.state != state:
            log.info("source %s: %s%s", redact(self.url), state.value, f" ({error})" if error else "")
        self.health.state = state
        if error is not None:
            self.health.error = error

    # -- the decode thread --------------------------------------------------------------------
    def _run(self) -> None:
        if self.policy is not None:
            from livesight.netpolicy import guarded_client

            client = guarded_client(self.policy, follow_redirects=True, timeout=self.settings.read_timeout_seconds)
        else:
            client = httpx.Client(follow_redirects=True, timeout=self.settings.read_timeout_seconds)
        with client:
            try:
                self._loop(client)
            except Exception as exc:  # last resort: a bug must end the source visibly, not hang its runs
                log.exception("source %s crashed", redact(self.url))
                self._set_state(SourceState.FAILED, f"internal error: {type(exc).__name__}")
        state = self.health.state
        if state not in (SourceState.ENDED, SourceState.FAILED):
            self._set_state(SourceState.STOPPED)
        end_state = {SourceState.ENDED: "ended", SourceState.FAILED: "failed"}.get(self.health.state, "stopped")
        self._publish(SourceEnd(end_state, self.health.error or end_state))  # type: ignore[arg-type]

    def _loop(self, client: httpx.Client) -> None:
        attempt = 0
        reader: HLSReader | AVReader | None = None
        outage_started: float | None = None
        while not self._stop.is_set():
            try:
                if reader is None:
                    if self.policy is not None:
                        # Every address the URL resolves to is checked (HTTP redirects by the client).
                        self.policy.check_url_sync(self.url)
                    reader, live = open_reader(self.url, self.settings, self.options, client, self._stop)
                    self.health.live = live
                frames_before = self.health.frames_decoded
                for demuxed in reader.packets():
                    if self._stop.is_set():
                        break
                    if isinstance(reader, HLSReader) and self.health.live is None:
                        self.health.live = reader.live
                    self._handle(demuxed)
                    if self.health.frames_decoded > frames_before:
                        if outage_started is not None:
                            self._record_gap(time.monotonic() - outage_started, "reconnected")
                            outage_started = None
                        attempt = 0
                        if self.health.state != SourceState.STREAMING:
                            self._set_state(SourceState.STREAMING)
                if self._stop.is_set():
                    break
                raise SourceEnded()
            except SourceEnded:
                self._flush_decoder()
                self._set_state(SourceState.ENDED, "the source ended")
                return
            except (NotAStream, NotLive, InvalidSourceURL) as exc:
                self._flush_decoder()
                self._set_state(SourceState.FAILED, exc.message)
                return
            except LiveSightError as exc:
                if not isinstance(exc, SourceError):  # refused by the network policy: not transient
                    self._set_state(SourceState.FAILED, exc.message)
                    return
                if self.health.live is False:  # a file: nothing to reconnect to
                    self._set_state(SourceState.FAILED, exc.message)
                    return
                now = time.monotonic()
                if outage_started is None:
                    outage_started = now
                last = self.health.last_frame_monotonic or self.health.started_monotonic
                if now - last >= self.settings.give_up_after_seconds:
                    self._set_state(
                        SourceState.FAILED,
                        f"no frames for {now - last:.0f}s (give-up after {self.settings.give_up_after_seconds:.0f}s):"
                        f" {exc.message}",
                    )
                    return
                attempt += 1
                delay = self._retry.delay(attempt)
                self.health.reconnects += 1
                self._set_state(SourceState.RECONNECTING, exc.message)
                log.warning("source %s: %s; reconnecting in %.1fs", redact(self.url), exc.message, delay)
                self._flush_decoder()
                self._epoch += 1
                self._awaiting_keyframe = True
                if isinstance(reader, AVReader):
                    reader.close()
                self._stop.wait(delay)

    def _record_gap(self, wall_seconds: float, reason: str) -> None:
        self.health.gaps += 1
        self._publish(Gap(self._timeline.last_time, wall_seconds, reason))

    def _handle(self, demuxed: DemuxedPacket) -> None:
        packet = demuxed.packet
        info = demuxed.info
        self.health.packets_read += 1
        if demuxed.discontinuity:
            self._flush_decoder()
            self._epoch += 1
            self._awaiting_keyframe = True
        pts_time = demuxed.pts_time
        if pts_time is None:
            pts_time = self._timeline_pts_guess()
        elif self._provisional:
            # The stretch began on a packet without a PTS (RTSP's first one may lack it): now that the
            # source's clock is known, place it so that this packet follows the previous one.
            self._timeline.rebase(pts_time)
            self._provisional = False
        if self._awaiting_keyframe and not packet.is_keyframe:
            return  # undecodable until the next keyframe
        if packet.is_keyframe and (self._awaiting_keyframe or self._timeline.needs_anchor(pts_time, self._epoch)):
            self._flush_decoder()
            self._timeline.reanchor(pts_time, self._epoch)
            self._provisional = demuxed.pts_time is None
            self.health.discontinuities = self._timeline.discontinuities
            self._awaiting_keyframe = False
        info = replace(info, epoch=self._epoch)
        if self.health.info is None or self.health.info.width != info.width or self.health.info.codec != info.codec:
            self.health.info = info
        if info.fps:
            self._timeline.set_frame_duration(1.0 / info.fps)
        session_time = self._timeline.packet_time(pts_time)
        self._publish(
            EncodedPacket(
                data=bytes(packet),
                pts=packet.pts,
                dts=packet.dts,
                time_base=packet.time_base,
                is_keyframe=packet.is_keyframe,
                session_time=session_time,
                info=info,
            )
        )
        decoder = self._decoder_for(info)
        try:
            frames = decoder.decode(packet)
        except av.error.FFmpegError as exc:
            log.debug("decode error in %s: %s", redact(self.url), exc)
            return
        for frame in frames:
            self._emit(frame, info)

    def _timeline_pts_guess(self) -> float:
        anchor = self._timeline.anchor
        if anchor is None:
            return 0.0
        return anchor.pts_base + (self._timeline.last_time - anchor.time_base) + self._timeline.frame_duration

    def _decoder_for(self, info: StreamInfo) -> av.VideoCodecContext:
        current = self._decoder_info
        if (
            self._decoder is not None
            and current is not None
            and (current.codec, current.epoch)
            == (
                info.codec,
                info.epoch,
            )
        ):
            return self._decoder
        # Extradata may differ slightly per HLS segment; only a new codec or epoch needs a new decoder.
        self._flush_decoder()
        self._decoder = cast("av.VideoCodecContext", av.CodecContext.create(info.codec, "r"))
        if info.extradata:
            self._decoder.extradata = info.extradata
        self._decoder.thread_type = "AUTO"
        self._decoder_info = info
        return self._decoder

    def _flush_decoder(self) -> None:
        decoder, info = self._decoder, self._decoder_info
        self._decoder = None
        self._decoder_info = None
        if decoder is None or info is None or self._timeline.anchor is None:
            return
        try:
            for frame in decoder.decode(None):
                self._emit(frame, info)
        except av.error.FFmpegError:
            pass

    def _emit(self, frame: av.VideoFrame, info: StreamInfo) -> None:
        if frame.pts is None:
            pts_time = self._timeline_pts_guess()
        else:
            pts_time = float(frame.pts * (frame.time_base or info.time_base))
        session_time = self._timeline.frame_time(pts_time)
        self.health.frames_decoded += 1
        self.health.last_frame_monotonic = time.monotonic()
        if session_time + 1e-6 < self._next_frame_time:
            return
        fps = self.settings.analysis_fps
        self._next_frame_time = session_time + (1.0 / fps if fps > 0 else 0.0) - 0.002
        self._publish(Frame(frame, session_time, pts_time, self._epoch, time.monotonic()))


class SourceRegistry:
    """Shares one :class:`SharedSource` between runs that watch the same URL with the same options."""

    def __init__(self, settings: Settings, policy: NetworkPolicy | None = None) -> None:
        self.settings = settings
        self.policy = policy
        self._sources: dict[tuple[str, SourceOptions], SharedSource] = {}
        self._lock = threading.Lock()

    def acquire(
        self, url: str, loop: asyncio.AbstractEventLoop, options: SourceOptions = SourceOptions()
    ) -> tuple[SharedSource, Subscription]:
        key = (url, options)
        with self._lock:
            source = self._sources.get(key)
            if source is not None and source.alive:
                return source, source.subscribe(loop)
            source = SharedSource(url, self.settings, options, self.policy)
            self._sources[key] = source
            sub = source.subscribe(loop)
            source.start()  # after subscribing, so the first keyframe is not missed
            return source, sub

    def release(self, source: SharedSource, sub: Subscription) -> None:
        with self._lock:
            remaining = source.unsubscribe(sub)
            if remaining == 0:
                source.stop()
                self._sources.pop((source.url, source.options), None)

    def __len__(self) -> int:
        return len(self._sources)

    def stop_all(self) -> None:
        with self._lock:
            for source in self._sources.values():
                source.stop()
            sources = list(self._sources.values())
            self._sources.clear()
        for source in sources:
            source.join(5)
