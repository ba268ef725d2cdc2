"""``livesight demo`` and ``watch`` as a user runs them: which judge, what they say, what the gate saves."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from livesight.testing.scene import SceneSpec, cached_scene


def run_cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livesight", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """Nothing configured: no model endpoint, no CLIP directory, an empty model cache."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESIGHT_", "OPENAI_", "HF_"))}
    clean.update(
        LIVESIGHT_DATA_DIR=str(tmp_path / "data"),
        LIVESIGHT_CLIP_CACHE_DIR=str(tmp_path / "empty-cache"),
        LIVESIGHT_OPEN_TIMEOUT_SECONDS="5",
        HF_HUB_OFFLINE="1",
    )
    return clean


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_with_weights_present_judges_with_local_clip(bare_env: dict[str, str], tiny_clip_dir: Path) -> None:
    env = {**bare_env, "LIVESIGHT_CLIP_MODEL_DIR": str(tiny_clip_dir)}
    result = run_cli("demo", "--speed", "8", env=env)
    assert result.returncode == 0, result.stderr
    assert "judging with local CLIP" in result.stdout
    assert "built-in test model" not in result.stdout
    final = result.stdout.strip().splitlines()[-1]
    assert final.startswith("cancelled: ") or final.startswith("source_ended: ")  # the stream ran to its end
    assert re.search(r"\d+ checks · \d+ skipped \(unchanged\) · 0 model calls", final), final


@pytest.mark.usefixtures("clip_runtime")
def test_demo_offline_without_weights_says_what_to_do_once(bare_env: dict[str, str]) -> None:
    env = {k: v for k, v in bare_env.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"  # no network
    result = run_cli("demo", "--speed", "8", env=env)
    assert result.returncode == 0, result.stderr
    advice = [line for line in result.stdout.splitlines() if "local CLIP" in line]
    assert len(advice) == 1, result.stdout
    for needle in ("python -m livesight.judges.clip_download", "LIVESIGHT_CLIP_MODEL_DIR", "LIVESIGHT_MODEL_BASE_URL"):
        assert needle in advice[0]
    assert "built-in test model" in advice[0]
    # …and the demo still runs end to end on the test model: both squares are reported.
    assert len([line for line in result.stdout.splitlines() if line.startswith("● ")]) == 2, result.stdout


def test_watch_no_prefilter_asks_the_model_every_time(tmp_path: Path, vlm_env: dict[str, str]) -> None:
    path = str(cached_scene(SceneSpec(duration=30.0, events=((12.0, 16.0),)), "mp4"))
    args = ("watch", path, "is there a red square?", "--fast", "--interval", "1", "--json")
    gated = run_cli(*args, env=vlm_env)
    fixed = run_cli(*args, "--no-prefilter", env={**vlm_env, "LIVESIGHT_DATA_DIR": str(tmp_path / "other")})
    assert gated.returncode == fixed.returncode == 0, gated.stderr + fixed.stderr
    assert len(gated.stdout.splitlines()) == len(fixed.stdout.splitlines()) == 1  # the one appearance

    def calls(stderr: str) -> tuple[int, int]:
        match = re.search(r"(\d+) skipped \(unchanged\) · (\d+) model calls", stderr)
        assert match is not None, stderr
        return int(match.group(1)), int(match.group(2))

    assert calls(fixed.stderr) == (0, 30)
    skipped, model_calls = calls(gated.stderr)
    assert skipped + model_calls == 30 and model_calls <= 4


@pytest.fixture
def vlm_env(bare_env: dict[str, str], vlm: object) -> dict[str, str]:
    return {**bare_env, "LIVESIGHT_MODEL_BASE_URL": vlm.base_url, "LIVESIGHT_MODEL": "livesight-test-vlm"}  # type: ignore[attr-defined]
