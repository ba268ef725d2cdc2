"""webhooks.verify accepts what a Standard Webhooks library signs, and nothing else."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from livesight import AsyncLiveSight, LiveSight, WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"livesight-sdk-test-secret-32byte").decode()
BODY = json.dumps(
    {
        "type": "watch_triggered",
        "job_id": "job_1",
        "timestamp": "2026-11-20T10:00:00Z",
        "data": {"triggered": True, "explanation": "A red square is visible."},
    }
)


def signed(
    body: str = BODY, *, secret: str = SECRET, when: datetime | None = None, msg_id: str = "msg_1"
) -> dict[str, str]:
    when = when or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body),
    }


def test_verify_accepts_a_signed_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    with LiveSight(base_url="http://127.0.0.1:1") as client:
        payload = client.webhooks.verify(BODY, signed(), secret=SECRET)
        assert payload["type"] == "watch_triggered" and payload["data"]["triggered"] is True
        headers = {k.title(): v for k, v in signed().items()}  # header names in any case; bytes bodies
        assert client.webhooks.verify(BODY.encode(), headers, secret=SECRET)["job_id"] == "job_1"
        monkeypatch.setenv("LIVESIGHT_WEBHOOK_SECRET", SECRET)
        assert client.webhooks.verify(BODY, signed())["job_id"] == "job_1"  # secret from the environment
        # During a secret rotation several signatures are sent; one match is enough.
        headers = signed()
        other = signed(secret="whsec_" + base64.b64encode(b"another-secret").decode())
        headers["webhook-signature"] = f"v1,bm90LWl0 {other['webhook-signature']} {headers['webhook-signature']}"
        assert client.webhooks.verify(BODY, headers)["job_id"] == "job_1"
    with LiveSight(base_url="http://127.0.0.1:1", webhook_secret=SECRET) as configured:
        monkeypatch.delenv("LIVESIGHT_WEBHOOK_SECRET")
        assert configured.webhooks.verify(BODY, signed())["type"] == "watch_triggered"


async def test_verify_rejects_what_was_not_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVESIGHT_WEBHOOK_SECRET", raising=False)
    async with AsyncLiveSight(base_url="http://127.0.0.1:1", webhook_secret=SECRET) as client:
        verify = client.webhooks.verify
        with pytest.raises(WebhookVerificationError, match="signature"):
            verify(BODY.replace("true", "false"), signed())  # tampered body
        with pytest.raises(WebhookVerificationError):
            verify(BODY, signed(secret="whsec_" + base64.b64encode(b"wrong").decode()))
        tampered_id = {**signed(), "webhook-id": "msg_2"}
        with pytest.raises(WebhookVerificationError):
            verify(BODY, tampered_id)
        old = signed(when=datetime.now(UTC) - timedelta(minutes=10))
        with pytest.raises(WebhookVerificationError, match="too old"):
            verify(BODY, old)
        assert verify(BODY, old, tolerance=900)["job_id"] == "job_1"
        with pytest.raises(WebhookVerificationError, match="future"):
            verify(BODY, signed(when=datetime.now(UTC) + timedelta(minutes=10)))
        with pytest.raises(WebhookVerificationError, match="Missing"):
            verify(BODY, {k: v for k, v in signed().items() if k != "webhook-signature"})
        with pytest.raises(WebhookVerificationError, match="timestamp"):
            verify(BODY, {**signed(), "webhook-timestamp": "soon"})
        with pytest.raises(WebhookVerificationError, match="signature"):
            verify(BODY, {**signed(), "webhook-signature": "v2,abc garbage"})
    with LiveSight(base_url="http://127.0.0.1:1") as bare, pytest.raises(ValueError, match="No webhook secret"):
        bare.webhooks.verify(BODY, signed())
