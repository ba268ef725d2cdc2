"""One readable line per record for the ``livesight`` commands: job events, session events, a status line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.live import Live
from rich.text import Text

from livesight.cli_common import err, out, terminal_width

_NAME_WIDTH = len("triggered")


def stream_clock(seconds: float | None) -> str:
    """``MM:SS.s`` on the stream's timeline (``H:MM:SS.s`` from an hour on); ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    tenths = max(0, round(seconds * 10))
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    clock = f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{clock}" if hours else clock


def local_time(value: Any) -> str:
    """``YYYY-MM-DD HH:MM`` in local time, as tables show when a record was created."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _local_clock(value: Any) -> str:
    """``HH:MM:SS`` local time of an ISO timestamp; now when there is none (the event is live)."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
        except ValueError:
            pass
    if isinstance(value, datetime):
        return value.astimezone().strftime("%H:%M:%S")
    return datetime.now().strftime("%H:%M:%S")


def _verdict(triggered: Any, confidence: Any) -> str:
    answer = "YES" if triggered is True else "no " if triggered is False else "-- "
    share = f"{confidence:4.0%}" if isinstance(confidence, int | float) else "    "
    return f"{answer} {share}"


def count(n: Any, word: str, plural: str = "") -> str:
    """``1 check``, ``2 checks``."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _facts(name: str, data: dict[str, Any]) -> str:
    if name == "started":
        condition = data.get("condition")
        what = f' for "{condition}"' if condition else ""
        return f"watching {data.get('stream_url', 'the stream')}{what}"
    if name == "triggered" or (name == "progress" and "checks_performed" in data):
        explanation = data.get("explanation")
        if name == "progress" and data.get("triggered") is None:
            explanation = "the check failed (see the server's log)"
        elif data.get("reused"):
            explanation = f"(unchanged) {explanation or ''}".rstrip()
        verdict = _verdict(data.get("triggered"), data.get("confidence"))
        return f"{verdict}  stream {stream_clock(_num(data, 'stream_time'))}  {explanation or ''}".rstrip()
    if name == "progress":  # a digest's progress
        summaries = count(data.get("summaries_generated", 0), "summary", "summaries")
        frames = count(data.get("frames_received", 0), "frame")
        return f"stream {stream_clock(_num(data, 'stream_time'))}  {summaries} · {frames}"
    if name in ("stopped", "error"):
        stats = data.get("final_stats") or {}
        reason = f" ({data['reason']})" if data.get("reason") else ""
        line = f"{data.get('status', name)}{reason}"
        if "checks_performed" in stats:
            checks, triggers = stats["checks_performed"], stats.get("triggers_fired", 0)
            line += f" · {count(checks, 'check')} · {count(triggers, 'trigger')}"
        message = data.get("message") or stats.get("error")
        return f"{line}: {message}" if name == "error" and message else line
    if name == "summary":
        window = f"{stream_clock(_num(data, 'window_start'))}–{stream_clock(_num(data, 'window_end'))}  "
        text = data.get("summary") or data.get("description") or data.get("explanation") or ""
        return f"{window if 'window_start' in data else ''}{text}"
    return " ".join(f"{k}={v}" for k, v in data.items() if k != "job_id" and not isinstance(v, dict | list))


def _num(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) else None


def _fit(line: str) -> str:
    """One line: no newline from an explanation; cut to the terminal's width when printing to one."""
    line = "".join(ch if ch.isprintable() else " " for ch in line)
    if out.is_terminal:
        width = terminal_width()
        if len(line) > width:
            line = line[: width - 1] + "…"
    return line


def job_event_line(name: str, data: dict[str, Any]) -> str:
    """``14:02:31  triggered  YES  91%  stream 00:20.1  A red square is in the middle.``"""
    return _fit(f"{_local_clock(data.get('created_at'))}  {name:<{_NAME_WIDTH}}  {_facts(name, data)}")


def session_event_line(event: Any) -> str:
    """``00:20  stream 00:20.1  red square  92%  a red square in the centre``: an event of a session."""
    return _fit(
        f"{event.t_start}  stream {stream_clock(event.stream_time)}  {event.label}  {event.confidence:.0%}"
        f"  {event.description}"
    )


class StatusLine:
    """A transient line at the bottom of the terminal (stderr), like ``watch`` shows; nothing when piped."""

    def __init__(self) -> None:
        self._live: Live | None = None

    def __enter__(self) -> StatusLine:
        if err.is_terminal:
            self._live = Live(Text(""), console=err, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, text: str) -> None:
        if self._live is not None:
            self._live.update(Text(text, style="dim", no_wrap=True, overflow="ellipsis"))
