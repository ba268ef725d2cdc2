"""Recordings in a local directory: the default, as LiveSight always kept them."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from livesight.storage.base import MEDIA_SUFFIXES, StoredFile, StoredObject


class LocalStorage:
    """Files under ``root / <run id>``; a reference is the file's absolute path (what the database always held).

    A relative reference is read as a key under ``root``, so rows written by an S3-backed replica resolve
    here too when the same files are on this disk.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, ref: str) -> Path:
        path = Path(ref)
        # A path under ``root`` as written (a relative data dir gives relative ones) is itself; any other
        # relative reference is a key below ``root``.
        return path if path.is_absolute() or path.is_relative_to(self.root) else self.root / path

    def put_file(self, key: str, local_path: Path) -> str:
        target = self.root / key
        if local_path.resolve() != target.resolve():  # the spool is the directory: nothing to move
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(local_path, target)
        return str(target)

    def put_bytes(self, key: str, data: bytes) -> str:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return str(target)

    def exists(self, ref: str) -> bool:
        return self._path(ref).is_file()

    def present(self, refs: Iterable[str]) -> list[bool]:
        return [self.exists(ref) for ref in refs]

    def read_bytes(self, ref: str) -> bytes:
        return self._path(ref).read_bytes()

    def open(self, ref: str) -> StoredObject | None:
        path = self._path(ref)
        try:
            return StoredObject(size=path.stat().st_size, path=path) if path.is_file() else None
        except FileNotFoundError:
            return None

    def delete(self, ref: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(ref).unlink()

    def delete_prefix(self, run_id: str) -> None:
        shutil.rmtree(self.root / run_id, ignore_errors=True)

    def list_media(self) -> list[StoredFile]:
        found: list[StoredFile] = []
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                if name.endswith(MEDIA_SUFFIXES):
                    path = Path(dirpath) / name
                    try:
                        stat = path.stat()
                    except FileNotFoundError:
                        continue
                    found.append(StoredFile(str(path), stat.st_size, stat.st_mtime))
        return found

    def close(self) -> None:
        pass
