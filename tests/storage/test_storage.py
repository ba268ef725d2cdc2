"""The storage seam on the local directory and on a real S3-compatible server: store, read, serve,
delete a run's files, and retention by age and by size."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livesight.pipeline.retention import enforce_retention
from livesight.settings import Settings
from livesight.storage import Storage, StorageError, open_storage
from livesight.storage.local import LocalStorage
from livesight.storage.s3 import S3Storage

from .conftest import S3Server


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    settings = Settings(data_dir=tmp_path / "data")
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3")
        settings = settings.model_copy(
            update={"storage_url": f"s3://{s3.bucket}/live/sight?endpoint_url={s3.endpoint_url}"}
        )
    built = open_storage(settings)
    try:
        yield built
    finally:
        built.close()


def _spool(tmp_path: Path, name: str, data: bytes) -> Path:
    """A finished recording in the spool, where the chunker writes (the local store's own directory)."""
    path = tmp_path / "data" / "recordings" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_put_read_serve_and_delete(storage: Storage, tmp_path: Path) -> None:
    spooled = _spool(tmp_path, "ses_a/chunk_00000.ts", b"\x47" * 1000)
    chunk = storage.put_file("ses_a/chunk_00000.ts", spooled)
    frame = storage.put_bytes("ses_a/evidence/evt_1.jpg", b"\xff\xd8jpeg")
    other = storage.put_bytes("ses_b/evidence/evt_2.jpg", b"\xff\xd8other")
    # the local store keeps the file where it was recorded; any other store removes the spool copy
    assert spooled.exists() is isinstance(storage, LocalStorage)
    assert storage.read_bytes(chunk) == b"\x47" * 1000 and storage.read_bytes(frame) == b"\xff\xd8jpeg"
    opened = storage.open(chunk)
    assert opened is not None and opened.size == 1000
    served = opened.path.read_bytes() if opened.path is not None else b"".join(opened.chunks or [])
    opened.close()
    assert served == b"\x47" * 1000
    assert storage.present([chunk, frame, "ses_a/chunk_00009.ts", other]) == [True, True, False, True]
    assert storage.exists(frame) and not storage.exists("ses_a/evidence/evt_9.jpg")
    assert storage.open("ses_a/chunk_00009.ts") is None
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("ses_a/chunk_00009.ts")

    storage.delete(frame)
    storage.delete(frame)  # already gone: no error
    assert not storage.exists(frame) and storage.exists(chunk)
    storage.delete_prefix("ses_a")
    assert storage.present([chunk, other]) == [False, True]
    assert [f.ref.rsplit("/", 1)[-1] for f in storage.list_media()] == ["evt_2.jpg"]


def test_an_absolute_local_path_still_resolves(storage: Storage, tmp_path: Path) -> None:
    """Rows written before a switch of store name local files: they keep working while the files exist."""
    legacy = tmp_path / "elsewhere" / "chunk_00000.ts"
    legacy.parent.mkdir()
    legacy.write_bytes(b"\x47old")
    assert storage.exists(str(legacy)) and storage.present([str(legacy)]) == [True]
    assert storage.read_bytes(str(legacy)) == b"\x47old"
    storage.delete(str(legacy))
    assert not legacy.exists()


def test_retention_by_age_then_size(storage: Storage) -> None:
    for index in range(3):  # names in recording order: equal timestamps still go oldest first
        storage.put_bytes(f"ses_a/chunk_{index:05d}.ts", b"\x47" * 100)
    storage.put_bytes("ses_a/evidence/evt_1.jpg", b"\xff" * 10)
    storage.put_bytes("ses_a/notes.txt", b"not a recording")
    now = time.time()
    kept = enforce_retention(storage, max_age_seconds=7 * 86400, max_bytes=None, now=now + 3600)
    assert kept.deleted_files == 0 and kept.kept_bytes == 310

    by_size = enforce_retention(storage, max_age_seconds=7 * 86400, max_bytes=150, now=now + 3600)
    assert by_size.deleted_files == 2 and by_size.kept_bytes == 110
    assert sorted(f.ref.rsplit("/", 1)[-1] for f in storage.list_media()) == ["chunk_00002.ts", "evt_1.jpg"]

    by_age = enforce_retention(storage, max_age_seconds=7 * 86400, max_bytes=None, now=now + 8 * 86400)
    assert by_age.deleted_files == 2 and storage.list_media() == []
    assert storage.exists("ses_a/notes.txt")  # only recordings and frames are retention's


def test_s3_keys_sit_under_the_prefix(s3: S3Server, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", storage_url=f"s3://{s3.bucket}/deploy/one/", storage_endpoint_url=s3.endpoint_url
    )
    storage = open_storage(settings)
    assert isinstance(storage, S3Storage)
    ref = storage.put_bytes("job_x/evidence/evt_1.jpg", b"\xff\xd8")
    assert ref == "job_x/evidence/evt_1.jpg"
    assert s3.keys() == ["deploy/one/job_x/evidence/evt_1.jpg"]
    storage.close()


def test_unknown_storage_url_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a storage"):
        open_storage(Settings(data_dir=tmp_path, storage_url="ftp://example.org/x"))


def test_local_paths_under_a_relative_data_dir_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the database held before the seam (the path as written) still names the file."""
    monkeypatch.chdir(tmp_path)
    storage = LocalStorage(Path("data") / "recordings")
    ref = storage.put_bytes("ses_a/evidence/evt_1.jpg", b"\xff\xd8")
    assert ref == str(Path("data/recordings/ses_a/evidence/evt_1.jpg"))
    assert storage.exists(ref) and storage.exists("ses_a/evidence/evt_1.jpg") and storage.read_bytes(ref) == b"\xff\xd8"
