"""The SDK's one exception tree, and the one place where an HTTP answer becomes an exception.

::

    LiveSightAPIError
    ├── APIConnectionError            the server could not be reached, or the connection dropped
    │   └── APITimeoutError
    ├── APIResponseValidationError    a 2xx answer that is not what the API documents
    ├── APIStatusError                a 4xx/5xx answer: status_code, code, message, remediation, response
    │   ├── BadRequestError           400  (INVALID_URL, STREAM_OFFLINE, NOT_LIVESTREAM, ...)
    │   ├── AuthenticationError       401  (UNAUTHORIZED)
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404  (JOB_NOT_FOUND, SESSION_NOT_FOUND, ...)
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422  (VALIDATION_ERROR, with .fields)
    │   ├── RateLimitError            429  (MAX_JOBS_REACHED, ...)
    │   └── InternalServerError       >= 500
    └── WebhookVerificationError      a webhook whose signature or timestamp does not verify
"""

from __future__ import annotations

from typing import Any

import httpx

from livesight.sdk.types import FieldError

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "LiveSightAPIError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "WebhookVerificationError",
    "make_status_error",
]


class LiveSightAPIError(Exception):
    """Base of every error the SDK raises; ``message`` is a sentence meant for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(LiveSightAPIError):
    """The request could not be completed: connection refused or reset, DNS failure, dropped stream."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's ``timeout``."""


class APIResponseValidationError(LiveSightAPIError):
    """A successful answer whose body does not match the documented shape (a proxy, or an incompatible server)."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code


class APIStatusError(LiveSightAPIError):
    """The server answered with an error status and (normally) the envelope
    ``{"error": {"code", "message", "remediation"}}``; ``body`` is the decoded answer, if it was JSON."""

    def __init__(
        self, message: str, *, response: httpx.Response, code: str, remediation: str = "", body: Any = None
    ) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.remediation = remediation
        self.body = body

    def __str__(self) -> str:
        text = f"{self.status_code} {self.code}: {self.message}"
        return f"{text} ({self.remediation})" if self.remediation else text


class BadRequestError(APIStatusError):
    """400: the request cannot be served as sent (bad URL, offline or non-live stream, ...)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or not valid."""


class PermissionDeniedError(APIStatusError):
    """403: not allowed (for example a forged or expired signed link)."""


class NotFoundError(APIStatusError):
    """404: no such job, session, stream or route (another key's resources read as missing)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (for example a stream id already taken)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request body is not valid; ``fields`` names each bad field when the server lists them."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: str,
        remediation: str = "",
        body: Any = None,
        fields: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message, response=response, code=code, remediation=remediation, body=body)
        self.fields: list[FieldError] = fields or []


class RateLimitError(APIStatusError):
    """429: too many requests or running jobs; the SDK has already retried (honouring ``Retry-After``)."""


class InternalServerError(APIStatusError):
    """5xx: the server (or its model backend) failed; the SDK has already retried when that was safe."""


class WebhookVerificationError(LiveSightAPIError, ValueError):
    """A webhook's headers are missing, its timestamp is outside the tolerance, or no signature matches."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _fields(raw: Any) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            out.append(FieldError(field=item["field"], message=str(item.get("message", "")), type=item.get("type")))
    return out


def make_status_error(response: httpx.Response) -> APIStatusError:
    """The exception for an error answer (the body must have been read), built from the API's envelope.

    An answer without the envelope (a proxy's HTML page, say) still maps by status, with ``code``
    ``HTTP_<status>`` and the start of the body as the message.
    """
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message") or response.reason_phrase)
        remediation = str(error.get("remediation") or "")
    else:
        code = f"HTTP_{response.status_code}"
        message = response.text.strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"
        remediation = ""
    status = response.status_code
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    if cls is UnprocessableEntityError:
        fields = _fields(error.get("fields")) if isinstance(error, dict) else []
        return UnprocessableEntityError(
            message, response=response, code=code, remediation=remediation, body=body, fields=fields
        )
    return cls(message, response=response, code=code, remediation=remediation, body=body)
