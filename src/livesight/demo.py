"""``livesight demo``: a synthetic live stream on 127.0.0.1, watched end to end.

The scene is generated with PyAV: a dark picture in which a red square is visible from 20 s to 28 s
and from 50 s to 58 s. With no model server configured, the demo uses local CLIP when its weights are
in the cache or ``LIVESIGHT_CLIP_MODEL_DIR`` (downloading them first when the hub is reachable); failing
that, it says in one message what to do and uses the project's test model server, which looks at the
pixels it is sent (it recognises coloured squares and nothing else), so the whole pipeline — live HLS,
decoding, chunking, sampling, judging, events, the store — runs offline.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from livesight.judges import ClipJudge, Judge, JudgeNotConfigured, OpenAICompatibleJudge, build_judge
from livesight.pipeline.watch import WatchOptions, watch_source
from livesight.rules import TriggerRule
from livesight.settings import Settings

if TYPE_CHECKING:
    from livesight.cli import TriggerPrinter

CONDITION = "is there a red square?"

NOT_CONFIGURED = (
    "No vision model is configured, so the demo uses LiveSight's built-in test model (it only recognises "
    "coloured squares). To use a real model set LIVESIGHT_MODEL_BASE_URL (e.g. https://api.openai.com/v1, "
    "http://localhost:11434/v1 for Ollama), LIVESIGHT_MODEL_API_KEY and LIVESIGHT_MODEL, then run "
    "`livesight demo --judge model`."
)


def fallback_message(exc: JudgeNotConfigured) -> str:
    """The one message printed when neither a model server nor local CLIP can judge the demo."""
    if exc.message == JudgeNotConfigured().message:
        return NOT_CONFIGURED
    return (
        f"No model server is configured and local CLIP cannot run: {exc.message} To fix it: {exc.remediation} "
        "Meanwhile the demo uses LiveSight's built-in test model (it only recognises coloured squares)."
    )


async def run_demo(settings: Settings, printer: TriggerPrinter, *, judge: str, speed: float, interval: float) -> int:
    from livesight.testing.hls_server import LiveHLSServer
    from livesight.testing.scene import SceneSpec
    from livesight.testing.vlm_server import VLMTestServer

    spec = SceneSpec()
    printer.info("generating the synthetic scene (90 s, a red square at 00:20–00:28 and 00:50–00:58)…")
    stream = LiveHLSServer(spec=spec, speed=speed, end_list=True)
    test_model: VLMTestServer | None = None
    chosen: Judge
    try:
        # With no model server, local CLIP from the cache (or downloaded now, with a progress bar).
        chosen = await asyncio.to_thread(build_judge, settings, download=True) if judge != "test" else _not_configured()
    except JudgeNotConfigured as exc:
        if judge == "model":
            raise
        if judge == "auto":
            printer.info(fallback_message(exc))
        test_model = VLMTestServer().start()
        chosen = OpenAICompatibleJudge(base_url=test_model.base_url, api_key=None, model="livesight-test-vlm")
    if isinstance(chosen, ClipJudge):
        printer.info(f"No model server is configured: judging with local CLIP ({chosen.name}) on this CPU.")
    stream.start()
    try:
        printer.info(f"live stream at {stream.url} (speed ×{speed:g})")
        options = WatchOptions(
            source=stream.url,
            condition=CONDITION,
            interval=interval,
            rule=TriggerRule(max_triggers=None, once_per_appearance=True),
        )
        return await watch_source(settings, options, printer, judge=chosen)
    finally:
        await chosen.aclose()
        await asyncio.to_thread(stream.stop)
        if test_model is not None:
            await asyncio.to_thread(test_model.stop)


def _not_configured() -> Judge:
    raise JudgeNotConfigured()
