"""Bearer API keys. A key sees only its own jobs, streams and sessions (others read as missing)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from livesight.api.errors import APIError

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="An API key from `livesight keys create`.")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def current_owner(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str | None:
    """The id of the calling key, or ``None`` in development mode (no keys, loopback only)."""
    state = request.app.state.ls
    if credentials is not None and credentials.credentials:
        key = await state.store.verify_api_key(credentials.credentials)
        if key is None:
            raise APIError("UNAUTHORIZED", "The API key is not valid.", "Create one with `livesight keys create`.")
        return str(key.id)
    if state.dev_mode:
        return None
    raise APIError(
        "UNAUTHORIZED",
        "An API key is required (Authorization: Bearer <key>).",
        "Create one with `livesight keys create` and send it as a bearer token.",
    )


Owner = Annotated[str | None, Depends(current_owner)]
