"""What one live stream costs one `livesight serve` process: CPU, memory, database rows, model calls.

    python benchmarks/stream_cost.py                      # 1, 4, 8 jobs × interval 10 s, 5 s × gate on, off (~10 min)
    python benchmarks/stream_cost.py --minutes 2          # two measured minutes per configuration (~35 min)
    python benchmarks/stream_cost.py --jobs 4 --interval 10 --gate on --database postgresql

Each configuration starts its own `livesight serve` (a subprocess, `_serve.py`) with the test VLM, and
N live 1280×720 30 fps HLS test streams (`LiveHLSServer`, one per job, so no two jobs share a decode;
the scene is generated once with PyAV and cached under $TMPDIR/livesight-scenes). It creates N
live-monitor jobs (webhook delivery to a local receiver that answers 200), lets them warm up until every
job has made its first check, then measures for ``--minutes``:

* CPU seconds of the server process (and any children) from /proc/<pid>/stat, per stream-minute;
* RSS of the server against its RSS before the jobs existed, per stream (marginal);
* rows the database gained — events, chunks, gaps, job_checks, webhook_deliveries, webhook_attempts —
  per stream-hour (counted in the SQLite file, or in PostgreSQL where ``pg_stat_user_tables`` also gives
  the rows *updated*: stats refreshes, lease renewals, delivery state);
* model calls per stream-hour (``GET /api/jobs/{id}`` → ``stats.model_calls``) and the recordings the
  server wrote (bytes on disk per stream-hour).

The stream generator, the VLM and the webhook receiver run in this process, so their CPU is not
counted. The test scene is static apart from a moving marker, a frame counter and a red square for
8 s every minute: what the change gate saves depends on the scene (see benchmarks/gate.py for an hour).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _serve import livesight_serve

from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.testing.vlm_server import VLMTestServer

TABLES = ("events", "chunks", "gaps", "job_checks", "webhook_deliveries", "webhook_attempts")
SHORT = {"events": "ev", "chunks": "chk", "gaps": "gap", "job_checks": "checks", "webhook_deliveries": "dlv",
         "webhook_attempts": "att"}  # fmt: skip
CONDITION = "is there a red square?"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def scene(minutes: float) -> SceneSpec:
    # A fixed length for every run up to 3 measured minutes, so one cached scene serves them all.
    duration = max(300, 60 * math.ceil(minutes + 2))
    events = tuple((float(t), float(t + 8)) for t in range(30, duration, 60))
    return SceneSpec(width=1280, height=720, fps=30, duration=float(duration), events=events, segment_seconds=2.0)


def busy_scene(spec: SceneSpec, mbps: float) -> Path:
    """HLS segments as busy as a real camera's: a panning random texture with per-frame noise, encoded by
    libx264 (veryfast) at ``mbps`` — what decoding costs at a realistic bitrate (the change gate sees change
    everywhere, so it saves nothing here). Generated once and cached beside the test scenes."""
    import av

    out = (
        Path(tempfile.gettempdir())
        / "livesight-scenes"
        / f"busy-{spec.width}x{spec.height}-{spec.fps}-{mbps:g}-{spec.duration:g}"
    )
    if (out / "index.m3u8").exists():
        return out
    scratch = out.with_name(out.name + f".tmp-{uuid.uuid4().hex[:6]}")
    scratch.mkdir(parents=True)
    w, h, gop = spec.width, spec.height, spec.gop
    rng = np.random.default_rng(7)
    texture = rng.integers(16, 236, size=(h // 4 + 1, (2 * w) // 4 + 1), dtype=np.uint8)
    texture = np.kron(texture, np.ones((4, 4), dtype=np.uint8))[:h, : 2 * w]
    chroma = np.full((h, w // 2), 128, dtype=np.uint8)  # u and v planes, stacked as yuv420p wants
    options = {
        "hls_time": f"{spec.segment_seconds:g}", "hls_list_size": "0", "hls_playlist_type": "vod",
        "hls_segment_type": "mpegts", "hls_segment_filename": str(scratch / "seg%05d.ts"),
        "hls_flags": "independent_segments", "start_number": "0",
    }  # fmt: skip
    with av.open(str(scratch / "index.m3u8"), "w", format="hls", options=options) as container:
        rate = f"{int(mbps * 1000)}k"
        stream = container.add_stream(
            "libx264", rate=spec.fps,
            options={"preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0",
                     "maxrate": rate, "bufsize": f"{int(mbps * 2000)}k"},
        )  # fmt: skip
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = int(mbps * 1e6)
        for n in range(spec.frame_count):
            x = (2 * n) % w
            y = texture[:, x : x + w].astype(np.int16) + rng.integers(-6, 7, size=(h, w), dtype=np.int16)
            planes = np.concatenate([np.clip(y, 16, 235).astype(np.uint8), chroma.reshape(-1, w)])
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    os.rename(scratch, out)
    return out


# -- the server process, from /proc -------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (decoding runs in threads today, but a process pool would be counted)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# -- the database ---------------------------------------------------------------------------------------


class Database:
    """Counts rows (and, on PostgreSQL, rows updated) in the server's database."""

    def __init__(self, kind: str, data: Path, pg_url: str) -> None:
        self.kind, self.data, self.pg_url = kind, data, pg_url
        self.name = f"livesight_stream_cost_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Database:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @property
    def env(self) -> dict[str, str]:
        if self.kind == "postgresql":
            base = self.pg_url.rsplit("/", 1)[0]
            return {"LIVESIGHT_DATABASE_URL": f"{base}/{self.name}"}
        return {}

    def counts(self) -> tuple[dict[str, int], int | None]:
        """Rows per table, and rows updated in all tables (PostgreSQL only)."""
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(f"{self.pg_url.rsplit('/', 1)[0]}/{self.name}", autocommit=True) as conn:
                rows = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]
                conn.execute("SELECT pg_stat_clear_snapshot()")
                updated = conn.execute("SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables").fetchone()
                return rows, int(updated[0])  # type: ignore[index]
        path = self.data / "livesight.db"
        if not path.exists():
            path = next(self.data.glob("*.db"))
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) if t in present else 0
                    for t in TABLES}, None  # fmt: skip


# -- a webhook receiver ---------------------------------------------------------------------------------


class Receiver:
    """Answers every POST with 200 and counts them."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                owner.received += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.received = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- one configuration ----------------------------------------------------------------------------------


@dataclass
class Row:
    jobs: int
    interval: float
    gate: bool
    seconds: float
    cpu: float  # server CPU seconds in the window
    rss_idle: float
    rss_end: float
    rows: dict[str, int]
    updated: int | None
    model_calls: int
    checks: int
    recorded_bytes: int
    max_lag: float
    dropped: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stream_hours(self) -> float:
        return self.jobs * self.seconds / 3600

    def per_stream_hour(self, value: float) -> float:
        return value / self.stream_hours

    @property
    def cpu_per_stream_minute(self) -> float:
        return self.cpu / (self.jobs * self.seconds / 60)

    @property
    def rss_per_stream(self) -> float:
        return (self.rss_end - self.rss_idle) / self.jobs


def job_stats(client: httpx.Client, job_ids: list[str]) -> list[dict[str, Any]]:
    return [client.get(f"/api/jobs/{j}").raise_for_status().json().get("stats") or {} for j in job_ids]


def points(stats: dict[str, Any]) -> int:
    """Check points reached: judged by the model, or skipped by the gate (its last verdict reused)."""
    return int(stats.get("checks_performed", 0)) + int(stats.get("frames_skipped", 0))


def one(args: argparse.Namespace, hls: Path, vlm: VLMTestServer, jobs: int, interval: float, gate: bool) -> Row:
    data = Path(tempfile.mkdtemp(prefix="livesight-cost-"))
    streams = [LiveHLSServer(hls, window=5).start() for _ in range(jobs)]
    env = {
        "LIVESIGHT_MODEL_BASE_URL": vlm.base_url,
        "LIVESIGHT_ALLOW_LOOPBACK": "true",
        "LIVESIGHT_MAX_JOBS": str(jobs + 10),
    }
    try:
        with Receiver() as receiver, Database(args.database, data, args.pg_url) as db:
            serve = livesight_serve(data, {**env, **db.env})
            with serve as (base, server), httpx.Client(base_url=base, timeout=60) as c:
                time.sleep(2)
                rss_idle = rss_mb(server.pid)
                ids = []
                for s in streams:
                    body = {
                        "stream_url": s.url,
                        "condition": CONDITION,
                        "interval_seconds": interval,
                        "enable_prefilter": gate,
                        "webhook_url": receiver.url,
                        "max_triggers": None,
                        "monitor_duration_seconds": None,
                    }
                    answer = c.post("/api/live-monitor", json=body)
                    if answer.status_code >= 300:
                        raise SystemExit(f"creating a job failed: {answer.status_code} {answer.text}")
                    ids.append(answer.json()["job_id"])
                deadline = time.monotonic() + 90
                while min(st.get("checks_performed", 0) for st in job_stats(c, ids)) < 1:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the jobs made no check within 90 s; see {data}/server.log")
                    time.sleep(1)
                time.sleep(args.warmup)
                before = job_stats(c, ids)
                rows0, upd0 = db.counts()
                rec0 = dir_bytes(data / "recordings")
                cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
                rss: list[float] = []
                while time.monotonic() - t0 < args.minutes * 60:
                    time.sleep(min(5.0, max(0.1, args.minutes * 60 - (time.monotonic() - t0))))
                    rss.append(rss_mb(server.pid))
                cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
                after = job_stats(c, ids)
                time.sleep(1.5)  # PostgreSQL's statistics are flushed about once a second
                rows1, upd1 = db.counts()
                rec1 = dir_bytes(data / "recordings")
                lags = [float(st.get("lag_seconds") or 0.0) for st in after]
                for j in ids:
                    c.delete(f"/api/jobs/{j}")
        return Row(
            jobs=jobs,
            interval=interval,
            gate=gate,
            seconds=t1 - t0,
            cpu=cpu1 - cpu0,
            rss_idle=rss_idle,
            rss_end=statistics.median(rss[len(rss) // 2 :]) if rss else rss_mb(server.pid),
            rows={t: rows1[t] - rows0[t] for t in TABLES},
            updated=None if upd0 is None or upd1 is None else upd1 - upd0,
            model_calls=sum(
                a.get("model_calls", 0) - b.get("model_calls", 0) for a, b in zip(after, before, strict=True)
            ),
            checks=sum(points(a) - points(b) for a, b in zip(after, before, strict=True)),
            recorded_bytes=rec1 - rec0,
            max_lag=max(lags, default=0.0),
            dropped=sum(
                a.get("checks_dropped", 0) - b.get("checks_dropped", 0) for a, b in zip(after, before, strict=True)
            ),
        )
    finally:
        for s in streams:
            s.stop()
        if not args.keep and sys.exc_info()[0] is None:  # a failed run keeps its server.log
            shutil.rmtree(data, ignore_errors=True)


# -- output ---------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = (
        "| jobs | interval | gate | measured s | CPU s / stream-min | % of a core / stream | RSS idle → running MB "
        "| RSS MB / stream | rows / stream-h (" + " ".join(SHORT[t] for t in TABLES) + ") | rows updated / stream-h "
        "| check points / stream-h | model calls / stream-h | recorded MB / stream-h | max lag s | dropped |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        per = {t: r.per_stream_hour(r.rows[t]) for t in TABLES}
        lines.append(
            f"| {r.jobs} | {r.interval:g} s | {'on' if r.gate else 'off'} | {r.seconds:.0f} "
            f"| {r.cpu_per_stream_minute:.2f} | {100 * r.cpu_per_stream_minute / 60:.1f} "
            f"| {r.rss_idle:.0f} → {r.rss_end:.0f} | {r.rss_per_stream:.1f} "
            f"| {sum(per.values()):.0f} (" + " ".join(f"{per[t]:.0f}" for t in TABLES) + ") "
            f"| {'—' if r.updated is None else f'{r.per_stream_hour(r.updated):.0f}'} "
            f"| {r.per_stream_hour(r.checks):.0f} | {r.per_stream_hour(r.model_calls):.0f} "
            f"| {r.per_stream_hour(r.recorded_bytes) / 1e6:.0f} | {r.max_lag:.1f} | {r.dropped} |"
        )
    return "\n".join(lines)


def gate_table(rows: list[Row]) -> str:
    """Model calls per stream-hour side by side, gate off | on, for every (jobs, interval) measured both ways."""
    by = {(r.jobs, r.interval, r.gate): r for r in rows}
    lines = ["| jobs | interval | model calls / stream-h, gate off | gate on | fewer with the gate |"]
    lines.append("|---|---|---|---|---|")
    for jobs, interval, gate in by:
        if not gate and (jobs, interval, True) in by:
            off = by[(jobs, interval, False)].per_stream_hour(by[(jobs, interval, False)].model_calls)
            on = by[(jobs, interval, True)].per_stream_hour(by[(jobs, interval, True)].model_calls)
            lines.append(f"| {jobs} | {interval:g} s | {off:.0f} | {on:.0f} | {off / on if on else math.inf:.1f}× |")
    return "\n".join(lines) if len(lines) > 2 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=0.5, help="measured minutes per configuration (0.5)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds after every job's first check (5)")
    parser.add_argument("--jobs", type=int, action="append", help="jobs (= streams) at once; repeatable (1, 4, 8)")
    parser.add_argument("--interval", type=float, action="append", help="check interval, s; repeatable (10, 5)")
    parser.add_argument("--gate", choices=("on", "off", "both"), default="both", help="enable_prefilter (both)")
    parser.add_argument(
        "--bitrate", type=float, help="Mbit/s: stream a generated busy scene at this bitrate instead of the test scene"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--keep", action="store_true", help="keep each run's data directory (server.log, recordings)")
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="a PostgreSQL database to create scratch databases from")
    args = parser.parse_args()
    spec = scene(args.minutes)
    started = time.monotonic()
    if args.bitrate:  # only as long as the runs need: a busy picture is slow to encode
        spec = dataclasses.replace(spec, duration=float(60 * math.ceil(args.minutes + 1)), events=())
    hls = busy_scene(spec, args.bitrate) if args.bitrate else cached_scene(spec, "hls")
    size = sum(f.stat().st_size for f in hls.glob("*.ts"))
    what = "busy: panning texture + noise, libx264 veryfast" if args.bitrate else "static synthetic, libx264 ultrafast"
    print(
        f"scene: {spec.width}x{spec.height} @ {spec.fps} fps, {spec.duration:g} s, "
        f"{size * 8 / spec.duration / 1e6:.2f} Mbit/s as encoded ({what}); "
        f"ready in {time.monotonic() - started:.0f} s; database: {args.database}",
        flush=True,
    )
    gates = {"on": [True], "off": [False], "both": [False, True]}[args.gate]
    rows: list[Row] = []
    with VLMTestServer() as vlm:
        for interval in args.interval or [10.0, 5.0]:
            for jobs in args.jobs or [1, 4, 8]:
                for gate in gates:
                    row = one(args, hls, vlm, jobs, interval, gate)
                    rows.append(row)
                    print(table([row]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    side = gate_table(rows)
    if side:
        print()
        print(side)
    if len({r.jobs for r in rows}) > 1:
        # The slope over N is the marginal cost; the intercept is the server's own.
        xs = [r.jobs for r in rows]
        fits = (("CPU s / min", [r.cpu / (r.seconds / 60) for r in rows]), ("RSS MB", [r.rss_end for r in rows]))
        for name, ys in fits:
            mx, my = statistics.mean(xs), statistics.mean(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
            print(f"\nfit over all rows, {name} of the server = {my - slope * mx:.2f} + {slope:.2f} × streams", end="")
        print()
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
