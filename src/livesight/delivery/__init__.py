"""Getting events to users: signed webhooks from an outbox (:mod:`livesight.delivery.webhooks`), and live
publish/subscribe for SSE (:mod:`livesight.delivery.broker`)."""

from __future__ import annotations
