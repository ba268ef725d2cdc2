"""The rules of :class:`NetworkPolicy` (see the package docstring) and host/URL resolution."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livesight.errors import ConfigurationError, LiveSightError

if TYPE_CHECKING:
    from livesight.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Iterable[str]]
"""``(host, port) -> IP address strings``; the default wraps ``getaddrinfo``."""

_net = ipaddress.ip_network

LINK_LOCAL: tuple[IPNetwork, ...] = (_net("169.254.0.0/16"), _net("fe80::/10"))
METADATA: tuple[IPNetwork, ...] = (
    _net("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack, DigitalOcean… (inside link-local anyway)
    _net("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    _net("100.100.100.200/32"),  # Alibaba Cloud
    _net("168.63.129.16/32"),  # Azure WireServer: a public address that only means something inside Azure
)
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
NEVER_OTHER: tuple[IPNetwork, ...] = (
    _net("0.0.0.0/8"),  # "this network": Linux connects 0.0.0.0 to the local host
    _net("::/128"),
    _net("224.0.0.0/4"),  # multicast
    _net("ff00::/8"),
    _net("255.255.255.255/32"),
)
LOOPBACK: tuple[IPNetwork, ...] = (_net("127.0.0.0/8"), _net("::1/128"))
PRIVATE_LAN: tuple[IPNetwork, ...] = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # carrier-grade NAT; also Tailscale's addresses
    _net("fc00::/7"),  # unique local IPv6
)
_NAT64 = _net("64:ff9b::/96")
_IPV4_COMPATIBLE = _net("::/96")  # deprecated ::a.b.c.d; some stacks still reach a.b.c.d through it

_ALLOWED_SETTING = "LIVESIGHT_ALLOWED_NETWORKS"
_BLOCKED_SETTING = "LIVESIGHT_BLOCKED_NETWORKS"


class BlockedAddress(LiveSightError):
    """An outbound connection the network policy refuses. The message names the host, never credentials."""

    code = "URL_NOT_ALLOWED"

    def __init__(self, message: str, *, host: str = "", address: str = "", remediation: str | None = None) -> None:
        super().__init__(message, remediation=remediation)
        self.host = host
        self.address = address


def _in(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def _parse_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 as C's ``inet_aton`` reads it: 1–4 dot-separated parts, each decimal, ``0x`` hex or ``0`` octal,
    the last part filling the remaining bytes (so ``127.1`` is 127.0.0.1 and ``2130706433`` too)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                values.append(int(part[2:], 16) if part[2:] else 0)
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part[1:], 8))
            else:
                if not part.isdigit():
                    return None
                values.append(int(part))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number << 8 | value
    number = number << (8 * (4 - len(head))) | last
    return ipaddress.IPv4Address(number)


def parse_host_ip(host: str) -> IPAddress | None:
    """The IP address ``host`` spells (bracketed or zoned IPv6, any ``inet_aton`` IPv4 form), else ``None``."""
    text = host.strip().strip("[]")
    text = text.split("%", 1)[0]  # an IPv6 zone id (fe80::1%eth0) does not change the address
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c.isalnum() or c == "." for c in text):
        return _parse_inet_aton(text)
    return None


def _targets(ip: IPAddress) -> list[IPAddress]:
    """The addresses a connection to ``ip`` may end up at; every one of them must be allowed."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None or ip in _NAT64:
        return [low32]  # the kernel (mapped) or the NAT64 gateway connects to this IPv4 address
    found: list[IPAddress] = [ip]
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: and ::1 themselves
        found.append(low32)
    return found


def _default_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses outbound connections to user-supplied URLs may reach (rules: :mod:`livesight.netpolicy`).

    ``resolver`` replaces ``getaddrinfo`` (tests); it is called directly, also from :meth:`check_url`.
    """

    allowed: Sequence[IPNetwork] = ()
    blocked: Sequence[IPNetwork] = ()
    allow_loopback: bool = False
    strict: bool = False
    resolver: Resolver | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Tuples: the policy is immutable and compares equal however its ranges were passed in.
        object.__setattr__(self, "allowed", tuple(self.allowed))
        object.__setattr__(self, "blocked", tuple(self.blocked))

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver | None = None) -> NetworkPolicy:
        """The policy of ``LIVESIGHT_ALLOWED_NETWORKS``, ``…_BLOCKED_NETWORKS``, ``…_ALLOW_LOOPBACK`` and
        ``…_NETWORK_POLICY``; a range that does not parse raises :class:`ConfigurationError`."""
        return cls(
            allowed=_networks(settings.allowed_networks, _ALLOWED_SETTING),
            blocked=_networks(settings.blocked_networks, _BLOCKED_SETTING),
            allow_loopback=settings.allow_loopback,
            strict=settings.network_policy == "strict",
            resolver=resolver,
        )

    # -- addresses ---------------------------------------------------------------------------------

    def check_ip(self, ip: IPAddress | str, *, host: str | None = None) -> None:
        """Raise :class:`BlockedAddress` unless connecting to ``ip`` is allowed (``host``: for the message)."""
        address = ip if not isinstance(ip, str) else parse_host_ip(ip)
        if address is None:
            raise BlockedAddress(f"{ip!r} is not an IP address", host=host or str(ip))
        refusal = next((r for r in map(self._refusal, _targets(address)) if r is not None), None)
        if refusal is not None:
            reason, remediation = refusal
            shown = f"{host} ({address})" if host and host != str(address) else str(address)
            raise BlockedAddress(
                f"connections to {shown} are not allowed: {reason}",
                host=host or str(address),
                address=str(address),
                remediation=remediation,
            )

    def is_allowed(self, ip: IPAddress | str) -> bool:
        """:meth:`check_ip` as a boolean."""
        try:
            self.check_ip(ip)
        except BlockedAddress:
            return False
        return True

    def _refusal(self, ip: IPAddress) -> tuple[str, str] | None:
        never = "No setting allows it: these addresses reach the host's own network plumbing."
        if _in(ip, METADATA):
            return "a cloud metadata address", never
        if _in(ip, LINK_LOCAL):
            return "a link-local address", never
        if _in(ip, NEVER_OTHER):
            return "an unspecified, multicast or broadcast address", never
        if _in(ip, self.blocked):
            return f"it is in {_BLOCKED_SETTING}", f"Remove its range from {_BLOCKED_SETTING} to allow it."
        if _in(ip, self.allowed):
            return None
        if _in(ip, LOOPBACK):
            if self.allow_loopback:
                return None
            return "a loopback address", "Set LIVESIGHT_ALLOW_LOOPBACK=true (single-user or test setups only)."
        if _in(ip, PRIVATE_LAN):
            if not self.strict:
                return None
            return (
                "a private address, and LIVESIGHT_NETWORK_POLICY is strict",
                f"Add the range to {_ALLOWED_SETTING}, or set LIVESIGHT_NETWORK_POLICY=default.",
            )
        if not ip.is_global or ip.is_reserved:
            return "a reserved, non-public address", f"Add the range to {_ALLOWED_SETTING} to allow it."
        return None

    # -- URLs --------------------------------------------------------------------------------------

    def check_host(self, host: str, addresses: Iterable[str | IPAddress]) -> list[IPAddress]:
        """Check a host name and every address it resolved to; returns the addresses (deduplicated, in order)."""
        name = _check_name(host)
        checked: list[IPAddress] = []
        for raw in addresses:
            ip = raw if not isinstance(raw, str) else parse_host_ip(raw)
            if ip is None:
                raise BlockedAddress(f"{name} resolved to {raw!r}, which is not an IP address", host=name)
            self.check_ip(ip, host=name)
            if ip not in checked:
                checked.append(ip)
        if not checked:
            raise BlockedAddress(f"{name} did not resolve to any address", host=name)
        return checked

    def check_url_sync(self, url: str) -> list[IPAddress]:
        """Resolve the URL's host (blocking) and check every address; returns them, in resolver order.

        Raises :class:`BlockedAddress`, or ``OSError`` (``socket.gaierror``) when the name does not resolve.
        """
        return self.resolve_and_check(*_host_port(url))

    async def check_url(self, url: str) -> list[IPAddress]:
        """:meth:`check_url_sync` without blocking the event loop (``getaddrinfo`` runs in a thread)."""
        return await self.resolve_and_check_async(*_host_port(url))

    def resolve_and_check(self, host: str, port: int) -> list[IPAddress]:
        """:meth:`check_url_sync` for a bare host and port."""
        literal = parse_host_ip(host)
        if literal is not None:
            return self.check_host(host, [literal])
        _check_name(host)  # before any lookup: the name alone may be refused
        return self.check_host(host, (self.resolver or _default_resolver)(_idna(host), port))

    async def resolve_and_check_async(self, host: str, port: int) -> list[IPAddress]:
        """:meth:`check_url` for a bare host and port."""
        literal = parse_host_ip(host)
        if literal is not None:
            return self.check_host(host, [literal])
        _check_name(host)
        if self.resolver is not None:
            return self.check_host(host, self.resolver(_idna(host), port))
        infos = await asyncio.get_running_loop().getaddrinfo(_idna(host), port, type=socket.SOCK_STREAM)
        return self.check_host(host, [str(info[4][0]) for info in infos])


def _check_name(host: str) -> str:
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS:
        raise BlockedAddress(
            f"connections to {name} are not allowed: a cloud metadata host",
            host=name,
            remediation="No setting allows it: metadata services hand out the server's credentials.",
        )
    return name


_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935, "ws": 80, "wss": 443}


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url.strip())
    host = parts.hostname
    if not host:
        # Only the scheme and host are shown: the rest of a URL may carry credentials.
        raise BlockedAddress(f"{parts.scheme or 'the'} URL has no host to check", host="")
    try:
        port = parts.port
    except ValueError:
        raise BlockedAddress(f"the URL of {host} has an invalid port", host=host) from None
    return host, port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)


def _idna(host: str) -> str:
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")
    return host


def _networks(values: Iterable[str], setting: str) -> list[IPNetwork]:
    parsed: list[IPNetwork] = []
    for value in values:
        try:
            parsed.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{setting}: {value!r} is not an IP network",
                remediation=f"Write {setting} as CIDR ranges separated by commas, e.g. 10.1.0.0/16,192.168.5.7/32.",
            ) from None
    return parsed
