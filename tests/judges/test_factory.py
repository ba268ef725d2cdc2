from __future__ import annotations

import pytest
from judge_helpers import API_KEY, RED, image, sample

from livesight.errors import LiveSightError
from livesight.judges import (
    DEFAULT_OPENAI_BASE_URL,
    TRANSIENT_ERRORS,
    JudgeAuthError,
    JudgeBadResponse,
    JudgeError,
    JudgeNotConfigured,
    JudgeParseError,
    JudgeRateLimited,
    JudgeRefused,
    JudgeRequestRejected,
    JudgeTimeout,
    JudgeUnavailable,
    OpenAICompatibleJudge,
    build_judge,
)
from livesight.settings import Settings
from livesight.testing.vlm_server import VLMTestServer

_ENV = ("LIVESIGHT_MODEL_BASE_URL", "LIVESIGHT_MODEL_API_KEY", "LIVESIGHT_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


async def test_key_alone_means_openai() -> None:
    judge = build_judge(Settings(model_api_key="sk-abc", model="gpt-4o-mini"))
    try:
        assert isinstance(judge, OpenAICompatibleJudge)
        assert judge.base_url == DEFAULT_OPENAI_BASE_URL
        assert judge.name == "openai-compatible:gpt-4o-mini"
    finally:
        await judge.aclose()


async def test_openai_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1/")
    monkeypatch.setenv("LIVESIGHT_MODEL", "llava")
    judge = build_judge(Settings())
    try:
        assert isinstance(judge, OpenAICompatibleJudge)
        assert judge.base_url == "http://localhost:11434/v1"
        assert judge.model == "llava"
    finally:
        await judge.aclose()


def test_nothing_configured_says_what_to_set() -> None:
    with pytest.raises(JudgeNotConfigured) as info:
        build_judge(Settings())
    error = info.value
    assert error.code == "JUDGE_NOT_CONFIGURED"
    for name in ("LIVESIGHT_MODEL_BASE_URL", "LIVESIGHT_MODEL_API_KEY", "LIVESIGHT_MODEL"):
        assert name in error.remediation
        assert name in str(error)
    assert "OPENAI_BASE_URL" in error.remediation and "OPENAI_API_KEY" in error.remediation


async def test_built_judge_works_end_to_end(monkeypatch: pytest.MonkeyPatch, vlm: VLMTestServer) -> None:
    monkeypatch.setenv("LIVESIGHT_MODEL_BASE_URL", vlm.base_url)
    monkeypatch.setenv("LIVESIGHT_MODEL_API_KEY", API_KEY)
    monkeypatch.setenv("LIVESIGHT_MODEL", "livesight-test-vlm")
    judge = build_judge(Settings(model_max_retries=0))
    try:
        verdict = await judge.check("Is something red visible?", sample(image(5.0, RED)))
    finally:
        await judge.aclose()
    assert verdict.match is True
    assert verdict.usage.model_calls == 1


def test_error_tree() -> None:
    leaves = [
        JudgeTimeout,
        JudgeRefused,
        JudgeAuthError,
        JudgeRateLimited,
        JudgeUnavailable,
        JudgeBadResponse,
        JudgeNotConfigured,
        JudgeRequestRejected,
    ]
    codes = set()
    for cls in leaves:
        assert issubclass(cls, JudgeError) and issubclass(cls, LiveSightError)
        assert cls.remediation, cls
        codes.add(cls.code)
    assert len(codes) == len(leaves)  # each says something different to the API
    assert issubclass(JudgeParseError, JudgeBadResponse)
    assert set(TRANSIENT_ERRORS) == {JudgeTimeout, JudgeRateLimited, JudgeUnavailable}
    limited = JudgeRateLimited("slow down", retry_after=2.5)
    assert (limited.retry_after, limited.status_code, limited.usage.model_calls) == (2.5, 429, 0)
