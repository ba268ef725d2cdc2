"""One-off checks without a job, stream validation, health and metrics."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import time
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from PIL import Image, UnidentifiedImageError
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from livesight.api.auth import Caller, Owner
from livesight.api.errors import APIError
from livesight.api.models import (
    AnalyzeFrameRequest,
    AnalyzeFrameResponse,
    CheckOnceRequest,
    CheckOnceResponse,
    ErrorEnvelope,
    PrepareStreamResponse,
    ValidateRequest,
    ValidateResponse,
)
from livesight.api.state import app_state
from livesight.pipeline.once import check_once
from livesight.sources.errors import InvalidSourceURL, NotLive, SourceError
from livesight.sources.probe import ProbeResult, probe
from livesight.sources.urls import platform_of, redact
from livesight.types import JudgeImage, Sample

router = APIRouter(prefix="/api", tags=["tools"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorEnvelope} for code in (400, 401, 422, 502, 503)}


class KeyInfo(BaseModel):
    """Who the calling key is (``POST /api/keys/verify``, the Nomadic SDKs' ``verify_auth()``)."""

    valid: bool = True
    user_id: str = Field(description="The key's id: the owner of everything it creates (`local` in development mode).")
    key_id: str | None = Field(description="The key's id; null in development mode (no keys).")
    name: str | None = Field(description="The key's name, as given to `livesight keys create`.")
    org_id: str | None = Field(description="The tenant: in LiveSight each key is its own, so this is the key's id.")
    scopes: list[str] = Field(description="What the key may do: every key may read and write its own resources.")
    token_prefix: str | None = Field(description="The first characters of the token, to tell keys apart.")
    created_at: datetime | None = None
    dev_mode: bool = Field(description="True when the server has no keys and takes requests without one.")


@router.post("/keys/verify", response_model=KeyInfo, responses=ERRORS, summary="Check the calling API key")
async def verify_key(request: Request, key: Caller) -> KeyInfo:
    """Answers who the key sent (``Authorization: Bearer`` or ``X-API-Key``) is; 401 for a bad key."""
    dev = bool(app_state(request).dev_mode)
    if key is None:
        return KeyInfo(
            user_id="local", key_id=None, name=None, org_id=None, scopes=SCOPES, token_prefix=None, dev_mode=dev
        )
    return KeyInfo(
        user_id=key.id,
        key_id=key.id,
        name=key.name,
        org_id=key.id,
        scopes=SCOPES,
        token_prefix=key.token_prefix,
        created_at=key.created_at,
        dev_mode=dev,
    )


SCOPES = ["jobs:read", "jobs:write", "sessions:read", "sessions:write", "streams:read", "streams:write"]


@router.post("/check-once", response_model=CheckOnceResponse, responses=ERRORS, summary="Check a condition once")
async def check_once_route(body: CheckOnceRequest, request: Request, owner: Owner) -> CheckOnceResponse:
    """Judge the condition on the stream's newest frame (or clip), synchronously, without a job."""
    state = app_state(request)
    await state.check_source(body.stream_url)
    if state.jobs.probes.recent(body.stream_url) is None:  # POST /api/prepare-stream spares this probe
        await asyncio.to_thread(probe, body.stream_url, state.settings, state.policy)
    result = await check_once(
        body.stream_url,
        body.condition,
        state.judge(),
        state.registry,
        input_mode=body.input_mode,
        clip_duration=body.clip_duration_seconds,
        long_side=state.settings.frame_long_side,
    )
    frame = base64.b64encode(result.sample.images[-1].jpeg).decode() if body.include_frame else None
    return CheckOnceResponse(
        triggered=result.verdict.match,
        explanation=result.verdict.explanation,
        confidence=result.verdict.confidence,
        latency_ms=result.latency_ms,
        stream_time=result.sample.session_time,
        frame_b64=frame,
    )


@router.post("/streams/validate", response_model=ValidateResponse, responses=ERRORS, summary="Validate a stream URL")
async def validate_stream(body: ValidateRequest, request: Request, owner: Owner) -> ValidateResponse:
    """Reachable? Live? Codec, size and frame rate. A source that cannot be read answers ``is_live: false``
    with an ``error_hint`` rather than an error, so the caller can show why (a malformed URL, or one the
    network policy refuses, is an error: ``INVALID_URL``, ``URL_NOT_ALLOWED``)."""
    state = app_state(request)
    try:
        await state.check_source(body.stream_url)  # a host that does not resolve: SourceOffline, answered below
        result = await asyncio.to_thread(probe, body.stream_url, state.settings, state.policy)
    except InvalidSourceURL:
        raise
    except SourceError as exc:
        return ValidateResponse(
            is_live=False,
            valid=False,
            platform=platform_of(body.stream_url),
            stream_id=None,
            title=None,
            channel=None,
            thumbnail_url=None,
            viewer_count=None,
            parsed_url=redact(body.stream_url),
            width=None,
            height=None,
            fps=None,
            codec=None,
            error_hint=f"{exc.code}: {exc.message}",
        )
    return ValidateResponse(**result.as_dict())


@router.post(
    "/prepare-stream", response_model=PrepareStreamResponse, responses=ERRORS, summary="Check a stream, remember it"
)
async def prepare_stream(
    request: Request,
    owner: Owner,
    url: Annotated[str, Query(min_length=1, max_length=500, description="The live stream URL to prepare.")],
) -> PrepareStreamResponse:
    """Optional: checks ``url`` as job creation does (network policy, live probe) and remembers it for a
    minute, so a job or check-once on it that follows starts without probing again; answers how to embed a
    preview. A URL that is refused, unreachable or not live answers the same error as ``POST
    /api/live-monitor`` would."""
    state = app_state(request)
    await state.check_source(url)
    started = time.monotonic()
    result = await asyncio.to_thread(probe, url, state.settings, state.policy)
    if not result.is_live:
        raise NotLive(f"{redact(url)} is not a live stream.", remediation="Use a live URL.")
    state.jobs.probes.remember(url, result)
    took = round((time.monotonic() - started) * 1000)
    embed_url, embed_type = _embed(url, result, state.public_url())
    return PrepareStreamResponse(
        success=True, message=f"Stream URL cached in {took}ms", cached=True, embed_url=embed_url, embed_type=embed_type
    )


def _embed(url: str, result: ProbeResult, public_url: str) -> tuple[str, Literal["iframe", "video"]]:
    """A player for the page's platform (YouTube, Twitch), else the stream URL itself (credentials hidden)."""
    parts = urlsplit(url)
    if result.platform == "youtube":
        video = result.stream_id or parse_qs(parts.query).get("v", [parts.path.rsplit("/", 1)[-1]])[0]
        return f"https://www.youtube.com/embed/{video}?autoplay=1&mute=1", "iframe"
    if result.platform == "twitch":
        channel = parts.path.strip("/").split("/", 1)[0]
        parent = urlsplit(public_url).hostname or "localhost"  # Twitch's player requires the embedding host
        return f"https://player.twitch.tv/?channel={channel}&parent={parent}", "iframe"
    return redact(url), "video"


def _decode_image(frame_b64: str) -> Image.Image:
    data = frame_b64.split(",", 1)[1] if frame_b64.startswith("data:") else frame_b64
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIError(
            "BAD_REQUEST",
            f"Invalid base64 frame data: {exc}",
            "Ensure frame_b64 is valid base64-encoded JPEG data (raw base64, or a data: URL).",
        ) from None
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
        return image
    except (UnidentifiedImageError, OSError, ValueError):
        raise APIError(
            "BAD_REQUEST", "frame_b64 is not a JPEG or PNG image.", "Ensure frame_b64 is a base64-encoded JPEG or PNG."
        ) from None


@router.post("/analyze-frame", response_model=AnalyzeFrameResponse, responses=ERRORS, summary="Ask about one image")
async def analyze_frame(body: AnalyzeFrameRequest, request: Request, owner: Owner) -> AnalyzeFrameResponse:
    state = app_state(request)
    image = await asyncio.to_thread(_decode_image, body.frame_b64)

    def to_jpeg() -> JudgeImage:
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=state.settings.jpeg_quality)
        return JudgeImage(out.getvalue(), 0.0, image.width, image.height)

    picture = await asyncio.to_thread(to_jpeg)
    started = time.monotonic()
    verdict = await state.judge().check(body.question, Sample(0.0, 0.0, (picture,)))
    latency = round((time.monotonic() - started) * 1000)
    frame = base64.b64encode(picture.jpeg).decode() if body.include_frame else None
    return AnalyzeFrameResponse(
        answer=verdict.explanation, triggered=verdict.match, latency_ms=latency, frame_b64=frame
    )


health_router = APIRouter(tags=["operations"])


@health_router.get("/healthz", summary="Liveness and database check")
@health_router.get("/api/healthz", include_in_schema=False)
async def healthz(request: Request) -> dict[str, Any]:
    state = app_state(request)
    await state.store.ping()
    return {"status": "ok", "jobs_running": state.runner.jobs_running(), "sources": len(state.registry)}


@health_router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
@health_router.get("/api/metrics", response_class=PlainTextResponse, include_in_schema=False)
async def metrics(request: Request) -> PlainTextResponse:
    state = app_state(request)
    state.metrics.jobs_running.set(state.runner.jobs_running())
    return PlainTextResponse(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
