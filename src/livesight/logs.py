"""Logging set-up: readable lines on stderr, with credentials scrubbed from every record."""

from __future__ import annotations

import logging

from livesight.sources.urls import redact_text


class RedactingFilter(logging.Filter):
    """Removes ``user:password@`` and secret query values from URLs in any log record, ours or FFmpeg's,
    in its message and in the traceback it carries."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:  # formatters reuse ``exc_text`` once it is set
            record.exc_text = redact_text(self._formatter.formatException(record.exc_info))
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))
    logging.getLogger("livesight").setLevel(level)
    for noisy in ("aiosqlite", "alembic", "sqlalchemy", "asyncio", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # FFmpeg's own messages (PyAV forwards them as "libav.*") are noisy below errors.
    logging.getLogger("libav").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
