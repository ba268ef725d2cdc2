"""Running the engine on a cached synthetic scene with the real judge, collecting what it reports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from livesight.judges import Judge, build_judge
from livesight.pipeline.runner import Run, RunConfig, RunProgress, RunResult
from livesight.pipeline.sinks import NullSink
from livesight.rules import TriggerRule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.types import Event, Sample, Verdict

CONDITION = "is there a red square?"


class Collect(NullSink):
    def __init__(self) -> None:
        self.found: list[tuple[Event, dict[str, Any]]] = []
        self.checks: list[tuple[Sample, Verdict | None]] = []

    async def events(
        self, progress: RunProgress, events: Sequence[Event], data: Sequence[dict[str, Any]], frames: Any
    ) -> None:
        self.found.extend(zip(events, data, strict=True))

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        self.checks.append((sample, verdict))


def run_scene(
    settings: Settings, spec: SceneSpec, tmp_path: Path, judge: Judge | None = None, **config: Any
) -> tuple[RunResult, Collect]:
    """Watch ``spec`` as fast as it decodes; ``judge`` (closed afterwards) defaults to the settings' one."""

    async def main() -> tuple[RunResult, Collect]:
        registry = SourceRegistry(settings)
        used = judge or build_judge(settings)
        sink = Collect()
        options: dict[str, Any] = {
            "interval_seconds": 2.0,
            "rule": TriggerRule(max_triggers=None, once_per_appearance=True),
            "source": SourceOptions(realtime=False),
            **config,
        }
        run_config = RunConfig(source_url=str(cached_scene(spec, "mp4")), condition=CONDITION, **options)
        try:
            run = Run("gated", run_config, judge=used, registry=registry, sink=sink, recordings_dir=tmp_path)
            return await run.run(), sink
        finally:
            registry.stop_all()
            await used.aclose()

    return asyncio.run(main())
