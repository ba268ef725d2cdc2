"""Livestream sessions (SPEC §2, seed 000): ``/api/live/...``, form-encoded or JSON bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from livesight.api._stored import stored_present, stored_response
from livesight.api.auth import Owner
from livesight.api.errors import APIError, not_found, validation_fields
from livesight.api.models import ErrorEnvelope
from livesight.api.sse import event_stream, parse_last_event_id
from livesight.api.state import app_state
from livesight.delivery.broker import Message
from livesight.runs.specs import NonBlank
from livesight.sources.urls import redact
from livesight.store.records import SessionRecord

router = APIRouter(prefix="/api/live", tags=["livestream sessions"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorEnvelope} for code in (400, 401, 404, 409, 422, 503)}
M = TypeVar("M", bound=BaseModel)


def _blank_is_none(value: str | None) -> str | None:
    """An empty optional text field of a form means "none"."""
    return value.strip() or None if value is not None else None


class StartSessionRequest(BaseModel):
    source_url: NonBlank = Field(min_length=1, max_length=2000, description="Reachable live-stream URL.")
    name: NonBlank = Field(min_length=1, max_length=200, description="Friendly session name shown in the web UI.")
    rapid_review_query: Annotated[str | None, AfterValidator(_blank_is_none)] = Field(
        default=None, max_length=2000, description="Continuous event detection; empty or left out: record only."
    )
    stream_id: str | None = Field(default=None, max_length=64, description="Existing parent stream ID.")
    webhook_url: str | None = Field(default=None, max_length=2083, description="Also POST events here (signed).")
    skip_validation: bool = Field(
        default=False,
        description="Start without opening the source first (a camera known to come up later); by default a "
        "source that cannot be read is refused at once.",
    )


class StartSessionResponse(BaseModel):
    session_id: str
    stream_id: str
    status: str


class EndSessionRequest(BaseModel):
    stream_id: str = Field(min_length=1, max_length=64)
    session_id: str = Field(min_length=1, max_length=64)


class EndSessionResponse(BaseModel):
    status: Literal["ended", "already_ended"]


class AttachStreamRequest(BaseModel):
    stream_id: NonBlank = Field(min_length=1, max_length=64)
    stream_name: NonBlank = Field(min_length=1, max_length=200)
    source_url: NonBlank = Field(min_length=1, max_length=2000)


class OkResponse(BaseModel):
    ok: bool = True


class SignedManifestResponse(BaseModel):
    url: str
    expires_at: datetime
    method: Literal["GET"] = "GET"


class SessionPayload(BaseModel):
    stream_id: str
    session_id: str
    name: str
    source_url: str
    status: str
    chunk_count: int
    events: list[dict[str, Any]]
    chunks: list[dict[str, Any]]
    created_at: datetime
    error: str | None = None
    rapid_review_query: str | None = None
    created_by: str | None = Field(
        default=None, description="The name of the API key that started the session (null in development mode)."
    )
    stats: dict[str, Any] | None = Field(
        default=None,
        description="LiveSight extension: the session's counters — model_calls, images_sent, tokens, latency_ms, "
        "chunks_analysed…",
    )


class SessionList(BaseModel):
    sessions: list[SessionPayload]


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The request body's schema for a route that reads JSON or a form itself (:func:`read_body`)."""
    schema = model.model_json_schema()
    assert "$defs" not in schema, "nested models would need components of their own"
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    }


async def read_body(request: Request, model: type[M]) -> M:
    """The body as ``model``, from JSON or a form; errors use the 422 envelope naming each field."""
    content_type = request.headers.get("content-type", "")
    try:
        if "application/x-www-form-urlencoded" in content_type or "multipart/form-data" in content_type:
            form = await request.form()
            data: Any = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            data = await request.json()
    except Exception:
        raise APIError(
            "VALIDATION_ERROR",
            "body: send JSON or a form (application/x-www-form-urlencoded).",
            "Check the Content-Type header and the body.",
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = validation_fields(exc.errors())
        raise APIError(
            "VALIDATION_ERROR",
            "; ".join(f"{f['field']}: {f['message']}" for f in fields),
            "Fix the fields named above and retry.",
            fields=fields,
        ) from None


async def _own_session(request: Request, session_id: str, owner: str | None) -> SessionRecord:
    session: SessionRecord | None = await app_state(request).store.get_session(session_id, owner)
    if session is None:
        raise not_found("session", session_id)
    return session


async def _payload(request: Request, session: SessionRecord, names: dict[str, str] | None = None) -> SessionPayload:
    state = app_state(request)
    created_by = None
    if session.owner is not None:
        names = {} if names is None else names  # key id → name, shared by the sessions of one list
        if session.owner not in names:
            key = await state.store.get_api_key(session.owner)
            names[session.owner] = key.name if key is not None else session.owner
        created_by = names[session.owner]
    events = await state.store.list_events("session", session.id)
    chunks = await state.store.list_chunks("session", session.id)
    return SessionPayload(
        stream_id=session.stream_id,
        session_id=session.id,
        name=session.name,
        source_url=redact(session.source_url),
        status=session.status,
        chunk_count=session.chunk_count,
        events=[state.views.event_view(e) for e in events],
        chunks=[
            {
                "chunk_id": c.id,
                "chunk_index": c.chunk_index,
                "start_time": c.start_time,
                "end_time": c.end_time,
                "duration": round(c.end_time - c.start_time, 3),
                "status": c.status,
                "analysis_id": c.analysis_id,
                "event_count": c.event_count,
                "discontinuity": c.discontinuity,
            }
            for c in chunks
        ],
        created_at=session.created_at,
        error=session.error,
        rapid_review_query=session.rapid_review_query,
        created_by=created_by,
        stats=session.stats or None,  # stored per chunk by whichever replica runs it
    )


@router.post(
    "/start-session",
    response_model=StartSessionResponse,
    responses=ERRORS,
    openapi_extra=_body_doc(StartSessionRequest),
    summary="Start a session",
)
async def start_session(request: Request, response: Response, owner: Owner) -> StartSessionResponse:
    """Pull the stream, record it in chunks and run the rapid-review query on each chunk. ``stream_id``
    reuses a parent stream; without it one is created. The source is opened first, so one that cannot be
    read is refused at once (``STREAM_OFFLINE``, ``STREAM_FETCH_FAILED``…) unless ``skip_validation``."""
    body = await read_body(request, StartSessionRequest)
    state = app_state(request)
    if body.skip_validation:
        await state.check_source(body.source_url)
    else:
        await state.probe_source(body.source_url, require_live=False)
    if body.webhook_url:
        await state.check_url(body.webhook_url)
    if body.stream_id is not None and await state.store.get_stream(body.stream_id, owner) is None:
        if await state.store.get_stream(body.stream_id) is not None:
            raise not_found("stream", body.stream_id)  # another key's stream: as if missing
    session = await state.sessions.start(
        source_url=body.source_url,
        name=body.name,
        rapid_review_query=body.rapid_review_query,
        stream_id=body.stream_id,
        owner=owner,
        webhook_url=body.webhook_url,
    )
    response.headers["Location"] = f"/api/live/live-sessions/{session.stream_id}/{session.id}"
    return StartSessionResponse(session_id=session.id, stream_id=session.stream_id, status=session.status)


@router.post(
    "/end-session",
    response_model=EndSessionResponse,
    responses=ERRORS,
    openapi_extra=_body_doc(EndSessionRequest),
    summary="End a session",
)
async def end_session(request: Request, owner: Owner) -> EndSessionResponse:
    body = await read_body(request, EndSessionRequest)
    session = await _own_session(request, body.session_id, owner)
    if session.stream_id != body.stream_id:
        raise not_found("session", body.session_id)
    return EndSessionResponse(status=await app_state(request).sessions.end(session))


@router.get(
    "/live-sessions/{stream_id}/{session_id}", response_model=SessionPayload, responses=ERRORS, summary="Get a session"
)
async def get_session(stream_id: str, session_id: str, request: Request, owner: Owner) -> SessionPayload:
    session = await _own_session(request, session_id, owner)
    if session.stream_id != stream_id:
        raise not_found("session", session_id)
    return await _payload(request, session)


@router.get("/live-sessions", response_model=SessionList, responses=ERRORS, summary="List sessions")
async def list_sessions(
    request: Request,
    owner: Owner,
    scope: Annotated[
        Literal["personal", "org", "all", "active", "ended"] | None,
        Query(
            description="Whose sessions: personal (what this key started) or org (everything this key's tenant "
            "may see; in LiveSight a key is its own tenant, so the two agree). The older all, active and ended "
            "values are still read as a status filter."
        ),
    ] = None,
    status: Annotated[
        Literal["all", "active", "ended"] | None,
        Query(description="all (default), active (INITIALIZING, ACTIVE, ENDING) or ended (FINISHED, FAILED)."),
    ] = None,
) -> SessionList:
    if scope in ("all", "active", "ended") and status is None:
        status = scope  # the value this route took as ``scope`` before
    statuses = {"active": ("INITIALIZING", "ACTIVE", "ENDING"), "ended": ("FINISHED", "FAILED")}.get(status or "all")
    sessions = await app_state(request).store.list_sessions(owner, status=statuses)
    names: dict[str, str] = {}
    return SessionList(sessions=[await _payload(request, s, names) for s in sessions])


@router.post(
    "/attach-stream",
    response_model=OkResponse,
    responses=ERRORS,
    openapi_extra=_body_doc(AttachStreamRequest),
    summary="Create or update a stream",
)
async def attach_stream(request: Request, owner: Owner) -> OkResponse:
    body = await read_body(request, AttachStreamRequest)
    state = app_state(request)
    await state.check_source(body.source_url)
    existing = await state.store.get_stream(body.stream_id, owner)
    if existing is None:
        await state.store.create_stream(body.stream_name, body.source_url, owner=owner, stream_id=body.stream_id)
    else:
        await state.store.update_stream(body.stream_id, name=body.stream_name, source_url=body.source_url, owner=owner)
    return OkResponse()


@router.post(
    "/session/{session_id}/signed-manifest",
    response_model=SignedManifestResponse,
    responses=ERRORS,
    summary="A signed HLS playlist of the recording",
)
async def signed_manifest(session_id: str, request: Request, owner: Owner) -> SignedManifestResponse:
    """A short-lived URL (``LIVESIGHT_MANIFEST_TTL_SECONDS``, default 10 min) to an HLS playlist of the
    recorded chunks; live and growing while the session runs, VOD with ``#EXT-X-ENDLIST`` once ended."""
    await _own_session(request, session_id, owner)
    state = app_state(request)
    url, expires = state.views.signed(
        f"/api/live/session/{session_id}/playlist.m3u8", state.settings.manifest_ttl_seconds
    )
    return SignedManifestResponse(url=url, expires_at=datetime.fromtimestamp(expires, UTC), method="GET")


def _verify(request: Request) -> tuple[int, str]:
    state = app_state(request)
    expires, sig = request.query_params.get("expires"), request.query_params.get("sig")
    if not state.signer.verify(request.url.path, expires, sig):
        raise APIError("FORBIDDEN", "This link is expired or not valid.", "Ask for a new signed manifest.", status=403)
    return int(expires or 0), sig or ""


@router.get(
    "/session/{session_id}/playlist.m3u8",
    summary="The signed HLS playlist (no bearer)",
    response_class=Response,
    responses={200: {"content": {"application/vnd.apple.mpegurl": {}}}},
)
async def playlist(
    session_id: str,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    expires_at, _ = _verify(request)
    state = app_state(request)
    session = await state.store.get_session(session_id)
    if session is None:
        raise not_found("session", session_id)
    listed = [c for c in await state.store.list_chunks("session", session_id) if c.path]
    present = await stored_present(state.storage, [c.path or "" for c in listed])
    chunks = [c for c, ok in zip(listed, present, strict=True) if ok]  # retention may have removed some
    ended = session.status in ("FINISHED", "FAILED")
    origin = session.started_at or session.created_at
    text = state.views.playlist("session", session_id, chunks, ended=ended, expires=expires_at, origin=origin)
    return Response(text, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-cache"})


@router.get(
    "/session/{session_id}/chunks/{chunk_index}.ts",
    summary="A recorded chunk (signed, no bearer)",
    response_class=Response,
    responses={200: {"content": {"video/mp2t": {}}}},
)
async def chunk_file(
    session_id: str,
    chunk_index: int,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    _verify(request)
    state = app_state(request)
    chunks = await state.store.list_chunks("session", session_id)
    found = next((c for c in chunks if c.chunk_index == chunk_index and c.path), None)
    served = await stored_response(state.storage, found.path if found else None, media_type="video/mp2t")
    if served is None:
        raise APIError("CHUNK_NOT_FOUND", "That chunk is not recorded.", "Chunks appear once recorded.")
    return served


@router.get(
    "/session/{session_id}/events/{event_id}/thumbnail.jpg",
    summary="An event's frame (signed, no bearer)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def thumbnail(
    session_id: str,
    event_id: str,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    _verify(request)
    state = app_state(request)
    events = await state.store.list_events("session", session_id)
    found = next((e for e in events if e.id == event_id), None)
    path = found.data.get("frame_path") if found is not None else None
    served = await stored_response(state.storage, path, media_type="image/jpeg")
    if served is None:
        raise APIError("EVENT_NOT_FOUND", "No frame for that event.", "Check the event id.")
    return served


@router.get(
    "/live-sessions/{stream_id}/{session_id}/events",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
    summary="Stream a session's events (SSE)",
)
async def session_events(
    stream_id: str,
    session_id: str,
    request: Request,
    owner: Owner,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    """Each stored event (id = its ``seq``), resumable with ``Last-Event-ID``; ``ended`` closes the stream."""
    session = await _own_session(request, session_id, owner)
    if session.stream_id != stream_id:
        raise not_found("session", session_id)
    state = app_state(request)
    start = after if after is not None else parse_last_event_id(last_event_id)

    async def ended() -> Message | None:
        current = await state.store.get_session(session_id)
        if current is not None and current.status in ("FINISHED", "FAILED"):
            data = {"session_id": session_id, "stream_id": stream_id, "status": current.status, "error": current.error}
            return Message("ended", data, terminal=True)
        return None

    stream = event_stream(
        state, "session", session_id, start, request, to_message=state.views.session_message, final=ended
    )
    return EventSourceResponse(stream, headers={"Cache-Control": "no-cache"})
