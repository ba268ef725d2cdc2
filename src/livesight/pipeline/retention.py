"""Keeping recordings within an age and a total size, deleting the oldest first."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from livesight.storage import Storage
from livesight.storage.local import LocalStorage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    deleted_files: int
    deleted_bytes: int
    kept_bytes: int


def enforce_retention(
    root: Path | Storage, *, max_age_seconds: float | None, max_bytes: int | None, now: float | None = None
) -> RetentionReport:
    """Delete recorded chunks and evidence frames older than ``max_age_seconds``, then the oldest ones
    until the rest fits in ``max_bytes``. ``root`` is a storage, or the local directory of one. Blocking:
    run it in a thread."""
    storage = LocalStorage(root) if isinstance(root, Path) else root
    now = time.time() if now is None else now
    files = sorted(storage.list_media(), key=lambda f: (f.modified, f.ref))
    total = sum(f.size for f in files)
    deleted = deleted_bytes = 0
    for stored in files:
        too_old = max_age_seconds is not None and now - stored.modified > max_age_seconds
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            break  # sorted oldest first: nothing later is older, and the total fits
        storage.delete(stored.ref)
        total -= stored.size
        deleted += 1
        deleted_bytes += stored.size
    if deleted:
        log.info("retention: deleted %d file(s), %.1f MB; %.1f MB kept", deleted, deleted_bytes / 1e6, total / 1e6)
    return RetentionReport(deleted, deleted_bytes, total)


async def retention_loop(
    root: Path | Storage, *, max_age_seconds: float | None, max_bytes: int | None, every_seconds: float = 600.0
) -> None:
    """Run :func:`enforce_retention` now and then, until cancelled."""
    while True:
        try:
            await asyncio.to_thread(enforce_retention, root, max_age_seconds=max_age_seconds, max_bytes=max_bytes)
        except Exception:  # a full or read-only disk, or an unreachable store, must not stop the server
            log.exception("retention pass failed")
        await asyncio.sleep(every_seconds)
