"""The two clients: :class:`LiveSight` (blocking) and :class:`AsyncLiveSight` (asyncio)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

import httpx

from livesight.sdk._base_client import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    AsyncAPIClient,
    NotGiven,
    SyncAPIClient,
    TimeoutTypes,
)
from livesight.sdk.resources.digests import AsyncDigests, Digests
from livesight.sdk.resources.livestream import AsyncLivestream, Livestream
from livesight.sdk.resources.monitors import AsyncMonitors, Monitors
from livesight.sdk.resources.webhooks import Webhooks

__all__ = ["AsyncLiveSight", "LiveSight"]


class LiveSight(SyncAPIClient):
    """A blocking client of a LiveSight server.

    ``base_url`` defaults to ``LIVESIGHT_BASE_URL``, else ``http://127.0.0.1:8800``; ``api_key`` to
    ``LIVESIGHT_API_KEY`` (a server in development mode, with no keys, needs none). ``timeout`` (seconds or an
    ``httpx.Timeout``; default 60 s) applies to each request; ``max_retries`` (default 2) bounds the retries of
    a failed request (see :mod:`livesight.sdk._retry` for which failures are retried). ``webhook_secret``
    (else ``LIVESIGHT_WEBHOOK_SECRET``) is used by ``webhooks.verify``. Pass ``http_client`` to use your own
    ``httpx.Client`` (proxies, transports); it is then yours to close.

    Use it as a context manager, or call :meth:`close`::

        with LiveSight() as client:
            job = client.monitors.create("https://example.com/live.m3u8", "is there a person at the door?")
            for event in client.monitors.stream_events(job.job_id):
                print(event.event, event.data)
    """

    livestream: Livestream
    monitors: Monitors
    digests: Digests
    webhooks: Webhooks

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        webhook_secret: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            http_client=http_client,
        )
        self.webhook_secret = webhook_secret
        self.livestream = Livestream(self)
        self.monitors = Monitors(self)
        self.digests = Digests(self)
        self.webhooks = Webhooks(webhook_secret)

    def with_options(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | NotGiven = NOT_GIVEN
    ) -> LiveSight:
        """A copy of this client with another ``timeout`` (``None``: no timeout) or ``max_retries``, for one call
        or a few: ``client.with_options(max_retries=5).monitors.get(job_id)``.

        The copy shares this client's connection pool: closing the copy leaves it open, closing this client
        closes it for both.
        """
        copy = LiveSight(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
            max_retries=self.max_retries if isinstance(max_retries, NotGiven) else max_retries,
            webhook_secret=self.webhook_secret,
            default_headers=self._custom_headers,
            http_client=self._http,
        )
        copy._sleep = self._sleep
        return copy

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LiveSight(base_url={self.base_url!r})"


class AsyncLiveSight(AsyncAPIClient):
    """An asyncio client of a LiveSight server, method for method like :class:`LiveSight` (awaited; the event
    iterators are async generators). Use ``async with AsyncLiveSight() as client:`` or ``await client.aclose()``.
    """

    livestream: AsyncLivestream
    monitors: AsyncMonitors
    digests: AsyncDigests
    webhooks: Webhooks

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        webhook_secret: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            http_client=http_client,
        )
        self.webhook_secret = webhook_secret
        self.livestream = AsyncLivestream(self)
        self.monitors = AsyncMonitors(self)
        self.digests = AsyncDigests(self)
        # Verification is pure computation: the async client shares the synchronous helper.
        self.webhooks = Webhooks(webhook_secret)

    def with_options(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | NotGiven = NOT_GIVEN
    ) -> AsyncLiveSight:
        """A copy with another ``timeout`` or ``max_retries`` sharing this client's connection pool; see
        :meth:`LiveSight.with_options`."""
        copy = AsyncLiveSight(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
            max_retries=self.max_retries if isinstance(max_retries, NotGiven) else max_retries,
            webhook_secret=self.webhook_secret,
            default_headers=self._custom_headers,
            http_client=self._http,
        )
        copy._sleep = self._sleep
        return copy

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncLiveSight(base_url={self.base_url!r})"
