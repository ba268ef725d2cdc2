"""Counters a run keeps, reported in job stats, the CLI status line and metrics."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from livesight.types import Usage


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class RunStats:
    """A run's counters.

    ``checks_performed`` counts checks a judge answered; ``frames_skipped`` counts check points the
    change gate answered by reusing the last verdict (and, in rapid review, the frames of chunks it did not
    send, counted in ``chunks_skipped``); ``checks_deferred`` those a model-call budget
    postponed; ``checks_dropped`` those a live run skipped because the judge could not keep up.
    ``model_calls``/``images_sent``/tokens are what remote backends billed; ``local_calls`` counts runs
    of an in-process model (local CLIP).
    """

    checks_performed: int = 0
    checks_failed: int = 0
    checks_dropped: int = 0
    triggers_fired: int = 0
    frames_skipped: int = 0
    frames_received: int = 0
    chunks_recorded: int = 0
    chunks_analysed: int = 0
    chunks_failed: int = 0
    chunks_skipped: int = 0
    events: int = 0
    gaps: int = 0
    model_calls: int = 0
    images_sent: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    local_calls: int = 0
    videos_sent: int = 0
    checks_deferred: int = 0
    session_time: float = 0.0
    lag_seconds: float = 0.0
    started_monotonic: float = field(default_factory=time.monotonic)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    #: The change gate's decisions (``first``/``changed``/``stale``/``unchanged``) when the run has one.
    gate: dict[str, object] | None = None
    #: The model-call budget's state when the run has one.
    budget: dict[str, object] | None = None
    #: The state machine of each rule (by name) of a run with rules: kept so a resumed run goes on from it.
    rules: dict[str, Any] | None = None

    def restore(self, saved: dict[str, Any]) -> None:
        """Carry counters over from a run a restart interrupted (``as_dict()`` / job stats shape)."""
        for name in (
            "checks_performed",
            "checks_failed",
            "checks_dropped",
            "triggers_fired",
            "frames_skipped",
            "chunks_recorded",
            "chunks_analysed",
            "chunks_failed",
            "chunks_skipped",
            "events",
            "gaps",
            "model_calls",
            "images_sent",
            "videos_sent",
            "checks_deferred",
        ):
            value = saved.get(name)
            if isinstance(value, int):
                setattr(self, name, value)
        tokens = saved.get("tokens") or {}
        self.input_tokens = int(tokens.get("input", 0))
        self.output_tokens = int(tokens.get("output", 0))
        local = saved.get("local_model_calls")
        if isinstance(local, int):
            self.local_calls = local
        elapsed = saved.get("elapsed_seconds")
        if isinstance(elapsed, int | float):
            self.started_monotonic -= float(elapsed)
        rules = saved.get("rules")
        if isinstance(rules, dict):
            self.rules = rules

    def add_usage(self, usage: Usage) -> None:
        self.model_calls += usage.model_calls
        self.images_sent += usage.images_sent
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.local_calls += usage.local_calls
        self.videos_sent += usage.videos_sent
        if usage.model_calls or usage.local_calls:
            self.latencies.append(usage.latency_seconds)

    @property
    def elapsed_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    def as_dict(self) -> dict[str, Any]:
        latencies = list(self.latencies)
        return {
            "checks_performed": self.checks_performed,
            "checks_failed": self.checks_failed,
            "checks_dropped": self.checks_dropped,
            "triggers_fired": self.triggers_fired,
            "frames_skipped": self.frames_skipped,
            "chunks_recorded": self.chunks_recorded,
            "chunks_analysed": self.chunks_analysed,
            "chunks_failed": self.chunks_failed,
            "chunks_skipped": self.chunks_skipped,
            "events": self.events,
            "gaps": self.gaps,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "session_time": round(self.session_time, 3),
            "lag_seconds": round(self.lag_seconds, 3),
            "model_calls": self.model_calls,
            "images_sent": self.images_sent,
            "videos_sent": self.videos_sent,
            "local_model_calls": self.local_calls,
            "checks_deferred": self.checks_deferred,
            "tokens": {"input": self.input_tokens, "output": self.output_tokens},
            "latency_ms": {
                "p50": _ms(percentile(latencies, 50)),
                "p95": _ms(percentile(latencies, 95)),
                "p99": _ms(percentile(latencies, 99)),
            },
            "prefilter": self.gate,
            "budget": self.budget,
            **({"rules": self.rules} if self.rules is not None else {}),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
