"""Turning a sequence of yes/no verdicts into triggers: appearances, cooldown, max triggers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TriggerRule:
    """When a positive verdict fires.

    ``once_per_appearance``: fire on the first positive verdict of an appearance only (what a person
    watching wants: "the square appeared"); otherwise every positive verdict may fire, limited by
    ``cooldown_seconds`` (what the live-monitor API does). ``max_triggers=None`` is unlimited.
    """

    cooldown_seconds: float = 0.0
    max_triggers: int | None = 1
    once_per_appearance: bool = False


@dataclass(frozen=True)
class Decision:
    fire: bool
    appearance_started: bool
    done: bool


class TriggerState:
    """Applies verdicts in stream order; times are session times."""

    def __init__(self, rule: TriggerRule) -> None:
        self.rule = rule
        self.triggers = 0
        self.appearances = 0
        self.in_appearance = False
        self._last_fire: float | None = None

    @property
    def done(self) -> bool:
        return self.rule.max_triggers is not None and self.triggers >= self.rule.max_triggers

    def apply(self, match: bool, session_time: float) -> Decision:
        if self.done:
            return Decision(False, False, True)
        started = match and not self.in_appearance
        self.in_appearance = match
        if started:
            self.appearances += 1
        if not match:
            return Decision(False, False, False)
        if self.rule.once_per_appearance and not started:
            return Decision(False, False, False)
        if self._last_fire is not None and session_time - self._last_fire < self.rule.cooldown_seconds:
            return Decision(False, started, False)
        self._last_fire = session_time
        self.triggers += 1
        return Decision(True, started, self.done)
