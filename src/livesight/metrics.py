"""Prometheus metrics of one server process (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """A registry per app, so tests and several apps in one process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs_running = Gauge("livesight_jobs_running", "Jobs running in this process.", registry=self.registry)
        self.jobs_ended = Counter("livesight_jobs_ended", "Jobs ended, by status.", ["status"], registry=self.registry)
        self.sessions_running = Gauge("livesight_sessions_running", "Sessions running.", registry=self.registry)
        self.checks = Counter("livesight_checks", "Condition checks applied.", ["outcome"], registry=self.registry)
        self.triggers = Counter("livesight_triggers", "Triggers fired.", registry=self.registry)
        self.events = Counter("livesight_events", "Events stored (triggers and review events).", registry=self.registry)
        self.model_calls = Counter(
            "livesight_model_calls", "HTTP calls made to model backends.", registry=self.registry
        )
        self.model_tokens = Counter(
            "livesight_model_tokens", "Tokens reported by model backends.", ["direction"], registry=self.registry
        )
        self.model_latency = Histogram(
            "livesight_model_latency_seconds",
            "Latency of one judged check, retries included.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "livesight_webhook_deliveries", "Webhook delivery attempts by outcome.", ["outcome"], registry=self.registry
        )
        self.source_reconnects = Counter(
            "livesight_source_reconnects", "Reconnects of live sources.", registry=self.registry
        )
        self.sse_clients = Gauge("livesight_sse_clients", "Open SSE connections.", registry=self.registry)
