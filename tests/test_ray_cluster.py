"""LiveSight scaled out: a Ray cluster runs the runs, two `livesight serve` replicas on one PostgreSQL database
serve the API, and recordings go to an S3-compatible store (``LIVESIGHT_RUNNER=ray``).

One scenario, as an operator would live it: a webhook job and a session created on replica A run in one Ray actor
(one per source URL); a client of replica B follows both over SSE; A is killed with ``kill -9`` and nothing
changes for the runs; the Ray node holding the actor is removed and Ray restarts the actor on the other node, where
the runs resume with the gap recorded; a cancel sent to B stops the job within 2 s; no trigger or webhook is lost or
sent twice, and the recording plays from either replica. Everything waits on what was stored or received.
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
from livesight.runs.ray_runner import source_actor_name
from livesight.runs.views import SSE_NAMES
from livesight.settings import Settings
from livesight.testing.databases import fresh_pg_database
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.playback import frames_by_time
from livesight.testing.replicas import Database, Receiver, Replica, SSEReader, event_key, wait_until
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer

ray = pytest.importorskip("ray", reason="needs the ray extra: pip install -e '.[ray]'")
boto3 = pytest.importorskip("boto3", reason="needs the s3 extra")
moto_server = pytest.importorskip("moto.server", reason="needs moto[server] from the test extra")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_ENV = "LIVESIGHT_TEST_DATABASE_URL"
LEASE = 3.0
RAY_IP = "127.0.0.2"  # Ray rewrites 127.0.0.1 to the machine's outside address; it leaves this loopback one alone
NAMESPACE = "livesight-test"
GAP = "select count(*) from gaps where {column} = %s and reason = 'server restarted'"


@pytest.fixture
def stream() -> Iterator[LiveHLSServer]:
    """Six minutes of scene, a red square for 6 s every 20 s, played at twice real time (3 minutes)."""
    events = tuple((start, start + 6.0) for start in range(8, 360, 20))
    with LiveHLSServer(spec=SceneSpec(duration=360.0, events=events), speed=2.0) as hls:
        yield hls


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hooks:
        yield hooks


@pytest.fixture
def bucket() -> Iterator[dict[str, str]]:
    """A real S3-compatible server (moto's) with an empty bucket; the settings that point LiveSight at it."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
        client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        client.create_bucket(Bucket="recordings")
        yield {
            "LIVESIGHT_STORAGE_URL": "s3://recordings/live",
            "LIVESIGHT_STORAGE_ENDPOINT_URL": endpoint,
            "LIVESIGHT_STORAGE_REGION": "us-east-1",
            "LIVESIGHT_STORAGE_ACCESS_KEY_ID": "t",
            "LIVESIGHT_STORAGE_SECRET_ACCESS_KEY": "t",
        }
    finally:
        server.stop()


class RayCluster:
    """A Ray head with no CPUs (it only coordinates) and two worker nodes of one CPU each, on this machine;
    this test process is a driver of it, to ask an actor where it runs."""

    def __init__(self) -> None:
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "include_dashboard": False, "node_ip_address": RAY_IP},
        )
        self.nodes = [self.cluster.add_node(num_cpus=1, node_ip_address=RAY_IP) for _ in range(2)]
        self.cluster.wait_for_nodes()
        ray.init(address=self.cluster.address, _node_ip_address=RAY_IP, namespace=NAMESPACE, log_to_driver=False)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def where(self, source_url: str) -> dict[str, Any]:
        actor = ray.get_actor(source_actor_name(source_url), namespace=NAMESPACE)
        return dict(ray.get(actor.where.remote(), timeout=60))

    def remove_node_of(self, source_url: str) -> str:
        """Remove the node running ``source_url``'s actor (its raylet and workers end); returns its id."""
        node_id = self.where(source_url)["node_id"]
        [node] = [n for n in self.nodes if n.node_id == node_id]
        self.cluster.remove_node(node)
        self.nodes.remove(node)
        return node_id

    def has_actor(self, source_url: str) -> bool:
        try:
            ray.get_actor(source_actor_name(source_url), namespace=NAMESPACE)
        except ValueError:
            return False
        return True

    def shutdown(self) -> None:
        ray.shutdown()
        self.cluster.shutdown()


@pytest.fixture
def ray_cluster() -> Iterator[RayCluster]:
    cluster = RayCluster()
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def deployment(
    tmp_path: Path, vlm: VLMTestServer, ray_cluster: RayCluster, bucket: dict[str, str]
) -> Iterator[Database]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESIGHT_", "OPENAI_", "RAY_"))}
    with fresh_pg_database(base) as url:
        env.update(
            bucket,
            LIVESIGHT_DATABASE_URL=url,
            LIVESIGHT_RUNNER="ray",
            LIVESIGHT_RAY_ADDRESS=ray_cluster.address,
            LIVESIGHT_RAY_NODE_IP=RAY_IP,
            LIVESIGHT_RAY_NAMESPACE=NAMESPACE,
            LIVESIGHT_MODEL_BASE_URL=vlm.base_url,
            LIVESIGHT_MODEL="livesight-test-vlm",
            LIVESIGHT_ALLOW_LOOPBACK="true",
            LIVESIGHT_MIN_INTERVAL_SECONDS="1",
            LIVESIGHT_LEASE_SECONDS=str(LEASE),
            LIVESIGHT_RAY_IDLE_SECONDS="2",
            LIVESIGHT_CHUNK_SECONDS="10",
            LIVESIGHT_WEBHOOK_SECRET=server_webhook_secret(Settings(data_dir=tmp_path / "secret")),
            LIVESIGHT_SIGNING_SECRET=secrets.token_hex(16),
        )
        replicas = {name: Replica(name, env, tmp_path / name) for name in ("a", "b")}
        try:
            yield Database(url, replicas)
        finally:
            for replica in replicas.values():
                replica.stop()


def _stream_time(client: httpx.Client, job_id: str) -> float:
    """How far into the stream the job has watched (its checks are few: the gate skips the unchanged picture)."""
    return float(client.get(f"/api/jobs/{job_id}").json()["stats"].get("session_time", 0.0))


def test_runs_on_ray_survive_a_killed_replica_and_a_lost_node(
    stream: LiveHLSServer, receiver: Receiver, ray_cluster: RayCluster, deployment: Database
) -> None:
    db = deployment
    a, b = db.replicas["a"].start(), db.replicas["b"].start()
    readers: list[SSEReader] = []
    try:
        with a.client() as on_a, b.client() as on_b:
            created = on_a.post(
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
            assert created.status_code == 200, created.text
            job_id = created.json()["job_id"]
            job_events = SSEReader(b.url, f"/api/jobs/{job_id}/events")
            ids = on_a.post(
                "/api/live/start-session",
                json={
                    "source_url": stream.url,
                    "name": "gate",
                    "rapid_review_query": "report every red square",
                    "webhook_url": receiver.url,
                },
            ).json()
            session_id = ids["session_id"]
            session_path = f"/api/live/live-sessions/{ids['stream_id']}/{session_id}"
            session_events = SSEReader(b.url, f"{session_path}/events")
            readers += [job_events, session_events]

            # Both run in the one Ray actor of their source; neither replica holds a run.
            wait_until(lambda: receiver.got("watch_triggered", job_id), lambda: "a trigger", 90)
            worker = db.worker_of("jobs", job_id)
            assert worker is not None and worker.startswith(f"ray:{source_actor_name(stream.url)}:")
            assert db.worker_of("sessions", session_id) == worker
            assert on_a.get("/healthz").json()["jobs_running"] == 0
            assert on_b.get("/healthz").json()["jobs_running"] == 0
            wait_until(
                lambda: session_events.seen("event"), lambda: f"a session event on B: {session_events.seen()}", 90
            )

            # kill -9 of the replica that created them changes nothing for the runs.
            a.kill()
            before = _stream_time(on_b, job_id)
            wait_until(
                lambda: _stream_time(on_b, job_id) >= before + 4,
                lambda: f"the job going on after A was killed: {on_b.get(f'/api/jobs/{job_id}').json()['stats']}",
                30,
            )
            assert db.worker_of("jobs", job_id) == worker

            # The node holding the actor goes: Ray restarts it on the other node, which resumes both runs.
            lost = ray_cluster.remove_node_of(stream.url)
            wait_until(
                lambda: (
                    db.worker_of("jobs", job_id) not in (worker, None)
                    and db.worker_of("sessions", session_id) not in (worker, None)
                ),
                lambda: f"the runs resumed by a new actor: {db.worker_of('jobs', job_id)}",
                60,
            )
            assert ray_cluster.where(stream.url)["node_id"] != lost
            for column, run_id in (("job_id", job_id), ("session_id", session_id)):
                gaps = GAP.format(column=column)
                wait_until(lambda q=gaps, r=run_id: db.count(q, r) >= 1, lambda: "the outage recorded as a gap", 30)
            triggers = len(receiver.got("watch_triggered", job_id))
            wait_until(
                lambda: len(receiver.got("watch_triggered", job_id)) > triggers,
                lambda: "a trigger after the move",
                60,
            )
            chunks = "select count(*) from chunks where session_id = %s"
            recorded = db.count(chunks, session_id)
            wait_until(lambda: db.count(chunks, session_id) > recorded, lambda: "the session recording again", 60)

            # A cancel sent to B stops the job within 2 s; ending the session through B finishes it.
            started = time.monotonic()
            cancelled = on_b.delete(f"/api/jobs/{job_id}").json()
            took = time.monotonic() - started
            assert cancelled["status"] == "stopped" and cancelled["final_stats"]["reason"] == "cancelled"
            assert took < 2.0, f"the cancel took {took:.2f} s"
            assert on_b.post("/api/live/end-session", json=ids).json()["status"] == "ended"
            assert job_events.ended.wait(20) and session_events.ended.wait(60)
            stored_session = on_b.get(session_path).json()
            assert stored_session["status"] == "FINISHED"
            wait_until(lambda: receiver.got("job_stopped", job_id), lambda: "job_stopped delivered", 20)
            wait_until(lambda: receiver.got("session_ended", session_id), lambda: "session_ended delivered", 20)
            stored_ids = [e["event_id"] for e in stored_session["events"]]

            def delivered() -> list[str]:
                return [r["data"]["event_id"] for r in receiver.got("event_detected", session_id)]

            wait_until(
                lambda: sorted(delivered()) == sorted(stored_ids),
                lambda: f"every session event delivered once: {delivered()} of {stored_ids}",
                20,
            )

        # B's SSE clients got every stored event of both runs once, in order.
        assert job_events.error is None and session_events.error is None
        got = job_events.seen()
        keys = [event_key(e["id"]) for e in got]
        assert keys == sorted(keys) and len(keys) == len(set(keys)), f"out of order or twice: {keys}"
        log = db.query("select seq, type from events where job_id = %s order by seq", job_id)
        assert [(int(e["id"]), e["event"]) for e in got if "." not in e["id"]] == [(s, SSE_NAMES[t]) for s, t in log]
        assert got[-1]["event"] == "stopped"
        seen = [e["data"]["event_id"] for e in session_events.seen("event")]
        assert seen == [e["event_id"] for e in stored_session["events"]]

        for column, run_id in (("job_id", job_id), ("session_id", session_id)):
            assert db.count(GAP.format(column=column), run_id) == 1  # resumed once, by one actor

        # No trigger or webhook lost or sent twice.
        hook_ids = receiver.ids()
        assert len(hook_ids) == len(set(hook_ids)), "a webhook was delivered twice"
        trigger_times = [r["data"]["stream_time"] for r in receiver.got("watch_triggered", job_id)]
        assert len(trigger_times) == len(set(trigger_times)), f"a trigger was repeated: {trigger_times}"
        stored_triggers = db.count("select count(*) from events where job_id = %s and type = 'condition'", job_id)
        assert len(trigger_times) == stored_triggers
        for type_, run_id in (("job_started", job_id), ("job_stopped", job_id), ("session_started", session_id)):
            assert len(receiver.got(type_, run_id)) == 1, type_

        # With no run left, the source's actor ends and frees its CPUs.
        wait_until(lambda: not ray_cluster.has_actor(stream.url), lambda: "the idle actor to end", 30)

        # The recording plays from either replica (A restarted): the same segments, from the bucket.
        a.start()
        played = []
        for replica in (a, b):
            with replica.client() as client:
                manifest = client.post(f"/api/live/session/{session_id}/signed-manifest").json()
                assert manifest["url"].startswith(replica.url)
                playlist = httpx.get(manifest["url"])
                assert playlist.status_code == 200 and playlist.text.count(".ts?") == stored_session["chunk_count"]
                played.append(frames_by_time(manifest["url"]))
        assert played[0] and played[0] == played[1]
        assert any(red > 0.01 for _, red in played[0])  # the square is in the recording
    finally:
        for reader in readers:
            reader.close()
