"""Building events whose timing fields agree with each other by construction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from livesight.types import Event, Severity, new_id


def format_clock(seconds: float) -> str:
    """``MM:SS`` on the session timeline, ``HH:MM:SS`` from an hour on."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def make_event(
    *,
    type: str,
    label: str,
    description: str,
    severity: Severity,
    confidence: float,
    chunk_index: int,
    chunk_id: str,
    chunk_start: float,
    chunk_relative_time: float,
    pts_offset: float,
    analysis_id: str,
    duration: float = 0.0,
) -> Event:
    """An event at ``chunk_start + chunk_relative_time`` on the session timeline.

    ``pts_offset`` is the source PTS time minus the session time inside that chunk, so
    ``capture_time`` is the same moment on the source's own clock.
    """
    relative = round(max(0.0, chunk_relative_time), 3)
    offset = round(chunk_start, 3)
    stream_time = round(offset + relative, 3)
    end = stream_time + max(0.0, duration)
    return Event(
        event_id=new_id("evt"),
        type=type,
        label=label,
        description=description,
        severity=severity,
        confidence=round(min(1.0, max(0.0, confidence)), 3),
        stream_time=stream_time,
        capture_time=round(stream_time + pts_offset, 3),
        chunk_index=chunk_index,
        chunk_relative_time=relative,
        hls_cumulative_offset=offset,
        t_start=format_clock(stream_time),
        t_end=format_clock(end),
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        analysis_id=analysis_id,
        chunk_id=chunk_id,
        end_time=round(end, 3),
    )


def event_ending_at(event: Event, end: float) -> Event:
    """``event`` ending at ``end`` on the session timeline (never before it starts), ``t_end`` agreeing.

    An appearance reviewed chunk by chunk grows as later chunks show it going on; its start stays put.
    """
    end = max(event.stream_time, end)
    return replace(event, end_time=round(end, 3), t_end=format_clock(end))
