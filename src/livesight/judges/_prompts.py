"""Prompts and JSON schemas the chat-completions judge sends.

The schema *names* are part of a contract: the project's test VLM server picks its answer shape from
``response_format.json_schema.name``, so keep ``livesight_verdict`` and ``livesight_review`` stable.
"""

from __future__ import annotations

from typing import Any, Final

VERDICT_SCHEMA_NAME: Final = "livesight_verdict"
REVIEW_SCHEMA_NAME: Final = "livesight_review"
RULES_SCHEMA_NAME: Final = "livesight_rules"

VERDICT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "match": {"type": "boolean", "description": "true when the condition holds in the frames"},
        "confidence": {"type": "number", "description": "how sure you are, from 0 to 1"},
        "explanation": {"type": "string", "description": "one or two sentences on what is visible"},
    },
    "required": ["match", "confidence", "explanation"],
    "additionalProperties": False,
}

REVIEW_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "description": "short name of the event"},
                    "description": {"type": "string", "description": "what happens"},
                    "start": {"type": "number", "description": "seconds from the chunk start"},
                    "end": {"type": "number", "description": "seconds from the chunk start"},
                    "severity": {"type": "string", "enum": ["low", "medium", "high"]},
                    "confidence": {"type": "number", "description": "from 0 to 1"},
                },
                "required": ["label", "description", "start", "end", "severity", "confidence"],
                "additionalProperties": False,
            },
        },
        "summary": {"type": "string", "description": "one sentence about the chunk"},
    },
    "required": ["events", "summary"],
    "additionalProperties": False,
}

VERDICT_SHAPE: Final = '{"match": true or false, "confidence": number from 0 to 1, "explanation": "what you see"}'
REVIEW_SHAPE: Final = (
    '{"events": [{"label": "short name", "description": "what happens", "start": seconds, "end": seconds, '
    '"severity": "low" or "medium" or "high", "confidence": number from 0 to 1}], "summary": "one sentence"}'
)

CHECK_SYSTEM: Final = (
    "You are LiveSight's visual judge. You are shown frames from a live video, oldest first, each labelled with "
    "its time t in seconds. Decide whether the user's condition is true in these frames, using only what is "
    "visible in them. Answer with a single JSON object and nothing else, in this shape: " + VERDICT_SHAPE + "."
)

REVIEW_SYSTEM: Final = (
    "You are LiveSight's video reviewer. You are shown frames sampled from one chunk of a live video, in order, "
    "each labelled with its time t in seconds from the start of the chunk. Report the events in the chunk that "
    "the user's query asks about, using only what is visible in the frames. Answer with a single JSON object and "
    "nothing else, in this shape: " + REVIEW_SHAPE + "."
)

CHECK_SYSTEM_VIDEO: Final = (
    "You are LiveSight's visual judge. You are shown a short clip from a live video (and sometimes its last "
    "frame as a still). Decide whether the user's condition is true in the clip, using only what is visible "
    "in it. Answer with a single JSON object and nothing else, in this shape: " + VERDICT_SHAPE + "."
)

CHECK_RULES_SYSTEM: Final = (
    "You are LiveSight's visual judge. You are shown frames from a live video, oldest first, each labelled with "
    "its time t in seconds. For each of the user's rules, decide on its own whether it is true in these frames, "
    "using only what is visible in them. Answer with a single JSON object and nothing else, with one key per rule "
    "name, each in this shape: " + VERDICT_SHAPE + "."
)


def rules_schema(names: list[str]) -> dict[str, Any]:
    """The JSON schema of an answer to several rules at once: one verdict object per rule name."""
    return {
        "type": "object",
        "properties": {name: VERDICT_SCHEMA for name in names},
        "required": list(names),
        "additionalProperties": False,
    }


def rules_shape(names: list[str]) -> str:
    return "{" + ", ".join(f'"{name}": {VERDICT_SHAPE}' for name in names) + "}"


def rules_intro(rules: list[tuple[str, str]], frame_count: int) -> str:
    """The rules, one per line as ``- name: condition``, before the frames."""
    listed = "\n".join(f"- {name}: {condition}" for name, condition in rules)
    frames = "this frame" if frame_count == 1 else f"these {frame_count} frames"
    return f"Rules, each to be answered on its own for {frames}:\n{listed}"


REPAIR: Final = (
    "Your previous answer could not be read. Reply again with only the JSON object, in exactly this shape, "
    "with no other text and no code fences: {shape}"
)


def check_intro(condition: str, frame_count: int) -> str:
    return (
        f"Condition: {condition}\n\n"
        f"Is this condition true in the {frame_count} frame(s) below? "
        "t is seconds since the first frame; the last frame is the most recent moment."
    )


def check_intro_video(condition: str, seconds: float) -> str:
    return (
        f"Condition: {condition}\n\n"
        f"Is this condition true in the {seconds:.2f}-second video clip below? Its end is the most recent moment."
    )


def check_outro() -> str:
    return "Reply with only the JSON object: " + VERDICT_SHAPE + "."


def review_intro(query: str, chunk_duration: float) -> str:
    return (
        f"Query: {query}\n\n"
        f"The frames below cover a {chunk_duration:.2f}-second chunk (t=0.00s to t={chunk_duration:.2f}s). "
        "List every event in it that is relevant to the query, with start and end in seconds from the chunk start."
    )


def review_outro(chunk_duration: float) -> str:
    return (
        "Reply with only the JSON object: " + REVIEW_SHAPE + ". "
        f'Use "events": [] when nothing relevant happens. start and end are between 0 and {chunk_duration:.2f}.'
    )


def frame_label(index: int, seconds: float) -> str:
    """The text part placed right before image ``index`` (1-based)."""
    return f"Frame {index} at t={seconds:.2f}s"
