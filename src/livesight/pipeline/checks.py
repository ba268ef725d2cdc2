"""The condition checker: the analyser of a run with a ``condition`` (live-monitor jobs, ``livesight watch``).

At every check point of the interval grid it samples the frame (or clip) and asks the judge the condition.
Checks run concurrently (a slow model must not stall the stream) under a per-run limit, and their results are
applied strictly in stream order, so triggers come out in the order the pictures were shown.

With the change gate on (``RunConfig.prefilter``), a check point whose picture has not changed since the last
judged frame is not sent to the judge: it waits, in order, for that frame's verdict and reuses it. A reused
verdict is applied to the trigger rule exactly like a fresh one — the rule sees what the judge would have said
about the unchanged picture, so appearances, cooldown and "every positive check" behave as with fixed-interval
checking — but it counts in ``frames_skipped``, not ``checks_performed``, and costs nothing. A trigger fired by a
reused verdict carries the current frame as its evidence.

It sits beside the chunk reviewer (:mod:`.review`), the analyser of runs with a review query; both see the run
only through their :class:`~livesight.pipeline.context.RunContext`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from livesight.judges.errors import FATAL_JUDGE_ERRORS, JudgeError
from livesight.pipeline.budget import CallBudget
from livesight.pipeline.context import RunContext
from livesight.pipeline.gate import ChangeGate, frame_thumbnail
from livesight.pipeline.sampler import Sampler, encode_images
from livesight.rules import StopReason, TriggerState, make_event, new_id
from livesight.sources.subscription import DropPolicy
from livesight.types import Frame, Sample, Usage, Verdict

log = logging.getLogger(__name__)

__all__ = ["ConditionChecker"]


@dataclass(frozen=True)
class _Outcome:
    """One check point's result, applied in stream order.

    ``judged`` is false for a check point the gate answered: ``result`` is then the reused verdict (or
    the error of the check it waited for), and ``frame`` is kept to make evidence if it fires.
    """

    sample: Sample
    result: Any  # a Verdict (a RuleVerdicts for the rules checker), or the error the check raised
    judged: bool = True
    frame: Frame | None = None


class _ReferenceLost(Exception):
    """The judged check a skipped check point waited for was dropped."""


class ConditionChecker:
    """Checks a run's condition on its interval grid and turns the verdicts into triggers (see the module)."""

    def __init__(self, ctx: RunContext, *, start_at: float = 0.0, cancelled: asyncio.Event) -> None:
        config = ctx.config
        assert (config.condition is not None or config.rules) and ctx.judge is not None
        self.ctx = ctx
        self.condition = config.condition or ""
        self.judge = ctx.judge
        self.stats = ctx.stats
        self.rule_state = TriggerState(config.rule)
        self.rule_state.triggers = ctx.stats.triggers_fired  # a resumed run goes on counting
        self.sampler = Sampler(
            config.input_mode,
            clip_duration=config.clip_duration_seconds,
            clip_frames=config.clip_frames,
            long_side=config.frame_long_side,
            quality=config.jpeg_quality,
            video=config.video_clips,
        )
        self.gate = ChangeGate(config.gate) if config.prefilter else None
        self.budget = CallBudget(config.max_model_calls_per_hour) if config.max_model_calls_per_hour else None
        # A judge that calls the model on every check reserves its call at launch, so concurrent checks never
        # overrun the budget; one that may not (local CLIP, a cascade) is charged when its usage is known.
        self._reserve = getattr(ctx.judge, "always_calls_model", True)
        self._reference: asyncio.Task[_Outcome] | None = None  # the judged check the gate compares with
        self._cancelled = cancelled
        self._done = False  # the rule is done, or the judge cannot go on: later verdicts must not fire
        # Checks launched but not yet applied; past this, live runs drop new checks.
        self._slots = asyncio.Semaphore(max(2, config.concurrency * 2))
        self._checks: asyncio.Queue[asyncio.Task[_Outcome] | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[_Outcome]] = set()
        self._next_check = start_at

    # -- called by the run, in stream order -----------------------------------------------------
    async def add_frame(self, frame: Frame) -> None:
        """Feed ``frame`` to the sampler; at a check point of the grid, check it."""
        self.sampler.add(frame)
        if frame.session_time + 1e-6 < self._next_check:
            return
        interval = self.ctx.config.interval_seconds
        # Stay on the grid 0, I, 2I, …; after a stall resume at the next grid point, never in a burst.
        self._next_check = max(self._next_check + interval, frame.session_time - frame.session_time % interval)
        if self._next_check <= frame.session_time:
            self._next_check += interval
        await self._at_check_point(frame)

    def close(self, *, drain: bool) -> None:
        """No more frames: :meth:`apply` returns once the outstanding checks are applied (``drain``) or
        dropped (the run is over: later verdicts must not fire)."""
        if not drain:
            for task in self._tasks:
                task.cancel()
        self._checks.put_nowait(None)

    # -- launching ------------------------------------------------------------------------------
    async def _wanted(self, frame: Frame) -> bool:
        """Whether this check point is to be checked at all (the rules checker: is any rule in its schedule?)."""
        return True

    async def _at_check_point(self, frame: Frame) -> None:
        """Gate, budget, then launch: a judged check, a reuse of the last verdict, or nothing."""
        if not await self._wanted(frame):
            return
        thumb = None
        if self.gate is not None:
            thumb = await asyncio.to_thread(frame_thumbnail, frame, self.gate.config.width)
            decision = self.gate.decide(thumb, frame.session_time, frame.epoch)
            self.stats.gate = self.gate.stats.as_dict()
            reference = self._reference
            if not decision.judge and reference is not None:
                await self._launch(lambda: self._reuse(frame, reference), frame)
                return
        interval = self.ctx.config.interval_seconds
        if self.budget is not None and not self.budget.available(frame.session_time):
            # Over budget: no call now; the next check waits for the grid point after a call is available.
            resume = self.budget.defer(frame.session_time)
            self._next_check = max(self._next_check, -(-resume // interval) * interval)
            self.stats.checks_deferred += 1
            self.stats.budget = self.budget.as_dict(interval)
            return
        task = await self._launch(lambda: self._check(frame), frame)
        if task is None:
            return
        if self.budget is not None and self._reserve:
            self.budget.spend(frame.session_time)  # reserved now, settled with the real count when applied
            self.stats.budget = self.budget.as_dict(interval)
        if self.gate is not None and thumb is not None:
            self.gate.judged(thumb, frame.session_time, frame.epoch)
            self._reference = task

    async def _launch(
        self, make: Callable[[], Coroutine[Any, Any, _Outcome]], frame: Frame
    ) -> asyncio.Task[_Outcome] | None:
        if self._slots.locked() and self._policy() is DropPolicy.DROP_OLDEST:
            self.stats.checks_dropped += 1  # live: the model cannot keep up; skip rather than lag
            return None
        if not await self._acquire_slot():  # footage: wait for a slot, lose nothing
            return None
        task = asyncio.create_task(make(), name=f"{self.ctx.run_id}:check@{frame.session_time:.2f}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._checks.put_nowait(task)
        return task

    async def _acquire_slot(self) -> bool:
        """A slot for one more outstanding check, unless the run is cancelled while waiting."""
        acquire = asyncio.ensure_future(self._slots.acquire())
        cancelled = asyncio.ensure_future(self._cancelled.wait())
        await asyncio.wait({acquire, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        cancelled.cancel()
        if acquire.done() and not acquire.cancelled():
            return True
        acquire.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await acquire
        if not acquire.cancelled():
            self._slots.release()  # acquired in the same step the run was cancelled: hand it back
        return False

    def _policy(self) -> DropPolicy:
        return DropPolicy.DROP_OLDEST if self.ctx.config.source.realtime else DropPolicy.BLOCK

    async def _check(self, frame: Frame) -> _Outcome:
        sample = await self.sampler.sample(frame)
        async with self.ctx.model_slots:
            try:
                return _Outcome(sample, await self.judge.check(self.condition, sample))
            except JudgeError as exc:
                return _Outcome(sample, exc)

    async def _reuse(self, frame: Frame, reference: asyncio.Task[_Outcome]) -> _Outcome:
        """The verdict of the judged check ``reference``, for an unchanged picture at ``frame``."""
        sample = Sample(frame.session_time, frame.pts_time, (), 0, frame.decoded_at)
        await asyncio.wait({reference})  # not ``await reference``: cancelling this must not cancel that
        if reference.cancelled():
            return _Outcome(sample, _ReferenceLost(), judged=False, frame=frame)
        result = reference.result().result
        if not isinstance(result, BaseException):
            result = self._carried(result)
        return _Outcome(sample, result, judged=False, frame=frame)

    def _carried(self, result: Any) -> Any:
        """A judged answer as reused for an unchanged picture: marked reused, costing nothing."""
        return replace(result, usage=Usage(), reused=True)

    # -- applying, in stream order ----------------------------------------------------------------
    async def apply(self) -> None:
        """The run's check worker: applies each check's result in stream order, until :meth:`close`."""
        while (task := await self._checks.get()) is not None:
            try:
                checked = await task
            except asyncio.CancelledError:
                if task.cancelled():
                    continue  # a check dropped at shutdown
                raise
            finally:
                self._slots.release()
            if not self._done and not self.ctx.halted():  # once done or stopped, later verdicts must not fire
                await self._apply(task, checked)
        await self._finished()

    async def _finished(self) -> None:
        """Every result is applied: the run is over (the rules checker ends open appearances here)."""

    async def _apply(self, task: asyncio.Task[_Outcome], checked: _Outcome) -> None:
        stats = self.stats
        sample, outcome = checked.sample, checked.result
        stats.lag_seconds = max(0.0, time.monotonic() - sample.decoded_at) if sample.decoded_at else 0.0
        if not checked.judged:
            stats.frames_skipped += 1
            if isinstance(outcome, BaseException):
                return  # the check it would reuse failed: nothing to apply (that failure was counted)
        elif isinstance(outcome, BaseException):
            await self._failed(task, sample, outcome)
            return
        else:
            stats.checks_performed += 1
            stats.add_usage(outcome.usage)
            self._settle_budget(sample, outcome.usage)
        verdict = outcome
        decision = self.rule_state.apply(verdict.match, sample.session_time)
        if decision.fire:
            stats.triggers_fired += 1
            sample = await self._with_picture(sample, checked.frame)
            await self._emit_trigger(sample, verdict)
        await self.ctx.sink.checked(self.ctx.progress(), sample, verdict, decision.fire)
        if decision.done:
            self._done = True
            max_triggers = self.ctx.config.rule.max_triggers
            reason = StopReason.CONDITION_TRIGGERED if max_triggers == 1 else StopReason.MAX_TRIGGERS_REACHED
            self.ctx.stop(reason, f"{self.rule_state.triggers} trigger(s)")

    async def _failed(self, task: asyncio.Task[_Outcome], sample: Sample, error: BaseException) -> None:
        """A judged check failed: count it and what it cost; nothing to reuse from it; a judge that cannot go
        on (bad key, unknown model) ends the run."""
        stats = self.stats
        stats.checks_failed += 1
        usage = getattr(error, "usage", None)
        if usage is not None:
            stats.add_usage(usage)
        self._settle_budget(sample, usage)
        if self._reference is task and self.gate is not None:
            self.gate.forget()  # nothing to reuse: the next check point is judged
            self._reference = None
        log.warning("run %s: check at %.2fs failed: %s", self.ctx.run_id, sample.session_time, error)
        if isinstance(error, FATAL_JUDGE_ERRORS):
            self._done = True
            self.ctx.stop(StopReason.JUDGE_FAILED, str(error))
        await self.ctx.sink.checked(self.ctx.progress(), sample, None, False)

    async def _with_picture(self, sample: Sample, frame: Frame | None) -> Sample:
        """``sample`` with its picture: a reused verdict's sample has none, so ``frame`` is encoded only now."""
        if sample.images or frame is None:
            return sample
        config = self.ctx.config
        images = await encode_images([frame], [config.frame_long_side], config.jpeg_quality)
        return replace(sample, images=images)

    def _settle_budget(self, sample: Sample, usage: Usage | None) -> None:
        """Count the model calls a check really made (retries and repairs included), less its reservation."""
        if self.budget is not None:
            used = usage.model_calls if usage is not None else 0
            self.budget.spend(sample.session_time, used - (1 if self._reserve else 0))
            self.stats.budget = self.budget.as_dict(self.ctx.config.interval_seconds)

    async def _emit_trigger(self, sample: Sample, verdict: Verdict) -> None:
        span = self.ctx.chunker.span_at(sample.session_time)
        chunk_start = span.start_time if span else 0.0
        event = make_event(
            type="condition",
            label=self.condition[:200],
            description=verdict.explanation,
            severity="medium",
            confidence=verdict.confidence,
            chunk_index=span.index if span else 0,
            chunk_id=span.chunk_id if span else "",
            chunk_start=chunk_start,
            chunk_relative_time=sample.session_time - chunk_start,
            pts_offset=sample.pts_time - sample.session_time,
            analysis_id=new_id("ana"),
        )
        jpeg = sample.images[-1].jpeg
        data = {
            "condition": self.condition,
            "triggered": True,
            "explanation": verdict.explanation,
            "frame_path": await self.ctx.evidence.save(event.event_id, jpeg),
            "images_judged": len(sample.images),
            "judge": verdict.judge,
            "reused": verdict.reused,
            # A cascade's every stage (cheap first), else the one verdict: kept with the event.
            "stages": [stage.summary() for stage in verdict.stages] or [verdict.summary()],
        }
        self.stats.events += 1
        await self.ctx.sink.events(self.ctx.progress(), [event], [data], {event.event_id: jpeg})
