"""A cascade: a cheap first judge must see a chance before the strong (paid) judge is asked (SPEC §5).

The first stage (local CLIP) scores every check; only when its score for the condition reaches
``threshold`` does the strong judge (a vision-language model) look, and its answer is the verdict.
Below the threshold the check answers "no" without a model call. Both stages' verdicts travel in
``Verdict.stages`` (cheap first) and are stored with the event; the usage is their sum, so the run
counts the model calls really made. The threshold is deliberately low (default 0.2): the first stage
should only rule out pictures that plainly do not show the condition, and leave the decision to the
strong judge.

Open-ended reviews go straight to the strong judge: a zero-shot score cannot rule out "anything
unusual". Video clips go to the strong judge when it takes them; the first stage looks at the stills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from livesight.judges.base import Judge, accepts_video
from livesight.judges.errors import JudgeError
from livesight.types import JudgeImage, Review, Sample, Verdict

__all__ = ["CascadeJudge", "stage_score"]


def stage_score(verdict: Verdict) -> float:
    """A verdict's probability that the condition holds: its ``score``, else read from match/confidence."""
    if verdict.score is not None:
        return verdict.score
    return verdict.confidence if verdict.match else 1.0 - verdict.confidence


class CascadeJudge:
    """``first`` screens, ``second`` decides. Closing the cascade closes both."""

    def __init__(self, first: Judge, second: Judge, *, threshold: float = 0.2) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("the cascade threshold must be between 0 and 1")
        self.first = first
        self.second = second
        self.threshold = threshold
        self.name = f"cascade:{first.name}>{second.name}"
        self.accepts_video = accepts_video(second)
        self.always_calls_model = False  # the model is asked only past the first stage

    async def check(self, condition: str, sample: Sample) -> Verdict:
        """The strong judge's verdict when the first stage scores at least ``threshold``, else a "no"."""
        screen = await self.first.check(condition, sample)
        score = stage_score(screen)
        if score < self.threshold:
            return Verdict(
                match=False,
                confidence=round(1.0 - score, 4),
                explanation=f"{screen.explanation} Below the cascade threshold {self.threshold:g}: "
                f"{self.second.name} was not asked.",
                usage=screen.usage,
                score=screen.score,
                judge=self.name,
                stages=(screen,),
            )
        try:
            decision = await self.second.check(condition, sample)
        except JudgeError as exc:
            exc.usage = screen.usage + exc.usage  # what the first stage spent still counts
            raise
        return replace(decision, usage=screen.usage + decision.usage, judge=self.name, stages=(screen, decision))

    async def review(
        self, query: str, images: Sequence[JudgeImage], chunk_start: float, chunk_duration: float
    ) -> Review:
        """Reviews skip the first stage (see the module docstring)."""
        return await self.second.review(query, images, chunk_start, chunk_duration)

    async def aclose(self) -> None:
        """Close both stages."""
        try:
            await self.first.aclose()
        finally:
            await self.second.aclose()
