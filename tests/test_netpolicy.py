"""The outbound network policy (SSRF guard): every rule, every spelling of an address, every redirect hop."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from livesight.errors import ConfigurationError
from livesight.netpolicy import (
    BlockedAddress,
    NetworkPolicy,
    guarded_async_client,
    guarded_client,
    parse_host_ip,
)
from livesight.settings import Settings
from livesight.testing import ServerThread

DEFAULT = NetworkPolicy()
LOOPBACK_OK = NetworkPolicy(allow_loopback=True)
STRICT = NetworkPolicy(strict=True)
net = ipaddress.ip_network

ALWAYS_REFUSED = [
    "169.254.169.254",  # AWS/GCP/Azure metadata
    "169.254.1.1",  # link-local
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba metadata
    "168.63.129.16",  # Azure WireServer
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "224.0.0.1",  # multicast
    "ff02::1",
    "255.255.255.255",
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
]


@pytest.mark.parametrize(
    ("address", "default", "strict", "loopback_ok"),
    [
        # public
        ("8.8.8.8", True, True, True),
        ("2606:4700:4700::1111", True, True, True),
        ("::ffff:8.8.8.8", True, True, True),
        # private LAN: cameras live there, refused only in strict mode
        ("10.1.2.3", True, False, True),
        ("172.16.0.1", True, False, True),
        ("172.31.255.254", True, False, True),
        ("192.168.1.20", True, False, True),
        ("100.64.0.1", True, False, True),  # carrier-grade NAT / Tailscale
        ("fd12:3456::1", True, False, True),
        ("::ffff:10.0.0.1", True, False, True),
        # loopback: only with allow_loopback, and never in strict mode
        ("127.0.0.1", False, False, True),
        ("127.9.8.7", False, False, True),
        ("::1", False, False, True),
        ("::ffff:127.0.0.1", False, False, True),
        ("64:ff9b::7f00:1", False, False, True),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", False, False, True),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", False, False, False),  # deprecated IPv4-compatible: reserved
        # reserved and special-purpose ranges
        ("240.0.0.1", False, False, False),
        ("192.0.2.1", False, False, False),  # documentation
        ("198.18.0.1", False, False, False),  # benchmarking
        ("2001:db8::1", False, False, False),
        ("172.32.0.1", True, True, True),  # just outside 172.16/12: public
        *[(a, False, False, False) for a in ALWAYS_REFUSED],
    ],
)
def test_rules_by_address(address: str, default: bool, strict: bool, loopback_ok: bool) -> None:
    assert DEFAULT.is_allowed(address) is default
    assert STRICT.is_allowed(address) is strict
    assert LOOPBACK_OK.is_allowed(address) is loopback_ok


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_link_local_and_metadata_cannot_be_allowed(address: str) -> None:
    everything = NetworkPolicy(allowed=[net("0.0.0.0/0"), net("::/0")], allow_loopback=True)
    assert not everything.is_allowed(address)
    with pytest.raises(BlockedAddress) as caught:
        everything.check_ip(address)
    assert "No setting allows it" in caught.value.remediation


def test_allowed_opens_ranges_even_in_strict_mode() -> None:
    policy = NetworkPolicy(allowed=[net("10.1.0.0/16"), net("240.0.0.0/4"), net("127.0.0.1/32")], strict=True)
    assert policy.is_allowed("10.1.2.3") and not policy.is_allowed("10.2.0.1")
    assert policy.is_allowed("240.0.0.1")
    assert policy.is_allowed("127.0.0.1") and not policy.is_allowed("127.0.0.2")


def test_blocked_wins_over_allowed_loopback_and_defaults() -> None:
    policy = NetworkPolicy(
        allowed=[net("192.168.0.0/16")],
        blocked=[net("192.168.1.0/24"), net("8.8.8.0/24"), net("127.0.0.0/8")],
        allow_loopback=True,
    )
    assert not policy.is_allowed("192.168.1.5") and policy.is_allowed("192.168.2.5")
    assert not policy.is_allowed("8.8.8.8") and policy.is_allowed("8.8.4.4")
    assert not policy.is_allowed("127.0.0.1") and policy.is_allowed("::1")
    with pytest.raises(BlockedAddress, match="LIVESIGHT_BLOCKED_NETWORKS") as caught:
        policy.check_ip("8.8.8.8")
    assert "LIVESIGHT_BLOCKED_NETWORKS" in caught.value.remediation


def test_refusals_say_which_setting_to_change() -> None:
    with pytest.raises(BlockedAddress) as loopback:
        DEFAULT.check_ip("127.0.0.1")
    assert loopback.value.code == "URL_NOT_ALLOWED" and "LIVESIGHT_ALLOW_LOOPBACK" in loopback.value.remediation
    with pytest.raises(BlockedAddress) as strict:
        STRICT.check_ip("192.168.1.20")
    assert "LIVESIGHT_ALLOWED_NETWORKS" in strict.value.remediation and "strict" in str(strict.value)
    with pytest.raises(BlockedAddress, match="not an IP address"):
        DEFAULT.check_ip("camera.local")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("0x100.1", None),
        ("4294967296", None),
        ("08.1.1.1", None),
        ("example.com", None),
        ("1e3", None),
        ("", None),
    ],
)
def test_parse_host_ip_reads_what_the_c_resolver_reads(host: str, expected: str | None) -> None:
    parsed = parse_host_ip(host)
    assert (None if parsed is None else str(parsed)) == expected


def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} is an address literal and must not be looked up")


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1:8080/x",
        "http://127.1/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "rtsp://127.0.0.1/stream",
    ],
)
async def test_loopback_in_any_spelling_is_refused_without_a_lookup(url: str) -> None:
    policy = NetworkPolicy(resolver=_no_dns)
    with pytest.raises(BlockedAddress, match="loopback"):
        policy.check_url_sync(url)
    with pytest.raises(BlockedAddress, match="loopback"):
        await policy.check_url(url)
    assert [str(ip) for ip in NetworkPolicy(allow_loopback=True, resolver=_no_dns).check_url_sync(url)]


@pytest.mark.parametrize(
    "url",
    [
        "http://0/",
        "http://0.0.0.0:80/",
        "http://[::]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
    ],
)
def test_unspecified_and_link_local_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddress):
        NetworkPolicy(allow_loopback=True, resolver=_no_dns).check_url_sync(url)


def test_messages_name_the_host_but_never_credentials() -> None:
    with pytest.raises(BlockedAddress) as caught:
        DEFAULT.check_url_sync("http://admin:hunter2@169.254.169.254/latest?token=abc")
    message = str(caught.value)
    assert "169.254.169.254" in message and "metadata" in message
    assert "hunter2" not in message and "admin" not in message and "abc" not in message


@pytest.mark.parametrize(
    "url",
    ["http://metadata.google.internal/computeMetadata/v1/", "http://METADATA.GOOGLE.INTERNAL./", "http://metadata/"],
)
async def test_metadata_host_names_are_refused_before_any_lookup(url: str) -> None:
    policy = NetworkPolicy(allowed=[net("0.0.0.0/0")], resolver=_no_dns)
    with pytest.raises(BlockedAddress, match="metadata"):
        policy.check_url_sync(url)
    with pytest.raises(BlockedAddress, match="metadata"):
        await policy.check_url(url)


ZONE = {
    "cam.example": ["192.168.1.20"],
    "public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "mixed.example": ["93.184.216.34", "127.0.0.1"],  # one bad address is enough
    "rebind.example": ["169.254.169.254"],
    "v6loop.example": ["::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "empty.example": [],
}


def _zone(host: str, port: int) -> list[str]:
    if host not in ZONE:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ZONE[host]


@pytest.mark.parametrize(
    ("host", "default", "strict", "loopback_ok"),
    [
        ("cam.example", True, False, True),
        ("public.example", True, True, True),
        ("mixed.example", False, False, True),
        ("rebind.example", False, False, False),
        ("v6loop.example", False, False, True),
        ("mapped.example", False, False, True),
        ("empty.example", False, False, False),
    ],
)
async def test_names_are_judged_by_every_address_they_resolve_to(
    host: str, default: bool, strict: bool, loopback_ok: bool
) -> None:
    for policy, expected in (
        (NetworkPolicy(resolver=_zone), default),
        (NetworkPolicy(strict=True, resolver=_zone), strict),
        (NetworkPolicy(allow_loopback=True, resolver=_zone), loopback_ok),
    ):
        url = f"https://{host}:8443/hook"
        if expected:
            assert policy.check_url_sync(url) == [ipaddress.ip_address(a) for a in ZONE[host]]
            assert await policy.check_url(url) == [ipaddress.ip_address(a) for a in ZONE[host]]
        else:
            with pytest.raises(BlockedAddress) as caught:
                policy.check_url_sync(url)
            assert host in str(caught.value)
            with pytest.raises(BlockedAddress):
                await policy.check_url(url)


async def test_unknown_names_raise_the_resolver_error_not_a_refusal() -> None:
    policy = NetworkPolicy(resolver=_zone)
    with pytest.raises(socket.gaierror):
        policy.check_url_sync("http://nowhere.example/")
    with pytest.raises(socket.gaierror):
        await policy.check_url("http://nowhere.example/")
    with pytest.raises(BlockedAddress, match="no host"):
        await policy.check_url("file:///etc/passwd")


def test_from_settings_reads_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVESIGHT_ALLOWED_NETWORKS", "10.1.0.0/16, 192.168.5.7")
    monkeypatch.setenv("LIVESIGHT_BLOCKED_NETWORKS", '["192.168.1.0/24"]')
    monkeypatch.setenv("LIVESIGHT_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("LIVESIGHT_NETWORK_POLICY", "strict")
    policy = NetworkPolicy.from_settings(Settings())
    assert list(policy.allowed) == [net("10.1.0.0/16"), net("192.168.5.7/32")]
    assert list(policy.blocked) == [net("192.168.1.0/24")]
    assert policy.allow_loopback and policy.strict
    assert NetworkPolicy.from_settings(Settings(allowed_networks=[], blocked_networks=[])) != NetworkPolicy()
    assert NetworkPolicy.from_settings(Settings(allow_loopback=False, network_policy="default", allowed_networks=[]))
    with pytest.raises(ConfigurationError, match="LIVESIGHT_ALLOWED_NETWORKS"):
        NetworkPolicy.from_settings(Settings(allowed_networks=["10.0.0.0/33"]))


def test_default_settings_give_the_default_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALLOWED_NETWORKS", "BLOCKED_NETWORKS", "ALLOW_LOOPBACK", "NETWORK_POLICY"):
        monkeypatch.delenv(f"LIVESIGHT_{name}", raising=False)
    assert NetworkPolicy.from_settings(Settings()) == NetworkPolicy()


# -- the guarded transports, against a real server -----------------------------------------------------------


def _app() -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse({"host": request.headers.get("host"), "path": request.url.path})

    async def to_metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

    async def to_mapped_loopback(request: Request) -> Response:
        port = request.url.port
        return RedirectResponse(f"http://[::ffff:127.0.0.1]:{port}/echo", status_code=302)

    async def to_named(request: Request) -> Response:
        return RedirectResponse(f"http://receiver.test:{request.url.port}/echo", status_code=307)

    async def to_other(request: Request) -> Response:
        return RedirectResponse(f"http://other.test:{request.url.port}/echo", status_code=302)

    return Starlette(
        routes=[
            Route("/echo", echo),
            Route("/to-metadata", to_metadata),
            Route("/to-mapped-loopback", to_mapped_loopback),
            Route("/to-named", to_named),
            Route("/to-other", to_other),
        ]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(_app()) as running:
        yield running


def _local(host: str, port: int) -> list[str]:
    if host == "receiver.test":
        return ["127.0.0.1"]
    if host == "other.test":
        return ["127.0.0.2"]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def test_a_redirect_to_the_metadata_address_is_refused(server: ServerThread) -> None:
    async with guarded_async_client(NetworkPolicy(allow_loopback=True), follow_redirects=True) as client:
        with pytest.raises(BlockedAddress, match=r"169\.254\.169\.254"):
            await client.get(f"{server.base_url}/to-metadata")
        # Without following, the redirect itself is an ordinary answer.
        response = await client.get(f"{server.base_url}/to-metadata", follow_redirects=False)
        assert response.status_code == 302


def test_the_sync_client_checks_redirects_too(server: ServerThread) -> None:
    with guarded_client(NetworkPolicy(allow_loopback=True), follow_redirects=True) as client:
        with pytest.raises(BlockedAddress, match=r"169\.254\.169\.254"):
            client.get(f"{server.base_url}/to-metadata")
        assert client.get(f"{server.base_url}/echo").json()["path"] == "/echo"


async def test_each_hop_is_checked_against_the_policy(server: ServerThread) -> None:
    # Only 127.0.0.1 itself is allowed: the first hop passes, the second (to 127.0.0.2) does not.
    policy = NetworkPolicy(allowed=[net("127.0.0.1/32")], strict=True, resolver=_local)
    async with guarded_async_client(policy, follow_redirects=True) as client:
        with pytest.raises(BlockedAddress, match=r"other\.test \(127\.0\.0\.2\)"):
            await client.get(f"{server.base_url}/to-other")
        # ::ffff:127.0.0.1 is 127.0.0.1: the mapped spelling reaches the same, allowed, address.
        response = await client.get(f"{server.base_url}/to-mapped-loopback")
        assert response.status_code == 200 and response.json()["path"] == "/echo"


async def test_a_blocked_host_is_never_connected_to(server: ServerThread) -> None:
    async with guarded_async_client(NetworkPolicy()) as client:
        with pytest.raises(BlockedAddress, match="loopback"):
            await client.get(f"{server.base_url}/echo")
    with guarded_client(NetworkPolicy()) as client, pytest.raises(BlockedAddress):
        client.get(f"{server.base_url}/echo")


async def test_the_connection_goes_to_the_checked_address_with_the_original_host_header(server: ServerThread) -> None:
    # receiver.test exists only in the policy's resolver: reaching it proves the transport connects to the
    # address it checked rather than resolving the name again (no DNS-rebinding window).
    policy = NetworkPolicy(allow_loopback=True, resolver=_local)
    async with guarded_async_client(policy, follow_redirects=True) as client:
        direct = await client.get(f"http://receiver.test:{server.port}/echo")
        assert direct.json() == {"host": f"receiver.test:{server.port}", "path": "/echo"}
        assert str(direct.url) == f"http://receiver.test:{server.port}/echo"
        hopped = await client.get(f"{server.base_url}/to-named")
        assert hopped.json()["host"] == f"receiver.test:{server.port}"
    with guarded_client(policy) as sync_client:
        assert (
            sync_client.get(f"http://receiver.test:{server.port}/echo").json()["host"] == f"receiver.test:{server.port}"
        )


async def test_an_unresolvable_name_is_an_ordinary_connect_error() -> None:
    async with guarded_async_client(NetworkPolicy(resolver=_local)) as client:
        with pytest.raises(httpx.ConnectError, match=r"nowhere\.test"):
            await client.get("http://nowhere.test/")
