"""The storage seam: the protocol and the choice of implementation from settings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from livesight.errors import LiveSightError

if TYPE_CHECKING:
    from livesight.settings import Settings

#: What retention manages: recorded chunks and evidence frames.
MEDIA_SUFFIXES = (".ts", ".jpg")


class StorageError(LiveSightError):
    """The storage is misconfigured or did not answer."""


@dataclass(frozen=True)
class StoredFile:
    """One stored file, as retention sees it."""

    ref: str
    size: int
    modified: float  # POSIX seconds


@dataclass(frozen=True)
class StoredObject:
    """An opened file to serve: a local ``path`` (served with ranges), or ``chunks`` streamed through."""

    size: int
    path: Path | None = None
    chunks: Iterator[bytes] | None = None

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


@runtime_checkable
class Storage(Protocol):
    """Recordings and evidence by reference. Every method blocks: call it in a thread."""

    def put_file(self, key: str, local_path: Path) -> str:
        """Store the finished spool file ``local_path`` under ``key`` (``<run id>/…``); returns the reference
        the database keeps. A store that is not the local directory removes the spool file once stored."""
        ...

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; returns its reference."""
        ...

    def exists(self, ref: str) -> bool: ...

    def present(self, refs: Iterable[str]) -> list[bool]:
        """Which of ``refs`` exist (one listing per run, not one request per file)."""
        ...

    def read_bytes(self, ref: str) -> bytes:
        """The whole file; ``FileNotFoundError`` when it is gone."""
        ...

    def open(self, ref: str) -> StoredObject | None:
        """The file to serve, or None when it is gone."""
        ...

    def delete(self, ref: str) -> None:
        """Delete one file (no error when it is gone)."""
        ...

    def delete_prefix(self, run_id: str) -> None:
        """Delete everything a run stored."""
        ...

    def list_media(self) -> list[StoredFile]:
        """Every recorded chunk and evidence frame, for retention."""
        ...

    def close(self) -> None: ...


def open_storage(settings: Settings) -> Storage:
    """The storage ``settings`` name: ``LIVESIGHT_STORAGE_URL=s3://bucket/prefix``, else the local
    recordings directory."""
    from livesight.storage.local import LocalStorage

    url = settings.storage_url
    if not url or url.startswith("file:"):
        return LocalStorage(settings.recordings_dir)
    if url.startswith("s3://"):
        from livesight.storage.s3 import S3Storage

        return S3Storage.from_settings(url, settings)
    raise StorageError(
        f"LIVESIGHT_STORAGE_URL={url!r} is not a storage this server knows.",
        remediation="Use s3://bucket/prefix (an S3-compatible store), or leave it unset for the local directory.",
    )
