from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from livesight.judges import DEFAULT_CONFIDENCE, JudgeParseError, looks_like_refusal, parse_review, parse_verdict
from livesight.judges.parsing import parse_timestamp

# ------------------------------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize(
    ("text", "match", "confidence", "explanation"),
    [
        ('{"match": true, "confidence": 0.9, "explanation": "a red car"}', True, 0.9, "a red car"),
        ('```json\n{"match": false, "confidence": 0.2, "explanation": "empty"}\n```', False, 0.2, "empty"),
        ('```\n{"match": true, "confidence": 0.7, "explanation": "x"}\n```', True, 0.7, "x"),
        (
            'Sure! Here is my analysis:\n{"match": true, "confidence": 0.8, "explanation": "door {open}"}\n'
            "Hope it helps.",
            True,
            0.8,
            "door {open}",
        ),
        ("{'match': True, 'confidence': 0.75, 'explanation': 'it\\'s there',}", True, 0.75, "it's there"),
        ("{match: false, confidence: 0.4, explanation: 'nothing'}", False, 0.4, "nothing"),
        ('{"match": true, "confidence": 85, "explanation": "pct"}', True, 0.85, "pct"),
        ('{"match": true, "confidence": "85%", "explanation": "pct"}', True, 0.85, "pct"),
        ('{"match": true, "confidence": "0.35", "explanation": "str"}', True, 0.35, "str"),
        ("{match: true, confidence: 90%, reason: 'bare percent'}", True, 0.9, "bare percent"),
        ('{"match": true, "confidence": "high", "explanation": "word"}', True, 0.9, "word"),
        ('{"triggered": true, "confidence": 0.9, "reasoning": "alias"}', True, 0.9, "alias"),
        ('{"answer": "yes", "confidence": 0.9}', True, 0.9, ""),
        ('{"answer": "No, the belt is moving."}', False, DEFAULT_CONFIDENCE, "No, the belt is moving."),
        ('{"result": {"match": 1, "score": 0.66}}', True, 0.66, ""),
        ('{"Match": "TRUE", "Confidence": 1, "Explanation": "caps"}', True, 1.0, "caps"),
        (
            '<think>should I say {"match": false}?</think>{"match": true, "confidence": 0.9, "explanation": "t"}',
            True,
            0.9,
            "t",
        ),
        # A confidence that makes no sense falls back to the default rather than failing the verdict.
        ('{"match": true, "confidence": 4000, "explanation": "odd"}', True, DEFAULT_CONFIDENCE, "odd"),
        ('{"match": true, "confidence": NaN, "explanation": "nan"}', True, DEFAULT_CONFIDENCE, "nan"),
    ],
)
def test_structured_verdicts(text: str, match: bool, confidence: float, explanation: str) -> None:
    verdict = parse_verdict(text)
    assert verdict.match is match
    assert verdict.confidence == pytest.approx(confidence)
    assert verdict.explanation == explanation


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Yes, there is a person at the door.", True),
        ("yes", True),
        ("No.", False),
        ("**Yes** — the conveyor belt is stopped.", True),
        ("**No**", False),
        ("Answer: no, nobody is visible", False),
        ("> YES", True),
        ('"No" – the light is green.', False),
        ("True", True),
    ],
)
def test_plain_answers(text: str, match: bool) -> None:
    verdict = parse_verdict(text)
    assert verdict.match is match
    assert verdict.confidence == DEFAULT_CONFIDENCE
    assert verdict.explanation == text.strip()


def test_plain_answer_with_stated_confidence() -> None:
    verdict = parse_verdict("Yes, a truck is parked. Confidence: 85%")
    assert verdict.match is True
    assert verdict.confidence == pytest.approx(0.85)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "I am not sure what I am looking at.",
        "The image shows a street.",
        '{"confidence": 0.9, "explanation": "no verdict key"}',
        '{"match": "perhaps", "confidence": 0.5}',
        "{ broken",
        "Not yes, not no",  # starts with "Not", which is neither
        "[1, 2, 3]",
    ],
)
def test_unreadable_verdicts_raise_parse_error(text: str) -> None:
    with pytest.raises(JudgeParseError) as info:
        parse_verdict(text)
    assert info.value.text == text
    assert info.value.code == "JUDGE_BAD_RESPONSE"


# ------------------------------------------------------------------------------------------------ reviews


def test_review_strict_json() -> None:
    text = json.dumps(
        {
            "events": [
                {
                    "label": "person",
                    "description": "a person walks in",
                    "start": 1.5,
                    "end": 4,
                    "severity": "high",
                    "confidence": 0.8,
                }
            ],
            "summary": "someone arrived",
        }
    )
    review = parse_review(text, chunk_duration=10.0)
    assert review.summary == "someone arrived"
    (event,) = review.events
    assert (event.label, event.description, event.start, event.end) == ("person", "a person walks in", 1.5, 4.0)
    assert (event.severity, event.confidence) == ("high", 0.8)


@pytest.mark.parametrize(
    ("event", "start", "end"),
    [
        ({"label": "a", "start_time": 2, "end_time": 3}, 2.0, 3.0),
        ({"label": "a", "timestamp": "00:04"}, 4.0, 4.0),
        ({"label": "a", "start": "00:01.5", "end": "0:00:07"}, 1.5, 7.0),
        ({"label": "a", "start": "3s", "end": "5 seconds"}, 3.0, 5.0),
        ({"label": "a", "time": "2-6"}, 2.0, 6.0),
        ({"label": "a", "time_range": "00:02 - 00:03"}, 2.0, 3.0),
        ({"label": "a"}, 0.0, 0.0),
        ({"label": "a", "end": 6}, 6.0, 6.0),
        # Clamped to the chunk, and end never before start.
        ({"label": "a", "start": -3, "end": 15}, 0.0, 10.0),
        ({"label": "a", "start": 12, "end": 14}, 10.0, 10.0),
        ({"label": "a", "start": 6, "end": 2}, 6.0, 6.0),
    ],
)
def test_review_event_times(event: dict[str, Any], start: float, end: float) -> None:
    review = parse_review(json.dumps({"events": [event]}), chunk_duration=10.0)
    (got,) = review.events
    assert (got.start, got.end) == (start, end)


def test_review_loose_fenced_and_aliases() -> None:
    text = (
        "Here you go:\n```json\n{events: [{name: 'forklift', details: 'moves left', start: '00:02', end: 5,"
        " severity: 'critical', confidence: '70%',},], summary: 'busy',}\n```"
    )
    review = parse_review(text, chunk_duration=10.0)
    (event,) = review.events
    assert (event.label, event.description, event.start, event.end) == ("forklift", "moves left", 2.0, 5.0)
    assert event.severity == "high"
    assert event.confidence == pytest.approx(0.7)
    assert review.summary == "busy"


def test_review_bare_list_and_single_event() -> None:
    listed = parse_review('[{"label": "car", "timestamp": 3.25}]', chunk_duration=10.0)
    assert [(e.label, e.start) for e in listed.events] == [("car", 3.25)]
    single = parse_review('Found: {"label": "dog", "start": 1, "end": 2}', chunk_duration=10.0)
    assert [(e.label, e.start, e.end) for e in single.events] == [("dog", 1.0, 2.0)]


@pytest.mark.parametrize("text", ['{"events": [], "summary": "quiet"}', "No relevant events in this chunk.", "None."])
def test_review_empty(text: str) -> None:
    assert parse_review(text, chunk_duration=10.0).events == ()


def test_review_defaults_for_missing_fields() -> None:
    (event,) = parse_review('{"events": [{"description": "smoke rises", "start": 1}]}').events
    assert event.label == "smoke rises"
    assert event.severity == "medium"
    assert event.confidence == DEFAULT_CONFIDENCE
    assert event.type == "detection"


@pytest.mark.parametrize(
    "text", ["", "The video shows a road.", "see [2] for details", '{"match": true}', "{'events': 'lots'}"]
)
def test_unreadable_reviews_raise_parse_error(text: str) -> None:
    with pytest.raises(JudgeParseError):
        parse_review(text, chunk_duration=10.0)


# ------------------------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3, 3.0), (2.5, 2.5), ("4", 4.0), ("01:30", 90.0), ("1:00:00", 3600.0), ("t=2.5s", 2.5), ("00:02.25", 2.25)],
)
def test_parse_timestamp(value: object, seconds: float) -> None:
    assert parse_timestamp(value) == seconds


@pytest.mark.parametrize("value", [None, True, "soon", "1:2:3:4", "", [], float("inf")])
def test_parse_timestamp_rejects(value: object) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I can't help with that.", True),
        ("I\u2019m sorry, I can\u2019t identify people in images.", True),
        ("Sorry, I am unable to assist with this request.", True),
        ("That would go against my guidelines.", True),
        ("I'm sorry, but I can't see a person in these frames.", False),
        ("No, the door is closed.", False),
        ('{"match": false, "explanation": "I cannot help noticing the door is shut"}', False),
        ("", False),
    ],
)
def test_looks_like_refusal(text: str, refusal: bool) -> None:
    assert looks_like_refusal(text) is refusal


# ------------------------------------------------------------------------------------------------ properties

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
_noise = st.text(alphabet=st.sampled_from(list("{}[]\"':,`\\ \nyesnoYN0123456789.-%truefalsmatch")), max_size=80)


def _check_verdict(text: str) -> None:
    try:
        verdict = parse_verdict(text)
    except JudgeParseError:
        return
    assert isinstance(verdict.match, bool)
    assert 0.0 <= verdict.confidence <= 1.0
    assert isinstance(verdict.explanation, str)


def _check_review(text: str) -> None:
    try:
        review = parse_review(text, chunk_duration=10.0)
    except JudgeParseError:
        return
    for event in review.events:
        assert 0.0 <= event.start <= event.end <= 10.0
        assert 0.0 <= event.confidence <= 1.0
        assert event.severity in ("low", "medium", "high")
        assert math.isfinite(event.start)
        assert isinstance(event.label, str)


@hsettings(database=None, deadline=None, max_examples=300)
@given(st.text())
@example("{" * 5000)
@example("[" * 5000)
@example('{"match": ' * 3000)
@example("```json\n{'match': True,,}\n```")
@example('{"match": true, "confidence": 1' + "0" * 5000 + "}")
def test_parser_only_raises_its_own_error_on_arbitrary_text(text: str) -> None:
    _check_verdict(text)
    _check_review(text)


@hsettings(database=None, deadline=None, max_examples=300)
@given(_noise)
def test_parser_only_raises_its_own_error_on_jsonish_noise(text: str) -> None:
    _check_verdict(text)
    _check_review(text)


@hsettings(database=None, deadline=None, max_examples=200)
@given(_json_value, st.text(max_size=30), st.text(max_size=30))
def test_parser_only_raises_its_own_error_on_json_in_prose(value: Any, before: str, after: str) -> None:
    text = before + json.dumps(value) + after
    _check_verdict(text)
    _check_review(text)


@hsettings(database=None, deadline=None, max_examples=200)
@given(
    match=st.booleans(),
    confidence=st.floats(min_value=0.0, max_value=1.0),
    explanation=st.text(max_size=60),
    wrap=st.sampled_from(["{}", "```json\n{}\n```", "Answer:\n{}\nThanks!", "```\n{}```"]),
)
def test_any_schema_shaped_verdict_round_trips(match: bool, confidence: float, explanation: str, wrap: str) -> None:
    payload = json.dumps({"match": match, "confidence": confidence, "explanation": explanation})
    verdict = parse_verdict(wrap.replace("{}", payload))
    assert verdict.match is match
    assert verdict.confidence == pytest.approx(confidence)
    assert verdict.explanation == explanation.strip()
