"""Load: many monitor jobs and sessions on live streams, hundreds of SSE clients, one server process.

    python benchmarks/load.py --minutes 10 --jobs 50 --sessions 10 --sse 500

Starts generated live HLS streams and the test VLM on 127.0.0.1, a `livesight serve` process, creates
the jobs and sessions, opens the SSE clients (spread over the jobs), and samples the server every few
seconds. Prints a table: how far runs fell behind the live edge, the server's memory over time, and
whether every stored trigger reached every SSE client of its job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _serve import livesight_serve

from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def sse_client(base: str, job_id: str, n: int, seen: dict[str, set[str]], stop: asyncio.Event) -> None:
    """Follow one job's events, reconnecting with Last-Event-ID; record the trigger event ids seen."""
    last = ""
    key = f"{job_id}:{n}"
    seen[key] = set()
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=60)) as client:
        while not stop.is_set():
            try:
                headers = {"Last-Event-ID": last} if last else {}
                async with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers) as response:
                    event: dict[str, str] = {}
                    async for line in response.aiter_lines():
                        if line == "":
                            if event.get("event") == "triggered":
                                seen[key].add(json.loads(event["data"])["event_id"])
                            if event.get("id"):
                                last = event["id"]
                            if event.get("event") in ("stopped", "error"):
                                return
                            event = {}
                        elif not line.startswith(":"):
                            name, _, value = line.partition(":")
                            event[name] = value.lstrip(" ")
                        if stop.is_set():
                            return
            except (httpx.HTTPError, json.JSONDecodeError):
                await asyncio.sleep(1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--sse", type=int, default=500)
    parser.add_argument("--streams", type=int, default=5, help="distinct live streams the runs are spread over")
    parser.add_argument("--interval", type=float, default=5)
    args = parser.parse_args()

    duration = args.minutes * 60
    spec = SceneSpec(duration=max(120.0, duration + 120), events=tuple((t, t + 8) for t in range(30, 7200, 60)))
    streams = [LiveHLSServer(spec=spec, speed=1.0).start() for _ in range(args.streams)]
    vlm = VLMTestServer().start()
    data = tempfile.mkdtemp(prefix="livesight-load-")
    env = {
        "LIVESIGHT_MODEL_BASE_URL": vlm.base_url,
        "LIVESIGHT_ALLOW_LOOPBACK": "true",
        "LIVESIGHT_MAX_JOBS": str(args.jobs + 10),
    }
    stop = asyncio.Event()
    seen: dict[str, set[str]] = {}
    samples: list[dict[str, Any]] = []
    try:
        with livesight_serve(Path(data), env) as (base, server):
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                jobs = []
                for i in range(args.jobs):
                    body = {
                        "stream_url": streams[i % len(streams)].url,
                        "condition": "is there a red square?",
                        "interval_seconds": args.interval,
                        "max_triggers": None,
                        "monitor_duration_seconds": None,
                    }
                    jobs.append((await client.post("/api/live-monitor", json=body)).json()["job_id"])
                sessions = []
                for i in range(args.sessions):
                    started_session = (
                        await client.post(
                            "/api/live/start-session",
                            json={
                                "source_url": streams[i % len(streams)].url,
                                "name": f"load {i}",
                                "rapid_review_query": "red square",
                            },
                        )
                    ).json()
                    sessions.append(
                        f"/api/live/live-sessions/{started_session['stream_id']}/{started_session['session_id']}"
                    )
                clients = [
                    asyncio.create_task(sse_client(base, jobs[i % len(jobs)], i, seen, stop)) for i in range(args.sse)
                ]
                started = time.monotonic()
                while time.monotonic() - started < duration:
                    await asyncio.sleep(10)
                    details = [(await client.get(f"/api/jobs/{j}")).json() for j in jobs]
                    lags = [d["stats"].get("lag_seconds") or 0.0 for d in details]
                    session_stats = [(await client.get(path)).json().get("stats") or {} for path in sessions]
                    session_lags = [st.get("lag_seconds") or 0.0 for st in session_stats]
                    samples.append(
                        {
                            "t": round(time.monotonic() - started),
                            "rss_mb": round(rss_mb(server.pid), 1),
                            "max_lag_s": round(max(lags), 2),
                            "max_session_lag_s": round(max(session_lags, default=0), 2),
                            "triggers": sum(len(d["triggers"]) for d in details),
                            "session_events": sum(st.get("events", 0) for st in session_stats),
                        }
                    )
                    print(samples[-1], flush=True)
                stored = {
                    j: {t["event_id"] for t in (await client.get(f"/api/jobs/{j}")).json()["triggers"]} for j in jobs
                }
                stop.set()
                for job_id in jobs:  # cancelling ends every SSE stream with `stopped`
                    await client.delete(f"/api/jobs/{job_id}")
                await asyncio.wait(clients, timeout=60)
    finally:
        vlm.stop()
        for s in streams:
            s.stop()
    missing = sum(len(stored[k.split(":")[0]] - ids) for k, ids in seen.items())
    expected = sum(len(stored[k.split(":")[0]]) for k in seen)
    steady = [s for s in samples if s["t"] >= min(120, duration / 2)] or samples  # after start-up
    print()
    print(
        "| jobs | sessions | SSE clients | minutes | max job lag (s): start-up / steady | max session lag (s) | "
        "RSS after start-up → end (MB) | triggers stored | session events | trigger deliveries to SSE clients: "
        "expected / missed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.jobs} | {args.sessions} | {args.sse} | {args.minutes:g} "
        f"| {max(s['max_lag_s'] for s in samples)} / {max(s['max_lag_s'] for s in steady)} "
        f"| {max(s['max_session_lag_s'] for s in samples)} | {steady[0]['rss_mb']} → {samples[-1]['rss_mb']} "
        f"| {sum(len(v) for v in stored.values())} | {samples[-1]['session_events']} | {expected} / {missing} |"
    )
    print(
        f"\nA run is behind by more than one chunk when its lag exceeds the chunk length (10 s by default). "
        f"Server log: {data}/server.log"
    )


if __name__ == "__main__":
    asyncio.run(main())
