"""The test VLM's Gemini face: ``generateContent`` requests read as chat messages, answers in Gemini's shape.

Gemini's native API carries images and videos as ``inlineData`` parts and asks for structured output with
``generationConfig.responseSchema``; the pixels are judged by the same code as chat completions.
"""

from __future__ import annotations

import time
from typing import Any

from livesight.testing._vlm_answer import REVIEW_SCHEMA_NAME, VERDICT_SCHEMA_NAME, ChatRequestError, output_kind

_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}


def gemini_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's system instruction and contents as OpenAI-style chat messages."""
    messages: list[dict[str, Any]] = []
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        texts = [p.get("text", "") for p in system.get("parts", []) if isinstance(p, dict)]
        messages.append({"role": "system", "content": " ".join(str(t) for t in texts)})
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ChatRequestError("'contents' must be a non-empty list")
    for content in contents:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise ChatRequestError("each content needs 'parts'")
        parts: list[dict[str, Any]] = []
        for part in content["parts"]:
            if not isinstance(part, dict):
                raise ChatRequestError("a part must be an object")
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif isinstance(inline, dict):
                mime = str(inline.get("mimeType") or inline.get("mime_type") or "")
                url = f"data:{mime};base64,{inline.get('data', '')}"
                if mime.startswith("video/"):
                    parts.append({"type": "video_url", "video_url": {"url": url}})
                elif mime.startswith("image/"):
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    raise ChatRequestError(f"unsupported inlineData mimeType {mime!r}")
            else:
                raise ChatRequestError(f"unsupported part {sorted(part)}")
        role = "assistant" if content.get("role") == "model" else "user"
        messages.append({"role": role, "content": parts})
    return messages


def gemini_output_kind(config: Any) -> tuple[str, dict[str, Any] | None]:
    """``verdict``/``review``/``text`` from ``generationConfig``, via the chat code's ``response_format`` reading."""
    if not isinstance(config, dict) or config.get("responseMimeType") != "application/json":
        return output_kind(None)
    schema = config.get("responseSchema")
    if not isinstance(schema, dict):
        return output_kind({"type": "json_object"})
    required = set(schema.get("required", []))
    name = REVIEW_SCHEMA_NAME if "events" in required else VERDICT_SCHEMA_NAME
    return output_kind({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})


def gemini_answer(model: str, text: str | None, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
    """A ``generateContent`` answer; ``text=None`` is a blocked answer (finishReason ``SAFETY``)."""
    candidate: dict[str, Any] = {"index": 0, "finishReason": "STOP" if text is not None else "SAFETY"}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        },
        "modelVersion": model,
        "responseId": f"test-{time.monotonic_ns()}",
    }


def gemini_error(status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
    """Google's error shape; a 429 carries its wait in a ``RetryInfo`` detail, as Gemini does."""
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "INTERNAL")}
    if retry_after is not None:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}]
    return {"error": error}
