"""Webhook bodies, Standard Webhooks signatures, the server-wide secret and the retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from livesight import __version__
from livesight.delivery.webhooks import (
    SECRET_FILE,
    InvalidWebhookURL,
    build_payload,
    check_webhook_url,
    retry_policy,
    rotate_server_webhook_secret,
    schedule_retry,
    server_webhook_secret,
    sign,
)
from livesight.errors import ConfigurationError
from livesight.retry import RetryPolicy
from livesight.settings import Settings
from livesight.store import new_webhook_secret

WHEN = datetime(2025, 3, 1, 12, 0, 5, 250_000, tzinfo=UTC)


def test_payload_has_exactly_the_spec_shape() -> None:
    data = {"condition": "a cat?", "triggered": True, "confidence": 0.875, "explanation": "un chat — 🐈"}
    body = build_payload("watch_triggered", "job_1", data, timestamp=WHEN)
    parsed = json.loads(body)
    assert list(parsed) == ["type", "job_id", "timestamp", "data"]
    assert parsed == {
        "type": "watch_triggered",
        "job_id": "job_1",
        "timestamp": "2025-03-01T12:00:05.250000Z",
        "data": data,
    }
    assert "🐈" in body  # UTF-8 as is, not \\u escapes: the bytes sent are the text signed


def test_payload_timestamps_are_utc_and_datetimes_inside_data_too() -> None:
    paris = timezone(timedelta(hours=1))
    body = build_payload("job_started", None, {"at": WHEN.astimezone(paris)}, timestamp=WHEN.astimezone(paris))
    parsed = json.loads(body)
    assert parsed["timestamp"] == parsed["data"]["at"] == "2025-03-01T12:00:05.250000Z"
    assert parsed["job_id"] is None
    now = datetime.now(UTC)
    assert abs(datetime.fromisoformat(json.loads(build_payload("x", "j", {}))["timestamp"]) - now) < timedelta(hours=1)


def test_payload_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        build_payload("x", "j", {"confidence": float("nan")}, timestamp=WHEN)
    with pytest.raises(ValueError, match="naive"):
        build_payload("x", "j", {}, timestamp=datetime(2025, 1, 1))
    with pytest.raises(TypeError):
        build_payload("x", "j", {"raw": object()}, timestamp=WHEN)


def test_sign_produces_standard_webhooks_headers_that_the_library_verifies() -> None:
    secret = new_webhook_secret()
    body = build_payload("watch_triggered", "job_1", {"triggered": True}, timestamp=WHEN)
    now = datetime.now(UTC)
    headers = sign(secret, "msg_1", now, body)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == f"LiveSight-Webhooks/{__version__}"
    assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)

    # Independently of the library: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> keyed by the decoded secret.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"msg_1.{headers['webhook-timestamp']}.{body}".encode(), hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify((body + " ").encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body.encode(), headers)


def test_sign_reads_any_time_zone_as_the_same_instant() -> None:
    secret = new_webhook_secret()
    tokyo = WHEN.astimezone(timezone(timedelta(hours=9)))
    assert sign(secret, "msg_1", tokyo, "{}") == sign(secret, "msg_1", WHEN, "{}")
    with pytest.raises(ValueError, match="naive"):
        sign(secret, "msg_1", datetime(2025, 1, 1), "{}")


def test_the_server_secret_is_generated_once_private_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", webhook_secret=None)
    secret = server_webhook_secret(settings)
    path = tmp_path / "data" / SECRET_FILE
    assert secret.startswith("whsec_") and path.read_text().strip() == secret
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server_webhook_secret(settings) == secret  # a restart keeps it
    assert [p.name for p in path.parent.iterdir()] == [SECRET_FILE]  # no temporary files left

    rotated = rotate_server_webhook_secret(settings)
    assert rotated != secret and server_webhook_secret(settings) == rotated


def test_a_configured_server_secret_wins_and_is_checked(tmp_path: Path) -> None:
    configured = new_webhook_secret()
    settings = Settings(data_dir=tmp_path, webhook_secret=configured)
    assert server_webhook_secret(settings) == configured
    assert not (tmp_path / SECRET_FILE).exists()
    with pytest.raises(ConfigurationError, match="LIVESIGHT_WEBHOOK_SECRET"):
        rotate_server_webhook_secret(settings)
    for bad in ("whsec_", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ConfigurationError, match="LIVESIGHT_WEBHOOK_SECRET"):
            server_webhook_secret(Settings(data_dir=tmp_path, webhook_secret=bad))


@pytest.mark.parametrize("url", ["ftp://h/x", "/relative", "http://", "javascript:alert(1)", "hooks.example/x"])
def test_webhook_urls_must_be_absolute_http(url: str) -> None:
    with pytest.raises(InvalidWebhookURL):
        check_webhook_url(url)


def test_webhook_url_errors_hide_credentials() -> None:
    with pytest.raises(InvalidWebhookURL) as caught:
        check_webhook_url("ftp://user:hunter2@h/x")
    assert "hunter2" not in str(caught.value)
    assert check_webhook_url("https://hooks.example/x?a=1") == "https://hooks.example/x?a=1"


def test_the_default_schedule_backs_off_to_hourly_and_gives_up_after_a_day() -> None:
    policy = retry_policy(Settings())
    assert (policy.initial, policy.maximum, policy.max_attempts, policy.max_elapsed) == (5.0, 3600.0, 40, 86400.0)
    rng = random.Random(7)
    queued = now = WHEN
    waits: list[float] = []
    attempt = 1
    while (next_at := schedule_retry(policy, attempt, queued, now, rng=rng)) is not None:
        waits.append((next_at - now).total_seconds())
        now, attempt = next_at, attempt + 1
    assert 3.75 <= waits[0] <= 6.25 and 7.5 <= waits[1] <= 12.5  # 5 s, 10 s, ±25 %
    assert all(w <= 3600 for w in waits) and waits[-1] > 2000  # capped at an hour
    assert (now - queued) <= timedelta(hours=24) < now - queued + timedelta(hours=1, minutes=15)
    assert 25 <= attempt <= 40


def test_schedule_honours_max_attempts_and_retry_after() -> None:
    policy = RetryPolicy(initial=1, maximum=10, jitter=0, max_attempts=3, max_elapsed=None)
    assert schedule_retry(policy, 1, WHEN, WHEN) == WHEN + timedelta(seconds=1)
    assert schedule_retry(policy, 2, WHEN, WHEN) == WHEN + timedelta(seconds=2)
    assert schedule_retry(policy, 3, WHEN, WHEN) is None
    assert schedule_retry(policy, 1, WHEN, WHEN, retry_after=120) == WHEN + timedelta(seconds=120)
    window = RetryPolicy(initial=1, maximum=10, jitter=0, max_attempts=None, max_elapsed=60)
    assert schedule_retry(window, 1, WHEN, WHEN + timedelta(seconds=58)) == WHEN + timedelta(seconds=59)
    assert schedule_retry(window, 2, WHEN, WHEN + timedelta(seconds=59)) is None
