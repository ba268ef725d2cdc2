"""Rules over a stream of verdicts: when an appearance starts, goes on, and ends.

A rule is a question asked at every check point (``condition``) and a few optional operators that decide
when its answers make an *appearance*:

- ``k_of_n``: ``k`` positive answers among the last ``n`` checks start an appearance, and it goes on while the
  last ``n`` hold ``k`` (``(1, 1)``: every positive answer counts, the first negative one ends it);
- ``min_duration_seconds``: positive without a break for this long (stream time) before it ``started``;
- hysteresis: an answer counts as positive to start at ``enter_confidence`` and to go on at
  ``exit_confidence`` (lower, so a wavering answer does not end it), and an appearance ends only after
  ``exit_delay_seconds`` without a positive answer (one missed frame does not split it);
- ``cooldown_seconds``: after an appearance ended, no new one starts for this long;
- ``ongoing_every_seconds``: a reminder while it goes on;
- ``schedule``: days and hours, in a time zone, outside which the rule is not asked (and an open
  appearance ends).

:class:`RuleState` is the state machine of one rule: :meth:`~RuleState.apply` takes one check's answer
and returns the transitions it caused — ``started`` (its start is the first positive answer of the
appearance), ``ongoing``, ``ended`` (its end is the last positive answer, with the duration, the peak
confidence and the evidence of the first, peak and last positive answers). Its state is plain data
(:meth:`~RuleState.to_dict`), so it survives a restart and moves with its run.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from livesight.types import Severity

TransitionKind = Literal["started", "ongoing", "ended"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    """When a rule is asked: on ``days`` (0 = Monday), from ``start`` to ``end`` local time in ``timezone``.
    An ``end`` earlier than ``start`` runs past midnight (22:00–06:00 belongs to the day it starts)."""

    days: frozenset[int] = frozenset(range(7))
    start: dt.time = dt.time(0, 0)
    end: dt.time = dt.time(0, 0)  # equal to start: the whole day
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # an unknown zone is refused here, with zoneinfo's message
        if not self.days or not all(0 <= d <= 6 for d in self.days):
            raise ValueError("days must name at least one day, 0 (Monday) to 6 (Sunday)")

    def active(self, at: dt.datetime) -> bool:
        """Whether the rule is asked at the aware datetime ``at``."""
        local = at.astimezone(ZoneInfo(self.timezone))
        now, day = local.time(), local.weekday()
        if self.start == self.end:
            return day in self.days
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # past midnight: the evening part belongs to today, the morning part to yesterday's window
        return (day in self.days and now >= self.start) or ((day - 1) % 7 in self.days and now < self.end)


@dataclass(frozen=True)
class RuleSpec:
    """One named rule (see the module for what each operator does)."""

    name: str
    condition: str
    k: int = 1
    n: int = 1
    min_duration_seconds: float = 0.0
    enter_confidence: float = 0.0
    exit_confidence: float | None = None  # None: the same as enter_confidence
    exit_delay_seconds: float = 0.0
    cooldown_seconds: float = 0.0
    ongoing_every_seconds: float | None = None
    schedule: Schedule | None = None
    severity: Severity = "medium"

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"k_of_n: need 1 <= k <= n, got {self.k} of {self.n}")
        for name in ("min_duration_seconds", "exit_delay_seconds", "cooldown_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.ongoing_every_seconds is not None and self.ongoing_every_seconds <= 0:
            raise ValueError("ongoing_every_seconds must be positive")

    @property
    def stay_confidence(self) -> float:
        return self.enter_confidence if self.exit_confidence is None else self.exit_confidence


@dataclass(frozen=True)
class Answer:
    """One check's answer to a rule: at stream time ``time``, with a reference to its frame (``evidence``)."""

    time: float
    match: bool
    confidence: float
    evidence: str | None = None


@dataclass(frozen=True)
class Transition:
    """What an answer changed: an appearance ``started``, is ``ongoing``, or ``ended``.

    ``start`` is the appearance's first positive answer; ``end`` (on ``ended``) its last; ``at`` is the answer
    that caused the transition. Evidence references are those of the first, the most confident and the last
    positive answers so far.
    """

    kind: TransitionKind
    rule: str
    start: float
    at: float
    end: float | None = None
    peak_confidence: float = 0.0
    first_evidence: str | None = None
    peak_evidence: str | None = None
    last_evidence: str | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)


@dataclass
class _Open:
    """An appearance that started and has not ended."""

    start: float
    last_positive: float
    peak: float
    first_evidence: str | None
    peak_evidence: str | None
    last_evidence: str | None
    reminded: float
    first_miss: float | None = None  # when the answers stopped being positive (the exit delay runs from here)


@dataclass
class _Pending:
    """Positive answers that may become an appearance."""

    streak_start: float | None = None  # first answer of the current unbroken run of positive answers
    streak: list[tuple[float, float, str | None]] = field(default_factory=list)  # (time, confidence, evidence)


class RuleState:
    """The state machine of one rule over its answers, in stream order (see the module)."""

    def __init__(self, spec: RuleSpec, saved: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self._pending = _Pending()
        self._window: deque[tuple[float, bool]] = deque()  # the last n answers: (time, positive)
        self._open: _Open | None = None
        self._last_end: float | None = None
        self.appearances = 0
        if saved:
            self._restore(saved)

    @property
    def active(self) -> bool:
        """Whether an appearance is open."""
        return self._open is not None

    # -- answers -------------------------------------------------------------------------------------
    def apply(self, answer: Answer) -> list[Transition]:
        """The transitions ``answer`` (the next in stream order) causes."""
        if self._open is not None:
            return self._go_on(self._open, answer)
        return self._maybe_start(answer)

    def close(self, at: float) -> list[Transition]:
        """The rule stops being asked (its run ends, or its schedule closes): an open appearance ends at its
        last positive answer, and what was pending is forgotten."""
        self._pending = _Pending()
        self._window.clear()
        if self._open is None:
            return []
        return [self._end(self._open, at)]

    def _maybe_start(self, answer: Answer) -> list[Transition]:
        spec, pending = self.spec, self._pending
        positive = answer.match and answer.confidence >= spec.enter_confidence
        self._remember(answer.time, positive)
        # An unbroken run of positive answers is what min_duration measures, and what k == n (every answer
        # of the window) means; with k of n and no minimum, a negative answer inside the window is allowed.
        unbroken = spec.min_duration_seconds > 0 or spec.k == spec.n
        if positive:
            if pending.streak_start is None:
                pending.streak_start = answer.time
            pending.streak.append((answer.time, answer.confidence, answer.evidence))
        elif unbroken:
            pending.streak_start, pending.streak = None, []
        if not unbroken:  # only the window's positive answers matter
            oldest = self._window[0][0]
            pending.streak = [e for e in pending.streak if e[0] >= oldest]
            pending.streak_start = pending.streak[0][0] if pending.streak else None
        positives = [t for t, ok in self._window if ok]
        if len(positives) < spec.k or pending.streak_start is None:
            return []
        if answer.time - pending.streak_start + 1e-9 < spec.min_duration_seconds:
            return []
        if self._last_end is not None and answer.time - self._last_end + 1e-9 < spec.cooldown_seconds:
            return []
        # The appearance starts at its first positive answer: the unbroken run's, or the window's first.
        start = pending.streak_start
        evidence = pending.streak or [(answer.time, answer.confidence, answer.evidence)]
        first = evidence[0]
        peak = max(evidence, key=lambda e: e[1])
        last = evidence[-1]
        self._open = _Open(
            start=start,
            last_positive=last[0],
            peak=peak[1],
            first_evidence=first[2],
            peak_evidence=peak[2],
            last_evidence=last[2],
            reminded=answer.time,
        )
        self._pending = _Pending()
        self.appearances += 1
        return [self._transition("started", self._open, answer.time)]

    def _remember(self, time: float, positive: bool) -> None:
        self._window.append((time, positive))
        while len(self._window) > self.spec.n:
            self._window.popleft()

    def _go_on(self, appearance: _Open, answer: Answer) -> list[Transition]:
        spec = self.spec
        positive = answer.match and answer.confidence >= spec.stay_confidence
        self._remember(answer.time, positive)
        if positive:
            appearance.last_positive, appearance.last_evidence = answer.time, answer.evidence
            appearance.first_miss = None
            if answer.confidence > appearance.peak:
                appearance.peak, appearance.peak_evidence = answer.confidence, answer.evidence
            every = spec.ongoing_every_seconds
            if every is not None and answer.time - appearance.reminded + 1e-9 >= every:
                appearance.reminded = answer.time
                return [self._transition("ongoing", appearance, answer.time)]
            return []
        if sum(ok for _, ok in self._window) >= spec.k:
            return []  # still k of the last n: it goes on
        if appearance.first_miss is None:
            appearance.first_miss = answer.time
        if answer.time - appearance.first_miss + 1e-9 >= spec.exit_delay_seconds:
            return [self._end(appearance, answer.time)]
        return []

    def _end(self, appearance: _Open, at: float) -> Transition:
        self._open = None
        self._window.clear()  # a new appearance needs k new positive answers
        self._last_end = appearance.last_positive
        return replace(self._transition("ended", appearance, at), end=appearance.last_positive)

    def _transition(self, kind: TransitionKind, appearance: _Open, at: float) -> Transition:
        return Transition(
            kind=kind,
            rule=self.spec.name,
            start=appearance.start,
            at=at,
            peak_confidence=appearance.peak,
            first_evidence=appearance.first_evidence,
            peak_evidence=appearance.peak_evidence,
            last_evidence=appearance.last_evidence,
        )

    # -- saved state -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data (stored with the run's stats, restored when it is resumed)."""
        pending = self._pending
        return {
            "window": [list(w) for w in self._window],
            "streak_start": pending.streak_start,
            "streak": [list(s) for s in pending.streak],
            "open": None if self._open is None else dict(vars(self._open)),
            "last_end": self._last_end,
            "appearances": self.appearances,
        }

    def _restore(self, saved: dict[str, Any]) -> None:
        self._window = deque((float(t), bool(ok)) for t, ok in saved.get("window", []))
        self._pending = _Pending(
            streak_start=saved.get("streak_start"),
            streak=[(float(t), float(c), e) for t, c, e in saved.get("streak", [])],
        )
        opened = saved.get("open")
        self._open = None if opened is None else _Open(**opened)
        self._last_end = saved.get("last_end")
        self.appearances = int(saved.get("appearances", 0))
