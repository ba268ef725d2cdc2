"""Model backends ("judges") that answer questions about frames (SPEC §5).

:func:`build_judge` picks one from the settings; every judge implements :class:`Judge` and raises
:class:`JudgeError` subclasses only.
"""

from __future__ import annotations

from livesight.judges.base import Judge, accepts_video, check_rules
from livesight.judges.cascade import CascadeJudge
from livesight.judges.clip import ClipJudge
from livesight.judges.clip_weights import ClipUnavailable
from livesight.judges.errors import (
    TRANSIENT_ERRORS,
    JudgeAuthError,
    JudgeBadResponse,
    JudgeError,
    JudgeNotConfigured,
    JudgeParseError,
    JudgeRateLimited,
    JudgeRefused,
    JudgeRequestRejected,
    JudgeTimeout,
    JudgeUnavailable,
)
from livesight.judges.factory import build_judge, build_local_judge
from livesight.judges.gemini import GeminiJudge
from livesight.judges.openai import DEFAULT_OPENAI_BASE_URL, OpenAICompatibleJudge
from livesight.judges.parsing import DEFAULT_CONFIDENCE, looks_like_refusal, parse_review, parse_verdict

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_OPENAI_BASE_URL",
    "TRANSIENT_ERRORS",
    "CascadeJudge",
    "ClipJudge",
    "ClipUnavailable",
    "GeminiJudge",
    "Judge",
    "JudgeAuthError",
    "JudgeBadResponse",
    "JudgeError",
    "JudgeNotConfigured",
    "JudgeParseError",
    "JudgeRateLimited",
    "JudgeRefused",
    "JudgeRequestRejected",
    "JudgeTimeout",
    "JudgeUnavailable",
    "OpenAICompatibleJudge",
    "accepts_video",
    "build_judge",
    "build_local_judge",
    "check_rules",
    "looks_like_refusal",
    "parse_review",
    "parse_verdict",
]
