"""Signed webhooks (SPEC §4, the Standard Webhooks specification) from a persistent outbox.

``build_payload`` makes the body, ``sign`` the headers of one attempt, and :class:`WebhookDispatcher`
sends what :meth:`livesight.store.Store.enqueue_delivery` wrote, retrying with backoff for hours.

Secrets: a delivery owned by an API key is signed with that key's ``webhook_secret``
(``Store.get_webhook_secret``); one without an owner (single-user mode) with the server-wide secret,
``LIVESIGHT_WEBHOOK_SECRET`` or else the one generated into ``data_dir/webhook_secret`` on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from livesight.delivery._dispatcher import DispatcherState, WebhookDispatcher
from livesight.delivery._schedule import (
    DispatcherMetrics,
    InvalidWebhookURL,
    OutcomeMetrics,
    check_webhook_url,
    retry_policy,
    schedule_retry,
)
from livesight.delivery._signing import (
    SECRET_FILE,
    USER_AGENT,
    build_payload,
    check_secret,
    rotate_server_webhook_secret,
    server_webhook_secret,
    sign,
)
from livesight.store import new_id, utcnow
from livesight.store.records import NewDelivery

__all__ = [
    "SECRET_FILE",
    "USER_AGENT",
    "DispatcherMetrics",
    "DispatcherState",
    "InvalidWebhookURL",
    "OutcomeMetrics",
    "WebhookDispatcher",
    "build_payload",
    "check_secret",
    "check_webhook_url",
    "new_delivery",
    "retry_policy",
    "rotate_server_webhook_secret",
    "schedule_retry",
    "server_webhook_secret",
    "sign",
]


def new_delivery(
    owner: str | None,
    url: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    job_id: str | None = None,
    session_id: str | None = None,
    now: datetime | None = None,
) -> NewDelivery:
    """A webhook message for the outbox, body built and frozen now: hand it to the store call that writes what
    it announces (``Store.add_events(deliveries=…)``, ``end_job``, ``update_session``…), so that the two commit
    together, then wake the dispatcher (``WebhookDispatcher.notify``). Raises :class:`InvalidWebhookURL`."""
    check_webhook_url(url)
    now = now or utcnow()
    body = build_payload(event_type, job_id, data, timestamp=now)
    return NewDelivery(new_id("msg"), url, event_type, body, owner, job_id, session_id, now)
