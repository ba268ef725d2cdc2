"""``client.livestream``: livestream sessions (SPEC §2), with the hosted livestream SDK's signatures and defaults.

A session pulls a live source, records it in chunks, runs the ``rapid_review_query`` on each chunk and
appends the events it finds. :meth:`Livestream.iter_events` and :meth:`Livestream.monitor_session` follow a
session by polling its payload.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any

from livesight.sdk._base_client import AsyncAPIClient, SyncAPIClient, path_segment
from livesight.sdk.types import (
    AttachStreamResponse,
    EndSessionResponse,
    LiveEvent,
    Session,
    SignedManifest,
    StartSessionResponse,
    _Model,
)

__all__ = ["AsyncLivestream", "Livestream"]


class _SessionList(_Model):
    sessions: list[Session]


class _EventTracker:
    """Remembers the events already handed out, so each ``event_id`` is yielded once however often it is polled."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def new_events(self, session: Session) -> list[LiveEvent]:
        fresh: list[LiveEvent] = []
        for event in session.events:
            if event.event_id not in self._seen:
                self._seen.add(event.event_id)
                fresh.append(event)
        # Within one poll, hand events out on the session timeline; across polls, in order of arrival.
        return sorted(fresh, key=lambda e: e.stream_time)


class _Deadline:
    def __init__(self, timeout: float | None) -> None:
        self._end = None if timeout is None else time.monotonic() + max(0.0, timeout)

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def wait(self, interval: float) -> float:
        """``interval``, shortened so that the poll after it happens at the deadline, not after it."""
        if self._end is None:
            return interval
        return max(0.0, min(interval, self._end - time.monotonic()))


def _change_key(session: Session) -> tuple[str, int, tuple[str, ...]]:
    return session.status, session.chunk_count, tuple(e.event_id for e in session.events)


def _start_body(
    source_url: str, name: str, rapid_review_query: str | None, stream_id: str | None, skip_validation: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"source_url": source_url, "name": name}
    if skip_validation:
        body["skip_validation"] = True
    if rapid_review_query is not None:
        body["rapid_review_query"] = rapid_review_query
    if stream_id is not None:
        body["stream_id"] = stream_id
    return body


def _session_path(stream_id: str, session_id: str) -> str:
    return f"/api/live/live-sessions/{path_segment(stream_id)}/{path_segment(session_id)}"


class Livestream:
    """Livestream sessions: start one on a live source, follow its events, end it, play back its recording."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def start_session(
        self,
        source_url: str,
        name: str,
        rapid_review_query: str | None = None,
        stream_id: str | None = None,
        *,
        skip_validation: bool = False,
    ) -> StartSessionResponse:
        """Start analysing ``source_url`` (an HLS ``.m3u8``, RTSP, YouTube/Twitch live page or a file).

        ``name`` is shown in the web UI; ``rapid_review_query`` is the natural-language query run on every chunk
        (without it the session only records); ``stream_id`` reuses an existing parent stream, and when it is
        omitted the server creates one. The server opens the source first and refuses one it cannot read
        (``BadRequestError``, e.g. ``STREAM_OFFLINE``); ``skip_validation`` starts it anyway, for a camera that
        comes up later. Returns the ``session_id``, ``stream_id`` and initial ``status``.
        """
        body = _start_body(source_url, name, rapid_review_query, stream_id, skip_validation)
        return self._client._request(StartSessionResponse, "POST", "/api/live/start-session", json=body)

    def iter_events(
        self, stream_id: str, session_id: str, poll_interval: float = 5.0, timeout: float | None = None
    ) -> Iterator[LiveEvent]:
        """Yield each new event of the session once, polling every ``poll_interval`` seconds.

        Events are de-duplicated by ``event_id``; those that arrive in one poll come in ``stream_time`` order.
        Iteration stops after the final events once the session is ``FINISHED`` or ``FAILED``, or when
        ``timeout`` seconds have passed (``None``: no limit). A transient failure of one poll is retried as any
        request is; an error that persists is raised.
        """
        tracker, deadline = _EventTracker(), _Deadline(timeout)
        while True:
            session = self.get_session(stream_id, session_id)
            yield from tracker.new_events(session)
            if session.is_ended or deadline.expired():
                return
            self._client._sleep(deadline.wait(poll_interval))

    def monitor_session(
        self,
        stream_id: str,
        session_id: str,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[Session], object] | None = None,
    ) -> Session:
        """Poll the session until it ends and return its final payload.

        ``on_update(session)`` is called with the first payload and then whenever its status, chunk count or
        events change. When ``timeout`` seconds pass first, the latest payload is returned (check
        ``session.is_ended``).
        """
        deadline, last = _Deadline(timeout), None
        while True:
            session = self.get_session(stream_id, session_id)
            if (key := _change_key(session)) != last:
                last = key
                if on_update is not None:
                    on_update(session)
            if session.is_ended or deadline.expired():
                return session
            self._client._sleep(deadline.wait(poll_interval))

    def get_session(self, stream_id: str, session_id: str) -> Session:
        """The session's current (or final) payload: status, chunk count, events and chunk metadata."""
        return self._client._request(Session, "GET", _session_path(stream_id, session_id))

    def get_sessions(self, scope: str | None = None) -> list[Session]:
        """The sessions this API key can see; ``scope`` is ``"all"`` (default), ``"active"`` or ``"ended"``."""
        params = {"scope": scope} if scope is not None else None
        return self._client._request(_SessionList, "GET", "/api/live/live-sessions", params=params).sessions

    def end_session(self, stream_id: str, session_id: str) -> EndSessionResponse:
        """Stop an active session; ``status`` is ``"ended"``, or ``"already_ended"`` if it had ended before.

        The session then goes ``ENDING → FINISHED`` while its last chunk is analysed.
        """
        body = {"stream_id": stream_id, "session_id": session_id}
        return self._client._request(EndSessionResponse, "POST", "/api/live/end-session", json=body)

    def attach_stream(self, stream_id: str, stream_name: str, source_url: str) -> AttachStreamResponse:
        """Create the parent stream ``stream_id`` with this name and source, or update it if it exists."""
        body = {"stream_id": stream_id, "stream_name": stream_name, "source_url": source_url}
        return self._client._request(AttachStreamResponse, "POST", "/api/live/attach-stream", json=body)

    def get_signed_manifest(self, session_id: str) -> SignedManifest:
        """A short-lived signed URL (default 10 min) to an HLS playlist of the session's recorded chunks.

        It plays as is in hls.js, ffplay, VLC or Safari: live and growing while the session runs, a VOD
        playlist once it has ended.
        """
        path = f"/api/live/session/{path_segment(session_id)}/signed-manifest"
        return self._client._request(SignedManifest, "POST", path)


class AsyncLivestream:
    """Livestream sessions, asynchronously: the same methods as :class:`Livestream`, awaited."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def start_session(
        self,
        source_url: str,
        name: str,
        rapid_review_query: str | None = None,
        stream_id: str | None = None,
        *,
        skip_validation: bool = False,
    ) -> StartSessionResponse:
        """Start analysing ``source_url``; see :meth:`Livestream.start_session`."""
        body = _start_body(source_url, name, rapid_review_query, stream_id, skip_validation)
        return await self._client._request(StartSessionResponse, "POST", "/api/live/start-session", json=body)

    # ``timeout`` (not asyncio.timeout) because the signature mirrors the seed's, shared with the sync client.
    async def iter_events(
        self,
        stream_id: str,
        session_id: str,
        poll_interval: float = 5.0,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AsyncGenerator[LiveEvent, None]:
        """Yield each new event of the session once (an async generator); see :meth:`Livestream.iter_events`."""
        tracker, deadline = _EventTracker(), _Deadline(timeout)
        while True:
            session = await self.get_session(stream_id, session_id)
            for event in tracker.new_events(session):
                yield event
            if session.is_ended or deadline.expired():
                return
            await self._client._sleep(deadline.wait(poll_interval))

    async def monitor_session(
        self,
        stream_id: str,
        session_id: str,
        poll_interval: float = 5.0,
        timeout: float | None = None,  # noqa: ASYNC109
        on_update: Callable[[Session], object] | Callable[[Session], Awaitable[object]] | None = None,
    ) -> Session:
        """Poll the session until it ends and return its final payload; ``on_update`` may be a plain function or
        a coroutine function. See :meth:`Livestream.monitor_session`."""
        deadline, last = _Deadline(timeout), None
        while True:
            session = await self.get_session(stream_id, session_id)
            if (key := _change_key(session)) != last:
                last = key
                if on_update is not None:
                    result = on_update(session)
                    if inspect.isawaitable(result):
                        await result
            if session.is_ended or deadline.expired():
                return session
            await self._client._sleep(deadline.wait(poll_interval))

    async def get_session(self, stream_id: str, session_id: str) -> Session:
        """The session's current (or final) payload; see :meth:`Livestream.get_session`."""
        return await self._client._request(Session, "GET", _session_path(stream_id, session_id))

    async def get_sessions(self, scope: str | None = None) -> list[Session]:
        """The sessions this API key can see; ``scope`` is ``"all"`` (default), ``"active"`` or ``"ended"``."""
        params = {"scope": scope} if scope is not None else None
        return (await self._client._request(_SessionList, "GET", "/api/live/live-sessions", params=params)).sessions

    async def end_session(self, stream_id: str, session_id: str) -> EndSessionResponse:
        """Stop an active session (``"ended"`` or ``"already_ended"``); see :meth:`Livestream.end_session`."""
        body = {"stream_id": stream_id, "session_id": session_id}
        return await self._client._request(EndSessionResponse, "POST", "/api/live/end-session", json=body)

    async def attach_stream(self, stream_id: str, stream_name: str, source_url: str) -> AttachStreamResponse:
        """Create or update the parent stream ``stream_id``; see :meth:`Livestream.attach_stream`."""
        body = {"stream_id": stream_id, "stream_name": stream_name, "source_url": source_url}
        return await self._client._request(AttachStreamResponse, "POST", "/api/live/attach-stream", json=body)

    async def get_signed_manifest(self, session_id: str) -> SignedManifest:
        """A short-lived signed HLS playlist URL of the recording; see :meth:`Livestream.get_signed_manifest`."""
        path = f"/api/live/session/{path_segment(session_id)}/signed-manifest"
        return await self._client._request(SignedManifest, "POST", path)
