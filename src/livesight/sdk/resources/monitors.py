"""``client.monitors``: live-monitor jobs (SPEC §3) — start, inspect, list, cancel, and follow their events.

:meth:`Monitors.stream_events` reads ``GET /api/jobs/{job_id}/events`` (Server-Sent Events). When the
connection drops it reconnects by itself, sending the id of the last event received as ``Last-Event-ID``;
the server replays every stored event after it, so nothing is missed and nothing is repeated.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any, Literal

import httpx

from livesight.retry import RetryPolicy
from livesight.sdk._base_client import AsyncAPIClient, SyncAPIClient, path_segment
from livesight.sdk._sse import ServerSentEvent, SSEDecoder
from livesight.sdk.errors import APIConnectionError
from livesight.sdk.types import CancelResult, CheckOnceResult, Job, JobDetail, JobList, MonitorEvent, StreamValidation

__all__ = ["AsyncMonitors", "InputMode", "Monitors"]

InputMode = Literal["frames", "clip", "hybrid"]

# Reconnect waits grow from the server's "retry:" hint (or this) while reconnections bring nothing new.
_DEFAULT_RECONNECT_SECONDS = 1.0
_MAX_RECONNECT_SECONDS = 30.0


class _Resume:
    """Where a job's event stream resumes after a drop, and how long to wait before reconnecting."""

    def __init__(self, last_event_id: str | None, max_retries: int) -> None:
        self.last_event_id = last_event_id
        self._retry_ms: int | None = None
        self._max_retries = max_retries
        self._fruitless = 0  # consecutive connections that ended without delivering an event

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def accept(self, sse: ServerSentEvent) -> MonitorEvent:
        if sse.id is not None:
            self.last_event_id = sse.id
        return sse.to_monitor_event()

    def ended(self, decoder: SSEDecoder) -> None:
        """Take what the finished connection told us: the last id (even of a data-less block) and ``retry``."""
        if decoder.last_event_id is not None:
            self.last_event_id = decoder.last_event_id
        if decoder.retry is not None:
            self._retry_ms = decoder.retry

    def wait(self, received: int, error: Exception | None, job_id: str) -> float:
        """Seconds before the next reconnect; raises once ``max_retries`` reconnections in a row brought nothing.

        A connection that delivered events always earns a reconnect: that is ordinary SSE behaviour (proxies
        cut long responses), not a failure.
        """
        self._fruitless = 0 if received else self._fruitless + 1
        if self._fruitless > self._max_retries:
            why = f"{type(error).__name__}: {error}" if error is not None else "it kept closing without events"
            raise APIConnectionError(
                f"The event stream of job {job_id} dropped {self._fruitless} times in a row ({why})."
            ) from error
        initial = self._retry_ms / 1000 if self._retry_ms is not None else _DEFAULT_RECONNECT_SECONDS
        policy = RetryPolicy(initial=initial, maximum=max(initial, _MAX_RECONNECT_SECONDS), max_attempts=None)
        return policy.delay(max(1, self._fruitless))


def _monitor_body(
    stream_url: str,
    condition: str,
    *,
    webhook_url: str | None,
    interval_seconds: float,
    input_mode: InputMode,
    clip_duration_seconds: float,
    monitor_duration_seconds: float | None,
    trigger_cooldown_seconds: float,
    max_triggers: int | None,
    enable_prefilter: bool,
    include_frame: bool,
    skip_validation: bool,
) -> dict[str, Any]:
    # Every field is sent, the seed's defaults included, so None for monitor_duration_seconds or max_triggers
    # goes out as JSON null ("no limit") rather than being dropped and replaced by the server's default.
    body: dict[str, Any] = {
        "stream_url": stream_url,
        "condition": condition,
        "interval_seconds": interval_seconds,
        "input_mode": input_mode,
        "clip_duration_seconds": clip_duration_seconds,
        "monitor_duration_seconds": monitor_duration_seconds,
        "trigger_cooldown_seconds": trigger_cooldown_seconds,
        "max_triggers": max_triggers,
        "enable_prefilter": enable_prefilter,
        "include_frame": include_frame,
        "skip_validation": skip_validation,
    }
    if webhook_url is not None:
        body["webhook_url"] = webhook_url  # its presence selects webhook delivery
    return body


def _list_params(status: str | None, type: str | None, limit: int, offset: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if status is not None:
        params["status"] = status
    if type is not None:
        params["type"] = type
    return params


def _check_body(
    stream_url: str, condition: str, input_mode: InputMode, clip_duration_seconds: float, include_frame: bool
) -> dict[str, Any]:
    return {
        "stream_url": stream_url,
        "condition": condition,
        "input_mode": input_mode,
        "clip_duration_seconds": clip_duration_seconds,
        "include_frame": include_frame,
    }


def _job_path(job_id: str) -> str:
    return f"/api/jobs/{path_segment(job_id)}"


class Monitors:
    """Live-monitor jobs: a yes/no condition checked on a live stream every ``interval_seconds``."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def create(
        self,
        stream_url: str,
        condition: str,
        *,
        webhook_url: str | None = None,
        interval_seconds: float = 10,
        input_mode: InputMode = "frames",
        clip_duration_seconds: float = 3,
        monitor_duration_seconds: float | None = 600,
        trigger_cooldown_seconds: float = 0,
        max_triggers: int | None = 1,
        enable_prefilter: bool = True,
        include_frame: bool = False,
        skip_validation: bool = False,
    ) -> Job:
        """Start a live-monitor job on ``stream_url`` (HLS, RTSP(S), YouTube/Twitch live page).

        ``condition`` is best phrased as a yes/no question. With ``webhook_url`` the job POSTs signed
        ``job_started`` / ``watch_triggered`` / ``job_stopped`` / ``error`` webhooks there; otherwise follow it
        with :meth:`stream_events` or :meth:`get`. ``input_mode`` sends one frame (``frames``), frames spread
        over ``clip_duration_seconds`` (``clip``) or both (``hybrid``). The job stops after
        ``monitor_duration_seconds`` (``None``: until cancelled) or ``max_triggers`` alerts (``None``:
        unlimited), with at least ``trigger_cooldown_seconds`` between alerts. ``enable_prefilter`` skips model
        calls while the picture is unchanged; ``include_frame`` adds the frame (base64) to trigger webhooks;
        ``skip_validation`` creates the job without probing the stream first.
        """
        body = _monitor_body(
            stream_url,
            condition,
            webhook_url=webhook_url,
            interval_seconds=interval_seconds,
            input_mode=input_mode,
            clip_duration_seconds=clip_duration_seconds,
            monitor_duration_seconds=monitor_duration_seconds,
            trigger_cooldown_seconds=trigger_cooldown_seconds,
            max_triggers=max_triggers,
            enable_prefilter=enable_prefilter,
            include_frame=include_frame,
            skip_validation=skip_validation,
        )
        return self._client._request(Job, "POST", "/api/live-monitor", json=body)

    def get(self, job_id: str) -> JobDetail:
        """The job's status, configuration, counters (``stats``) and triggers so far."""
        return self._client._request(JobDetail, "GET", _job_path(job_id))

    def list(self, status: str | None = None, type: str | None = None, limit: int = 20, offset: int = 0) -> JobList:
        """A page of this key's jobs, newest first; filter by ``status`` (``pending``, ``running``,
        ``completed``, ``stopped``, ``failed``) and ``type`` (``live-monitor``, ``live-digest``, ``watch``)."""
        params = _list_params(status, type, limit, offset)
        return self._client._request(JobList, "GET", "/api/jobs", params=params)

    def cancel(self, job_id: str) -> CancelResult:
        """Stop the job (status ``stopped``, reason ``cancelled``); a job that had ended is left as it was."""
        return self._client._request(CancelResult, "DELETE", _job_path(job_id))

    def stream_events(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[MonitorEvent]:
        """Yield the job's events as they happen: ``started``, ``progress``, ``triggered``, then ``stopped`` or
        ``error``, after which iteration ends.

        Events already stored are replayed first (all of them, or those after ``last_event_id``). A dropped
        connection is reopened with ``Last-Event-ID`` after the server's ``retry`` delay, growing while
        reconnections bring nothing; :class:`APIConnectionError` is raised after ``max_retries`` fruitless
        reconnections in a row, and error answers (say a 404 for an unknown job) are raised at once.
        """
        resume, path = _Resume(last_event_id, self._client.max_retries), f"{_job_path(job_id)}/events"
        while True:
            decoder, received, error = SSEDecoder(resume.last_event_id), 0, None
            with self._client._stream("GET", path, headers=resume.headers()) as response:
                try:
                    for chunk in response.iter_bytes():
                        for sse in decoder.feed(chunk):
                            received += 1
                            event = resume.accept(sse)
                            yield event
                            if event.terminal:
                                return
                except httpx.TransportError as exc:
                    error = exc
            resume.ended(decoder)
            # A clean end with nothing new: the job ended before (its terminal event is behind last_event_id).
            if error is None and received == 0 and self.get(job_id).is_ended:
                return
            self._client._sleep(resume.wait(received, error, job_id))

    def check_once(
        self,
        stream_url: str,
        condition: str,
        *,
        input_mode: InputMode = "frames",
        clip_duration_seconds: float = 3,
        include_frame: bool = False,
    ) -> CheckOnceResult:
        """Judge ``condition`` once on the stream's newest frame (or clip), without creating a job — a quick way
        to test a condition's wording. ``include_frame`` returns the judged frame as base64."""
        body = _check_body(stream_url, condition, input_mode, clip_duration_seconds, include_frame)
        return self._client._request(CheckOnceResult, "POST", "/api/check-once", json=body)

    def validate_stream(self, stream_url: str) -> StreamValidation:
        """Whether ``stream_url`` is a reachable live stream, with its platform, size, frame rate and codec; a
        stream that cannot be read gives ``is_live=False`` and an ``error_hint`` rather than an exception."""
        return self._client._request(StreamValidation, "POST", "/api/streams/validate", json={"stream_url": stream_url})


class AsyncMonitors:
    """Live-monitor jobs, asynchronously: the same methods as :class:`Monitors`, awaited."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def create(
        self,
        stream_url: str,
        condition: str,
        *,
        webhook_url: str | None = None,
        interval_seconds: float = 10,
        input_mode: InputMode = "frames",
        clip_duration_seconds: float = 3,
        monitor_duration_seconds: float | None = 600,
        trigger_cooldown_seconds: float = 0,
        max_triggers: int | None = 1,
        enable_prefilter: bool = True,
        include_frame: bool = False,
        skip_validation: bool = False,
    ) -> Job:
        """Start a live-monitor job; see :meth:`Monitors.create` (``None`` limits are sent as JSON null)."""
        body = _monitor_body(
            stream_url,
            condition,
            webhook_url=webhook_url,
            interval_seconds=interval_seconds,
            input_mode=input_mode,
            clip_duration_seconds=clip_duration_seconds,
            monitor_duration_seconds=monitor_duration_seconds,
            trigger_cooldown_seconds=trigger_cooldown_seconds,
            max_triggers=max_triggers,
            enable_prefilter=enable_prefilter,
            include_frame=include_frame,
            skip_validation=skip_validation,
        )
        return await self._client._request(Job, "POST", "/api/live-monitor", json=body)

    async def get(self, job_id: str) -> JobDetail:
        """The job's status, configuration, counters and triggers; see :meth:`Monitors.get`."""
        return await self._client._request(JobDetail, "GET", _job_path(job_id))

    async def list(
        self, status: str | None = None, type: str | None = None, limit: int = 20, offset: int = 0
    ) -> JobList:
        """A page of this key's jobs, newest first; see :meth:`Monitors.list`."""
        params = _list_params(status, type, limit, offset)
        return await self._client._request(JobList, "GET", "/api/jobs", params=params)

    async def cancel(self, job_id: str) -> CancelResult:
        """Stop the job; see :meth:`Monitors.cancel`."""
        return await self._client._request(CancelResult, "DELETE", _job_path(job_id))

    async def stream_events(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> AsyncGenerator[MonitorEvent, None]:
        """Yield the job's events as they happen, reconnecting with ``Last-Event-ID`` after a drop (an async
        generator; close it with ``contextlib.aclosing`` when leaving early). See :meth:`Monitors.stream_events`."""
        resume, path = _Resume(last_event_id, self._client.max_retries), f"{_job_path(job_id)}/events"
        while True:
            decoder, received, error = SSEDecoder(resume.last_event_id), 0, None
            async with self._client._stream("GET", path, headers=resume.headers()) as response:
                try:
                    async for chunk in response.aiter_bytes():
                        for sse in decoder.feed(chunk):
                            received += 1
                            event = resume.accept(sse)
                            yield event
                            if event.terminal:
                                return
                except httpx.TransportError as exc:
                    error = exc
            resume.ended(decoder)
            if error is None and received == 0 and (await self.get(job_id)).is_ended:
                return
            await self._client._sleep(resume.wait(received, error, job_id))

    async def check_once(
        self,
        stream_url: str,
        condition: str,
        *,
        input_mode: InputMode = "frames",
        clip_duration_seconds: float = 3,
        include_frame: bool = False,
    ) -> CheckOnceResult:
        """Judge ``condition`` once, without a job; see :meth:`Monitors.check_once`."""
        body = _check_body(stream_url, condition, input_mode, clip_duration_seconds, include_frame)
        return await self._client._request(CheckOnceResult, "POST", "/api/check-once", json=body)

    async def validate_stream(self, stream_url: str) -> StreamValidation:
        """Whether ``stream_url`` is a readable live stream; see :meth:`Monitors.validate_stream`."""
        body = {"stream_url": stream_url}
        return await self._client._request(StreamValidation, "POST", "/api/streams/validate", json=body)
