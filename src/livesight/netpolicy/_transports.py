"""httpx transports that check every request's host against a :class:`NetworkPolicy` before connecting.

A client built on them checks each redirect hop too, since the client sends every hop through its
transport. They connect to the address they checked (the name still goes in ``Host`` and TLS SNI), so a
DNS answer that changes between check and connect (DNS rebinding) cannot redirect the connection.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx

from livesight.netpolicy._policy import IPAddress, NetworkPolicy, parse_host_ip


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _pinned(request: httpx.Request, ip: IPAddress) -> httpx.Request:
    """``request`` sent to ``ip``; the original request object is left alone (the client keeps it as
    ``response.request`` and resolves redirects against its URL)."""
    host = request.url.host
    extensions = dict(request.extensions)
    if request.url.scheme == "https" and parse_host_ip(host) is None:
        # Certificates are checked against the server_hostname httpcore takes from this extension.
        extensions.setdefault("sni_hostname", host)
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(ip)),
        headers=request.headers,  # carries the original Host header
        stream=request.stream,
        extensions=extensions,
    )


def _unresolvable(request: httpx.Request, exc: OSError) -> httpx.ConnectError:
    # The same error type as any other connection failure, so callers' retry logic treats it alike.
    return httpx.ConnectError(f"cannot resolve {request.url.host}: {exc}", request=request)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An :class:`httpx.AsyncHTTPTransport` that refuses hosts the policy does not allow.

    Raises :class:`~livesight.netpolicy.BlockedAddress` (not an ``httpx`` error, so generic retry loops
    do not retry it) before connecting. The resolved addresses are tried in order.
    """

    def __init__(self, policy: NetworkPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            addresses = await self.policy.resolve_and_check_async(request.url.host, _port(request.url))
        except socket.gaierror as exc:
            raise _unresolvable(request, exc) from exc
        failure: httpx.ConnectError | None = None
        for ip in addresses:
            try:
                return await super().handle_async_request(_pinned(request, ip))
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None  # check_host never returns an empty list
        raise failure


class GuardedSyncTransport(httpx.HTTPTransport):
    """The blocking twin of :class:`GuardedTransport`, for :class:`httpx.Client`."""

    def __init__(self, policy: NetworkPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            addresses = self.policy.resolve_and_check(request.url.host, _port(request.url))
        except socket.gaierror as exc:
            raise _unresolvable(request, exc) from exc
        failure: httpx.ConnectError | None = None
        for ip in addresses:
            try:
                return super().handle_request(_pinned(request, ip))
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure


def guarded_async_client(
    policy: NetworkPolicy, *, verify: Any = True, limits: httpx.Limits | None = None, **client_kwargs: Any
) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` whose every request (and redirect hop) passes ``policy``.

    ``verify`` and ``limits`` configure the transport; other keyword arguments go to the client.
    Environment proxies are not used (a proxy would connect on our behalf, past the check).
    """
    transport = GuardedTransport(policy, verify=verify, limits=limits or httpx.Limits())
    return httpx.AsyncClient(transport=transport, **client_kwargs)


def guarded_client(
    policy: NetworkPolicy, *, verify: Any = True, limits: httpx.Limits | None = None, **client_kwargs: Any
) -> httpx.Client:
    """The blocking twin of :func:`guarded_async_client`."""
    transport = GuardedSyncTransport(policy, verify=verify, limits=limits or httpx.Limits())
    return httpx.Client(transport=transport, **client_kwargs)
