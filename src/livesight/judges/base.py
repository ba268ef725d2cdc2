"""The interface every model backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from livesight.types import JudgeImage, Review, RuleVerdicts, Sample, Usage, Verdict

__all__ = ["Judge", "accepts_video", "check_rules"]


@runtime_checkable
class Judge(Protocol):
    """A model backend that answers questions about frames.

    Implementations raise :class:`~livesight.judges.errors.JudgeError` subclasses, never transport
    exceptions, and report what each answer cost in its ``usage``.
    """

    #: Identifies the backend and model in logs and stats, e.g. ``"openai-compatible:gpt-4o-mini"``.
    name: str

    async def check(self, condition: str, sample: Sample) -> Verdict:
        """Whether the yes/no ``condition`` holds in ``sample``'s frames."""
        ...

    async def review(
        self, query: str, images: Sequence[JudgeImage], chunk_start: float, chunk_duration: float
    ) -> Review:
        """The events answering the open-ended ``query`` within one chunk.

        ``images`` carry absolute session times; the model is shown times relative to ``chunk_start``.
        Returned :class:`~livesight.types.DetectedEvent` ``start``/``end`` are seconds from
        ``chunk_start``, clamped to ``[0, chunk_duration]``.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and other resources; the judge is unusable afterwards."""
        ...


async def check_rules(judge: Judge, rules: Sequence[tuple[str, str]], sample: Sample) -> RuleVerdicts:
    """Every ``(name, condition)`` rule's verdict on ``sample``: in one request when the judge can ask several
    rules at once (a ``check_rules`` method, as the chat-completions judge has), else one ``check`` per rule
    (local CLIP, Gemini's native API, a cascade), their usage added up."""
    many = getattr(judge, "check_rules", None)
    if many is not None:
        answer: RuleVerdicts = await many(rules, sample)
        return answer
    verdicts: dict[str, Verdict] = {}
    usage = Usage()
    for name, condition in rules:
        verdict = await judge.check(condition, sample)
        usage = usage + verdict.usage
        verdicts[name] = replace(verdict, usage=Usage())
    return RuleVerdicts(verdicts, usage, judge.name)


def accepts_video(judge: Judge) -> bool:
    """Whether ``judge`` wants clip and hybrid samples as a real video (``Sample.video``), not only stills.

    Optional for implementations: a judge says so with a true ``accepts_video`` attribute.
    """
    return bool(getattr(judge, "accepts_video", False))
