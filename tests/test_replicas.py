"""Two `livesight serve` replicas on one PostgreSQL database: each run is held by exactly one of them, a
cancel sent to either stops it, restarts resume each run once, and a killed replica's runs move to the other.

Everything is read from what the replicas store and the webhooks a real receiver got; nothing is timed by sleeps.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livesight.delivery.webhooks import server_webhook_secret
from livesight.settings import Settings
from livesight.testing.databases import fresh_pg_database
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.replicas import Database, Receiver, Replica, SSEReader, event_key, wait_until
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_ENV = "LIVESIGHT_TEST_DATABASE_URL"
LEASE = 3.0  # seconds: a killed replica's runs move within about this


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hooks:
        yield hooks


@pytest.fixture
def stream() -> Iterator[LiveHLSServer]:
    """Two minutes of scene, a red square every 22 s, played in real time."""
    events = tuple((start, start + 6.0) for start in (6.0, 28.0, 50.0, 72.0, 94.0))
    with LiveHLSServer(spec=SceneSpec(duration=120.0, events=events), speed=1.0) as hls:
        yield hls


@pytest.fixture
def cluster(tmp_path: Path, vlm: VLMTestServer) -> Iterator[Database]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESIGHT_", "OPENAI_"))}
    # Both replicas sign alike: one webhook secret and one URL-signing secret, as a deployment would set.
    secret = server_webhook_secret(Settings(data_dir=tmp_path / "secret"))
    with fresh_pg_database(base) as url:
        env.update(
            LIVESIGHT_DATABASE_URL=url,
            LIVESIGHT_MODEL_BASE_URL=vlm.base_url,
            LIVESIGHT_MODEL="livesight-test-vlm",
            LIVESIGHT_ALLOW_LOOPBACK="true",
            LIVESIGHT_MIN_INTERVAL_SECONDS="1",
            LIVESIGHT_LEASE_SECONDS=str(LEASE),
            LIVESIGHT_WEBHOOK_SECRET=secret,
            LIVESIGHT_SIGNING_SECRET=secrets.token_hex(16),
            LIVESIGHT_WEBHOOK_POLL_SECONDS="0.5",
        )
        replicas = {name: Replica(name, env, tmp_path / name) for name in ("a", "b")}
        try:
            yield Database(url, replicas)
        finally:
            for replica in replicas.values():
                replica.stop()


def _monitor(client: httpx.Client, stream: LiveHLSServer, receiver: Receiver) -> str:
    answer = client.post(
        "/api/live-monitor",
        json={
            "stream_url": stream.url,
            "condition": "is there a red square?",
            "webhook_url": receiver.url,
            "interval_seconds": 1,
            "max_triggers": None,
            "trigger_cooldown_seconds": 10,
            "monitor_duration_seconds": None,
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["job_id"])


def _checks(client: httpx.Client, job_id: str) -> int:
    return int(client.get(f"/api/jobs/{job_id}").json()["stats"].get("checks_performed", 0))


def _no_webhook_twice(receiver: Receiver, job_id: str) -> None:
    ids = receiver.ids()
    assert len(ids) == len(set(ids)), "a webhook was delivered twice"
    assert len(receiver.got("job_started", job_id)) == 1
    triggers = [r["data"]["stream_time"] for r in receiver.got("watch_triggered", job_id)]
    assert len(triggers) == len(set(triggers)), f"a trigger was repeated: {triggers}"


def test_a_job_runs_on_one_replica_and_a_cancel_sent_to_the_other_stops_it(
    cluster: Database, stream: LiveHLSServer, receiver: Receiver
) -> None:
    a, b = cluster.replicas["a"].start(), cluster.replicas["b"].start()
    with a.client() as on_a, b.client() as on_b:
        job_id = _monitor(on_a, stream, receiver)
        wait_until(lambda: receiver.got("watch_triggered", job_id), lambda: "a trigger", 60)
        assert cluster.worker_pid(job_id) == a.pid
        assert on_a.get("/healthz").json()["jobs_running"] == 1
        assert on_b.get("/healthz").json()["jobs_running"] == 0
        # B answers from the store what A's run wrote there
        seen = on_b.get(f"/api/jobs/{job_id}").json()
        assert seen["status"] == "running" and seen["stats"]["checks_performed"] >= 1 and seen["triggers"]

        started = time.monotonic()
        cancelled = on_b.delete(f"/api/jobs/{job_id}").json()
        took = time.monotonic() - started
        assert cancelled["status"] == "stopped" and cancelled["final_stats"]["reason"] == "cancelled"
        assert took < 2.0, f"the cancel took {took:.2f} s"
        [(status, reason)] = cluster.query("select status, reason from jobs where id = %s", job_id)
        assert (status, reason) == ("stopped", "cancelled")
        again = on_a.delete(f"/api/jobs/{job_id}").json()
        assert again["status"] == "stopped" and "already ended" in again["message"]
        wait_until(lambda: receiver.got("job_stopped", job_id), lambda: "job_stopped delivered", 20)
    _no_webhook_twice(receiver, job_id)
    stopped = receiver.got("job_stopped", job_id)
    assert len(stopped) == 1 and stopped[0]["data"]["reason"] == "cancelled"


def test_both_replicas_restarted_resume_each_job_exactly_once(
    cluster: Database, stream: LiveHLSServer, receiver: Receiver
) -> None:
    a, b = cluster.replicas["a"].start(), cluster.replicas["b"].start()
    with a.client() as on_a, b.client() as on_b:
        jobs = [_monitor(on_a, stream, receiver), _monitor(on_b, stream, receiver)]
        wait_until(lambda: all(_checks(on_a, j) >= 2 for j in jobs), lambda: "checks on both jobs", 60)
    a.kill()
    b.kill()
    old = {a.pid, b.pid}
    a.start()
    b.start()
    new = {a.pid, b.pid}

    def resumed() -> bool:
        return all(cluster.worker_pid(j) in new for j in jobs)

    # Their leases run out LEASE seconds after the kill; whichever replica claims a job first runs it.
    wait_until(resumed, lambda: f"every job resumed: {[cluster.worker_pid(j) for j in jobs]} of {new}", 30)
    with a.client() as on_a:
        before = {j: _checks(on_a, j) for j in jobs}
        wait_until(lambda: all(_checks(on_a, j) > before[j] for j in jobs), lambda: "checks after the resume", 60)
        for job_id in jobs:
            assert on_a.get(f"/api/jobs/{job_id}").json()["status"] == "running"
    running = sum(httpx.get(f"{r.url}/healthz").json()["jobs_running"] for r in (a, b))
    assert running == len(jobs)  # each job runs on exactly one replica
    for job_id in jobs:
        assert cluster.worker_pid(job_id) not in old
        restarts = "select count(*) from gaps where job_id = %s and reason = 'server restarted'"
        assert cluster.count(restarts, job_id) == 1  # resumed once, not once per replica
        assert cluster.count("select count(*) from events where job_id = %s and type = 'job_started'", job_id) == 1
        _no_webhook_twice(receiver, job_id)


def test_a_killed_replica_s_jobs_are_claimed_by_the_other(
    cluster: Database, stream: LiveHLSServer, receiver: Receiver
) -> None:
    a, b = cluster.replicas["a"].start(), cluster.replicas["b"].start()
    with a.client() as on_a, b.client() as on_b:
        job_id = _monitor(on_a, stream, receiver)
        wait_until(lambda: _checks(on_b, job_id) >= 2, lambda: "checks on A", 60)
        assert cluster.worker_pid(job_id) == a.pid
        a.kill()
        wait_until(lambda: cluster.worker_pid(job_id) == b.pid, lambda: "B to claim the job", 4 * LEASE)
        before = _checks(on_b, job_id)
        wait_until(lambda: _checks(on_b, job_id) > before, lambda: "checks on B", 60)
        assert on_b.get("/healthz").json()["jobs_running"] == 1
        cancelled = on_b.delete(f"/api/jobs/{job_id}").json()
        assert cancelled["status"] == "stopped"
        wait_until(lambda: receiver.got("job_stopped", job_id), lambda: "job_stopped delivered", 20)
    restarts = "select count(*) from gaps where job_id = %s and reason = 'server restarted'"
    assert cluster.count(restarts, job_id) == 1
    _no_webhook_twice(receiver, job_id)


def _run_in(snapshot: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    runs = [r for g in snapshot["streams"] for r in g["sessions"] + g["jobs"]]
    return next((r for r in runs if (r.get("session_id") or r.get("job_id")) == run_id), None)


def test_sse_and_the_ui_overview_on_one_replica_follow_the_runs_of_the_other(
    cluster: Database, stream: LiveHLSServer, receiver: Receiver
) -> None:
    """Live events cross replicas on the database's event bus (LISTEN/NOTIFY): a client of B gets every event
    of a job and of a session that run on A, in order, none missing or twice, and B's overview follows them."""
    from livesight.api.routes_ui import _REFRESH
    from livesight.runs.views import SSE_NAMES

    a, b = cluster.replicas["a"].start(), cluster.replicas["b"].start()
    overview = SSEReader(b.url, "/api/ui/overview/stream")
    readers = [overview]
    try:
        wait_until(lambda: overview.seen("snapshot"), lambda: "B's first overview snapshot", 20)
        with a.client() as on_a, b.client() as on_b:
            job_id = _monitor(on_a, stream, receiver)
            job_events = SSEReader(b.url, f"/api/jobs/{job_id}/events")
            ids = on_a.post(
                "/api/live/start-session",
                json={"source_url": stream.url, "name": "front door", "rapid_review_query": "report every red square"},
            ).json()
            session_path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
            session_events = SSEReader(b.url, f"{session_path}/events")
            readers += [job_events, session_events]

            def job_on_b(status: str) -> list[dict[str, Any]]:
                return [
                    view
                    for s in overview.seen("snapshot")
                    if (view := _run_in(s["data"], job_id)) is not None and view["status"] == status
                ]

            wait_until(lambda: job_events.seen("triggered"), lambda: f"a trigger on B: {job_events.seen()}", 60)
            wait_until(
                lambda: any(
                    event_key(e["id"]) > event_key(job_events.seen("triggered")[0]["id"])
                    for e in job_events.seen("progress")
                ),
                lambda: "progress after the trigger",
                30,
            )
            assert cluster.worker_pid(job_id) == a.pid  # the job runs on A; B only reads
            [(session_worker,)] = cluster.query("select worker_id from sessions where id = %s", ids["session_id"])
            assert int(session_worker.split(":")[1]) == a.pid
            # B's overview shows A's job running, its counters moving with A's progress.
            wait_until(lambda: job_on_b("running"), lambda: "the job running in B's overview", 30)
            wait_until(
                lambda: len({v["counters"]["checks"] for v in job_on_b("running")}) >= 2,
                lambda: "the job's counters moving in B's overview",
                30,
            )
            wait_until(
                lambda: session_events.seen("event"), lambda: f"a session event on B: {session_events.seen()}", 60
            )

            cancelled = on_b.delete(f"/api/jobs/{job_id}").json()
            assert cancelled["status"] == "stopped"
            # The end reaches B's overview on the bus, not at its next refresh (every _REFRESH seconds).
            wait_until(lambda: job_on_b("stopped"), lambda: "the job stopped in B's overview", _REFRESH / 2)
            assert job_events.ended.wait(20), "the job's SSE stream on B did not end"
            assert on_a.post("/api/live/end-session", json=ids).json()["status"] == "ended"
            assert session_events.ended.wait(60), "the session's SSE stream on B did not end"
            stored_session = on_b.get(session_path).json()["events"]

        # The job: every stored event once, in seq order, with progress between them, ending at `stopped`.
        assert job_events.error is None
        got = job_events.seen()
        keys = [event_key(e["id"]) for e in got]
        assert keys == sorted(keys) and len(keys) == len(set(keys)), f"out of order or twice: {keys}"
        log = cluster.query("select seq, type from events where job_id = %s order by seq", job_id)
        stored = [e for e in got if "." not in e["id"]]
        assert [(int(e["id"]), e["event"]) for e in stored] == [(seq, SSE_NAMES[t]) for seq, t in log]
        assert {"started", "progress", "triggered", "stopped"} <= {e["event"] for e in got}
        assert got[-1]["event"] == "stopped" and got[-1]["data"]["reason"] == "cancelled"
        # B renders A's events with its own links.
        assert all(t["data"]["clip_url"].startswith(b.url) for t in job_events.seen("triggered"))

        # The session: every stored event once, in order, then `ended`.
        assert session_events.error is None
        got = session_events.seen()
        assert [e["data"]["event_id"] for e in got if e["event"] == "event"] == [e["event_id"] for e in stored_session]
        assert all(int(e["id"]) == e["data"]["seq"] for e in got if e["event"] == "event")
        assert got[-1]["event"] == "ended" and got[-1]["data"]["status"] == "FINISHED"
    finally:
        for reader in readers:
            reader.close()
