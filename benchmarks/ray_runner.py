"""What the Ray runner costs against the local runner, and how long a lost node's runs take to resume.

    python benchmarks/ray_runner.py                  # 4 sources, 60 s measured per runner (~4 min)
    python benchmarks/ray_runner.py --sources 8 --seconds 90

Both runners get the same N live HLS test streams (640×360, 10 fps, a red square now and then), one
live-monitor job per stream at a 5 s interval with the gate on, the test VLM, and one PostgreSQL database:

* **local**: one `livesight serve` runs every job; its process is measured.
* **ray**: a Ray cluster on this machine (a head with no CPUs, two worker nodes) and one `livesight serve` with
  ``LIVESIGHT_RUNNER=ray``; each stream gets its own actor (one per source URL). The actors' processes are
  measured, and the API process and Ray's own processes (GCS, raylets, agents) are reported on their own rows.

Then the node holding one actor is removed, and the script reports how long it took until that job was held by
a new actor (its ``worker_id`` in the database) and until it watched the stream again (``stats.session_time``
moving on). CPU is from /proc (utime + stime) over the measured window, memory is RSS at its end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _serve import livesight_serve
from stream_cost import cpu_seconds, rss_mb

from livesight.runs.ray_runner import source_actor_name
from livesight.testing.databases import fresh_pg_database
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.testing.vlm_server import VLMTestServer

RAY_IP = "127.0.0.2"  # Ray rewrites 127.0.0.1; this loopback address it leaves alone
NAMESPACE = "livesight-bench"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Row:
    runner: str
    what: str
    processes: int
    cpu_per_stream_minute: float | None
    rss_mb: float
    per_stream_mb: float | None


def _env(url: str, vlm: VLMTestServer) -> dict[str, str]:
    return {
        "LIVESIGHT_DATABASE_URL": url,
        "LIVESIGHT_MODEL_BASE_URL": vlm.base_url,
        "LIVESIGHT_MODEL": "livesight-test-vlm",
        "LIVESIGHT_ALLOW_LOOPBACK": "true",
        "LIVESIGHT_SIGNING_SECRET": secrets.token_hex(16),
        "LIVESIGHT_LEASE_SECONDS": "6",
        "LIVESIGHT_MAX_JOBS": "1000",
    }


def _create_jobs(base: str, streams: list[LiveHLSServer]) -> list[str]:
    ids = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for stream in streams:
            body = {"stream_url": stream.url, "condition": "is there a red square?", "interval_seconds": 5,
                    "max_triggers": None, "monitor_duration_seconds": None, "skip_validation": True}  # fmt: skip
            answer = client.post("/api/live-monitor", json=body)
            answer.raise_for_status()
            ids.append(answer.json()["job_id"])
    return ids


def _stream_time(base: str, job_id: str) -> float:
    return float(httpx.get(f"{base}/api/jobs/{job_id}", timeout=30).json()["stats"].get("session_time", 0.0))


def _wait(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def _warm(base: str, jobs: list[str]) -> None:
    _wait(lambda: all(_stream_time(base, j) > 3 for j in jobs), "every job to watch its stream", 120)


def _measure(pids: list[int], seconds: float) -> tuple[float, float]:
    """CPU seconds the processes used over ``seconds``, and their RSS (MB) at the end."""
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(seconds)  # the measured window
    return sum(cpu_seconds(p) for p in pids) - before, sum(rss_mb(p) for p in pids)


def local(args: argparse.Namespace, streams: list[LiveHLSServer], vlm: VLMTestServer, data: Path) -> list[Row]:
    with fresh_pg_database(args.database) as url, livesight_serve(data / "local", _env(url, vlm)) as (base, server):
        idle = rss_mb(server.pid)
        jobs = _create_jobs(base, streams)
        _warm(base, jobs)
        cpu, rss = _measure([server.pid], args.seconds)
    n, minutes = len(streams), args.seconds / 60
    return [Row("local", "livesight serve (API + every run)", 1, cpu / n / minutes, rss, (rss - idle) / n)]


@contextmanager
def ray_cluster() -> Iterator[Any]:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "node_ip_address": RAY_IP}
    )
    nodes = [cluster.add_node(num_cpus=2, node_ip_address=RAY_IP) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, _node_ip_address=RAY_IP, namespace=NAMESPACE, log_to_driver=False)
    try:
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


def _ray_system_pids(exclude: set[int]) -> list[int]:
    """Ray's own processes on this machine (GCS, raylets, agents, log monitors), not its actor workers."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("ray" in cmd and ("gcs_server" in cmd or "raylet" in cmd or "ray/_private" in cmd or "dashboard" in cmd)
                and "ray::" not in cmd):  # fmt: skip
            out.append(int(entry.name))
    return out


def on_ray(
    args: argparse.Namespace, streams: list[LiveHLSServer], vlm: VLMTestServer, data: Path
) -> tuple[list[Row], dict[str, float]]:
    import ray

    with ExitStack() as stack:
        cluster, nodes = stack.enter_context(ray_cluster())
        url = stack.enter_context(fresh_pg_database(args.database))
        env = {**_env(url, vlm), "LIVESIGHT_RUNNER": "ray", "LIVESIGHT_RAY_ADDRESS": cluster.address,
               "LIVESIGHT_RAY_NODE_IP": RAY_IP, "LIVESIGHT_RAY_NAMESPACE": NAMESPACE}  # fmt: skip
        base, server = stack.enter_context(livesight_serve(data / "ray", env))
        jobs = _create_jobs(base, streams)
        _warm(base, jobs)
        actors = [ray.get_actor(source_actor_name(s.url), namespace=NAMESPACE) for s in streams]
        where = [ray.get(a.where.remote(), timeout=60) for a in actors]
        actor_pids = [int(w["pid"]) for w in where]
        system = _ray_system_pids({os.getpid(), server.pid, *actor_pids})
        before = {p: cpu_seconds(p) for p in [*actor_pids, server.pid, *system]}
        time.sleep(args.seconds)  # the measured window
        used = {p: cpu_seconds(p) - before[p] for p in before}
        n, minutes = len(streams), args.seconds / 60
        rows = [
            Row("ray", "source actors (one per stream)", n, sum(used[p] for p in actor_pids) / n / minutes,
                sum(rss_mb(p) for p in actor_pids), sum(rss_mb(p) for p in actor_pids) / n),
            Row("ray", "livesight serve (API only)", 1, used[server.pid] / n / minutes, rss_mb(server.pid), None),
            Row("ray", "Ray's own processes", len(system), sum(used[p] for p in system) / n / minutes,
                sum(rss_mb(p) for p in system), None),
        ]  # fmt: skip

        # Failover: remove the node of the first actor; time until a new actor holds its job and watches again.
        admin = url.replace("postgresql+psycopg://", "postgresql://")

        def holder() -> str | None:
            with psycopg.connect(admin) as conn:
                row = conn.execute("select worker_id from jobs where id = %s", (jobs[0],)).fetchone()
            return None if row is None else row[0]

        old, seen = holder(), _stream_time(base, jobs[0])
        [node] = [n for n in nodes if n.node_id == where[0]["node_id"]]
        started = time.monotonic()
        cluster.remove_node(node)
        _wait(lambda: holder() not in (old, None), "a new actor to hold the job", 120)
        held = time.monotonic() - started
        _wait(lambda: _stream_time(base, jobs[0]) > seen + 1, "the job to watch again", 120)
        watching = time.monotonic() - started
    return rows, {"held by a new actor": held, "watching the stream again": watching}


def table(rows: list[Row], failover: dict[str, float], args: argparse.Namespace) -> str:
    lines = [
        f"{args.sources} live streams (640×360, 10 fps), one live-monitor job each at a 5 s interval, gate on; "
        f"{args.seconds:.0f} s measured per runner",
        "",
        "| runner | processes | n | CPU-s per stream-minute | RSS MB | RSS MB per stream |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = f"{r.cpu_per_stream_minute:.2f}" if r.cpu_per_stream_minute is not None else "—"
        per = f"{r.per_stream_mb:.0f}" if r.per_stream_mb is not None else "—"
        lines.append(f"| {r.runner} | {r.what} | {r.processes} | {cpu} | {r.rss_mb:.0f} | {per} |")
    lines += ["", "| after the node holding one actor was removed | seconds |", "|---|---|"]
    lines += [f"| {what} | {seconds:.1f} |" for what, seconds in failover.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database", default=os.environ.get("LIVESIGHT_TEST_DATABASE_URL", PG_DEFAULT))
    args = parser.parse_args()
    spec = SceneSpec(duration=600.0, events=tuple((t, t + 8.0) for t in range(20, 600, 60)))
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for sub in ("local", "ray"):
            (data / sub).mkdir()
        vlm = stack.enter_context(VLMTestServer())
        hls = cached_scene(spec)  # generated once, served by every stream
        streams = [stack.enter_context(LiveHLSServer(hls, window=5)) for _ in range(args.sources)]
        print("local runner…", file=sys.stderr, flush=True)
        rows = local(args, streams, vlm, data)
        print("Ray runner…", file=sys.stderr, flush=True)
        ray_rows, failover = on_ray(args, streams, vlm, data)
    print(table(rows + ray_rows, failover, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
