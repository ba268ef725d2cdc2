"""Webhook tests: the store fixtures of ``tests/store`` (SQLite, and PostgreSQL when configured) and a real
HTTP receiver on uvicorn whose answers each test scripts."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from webhook_helpers import Receiver, receiver_app

from livesight.testing import ServerThread


def _store_conftest() -> ModuleType:
    # Loaded by path: `tests` is not a package, and `import tests.store.conftest` only works under `python -m pytest`.
    path = Path(__file__).resolve().parent.parent / "store" / "conftest.py"
    spec = importlib.util.spec_from_file_location("livesight_tests_store_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_store = _store_conftest()
postgres_url = _store.postgres_url
database_url = _store.database_url
store = _store.store


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, ServerThread]]:
    """A receiver at ``<base_url>/hook``; hanging requests are released at teardown."""
    state = Receiver()
    server = ServerThread(receiver_app(state), graceful_timeout=0.5)
    server.start()
    try:
        yield state, server
    finally:
        state.release.set()
        server.stop()
