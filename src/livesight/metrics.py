"""Prometheus metrics of one server process (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from livesight.types import Usage


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
        self.images_sent = Counter("livesight_model_images", "Images sent to model backends.", registry=self.registry)
        self.videos_sent = Counter(
            "livesight_model_videos", "Video clips sent to model backends.", registry=self.registry
        )
        self.local_model_calls = Counter(
            "livesight_local_model_calls", "Inferences of in-process models (local CLIP).", registry=self.registry
        )
        self.frames_skipped = Counter(
            "livesight_frames_skipped",
            "Check points answered by the change gate with the last verdict (no model call).",
            registry=self.registry,
        )
        self.gate_decisions = Counter(
            "livesight_gate_decisions",
            "Change gate decisions: first, changed, stale (judged) or unchanged (skipped).",
            ["reason"],
            registry=self.registry,
        )
        self.checks_deferred = Counter(
            "livesight_checks_deferred", "Checks postponed by a model-call budget.", registry=self.registry
        )

    def observe_usage(self, usage: Usage) -> None:
        """Count what one check or review cost."""
        if usage.model_calls:
            self.model_calls.inc(usage.model_calls)
            self.images_sent.inc(usage.images_sent)
            self.videos_sent.inc(usage.videos_sent)
            self.model_tokens.labels("input").inc(usage.input_tokens)
            self.model_tokens.labels("output").inc(usage.output_tokens)
        if usage.local_calls:
            self.local_model_calls.inc(usage.local_calls)
        if usage.model_calls or usage.local_calls:
            self.model_latency.observe(usage.latency_seconds)


class RunStatsLike(Protocol):
    """The usage counters of :class:`~livesight.pipeline.stats.RunStats` (no import: pipeline depends on us)."""

    model_calls: int
    images_sent: int
    videos_sent: int
    local_calls: int
    input_tokens: int
    output_tokens: int


class RunCounters:
    """Turns one run's cumulative counters into increments of the process-wide metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._seen: dict[str, float] = {}

    def _delta(self, key: str, value: float) -> float:
        delta = value - self._seen.get(key, 0)
        self._seen[key] = value
        return max(0.0, delta)

    def usage(self, stats: RunStatsLike) -> None:
        """Add what a run spent since the last call (for runs whose answers the sink does not see one by one)."""
        metrics = self.metrics
        metrics.model_calls.inc(self._delta("calls", stats.model_calls))
        metrics.images_sent.inc(self._delta("images", stats.images_sent))
        metrics.videos_sent.inc(self._delta("videos", stats.videos_sent))
        metrics.local_model_calls.inc(self._delta("local", stats.local_calls))
        metrics.model_tokens.labels("input").inc(self._delta("input", stats.input_tokens))
        metrics.model_tokens.labels("output").inc(self._delta("output", stats.output_tokens))

    def update(self, frames_skipped: int, checks_deferred: int, gate: Mapping[str, object] | None) -> None:
        self.metrics.frames_skipped.inc(self._delta("skipped", frames_skipped))
        self.metrics.checks_deferred.inc(self._delta("deferred", checks_deferred))
        for reason in ("first", "changed", "stale", "unchanged"):
            count = (gate or {}).get(reason)
            if isinstance(count, int):
                self.metrics.gate_decisions.labels(reason).inc(self._delta(f"gate_{reason}", count))
