"""The local CLIP judge: zero-shot yes/no on CPU, no key, offline once its weights are cached (SPEC §5).

A condition ("is there a person at the door?") becomes what should be visible ("a person at the
door"), phrased as a few positive prompts, and a set of contrast prompts: its negation and neutral
scenes. The image is scored against all of them with CLIP's own temperature; the probability of the
positive class against the contrasts is the verdict's ``score``. CLIP's raw cosine similarities mean
little on their own (they sit around 0.2–0.3 whether or not the thing is there), and the contrast
prompts are what calibrate them: "yes" needs the condition to explain the picture better than its
negation and the neutral scenes together, i.e. ``score >= threshold`` (default 0.5). ``confidence`` is
``score`` for a yes and ``1 - score`` for a no. Clips: the highest-scoring frame decides.

CLIP does not read negations or counts well, and open-ended review queries are answered by scoring each
frame against the query: it is a cheap first look — the default with nothing configured, and the first
stage of a cascade in front of a real vision model.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from livesight.judges._clip_model import ClipModel, load_clip_model
from livesight.judges.clip_weights import ClipFiles
from livesight.judges.errors import JudgeError
from livesight.types import DetectedEvent, JudgeImage, Review, Sample, Usage, Verdict

__all__ = ["ClipJudge", "ClipPrompts", "prompts_for"]

_LEADS = (
    # "is there a red square" → "a red square"; "can you see smoke" → "smoke"
    (re.compile(r"^(?:can (?:you|i|we) see|do (?:you|i|we) see|is there|are there|there is|there are)\s+(.+)$"), True),
    # "is anyone at the door" → "a person at the door"
    (re.compile(r"^(?:is|are)\s+(?:anyone|anybody|someone|somebody)\s+(.+)$"), "person"),
    # "is the gate open" → "the gate open"; "does the belt move" → "the belt move"
    (re.compile(r"^(?:is|are|was|were|does|do|did|has|have|can|will)\s+(.+)$"), False),
)
_DROP_ANY = re.compile(r"^(?:any|some)\s+")
_ARTICLE = re.compile(r"^(?:a|an|the|some|any)\s+")


@dataclass(frozen=True)
class ClipPrompts:
    """What a condition looks like to CLIP: the thing itself, then what it is scored against."""

    subject: str
    positives: tuple[str, ...]
    contrasts: tuple[str, ...]


def prompts_for(condition: str) -> ClipPrompts:
    """Positive and contrast prompts for a yes/no ``condition`` (a question or a statement)."""
    text = " ".join(condition.strip().lower().split()).rstrip("?.! ")
    subject, is_thing = text, False
    for pattern, kind in _LEADS:
        match = pattern.match(text)
        if match:
            rest = match.group(1)
            if kind == "person":
                subject, is_thing = f"a person {rest}", True
            else:
                subject, is_thing = _DROP_ANY.sub("", rest), bool(kind)
            break
    subject = subject or text or "something"
    bare = _ARTICLE.sub("", subject)
    negation = f"a photo with no {bare}" if is_thing else f"a photo where it is not true that {subject}"
    return ClipPrompts(
        subject=subject,
        positives=(f"a photo of {subject}.", f"a video frame showing {subject}.", f"{subject}."),
        contrasts=(negation, "a photo of an empty scene.", "a photo of nothing in particular."),
    )


def clip_scores(model: ClipModel, prompts: ClipPrompts, jpegs: Sequence[bytes]) -> list[float]:
    """For each image, the probability of the positive class against the contrasts. Blocking."""
    positive = model.embed_texts(prompts.positives).mean(axis=0)
    positive = positive / max(float(np.linalg.norm(positive)), 1e-12)  # prompt ensembling, as in CLIP's paper
    classes = np.vstack([positive[None, :], model.embed_texts(prompts.contrasts)])
    logits = model.logit_scale * (model.embed_images(jpegs) @ classes.T)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return [float(p) for p in probs[:, 0]]


class ClipJudge:
    """Zero-shot CLIP on ONNX Runtime. ``threshold`` is the score from which a condition counts as true.

    The model loads on the first question (in a thread; about a second for ViT-B/32) and is shared by
    every judge of the process.
    """

    accepts_video = False
    always_calls_model = False  # local: no model-call budget to reserve

    def __init__(self, files: ClipFiles, *, threshold: float = 0.5, threads: int = 0, label: str = "") -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("the CLIP threshold must be between 0 and 1")
        self.files = files
        self.threshold = threshold
        self.threads = threads
        self.name = f"local-clip:{label or files.source}"
        self._model: ClipModel | None = None

    async def _loaded(self) -> ClipModel:
        if self._model is None:
            try:
                self._model = await asyncio.to_thread(load_clip_model, self.files, self.threads)
            except Exception as exc:  # corrupt or incompatible files: say which, never a raw ONNX trace
                raise JudgeError(
                    f"the local CLIP model in {self.files.vision.parent} could not be loaded: {exc}",
                    remediation="Delete the files and download them again (python -m livesight.judges.clip_download),"
                    " or point LIVESIGHT_CLIP_MODEL_DIR at a complete ONNX export.",
                    code="JUDGE_NOT_CONFIGURED",
                ) from exc
        return self._model

    async def _score(self, prompts: ClipPrompts, images: Sequence[JudgeImage]) -> tuple[list[float], Usage]:
        if not images:
            raise ValueError("a check needs at least one image")
        model = await self._loaded()
        started = time.perf_counter()
        scores = await asyncio.to_thread(clip_scores, model, prompts, [i.jpeg for i in images])
        return scores, Usage(local_calls=1, latency_seconds=time.perf_counter() - started)

    async def check(self, condition: str, sample: Sample) -> Verdict:
        """Whether ``condition`` holds in ``sample``'s frames: the best frame's score against the threshold."""
        prompts = prompts_for(condition)
        scores, usage = await self._score(prompts, sample.images)
        best = max(range(len(scores)), key=scores.__getitem__)
        score = scores[best]
        match = score >= self.threshold
        where = f" (frame {best + 1} of {len(scores)})" if len(scores) > 1 else ""
        explanation = (
            f"Local CLIP: “{prompts.subject}” is {'likely' if match else 'unlikely'}{where}: "
            f"p={score:.2f} against “{prompts.contrasts[0]}” and neutral scenes (threshold {self.threshold:g})."
        )
        return Verdict(
            match=match,
            confidence=round(score if match else 1.0 - score, 4),
            explanation=explanation,
            usage=usage,
            score=round(score, 4),
            judge=self.name,
        )

    async def review(
        self, query: str, images: Sequence[JudgeImage], chunk_start: float, chunk_duration: float
    ) -> Review:
        """Events where the frames score above the threshold for ``query``, one per run of such frames."""
        prompts = prompts_for(query)
        scores, usage = await self._score(prompts, images)
        events: list[DetectedEvent] = []
        run: list[tuple[JudgeImage, float]] = []
        for image, score in [*zip(images, scores, strict=True), (None, 0.0)]:
            if image is not None and score >= self.threshold:
                run.append((image, score))
                continue
            if run:
                start = min(max(run[0][0].session_time - chunk_start, 0.0), chunk_duration)
                end = min(max(run[-1][0].session_time - chunk_start, start), chunk_duration)
                peak = max(s for _, s in run)
                events.append(
                    DetectedEvent(
                        label=prompts.subject[:200],
                        description=f"Local CLIP: “{prompts.subject}” likely in {len(run)} frame(s), "
                        f"p up to {peak:.2f}.",
                        start=start,
                        end=end,
                        confidence=round(peak, 4),
                    )
                )
                run = []
        summary = f"Local CLIP: {len(events)} stretch(es) matching “{prompts.subject}” in {len(images)} frame(s)."
        return Review(tuple(events), summary, usage)

    async def aclose(self) -> None:
        """Nothing to release: the loaded model is shared by the process."""
        self._model = None
