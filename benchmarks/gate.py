"""The change gate against fixed-interval checking on one hour of mostly static video.

    python benchmarks/gate.py                 # 320x180 @ 2 fps, one hour, intervals 10 s and 2 s
    python benchmarks/gate.py --interval 10   # one interval only
    python benchmarks/gate.py --review        # sessions' rapid review: every 10 s chunk, or gated

The scene (generated once with PyAV and cached under $TMPDIR/livesight-scenes) is the test scene: a grey
picture whose only motion is a small marker and a frame counter, with a red square visible during a few
stretches (the events, 6 s to 2 min long). It is replayed as fast as it decodes through the real engine
(decode, chunk and record, sample, gate, judge, trigger rules), once checking at every interval and once
with the change gate, both judged by the test VLM (``python -m livesight.testing.vlm_server`` in its own
process, so its CPU is measured apart from the pipeline's).

With ``--review`` the same comparison is made for sessions' rapid review (one request per 10 s chunk
with 10 frames, the query "report every red square you see"): every chunk sent, against the gate
skipping unchanged chunks; an event is found when a reported event starts inside it (or within one
chunk before it: review frames are a second apart).

Prints, per run: model calls, check points judged and skipped, events found and missed (an event is found
when a trigger falls inside it, or within one interval after it), CPU seconds of the pipeline process and
of the model server, and wall time. Exits non-zero if the gated run makes fewer than 5x fewer model calls,
or misses an event that fixed-interval checking found.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _serve import free_port

from livesight.judges import OpenAICompatibleJudge
from livesight.pipeline.runner import Run, RunConfig, RunProgress
from livesight.pipeline.sinks import NullSink
from livesight.rules import TriggerRule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.testing.scene import SceneSpec, cached_scene

CONDITION = "is there a red square?"
QUERY = "report every red square you see"
EVENTS = ((300.0, 330.0), (1210.0, 1216.0), (1800.0, 1860.0), (2703.0, 2715.0), (3300.0, 3420.0))
SCENE = SceneSpec(width=320, height=180, fps=2, duration=3600.0, events=EVENTS, square=50, segment_seconds=10.0)


@dataclass
class Row:
    mode: str
    interval: float
    model_calls: int
    judged: int
    skipped: int
    found: list[tuple[float, float]]
    cpu: float
    model_cpu: float
    wall: float
    gate: dict[str, object] | None

    @property
    def missed(self) -> list[tuple[float, float]]:
        return [e for e in EVENTS if e not in self.found]


class Triggers(NullSink):
    def __init__(self) -> None:
        self.times: list[float] = []

    async def events(self, progress: RunProgress, events: object, data: object, frames: object) -> None:
        self.times.extend(e.stream_time for e in events)  # type: ignore[attr-defined]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def one_run(
    source: str, base_url: str, interval: float, prefilter: bool, model_pid: int, tmp: Path, review: bool
) -> Row:
    settings = Settings(data_dir=tmp, model_concurrency=4)
    registry = SourceRegistry(settings)
    judge = OpenAICompatibleJudge(base_url, None, "livesight-test-vlm")
    sink = Triggers()
    what = {"review_query": QUERY, "chunk_seconds": interval} if review else {"condition": CONDITION}
    config = RunConfig(
        source_url=source,
        interval_seconds=interval,
        rule=TriggerRule(max_triggers=None, once_per_appearance=True),
        source=SourceOptions(realtime=False),
        prefilter=prefilter,
        concurrency=4,
        **what,  # type: ignore[arg-type]
    )
    model_cpu, cpu, wall = cpu_seconds(model_pid), time.process_time(), time.perf_counter()
    try:
        run = Run("bench", config, judge=judge, registry=registry, sink=sink, recordings_dir=tmp / "rec")
        result = await run.run()
    finally:
        registry.stop_all()
        await judge.aclose()
    stats = result.stats
    if review:  # a review event starts at the first review frame showing the square
        found = [e for e in EVENTS if any(e[0] - interval <= t < e[1] for t in sink.times)]
    else:
        found = [e for e in EVENTS if any(e[0] <= t < e[1] + interval for t in sink.times)]
    return Row(
        mode=("gated" if prefilter else "every chunk" if review else "fixed-interval"),
        interval=interval,
        model_calls=stats.model_calls,
        judged=stats.chunks_analysed if review else stats.checks_performed,
        skipped=stats.chunks_skipped if review else stats.frames_skipped,
        found=found,
        cpu=time.process_time() - cpu,
        model_cpu=cpu_seconds(model_pid) - model_cpu,
        wall=time.perf_counter() - wall,
        gate=stats.gate,
    )


def table(rows: list[Row]) -> str:
    head = (
        f"{'mode':<15} {'interval':>8} {'model calls':>11} {'judged':>7} {'skipped':>8} {'found':>6} "
        f"{'missed':>7} {'pipeline CPU s':>14} {'model CPU s':>11} {'wall s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.mode:<15} {r.interval:>7g}s {r.model_calls:>11} {r.judged:>7} {r.skipped:>8} "
            f"{len(r.found):>3}/{len(EVENTS):<2} {len(r.missed):>7} {r.cpu:>14.1f} {r.model_cpu:>11.1f} {r.wall:>7.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--interval", type=float, action="append", help="seconds between checks (repeatable)")
    parser.add_argument("--review", action="store_true", help="rapid review of 10 s chunks instead of checks")
    args = parser.parse_args()
    intervals = args.interval or ([10.0] if args.review else [10.0, 2.0])
    started = time.perf_counter()
    source = str(cached_scene(SCENE, "mp4"))
    print(f"scene: {SCENE.width}x{SCENE.height} @ {SCENE.fps} fps, {SCENE.duration / 60:g} min, {source}")
    print(f"       (generated or found in {time.perf_counter() - started:.1f}s); events: {EVENTS}")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "livesight.testing.vlm_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    rows: list[Row] = []
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base_url}/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as scratch:
            for interval in intervals:
                for prefilter in (False, True):
                    tmp = Path(scratch) / f"{interval:g}-{prefilter}"
                    rows.append(
                        asyncio.run(one_run(source, base_url, interval, prefilter, server.pid, tmp, args.review))
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(table(rows))
    ok = True
    for fixed, gated in zip(rows[::2], rows[1::2], strict=True):
        ratio = fixed.model_calls / max(1, gated.model_calls)
        lost = [e for e in fixed.found if e not in gated.found]
        print(
            f"{'chunk' if args.review else 'interval'} {fixed.interval:g}s: {ratio:.1f}x fewer model calls with the "
            f"gate; events {fixed.mode} found but the gate missed: {lost or 'none'}"
        )
        if gated.gate:
            decisions = ", ".join(f"{k} {v}" for k, v in gated.gate.items() if k != "last_changed_fraction")
            print(f"  the gate's decisions: {decisions}")
        ok = ok and ratio >= 5.0 and not lost
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
