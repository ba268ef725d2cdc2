"""Fixtures shared across the suite: settings in a temporary data dir and the test VLM server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from livesight.settings import Settings
from livesight.testing.vlm_server import VLMTestServer


@pytest.fixture(scope="session")
def vlm() -> Iterator[VLMTestServer]:
    """The project's OpenAI-compatible test model, judging the pixels it is sent."""
    server = VLMTestServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path, vlm: VLMTestServer) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        model_base_url=vlm.base_url,
        model_api_key=None,
        model="livesight-test-vlm",
        open_timeout_seconds=5,
        read_timeout_seconds=5,
        give_up_after_seconds=30,
        reconnect_initial_seconds=0.2,
        reconnect_max_seconds=2,
    )
