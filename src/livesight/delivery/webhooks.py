"""Signed webhooks (SPEC §4, the Standard Webhooks specification) from a persistent outbox.

``build_payload`` makes the body, ``sign`` the headers of one attempt, and :class:`WebhookDispatcher`
sends what :meth:`livesight.store.Store.enqueue_delivery` wrote, retrying with backoff for hours.

Secrets: a delivery owned by an API key is signed with that key's ``webhook_secret``
(``Store.get_webhook_secret``); one without an owner (single-user mode) with the server-wide secret,
``LIVESIGHT_WEBHOOK_SECRET`` or else the one generated into ``data_dir/webhook_secret`` on first use.
"""

from __future__ import annotations

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
    "retry_policy",
    "rotate_server_webhook_secret",
    "schedule_retry",
    "server_webhook_secret",
    "sign",
]
