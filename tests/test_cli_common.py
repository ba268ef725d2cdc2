"""How the CLI words what goes wrong: no errno numbers, no pydantic phrasing, option names users typed."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from livesight.cli_common import plain, plain_field_message, plain_usage
from livesight.cli_format import job_event_line, stream_clock
from livesight.sources._av import map_av_error


def test_ffmpeg_errors_lose_the_errno(tmp_path: Path) -> None:
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(av.error.FFmpegError) as raised:
        av.open(str(garbage))
    assert "[Errno" in str(raised.value)  # FFmpeg's words, which sources/ passes on in its message
    shown = plain(map_av_error(raised.value, str(garbage)).message)
    assert "Errno" not in shown and "Invalid data found" not in shown
    assert shown.startswith(f"{garbage} ") and shown.endswith(".")


def test_errno_without_parentheses_keeps_its_words() -> None:
    shown = plain("Lost the connection to rtsp://cam/1: [Errno 104] Connection reset by peer: 'rtsp://cam/1'")
    assert shown == "Lost the connection to rtsp://cam/1: Connection reset by peer"
    assert plain("x is unreachable (ConnectError: [Errno -2] Name or service not known).") == "x is unreachable."


@pytest.mark.parametrize(
    ("pydantic", "plain_words"),
    [
        ("String should have at least 1 character", "must not be empty"),
        ("Input should be greater than or equal to 5", "must be at least 5"),
        ("Input should be less than or equal to 300", "must be at most 300"),
        ("Input should be a valid number, unable to parse string as a number", "must be a number"),
        ("Value error, must not be blank", "must not be blank"),
        ("must be at least 5 seconds", "must be at least 5 seconds"),
    ],
)
def test_field_messages_in_plain_words(pydantic: str, plain_words: str) -> None:
    assert plain_field_message(pydantic) == plain_words


def test_usage_errors_in_plain_words() -> None:
    assert (
        plain_usage("Invalid value for '--mode': Value error, 'video' is not one of 'frames', 'clip', 'hybrid'.")
        == "--mode must be one of frames, clip, hybrid, not 'video'"
    )
    assert plain_usage("Invalid value for '--interval': Input should be greater than or equal to 0.2") == (
        "--interval must be at least 0.2"
    )
    assert plain_usage("Missing argument '{CONDITION}'.") == "Missing argument CONDITION."


def test_job_event_lines() -> None:
    assert stream_clock(3725.04) == "1:02:05.0" and stream_clock(20.06) == "00:20.1" and stream_clock(None) == "--:--"
    started = job_event_line("started", {"stream_url": "http://cam/live.m3u8", "condition": "is it open?"})
    assert started.endswith('  started    watching http://cam/live.m3u8 for "is it open?"')
    error = job_event_line("error", {"status": "failed", "reason": "source_failed", "message": "cam went away"})
    assert error.endswith("  error      failed (source_failed): cam went away")
    summary = job_event_line("summary", {"window_start": 0, "window_end": 300, "summary": "Two cars\npassed."})
    assert summary.endswith("  summary    00:00.0–05:00.0  Two cars passed.")
    digest = job_event_line("progress", {"summaries_generated": 1, "frames_received": 10, "stream_time": 61})
    assert digest.endswith("  progress   stream 01:01.0  1 summary · 10 frames")
