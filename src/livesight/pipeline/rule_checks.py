"""Several named rules on one stream: one judge call per check point, each answer judged on its own.

The rules checker shares the condition checker's check-point machinery (the interval grid, the change gate,
the budget, the concurrency limit, results applied in stream order: :mod:`.checks`), and differs in what it
asks and how it judges: at each check point every rule whose schedule is open is asked in one request
(:func:`livesight.judges.check_rules`: one JSON schema, one field per rule), and each rule's answer goes
to that rule's state machine (:class:`~livesight.rules.appearances.RuleState`), whose transitions become
events — ``rule_started`` (announced as ``watch_triggered``), ``rule_ongoing`` and ``rule_ended`` with the
appearance's start, end, duration, peak confidence and evidence frames. A rule outside its schedule is not
asked and costs nothing; an appearance open when its schedule closes, or when the run ends, ends at its last
positive answer. The rules' states are kept in the run's stats, so a resumed run goes on where it was.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from livesight.judges import check_rules
from livesight.pipeline.checks import ConditionChecker, _Outcome
from livesight.pipeline.context import RunContext
from livesight.rules import StopReason, make_event, new_id
from livesight.rules.appearances import Answer, RuleSpec, RuleState, Transition
from livesight.types import Frame, RuleVerdicts, Sample, Usage, Verdict

log = logging.getLogger(__name__)

__all__ = ["RulesChecker"]

_KEPT_FRAMES = 64  # JPEGs of recent positive answers kept for evidence, per run


class RulesChecker(ConditionChecker):
    """Checks a run's rules at each check point in one judge call (see the module)."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        start_at: float = 0.0,
        cancelled: asyncio.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(ctx, start_at=start_at, cancelled=cancelled)
        self.rules: tuple[RuleSpec, ...] = ctx.config.rules
        saved = ctx.stats.rules or {}
        self.states = {rule.name: RuleState(rule, saved.get(rule.name)) for rule in self.rules}
        self._clock = clock
        self._frames: dict[str, bytes] = {}  # evidence reference (the answer's time) → its JPEG
        self._frame_order: list[str] = []

    # -- what is asked ---------------------------------------------------------------------------------
    def _scheduled(self) -> list[RuleSpec]:
        now = self._clock()
        return [rule for rule in self.rules if rule.schedule is None or rule.schedule.active(now)]

    async def _wanted(self, frame: Frame) -> bool:
        """A check point is judged only when some rule is in its schedule; when none is but an appearance is
        open, a step that asks nothing (and costs nothing) closes it, in stream order."""
        if self._scheduled():
            return True
        if any(state.active for state in self.states.values()):
            sample = Sample(frame.session_time, frame.pts_time, (), 0, frame.decoded_at)

            async def nothing_asked() -> _Outcome:
                return _Outcome(sample, RuleVerdicts({}))

            await self._launch(nothing_asked, frame)
        return False

    async def _check(self, frame: Frame) -> _Outcome:
        sample = await self.sampler.sample(frame)
        asked = [(rule.name, rule.condition) for rule in self._scheduled()]
        async with self.ctx.model_slots:
            try:
                return _Outcome(sample, await check_rules(self.judge, asked, sample))
            except Exception as exc:  # JudgeError, or a judge bug: the check failed, the run goes on
                return _Outcome(sample, exc)

    def _carried(self, result: RuleVerdicts) -> RuleVerdicts:
        reused = {name: replace(v, reused=True) for name, v in result.verdicts.items()}
        return RuleVerdicts(reused, Usage(), result.judge)

    # -- judging ---------------------------------------------------------------------------------------
    async def _apply(self, task: asyncio.Task[_Outcome], checked: _Outcome) -> None:
        stats = self.stats
        sample, outcome = checked.sample, checked.result
        stats.lag_seconds = max(0.0, time.monotonic() - sample.decoded_at) if sample.decoded_at else 0.0
        if isinstance(outcome, BaseException):
            if checked.judged:
                await self._failed(task, sample, outcome)
            else:
                stats.frames_skipped += 1
            return
        assert isinstance(outcome, RuleVerdicts)
        if not outcome.verdicts:
            pass  # nothing was asked: only the closing of appearances whose schedule ended
        elif checked.judged:
            stats.checks_performed += 1
            stats.add_usage(outcome.usage)
            self._settle_budget(sample, outcome.usage)
        else:
            stats.frames_skipped += 1
        now = sample.session_time
        reference = f"{now:.3f}"
        transitions: list[Transition] = []
        for rule in self.rules:
            state = self.states[rule.name]
            verdict = outcome.verdicts.get(rule.name)
            if verdict is None:
                transitions += state.close(now)  # not asked: outside its schedule
                continue
            if verdict.match:
                sample = await self._keep_frame(reference, sample, checked.frame)
            transitions += state.apply(Answer(now, verdict.match, verdict.confidence, reference))
        stats.rules = {name: state.to_dict() for name, state in self.states.items()}
        started = [t for t in transitions if t.kind == "started"]
        stats.triggers_fired += len(started)
        for transition in transitions:
            await self._emit(transition, outcome.verdicts.get(transition.rule), sample)
        await self.ctx.sink.checked(self.ctx.progress(), sample, _summary(outcome), bool(started))
        limit = self.ctx.config.rule.max_triggers
        if limit is not None and stats.triggers_fired >= limit and not self._done:
            self._done = True
            reason = StopReason.CONDITION_TRIGGERED if limit == 1 else StopReason.MAX_TRIGGERS_REACHED
            self.ctx.stop(reason, f"{stats.triggers_fired} appearance(s)")

    async def _keep_frame(self, reference: str, sample: Sample, frame: Frame | None) -> Sample:
        """Keep the JPEG of a positive answer (encoding a reused answer's frame only now), for evidence."""
        sample = await self._with_picture(sample, frame)
        if sample.images and reference not in self._frames:
            self._frames[reference] = sample.images[-1].jpeg
            self._frame_order.append(reference)
            while len(self._frame_order) > _KEPT_FRAMES:
                self._frames.pop(self._frame_order.pop(0), None)
        return sample

    async def _emit(self, transition: Transition, verdict: Verdict | None, sample: Sample) -> None:
        """A transition as an event (``rule_started``, ``rule_ongoing``, ``rule_ended``) with its evidence."""
        rule = next(r for r in self.rules if r.name == transition.rule)
        ended = transition.kind == "ended"
        span = self.ctx.chunker.span_at(transition.start)
        chunk_start = span.start_time if span else 0.0
        event = make_event(
            type=f"rule_{transition.kind}",
            label=rule.name,
            description=verdict.explanation if verdict is not None else rule.condition,
            severity=rule.severity,
            confidence=transition.peak_confidence,
            chunk_index=span.index if span else 0,
            chunk_id=span.chunk_id if span else "",
            chunk_start=chunk_start,
            chunk_relative_time=transition.start - chunk_start,
            pts_offset=sample.pts_time - sample.session_time,
            analysis_id=new_id("ana"),
            duration=(transition.duration or 0.0) if ended else max(0.0, transition.at - transition.start),
        )
        evidence = transition.peak_evidence if ended else transition.first_evidence
        jpeg = self._frames.get(evidence or "") or (sample.images[-1].jpeg if sample.images else None)
        frames = {event.event_id: jpeg} if jpeg is not None else {}
        data = {
            "rule": rule.name,
            "condition": rule.condition,
            "transition": transition.kind,
            "triggered": transition.kind == "started",
            "explanation": event.description,
            "start": round(transition.start, 3),
            "end": None if transition.end is None else round(transition.end, 3),
            "duration": None if transition.duration is None else round(transition.duration, 3),
            "peak_confidence": round(transition.peak_confidence, 3),
            "announced_at": round(transition.at, 3),
            "frame_path": await self.ctx.evidence.save(event.event_id, jpeg) if jpeg is not None else None,
            "reused": verdict is not None and verdict.reused,
            "stages": [verdict.summary()] if verdict is not None else [],
        }
        self.stats.events += 1
        await self.ctx.sink.events(self.ctx.progress(), [event], [data], frames)

    async def _finished(self) -> None:
        """The run is over: every open appearance ends at its last positive answer."""
        now = self.stats.session_time
        for state in self.states.values():
            for transition in state.close(now):
                await self._emit(transition, None, Sample(now, now, ()))
        self.stats.rules = {name: state.to_dict() for name, state in self.states.items()}


def _summary(answers: RuleVerdicts) -> Verdict | None:
    """One verdict for a check point's chart: yes when any rule said yes, with the highest confidence."""
    if not answers.verdicts:
        return None
    verdicts = list(answers.verdicts.values())
    yes = [v for v in verdicts if v.match]
    best = max(yes or verdicts, key=lambda v: v.confidence)
    return replace(best, explanation="; ".join(f"{n}: {v.explanation}" for n, v in answers.verdicts.items()))
