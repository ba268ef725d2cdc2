"""A live source that disappears for minutes: the job waits it out, records the gap, and goes on.

    python benchmarks/outage.py --outage-minutes 3 --give-up-seconds 300

Starts a generated live HLS stream (a red square shows for 8 s every minute) and the test VLM on
127.0.0.1, a `livesight serve` process with the given give-up rule, and one monitor job that fires on
every appearance. After the first trigger the stream goes away for the given minutes (every playlist
and segment request answers 503), then comes back. Every 15 s it prints the job's status and source
health; at the end a table: how long the source was gone, the gap the job recorded, reconnect attempts,
whether the job kept running, and whether the next appearance after the outage was reported, and when.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
from _serve import livesight_serve

from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage-minutes", type=float, default=3)
    parser.add_argument("--give-up-seconds", type=float, default=300)
    args = parser.parse_args()
    outage = args.outage_minutes * 60

    period = 60
    spec = SceneSpec(duration=outage + 600, events=tuple((t, t + 8) for t in range(20, int(outage) + 600, period)))
    stream = LiveHLSServer(spec=spec, speed=1.0).start()
    vlm = VLMTestServer().start()
    data = Path(tempfile.mkdtemp(prefix="livesight-outage-"))
    env = {
        "LIVESIGHT_MODEL_BASE_URL": vlm.base_url,
        "LIVESIGHT_ALLOW_LOOPBACK": "true",
        "LIVESIGHT_GIVE_UP_AFTER_SECONDS": str(args.give_up_seconds),
    }
    try:
        with livesight_serve(data, env) as (base, _server), httpx.Client(base_url=base, timeout=30) as client:
            body = {
                "stream_url": stream.url,
                "condition": "is there a red square?",
                "interval_seconds": 5,
                "max_triggers": None,
                "monitor_duration_seconds": None,
            }
            job_id = client.post("/api/live-monitor", json=body).json()["job_id"]

            def job() -> dict:
                return client.get(f"/api/jobs/{job_id}").json()

            def report(phase: str) -> dict:
                detail = job()
                source = detail["stats"].get("source") or {}
                print(
                    f"{time.strftime('%H:%M:%S')} {phase:<8} status={detail['status']} "
                    f"source={source.get('state')} reconnects={source.get('reconnects')} "
                    f"last_frame_age={source.get('last_frame_age_seconds')}s triggers={len(detail['triggers'])}",
                    flush=True,
                )
                return detail

            while not job()["triggers"]:
                time.sleep(2)
            report("before")
            stream.set_down(True)
            went_down = time.monotonic()
            statuses = set()
            while time.monotonic() - went_down < outage:
                time.sleep(min(15, max(0.0, outage - (time.monotonic() - went_down))))
                statuses.add(report("down")["status"])
            stream.set_down(False)
            back = time.monotonic()
            before = len(job()["triggers"])
            recovered_after = None
            while time.monotonic() - back < period + 30:
                time.sleep(5)
                detail = report("back")
                if len(detail["triggers"]) > before:
                    recovered_after = time.monotonic() - back
                    break
            final = job()
            client.delete(f"/api/jobs/{job_id}")
    finally:
        vlm.stop()
        stream.stop()
    db = sqlite3.connect(data / "livesight.db")
    gaps = [round(g, 1) for (g,) in db.execute("select wall_seconds from gaps order by rowid")]
    source = final["stats"].get("source") or {}
    print()
    print(
        "| outage (s) | give-up (s) | job status during outage | gaps recorded (s) | reconnect attempts | "
        "next appearance reported | seconds after the source returned |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {outage:g} | {args.give_up_seconds:g} | {', '.join(sorted(statuses))} | {gaps} | "
        f"{source.get('reconnects')} | {'yes' if recovered_after is not None else 'NO'} | "
        f"{'-' if recovered_after is None else round(recovered_after, 1)} |"
    )


if __name__ == "__main__":
    main()
