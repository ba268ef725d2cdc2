"""Recordings in an S3-compatible object store (AWS S3, MinIO, Ceph, R2, …), through boto3.

boto3 is synchronous: like every :class:`~livesight.storage.Storage`, these methods block and are called
in threads. One client serves the process (boto3 clients are thread-safe); addressing is path-style,
which every S3-compatible server speaks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from livesight.storage.base import MEDIA_SUFFIXES, StorageError, StoredFile, StoredObject

if TYPE_CHECKING:
    from livesight.settings import Settings

_STREAM_BYTES = 256 * 1024


class S3Storage:
    """Objects under ``s3://bucket/prefix/<run id>/…``; a reference is the key below the prefix.

    An absolute path as a reference is a file this replica recorded before the switch to S3: it is read
    from the local disk while it exists.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_settings(cls, url: str, settings: Settings) -> S3Storage:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StorageError(
                "LIVESIGHT_STORAGE_URL names an S3 store, but boto3 is not installed.",
                remediation="pip install 'livesight[s3]'",
            ) from None
        parts = urlsplit(url)
        if not parts.netloc:
            raise StorageError(f"{url!r} names no bucket.", remediation="Use s3://bucket/prefix.")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        endpoint = settings.storage_endpoint_url or query.get("endpoint_url")
        region = settings.storage_region or query.get("region")
        key_id = settings.storage_access_key_id
        secret = settings.storage_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            # None: boto3's usual chain (AWS_ACCESS_KEY_ID…, ~/.aws, instance roles).
            aws_access_key_id=key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5}),
        )
        return cls(client, parts.netloc, parts.path)

    # -- references ----------------------------------------------------------------------------
    def _key(self, ref: str) -> str:
        return self.prefix + ref.lstrip("/")

    @staticmethod
    def _local(ref: str) -> Path | None:
        path = Path(ref)
        return path if path.is_absolute() else None

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    # -- the seam ------------------------------------------------------------------------------
    def put_file(self, key: str, local_path: Path) -> str:
        try:
            self.client.upload_file(str(local_path), self.bucket, self._key(key))
        finally:
            local_path.unlink(missing_ok=True)  # stored (or failed, and the chunk marked so): the spool copy goes
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return key

    def exists(self, ref: str) -> bool:
        local = self._local(ref)
        if local is not None:
            return local.is_file()
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(ref))
        except Exception as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def present(self, refs: Iterable[str]) -> list[bool]:
        refs = list(refs)
        folders = {ref.rsplit("/", 1)[0] + "/" for ref in refs if self._local(ref) is None and "/" in ref}
        stored: set[str] = set()
        for folder in folders:  # a run's chunks share a folder: one listing, not one request per chunk
            stored.update(item.ref for item in self._list(folder))
        return [
            local.is_file() if (local := self._local(ref)) is not None else ref.lstrip("/") in stored for ref in refs
        ]

    def read_bytes(self, ref: str) -> bytes:
        local = self._local(ref)
        if local is not None:
            return local.read_bytes()
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(ref))
        except Exception as exc:
            if self._missing(exc):
                raise FileNotFoundError(ref) from None
            raise
        body = answer["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def open(self, ref: str) -> StoredObject | None:
        local = self._local(ref)
        if local is not None:
            return StoredObject(size=local.stat().st_size, path=local) if local.is_file() else None
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(ref))
        except Exception as exc:
            if self._missing(exc):
                return None
            raise
        body = answer["Body"]
        return StoredObject(size=int(answer["ContentLength"]), chunks=_chunks(body))

    def delete(self, ref: str) -> None:
        local = self._local(ref)
        if local is not None:
            local.unlink(missing_ok=True)
            return
        self.client.delete_object(Bucket=self.bucket, Key=self._key(ref))

    def delete_prefix(self, run_id: str) -> None:
        refs = [item.ref for item in self._list(run_id.strip("/") + "/", media_only=False)]
        for start in range(0, len(refs), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self._key(ref)} for ref in refs[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def list_media(self) -> list[StoredFile]:
        return self._list("")

    def _list(self, folder: str, *, media_only: bool = True) -> list[StoredFile]:
        found: list[StoredFile] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + folder)
        for page in pages:
            for item in page.get("Contents", []):
                ref = item["Key"][len(self.prefix) :]
                if not media_only or ref.endswith(MEDIA_SUFFIXES):
                    found.append(StoredFile(ref, int(item["Size"]), item["LastModified"].timestamp()))
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(_STREAM_BYTES)
    finally:
        body.close()
