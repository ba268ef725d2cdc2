from __future__ import annotations

import sys
from pathlib import Path

import pytest

from livesight.sources.errors import InvalidSourceURL
from livesight.sources.urls import SourceKind, classify, platform_of, redact, redact_text


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://cdn.example.com/live/index.m3u8?token=abc", SourceKind.HLS),
        ("rtsp://user:pw@10.0.0.5:554/stream1", SourceKind.RTSP),
        ("rtsps://cam.local/stream", SourceKind.RTSP),
        ("https://www.youtube.com/watch?v=abc", SourceKind.PAGE),
        ("https://youtu.be/abc", SourceKind.PAGE),
        ("https://www.twitch.tv/somechannel", SourceKind.PAGE),
        ("http://example.com/video.mp4", SourceKind.HTTP_MEDIA),
    ],
)
def test_classify(url: str, kind: SourceKind) -> None:
    assert classify(url) is kind


def test_classify_files_and_mistakes(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    assert classify(str(video)) is SourceKind.FILE
    assert classify(f"file://{video}") is SourceKind.FILE
    for bad in ("", "   ", "ftp://x/y.m3u8", "http:///nohost.m3u8", str(tmp_path / "missing.mp4")):
        with pytest.raises(InvalidSourceURL):
            classify(bad)


def test_redact_removes_credentials_and_secret_params() -> None:
    assert redact("rtsp://admin:hunter2@10.0.0.5:554/s") == "rtsp://***@10.0.0.5:554/s"
    cleaned = redact("https://h/live.m3u8?token=s3cret&quality=hd")
    assert "s3cret" not in cleaned and "quality=hd" in cleaned
    assert redact_text("failed to open rtsp://a:b@cam/x: 401") == "failed to open rtsp://***@cam/x: 401"
    assert platform_of("https://www.twitch.tv/x") == "twitch" and platform_of("rtsp://h/x") == "rtsp"


def test_redact_text_also_hides_secret_query_values() -> None:
    text = "403 for https://cdn/live.m3u8?quality=hd&Token=abc123&sig=ff'; again at ?key=k9"
    assert redact_text(text) == "403 for https://cdn/live.m3u8?quality=hd&Token=***&sig=***'; again at ?key=***"


def test_log_records_and_their_tracebacks_are_redacted() -> None:
    import logging

    from livesight.logs import RedactingFilter

    try:
        raise ConnectionError("cannot open rtsp://admin:hunter2@cam/s?token=t0k")
    except ConnectionError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "opening %s", ("rtsp://u:pw@cam",), sys.exc_info())
    assert RedactingFilter().filter(record)
    shown = logging.Formatter().format(record)
    assert "hunter2" not in shown and "t0k" not in shown and "pw@" not in shown
    assert "rtsp://***@cam/s?token=***" in shown and "opening rtsp://***@cam" in shown
