"""``client.digests``: live-digest jobs — a summary of each window of a live stream (SPEC §3)."""

from __future__ import annotations

from typing import Any

from livesight.sdk._base_client import AsyncAPIClient, SyncAPIClient
from livesight.sdk.types import Job

__all__ = ["AsyncDigests", "Digests"]


def _digest_body(
    stream_url: str,
    window_minutes: float,
    capture_interval_seconds: float,
    include_frames: bool,
    max_windows: int | None,
    webhook_url: str | None,
    skip_validation: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "stream_url": stream_url,
        "window_minutes": window_minutes,
        "capture_interval_seconds": capture_interval_seconds,
        "include_frames": include_frames,
        "max_windows": max_windows,
        "skip_validation": skip_validation,
    }
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    return body


class Digests:
    """Live-digest jobs. They are jobs like monitors: follow one with ``client.monitors.stream_events(job_id)``
    (``summary`` events) or ``client.monitors.get(job_id)`` (``summaries``), stop it with ``cancel``."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def create(
        self,
        stream_url: str,
        *,
        window_minutes: float = 5,
        capture_interval_seconds: float = 30,
        include_frames: bool = False,
        max_windows: int | None = None,
        webhook_url: str | None = None,
        skip_validation: bool = False,
    ) -> Job:
        """Start summarising ``stream_url``: one frame every ``capture_interval_seconds``, one summary per
        ``window_minutes`` window, ``max_windows`` summaries at most (``None``: until cancelled).
        ``include_frames`` adds the judged frames (base64) to each summary; with ``webhook_url`` each summary is
        also POSTed there as a signed ``summary_generated`` webhook."""
        body = _digest_body(
            stream_url,
            window_minutes,
            capture_interval_seconds,
            include_frames,
            max_windows,
            webhook_url,
            skip_validation,
        )
        return self._client._request(Job, "POST", "/api/live-digest", json=body)


class AsyncDigests:
    """Live-digest jobs, asynchronously; see :class:`Digests`."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def create(
        self,
        stream_url: str,
        *,
        window_minutes: float = 5,
        capture_interval_seconds: float = 30,
        include_frames: bool = False,
        max_windows: int | None = None,
        webhook_url: str | None = None,
        skip_validation: bool = False,
    ) -> Job:
        """Start summarising ``stream_url``; see :meth:`Digests.create`."""
        body = _digest_body(
            stream_url,
            window_minutes,
            capture_interval_seconds,
            include_frames,
            max_windows,
            webhook_url,
            skip_validation,
        )
        return await self._client._request(Job, "POST", "/api/live-digest", json=body)
