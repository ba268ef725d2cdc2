"""The root of LiveSight's exception tree.

Each package derives its own errors from :class:`LiveSightError`; the API layer maps them to the
``{"error": {code, message, remediation}}`` envelope in one place and the CLI prints ``message``.
"""

from __future__ import annotations


class LiveSightError(Exception):
    """Base of every error LiveSight raises on purpose.

    ``code`` is the API error code (SPEC §3), ``remediation`` tells the user what to do next.
    """

    code: str = "INTERNAL_ERROR"
    remediation: str = ""

    def __init__(self, message: str, *, remediation: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if remediation is not None:
            self.remediation = remediation
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(LiveSightError):
    code = "CONFIGURATION_ERROR"
