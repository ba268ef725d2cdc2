"""Classifying source URLs and keeping their credentials out of logs and answers."""

from __future__ import annotations

import enum
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from livesight.sources.errors import InvalidSourceURL


class SourceKind(enum.StrEnum):
    HLS = "hls"
    RTSP = "rtsp"
    FILE = "file"
    PAGE = "page"  # YouTube / Twitch live page, resolved with yt-dlp
    HTTP_MEDIA = "http_media"  # an http(s) URL that is not a playlist: probed by FFmpeg


_PAGE_HOSTS = ("youtube.com", "youtu.be", "twitch.tv")
_SECRET_PARAMS = {"token", "key", "api_key", "apikey", "password", "pass", "sig", "signature", "auth", "secret"}
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_SECRET_QUERY = re.compile(rf"(?P<name>[?&](?:{'|'.join(sorted(_SECRET_PARAMS))})=)[^&#\s'\"<>]*", re.IGNORECASE)


def platform_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith("youtube.com") or host == "youtu.be":
        return "youtube"
    if host.endswith("twitch.tv"):
        return "twitch"
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "hls" if ".m3u8" in url.lower() else "http"
    return "file"


def classify(url: str) -> SourceKind:
    """Tell what kind of source ``url`` is, or raise :class:`InvalidSourceURL`."""
    url = url.strip()
    if not url:
        raise InvalidSourceURL("The source URL is empty.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        if not parts.hostname:
            raise InvalidSourceURL(f"{redact(url)} has no host.")
        return SourceKind.RTSP
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidSourceURL(f"{redact(url)} has no host.")
        host = parts.hostname.lower()
        if any(host == h or host.endswith("." + h) for h in _PAGE_HOSTS):
            return SourceKind.PAGE
        if parts.path.lower().endswith((".m3u8", ".m3u")):
            return SourceKind.HLS
        return SourceKind.HTTP_MEDIA
    if scheme == "file":
        return SourceKind.FILE
    if scheme == "" or len(scheme) == 1:  # a path (len 1: a Windows drive letter)
        try:
            exists = Path(url).expanduser().is_file()
        except (OSError, ValueError, RuntimeError):  # too long, NUL bytes, "~nobody"…
            exists = False
        if not exists:
            raise InvalidSourceURL(
                f"{url} is neither a URL nor an existing file.",
                remediation="Give an http(s)/rtsp(s) URL or the path of a video file that exists.",
            )
        return SourceKind.FILE
    raise InvalidSourceURL(f"Unsupported URL scheme {scheme!r} in {redact(url)}.")


def file_path(url: str) -> Path:
    return Path(urlsplit(url).path if url.startswith("file:") else url).expanduser()


def redact(url: str) -> str:
    """``url`` with its user:password and secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\g<scheme>***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Redact every ``scheme://user:pass@`` and secret-looking query value (``?token=…``) in free text
    (FFmpeg messages, tracebacks), as :func:`redact` does for one URL."""
    return _SECRET_QUERY.sub(r"\g<name>***", _USERINFO.sub(r"\g<scheme>***@", text))
