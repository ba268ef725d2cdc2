"""Errors raised while opening or reading a source."""

from __future__ import annotations

from livesight.errors import LiveSightError


class SourceError(LiveSightError):
    code = "STREAM_FETCH_FAILED"
    remediation = "Check that the URL is reachable from this machine and serves video."


class InvalidSourceURL(SourceError):
    code = "INVALID_URL"
    remediation = "Use an http(s) .m3u8 URL, an rtsp(s):// URL, a YouTube/Twitch live page or a local file path."


class SourceOffline(SourceError):
    """The source could not be reached (connection refused, DNS failure, timeout, HTTP 404/5xx)."""

    code = "STREAM_OFFLINE"
    remediation = "Check that the stream is running and the URL is right; try again when it is live."


class NotAStream(SourceError):
    """The URL answered, but not with video this machine can decode."""

    code = "STREAM_FETCH_FAILED"
    remediation = "Point LiveSight at an HLS playlist (.m3u8), an RTSP URL, a live page or a video file."


class NotLive(SourceError):
    code = "NOT_LIVESTREAM"
    remediation = "Use a live stream, or replay the recording as a file."


class TransientSourceError(SourceError):
    """A failure worth a reconnect: timeout, reset, EOF of a live source, 5xx."""


class SourceEnded(Exception):
    """Normal end: ``#EXT-X-ENDLIST`` consumed or end of a file. Not an error."""
