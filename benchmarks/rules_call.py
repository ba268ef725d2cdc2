"""What one model call for N rules costs against N calls (one per rule), per check point.

    python benchmarks/rules_call.py                      # N = 1, 2, 3, 5, 8 rules, 20 check points each
    python benchmarks/rules_call.py --latency 0.8 --points 10

Both ways ask the same rules about the same 1280×720 frame (JPEG, sent at 768 px on the long side, as a job
sends it) through the chat-completions judge, against the test VLM with a fixed ``--latency`` per request (a
stand-in for a model's time to answer):

* **one call**: ``check_rules`` — every rule in one request with one JSON schema (a field per rule);
* **N calls, one after another**, as a loop over ``check`` would make them;
* **N calls at once**, the best N separate calls can do for wall time.

Reported per check point: requests, images sent, prompt tokens (the test VLM's estimate: 85 per image plus
1.3 per word, so it undercounts a real model's image tokens, which makes the one-call saving *larger* there),
and wall time. The frame is the test scene's, with a red square; half the rules ask about red, half about blue.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from livesight.judges import OpenAICompatibleJudge, check_rules
from livesight.testing.scene import SceneSpec, scene_jpeg
from livesight.testing.vlm_server import VLMTestServer
from livesight.types import JudgeImage, Sample, Usage


def _sample() -> Sample:
    spec = SceneSpec(width=1280, height=720, events=((0.0, 10.0),), square=120)
    jpeg = scene_jpeg(spec, 1.0, size=(768, 432))
    return Sample(1.0, 1.0, (JudgeImage(jpeg, 1.0, 768, 432),))


def _rules(n: int) -> list[tuple[str, str]]:
    return [(f"rule_{i}", f"is there a {'red' if i % 2 == 0 else 'blue'} square? (rule {i})") for i in range(n)]


async def _one_call(judge: OpenAICompatibleJudge, rules: list[tuple[str, str]], sample: Sample) -> Usage:
    return (await check_rules(judge, rules, sample)).usage


async def _sequential(judge: OpenAICompatibleJudge, rules: list[tuple[str, str]], sample: Sample) -> Usage:
    usage = Usage()
    for _, condition in rules:
        usage = usage + (await judge.check(condition, sample)).usage
    return usage


async def _concurrent(judge: OpenAICompatibleJudge, rules: list[tuple[str, str]], sample: Sample) -> Usage:
    verdicts = await asyncio.gather(*(judge.check(condition, sample) for _, condition in rules))
    usage = Usage()
    for verdict in verdicts:
        usage = usage + verdict.usage
    return usage


async def measure(args: argparse.Namespace) -> list[tuple[int, str, float, float, float, float]]:
    sample = _sample()
    rows = []
    with VLMTestServer(latency_seconds=args.latency) as vlm:
        judge = OpenAICompatibleJudge(vlm.base_url, None, "livesight-test-vlm")
        try:
            for n in args.rules or [1, 2, 3, 5, 8]:
                rules = _rules(n)
                for name, how in (("one call", _one_call), ("N calls, in turn", _sequential),
                                  ("N calls, at once", _concurrent)):  # fmt: skip
                    walls, usages = [], []
                    for _ in range(args.points):
                        started = time.perf_counter()
                        usages.append(await how(judge, rules, sample))
                        walls.append(time.perf_counter() - started)
                    calls = statistics.mean(u.model_calls for u in usages)
                    images = statistics.mean(u.images_sent for u in usages)
                    tokens = statistics.mean(u.input_tokens for u in usages)
                    rows.append((n, name, calls, images, tokens, statistics.median(walls)))
        finally:
            await judge.aclose()
    return rows


def table(rows: list[tuple[int, str, float, float, float, float]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.points} check points per row; the test VLM answers after {args.latency:g} s",
        "",
        "| rules | how | requests | images sent | prompt tokens | wall per check point (median) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {how} | {c:g} | {i:g} | {t:,.0f} | {w:.2f} s |" for n, how, c, i, t, w in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, action="append", help="numbers of rules; repeatable (1 2 3 5 8)")
    parser.add_argument("--points", type=int, default=20, help="check points per row (20)")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the test VLM takes per request (0.5)")
    args = parser.parse_args()
    print(table(asyncio.run(measure(args)), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
