"""Shared fixtures for the tests of ``livesight.testing``: generated scenes (cached), a manual clock, the test VLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from livesight.testing import ManualClock, SceneSpec, VLMTestServer, cached_scene

# A short scene keeps live-streaming tests quick: 12 s, square during [4, 6).
SHORT_SPEC = SceneSpec(duration=12.0, events=((4.0, 6.0),))


@pytest.fixture(scope="session")
def default_hls() -> Path:
    return cached_scene(SceneSpec(), "hls")


@pytest.fixture(scope="session")
def short_spec() -> SceneSpec:
    return SHORT_SPEC


@pytest.fixture(scope="session")
def short_hls() -> Path:
    return cached_scene(SHORT_SPEC, "hls")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vlm() -> Iterator[VLMTestServer]:
    with VLMTestServer() as server:
        yield server
