"""API keys, sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (the published Nomadic
SDKs send both). A key sees only its own jobs, streams and sessions (others read as missing)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from livesight.api.errors import APIError
from livesight.api.state import app_state
from livesight.store.records import ApiKeyRecord

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="An API key from `livesight keys create`.")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same key, as the Nomadic SDKs send it."
)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The key a request's headers (lower-case names) carry: the bearer token, else ``X-API-Key``; ``None``
    when they carry neither."""
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


async def current_key(
    request: Request,
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _api_key: Annotated[str | None, Depends(_api_key_header)],
) -> ApiKeyRecord | None:
    """The calling key, or ``None`` in development mode (no keys, loopback only).

    The two security dependencies only document both headers in the OpenAPI schema; the token itself is
    read by :func:`presented_token`, so that either header works and a bearer header wins when both differ.
    """
    state = app_state(request)
    token = presented_token(request.headers)
    if token is not None:
        key: ApiKeyRecord | None = await state.store.verify_api_key(token)
        if key is not None:
            return key
        if not state.dev_mode:
            raise APIError("UNAUTHORIZED", "The API key is not valid.", "Create one with `livesight keys create`.")
    if state.dev_mode:
        # No keys existed at start, so there is nothing to check an unknown token against; clients that
        # always send one (the Nomadic SDKs refuse an empty key) work as they would against a keyed server.
        return None
    raise APIError(
        "UNAUTHORIZED",
        "An API key is required (Authorization: Bearer <key>, or X-API-Key: <key>).",
        "Create one with `livesight keys create` and send it as a bearer token.",
    )


async def current_owner(key: Annotated[ApiKeyRecord | None, Depends(current_key)]) -> str | None:
    """The id of the calling key (the ``owner`` of what it creates), or ``None`` in development mode."""
    return key.id if key is not None else None


Owner = Annotated[str | None, Depends(current_owner)]
Caller = Annotated[ApiKeyRecord | None, Depends(current_key)]
