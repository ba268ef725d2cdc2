"""YouTube and Twitch live pages, resolved to their HLS URL with yt-dlp's Python API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from livesight.sources.errors import NotLive, SourceOffline
from livesight.sources.urls import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedPage:
    stream_url: str
    is_live: bool
    title: str | None
    platform: str | None
    # What the page says about itself (``POST /api/streams/validate``); None where it does not.
    stream_id: str | None = None
    channel: str | None = None
    thumbnail_url: str | None = None
    viewer_count: int | None = None


def resolve_page(url: str, *, require_live: bool = True) -> ResolvedPage:
    """Ask yt-dlp for the stream behind a live page. Resolved URLs expire: call again on 403/410."""
    import yt_dlp  # imported here: yt-dlp is large and only pages need it

    options: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "skip_download": True,
        "noplaylist": True,
        "format": "best[protocol^=m3u8]/best",
        "js_runtimes": {"node": {}},
        "logger": _QuietLogger(),
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
    except Exception as exc:  # yt-dlp raises its own DownloadError/ExtractorError with long texts
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceOffline(
            f"Could not resolve {redact(url)}: {message.removeprefix('ERROR: ')}",
            remediation="Check that the page exists and is live now; private or members-only streams need cookies.",
        ) from None
    if info is None:
        raise SourceOffline(f"Could not resolve {redact(url)}.")
    is_live = bool(info.get("is_live"))
    if require_live and not is_live:
        raise NotLive(f"{redact(url)} is not live right now.")
    stream_url = info.get("manifest_url") or info.get("url")
    if not stream_url:
        raise SourceOffline(f"{redact(url)} offers no stream URL.")
    viewers = info.get("concurrent_view_count")
    return ResolvedPage(
        str(stream_url),
        is_live,
        info.get("title"),
        info.get("extractor_key"),
        stream_id=info.get("id"),
        channel=info.get("channel") or info.get("uploader"),
        thumbnail_url=info.get("thumbnail"),
        viewer_count=int(viewers) if isinstance(viewers, int | float) else None,
    )


class _QuietLogger:
    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)
