"""An incremental Server-Sent Events decoder, per the WHATWG HTML "event stream interpretation".

It is fed raw bytes as they arrive (chunk boundaries anywhere, even inside a UTF-8 character or between
``\\r`` and ``\\n``) and returns the events completed so far. An event still being received when the
stream ends is discarded, as the standard requires, so a cut connection never yields half an event.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

from livesight.sdk.types import MonitorEvent

_LINE_END = re.compile(r"[\r\n]")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its type (``message`` by default), data lines joined by ``\\n``, and id."""

    event: str
    data: str
    id: str | None

    def to_monitor_event(self) -> MonitorEvent:
        """The event with its data decoded as JSON (see :class:`MonitorEvent` for non-object payloads)."""
        try:
            decoded: Any = json.loads(self.data)
        except ValueError:
            decoded = self.data
        data = decoded if isinstance(decoded, dict) else {"value": decoded}
        return MonitorEvent(event=self.event, id=self.id, data=data)


class SSEDecoder:
    """Turns a byte stream into :class:`ServerSentEvent` values.

    ``last_event_id`` (the id a reconnect should send, updated as each event block completes) and ``retry``
    (the server's reconnection delay, in milliseconds) persist across events, as the standard says; a decoder
    for a reconnection starts from the previous connection's ``last_event_id``.
    """

    def __init__(self, last_event_id: str | None = None) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._first = True
        self._skip_lf = False  # the previous chunk ended with "\r": a leading "\n" belongs to that line end
        self._event = ""
        self._data: list[str] = []
        self._id = last_event_id
        self.last_event_id = last_event_id
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completes."""
        text = self._text.decode(chunk)
        if not text:
            return []
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        self._buffer += text
        events: list[ServerSentEvent] = []
        while (match := _LINE_END.search(self._buffer)) is not None:
            end = match.start()
            line = self._buffer[:end]
            rest = end + 1
            if self._buffer[end] == "\r":
                if rest == len(self._buffer):
                    self._skip_lf = True
                elif self._buffer[rest] == "\n":
                    rest += 1
            self._buffer = self._buffer[rest:]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: keep-alives
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        # The id counts even for a block without data, so a reconnect never replays what that block closed.
        self.last_event_id = self._id
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None  # e.g. a block holding only "retry:"
        return ServerSentEvent(event=event, data="\n".join(data), id=self._id)
