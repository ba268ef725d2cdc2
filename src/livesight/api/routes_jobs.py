"""Live-monitor jobs: ``POST /api/live-monitor`` and ``/api/jobs`` (SPEC §3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse

from livesight.api._stored import stored_response
from livesight.api.auth import Owner
from livesight.api.errors import APIError, not_found
from livesight.api.models import (
    MIN_INTERVAL_SECONDS,
    CancelResponse,
    ErrorEnvelope,
    JobDetail,
    JobList,
    JobResponse,
    LiveDigestRequest,
    LiveMonitorRequest,
)
from livesight.api.sse import job_event_stream, parse_last_event_id
from livesight.api.state import AppState, app_state
from livesight.runs.specs import job_config
from livesight.runs.views import TRIGGER_TYPES
from livesight.settings import Settings
from livesight.sources.urls import redact
from livesight.store.records import JobRecord

router = APIRouter(prefix="/api", tags=["live monitor"])

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorEnvelope} for code in (400, 401, 404, 422, 429, 503)}


async def server_bounds(request: Request) -> None:
    """Bounds that are the server's settings, for the request body's validators (run before the body is
    validated; ``async`` so that it runs in the request's own context)."""
    MIN_INTERVAL_SECONDS.set(app_state(request).settings.min_interval_seconds)


def document_bounds(app: FastAPI, settings: Settings) -> None:
    """/openapi.json states the bounds ``server_bounds`` enforces: the minimum interval is this server's."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for name, model in schema.get("components", {}).get("schemas", {}).items():
                if name.startswith("LiveMonitorRequest"):
                    model["properties"]["interval_seconds"]["minimum"] = settings.min_interval_seconds
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _job_response(job: JobRecord, details: dict[str, Any], message: str | None = None) -> JobResponse:
    return JobResponse(
        job_id=job.id,
        status=job.status,
        created_at=job.created_at,
        job_type=job.job_type,
        stream_url=redact(job.stream_url),
        details=details,
        message=message,
    )


@router.post(
    "/live-monitor",
    response_model=JobResponse,
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when asked"}},
    summary="Start a live monitor job",
    dependencies=[Depends(server_bounds)],
)
async def create_monitor(
    body: LiveMonitorRequest,
    request: Request,
    response: Response,
    owner: Owner,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Delivery mode by request shape: ``webhook_url`` → webhooks; else ``Accept: text/event-stream`` → this
    response is an SSE stream; else polling (``GET /api/jobs/{job_id}``)."""
    state = app_state(request)
    mode = await _prepare(state, body.stream_url, body.webhook_url, body.skip_validation, accept)
    job = await state.jobs.create(body.spec(), owner, mode)
    return _answer(state, request, response, job, mode)


async def _prepare(
    state: AppState, stream_url: str, webhook_url: str | None, skip_validation: bool, accept: str | None
) -> Literal["webhook", "sse", "polling"]:
    """Check the URLs, and pick the delivery mode by request shape. A stream ``POST /api/prepare-stream``
    found live a moment ago is not probed again (the network policy is still applied)."""
    if skip_validation or state.jobs.probes.recent(stream_url) is not None:
        await state.check_source(stream_url)
    else:
        await state.probe_source(stream_url, require_live=True)
    if webhook_url:
        try:
            await state.check_url(webhook_url)
        except OSError as exc:  # its host does not resolve
            message = f"webhook_url: the host does not resolve ({exc.strerror or exc})"
            raise APIError(
                "VALIDATION_ERROR",
                message,
                "Use a webhook URL whose host this server can resolve.",
                fields=[{"field": "webhook_url", "message": message}],
            ) from None
    return "webhook" if webhook_url else "sse" if "text/event-stream" in (accept or "") else "polling"


def _answer(state: AppState, request: Request, response: Response, job: JobRecord, mode: str) -> Any:
    # Location names the job; an idempotent retry of an SSE request replays that job's stream from it.
    location = f"/api/jobs/{job.id}"
    if mode == "sse":
        return EventSourceResponse(
            job_event_stream(state, job.id, 0, request), headers={"Cache-Control": "no-cache", "Location": location}
        )
    response.headers["Location"] = location
    message = {
        "webhook": f"Events will be POSTed to {redact(job.webhook_url or '')}.",
        "polling": f"Poll GET /api/jobs/{job.id} for status and results.",
    }[mode]
    return _job_response(job, job_config(job), message)


@router.post(
    "/live-digest",
    response_model=JobResponse,
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when asked"}},
    summary="Start a live digest job",
)
async def create_digest(
    body: LiveDigestRequest,
    request: Request,
    response: Response,
    owner: Owner,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Periodic ``summary`` events (``summary_generated`` webhooks), one per window of the stream."""
    state = app_state(request)
    mode = await _prepare(state, body.stream_url, body.webhook_url, body.skip_validation, accept)
    job = await state.jobs.create_digest(body.spec(), owner, mode)
    return _answer(state, request, response, job, mode)


@router.get("/jobs", response_model=JobList, responses=ERRORS, summary="List jobs")
async def list_jobs(
    request: Request,
    owner: Owner,
    status: Annotated[Literal["pending", "running", "completed", "stopped", "failed"] | None, Query()] = None,
    type: Annotated[Literal["live-monitor", "live-digest", "watch"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> JobList:
    """Newest first; each job's ``details`` are its statistics (``GET /api/jobs/{job_id}`` has its config too)."""
    state = app_state(request)
    jobs, total = await state.store.list_jobs(owner, status, type, limit, offset)
    items = [_job_response(j, j.stats) for j in jobs]
    return JobList(jobs=items, total=total, limit=limit, offset=offset)


async def _own_job(request: Request, job_id: str, owner: str | None) -> JobRecord:
    job: JobRecord | None = await app_state(request).store.get_job(job_id, owner)
    if job is None:
        raise not_found("job", job_id)
    return job


@router.get("/jobs/{job_id}", response_model=JobDetail, responses=ERRORS, summary="Get a job")
async def get_job(job_id: str, request: Request, owner: Owner) -> JobDetail:
    state = app_state(request)
    job = await _own_job(request, job_id, owner)
    stats = job.stats  # stored by the run as it goes (and with the final status): whichever replica runs it
    events = await state.store.list_events("job", job_id)
    triggers = [state.views.trigger_view(e) for e in events if e.type in TRIGGER_TYPES]
    summaries = [e.data.get("payload", {}) for e in events if e.type == "summary"]
    return JobDetail(
        job_id=job.id,
        status=job.status,
        job_type=job.job_type,
        created_at=job.created_at,
        stream_url=redact(job.stream_url),
        condition=job.condition,
        delivery_mode=job.delivery_mode,
        config=job_config(job),
        stats=stats,
        triggers=triggers,
        summaries=summaries,
        started_at=job.started_at,
        ended_at=job.ended_at,
    )


@router.delete("/jobs/{job_id}", response_model=CancelResponse, responses=ERRORS, summary="Cancel a job")
async def cancel_job(job_id: str, request: Request, owner: Owner) -> CancelResponse:
    state = app_state(request)
    job = await _own_job(request, job_id, owner)
    # A request in the store, acted on by whichever replica runs the job; answered once the store shows it ended.
    if await state.jobs.cancel(job_id, owner):
        job = await _own_job(request, job_id, owner)
        message = "The job was cancelled."
    else:
        message = f"The job had already ended ({job.status})."
    return CancelResponse(job_id=job.id, status=job.status, message=message, final_stats=job.stats)


@router.get(
    "/jobs/{job_id}/events",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
    summary="Stream a job's events (SSE)",
)
async def job_events(
    job_id: str,
    request: Request,
    owner: Owner,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, description="Same as Last-Event-ID.")] = None,
) -> EventSourceResponse:
    """Replays what came after ``Last-Event-ID`` (or ``after``), then streams live; ends after ``stopped``
    or ``error``. Keep-alive comments flow while nothing happens."""
    await _own_job(request, job_id, owner)
    start = after if after is not None else parse_last_event_id(last_event_id)
    state = app_state(request)
    return EventSourceResponse(job_event_stream(state, job_id, start, request), headers={"Cache-Control": "no-cache"})


async def _signed_file(request: Request, path: str | None, *, media_type: str) -> Response:
    state = app_state(request)
    if not state.signer.verify(request.url.path, request.query_params.get("expires"), request.query_params.get("sig")):
        raise APIError(
            "FORBIDDEN", "This link is expired or not valid.", "Fetch the job again for fresh links.", status=403
        )
    served = await stored_response(state.storage, path, media_type=media_type)
    if served is None:
        raise APIError("NOT_FOUND", "Not recorded (yet).", "Chunks appear once they are recorded.")
    return served


@router.get("/jobs/{job_id}/events/{event_id}/frame.jpg", include_in_schema=True, summary="A trigger's frame")
async def trigger_frame(
    job_id: str,
    event_id: str,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    """Signed link (no bearer needed): the frame the model judged when the trigger fired."""
    events = (
        await app_state(request).store.list_events("job", job_id)
        if app_state(request).signer.verify(request.url.path, expires, sig)
        else []
    )
    found = next((e for e in events if e.id == event_id), None)
    path = found.data.get("frame_path") if found is not None else None
    return await _signed_file(request, path, media_type="image/jpeg")


@router.get("/jobs/{job_id}/chunks/{chunk_index}.ts", summary="A recorded chunk (MPEG-TS)")
async def job_chunk(
    job_id: str,
    chunk_index: int,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    """Signed link (no bearer needed): the recorded chunk a trigger falls in."""
    chunks = (
        await app_state(request).store.list_chunks("job", job_id)
        if app_state(request).signer.verify(request.url.path, expires, sig)
        else []
    )
    found = next((c for c in chunks if c.chunk_index == chunk_index), None)
    return await _signed_file(request, found.path if found else None, media_type="video/mp2t")


@router.get("/webhook-secret", summary="This key's webhook signing secret")
async def webhook_secret(request: Request, owner: Owner) -> JSONResponse:
    """The ``whsec_…`` secret that signs this key's webhooks (Standard Webhooks)."""
    secret = await app_state(request).webhook_secret(owner)
    return JSONResponse({"secret": secret})


@router.post("/webhook-secret/rotate", summary="Rotate this key's webhook signing secret")
async def rotate_webhook_secret(request: Request, owner: Owner) -> JSONResponse:
    secret = await app_state(request).rotate_webhook_secret(owner)
    return JSONResponse({"secret": secret})


def _delivery_view(d: Any) -> dict[str, Any]:
    return {
        "webhook_id": d.id,
        "event_type": d.event_type,
        "url": redact(d.url),
        "status": d.status,
        "attempt_count": d.attempt_count,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
        "attempts": [
            {
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in d.attempts
        ],
    }


@router.get("/jobs/{job_id}/deliveries", responses=ERRORS, summary="A job's webhook deliveries and attempts")
async def job_deliveries(job_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    await _own_job(request, job_id, owner)
    deliveries = await app_state(request).store.list_deliveries(job_id=job_id)
    return {"deliveries": [_delivery_view(d) for d in deliveries]}


@router.post("/jobs/{job_id}/deliveries/{webhook_id}/resend", responses=ERRORS, summary="Send a delivery again")
async def resend_delivery(job_id: str, webhook_id: str, request: Request, owner: Owner) -> dict[str, Any]:
    """Queue the delivery again now, with the same ``webhook-id`` and body (a fresh signature)."""
    await _own_job(request, job_id, owner)
    state = app_state(request)
    delivery = await state.store.get_delivery(webhook_id)
    if delivery is None or delivery.job_id != job_id:
        raise not_found("delivery", webhook_id)
    delivery = await state.store.resend_delivery(webhook_id)
    state.dispatcher.notify()
    return _delivery_view(delivery)
