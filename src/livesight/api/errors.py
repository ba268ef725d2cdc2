"""The one place where errors become HTTP answers: ``{"error": {code, message, remediation}}``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from livesight.errors import LiveSightError

log = logging.getLogger(__name__)

# HTTP status for each error code; anything unlisted is a 400.
STATUS_BY_CODE = {
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "JOB_NOT_FOUND": 404,
    "SESSION_NOT_FOUND": 404,
    "STREAM_NOT_FOUND": 404,
    "EVENT_NOT_FOUND": 404,
    "CHUNK_NOT_FOUND": 404,
    "DELIVERY_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "STREAM_ID_TAKEN": 409,
    "DELIVERY_IN_FLIGHT": 409,
    "WEBHOOK_ENDPOINT_DISABLED": 409,
    "URL_NOT_ALLOWED": 400,
    "VALIDATION_ERROR": 422,
    "MAX_JOBS_REACHED": 429,
    "INTERNAL_ERROR": 500,
    "JUDGE_NOT_CONFIGURED": 503,
    "JUDGE_UNAVAILABLE": 502,
    "JUDGE_TIMEOUT": 504,
    "JUDGE_RATE_LIMITED": 429,
    "JUDGE_AUTH_FAILED": 502,
    "JUDGE_BAD_RESPONSE": 502,
    "JUDGE_REFUSED": 422,
    "JUDGE_REQUEST_REJECTED": 502,
}


class APIError(LiveSightError):
    """An error raised by the API layer itself (auth, missing resources)."""

    def __init__(
        self,
        code: str,
        message: str,
        remediation: str = "",
        status: int | None = None,
        fields: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, remediation=remediation, code=code)
        self.status = status or STATUS_BY_CODE.get(code, 400)
        self.fields = fields


def not_found(kind: str, ident: str) -> APIError:
    return APIError(
        f"{kind.upper()}_NOT_FOUND",
        f"No {kind} {ident!r} here.",
        f"Check the {kind} id; a key sees only its own {kind}s.",
    )


def envelope(code: str, message: str, remediation: str = "", **extra: Any) -> dict[str, Any]:
    """The error body: ``error`` is the envelope every LiveSight client reads; ``detail`` says the same in
    one string, for clients that show a top-level ``detail`` (FastAPI's convention, and what the published
    Nomadic SDKs put in their exceptions)."""
    body: dict[str, Any] = {"code": code, "message": message, "remediation": remediation}
    body.update(extra)
    return {"error": body, "detail": detail_text(code, message, remediation)}


def detail_text(code: str, message: str, remediation: str = "") -> str:
    """``"SESSION_NOT_FOUND: No session 'x' here. Check the session id…"``: the envelope as one sentence."""
    text = f"{code}: {message.rstrip()}"
    if remediation:
        text = f"{text.rstrip('.')}. {remediation}"
    return text


def error_response(status: int, code: str, message: str, remediation: str = "", **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(envelope(code, message, remediation, **extra), status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


# How pydantic's own messages begin; a message of our own validators (raised with our wording) is kept.
_PYDANTIC_WORDING = ("Input should", "String should", "Field required", "Invalid JSON", "JSON input")


def _bound(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_message(error: Mapping[str, Any]) -> str:
    """One validation error of pydantic's in plain words ("must be at least 5", not "Input should be
    greater than or equal to 5"); messages of our own validators pass through."""
    kind, ctx = str(error.get("type", "")), error.get("ctx") or {}
    message = str(error.get("msg", "invalid"))
    plain = {
        "missing": "is required",
        "string_too_short": "must not be empty"
        if ctx.get("min_length") == 1
        else f"must be at least {ctx.get('min_length')} characters",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "greater_than_equal": f"must be at least {_bound(ctx.get('ge'))}",
        "greater_than": f"must be more than {_bound(ctx.get('gt'))}",
        "less_than_equal": f"must be at most {_bound(ctx.get('le'))}",
        "less_than": f"must be less than {_bound(ctx.get('lt'))}",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "string_type": "must be text",
        "json_invalid": "is not valid JSON",
        "model_attributes_type": "must be a JSON object",
        "dict_type": "must be a JSON object",
    }.get(kind)
    if plain is not None and message.startswith(_PYDANTIC_WORDING):
        return plain
    return message.removeprefix("Value error, ")


def validation_fields(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors as the 422 envelope's ``fields``: each field's name and a plain message."""
    return [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": field_message(e), "type": e.get("type")}
        for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LiveSightError)
    async def _domain(_: Request, exc: LiveSightError) -> JSONResponse:
        status = getattr(exc, "status", None) or STATUS_BY_CODE.get(exc.code, 400)
        if status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        fields = getattr(exc, "fields", None)
        extra = {"fields": fields} if fields else {}
        return error_response(status, exc.code, exc.message, exc.remediation, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = validation_fields(exc.errors())
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "The request is not valid."
        return error_response(422, "VALIDATION_ERROR", message, "Fix the fields named above and retry.", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "UNAUTHORIZED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        message, remediation = str(exc.detail), "Retry; if it persists, check the request against /docs."
        if exc.status_code == 404:
            message = f"No route {request.url.path!r} here."
            remediation = "Check the path and the base URL (routes start with /api); every route is listed at /docs."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path!r}."
            remediation = "Use one of the methods listed at /docs for this path."
        return error_response(exc.status_code, code, message, remediation)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(
            500,
            "INTERNAL_ERROR",
            "Something went wrong on the server.",
            "Retry; if it persists, report it with the server log.",
        )
