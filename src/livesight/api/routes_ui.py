"""The web UI: its pages and static files, and the few API routes only the UI needs.

The pages are static files (``livesight/web``) that call the JSON API with the API key the user
logged in with (kept in the browser's ``sessionStorage``, sent as ``Authorization: Bearer``). Live
updates reach the browser over SSE read with ``fetch()``, which, unlike ``EventSource``, can send
that header, so no token ever appears in a URL or a log.

Routes here: the pages (``/``, ``/ui/...``), ``/ui/static/*``, ``/ui/vendor/hls.min.js`` (from the
npm-installed ``hls.js``, when ``npm ci --prefix src/livesight/web`` was run), ``GET /api/ui/whoami``,
``GET /api/ui/overview`` and its SSE stream ``GET /api/ui/overview/stream``, and a signed HLS playlist
of a job's recording (sessions have theirs in ``routes_sessions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.sse import EventSourceResponse
from fastapi.staticfiles import StaticFiles

from livesight.api.auth import Owner
from livesight.api.errors import APIError, not_found
from livesight.delivery.broker import Subscriber
from livesight.pipeline.runner import Run
from livesight.sources.urls import redact
from livesight.store.records import LIVE_JOB_STATUSES, LIVE_SESSION_STATUSES, JobRecord, SessionRecord

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGES_DIR = WEB_DIR / "pages"
STATIC_DIR = WEB_DIR / "static"
HLS_JS = WEB_DIR / "node_modules" / "hls.js" / "dist" / "hls.min.js"

RECENT_ENDED = 20  # ended sessions and jobs the overview lists (live ones are always listed)
_TICK = 1.0  # seconds between overview snapshots while nothing is published (counters, frame age)
_MIN_GAP = 0.2  # seconds between two snapshots when the broker is busy
_LIVE_SESSIONS = {s.value for s in LIVE_SESSION_STATUSES}
_LIVE_JOBS = {s.value for s in LIVE_JOB_STATUSES}

pages = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api/ui", tags=["web ui"])


def install(app: FastAPI) -> None:
    """Serve the UI from ``app``: pages, static files and the UI's API routes."""
    app.include_router(pages)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")


# -- pages -----------------------------------------------------------------------------------------


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES_DIR / f"{name}.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@pages.get("/")
async def overview_page() -> FileResponse:
    return _page("overview")


@pages.get("/ui/login")
async def login_page() -> FileResponse:
    return _page("login")


@pages.get("/ui/new")
async def create_page() -> FileResponse:
    return _page("new")


@pages.get("/ui/sessions/{stream_id}/{session_id}")
async def session_page(stream_id: str, session_id: str) -> FileResponse:
    return _page("session")


@pages.get("/ui/jobs/{job_id}")
async def job_page(job_id: str) -> FileResponse:
    return _page("job")


@pages.get("/ui/vendor/hls.min.js")
async def hls_js() -> Response:
    """hls.js for browsers without native HLS; installed from the npm registry, never vendored."""
    if not await asyncio.to_thread(HLS_JS.is_file):
        raise APIError(
            "NOT_FOUND",
            "hls.js is not installed.",
            "Run `npm ci --prefix src/livesight/web` (browsers with native HLS do not need it).",
        )
    return FileResponse(HLS_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})


# -- who am I --------------------------------------------------------------------------------------


@router.get("/whoami", summary="Check an API key (the UI's login)")
async def whoami(request: Request, owner: Owner) -> dict[str, Any]:
    """``dev_mode`` is true when the server has no keys (then no key is needed); ``key_name`` names the key."""
    state = _state(request)
    name = None
    if owner is not None:
        key = await state.store.get_api_key(owner)
        name = key.name if key is not None else None
    return {"dev_mode": state.dev_mode, "key_name": name}


# -- the overview ----------------------------------------------------------------------------------


def _state(request: Request) -> Any:
    return request.app.state.ls


def _health(run: Run | None) -> dict[str, Any] | None:
    health = run.health if run is not None else None
    if health is None:
        return None
    age = health.last_frame_age()
    return {
        "state": health.state.value,
        "reconnects": health.reconnects,
        "last_frame_age_seconds": None if age is None else round(age, 1),
        "error": health.error,
    }


async def _session_view(state: Any, session: SessionRecord, ended_cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    run = state.sessions.run_of(session.id)
    view: dict[str, Any] = {
        "kind": "session",
        "session_id": session.id,
        "stream_id": session.stream_id,
        "name": session.name,
        "status": session.status,
        "error": session.error,
        "rapid_review_query": session.rapid_review_query,
        "created_at": session.created_at.isoformat(),
    }
    if run is not None:
        stats = run.stats
        counters = {"chunks": stats.chunks_recorded, "checks": stats.chunks_analysed, "triggers": stats.events}
        view.update(counters=counters, session_time=round(stats.session_time, 1), health=_health(run))
        return view
    cached = ended_cache.get(session.id) if session.status not in _LIVE_SESSIONS else None
    if cached is None:
        chunks = await state.store.list_chunks("session", session.id)
        cached = {
            "counters": {
                "chunks": len(chunks),
                "checks": sum(1 for c in chunks if c.analysis_id),
                "triggers": session.last_event_seq,
            },
            "session_time": round(max((c.end_time for c in chunks), default=0.0), 1),
        }
        if session.status not in _LIVE_SESSIONS:
            ended_cache[session.id] = cached
    view.update(cached, health=None)
    return view


def _job_view(state: Any, job: JobRecord) -> dict[str, Any]:
    # "checks" counts every check point, also those the change gate answered without a model call.
    run = state.jobs.run_of(job.id)
    stats = job.stats or {}
    view: dict[str, Any] = {
        "kind": "job",
        "job_id": job.id,
        "job_type": job.job_type,
        "condition": job.condition,
        "status": job.status,
        "reason": job.reason,
        "stream_url": redact(job.stream_url),
        "created_at": job.created_at.isoformat(),
        "error": stats.get("error"),
    }
    if run is not None:
        counters = {
            "chunks": run.stats.chunks_recorded,
            "checks": run.stats.checks_performed + run.stats.frames_skipped + run.stats.chunks_analysed,
            "triggers": run.stats.triggers_fired,
        }
        view.update(counters=counters, session_time=round(run.stats.session_time, 1), health=_health(run))
    else:
        counters = {
            "chunks": stats.get("chunks_recorded", 0),
            "checks": sum(stats.get(k, 0) for k in ("checks_performed", "frames_skipped", "chunks_analysed")),
            "triggers": stats.get("triggers_fired", 0),
        }
        view.update(counters=counters, session_time=stats.get("session_time", 0.0), health=None)
    return view


def _recent(items: list[Any], live: set[str]) -> list[Any]:
    """Every live item and the newest ``RECENT_ENDED`` ended ones, newest first."""
    ended = [i for i in items if i.status not in live][:RECENT_ENDED]
    keep = {id(i) for i in ended}
    return [i for i in items if i.status in live or id(i) in keep]


async def build_overview(
    state: Any, owner: str | None, ended_cache: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Streams with their sessions, and the monitor jobs watching each source (jobs on a URL no stream
    has are grouped by that URL)."""
    cache = ended_cache if ended_cache is not None else {}
    store = state.store
    streams = await store.list_streams(owner)
    all_sessions = await store.list_sessions(owner)
    jobs, _ = await store.list_jobs(owner, None, None, 100, 0)
    sessions = _recent(all_sessions, _LIVE_SESSIONS)
    with_sessions = {s.stream_id for s in all_sessions}
    groups: dict[str, dict[str, Any]] = {}
    by_url: dict[str, str] = {}
    for stream in streams:
        groups[stream.id] = {
            "stream_id": stream.id,
            "name": stream.name,
            "source_url": redact(stream.source_url),
            "sessions": [],
            "jobs": [],
        }
        by_url.setdefault(stream.source_url, stream.id)
    for session in sessions:
        group = groups.get(session.stream_id)
        if group is not None:
            group["sessions"].append(await _session_view(state, session, cache))
    for job in _recent(jobs, _LIVE_JOBS):
        key = by_url.get(job.stream_url) or f"url:{redact(job.stream_url)}"
        group = groups.setdefault(
            key, {"stream_id": None, "name": None, "source_url": redact(job.stream_url), "sessions": [], "jobs": []}
        )
        group["jobs"].append(_job_view(state, job))
    shown = [
        g
        for key, g in groups.items()
        if g["sessions"] or g["jobs"] or (g["stream_id"] is not None and key not in with_sessions)
    ]
    return {"dev_mode": state.dev_mode, "streams": shown}


async def _one_run(
    state: Any, owner: str | None, session_id: str | None, job_id: str | None, cache: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    if session_id is not None:
        session = await state.store.get_session(session_id, owner)
        if session is None:
            raise not_found("session", session_id)
        return {"run": await _session_view(state, session, cache)}
    assert job_id is not None
    job = await state.store.get_job(job_id, owner)
    if job is None:
        raise not_found("job", job_id)
    return {"run": _job_view(state, job)}


@router.get("/overview", summary="Streams, sessions and jobs with counters and source health")
async def overview(request: Request, owner: Owner) -> dict[str, Any]:
    return await build_overview(_state(request), owner)


def _live_ids(snapshot: dict[str, Any]) -> set[str]:
    runs = (
        [snapshot["run"]] if "run" in snapshot else [r for g in snapshot["streams"] for r in g["sessions"] + g["jobs"]]
    )
    return {r.get("session_id") or r["job_id"] for r in runs if r["status"] in _LIVE_SESSIONS | _LIVE_JOBS}


async def _overview_stream(
    state: Any, owner: str | None, request: Request, session_id: str | None, job_id: str | None
) -> AsyncIterator[bytes]:
    """A ``snapshot`` event whenever the overview (or the one run asked for) changes.

    What runs publish on the broker wakes the stream at once; between messages it looks again every
    ``_TICK`` seconds, for what nobody publishes (counters, the age of the last frame, new runs).
    """
    wake = asyncio.Event()
    pumps: dict[str, tuple[Subscriber, asyncio.Task[None]]] = {}
    cache: dict[str, dict[str, Any]] = {}

    async def pump(sub: Subscriber) -> None:
        while True:
            await sub.queue.get()
            wake.set()

    state.metrics.sse_clients.inc()
    try:
        yield b"retry: 2000\n\n"
        last_body, last_sent = "", 0.0
        while True:
            if session_id or job_id:
                snapshot = await _one_run(state, owner, session_id, job_id, cache)
            else:
                snapshot = await build_overview(state, owner, cache)
            live = _live_ids(snapshot)
            for run_id in live - pumps.keys():
                sub = state.broker.subscribe(run_id)
                pumps[run_id] = (sub, asyncio.create_task(pump(sub), name=f"ui-pump:{run_id}"))
            for run_id in pumps.keys() - live:
                sub, task = pumps.pop(run_id)
                task.cancel()
                state.broker.unsubscribe(sub)
            body = json.dumps(snapshot, default=str, separators=(",", ":"))
            if body != last_body:
                last_body, last_sent = body, time.monotonic()
                yield f"event: snapshot\ndata: {body}\n\n".encode()
            elif time.monotonic() - last_sent >= state.settings.sse_keepalive_seconds:
                last_sent = time.monotonic()
                yield b": keep-alive\n\n"
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=_TICK)
            if await request.is_disconnected():
                return
            await asyncio.sleep(_MIN_GAP)
    finally:
        for sub, task in pumps.values():
            task.cancel()
            state.broker.unsubscribe(sub)
        state.metrics.sse_clients.dec()


@router.get("/overview/stream", include_in_schema=False)
async def overview_stream(
    request: Request,
    owner: Owner,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EventSourceResponse:
    """SSE: ``snapshot`` events of ``GET /api/ui/overview``, or of one run (``{"run": …}``) when
    ``session_id`` or ``job_id`` is given. Not in the schema: it never ends (fuzzers would hang on it)."""
    state = _state(request)
    cache: dict[str, dict[str, Any]] = {}
    if session_id or job_id:
        await _one_run(state, owner, session_id, job_id, cache)  # 404 before the stream starts
    stream = _overview_stream(state, owner, request, session_id, job_id)
    return EventSourceResponse(stream, headers={"Cache-Control": "no-cache"})


# -- a job's recording as HLS --------------------------------------------------------------------


@router.post("/jobs/{job_id}/signed-manifest", summary="A signed HLS playlist of a job's recording")
async def job_signed_manifest(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """Like ``POST /api/live/session/{id}/signed-manifest``, for a live-monitor job's recorded chunks."""
    state = _state(request)
    if await state.store.get_job(job_id, owner) is None:
        raise not_found("job", job_id)
    path, expires = state.signer.sign(f"/api/ui/jobs/{job_id}/playlist.m3u8", state.settings.manifest_ttl_seconds)
    return {"url": state.public_url() + path, "expires_at": datetime.fromtimestamp(expires, UTC), "method": "GET"}


@router.get(
    "/jobs/{job_id}/playlist.m3u8",
    summary="A job's signed HLS playlist (no bearer)",
    response_class=Response,
    responses={200: {"content": {"application/vnd.apple.mpegurl": {}}}},
)
async def job_playlist(
    job_id: str,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    state = _state(request)
    if not state.signer.verify(request.url.path, expires, sig):
        raise APIError("FORBIDDEN", "This link is expired or not valid.", "Ask for a new signed manifest.", status=403)
    job = await state.store.get_job(job_id)
    if job is None:
        raise not_found("job", job_id)
    listed = [c for c in await state.store.list_chunks("job", job_id) if c.path]
    present = await asyncio.to_thread(lambda: [os.path.isfile(c.path or "") for c in listed])
    chunks = [c for c, ok in zip(listed, present, strict=True) if ok]
    ended = job.status not in _LIVE_JOBS and state.jobs.run_of(job_id) is None
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{max([math.ceil(c.duration) for c in chunks] or [1])}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for chunk in chunks:
        if chunk.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{chunk.duration:.3f},")
        path = f"/api/jobs/{job_id}/chunks/{chunk.chunk_index}.ts"
        lines.append(f"{path}?expires={expires}&sig={state.signer.signature(path, int(expires or 0))}")
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return Response(
        "\n".join(lines) + "\n", media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-cache"}
    )


__all__ = ["build_overview", "install", "pages", "router"]
