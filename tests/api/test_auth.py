"""Keys: required once they exist, hashed, and blind to each other's jobs."""

from __future__ import annotations

from livesight.testing.hls_server import LiveHLSServer

from .conftest import LiveServer


def test_keys_are_required_and_scoped(keyed: tuple[LiveServer, str, str], stream: LiveHLSServer) -> None:
    server, alice, bob = keyed
    with server.client() as anonymous:
        response = anonymous.get("/api/jobs")
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
    with server.client("ls_not-a-key") as wrong:
        assert wrong.get("/api/jobs").status_code == 401
    with server.client(alice) as a, server.client(bob) as b:
        created = a.post(
            "/api/live-monitor", json={"stream_url": stream.url, "condition": "red square?", "interval_seconds": 1}
        )
        assert created.status_code == 200, created.text
        job_id = created.json()["job_id"]
        assert a.get(f"/api/jobs/{job_id}").status_code == 200
        for method, path in (
            ("GET", f"/api/jobs/{job_id}"),
            ("DELETE", f"/api/jobs/{job_id}"),
            ("GET", f"/api/jobs/{job_id}/events"),
        ):
            response = b.request(method, path)
            assert response.status_code == 404, (method, path)
        assert b.get("/api/jobs").json()["total"] == 0
        assert a.get("/api/jobs").json()["total"] == 1
        assert a.get("/api/webhook-secret").json()["secret"] != b.get("/api/webhook-secret").json()["secret"]
        cancelled = a.delete(f"/api/jobs/{job_id}").json()
        assert cancelled["status"] == "stopped" and cancelled["final_stats"]["reason"] == "cancelled"


def test_tokens_are_stored_only_as_hashes(keyed: tuple[LiveServer, str, str]) -> None:
    server, alice, _ = keyed
    db = (server.settings.data_dir / "livesight.db").read_bytes()
    assert alice.encode() not in db
