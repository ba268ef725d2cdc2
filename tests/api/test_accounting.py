"""Accounting through the real server: per-job stats, /metrics, the change gate and the budget."""

from __future__ import annotations

import re
import time

from livesight.testing.hls_server import LiveHLSServer

from .conftest import LiveServer
from .test_monitor import CONDITION, wait_for_job


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def test_job_stats_and_metrics_count_calls_tokens_and_skipped_frames(server: LiveServer, stream: LiveHLSServer) -> None:
    """Two jobs on one stream: gated (the default) and not. Both find both squares; the gated one pays less."""
    request = {"stream_url": stream.url, "condition": CONDITION, "interval_seconds": 1, "max_triggers": None}
    with server.client() as client:
        gated_id = client.post("/api/live-monitor", json=request).json()["job_id"]
        fixed_id = client.post("/api/live-monitor", json={**request, "enable_prefilter": False}).json()["job_id"]
        gated, fixed = wait_for_job(client, gated_id), wait_for_job(client, fixed_id)
        metrics = client.get("/metrics").text
    assert gated["stats"]["reason"] == fixed["stats"]["reason"] == "source_ended"
    for job in (gated, fixed):
        stats = job["stats"]
        # Every positive check fires (the API's default rule), reused verdicts too. (Detection itself is
        # tested elsewhere; a loaded machine may make a live reader skip segments, so only "some".)
        assert job["triggers"] and {int(t["capture_time"] // 10) for t in job["triggers"]} <= {2, 5}
        assert stats["model_calls"] >= stats["checks_performed"] >= 2
        assert stats["images_sent"] >= stats["checks_performed"]  # one frame per check (frames mode)
        assert stats["tokens"]["input"] > 0 and stats["tokens"]["output"] > 0
        assert stats["latency_ms"]["p50"] is not None and stats["latency_ms"]["p95"] >= stats["latency_ms"]["p50"]
    gate, nogate = gated["stats"], fixed["stats"]
    assert nogate["frames_skipped"] == 0 and nogate["prefilter"] is None
    assert gate["frames_skipped"] > 0 and gate["prefilter"]["unchanged"] == gate["frames_skipped"]
    assert gate["model_calls"] * 4 < nogate["model_calls"]
    for trigger in gated["triggers"]:
        assert trigger["stages"][0]["judge"] == "openai-compatible:livesight-test-vlm"
    # /metrics adds both jobs up.
    assert metric(metrics, "livesight_frames_skipped_total") == gate["frames_skipped"]
    assert metric(metrics, "livesight_gate_decisions_total", '{reason="unchanged"}') == gate["frames_skipped"]
    assert metric(metrics, "livesight_model_calls_total") == gate["model_calls"] + nogate["model_calls"]
    assert metric(metrics, "livesight_model_images_total") == gate["images_sent"] + nogate["images_sent"]
    tokens = gate["tokens"]["input"] + nogate["tokens"]["input"]
    assert metric(metrics, "livesight_model_tokens_total", '{direction="input"}') == tokens
    assert metric(metrics, "livesight_checks_total", '{outcome="reused"}') == gate["frames_skipped"]
    assert metric(metrics, "livesight_model_latency_seconds_count") >= gate["model_calls"]


def test_a_budget_stretches_the_interval_instead_of_failing(server: LiveServer, stream: LiveHLSServer) -> None:
    request = {
        "stream_url": stream.url,
        "condition": CONDITION,
        "interval_seconds": 1,
        "max_triggers": None,
        "enable_prefilter": False,
        "max_model_calls_per_hour": 24,  # a burst of 2, then one call every ~164 s
    }
    with server.client() as client:
        created = client.post("/api/live-monitor", json=request)
        assert created.status_code == 200, created.text
        job = wait_for_job(client, created.json()["job_id"])
        assert client.post("/api/live-monitor", json={**request, "max_model_calls_per_hour": 0}).status_code == 422
    stats = job["stats"]
    assert job["status"] != "failed"
    assert stats["model_calls"] == 2 and stats["checks_deferred"] >= 1
    assert stats["budget"]["limited"] is True and stats["budget"]["effective_interval_seconds"] >= 160
    assert job["config"]["max_model_calls_per_hour"] == 24


def test_a_session_counts_its_reviews(server: LiveServer, stream: LiveHLSServer) -> None:
    """Rapid review: one model call per changed chunk; the counters are in the payload, live and after the end."""
    with server.client() as client:
        ids = client.post(
            "/api/live/start-session",
            json={"source_url": stream.url, "name": "door", "rapid_review_query": "report every red square"},
        ).json()
        path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
        deadline = time.monotonic() + 90
        while (session := client.get(path).json())["status"] not in ("FINISHED", "FAILED"):
            assert time.monotonic() < deadline, session
            time.sleep(0.5)
        metrics = client.get("/metrics").text
    stats = session["stats"]
    assert session["status"] == "FINISHED" and session["events"]
    analysed = [c for c in session["chunks"] if c["status"] == "analysed"]
    # Chunks the change gate found unchanged are analysed without a model call (the scene is mostly still).
    assert stats["chunks_analysed"] + stats["chunks_skipped"] == len(analysed) >= 8
    assert stats["chunks_skipped"] >= 1 and stats["prefilter"]["unchanged"] >= stats["frames_skipped"] > 0
    assert stats["model_calls"] == stats["chunks_analysed"] and stats["images_sent"] >= 8 * stats["model_calls"]
    assert stats["tokens"]["input"] > 0 and stats["latency_ms"]["p50"] is not None
    assert metric(metrics, "livesight_model_calls_total") == stats["model_calls"]
    assert metric(metrics, "livesight_model_images_total") == stats["images_sent"]
