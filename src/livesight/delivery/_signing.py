"""Webhook bodies and Standard Webhooks signatures, and the server-wide secret for runs without an API key."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from livesight import __version__
from livesight.errors import ConfigurationError
from livesight.settings import Settings
from livesight.store import format_utc, new_webhook_secret, utcnow

USER_AGENT = f"LiveSight-Webhooks/{__version__}"
SECRET_FILE = "webhook_secret"
"""The server-wide secret's file under ``data_dir``, created on first use when ``LIVESIGHT_WEBHOOK_SECRET`` is unset."""


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return format_utc(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def build_payload(
    type: str,
    job_id: str | None,
    data: Mapping[str, Any],
    timestamp: datetime | None = None,
) -> str:
    """The JSON text of a webhook: ``{"type", "job_id", "timestamp", "data"}`` (SPEC §3/§4).

    ``timestamp`` (default now) is written as ISO-8601 UTC with a ``Z``; datetimes inside ``data`` are
    too. The text is what gets stored, signed and sent, unchanged on every retry. NaN and infinity are
    refused (``ValueError``): they are not JSON.
    """
    when = timestamp or utcnow()
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"timestamp: naive datetime {when!r}; pass a timezone-aware (UTC) value")
    payload = {"type": type, "job_id": job_id, "timestamp": format_utc(when), "data": dict(data)}
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)


def sign(secret: str, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The headers of one attempt: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` and the rest.

    The signature is the ``standardwebhooks`` library's ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.
    Each attempt is signed with its own time (receivers reject stale timestamps); ``msg_id`` stays the
    same across attempts so receivers can de-duplicate.
    """
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError(f"timestamp: naive datetime {timestamp!r}; pass a timezone-aware (UTC) value")
    # The library reads the datetime's wall time as UTC, so it must be in UTC already.
    when = timestamp.astimezone(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def check_secret(secret: str, *, setting: str = "LIVESIGHT_WEBHOOK_SECRET") -> str:
    """``secret`` if it is a usable Standard Webhooks secret (``whsec_`` + base64 of 24–64 bytes), else raise."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not 24 <= len(key) <= 64:
        raise ConfigurationError(
            f"{setting} is not a Standard Webhooks secret",
            remediation=f"Set {setting} to whsec_ followed by the base64 of 24 to 64 random bytes, or unset it.",
        )
    return secret.strip()


def server_webhook_secret(settings: Settings) -> str:
    """The secret that signs webhooks of runs without an owner (development mode, no API keys).

    ``LIVESIGHT_WEBHOOK_SECRET`` when set; otherwise read from ``data_dir/webhook_secret``, which is
    generated (mode 0600) the first time, so receivers keep verifying across restarts. Blocking: call it
    in a thread from async code.
    """
    if settings.webhook_secret:
        return check_secret(settings.webhook_secret)
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        _create_secret_file(path)
    return check_secret(path.read_text(encoding="ascii"), setting=str(path))


def rotate_server_webhook_secret(settings: Settings) -> str:
    """Replace the generated server-wide secret in ``data_dir`` and return the new one (blocking).

    Raises :class:`ConfigurationError` when ``LIVESIGHT_WEBHOOK_SECRET`` sets it: change the variable instead.
    """
    if settings.webhook_secret:
        raise ConfigurationError(
            "the server-wide webhook secret is set by LIVESIGHT_WEBHOOK_SECRET",
            remediation="Change LIVESIGHT_WEBHOOK_SECRET and restart, or unset it to use a generated secret.",
        )
    path = settings.data_dir / SECRET_FILE
    _create_secret_file(path, replace=True)
    return check_secret(path.read_text(encoding="ascii"), setting=str(path))


def _create_secret_file(path: Path, *, replace: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(new_webhook_secret() + "\n")
        if replace:
            os.replace(tmp, path)  # atomic: readers see the old secret or the new one, never half of one
            return
        # link() fails when the file exists: of two processes starting together, the first one's secret wins
        # and the other reads it, never a half-written file.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
