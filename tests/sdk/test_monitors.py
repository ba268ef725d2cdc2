"""client.monitors against a real server: create/get/list/cancel, SSE with reconnection, tools."""

from __future__ import annotations

import contextlib

from livesight import AsyncLiveSight, LiveSight
from livesight.sdk import CheckProgress, Job, JobDetail, JobEnded, JobStarted, MonitorEvent, Trigger
from livesight.testing.hls_server import LiveHLSServer

from ._helpers import CuttingProxy
from .conftest import CONDITION, LiveServer


def test_create_get_list_cancel(client: LiveSight, stream: LiveHLSServer) -> None:
    job = client.monitors.create(
        stream.url, CONDITION, interval_seconds=1, max_triggers=None, monitor_duration_seconds=None
    )
    assert isinstance(job, Job) and job.job_type == "live-monitor" and job.status in ("pending", "running")
    assert job.message and not job.is_ended
    detail = client.monitors.get(job.job_id)
    assert isinstance(detail, JobDetail) and detail.condition == CONDITION
    # None was sent as JSON null ("no limit"), not dropped in favour of the defaults (600 s, 1 trigger).
    assert detail.config["max_triggers"] is None and detail.config["monitor_duration_seconds"] is None
    assert detail.config["interval_seconds"] == 1 and detail.config["enable_prefilter"] is True
    listed = client.monitors.list(type="live-monitor")
    assert listed.total == 1 and [j.job_id for j in listed.jobs] == [job.job_id] and listed.limit == 20
    cancelled = client.monitors.cancel(job.job_id)
    assert cancelled.status == "stopped" and cancelled.final_stats.reason == "cancelled"
    assert client.monitors.get(job.job_id).is_ended
    again = client.monitors.cancel(job.job_id)
    assert again.status == "stopped" and "already" in again.message
    assert client.monitors.list(status="stopped").total == 1
    assert client.monitors.list(status="running").total == 0


def test_stream_events_follow_a_job_to_its_end(client: LiveSight, stream: LiveHLSServer) -> None:
    job = client.monitors.create(stream.url, CONDITION, interval_seconds=1, max_triggers=2)
    events = list(client.monitors.stream_events(job.job_id))
    names = [e.event for e in events]
    assert names[0] == "started" and names.count("triggered") == 2 and "progress" in names
    assert names[-1] == "stopped" and events[-1].terminal and events[-1].data["reason"] == "max_triggers_reached"
    stored = [e for e in events if e.id is not None and e.id.isdigit()]
    assert [e.event for e in stored] == ["started", "triggered", "triggered", "stopped"]
    assert [int(e.id or 0) for e in stored] == sorted(int(e.id or 0) for e in stored)
    progress = [e for e in events if e.event == "progress"]
    assert all(e.id and "." in e.id for e in progress)  # snapshots: "<last seq>.<n>"
    for trigger in (e for e in events if e.event == "triggered"):
        assert trigger.data["triggered"] is True and trigger.data["explanation"]
        assert 8 <= trigger.data["capture_time"] < 14.5 or 24 <= trigger.data["capture_time"] < 30.5
    # The same events as typed models: a check's verdict, a trigger's evidence, the end's final counters.
    started, ended = events[0].payload, events[-1].payload
    assert isinstance(started, JobStarted) and started.job_id == job.job_id and started.condition == CONDITION
    assert isinstance(ended, JobEnded) and ended.status == "completed" and ended.final_stats.triggers_fired == 2
    checks = [e.payload for e in progress]
    assert all(isinstance(c, CheckProgress) and c.job_id == job.job_id for c in checks)
    assert any(isinstance(c, CheckProgress) and c.triggered is False for c in checks)
    triggers = [e.trigger for e in events if e.trigger is not None]
    assert len(triggers) == 2 and all(t.triggered and t.frame_url and t.stream_time >= 0 for t in triggers)
    assert events[0].trigger is None
    detail = client.monitors.get(job.job_id)
    assert detail.status == "completed" and detail.stats.reason == "max_triggers_reached"
    assert detail.stats.triggers_fired == 2 and len(detail.triggers) == 2
    assert all(isinstance(t, Trigger) and t.frame_url and t.clip_url for t in detail.triggers)
    # Replaying from an id gives exactly what came after it.
    replay = list(client.monitors.stream_events(job.job_id, last_event_id=stored[1].id))
    assert [e.id for e in replay] == [e.id for e in stored[2:]]


def test_stream_events_reconnect_after_a_cut(server: LiveServer, stream: LiveHLSServer) -> None:
    events: list[MonitorEvent] = []
    waits: list[tuple[float, int]] = []  # (delay, events received before it): the delay is recorded, not slept
    with CuttingProxy(server.thread.port, cut_after=2) as proxy, LiveSight(base_url=proxy.url) as client:
        client._sleep = lambda seconds: waits.append((seconds, len(events)))
        job = client.monitors.create(stream.url, CONDITION, interval_seconds=1, max_triggers=2)
        for event in client.monitors.stream_events(job.job_id):
            events.append(event)
        # The first connection delivered two events and part of a third, then was reset; the SDK waited the
        # server's "retry: 2000" (with jitter) and resumed from the last event it had received.
        assert proxy.cuts == 1 and len(proxy.sse_requests) == 2
        [(delay, received)] = waits
        assert received == 2 and 1.5 <= delay <= 2.5
        resumed_from = next(line for line in proxy.sse_requests[1].split("\r\n") if line.lower().startswith("last-"))
        assert resumed_from.split(":", 1)[1].strip() == events[1].id
    assert events[-1].event == "stopped"
    with LiveSight(base_url=server.url) as direct:
        full = [e.id for e in direct.monitors.stream_events(job.job_id) if e.id and e.id.isdigit()]
    seen = [e.id for e in events if e.id and e.id.isdigit()]
    assert seen == full  # every stored event exactly once: no gap, no duplicate
    assert len(full) == 4


async def test_async_client_mirrors_the_sync_one(aclient: AsyncLiveSight, stream: LiveHLSServer) -> None:
    job = await aclient.monitors.create(stream.url, CONDITION, interval_seconds=1)
    events: list[MonitorEvent] = []
    async with contextlib.aclosing(aclient.monitors.stream_events(job.job_id)) as iterator:
        async for event in iterator:
            events.append(event)
    assert events[0].event == "started" and events[-1].event == "stopped"
    assert [e.event for e in events].count("triggered") == 1
    detail = await aclient.monitors.get(job.job_id)
    assert detail.status == "completed" and detail.stats.reason == "condition_triggered"
    assert (await aclient.monitors.list(status="completed")).total == 1
    assert "already" in (await aclient.monitors.cancel(job.job_id)).message
    other = await aclient.monitors.create(stream.url, CONDITION, interval_seconds=1, max_triggers=None)
    assert (await aclient.monitors.cancel(other.job_id)).final_stats.reason == "cancelled"
    valid = await aclient.monitors.validate_stream(stream.url)
    assert valid.is_live and valid.codec == "h264"


def test_tools(client: LiveSight, stream: LiveHLSServer) -> None:
    valid = client.monitors.validate_stream(stream.url)
    assert valid.is_live and valid.width == 640 and valid.codec == "h264"
    gone = client.monitors.validate_stream("http://127.0.0.1:9/x.m3u8")
    assert gone.is_live is False and gone.error_hint
    once = client.monitors.check_once(stream.url, "is there a blue square?", include_frame=True)
    assert once.triggered is False and once.frame_b64 and once.latency_ms >= 0


def test_digest_create(client: LiveSight, stream: LiveHLSServer) -> None:
    job = client.digests.create(stream.url, window_minutes=0.1, capture_interval_seconds=2, max_windows=1)
    assert job.job_type == "live-digest"
    summaries = [e for e in client.monitors.stream_events(job.job_id) if e.event == "summary"]
    assert len(summaries) == 1
    assert client.monitors.get(job.job_id).summaries
