"""Another key's ids read as missing on every route; signed links cannot be forged, moved or kept.

One server, two keys. Alice runs a monitor job (with webhooks), a digest job and a session with a
rapid-review query on a live stream, and waits until they have recorded chunks, events and deliveries;
bob has a job he cancelled and a stream of his own. Then every route of the app that names an id (in
its path, or as a ``*_id`` query parameter) is called with alice's real ids, by kind of route:

* keyed routes (the bearer key decides): bob gets the 404 envelope, exactly what an id that exists
  nowhere gets, while alice gets an answer that is neither 404 nor 5xx (so the ids are real);
* signed routes (a ``sig`` query parameter, no bearer): without a valid signature, 403 ``FORBIDDEN``
  for alice's ids as for made-up ones, whatever the key; with one the server made, 200;
* ``PUBLIC_PAGES``: the UI's HTML shells, served to anyone without a key (a browser navigating cannot
  send one), identical for any id: the data reaches the page through the keyed API.

Ids in a JSON body (``BODY_ID_ROUTES``) and the list routes are checked too. A route naming an id this
test cannot fill, or a new body-id route, fails the test until it is described here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from livesight.testing._server import ServerThread
from livesight.testing.hls_server import LiveHLSServer

from . import test_monitor
from .conftest import LiveServer
from .test_monitor import CONDITION, wait_for_job
from .test_sessions import QUERY, _wait_session

receiver = test_monitor.receiver  # a webhook receiver: (thread, received)

# Every id a route may name, with one that exists for nobody. A route naming a parameter missing here
# fails the test: add it here and to alice's id sets in the ``world`` fixture.
UNKNOWN_IDS = {
    "job_id": "job_000000000000000000000000",
    "webhook_id": "msg_000000000000000000000000",
    "stream_id": "str_000000000000000000000000",
    "session_id": "ses_000000000000000000000000",
    "event_id": "evt_000000000000000000000000",
    "chunk_index": "999999",
}
PUBLIC_PAGES = {"/ui/sessions/{stream_id}/{session_id}", "/ui/jobs/{job_id}"}
MOUNTS = {"/ui/static"}  # static files: the only mounts, their {path} is a file name, not an id
# Routes that delete what alice's ids name: checked after every other route (her ended jobs go; her
# running session answers 409 and stays for the body-id routes).
LAST = {("DELETE", "/api/ui/jobs/{job_id}"), ("DELETE", "/api/ui/sessions/{session_id}")}

# Routes taking ids in a JSON body: alice's body, bob's answer to it, and whether alice may send it here
# (start-session would start another run: that the stream id is real is shown by the routes above).
BODY_ID_ROUTES: dict[tuple[str, str], tuple[Callable[[World], dict[str, Any]], int, str, bool]] = {
    ("POST", "/api/live/start-session"): (
        lambda w: {"source_url": w.stream_url, "name": "bob's", "stream_id": w.ids["session"]["stream_id"]},
        404,
        "STREAM_NOT_FOUND",
        False,
    ),
    # Stream ids are chosen by the client, so a taken one is a conflict (alice's stream is left alone).
    ("POST", "/api/live/attach-stream"): (
        lambda w: {
            "stream_id": w.ids["session"]["stream_id"],
            "stream_name": "bob's",
            "source_url": w.stream_url + "?b",
        },
        409,
        "STREAM_ID_TAKEN",
        True,
    ),
    ("POST", "/api/live/end-session"): (  # last: alice's call ends her session
        lambda w: {k: w.ids["session"][k] for k in ("stream_id", "session_id")},
        404,
        "SESSION_NOT_FOUND",
        True,
    ),
}
# List routes: alice's answer names her things, bob's none of them (every GET without ids is checked for
# the latter; these must also show alice hers, so an empty list cannot pass).
LISTS = (
    "/api/jobs",
    "/api/jobs?type=live-digest",
    "/api/jobs?status=completed",
    "/api/live/live-sessions",
    "/api/ui/overview",
    "/api/ui/overview/stream",
)


@dataclass
class World:
    server: LiveServer
    alice: str
    bob: str
    stream_url: str
    ids: dict[str, dict[str, str]]  # alice's id sets (param name → id): "monitor", "digest", "session"
    bob_ids: dict[str, str]  # bob's own job and stream, to pair with alice's ids under them
    job: dict[str, Any]  # alice's monitor job as GET /api/jobs/{id} shows it
    session: dict[str, Any]  # alice's session as GET /api/live/live-sessions/{stream}/{session} shows it

    def alice_values(self) -> set[str]:
        return {v for ids in self.ids.values() for k, v in ids.items() if k != "chunk_index"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the template: /api/jobs/{job_id}
    path_ids: tuple[str, ...]
    query_ids: tuple[str, ...]  # *_id query parameters
    signed: bool


@pytest.fixture
def world(
    keyed: tuple[LiveServer, str, str],
    stream: LiveHLSServer,
    receiver: tuple[ServerThread, list[dict[str, Any]]],
) -> Iterator[World]:
    server, alice, bob = keyed
    with server.client(alice) as a, server.client(bob) as b:
        common = {"stream_url": stream.url, "skip_validation": True}
        webhook = f"{receiver[0].base_url}/hook"
        monitor = a.post(
            "/api/live-monitor", json={**common, "condition": CONDITION, "interval_seconds": 1, "webhook_url": webhook}
        )
        digest = a.post("/api/live-digest", json={**common, "window_minutes": 0.1, "max_windows": 1})
        session_request = {"source_url": stream.url, "name": "door", "rapid_review_query": QUERY}
        started = a.post("/api/live/start-session", json=session_request)
        assert monitor.status_code == digest.status_code == started.status_code == 200, (monitor, digest, started)
        bob_job = b.post("/api/live-monitor", json={**common, "condition": "a truck?"}).json()["job_id"]
        assert b.delete(f"/api/jobs/{bob_job}").status_code == 200
        bob_stream = {"stream_id": "bobs-own-stream", "stream_name": "bob", "source_url": stream.url}
        assert b.post("/api/live/attach-stream", json=bob_stream).json() == {"ok": True}

        job_id, session = monitor.json()["job_id"], started.json()
        job = wait_for_job(a, job_id, timeout=40)
        assert job["status"] == "completed" and job["triggers"][0]["frame_url"], job
        deliveries = _wait_session(a, f"/api/jobs/{job_id}/deliveries", lambda d: d["deliveries"], timeout=20)
        session_path = f"/api/live/live-sessions/{session['stream_id']}/{session['session_id']}"
        session = _wait_session(a, session_path, lambda s: any("thumbnail_url" in e for e in s["events"]), timeout=40)
    trigger = job["triggers"][0]
    event = next(e for e in session["events"] if "thumbnail_url" in e)
    ids = {
        "monitor": {
            "job_id": job_id,
            "webhook_id": deliveries["deliveries"][-1]["webhook_id"],
            "event_id": trigger["event_id"],
            "chunk_index": str(trigger["chunk_index"]),
        },
        "digest": {"job_id": digest.json()["job_id"]},
        "session": {
            "stream_id": session["stream_id"],
            "session_id": session["session_id"],
            "event_id": event["event_id"],
            "chunk_index": str(event["chunk_index"]),
        },
    }
    bob_ids = {"job_id": bob_job, "stream_id": bob_stream["stream_id"]}
    yield World(server, alice, bob, stream.url, ids, bob_ids, job, session)


# -- helpers --------------------------------------------------------------------------------------


def endpoints(server: LiveServer) -> list[Endpoint]:
    """Every (method, route) of the app; included routers are flattened (lazy in newer FastAPI)."""
    app = server.thread.app
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found = []
    for route in routes:
        if getattr(route, "methods", None) is None:
            assert route.path in MOUNTS, f"a new mount {route.path}: does it serve anything by id?"
            continue
        dependant = getattr(route, "dependant", None)
        query = [p.alias for p in dependant.query_params] if dependant is not None else []
        for method in sorted(route.methods - {"HEAD"}):  # HEAD answers like GET, without a body to check
            query_ids = tuple(q for q in query if q.endswith("_id"))
            found.append(Endpoint(method, route.path, tuple(route.param_convertors), query_ids, "sig" in query))
    return found


def url_for(route: Endpoint, ids: dict[str, str], query_id: str | None = None) -> str:
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids[m.group(1)], route.path)
    return f"{path}?{urlencode({query_id: ids[query_id]})}" if query_id else path


def cases(route: Endpoint, world: World) -> list[tuple[dict[str, str], str | None]]:
    """(alice's ids, the query id sent) for each of her id sets holding all the route's path ids: each
    ``*_id`` query parameter is sent on its own."""
    out: list[tuple[dict[str, str], str | None]] = []
    for ids in world.ids.values():
        if set(route.path_ids) <= ids.keys():
            out += [(ids, q) for q in route.query_ids if q in ids] if route.query_ids else [(ids, None)]
    return out


def fetch(client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
    """The response, its body read unless it is an event stream (they may never end)."""
    with client.stream(method, url, **kw) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()
    return response


def first_event(client: httpx.Client, url: str) -> str:
    """The whole body, or an event stream's first ``data:`` line."""
    with client.stream("GET", url) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.read().decode(errors="replace")
        return next((line for line in response.iter_lines() if line.startswith("data:")), "")


def shown(response: httpx.Response) -> str:
    try:
        return f"{response.status_code} {response.text[:300]}"
    except httpx.ResponseNotRead:
        return f"{response.status_code} ({response.headers.get('content-type')})"


def error_code(response: httpx.Response, status: int, where: str) -> str:
    """The envelope's code, after checking the status and that the envelope is whole."""
    assert response.status_code == status, f"{where}: {shown(response)}"
    error = response.json()["error"]
    assert {k: type(error.get(k)) for k in ("code", "message", "remediation")} == dict.fromkeys(
        ("code", "message", "remediation"), str
    ), f"{where}: {error}"
    assert error["code"] and error["message"] and error["remediation"], f"{where}: {error}"
    return str(error["code"])


# -- the checks -----------------------------------------------------------------------------------


def check_keyed(world: World, route: Endpoint, ids: dict[str, str], query: str | None, clients: Any) -> None:
    a, b, _ = clients
    url, where = url_for(route, ids, query), f"{route.method} {url_for(route, ids, query)}"
    code = error_code(fetch(b, route.method, url), 404, f"{where} (bob)")
    assert code.endswith("NOT_FOUND"), where
    nowhere = fetch(b, route.method, url_for(route, UNKNOWN_IDS, query))
    assert error_code(nowhere, 404, f"{where} (unknown ids)") == code  # bob cannot tell alice's ids from none
    if (parent := set(route.path_ids) & world.bob_ids.keys()) and set(route.path_ids) - parent:
        # bob's own job/stream with alice's ids under it
        mixed = {**ids, **{p: world.bob_ids[p] for p in parent}}
        child_code = error_code(fetch(b, route.method, url_for(route, mixed, query)), 404, f"{where} (bob's parent)")
        unknown_child = {**UNKNOWN_IDS, **{p: world.bob_ids[p] for p in parent}}
        assert error_code(fetch(b, route.method, url_for(route, unknown_child, query)), 404, where) == child_code
    answer = fetch(a, route.method, url)
    assert answer.status_code != 404 and answer.status_code < 500, f"{where} (alice): {shown(answer)}"


def check_signed(world: World, route: Endpoint, ids: dict[str, str], query: str | None, clients: Any) -> None:
    _, b, anonymous = clients
    url, where = url_for(route, ids, query), f"{route.method} {url_for(route, ids, query)}"
    code = error_code(fetch(b, route.method, url), 403, f"{where} (bob, unsigned)")
    assert code == "FORBIDDEN" and error_code(fetch(b, route.method, url_for(route, UNKNOWN_IDS)), 403, where) == code
    signed, _ = world.server.state.signer.sign(url, 60)
    genuine = fetch(anonymous, route.method, signed)
    assert genuine.status_code == 200, f"{where} (signed by the server): {shown(genuine)}"


def check_page(world: World, route: Endpoint, ids: dict[str, str], query: str | None, clients: Any) -> None:
    _, b, anonymous = clients
    page = fetch(b, route.method, url_for(route, ids, query))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), route.path
    assert page.text == fetch(anonymous, route.method, url_for(route, UNKNOWN_IDS, query)).text, route.path


def test_another_keys_ids_read_as_missing_on_every_route(world: World) -> None:
    routes = endpoints(world.server)
    with world.server.client() as anonymous:
        openapi = anonymous.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in openapi["paths"].items() for m in ops}
    assert documented <= {(r.method, r.path) for r in routes}, "the enumeration missed routes"
    with_ids = sorted((r for r in routes if r.path_ids or r.query_ids), key=lambda r: (r.method, r.path) in LAST)
    assert LAST <= {(r.method, r.path) for r in with_ids}, "LAST names a route that is gone"
    unknown = {n for r in with_ids for n in r.path_ids + r.query_ids} - UNKNOWN_IDS.keys()
    assert not unknown, f"routes name ids this test cannot fill: {unknown}; add them to UNKNOWN_IDS and world.ids"
    assert PUBLIC_PAGES <= {r.path for r in with_ids}, "PUBLIC_PAGES names a route that is gone"
    assert body_id_routes(openapi) == BODY_ID_ROUTES.keys(), "a route takes ids in its body: add it to BODY_ID_ROUTES"

    alice_values = world.alice_values()
    with (
        world.server.client(world.alice) as a,
        world.server.client(world.bob) as b,
        world.server.client() as anonymous,
    ):
        # lists: bob sees none of alice's things anywhere, alice sees hers
        for route in routes:
            if route.method == "GET" and not route.path_ids and not route.query_ids:
                body = first_event(b, route.path)
                assert not [v for v in alice_values if v in body], f"GET {route.path} shows bob alice's ids"
        for url in LISTS:
            assert not [v for v in alice_values if v in first_event(b, url)], f"GET {url} shows bob alice's ids"
            assert [v for v in alice_values if v in first_event(a, url)], f"GET {url} does not show alice hers"

        covered = []
        for route in with_ids:
            fillings = cases(route, world)
            assert fillings, f"{route.method} {route.path}: no id set of alice's holds {route.path_ids}"
            check = check_signed if route.signed else check_page if route.path in PUBLIC_PAGES else check_keyed
            for ids, query in fillings:
                check(world, route, ids, query, (a, b, anonymous))
                covered.append(f"{route.method} {url_for(route, ids, query)}")

        for (method, path), (body_of, status, expected, alice_too) in BODY_ID_ROUTES.items():
            body, before = body_of(world), alice_streams(a)
            answer = fetch(b, method, path, json=body)
            assert error_code(answer, status, f"{method} {path} (bob)") == expected
            assert alice_streams(a) == before, f"{method} {path}: bob changed alice's streams"
            if alice_too:
                answer = fetch(a, method, path, json=body)
                assert answer.status_code == 200, f"{method} {path} (alice): {shown(answer)}"
            covered.append(f"{method} {path} {json.dumps(body)}")
    print("\n".join(covered))


def alice_streams(alice: httpx.Client) -> set[tuple[str, str, str]]:
    return {(s["stream_id"], s["name"], s["source_url"]) for s in alice.get("/api/ui/overview").json()["streams"]}


def body_id_routes(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    """The documented routes whose request body has a ``*_id`` field, or may have: a ``$ref`` the
    document does not define would hide its fields, so it counts as one."""
    schemas = openapi["components"]["schemas"]
    found = set()
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            for content in op.get("requestBody", {}).get("content", {}).values():
                schema = content["schema"]
                if "$ref" in schema:
                    schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {"properties": {"unknown_id": {}}})
                if any(name.endswith("_id") for name in schema.get("properties", {})):
                    found.add((method.upper(), path))
    return found


# -- signed links ---------------------------------------------------------------------------------


def test_signed_links_refuse_forgery_moving_and_expiry(world: World) -> None:
    server, signer = world.server, world.server.state.signer
    monitor, session = world.ids["monitor"], world.ids["session"]
    with server.client(world.alice) as a:
        playlist = a.post(f"/api/live/session/{session['session_id']}/signed-manifest").json()["url"]
        job_playlist = a.post(f"/api/ui/jobs/{monitor['job_id']}/signed-manifest").json()["url"]
    trigger = world.job["triggers"][0]
    event = next(e for e in world.session["events"] if e["event_id"] == session["event_id"])

    def first_segment(playlist_url: str) -> str:
        text = httpx.get(playlist_url).text
        return server.url + next(line for line in text.splitlines() if line.startswith("/api/"))

    links = {
        "session playlist": playlist,
        "session segment": first_segment(playlist),
        "session thumbnail": event["thumbnail_url"],
        "session clip": event["clip_url"],
        "job frame": trigger["frame_url"],
        "job clip": trigger["clip_url"],
        "job playlist": job_playlist,
        "job segment": first_segment(job_playlist),
    }
    names = list(links)
    for index, (name, url) in enumerate(links.items()):
        genuine = httpx.get(url)
        assert genuine.status_code == 200 and genuine.content, f"{name}: {genuine.status_code}"
        parts = urlsplit(url)
        query = dict(p.split("=", 1) for p in parts.query.split("&"))
        origin, path, expires, sig = f"{parts.scheme}://{parts.netloc}", parts.path, query["expires"], query["sig"]

        def at(p: str, e: str | int, s: str, origin: str = origin) -> str:
            return f"{origin}{p}?{urlencode({'expires': e, 'sig': s})}"

        # another resource alice has a link to
        other = next(p for p in (urlsplit(links[n]).path for n in names[index + 1 :] + names[:index]) if p != path)
        forged = {
            "signature tampered": at(path, expires, ("B" if sig[0] == "A" else "A") + sig[1:]),
            "signature not ASCII": at(path, expires, "é" + sig[1:]),
            "expiry pushed back": at(path, int(expires) + 3600, sig),
            "signature of another resource": at(other, expires, sig),
            "expired (signed by the server, in the past)": origin + signer.sign(path, -60)[0],
            "no signature": origin + path,
        }
        for how, bad in forged.items():
            assert error_code(httpx.get(bad), 403, f"{name}, {how}") == "FORBIDDEN"
        assert httpx.get(url).status_code == 200, name
