"""The OpenAI-compatible judge against real HTTP servers: the pixel-reading test VLM and a scripted endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import httpx
import pytest
from judge_helpers import (
    API_KEY,
    BLUE,
    RED,
    JudgeFactory,
    Reply,
    ScriptedModel,
    SleepRecorder,
    completion,
    image,
    sample,
)

from livesight.judges import (
    Judge,
    JudgeAuthError,
    JudgeBadResponse,
    JudgeRateLimited,
    JudgeRefused,
    JudgeRequestRejected,
    JudgeTimeout,
    JudgeUnavailable,
    OpenAICompatibleJudge,
    check_rules,
)
from livesight.retry import RetryPolicy
from livesight.testing.vlm_server import VLMTestServer
from livesight.types import Sample

VERDICT_JSON = json.dumps({"match": True, "confidence": 0.9, "explanation": "a red square"})


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    user = next(m for m in body["messages"] if m["role"] == "user")
    parts: list[dict[str, Any]] = user["content"]
    return parts


# ------------------------------------------------------------------------------------------- the test VLM


async def test_check_answers_from_the_pixels(vlm: VLMTestServer, make_judge: JudgeFactory) -> None:
    judge = make_judge(vlm.base_url)
    assert isinstance(judge, Judge)
    seen = await judge.check("Is a red square visible?", sample(image(30.0), image(30.5, RED), image(31.25)))
    assert seen.match is True
    # The VLM names the frames it saw the colour in, with the times our labels gave it.
    assert "frame 2 (t=0.50s)" in seen.explanation
    unseen = await judge.check("Is a red square visible?", sample(image(30.0), image(30.5)))
    assert unseen.match is False
    assert vlm.stats()["recent"][0]["frame_times"] == [0.0, 0.5, 1.25]


async def test_review_times_are_relative_to_the_chunk(vlm: VLMTestServer, make_judge: JudgeFactory) -> None:
    judge = make_judge(vlm.base_url)
    frames = [image(20.0), image(22.0, RED), image(24.0, RED), image(26.0), image(28.0)]
    review = await judge.review("When is a red object visible?", frames, chunk_start=20.0, chunk_duration=10.0)
    assert vlm.stats()["recent"][0]["frame_times"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    (event,) = review.events
    assert (event.start, event.end) == (2.0, 4.0)
    assert "red" in event.label
    assert event.severity in ("low", "medium", "high")
    assert review.usage.images_sent == 5


async def test_fenced_answer_is_read(vlm: VLMTestServer, make_judge: JudgeFactory) -> None:
    vlm.add_faults({"kind": "fenced"})
    verdict = await make_judge(vlm.base_url).check("red?", sample(image(0.0, RED)))
    assert verdict.match is True
    assert verdict.usage.model_calls == 1


async def test_malformed_answer_is_repaired_once(vlm: VLMTestServer, make_judge: JudgeFactory) -> None:
    vlm.add_faults({"kind": "malformed"})
    verdict = await make_judge(vlm.base_url).check("red?", sample(image(0.0, RED)))
    assert verdict.match is True
    assert verdict.usage.model_calls == 2
    assert vlm.stats()["faults_applied"] == {"malformed": 1}


async def test_answer_still_malformed_after_repair_is_a_bad_response(
    vlm: VLMTestServer, make_judge: JudgeFactory
) -> None:
    vlm.add_faults({"kind": "malformed", "count": 5})
    with pytest.raises(JudgeBadResponse) as info:
        await make_judge(vlm.base_url).check("red?", sample(image(0.0, RED)))
    assert info.value.code == "JUDGE_BAD_RESPONSE"
    assert info.value.usage.model_calls == 2  # the answer and one repair, no more
    assert vlm.stats()["chat_completions"] == 2


async def test_rate_limit_honours_retry_after(
    vlm: VLMTestServer, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    vlm.add_faults({"kind": "status", "status": 429, "retry_after": 7})
    verdict = await make_judge(vlm.base_url).check("red?", sample(image(0.0, RED)))
    assert verdict.match is True
    assert sleeps.delays == [7.0]
    assert verdict.usage.model_calls == 2


async def test_rate_limit_that_persists(vlm: VLMTestServer, make_judge: JudgeFactory, sleeps: SleepRecorder) -> None:
    vlm.add_faults({"kind": "status", "status": 429, "retry_after": 3, "count": 10})
    with pytest.raises(JudgeRateLimited) as info:
        await make_judge(vlm.base_url).check("red?", sample(image(0.0)))
    assert info.value.retry_after == 3.0
    assert sleeps.delays == [3.0, 3.0, 3.0]
    assert vlm.stats()["chat_completions"] == 4


async def test_server_errors_are_retried_with_backoff(
    vlm: VLMTestServer, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    vlm.add_faults({"kind": "status", "status": 502, "count": 2})
    verdict = await make_judge(vlm.base_url).check("red?", sample(image(0.0, RED)))
    assert verdict.match is True
    assert sleeps.delays == [0.5, 1.0]
    assert verdict.usage.model_calls == 3


async def test_server_errors_give_up_as_unavailable(
    vlm: VLMTestServer, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    vlm.add_faults({"kind": "status", "status": 503, "count": 10})
    with pytest.raises(JudgeUnavailable) as info:
        await make_judge(vlm.base_url).check("red?", sample(image(0.0)))
    assert info.value.status_code == 503
    assert info.value.usage.model_calls == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert vlm.stats()["chat_completions"] == 4


async def test_wrong_key_is_an_auth_error_without_retry(
    vlm: VLMTestServer, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    wrong = "sk-wrong-key-0123456789"
    with pytest.raises(JudgeAuthError) as info:
        await make_judge(vlm.base_url, api_key=wrong).check("red?", sample(image(0.0)))
    assert info.value.status_code == 401
    assert info.value.code == "JUDGE_AUTH_FAILED"
    assert "LIVESIGHT_MODEL_API_KEY" in info.value.remediation
    assert wrong not in str(info.value)
    assert sleeps.delays == []
    assert vlm.stats()["chat_completions"] == 1


async def test_refusal_field_is_judge_refused(vlm: VLMTestServer, make_judge: JudgeFactory) -> None:
    vlm.add_faults({"kind": "refusal"})
    with pytest.raises(JudgeRefused) as info:
        await make_judge(vlm.base_url).check("red?", sample(image(0.0)))
    assert "can't help" in str(info.value)
    assert vlm.stats()["chat_completions"] == 1  # a refusal is not repaired or retried


async def test_slow_model_is_a_timeout(vlm: VLMTestServer, make_judge: JudgeFactory, sleeps: SleepRecorder) -> None:
    vlm.add_faults({"kind": "delay", "seconds": 1.0, "count": 2})
    judge = make_judge(vlm.base_url, timeout=0.1, retry=RetryPolicy(initial=0.5, jitter=0.0, max_attempts=2))
    with pytest.raises(JudgeTimeout) as info:
        await judge.check("red?", sample(image(0.0)))
    assert info.value.code == "JUDGE_TIMEOUT"
    assert info.value.usage.model_calls == 2  # timeouts are retried
    assert sleeps.delays == [0.5]


async def test_usage_counts_tokens_images_and_calls(vlm: VLMTestServer, make_judge: JudgeFactory) -> None:
    verdict = await make_judge(vlm.base_url).check("red?", sample(image(0.0), image(1.0), image(2.0, RED)))
    usage = verdict.usage
    assert (usage.model_calls, usage.images_sent) == (1, 3)
    assert usage.input_tokens > 3 * 85  # the VLM bills 85 tokens an image plus the text
    assert usage.output_tokens > 0
    assert usage.latency_seconds >= 0.0


# ------------------------------------------------------------------------------------------- scripted server


async def test_request_shape(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion(VERDICT_JSON))
    frames = [image(10.0), image(10.5, RED), image(11.25)]
    judge = make_judge(scripted.base_url, model="vision-model")
    await judge.check("Is the door open?", sample(*frames))

    (request,) = scripted.requests
    body = request.body
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert body["model"] == "vision-model"
    assert body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "JSON" in body["messages"][0]["content"]

    parts = user_parts(body)
    assert parts[0]["type"] == "text" and "Condition: Is the door open?" in parts[0]["text"]
    assert parts[-1]["type"] == "text" and "JSON" in parts[-1]["text"]
    framed = parts[1:-1]
    assert [p["type"] for p in framed] == ["text", "image_url"] * 3
    assert [p["text"] for p in framed[0::2]] == ["Frame 1 at t=0.00s", "Frame 2 at t=0.50s", "Frame 3 at t=1.25s"]
    for part, frame in zip(framed[1::2], frames, strict=True):
        url = part["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        assert base64.b64decode(url.removeprefix("data:image/jpeg;base64,")) == frame.jpeg
        assert part["image_url"]["detail"] == "low"

    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "livesight_verdict"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["match", "confidence", "explanation"]
    assert schema["properties"]["match"]["type"] == "boolean"
    assert schema["additionalProperties"] is False


async def test_review_request_shape(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion('{"events": [], "summary": "quiet"}'))
    judge = make_judge(scripted.base_url, image_detail="auto")
    review = await judge.review("Anything unusual?", [image(40.0), image(45.0)], chunk_start=40.0, chunk_duration=10.0)
    assert review.events == ()
    assert review.summary == "quiet"
    body = scripted.requests[0].body
    parts = user_parts(body)
    assert "Query: Anything unusual?" in parts[0]["text"]
    assert [p["text"] for p in parts[1:-1:2]] == ["Frame 1 at t=0.00s", "Frame 2 at t=5.00s"]
    assert parts[2]["image_url"]["detail"] == "auto"
    fmt = body["response_format"]["json_schema"]
    assert fmt["name"] == "livesight_review"
    item = fmt["schema"]["properties"]["events"]["items"]
    assert set(item["required"]) == {"label", "description", "start", "end", "severity", "confidence"}
    assert item["properties"]["severity"]["enum"] == ["low", "medium", "high"]
    assert fmt["schema"]["required"] == ["events", "summary"]


async def test_review_times_are_clamped_to_the_chunk(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    answer = {
        "events": [
            {"label": "early", "description": "d", "start": -4, "end": 3, "severity": "low", "confidence": 0.5},
            {"label": "late", "description": "d", "start": 8.5, "end": 42, "severity": "high", "confidence": 0.9},
            {"label": "mmss", "description": "d", "start": "00:06", "end": "00:07.5", "severity": "x", "confidence": 1},
        ],
        "summary": "three",
    }
    scripted.push(completion(json.dumps(answer)))
    judge = make_judge(scripted.base_url)
    review = await judge.review("q", [image(100.0), image(105.0)], chunk_start=100.0, chunk_duration=10.0)
    assert [(e.label, e.start, e.end) for e in review.events] == [
        ("early", 0.0, 3.0),
        ("late", 8.5, 10.0),
        ("mmss", 6.0, 7.5),
    ]
    assert review.events[2].severity == "medium"


@pytest.mark.parametrize(
    ("content", "match", "confidence"),
    [
        ("```json\n" + VERDICT_JSON + "\n```", True, 0.9),
        ("{'match': False, 'confidence': 70, 'explanation': 'nothing red',}", False, 0.7),
        ("**Yes**, there is a red square in frame 2.", True, 0.6),
        ("No.", False, 0.6),
    ],
)
async def test_tolerant_answers(
    scripted: ScriptedModel, make_judge: JudgeFactory, content: str, match: bool, confidence: float
) -> None:
    scripted.push(completion(content))
    verdict = await make_judge(scripted.base_url).check("red?", sample(image(0.0)))
    assert (verdict.match, verdict.confidence) == (match, pytest.approx(confidence))
    assert len(scripted.requests) == 1  # no repair needed


async def test_repair_retry_sends_the_bad_answer_back(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion("Hmm, hard to say from these pictures."), completion(VERDICT_JSON))
    verdict = await make_judge(scripted.base_url).check("red?", sample(image(0.0), image(1.0)))
    assert verdict.match is True
    assert verdict.usage.model_calls == 2
    assert verdict.usage.images_sent == 4  # the repair call carries the conversation, images included
    first, second = (r.body for r in scripted.requests)
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2] == {"role": "assistant", "content": "Hmm, hard to say from these pictures."}
    assert second["messages"][3]["role"] == "user"
    assert "only the JSON" in second["messages"][3]["content"]
    assert len(second["messages"]) == 4


async def test_refusal_text_is_judge_refused(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion("I'm sorry, but I can't help with that."))
    with pytest.raises(JudgeRefused):
        await make_judge(scripted.base_url).check("who is this person?", sample(image(0.0)))
    assert len(scripted.requests) == 1


async def test_content_filter_is_judge_refused(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion(None, finish_reason="content_filter"))
    with pytest.raises(JudgeRefused):
        await make_judge(scripted.base_url).check("q", sample(image(0.0)))


def _reject_format(body: dict[str, Any], headers: dict[str, str]) -> Reply:
    fmt = body.get("response_format")
    if fmt is None:
        return completion("Yes. I see red.")
    message = f"response_format type '{fmt['type']}' is not supported by this server"
    return Reply(400, {"error": {"message": message, "type": "invalid_request_error"}})


async def test_response_format_fallback_is_remembered(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(_reject_format, _reject_format, _reject_format, _reject_format)
    judge = make_judge(scripted.base_url)
    assert judge.response_format_mode == "json_schema"
    verdict = await judge.check("red?", sample(image(0.0)))
    assert verdict.match is True
    assert verdict.usage.model_calls == 3
    sent = [(r.body.get("response_format") or {}).get("type") for r in scripted.requests]
    assert sent == ["json_schema", "json_object", None]
    assert judge.response_format_mode == "none"

    await judge.check("red?", sample(image(0.0)))
    assert "response_format" not in scripted.requests[-1].body  # remembered: straight to plain requests
    assert len(scripted.requests) == 4


async def test_json_object_is_used_when_schema_is_unsupported(
    scripted: ScriptedModel, make_judge: JudgeFactory
) -> None:
    scripted.push(completion(VERDICT_JSON))
    judge = make_judge(scripted.base_url, supports_json_schema=False)
    await judge.check("red?", sample(image(0.0)))
    assert scripted.requests[0].body["response_format"] == {"type": "json_object"}


async def test_rejected_temperature_is_dropped(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    unsupported = Reply(400, {"error": {"message": "Unsupported value: 'temperature' does not support 0"}})
    scripted.push(unsupported, completion(VERDICT_JSON), completion(VERDICT_JSON))
    judge = make_judge(scripted.base_url)
    await judge.check("red?", sample(image(0.0)))
    await judge.check("red?", sample(image(0.0)))
    assert ["temperature" in r.body for r in scripted.requests] == [True, False, False]


async def test_other_bad_requests_are_not_retried(
    scripted: ScriptedModel, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    scripted.push(Reply(400, {"error": {"message": "Invalid image data"}}))
    with pytest.raises(JudgeRequestRejected) as info:
        await make_judge(scripted.base_url).check("q", sample(image(0.0)))
    assert "Invalid image data" in str(info.value)
    assert info.value.status_code == 400
    assert len(scripted.requests) == 1
    assert sleeps.delays == []


async def test_forbidden_is_an_auth_error(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(Reply(403, {"error": {"message": "model access denied"}}))
    with pytest.raises(JudgeAuthError):
        await make_judge(scripted.base_url).check("q", sample(image(0.0)))
    assert len(scripted.requests) == 1


async def test_api_key_never_appears_in_errors_or_logs(
    scripted: ScriptedModel, make_judge: JudgeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def echo(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        return Reply(500, {"error": {"message": f"upstream said no to {headers['authorization']} ({API_KEY})"}})

    scripted.push(echo, echo, echo, echo)
    caplog.set_level(logging.DEBUG, logger="livesight")
    with pytest.raises(JudgeUnavailable) as info:
        await make_judge(scripted.base_url).check("q", sample(image(0.0)))
    assert "upstream said no" in str(info.value)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value.args)
    assert "upstream said no" in caplog.text  # the retries were logged …
    assert API_KEY not in caplog.text  # … without the key


async def test_error_in_a_200_body_is_mapped(
    scripted: ScriptedModel, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    # OpenRouter reports upstream failures as HTTP 200 with an error object.
    scripted.push(Reply(200, {"error": {"code": 502, "message": "provider down"}}), completion(VERDICT_JSON))
    verdict = await make_judge(scripted.base_url).check("q", sample(image(0.0)))
    assert verdict.match is True
    assert sleeps.delays == [0.5]


async def test_non_json_body_is_a_bad_response(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(Reply(200, "<html>proxy login</html>"))
    with pytest.raises(JudgeBadResponse):
        await make_judge(scripted.base_url).check("q", sample(image(0.0)))
    assert len(scripted.requests) == 1


async def test_usage_is_summed_over_calls(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(
        completion("not sure", usage={"prompt_tokens": 100, "completion_tokens": 7}),
        completion(VERDICT_JSON, usage={"prompt_tokens": 120, "completion_tokens": 20}),
    )
    verdict = await make_judge(scripted.base_url).check("q", sample(image(0.0), image(1.0), image(2.0)))
    usage = verdict.usage
    assert (usage.model_calls, usage.images_sent, usage.input_tokens, usage.output_tokens) == (2, 6, 220, 27)


async def test_no_api_key_sends_no_authorization(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion(VERDICT_JSON))
    await make_judge(scripted.base_url, api_key=None, extra_headers={"X-Title": "LiveSight"}).check(
        "q", sample(image(0.0))
    )
    headers = scripted.requests[0].headers
    assert "authorization" not in headers
    assert headers["x-title"] == "LiveSight"


async def test_connection_refused_is_unavailable(
    closed_port: int, make_judge: JudgeFactory, sleeps: SleepRecorder
) -> None:
    with pytest.raises(JudgeUnavailable) as info:
        await make_judge(f"http://127.0.0.1:{closed_port}/v1").check("q", sample(image(0.0)))
    assert "could not reach" in str(info.value)
    assert info.value.usage.model_calls == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_shared_client_is_left_open(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    scripted.push(completion(VERDICT_JSON))
    async with httpx.AsyncClient() as client:
        judge = make_judge(scripted.base_url, http_client=client)
        await judge.check("q", sample(image(0.0)))
        await judge.aclose()
        assert not client.is_closed


async def test_empty_sample_is_a_programming_error(scripted: ScriptedModel, make_judge: JudgeFactory) -> None:
    judge = make_judge(scripted.base_url)
    with pytest.raises(ValueError):
        await judge.check("q", Sample(session_time=0.0, pts_time=0.0, images=()))
    with pytest.raises(ValueError):
        await judge.review("q", [], chunk_start=0.0, chunk_duration=10.0)
    assert scripted.requests == []


async def test_repr_hides_credentials() -> None:
    async with OpenAICompatibleJudge("https://user:pw@example.com/v1?key=abc", API_KEY, "m") as judge:
        shown = repr(judge)
    assert "example.com/v1" in shown
    assert API_KEY not in shown
    assert "pw" not in shown and "key=abc" not in shown


async def test_concurrent_rejections_step_down_one_mode_at_a_time(
    scripted: ScriptedModel, make_judge: JudgeFactory
) -> None:
    def schema_rejected(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return Reply(400, {"error": {"message": "json_schema is not supported"}})
        return completion(VERDICT_JSON)

    scripted.push(*[schema_rejected] * 4)
    judge = make_judge(scripted.base_url)
    await asyncio.gather(judge.check("a", sample(image(0.0))), judge.check("b", sample(image(0.0))))
    # Both first requests were refused json_schema; neither skipped json_object because of the other.
    assert judge.response_format_mode == "json_object"
    sent = sorted(str((r.body.get("response_format") or {}).get("type")) for r in scripted.requests)
    assert sent == ["json_object", "json_object", "json_schema", "json_schema"]


# ------------------------------------------------------------------------------------------- several rules


async def test_several_rules_are_one_request_each_answered_on_its_own(
    vlm: VLMTestServer, make_judge: JudgeFactory
) -> None:
    judge = make_judge(vlm.base_url)
    rules = [("red", "Is a red square visible?"), ("blue", "Is a blue square visible?")]
    answer = await check_rules(judge, rules, sample(image(30.0), image(30.5, RED)))
    assert answer.usage.model_calls == 1 and vlm.stats()["requests"] == 1
    assert answer.verdicts["red"].match is True and answer.verdicts["blue"].match is False
    assert "frame 2 (t=0.50s)" in answer.verdicts["red"].explanation
    both = await check_rules(judge, rules, sample(image(31.0, RED), image(31.5, BLUE)))
    assert both.verdicts["red"].match and both.verdicts["blue"].match
    assert vlm.stats()["recent"][-1]["kind"] == "rules"


async def test_a_judge_without_several_rules_at_once_asks_each_rule(vlm: VLMTestServer) -> None:
    from test_video import gemini

    judge = gemini(vlm)
    try:
        rules = [("red", "Is a red square visible?"), ("blue", "Is a blue square visible?")]
        answer = await check_rules(judge, rules, sample(image(30.0, BLUE)))
    finally:
        await judge.aclose()
    assert answer.usage.model_calls == 2  # one call per rule, added up
    assert answer.verdicts["blue"].match and not answer.verdicts["red"].match
