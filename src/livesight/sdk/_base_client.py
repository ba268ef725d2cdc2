"""HTTP plumbing shared by :class:`LiveSight` and :class:`AsyncLiveSight`: configuration, headers,
retries (rule in :mod:`livesight.sdk._retry`) and the mapping of error answers to exceptions."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from livesight import __version__
from livesight.sdk._retry import retry_delay, should_retry_error, should_retry_status
from livesight.sdk.errors import APIConnectionError, APIResponseValidationError, APITimeoutError, make_status_error

log = logging.getLogger("livesight.sdk")

DEFAULT_BASE_URL = "http://127.0.0.1:8800"
DEFAULT_TIMEOUT = httpx.Timeout(60.0)
DEFAULT_MAX_RETRIES = 2
USER_AGENT = f"livesight-python/{__version__}"

ModelT = TypeVar("ModelT", bound=BaseModel)


class NotGiven:
    """Marks an argument the caller did not pass, where ``None`` is a meaningful value (no timeout)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()
TimeoutTypes = float | httpx.Timeout | None


def path_segment(value: str) -> str:
    """``value`` escaped for use as one path segment (ids are opaque strings to the SDK)."""
    return quote(str(value), safe="")


def _timeout(value: TimeoutTypes) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def parse_model(model: type[ModelT], response: httpx.Response) -> ModelT:
    """The answer's JSON body as ``model``; raises :class:`APIResponseValidationError` when it is not."""
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise APIResponseValidationError(
            f"{response.request.method} {response.request.url.path} answered {response.status_code} with a body "
            f"that is not a {model.__name__}: {exc}",
            response=response,
        ) from exc


class BaseClient:
    """Configuration common to both clients; resolved once, at construction."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: TimeoutTypes,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        # The environment is read here and only here, so a client's settings never change after it is built.
        self.base_url = (base_url or os.environ.get("LIVESIGHT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else (os.environ.get("LIVESIGHT_API_KEY") or None)
        self.timeout = _timeout(timeout)
        self.max_retries = max_retries
        self._custom_headers = dict(default_headers or {})

    @property
    def default_headers(self) -> dict[str, str]:
        """Headers sent with every request (the API key as a bearer token, when there is one)."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(self._custom_headers)
        return headers

    def _connection_error(self, exc: Exception, request: httpx.Request) -> APIConnectionError:
        where = f"{request.method} {request.url}"
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"{where} timed out ({type(exc).__name__}).", request=request)
        hint = f" Is the LiveSight server running at {self.base_url}? (base_url= or LIVESIGHT_BASE_URL)"
        return APIConnectionError(f"{where} failed: {exc or type(exc).__name__}.{hint}", request=request)

    @staticmethod
    def _log_retry(request: httpx.Request, retry: int, wait: float, why: str) -> None:
        log.info("retrying %s %s in %.2fs (retry %d) after %s", request.method, request.url.path, wait, retry, why)


class SyncAPIClient(BaseClient):
    """The synchronous transport: an ``httpx.Client`` plus the retry loop."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: TimeoutTypes,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        http_client: httpx.Client | None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_http_client = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        # Every wait (retries, reconnects, polling) goes through this one seam, so tests need no wall clock.
        self._sleep: Callable[[float], object] = time.sleep

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        request = self._http.build_request(
            method,
            self.base_url + path,
            params=params,
            json=json,
            headers={**self.default_headers, **(headers or {})},
            timeout=self.timeout,
        )
        retry = 0
        while True:
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if retry >= self.max_retries or not should_retry_error(method, exc):
                    raise self._connection_error(exc, request) from exc
                retry += 1
                wait = retry_delay(retry)
                self._log_retry(request, retry, wait, type(exc).__name__)
                self._sleep(wait)
                continue
            if response.is_success:
                return response
            if retry < self.max_retries and should_retry_status(method, response.status_code):
                retry += 1
                wait = retry_delay(retry, response)
                response.close()
                self._log_retry(request, retry, wait, str(response.status_code))
                self._sleep(wait)
                continue
            try:
                response.read()
            except httpx.TransportError as exc:
                raise self._connection_error(exc, request) from exc
            finally:
                response.close()
            raise make_status_error(response)

    def _request(self, model: type[ModelT], method: str, path: str, **kwargs: Any) -> ModelT:
        """Send a request (with retries) and parse its JSON answer as ``model``."""
        return parse_model(model, self._send(method, path, **kwargs))

    @contextmanager
    def _stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """Send a request (with retries) and yield the open response, whose body is read incrementally."""
        response = self._send(method, path, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http_client:
            self._http.close()


class AsyncAPIClient(BaseClient):
    """The asynchronous transport: an ``httpx.AsyncClient`` plus the retry loop."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: TimeoutTypes,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        http_client: httpx.AsyncClient | None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_http_client = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        # Every wait (retries, reconnects, polling) goes through this one seam, so tests need no wall clock.
        self._sleep: Callable[[float], Awaitable[object]] = asyncio.sleep

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        request = self._http.build_request(
            method,
            self.base_url + path,
            params=params,
            json=json,
            headers={**self.default_headers, **(headers or {})},
            timeout=self.timeout,
        )
        retry = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if retry >= self.max_retries or not should_retry_error(method, exc):
                    raise self._connection_error(exc, request) from exc
                retry += 1
                wait = retry_delay(retry)
                self._log_retry(request, retry, wait, type(exc).__name__)
                await self._sleep(wait)
                continue
            if response.is_success:
                return response
            if retry < self.max_retries and should_retry_status(method, response.status_code):
                retry += 1
                wait = retry_delay(retry, response)
                await response.aclose()
                self._log_retry(request, retry, wait, str(response.status_code))
                await self._sleep(wait)
                continue
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise self._connection_error(exc, request) from exc
            finally:
                await response.aclose()
            raise make_status_error(response)

    async def _request(self, model: type[ModelT], method: str, path: str, **kwargs: Any) -> ModelT:
        """Send a request (with retries) and parse its JSON answer as ``model``."""
        return parse_model(model, await self._send(method, path, **kwargs))

    @asynccontextmanager
    async def _stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Send a request (with retries) and yield the open response, whose body is read incrementally."""
        response = await self._send(method, path, stream=True, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http_client:
            await self._http.aclose()
