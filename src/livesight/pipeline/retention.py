"""Keeping recordings within an age and a total size, deleting the oldest first."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_MEDIA = (".ts", ".jpg")


@dataclass(frozen=True)
class RetentionReport:
    deleted_files: int
    deleted_bytes: int
    kept_bytes: int


def enforce_retention(
    root: Path, *, max_age_seconds: float | None, max_bytes: int | None, now: float | None = None
) -> RetentionReport:
    """Delete recorded chunks and evidence frames older than ``max_age_seconds``, then the oldest ones
    until the rest fits in ``max_bytes``. Blocking: run it in a thread."""
    now = time.time() if now is None else now
    files: list[tuple[float, int, Path]] = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(_MEDIA):
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                files.append((stat.st_mtime, stat.st_size, path))
    files.sort()
    total = sum(size for _, size, _ in files)
    deleted = deleted_bytes = 0
    for mtime, size, path in files:
        too_old = max_age_seconds is not None and now - mtime > max_age_seconds
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            break  # sorted oldest first: nothing later is older, and the total fits
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        total -= size
        deleted += 1
        deleted_bytes += size
    if deleted:
        log.info("retention: deleted %d file(s), %.1f MB; %.1f MB kept", deleted, deleted_bytes / 1e6, total / 1e6)
    return RetentionReport(deleted, deleted_bytes, total)


async def retention_loop(
    root: Path, *, max_age_seconds: float | None, max_bytes: int | None, every_seconds: float = 600.0
) -> None:
    """Run :func:`enforce_retention` now and then, until cancelled."""
    while True:
        try:
            await asyncio.to_thread(enforce_retention, root, max_age_seconds=max_age_seconds, max_bytes=max_bytes)
        except Exception:  # a full or read-only disk must not stop the server
            log.exception("retention pass failed")
        await asyncio.sleep(every_seconds)
