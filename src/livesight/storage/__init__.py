"""Where recordings and evidence frames live: the local directory (default) or an S3-compatible store.

A run records to a local spool file (the chunker writes files) and hands the file to its :class:`Storage`.
What ``put_file`` returns is the *reference* the database keeps (a chunk's ``path``, an event's
``frame_path``): for the local directory the absolute path, as always; for S3 a key relative to the
bucket's prefix (``<run id>/chunk_00001.ts``). Every storage still accepts an absolute local path, so rows
written before a switch keep working while their files exist.

The methods block (file system calls, or boto3's HTTP): call them in a thread, never on the event loop.
"""

from __future__ import annotations

from livesight.storage.base import Storage, StorageError, StoredFile, StoredObject, open_storage

__all__ = ["Storage", "StorageError", "StoredFile", "StoredObject", "open_storage"]
