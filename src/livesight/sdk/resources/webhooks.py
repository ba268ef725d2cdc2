"""``client.webhooks``: verify LiveSight's webhooks, signed per the Standard Webhooks specification.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, several separated by spaces during a secret rotation).
The secret (``whsec_…``) is the one ``GET /api/webhook-secret`` shows for your API key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from livesight.sdk.errors import WebhookVerificationError

__all__ = ["Webhooks"]

SECRET_ENV = "LIVESIGHT_WEBHOOK_SECRET"


def _decode(signature: str) -> bytes | None:
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None


class Webhooks:
    """Webhook helpers; pure computation, so the sync and async clients share this one class."""

    def __init__(self, secret: str | None = None) -> None:
        self._secret = secret

    def verify(
        self,
        payload: str | bytes,
        headers: Mapping[str, str],
        *,
        secret: str | None = None,
        tolerance: float = 300,
    ) -> dict[str, Any]:
        """Check a webhook's signature and timestamp, then return its JSON body (``{type, job_id, timestamp,
        data}``).

        Pass the body exactly as received (bytes or text: never re-serialised JSON) and its headers (any
        mapping; names are matched case-insensitively). The secret is ``secret``, else the client's
        ``webhook_secret``, else ``LIVESIGHT_WEBHOOK_SECRET``. A timestamp more than ``tolerance`` seconds from
        now is refused, which stops replays of old deliveries. Raises :class:`WebhookVerificationError` when a
        header is missing, the timestamp is outside the tolerance or no ``v1`` signature matches; ``ValueError``
        when no secret is configured. Receivers should de-duplicate on ``webhook-id``: retries keep it.
        """
        # standardwebhooks decodes the secret and computes the signature; the timestamp check is ours because
        # the library's tolerance is fixed at five minutes.
        try:
            from standardwebhooks.webhooks import Webhook
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ImportError(
                "webhooks.verify needs the standardwebhooks package (pip install standardwebhooks)."
            ) from exc

        key = secret or self._secret or os.environ.get(SECRET_ENV)
        if not key:
            raise ValueError(f"No webhook secret: pass secret=, give the client webhook_secret=, or set {SECRET_ENV}.")
        body = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        lowered = {name.lower(): value for name, value in headers.items()}
        msg_id = lowered.get("webhook-id")
        timestamp_header = lowered.get("webhook-timestamp")
        signatures = lowered.get("webhook-signature")
        if not (msg_id and timestamp_header and signatures):
            raise WebhookVerificationError("Missing webhook-id, webhook-timestamp or webhook-signature header.")
        try:
            timestamp = int(timestamp_header)
        except ValueError:
            raise WebhookVerificationError(f"Invalid webhook-timestamp {timestamp_header!r}.") from None
        skew = time.time() - timestamp
        if skew > tolerance:
            raise WebhookVerificationError(f"Webhook timestamp is too old ({skew:.0f} s > {tolerance:g} s).")
        if skew < -tolerance:
            raise WebhookVerificationError(f"Webhook timestamp is in the future ({-skew:.0f} s > {tolerance:g} s).")
        try:
            signer = Webhook(key)
        except Exception as exc:  # the library raises several types for an unreadable secret
            raise ValueError(f"The webhook secret is not a valid whsec_ secret: {exc}") from None
        expected = _decode(signer.sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body).split(",", 1)[1])
        for candidate in signatures.split():
            version, _, signature = candidate.partition(",")
            received = _decode(signature) if version == "v1" else None
            if received is not None and expected is not None and hmac.compare_digest(received, expected):
                break
        else:
            raise WebhookVerificationError("No matching webhook signature.")
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise WebhookVerificationError(f"The webhook body is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise WebhookVerificationError("The webhook body is not a JSON object.")
        return parsed
