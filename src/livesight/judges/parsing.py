"""Tolerant reading of model answers into a :class:`~livesight.types.Verdict` or :class:`~livesight.types.Review`.

Models asked for JSON answer with strict JSON, JSON in a Markdown fence, JSON wrapped in prose,
Python-ish "loose" JSON, or just "Yes, …". This module accepts all of these, in that order of trust,
and raises :class:`~livesight.judges.errors.JudgeParseError` (and nothing else) when it finds nothing
sensible — the judge then asks the model once more for clean JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from livesight.judges._loose_json import LooseJSONError, loads_loose
from livesight.judges.errors import JudgeParseError
from livesight.types import DetectedEvent, Review, RuleVerdicts, Severity, Verdict

__all__ = [
    "DEFAULT_CONFIDENCE",
    "looks_like_refusal",
    "parse_review",
    "parse_timestamp",
    "parse_verdict",
]

T = TypeVar("T")

#: Confidence given to answers that carry none (a bare "Yes." is a fairly confident but unscored answer).
DEFAULT_CONFIDENCE = 0.6

# A model answer longer than this is not a verdict worth scanning character by character.
_MAX_TEXT = 200_000
_MAX_SPANS = 32
_MAX_EXPLANATION = 2000

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:json5?|javascript|js|python)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#>\"'\[\]()]")
_PLAIN_ANSWER = re.compile(
    r"^\s*(?:(?:final\s+)?(?:answer|verdict|result|match|triggered|response)\s*[:=\-]\s*)?"
    r"(yes|no|true|false)\b",
    re.IGNORECASE,
)
_PLAIN_CONFIDENCE = re.compile(
    r"confidence(?:\s+(?:level|score))?\s*(?:[:=]|is|of)?\s*(\d+(?:\.\d+)?)\s*(%?)", re.IGNORECASE
)
_PLAIN_NOTHING = re.compile(r"^\s*(?:no|none|nothing|n/a)\b", re.IGNORECASE)
_APOS = "['\u2019]"
_REFUSAL = re.compile(
    rf"\b(?:i{_APOS}m\s+sorry|i\s+am\s+sorry|i\s+apologi[sz]e|sorry)\b[^.!?\n]{{0,60}}?"
    rf"\b(?:can{_APOS}?t|cannot|can\s+not|won{_APOS}?t|will\s+not|unable\s+to|not\s+able\s+to)\s+"
    r"(?:help|assist|comply|provide|fulfil|fulfill|do\s+that|process|analy[sz]e|identify|answer|describe)"
    rf"|^\s*i\s+(?:can{_APOS}?t|cannot|won{_APOS}?t|will\s+not)\s+(?:help|assist|comply)\s+with"
    r"|\bagainst\s+(?:my|the|our)\s+(?:content\s+|usage\s+)?(?:policy|policies|guidelines)",
    re.IGNORECASE,
)

_MATCH_KEYS = (
    "match",
    "matched",
    "matches",
    "triggered",
    "condition_met",
    "condition_true",
    "is_match",
    "answer",
    "result",
    "verdict",
    "detected",
    "present",
    "value",
)
_CONFIDENCE_KEYS = ("confidence", "confidence_score", "score", "probability", "certainty")
_EXPLANATION_KEYS = ("explanation", "reason", "reasoning", "rationale", "justification", "description", "details")
_EVENTS_KEYS = ("events", "detections", "detected_events", "items", "results", "occurrences")
_SUMMARY_KEYS = ("summary", "overview", "caption", "description")
_LABEL_KEYS = ("label", "name", "event", "title", "type", "event_type", "category")
_DESCRIPTION_KEYS = ("description", "details", "explanation", "desc", "summary", "what")
_START_KEYS = (
    "start",
    "start_time",
    "starttime",
    "start_seconds",
    "start_sec",
    "begin",
    "from",
    "timestamp",
    "time",
    "t",
    "at",
)
_END_KEYS = ("end", "end_time", "endtime", "end_seconds", "end_sec", "stop", "to", "until")

_TRUE_WORDS = frozenset({"yes", "y", "true", "match", "matched", "triggered", "positive", "present", "detected", "1"})
_FALSE_WORDS = frozenset(
    {"no", "n", "false", "no match", "not matched", "not triggered", "negative", "absent", "not detected", "none", "0"}
)
_CONFIDENCE_WORDS = {"very high": 0.95, "high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3, "very low": 0.1}
_SEVERITY_WORDS: dict[str, Severity] = {
    "low": "low",
    "minor": "low",
    "info": "low",
    "informational": "low",
    "medium": "medium",
    "moderate": "medium",
    "normal": "medium",
    "high": "high",
    "major": "high",
    "severe": "high",
    "critical": "high",
    "urgent": "high",
}


# ---------------------------------------------------------------------------------------------------- public


def parse_verdict(text: str) -> Verdict:
    """Read a yes/no verdict from a model's answer, however it was formatted.

    Raises :class:`JudgeParseError` when the answer holds neither a recognisable JSON verdict nor a
    leading yes/no.
    """
    cleaned = _clean(text)
    for candidate in _json_candidates(cleaned):
        verdict = _verdict_from(candidate, depth=0)
        if verdict is not None:
            return verdict
    plain = _PLAIN_ANSWER.match(_MARKUP.sub("", cleaned[:500]))
    if plain:
        confidence = DEFAULT_CONFIDENCE
        found = _PLAIN_CONFIDENCE.search(cleaned)
        if found:
            stated = _to_confidence(found.group(1) + found.group(2))
            confidence = confidence if stated is None else stated
        return Verdict(
            match=plain.group(1).lower() in ("yes", "true"),
            confidence=confidence,
            explanation=cleaned.strip()[:_MAX_EXPLANATION],
        )
    raise JudgeParseError("the model's answer holds no yes/no verdict", text=text)


def parse_rule_verdicts(text: str, names: list[str]) -> RuleVerdicts:
    """Read the answers to several rules (one verdict object per rule name) from a model's answer.

    Raises :class:`JudgeParseError` unless every rule has a recognisable verdict.
    """
    cleaned = _clean(text)
    for candidate in _json_candidates(cleaned):
        if not isinstance(candidate, dict):
            continue
        found = {name: _verdict_from(candidate.get(name), depth=0) for name in names}
        verdicts = {name: v for name, v in found.items() if v is not None}
        if len(verdicts) == len(names):
            return RuleVerdicts(verdicts)
    raise JudgeParseError(f"the model's answer holds no verdict for every rule ({', '.join(names)})", text=text)


def parse_review(text: str, *, chunk_duration: float | None = None) -> Review:
    """Read a rapid-review answer (events with times inside the chunk) from a model's answer.

    Event times are seconds from the chunk's start; with ``chunk_duration`` they are clamped to
    ``[0, chunk_duration]``, and ``end`` is never before ``start``. A plain "No events…" answer reads as
    an empty review. Raises :class:`JudgeParseError` when nothing sensible is found.
    """
    cleaned = _clean(text)
    for candidate in _json_candidates(cleaned, arrays=True):
        review = _review_from(candidate, chunk_duration, depth=0)
        if review is not None:
            return review
    if _PLAIN_NOTHING.match(_MARKUP.sub("", cleaned[:500])):
        return Review(events=(), summary=cleaned.strip()[:_MAX_EXPLANATION])
    raise JudgeParseError("the model's answer holds no events list", text=text)


def looks_like_refusal(text: str) -> bool:
    """Whether a (short) answer reads as the model declining the task rather than answering it."""
    cleaned = _clean(text).strip()
    return bool(cleaned) and len(cleaned) <= 600 and _REFUSAL.search(cleaned) is not None


def parse_timestamp(value: object) -> float | None:
    """Seconds from a number, ``"12.5"``, ``"12.5s"``, ``"t=3"``, ``"MM:SS(.f)"`` or ``"HH:MM:SS(.f)"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _finite(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    text = re.sub(r"^(?:t|time|at)\s*[=:]?\s*(?=[\d.+-])", "", text)
    text = re.sub(r"\s*(?:s|sec|secs|second|seconds)\.?$", "", text)
    if ":" in text:
        parts = text.split(":")
        if len(parts) > 3 or not all(re.fullmatch(r"\d+(?:\.\d+)?", p) for p in parts):
            return None
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
        return _finite(seconds)
    if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)", text):
        return None
    return _finite(float(text))


# ---------------------------------------------------------------------------------------------------- candidates


def _clean(text: object) -> str:
    if not isinstance(text, str):
        return ""
    # Reasoning models (DeepSeek-R1, Qwen3 via Ollama) prefix their answer with their thoughts.
    return _THINK.sub("", text[:_MAX_TEXT])


def _json_candidates(text: str, *, arrays: bool = False) -> Iterator[Any]:
    """JSON values found in ``text``, most trustworthy first: whole text, fenced blocks, embedded objects."""
    pieces: list[str] = [text]
    pieces.extend(m.group(1) for m in _FENCE.finditer(text))
    pieces.extend(_balanced_spans(text, "{", "}"))
    if arrays:
        pieces.extend(_balanced_spans(text, "[", "]"))
    seen: set[str] = set()
    for piece in pieces:
        piece = piece.strip()
        if not piece or piece in seen:
            continue
        seen.add(piece)
        value = _load(piece)
        if value is not _NOTHING:
            yield value


_NOTHING = object()


def _load(piece: str) -> Any:
    try:
        return json.loads(piece)
    except (ValueError, RecursionError):
        pass
    try:
        return loads_loose(piece)
    except (LooseJSONError, RecursionError):
        return _NOTHING


def _balanced_spans(text: str, opener: str, closer: str) -> list[str]:
    """Outermost balanced ``opener…closer`` spans, in order, skipping brackets inside quoted strings.

    Quotes only count inside a span (prose apostrophes around it do not matter). Single quotes count
    too, for loose JSON; when an apostrophe inside breaks that reading, a double-quotes-only reading
    supplies the spans it lost.
    """
    spans = _outermost(text, opener, closer, "\"'")
    for extra in _outermost(text, opener, closer, '"'):
        if extra not in spans:
            spans.append(extra)
    return [text[a : b + 1] for a, b in spans[:_MAX_SPANS]]


def _outermost(text: str, opener: str, closer: str, quotes: str) -> list[tuple[int, int]]:
    # One linear pass with a stack of open positions; a pair is outermost unless another pair encloses it.
    # Only brackets, quotes and backslashes matter, so the regex jumps straight from one to the next.
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    quote = ""
    escaped_at = -1
    for found in re.finditer("[" + re.escape(opener + closer + quotes) + "\\\\]", text):
        i, ch = found.start(), found.group()
        if i == escaped_at:
            continue
        if quote:
            if ch == "\\":
                escaped_at = i + 1
            elif ch == quote:
                quote = ""
        elif ch == opener:
            stack.append(i)
        elif ch == closer:
            if stack:
                pairs.append((stack.pop(), i))
        elif stack and ch in quotes:
            quote = ch
    pairs.sort()
    outermost: list[tuple[int, int]] = []
    for a, b in pairs:
        if outermost and a < outermost[-1][1]:
            continue  # inside the previous outermost span
        outermost.append((a, b))
    return outermost


# ---------------------------------------------------------------------------------------------------- verdicts


def _verdict_from(value: Any, depth: int) -> Verdict | None:
    if not isinstance(value, Mapping) or depth > 3:
        return None
    fields = _normalise_keys(value)
    for key in _MATCH_KEYS:
        if key not in fields:
            continue
        raw = fields[key]
        if isinstance(raw, Mapping):  # {"verdict": {"match": true, ...}}
            nested = _verdict_from(raw, depth + 1)
            if nested is not None:
                return nested
            continue
        match = _to_bool(raw)
        if match is None:
            continue
        confidence = _first(fields, _CONFIDENCE_KEYS, _to_confidence)
        explanation = _first(fields, _EXPLANATION_KEYS, _to_text)
        if explanation is None and isinstance(raw, str) and len(raw.split()) > 1:
            explanation = raw  # {"answer": "Yes, a person is at the door."}
        return Verdict(
            match=match,
            confidence=DEFAULT_CONFIDENCE if confidence is None else confidence,
            explanation=(explanation or "")[:_MAX_EXPLANATION],
        )
    # A single wrapper object ({"response": {...}}) is looked into.
    nested_values = [v for v in fields.values() if isinstance(v, Mapping)]
    if len(nested_values) == 1:
        return _verdict_from(nested_values[0], depth + 1)
    return None


def _to_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        word = re.sub(r"[^a-z0-9 ]", "", value.strip().lower()).strip()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        leading = re.match(r"(yes|no|true|false)\b", word)
        if leading:
            return leading.group(1) in ("yes", "true")
    return None


def _to_confidence(value: object) -> float | None:
    """A confidence in [0, 1] from 0.85, 85, "85%", "0.85" or "high"; ``None`` when unreadable."""
    if isinstance(value, bool):
        return None
    number: float | None
    if isinstance(value, int | float):
        number = _finite(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _CONFIDENCE_WORDS:
            return _CONFIDENCE_WORDS[text]
        percent = text.endswith("%")
        try:
            number = _finite(float(text.rstrip("%").strip()))
        except ValueError:
            return None
        if number is not None and percent:
            return max(0.0, min(1.0, number / 100.0))
    else:
        return None
    if number is None or number < 0 or number > 100:
        return None
    return number / 100.0 if number > 1 else number


# ---------------------------------------------------------------------------------------------------- reviews


def _review_from(value: Any, chunk_duration: float | None, depth: int) -> Review | None:
    if depth > 3:
        return None
    if isinstance(value, list):
        # A bare list is only trusted when it holds event objects: prose like "see [2]" is no review.
        events = _events_from(value, chunk_duration, allow_strings=False)
        return Review(events=events) if events or not value else None
    if not isinstance(value, Mapping):
        return None
    fields = _normalise_keys(value)
    for key in _EVENTS_KEYS:
        if key in fields and isinstance(fields[key], list | type(None)):
            return Review(
                events=_events_from(fields[key] or [], chunk_duration),
                summary=_first(fields, _SUMMARY_KEYS, _to_text) or "",
            )
    if any(k in fields for k in _LABEL_KEYS) and any(k in fields for k in _START_KEYS):
        return Review(events=_events_from([value], chunk_duration))  # one bare event
    only_summary = _first(fields, ("summary", "overview"), _to_text)
    if only_summary is not None:
        return Review(events=(), summary=only_summary)
    nested_values = [v for v in fields.values() if isinstance(v, Mapping)]
    if len(nested_values) == 1:
        return _review_from(nested_values[0], chunk_duration, depth + 1)
    return None


def _events_from(
    items: list[Any], chunk_duration: float | None, *, allow_strings: bool = True
) -> tuple[DetectedEvent, ...]:
    events: list[DetectedEvent] = []
    for item in items:
        event = _event_from(item, chunk_duration, allow_strings)
        if event is not None:
            events.append(event)
    return tuple(events)


def _event_from(item: object, chunk_duration: float | None, allow_strings: bool) -> DetectedEvent | None:
    if isinstance(item, str) and item.strip() and allow_strings:
        text = item.strip()
        return DetectedEvent(label=text[:200], description=text, start=0.0, end=0.0, confidence=DEFAULT_CONFIDENCE)
    if not isinstance(item, Mapping):
        return None
    fields = _normalise_keys(item)
    label = _first(fields, _LABEL_KEYS, _to_text)
    description = _first(fields, _DESCRIPTION_KEYS, _to_text)
    if label is None and description is None:
        return None
    start = _first(fields, _START_KEYS, parse_timestamp)
    end = _first(fields, _END_KEYS, parse_timestamp)
    if start is None:
        span = _first(fields, ("time_range", "range", "span", "window", "time", "timestamp"), _to_span)
        if span is not None:
            start, end = span
    if start is None:
        start = 0.0 if end is None else end
    if end is None:
        end = start
    start, end = _clamp(start, end, chunk_duration)
    raw_type = fields.get("type")
    confidence = _first(fields, _CONFIDENCE_KEYS, _to_confidence)
    return DetectedEvent(
        label=(label or description or "event")[:200],
        description=description or label or "",
        start=start,
        end=end,
        severity=_first(fields, ("severity", "priority", "level"), _to_severity) or "medium",
        confidence=DEFAULT_CONFIDENCE if confidence is None else confidence,
        type=raw_type.strip() if isinstance(raw_type, str) and raw_type.strip() else "detection",
    )


def _to_span(value: object) -> tuple[float, float] | None:
    """``[3, 5]``, ``"3-5"``, ``"00:03 - 00:05"`` or ``"3s to 5s"`` as (start, end)."""
    if isinstance(value, list) and len(value) == 2:
        start, end = parse_timestamp(value[0]), parse_timestamp(value[1])
    elif isinstance(value, str):
        parts = re.split(r"\s*(?:–|—|-|\bto\b)\s*", value.strip(), maxsplit=1)
        if len(parts) != 2:
            return None
        start, end = parse_timestamp(parts[0]), parse_timestamp(parts[1])
    else:
        return None
    if start is None or end is None:
        return None
    return start, end


def _clamp(start: float, end: float, chunk_duration: float | None) -> tuple[float, float]:
    # ``start`` is what users see (stream_time), so an end before it is the end that gets fixed.
    upper = float(chunk_duration) if chunk_duration is not None and chunk_duration >= 0 else math.inf
    start = min(max(float(start), 0.0), upper)
    end = min(max(float(end), start), upper)
    return start, end


def _to_severity(value: object) -> Severity | None:
    if not isinstance(value, str):
        return None
    return _SEVERITY_WORDS.get(value.strip().lower())


# ---------------------------------------------------------------------------------------------------- helpers


def _normalise_keys(value: Mapping[Any, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, item in value.items():
        name = re.sub(r"[\s-]+", "_", str(key).strip().lower())
        fields.setdefault(name, item)
    return fields


def _first(fields: Mapping[str, Any], keys: tuple[str, ...], convert: Callable[[Any], T | None]) -> T | None:
    """The first of ``keys`` whose value ``convert`` accepts (returns non-``None``)."""
    for key in keys:
        if key in fields:
            converted = convert(fields[key])
            if converted is not None:
                return converted
    return None


def _to_text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)


def _finite(value: float) -> float | None:
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None
