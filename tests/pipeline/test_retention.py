from __future__ import annotations

import os
from pathlib import Path

from livesight.pipeline.retention import enforce_retention


def _file(path: Path, size: int, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_age_then_size_oldest_first(tmp_path: Path) -> None:
    now = 1_000_000.0
    old = _file(tmp_path / "ses_a" / "chunk_00000.ts", 100, now - 10 * 86400)
    mid = _file(tmp_path / "ses_b" / "chunk_00000.ts", 100, now - 3600)
    new = _file(tmp_path / "ses_b" / "chunk_00001.ts", 100, now - 60)
    frame = _file(tmp_path / "ses_b" / "evidence" / "evt_x.jpg", 10, now - 30)
    other = _file(tmp_path / "notes.txt", 5000, now - 20 * 86400)  # not a recording: never touched
    report = enforce_retention(tmp_path, max_age_seconds=7 * 86400, max_bytes=150, now=now)
    assert not old.exists() and not mid.exists()
    assert new.exists() and frame.exists() and other.exists()
    assert report.deleted_files == 2 and report.kept_bytes == 110


def test_nothing_to_do(tmp_path: Path) -> None:
    _file(tmp_path / "a.ts", 10, 0)
    assert enforce_retention(tmp_path, max_age_seconds=None, max_bytes=None).deleted_files == 0
