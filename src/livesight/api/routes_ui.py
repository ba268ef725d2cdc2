"""The web UI: its pages and static files, and the few API routes only the UI needs.

The pages are static files (``livesight/web``) that call the JSON API with the API key the user
logged in with (kept in the browser's ``sessionStorage``, sent as ``Authorization: Bearer``). Live
updates reach the browser over SSE read with ``fetch()``, which, unlike ``EventSource``, can send
that header, so no token ever appears in a URL or a log.

Routes here: the pages (``/``, ``/ui/...``), ``/ui/static/*``, ``/favicon.ico``, ``/ui/vendor/hls.min.js``
and ``/ui/vendor/uplot.esm.js`` / ``uplot.min.css`` (npm-installed, when ``npm ci --prefix src/livesight/web``
was run), ``GET /api/ui/whoami``, ``GET /api/ui/overview`` and its SSE stream ``GET /api/ui/overview/stream``,
a signed HLS playlist of a job's recording (sessions have theirs in ``routes_sessions``), the data of the
run pages' charts (a job's checks, a session's chunks, with their gaps), and archiving or deleting an
ended run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.sse import EventSourceResponse
from fastapi.staticfiles import StaticFiles

from livesight.api._stored import stored_present
from livesight.api.auth import Owner
from livesight.api.errors import APIError, not_found
from livesight.api.state import AppState, app_state
from livesight.delivery.broker import ANY, RESYNC, Message
from livesight.sources.urls import redact
from livesight.storage import Storage
from livesight.store.records import (
    LIVE_JOB_STATUSES,
    LIVE_SESSION_STATUSES,
    GapRecord,
    JobRecord,
    OwnerKind,
    SessionRecord,
)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGES_DIR = WEB_DIR / "pages"
STATIC_DIR = WEB_DIR / "static"
HLS_JS = WEB_DIR / "node_modules" / "hls.js" / "dist" / "hls.min.js"
UPLOT_JS = WEB_DIR / "node_modules" / "uplot" / "dist" / "uPlot.esm.js"
UPLOT_CSS = WEB_DIR / "node_modules" / "uplot" / "dist" / "uPlot.min.css"
FAVICON = STATIC_DIR / "favicon.svg"

RECENT_ENDED = 20  # ended sessions and jobs the overview lists (live ones are always listed)
MAX_CHECKS = 2000  # the newest checks a job's chart gets
_THUMB_BUCKET = 600  # seconds: overview thumbnails' links expire on these boundaries, so snapshots stay equal
_REFRESH = 10.0  # seconds between overview snapshots while nothing is published (see _overview_stream)
_MIN_GAP = 0.2  # seconds between two snapshots when the bus is busy
# Messages of any run that change what the overview lists: a run started, became active or ended.
_LIFECYCLE = {"started", "status", "ended", "stopped", "error", RESYNC}
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


async def _vendor(path: Path, media_type: str, what: str, remedy: str) -> FileResponse:
    if not await asyncio.to_thread(path.is_file):
        raise APIError("NOT_FOUND", f"{what} is not installed.", f"Run `npm ci --prefix src/livesight/web` {remedy}.")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


@pages.get("/ui/vendor/hls.min.js")
async def hls_js() -> Response:
    """hls.js for browsers without native HLS; installed from the npm registry, never vendored."""
    return await _vendor(HLS_JS, "text/javascript", "hls.js", "(browsers with native HLS do not need it)")


@pages.get("/ui/vendor/uplot.esm.js")
async def uplot_js() -> Response:
    """uPlot (the run pages' charts), an ES module; installed from the npm registry like hls.js."""
    return await _vendor(UPLOT_JS, "text/javascript", "uPlot", "(the run pages show no chart without it)")


@pages.get("/ui/vendor/uplot.min.css")
async def uplot_css() -> Response:
    return await _vendor(UPLOT_CSS, "text/css", "uPlot", "(the run pages show no chart without it)")


@pages.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The UI's icon (an SVG; browsers ask for /favicon.ico whatever the pages link)."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


# -- who am I --------------------------------------------------------------------------------------


@router.get("/whoami", summary="Check an API key (the UI's login)")
async def whoami(request: Request, owner: Owner) -> dict[str, Any]:
    """``dev_mode`` is true when the server has no keys (then no key is needed); ``key_name`` names the key."""
    state = app_state(request)
    name = None
    if owner is not None:
        key = await state.store.get_api_key(owner)
        name = key.name if key is not None else None
    return {"dev_mode": state.dev_mode, "key_name": name}


# -- the overview ----------------------------------------------------------------------------------


def _health(stats: dict[str, Any]) -> dict[str, Any] | None:
    """A live run's source as its worker last stored it (the run may be on another replica, or on Ray)."""
    source = stats.get("source")
    if not isinstance(source, dict):
        return None
    age = source.get("last_frame_age_seconds")
    return {**source, "last_frame_age_seconds": None if age is None else round(float(age), 1)}


async def _session_view(
    state: AppState, session: SessionRecord, ended_cache: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A session's card, from the store alone: its stored stats while it runs, its chunks once it ended."""
    view: dict[str, Any] = {
        "kind": "session",
        "session_id": session.id,
        "stream_id": session.stream_id,
        "name": session.name,
        "status": session.status,
        "error": session.error,
        "rapid_review_query": session.rapid_review_query,
        "created_at": session.created_at.isoformat(),
        "started_at": (session.started_at or session.created_at).isoformat(),
    }
    stats = session.stats or {}
    if session.status in _LIVE_SESSIONS and stats:
        # Events as stored (what the session's event list shows).
        counters = {
            "chunks": stats.get("chunks_recorded", 0),
            "checks": stats.get("chunks_analysed", 0),
            "triggers": session.last_event_seq,
        }
        view.update(counters=counters, session_time=round(stats.get("session_time", 0.0), 1), health=_health(stats))
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


def _job_view(state: AppState, job: JobRecord) -> dict[str, Any]:
    """A job's card, from its stored stats (written by whichever worker runs it)."""
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
        "started_at": (job.started_at or job.created_at).isoformat(),
        "error": stats.get("error"),
    }
    # "checks" counts every check point, also those the change gate answered without a model call.
    counters = {
        "chunks": stats.get("chunks_recorded", 0),
        "checks": sum(stats.get(k, 0) for k in ("checks_performed", "frames_skipped", "chunks_analysed")),
        "triggers": stats.get("triggers_fired", 0),
    }
    live = job.status in _LIVE_JOBS
    view.update(counters=counters, session_time=stats.get("session_time", 0.0), health=_health(stats) if live else None)
    return view


def _recent(items: list[Any], live: set[str]) -> list[Any]:
    """Every live item and the newest ``RECENT_ENDED`` ended ones, newest first."""
    ended = [i for i in items if i.status not in live][:RECENT_ENDED]
    keep = {id(i) for i in ended}
    return [i for i in items if i.status in live or id(i) in keep]


def _thumbnail_link(state: AppState, kind: OwnerKind, run_id: str, event_id: str) -> str:
    """A signed link to a run's event frame whose expiry moves in steps, so snapshots of an unchanged
    overview stay byte-equal (and the browser keeps its cached image)."""
    if kind == "session":
        path = f"/api/live/session/{run_id}/events/{event_id}/thumbnail.jpg"
    else:
        path = f"/api/jobs/{run_id}/events/{event_id}/frame.jpg"
    expires = (int(time.time()) // _THUMB_BUCKET + 2) * _THUMB_BUCKET
    return f"{state.public_url()}{path}?expires={expires}&sig={state.signer.signature(path, expires)}"


async def _thumbnail(
    state: AppState, runs: list[dict[str, Any]], cache: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The newest saved event frame of a stream's runs (newest run first): no decoding, only a link to
    the frame the pipeline kept as the event's evidence. Ended runs' answers are cached."""
    for run in sorted(runs, key=lambda r: r["created_at"], reverse=True):
        kind: OwnerKind = "session" if run["kind"] == "session" else "job"
        run_id = run["session_id"] if kind == "session" else run["job_id"]
        found = cache.get(f"thumb:{run_id}")
        if found is None:
            event = await state.store.newest_framed_event(kind, run_id)
            found = {"event_id": event.id, "stream_time": event.stream_time} if event is not None else {}
            if run["status"] not in _LIVE_SESSIONS | _LIVE_JOBS:
                cache[f"thumb:{run_id}"] = found
        if found:
            url = _thumbnail_link(state, kind, run_id, found["event_id"])
            return {"url": url, "run_id": run_id, "stream_time": found["stream_time"]}
    return None


async def build_overview(
    state: AppState, owner: str | None, ended_cache: dict[str, dict[str, Any]] | None = None, *, archived: bool = False
) -> dict[str, Any]:
    """One group per source URL: its streams' sessions and the monitor jobs watching that URL (jobs on
    a URL no stream has are grouped by that URL), with the newest event frame as its thumbnail.

    Archived runs are left out unless ``archived``; ``archived_count`` says how many there are."""
    cache = ended_cache if ended_cache is not None else {}
    store = state.store
    streams = await store.list_streams(owner)
    all_sessions = await store.list_sessions(owner)
    all_jobs, _ = await store.list_jobs(owner, None, None, 100, 0)
    marks = await store.archived_runs([s.id for s in all_sessions] + [j.id for j in all_jobs])
    sessions = _recent([s for s in all_sessions if archived or s.id not in marks], _LIVE_SESSIONS)
    jobs = _recent([j for j in all_jobs if archived or j.id not in marks], _LIVE_JOBS)
    with_sessions = {s.stream_id for s in all_sessions}
    groups: dict[str, dict[str, Any]] = {}
    url_of: dict[str, str] = {}
    for stream in streams:
        url_of[stream.id] = stream.source_url
        group = groups.setdefault(
            stream.source_url,
            {
                "stream_id": stream.id,
                "name": stream.name,
                "source_url": redact(stream.source_url),
                "stream_ids": [],
                "sessions": [],
                "jobs": [],
            },
        )
        group["stream_ids"].append(stream.id)
        group.update(stream_id=stream.id, name=stream.name)  # streams come newest first: the oldest names the group
    for session in sessions:
        home = groups.get(url_of.get(session.stream_id, ""))
        if home is not None:
            view = await _session_view(state, session, cache)
            home["sessions"].append({**view, "archived_at": _iso(marks.get(session.id))})
    for job in jobs:
        group = groups.setdefault(
            job.stream_url,
            {
                "stream_id": None,
                "name": None,
                "source_url": redact(job.stream_url),
                "stream_ids": [],
                "sessions": [],
                "jobs": [],
            },
        )
        group["jobs"].append({**_job_view(state, job), "archived_at": _iso(marks.get(job.id))})
    shown = []
    for group in groups.values():
        bare = group["stream_id"] is not None and not with_sessions.intersection(group["stream_ids"])
        if group["sessions"] or group["jobs"] or bare:
            group["thumbnail"] = await _thumbnail(state, group["sessions"] + group["jobs"], cache)
            shown.append(group)
    return {"dev_mode": state.dev_mode, "streams": shown, "archived_count": len(marks)}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


async def _one_run(
    state: AppState, owner: str | None, session_id: str | None, job_id: str | None, cache: dict[str, dict[str, Any]]
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


Archived = Annotated[bool, Query(description="Also list the runs archived from the overview.")]


@router.get("/overview", summary="Streams, sessions and jobs with counters and source health")
async def overview(request: Request, owner: Owner, archived: Archived = False) -> dict[str, Any]:
    return await build_overview(app_state(request), owner, archived=archived)


def _live_ids(snapshot: dict[str, Any]) -> set[str]:
    runs = (
        [snapshot["run"]] if "run" in snapshot else [r for g in snapshot["streams"] for r in g["sessions"] + g["jobs"]]
    )
    return {r.get("session_id") or r["job_id"] for r in runs if r["status"] in _LIVE_SESSIONS | _LIVE_JOBS}


async def _overview_stream(
    state: AppState, owner: str | None, request: Request, session_id: str | None, job_id: str | None, archived: bool
) -> AsyncIterator[bytes]:
    """A ``snapshot`` event whenever the overview (or the one run asked for) changes.

    The stream reads the store when the event bus says something changed, whichever replica runs it: a
    message of a run it shows, or a run starting or ending anywhere (a new run, one that ended). Between
    messages it looks again every ``_REFRESH`` seconds, for what nobody publishes (a session's chunk
    count, a run archived or deleted, the age of a stalled source's last frame).
    """
    wake = asyncio.Event()
    shown: set[str] = set()
    cache: dict[str, dict[str, Any]] = {}
    one = session_id or job_id

    def wakes(message: Message) -> bool:
        if message.topic in shown:
            return True
        return one is None and (message.terminal or message.name in _LIFECYCLE)

    async def pump() -> None:
        sub = state.bus.subscribe(ANY)
        try:
            while True:
                if sub.overflowed:  # cut off for falling behind: look again, then listen anew
                    state.bus.unsubscribe(sub)
                    sub = state.bus.subscribe(ANY)
                    wake.set()
                try:
                    message = await asyncio.wait_for(sub.queue.get(), timeout=_REFRESH)
                except TimeoutError:
                    continue
                if wakes(message):
                    wake.set()
        finally:
            state.bus.unsubscribe(sub)

    state.metrics.sse_clients.inc()
    listener = asyncio.create_task(pump(), name="ui-overview-bus")
    try:
        yield b"retry: 2000\n\n"
        last_body, last_sent = "", 0.0
        while True:
            if session_id or job_id:
                snapshot = await _one_run(state, owner, session_id, job_id, cache)
            else:
                snapshot = await build_overview(state, owner, cache, archived=archived)
            shown.clear()
            shown.update(_live_ids(snapshot))
            body = json.dumps(snapshot, default=str, separators=(",", ":"))
            if body != last_body:
                last_body, last_sent = body, time.monotonic()
                yield f"event: snapshot\ndata: {body}\n\n".encode()
            elif time.monotonic() - last_sent >= state.settings.sse_keepalive_seconds:
                last_sent = time.monotonic()
                yield b": keep-alive\n\n"
            wake.clear()
            timeout = min(_REFRESH, state.settings.sse_keepalive_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=timeout)
            if await request.is_disconnected():
                return
            await asyncio.sleep(_MIN_GAP)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        state.metrics.sse_clients.dec()


@router.get("/overview/stream", include_in_schema=False)
async def overview_stream(
    request: Request,
    owner: Owner,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    archived: Archived = False,
) -> EventSourceResponse:
    """SSE: ``snapshot`` events of ``GET /api/ui/overview``, or of one run (``{"run": …}``) when
    ``session_id`` or ``job_id`` is given. Not in the schema: it never ends (fuzzers would hang on it)."""
    state = app_state(request)
    cache: dict[str, dict[str, Any]] = {}
    if session_id or job_id:
        await _one_run(state, owner, session_id, job_id, cache)  # 404 before the stream starts
    stream = _overview_stream(state, owner, request, session_id, job_id, archived)
    return EventSourceResponse(stream, headers={"Cache-Control": "no-cache"})


# -- a job's recording as HLS --------------------------------------------------------------------


@router.post("/jobs/{job_id}/signed-manifest", summary="A signed HLS playlist of a job's recording")
async def job_signed_manifest(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """Like ``POST /api/live/session/{id}/signed-manifest``, for a live-monitor job's recorded chunks."""
    state = app_state(request)
    if await state.store.get_job(job_id, owner) is None:
        raise not_found("job", job_id)
    url, expires = state.views.signed(f"/api/ui/jobs/{job_id}/playlist.m3u8", state.settings.manifest_ttl_seconds)
    return {"url": url, "expires_at": datetime.fromtimestamp(expires, UTC), "method": "GET"}


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
    state = app_state(request)
    if not state.signer.verify(request.url.path, expires, sig):
        raise APIError("FORBIDDEN", "This link is expired or not valid.", "Ask for a new signed manifest.", status=403)
    job = await state.store.get_job(job_id)
    if job is None:
        raise not_found("job", job_id)
    listed = [c for c in await state.store.list_chunks("job", job_id) if c.path]
    present = await stored_present(state.storage, [c.path or "" for c in listed])
    chunks = [c for c, ok in zip(listed, present, strict=True) if ok]
    text = state.views.playlist("job", job_id, chunks, ended=job.status not in _LIVE_JOBS, expires=int(expires or 0))
    return Response(text, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-cache"})


# -- the run pages' charts --------------------------------------------------------------------------


def _gap_views(gaps: list[GapRecord]) -> list[dict[str, Any]]:
    return [
        {"session_time": g.session_time, "wall_seconds": round(g.wall_seconds, 3), "reason": g.reason} for g in gaps
    ]


@router.get("/jobs/{job_id}/checks", summary="A job's checks over time, for its chart")
async def job_checks(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """The newest ``MAX_CHECKS`` checks (``stream_time``, ``triggered`` yes/no/null, ``confidence``,
    ``reused``: the change gate answered, ``failed``), oldest first; ``total`` counts them all. With the
    job's gaps (the source delivered nothing) and ``started_at``, where its session time 0 is on the clock."""
    state = app_state(request)
    job = await state.store.get_job(job_id, owner)
    if job is None:
        raise not_found("job", job_id)
    found = await state.store.list_checks(job_id, MAX_CHECKS)
    return {
        "job_id": job_id,
        "started_at": (job.started_at or job.created_at).isoformat(),
        "checks": [
            {
                "stream_time": round(c.stream_time, 3),
                "triggered": c.triggered,
                "confidence": c.confidence,
                "reused": c.reused,
                "failed": c.failed,
            }
            for c in found.checks
        ],
        "total": found.total,
        "gaps": _gap_views(await state.store.list_gaps("job", job_id)),
    }


@router.get("/sessions/{session_id}/chunks", summary="A session's chunks over time, for its chart")
async def session_chunks(session_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """Each chunk's span, review status (``analysed``, ``recorded``: not reviewed, ``failed``) and event
    count; the session's gaps; each event's end (appearances grow while they last); and ``started_at``."""
    state = app_state(request)
    session = await state.store.get_session(session_id, owner)
    if session is None:
        raise not_found("session", session_id)
    chunks = await state.store.list_chunks("session", session_id)
    events = await state.store.list_events("session", session_id)
    return {
        "session_id": session_id,
        "started_at": (session.started_at or session.created_at).isoformat(),
        "chunks": [
            {
                "chunk_index": c.chunk_index,
                "start_time": c.start_time,
                "end_time": c.end_time,
                "status": c.status,
                "event_count": c.event_count,
            }
            for c in chunks
        ],
        "gaps": _gap_views(await state.store.list_gaps("session", session_id)),
        "event_ends": {e.id: e.end_time for e in events if e.end_time is not None},
    }


# -- archiving and deleting ended runs ---------------------------------------------------------------


async def _ended_run(state: AppState, kind: OwnerKind, run_id: str, owner: str | None, doing: str) -> None:
    """404 for a run this key cannot see; 409 for one still running (here or, by its status, elsewhere)."""
    if kind == "session":
        session = await state.store.get_session(run_id, owner)
        if session is None:
            raise not_found("session", run_id)
        live = session.status in _LIVE_SESSIONS
        stop = "End the session first (POST /api/live/end-session)."
    else:
        job = await state.store.get_job(run_id, owner)
        if job is None:
            raise not_found("job", run_id)
        live = job.status in _LIVE_JOBS
        stop = f"Cancel the job first (DELETE /api/jobs/{run_id})."
    if live:
        raise APIError("RUN_STILL_RUNNING", f"This {kind} is still running: it cannot be {doing}.", stop, status=409)


def _remove_recording(storage: Storage, run_id: str, paths: list[str]) -> None:
    for path in paths:  # chunks normally live under the run's prefix; any that do not go too
        storage.delete(path)
    storage.delete_prefix(run_id)


async def _archive(request: Request, owner: str | None, kind: OwnerKind, run_id: str) -> dict[str, Any]:
    state = app_state(request)
    await _ended_run(state, kind, run_id, owner, "archived")
    when = await state.store.archive_run(kind, run_id)
    return {"kind": kind, "id": run_id, "archived_at": when.isoformat()}


async def _unarchive(request: Request, owner: str | None, kind: OwnerKind, run_id: str) -> dict[str, Any]:
    state = app_state(request)
    found = await (state.store.get_session if kind == "session" else state.store.get_job)(run_id, owner)
    if found is None:
        raise not_found(kind, run_id)
    await state.store.unarchive_run(run_id)
    return {"kind": kind, "id": run_id, "archived_at": None}


async def _delete(request: Request, owner: str | None, kind: OwnerKind, run_id: str) -> dict[str, Any]:
    state = app_state(request)
    await _ended_run(state, kind, run_id, owner, "deleted")
    paths = [c.path for c in await state.store.list_chunks(kind, run_id) if c.path]
    await state.store.delete_run(kind, run_id)
    await asyncio.to_thread(_remove_recording, state.storage, run_id, paths)
    return {"kind": kind, "id": run_id, "deleted": True}


@router.post("/sessions/{session_id}/archive", summary="Archive an ended session (hidden from the overview)")
async def archive_session(session_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """409 ``RUN_STILL_RUNNING`` while it runs. ``GET /api/ui/overview?archived=true`` lists it again."""
    return await _archive(request, owner, "session", session_id)


@router.delete("/sessions/{session_id}/archive", summary="Show an archived session on the overview again")
async def unarchive_session(session_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    return await _unarchive(request, owner, "session", session_id)


@router.delete("/sessions/{session_id}", summary="Delete an ended session, its events and its recording")
async def delete_session(session_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """Its chunks, events and gaps rows and its recording files go; its stream stays. 409 while it runs."""
    return await _delete(request, owner, "session", session_id)


@router.post("/jobs/{job_id}/archive", summary="Archive an ended job (hidden from the overview)")
async def archive_job(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """409 ``RUN_STILL_RUNNING`` while it runs. ``GET /api/ui/overview?archived=true`` lists it again."""
    return await _archive(request, owner, "job", job_id)


@router.delete("/jobs/{job_id}/archive", summary="Show an archived job on the overview again")
async def unarchive_job(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    return await _unarchive(request, owner, "job", job_id)


@router.delete("/jobs/{job_id}", summary="Delete an ended job, its events, checks and recording")
async def delete_job(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """Its chunks, events, gaps and checks rows, webhook deliveries and recording files go. 409 while it
    runs (``DELETE /api/jobs/{job_id}`` cancels a running job)."""
    return await _delete(request, owner, "job", job_id)


__all__ = ["build_overview", "install", "pages", "router"]
