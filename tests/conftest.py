"""Fixtures shared across the suite: settings in a temporary data dir and the test VLM server."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from livesight.settings import Settings
from livesight.testing.vlm_server import VLMTestServer

# Model weights are never downloaded during tests (SPEC §5): local CLIP finds no hub, here and in the
# CLI subprocesses that inherit this environment, and an empty cache, so weights a developer has cached
# do not change what "nothing configured" means. Tests of those paths point them elsewhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_CACHE", os.path.join(tempfile.gettempdir(), "livesight-tests-empty-hf-cache"))


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


@pytest.fixture
def clip_runtime() -> None:
    """Skips the test, saying what to install, unless the ``clip`` extra (ONNX Runtime…) is installed: without
    it, local CLIP answers "install livesight[clip]" before anything the test is about."""
    from livesight.judges.clip_weights import clip_runtime_missing

    missing = clip_runtime_missing()
    if missing is not None:
        pytest.skip(f"needs '{missing}' from the clip extra: pip install -e '.[clip]'")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, randomly initialised CLIP exported to ONNX (int8 and fp32) in the hub's layout: no download.

    Building it needs torch, transformers and onnx (``.ci/run`` installs them); without them the tests that
    use it are skipped, saying what is missing.
    """
    from livesight.testing.tiny_clip import build_tiny_clip, tiny_clip_missing

    missing = tiny_clip_missing()
    if missing is not None:
        pytest.skip(f"local CLIP tests need '{missing}': pip install torch==2.13.0 transformers onnx 'livesight[clip]'")
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"), quantized=True)
