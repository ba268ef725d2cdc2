"""Logging set-up: readable lines on stderr, with credentials scrubbed from every record."""

from __future__ import annotations

import logging

from livesight.sources.urls import redact_text


class RedactingFilter(logging.Filter):
    """Removes ``user:password@`` from URLs in any log record, ours or FFmpeg's."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
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
