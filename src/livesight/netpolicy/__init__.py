"""The outbound network policy (SSRF guard) for URLs users hand us: stream sources and webhook receivers.

A host is resolved and **every** address it resolves to is checked, so a DNS name cannot smuggle a
private address past a check of its name. The rules, first match wins:

1. never: link-local (169.254.0.0/16, fe80::/10), cloud metadata services (169.254.169.254,
   fd00:ec2::254, 100.100.100.200, 168.63.129.16, ``metadata.google.internal``…), unspecified
   (0.0.0.0/8, ::), multicast and broadcast — not even when listed in ``allowed``;
2. ``blocked`` (``LIVESIGHT_BLOCKED_NETWORKS``): refused;
3. ``allowed`` (``LIVESIGHT_ALLOWED_NETWORKS``): accepted;
4. loopback (127.0.0.0/8, ::1): accepted only with ``allow_loopback`` (demo, tests);
5. private LAN ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): accepted, because cameras
   live there — except in strict mode (multi-tenant servers), which refuses every non-public address;
6. any other non-public range (reserved, documentation, benchmarking…): refused;
7. public addresses: accepted.

IPv4 written in the forms ``inet_aton`` accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) is read
the way the C resolver would read it, and IPv4 embedded in IPv6 (``::ffff:127.0.0.1``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``) is checked as the IPv4 address it reaches.

The guarded httpx transports (:class:`GuardedTransport`, :class:`GuardedSyncTransport`, and the clients
of :func:`guarded_async_client` / :func:`guarded_client`) check the host of every request they send, so
each redirect hop is checked too, and then connect to the address they checked (the hostname still goes
in the ``Host`` header and TLS SNI), which closes the DNS-rebinding gap between check and connect. Code
that resolves and connects by itself after :meth:`NetworkPolicy.check_url` (FFmpeg opening an RTSP URL,
for one) keeps that gap: a hostile DNS server could answer differently the second time.

Usage: ``policy = NetworkPolicy.from_settings(settings)``; ``await policy.check_url(url)`` before
handing a URL to something else; ``guarded_async_client(policy)`` for HTTP fetches.
"""

from __future__ import annotations

from livesight.netpolicy._policy import (
    LINK_LOCAL,
    LOOPBACK,
    METADATA,
    METADATA_HOSTS,
    PRIVATE_LAN,
    BlockedAddress,
    IPAddress,
    IPNetwork,
    NetworkPolicy,
    Resolver,
    parse_host_ip,
)
from livesight.netpolicy._transports import GuardedSyncTransport, GuardedTransport, guarded_async_client, guarded_client

__all__ = [
    "LINK_LOCAL",
    "LOOPBACK",
    "METADATA",
    "METADATA_HOSTS",
    "PRIVATE_LAN",
    "BlockedAddress",
    "GuardedSyncTransport",
    "GuardedTransport",
    "IPAddress",
    "IPNetwork",
    "NetworkPolicy",
    "Resolver",
    "guarded_async_client",
    "guarded_client",
    "parse_host_ip",
]
