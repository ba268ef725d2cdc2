"""What can go wrong when asking a model, as one exception tree under :class:`JudgeError`.

Retry decisions key off the class: :class:`JudgeTimeout`, :class:`JudgeRateLimited` and
:class:`JudgeUnavailable` are transient (see :data:`TRANSIENT_ERRORS`); everything else is not.
"""

from __future__ import annotations

from livesight.errors import LiveSightError
from livesight.types import Usage

__all__ = [
    "FATAL_JUDGE_ERRORS",
    "TRANSIENT_ERRORS",
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
]


class JudgeError(LiveSightError):
    """A model backend could not produce a verdict.

    ``status_code`` is the backend's HTTP status when there was one; ``usage`` counts the model calls
    spent before failing, so callers can still account for them.
    """

    code = "JUDGE_ERROR"
    remediation = "Check the model backend's logs and LiveSight's model settings."

    def __init__(
        self,
        message: str,
        *,
        remediation: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, remediation=remediation, code=code)
        self.status_code = status_code
        self.usage = usage or Usage()


class JudgeTimeout(JudgeError):
    """The backend did not answer within the judge's timeout."""

    code = "JUDGE_TIMEOUT"
    remediation = (
        "The model took too long to answer. Raise LIVESIGHT_MODEL_TIMEOUT_SECONDS, send fewer or smaller "
        "frames, or use a faster model."
    )


class JudgeRefused(JudgeError):
    """The model declined to answer (a ``refusal``, a content filter, or an explicit refusal text)."""

    code = "JUDGE_REFUSED"
    remediation = "Rephrase the condition or query as a neutral question about what is visible, or use another model."


class JudgeAuthError(JudgeError):
    """The backend rejected the credentials (HTTP 401/403)."""

    code = "JUDGE_AUTH_FAILED"
    remediation = (
        "Check LIVESIGHT_MODEL_API_KEY (or OPENAI_API_KEY): it is missing, wrong, revoked, or lacks access "
        "to the configured model."
    )


class JudgeRateLimited(JudgeError):
    """The backend asked us to slow down (HTTP 429); ``retry_after`` is its hint in seconds, if any."""

    code = "JUDGE_RATE_LIMITED"
    remediation = "Lower LIVESIGHT_MODEL_CONCURRENCY, raise the check interval, or raise the provider's rate limit."

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        remediation: str | None = None,
        code: str | None = None,
        status_code: int | None = 429,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, remediation=remediation, code=code, status_code=status_code, usage=usage)
        self.retry_after = retry_after


class JudgeUnavailable(JudgeError):
    """The backend failed (HTTP 5xx) or could not be reached (connection refused, reset, DNS)."""

    code = "JUDGE_UNAVAILABLE"
    remediation = (
        "Check that the model server is running and reachable at LIVESIGHT_MODEL_BASE_URL; LiveSight retries "
        "transient failures by itself."
    )


class JudgeRequestRejected(JudgeError):
    """The backend refused the request itself (HTTP 400/404/422 …): wrong URL, model name or parameters."""

    code = "JUDGE_REQUEST_REJECTED"
    remediation = (
        "Check LIVESIGHT_MODEL_BASE_URL (it usually ends in /v1) and LIVESIGHT_MODEL (the model must exist and "
        "accept images)."
    )


class JudgeBadResponse(JudgeError):
    """The model's answer could not be understood, even after asking it once more for clean JSON."""

    code = "JUDGE_BAD_RESPONSE"
    remediation = "Use a model that follows JSON instructions (most instruction-tuned vision models do)."


class JudgeParseError(JudgeBadResponse):
    """One answer could not be parsed; ``text`` is what the model said.

    Raised by :mod:`livesight.judges.parsing`; a judge catches it to try its repair retry.
    """

    def __init__(self, message: str, *, text: str = "") -> None:
        super().__init__(message)
        self.text = text


class JudgeNotConfigured(JudgeError):
    """No model backend is configured."""

    code = "JUDGE_NOT_CONFIGURED"
    remediation = (
        "Set LIVESIGHT_MODEL_BASE_URL (e.g. https://api.openai.com/v1 or http://localhost:11434/v1 for Ollama), "
        "LIVESIGHT_MODEL_API_KEY (not needed for most local servers) and LIVESIGHT_MODEL (a vision model name). "
        "OPENAI_BASE_URL and OPENAI_API_KEY are read as fallbacks. Or, with no model server, use local CLIP: "
        "pip install -e '.[clip]' in a clone (pip install 'livesight[clip]' from a package index), then "
        "python -m livesight.judges.clip_download to download its weights."
    )

    def __init__(self, message: str | None = None, *, remediation: str | None = None) -> None:
        super().__init__(
            message
            or (
                "No model backend is configured: set LIVESIGHT_MODEL_BASE_URL and/or LIVESIGHT_MODEL_API_KEY "
                "(fallbacks: OPENAI_BASE_URL, OPENAI_API_KEY), and LIVESIGHT_MODEL."
            ),
            remediation=remediation,
        )


#: Errors worth retrying: the same request may well succeed a moment later.
TRANSIENT_ERRORS: tuple[type[JudgeError], ...] = (JudgeTimeout, JudgeRateLimited, JudgeUnavailable)


#: The errors that no retry or wait fixes: a run that meets one fails with its message.
FATAL_JUDGE_ERRORS: tuple[type[JudgeError], ...] = (JudgeAuthError, JudgeNotConfigured, JudgeRequestRejected)
