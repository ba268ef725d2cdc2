"""A model slower than the check interval: checks performed, dropped and their lag, by concurrency.

    python benchmarks/slow_model.py                          # 2 s model, 1 s interval, concurrency 1, 2, 4
    python benchmarks/slow_model.py --latency 3 --concurrency 1 --concurrency 8

A live run checks on a grid (every ``--interval`` seconds of stream time); a model that answers in
``--latency`` seconds keeps up only if checks overlap. ``RunConfig.concurrency`` (``LIVESIGHT_MODEL_CONCURRENCY``)
bounds the model requests of one run at once; twice that many checks may be outstanding before a live run
drops new ones rather than fall behind. Each concurrency replays the same ``--duration`` seconds of the
test scene at its recorded pace (``SourceOptions(realtime=True)``, as a camera would deliver it) through
the real engine, judged by the test VLM (``python -m livesight.testing.vlm_server --latency …`` in its own
process), concurrency 1 first as the baseline. Prints, per concurrency: the check points the stream
reached, checks performed and dropped, the most model requests at once (counted by the model server),
the lag of applied verdicts (from the frame's decoding to the verdict being applied: median and max),
whether verdicts were applied in stream order, and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
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
from livesight.types import Sample, Verdict

CONDITION = "is there a red square?"


@dataclass
class Row:
    concurrency: int
    check_points: int
    performed: int
    dropped: int
    failed: int
    max_in_flight: int
    lag_median: float
    lag_max: float
    in_order: bool
    wall: float


class Lags(NullSink):
    """Each applied check's stream time and lag (decoded → applied)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lags: list[float] = []

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        self.times.append(sample.session_time)
        if sample.decoded_at:
            self.lags.append(time.monotonic() - sample.decoded_at)


async def one_run(source: str, model: str, concurrency: int, interval: float, tmp: Path) -> Row:
    async with httpx.AsyncClient(base_url=model) as control:
        (await control.post("/_control/reset")).raise_for_status()  # max_in_flight counts this run only
    registry = SourceRegistry(Settings(data_dir=tmp))
    judge = OpenAICompatibleJudge(f"{model}/v1", None, "livesight-test-vlm")
    sink = Lags()
    config = RunConfig(
        source_url=source,
        condition=CONDITION,
        interval_seconds=interval,
        concurrency=concurrency,
        rule=TriggerRule(max_triggers=None, once_per_appearance=True),
        source=SourceOptions(realtime=True),
        prefilter=False,  # every check point goes to the model: the load is what is measured
    )
    wall = time.perf_counter()
    try:
        result = await Run("bench", config, judge=judge, registry=registry, sink=sink).run()
    finally:
        registry.stop_all()
        await judge.aclose()
    stats = result.stats
    async with httpx.AsyncClient(base_url=model) as control:
        served = (await control.get("/_control/stats")).json()
    return Row(
        concurrency=concurrency,
        check_points=int(stats.session_time // interval) + 1,
        performed=stats.checks_performed,
        dropped=stats.checks_dropped,
        failed=stats.checks_failed,
        max_in_flight=int(served["max_in_flight"]),
        lag_median=statistics.median(sink.lags) if sink.lags else 0.0,
        lag_max=max(sink.lags, default=0.0),
        in_order=sink.times == sorted(sink.times),
        wall=time.perf_counter() - wall,
    )


def table(rows: Sequence[Row]) -> str:
    head = (
        f"{'concurrency':>11} {'check points':>12} {'performed':>9} {'dropped':>7} {'failed':>6} "
        f"{'vs c=1':>6} {'model max at once':>17} {'lag median s':>12} {'lag max s':>9} {'in order':>8} {'wall s':>6}"
    )
    lines = [head, "-" * len(head)]
    baseline = rows[0].performed if rows else 0
    for r in rows:
        lines.append(
            f"{r.concurrency:>11} {r.check_points:>12} {r.performed:>9} {r.dropped:>7} {r.failed:>6} "
            f"{r.performed / max(1, baseline):>5.1f}x {r.max_in_flight:>17} {r.lag_median:>12.1f} {r.lag_max:>9.1f} "
            f"{'yes' if r.in_order else 'NO':>8} {r.wall:>6.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the model takes per answer (default 2)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds of stream between checks (default 1)")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of stream per run (default 12)")
    parser.add_argument(
        "--concurrency", type=int, action="append", help="model requests at once (repeatable; default 1, 2, 4)"
    )
    args = parser.parse_args()
    # Concurrency 1 is the baseline the others are compared with: always run, and first.
    levels = [1, *sorted({c for c in (args.concurrency or [2, 4]) if c != 1})]
    spec = SceneSpec(duration=args.duration, events=((args.duration / 2, args.duration),))
    source = str(cached_scene(spec, "mp4"))
    print(f"scene: {spec.width}x{spec.height} @ {spec.fps} fps, {spec.duration:g} s played in real time, {source}")
    print(f"model: the test VLM answering in {args.latency:g} s; a check every {args.interval:g} s of stream")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "livesight.testing.vlm_server", "--port", str(port), "--latency", str(args.latency)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    model = f"http://127.0.0.1:{port}"
    rows: list[Row] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{model}/v1/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the test VLM did not start") from None
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as scratch:
            for level in levels:
                rows.append(asyncio.run(one_run(source, model, level, args.interval, Path(scratch) / f"c{level}")))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(table(rows))
    return 0 if all(r.in_order for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
