"""How the test VLM reads a chat request and answers it from the pixels of its images.

Pure functions, no HTTP: :func:`parse_messages` pulls out the question, the system prompt and the images
(with the times from their ``Frame {i} at t={seconds:.2f}s`` labels), :func:`output_kind` reads
``response_format``, and :func:`answer` measures the named colour in every image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from livesight.testing._vision import (
    DEFAULT_COLOUR,
    MIN_FRACTION,
    ImageDecodeError,
    decode_data_url,
    decode_video_data_url,
    find_colour_word,
    measure,
)

VERDICT_SCHEMA_NAME = "livesight_verdict"
REVIEW_SCHEMA_NAME = "livesight_review"
RULES_SCHEMA_NAME = "livesight_rules"
_RULE_LINE = re.compile(r"^- ([A-Za-z0-9_.-]+): (.+)$", re.MULTILINE)

_FRAME_LABEL = re.compile(r"^\s*Frame\s+(\d+)\s+at\s+t=(-?\d+(?:\.\d+)?)s\s*$")


class ChatRequestError(Exception):
    """A request the test VLM cannot answer; becomes an OpenAI-style error response."""

    def __init__(self, message: str, status: int = 400, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


@dataclass
class LabelledImage:
    """An image from the request with its frame number and time (``None`` when it had no label)."""

    index: int
    time: float | None
    image: Image.Image


@dataclass
class ParsedRequest:
    """The parts of a chat request the test VLM looks at."""

    question: str
    system: str
    images: list[LabelledImage]
    text_words: int
    videos: int = 0


# --- understanding the request --------------------------------------------------------------------------


def parse_messages(messages: Any) -> ParsedRequest:
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError("'messages' must be a non-empty list")
    user_texts: list[str] = []
    system_texts: list[str] = []
    images: list[LabelledImage] = []
    label: tuple[int, float] | None = None
    words = 0
    videos = 0
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        # Earlier assistant turns are not the question: a colour named there must not steer the answer.
        texts = system_texts if role in ("system", "developer") else [] if role == "assistant" else user_texts
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for part in parts:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                text = str(part.get("text", ""))
                words += len(text.split())
                found = _FRAME_LABEL.match(text)
                if found:
                    label = (int(found.group(1)), float(found.group(2)))
                else:
                    texts.append(text)
            elif kind == "image_url":
                ref = part.get("image_url")
                url = ref.get("url") if isinstance(ref, dict) else ref
                if not isinstance(url, str):
                    raise ChatRequestError("image_url part without a url")
                try:
                    picture = decode_data_url(url)
                except ImageDecodeError as exc:
                    raise ChatRequestError(str(exc)) from exc
                # A label belongs to the image right after it; an unlabelled image gets its position.
                index, seconds = label if label is not None else (len(images) + 1, None)
                images.append(LabelledImage(index=index, time=seconds, image=picture))
                label = None
            elif kind == "video_url":
                # vLLM's shape for video models: every decoded frame is looked at, timed from the clip's start.
                ref = part.get("video_url")
                url = ref.get("url") if isinstance(ref, dict) else ref
                if not isinstance(url, str):
                    raise ChatRequestError("video_url part without a url")
                try:
                    frames = decode_video_data_url(url)
                except ImageDecodeError as exc:
                    raise ChatRequestError(str(exc)) from exc
                videos += 1
                for seconds, picture in frames:
                    images.append(LabelledImage(index=len(images) + 1, time=seconds, image=picture))
                label = None
            else:
                raise ChatRequestError(f"unsupported content part type {kind!r}")
    return ParsedRequest(" ".join(user_texts), " ".join(system_texts), images, words, videos)


def choose_colour(parsed: ParsedRequest) -> tuple[str, bool]:
    """The colour to look for and whether the question named it (user text wins over the system prompt)."""
    colour = find_colour_word(parsed.question) or find_colour_word(parsed.system)
    return (colour, True) if colour else (DEFAULT_COLOUR, False)


def output_kind(response_format: Any) -> tuple[str, dict[str, Any] | None]:
    """``verdict``, ``review`` or ``text``, plus the JSON schema the answer must satisfy (if any)."""
    if response_format is None:
        return "text", None
    if not isinstance(response_format, dict):
        raise ChatRequestError("'response_format' must be an object")
    kind = response_format.get("type")
    if kind == "text":
        return "text", None
    if kind == "json_object":
        return "verdict", None
    if kind != "json_schema":
        raise ChatRequestError(f"unsupported response_format type {kind!r}")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ChatRequestError("json_schema response_format needs a 'json_schema' object with a 'name'")
    schema = spec.get("schema")
    required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
    if spec["name"] == RULES_SCHEMA_NAME:
        return "rules", schema if isinstance(schema, dict) else None
    if spec["name"] == REVIEW_SCHEMA_NAME or "events" in required:
        return "review", schema if isinstance(schema, dict) else None
    if spec["name"] == VERDICT_SCHEMA_NAME or "match" in required:
        return "verdict", schema if isinstance(schema, dict) else None
    raise ChatRequestError(
        f"the test VLM knows the {VERDICT_SCHEMA_NAME!r}, {REVIEW_SCHEMA_NAME!r} and {RULES_SCHEMA_NAME!r} schemas, "
        f"not {spec['name']!r}"
    )


# --- answering from pixels --------------------------------------------------------------------------------


def _when(image: LabelledImage) -> str:
    return f"frame {image.index}" + (f" (t={image.time:.2f}s)" if image.time is not None else "")


def rules_of(parsed: ParsedRequest) -> list[tuple[str, str]]:
    """The ``- name: condition`` lines of a several-rules question."""
    return [(m.group(1), m.group(2).strip()) for m in _RULE_LINE.finditer(parsed.question)]


def answer(parsed: ParsedRequest, kind: str) -> dict[str, Any] | str:
    if kind == "rules":
        # Each rule on its own, as if it had been asked alone about the same images.
        rules = rules_of(parsed)
        if not rules:
            raise ChatRequestError("a livesight_rules request lists no '- name: condition' lines")
        return {name: answer(replace(parsed, question=condition), "verdict") for name, condition in rules}
    colour, named = choose_colour(parsed)
    lead = "" if named else f"No colour was named in the question, so I looked for {colour}. "
    seen = [(img, measure(img.image, colour)) for img in parsed.images]
    hits = [(img, m) for img, m in seen if m.visible]

    if kind == "review":
        runs: list[list[tuple[LabelledImage, float]]] = []
        previous_visible = False
        for img, m in seen:
            if m.visible:
                if not previous_visible:
                    runs.append([])
                runs[-1].append((img, m.fraction))
            previous_visible = m.visible
        events = []
        for run in runs:
            first, last = run[0][0], run[-1][0]
            start = first.time if first.time is not None else float(first.index - 1)
            end = last.time if last.time is not None else float(last.index - 1)
            peak = max(f for _, f in run)
            events.append(
                {
                    "label": f"{colour} object",
                    "description": f"A {colour} region is visible from {_when(first)} to {_when(last)}.",
                    "start": round(start, 3),
                    "end": round(end, 3),
                    "severity": "medium",
                    "confidence": round(min(0.99, 0.6 + peak * 8), 3),
                }
            )
        summary = (
            f"{lead}{len(events)} period(s) with a {colour} object across {len(seen)} frame(s)."
            if events
            else f"{lead}No {colour} object in any of the {len(seen)} frame(s)."
        )
        return {"events": events, "summary": summary}

    if not seen:
        match, confidence, explanation = False, 0.5, f"{lead}No images were sent, so nothing {colour} is visible."
    elif hits:
        peak = max(m.fraction for _, m in hits)
        frames = ", ".join(_when(img) for img, _ in hits)
        match, confidence = True, round(min(0.99, 0.6 + peak * 8), 3)
        explanation = f"{lead}A {colour} region is visible in {len(hits)} of {len(seen)} frame(s): {frames}."
    else:
        peak = max(m.fraction for _, m in seen)
        match = False
        # Less sure when some pixels of the colour are present but below the visibility threshold.
        confidence = round(0.95 - min(0.4, peak / MIN_FRACTION * 0.4), 3)
        explanation = f"{lead}No {colour} region is visible in any of the {len(seen)} frame(s)."
    if kind == "text":
        return ("Yes. " if match else "No. ") + explanation
    return {"match": match, "confidence": confidence, "explanation": explanation}
