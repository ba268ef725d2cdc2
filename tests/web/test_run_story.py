"""The story of a run at a glance, in a real headless Chromium against a real server, a live HLS stream and
the test model: wall-clock times and durations, the live edge, the overview's streams with thumbnails,
archiving and deleting ended runs, the charts, the favicon and the timeline's last marker."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from livesight.api.routes_ui import HLS_JS, UPLOT_JS
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec

from .conftest import LiveServer, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

QUERY = "report every red square you see"
SCENE = SceneSpec(duration=200.0, events=((16.0, 34.0), (120.0, 140.0)))
SPAN = re.compile(r"^(\d\d:\d\d)–(\d\d:\d\d) \((\d+) s\) · (\d\d:\d\d:\d\d)$")
EDGE = """v => ({t: v.currentTime, paused: v.paused,
  end: v.seekable.length ? v.seekable.end(v.seekable.length - 1) : 0})"""


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _needs_assets() -> None:
    if not HLS_JS.is_file() or not UPLOT_JS.is_file():
        pytest.skip("hls.js or uPlot is not installed: run `npm ci --prefix src/livesight/web` (.ci/run does it)")


def _near_edge(page: Page) -> dict[str, Any] | None:
    """The player plays within two chunks and a bit of the newest recorded moment, well past the start."""
    video = page.eval_on_selector("#player", EDGE)
    ok = not video["paused"] and video["t"] > 20 and video["end"] - video["t"] < 26
    return video if ok else None


def test_a_running_session_opens_at_the_live_edge_with_wall_clock_times_and_durations(
    keyed: tuple[LiveServer, str], open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    _needs_assets()
    server, key = keyed
    page = open_page()
    log_in(page, server.url, key)
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as stream, server.client(key) as api:
        started = api.post(
            "/api/live/start-session", json={"source_url": stream.url, "name": "yard", "rapid_review_query": QUERY}
        )
        assert started.status_code == 200, started.text
        ids = started.json()
        path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
        _wait(lambda: len(api.get(path).json()["chunks"]) >= 6, 60, "a minute of recording")
        page.goto(f"{server.url}/ui/sessions/{ids['stream_id']}/{ids['session_id']}")
        page.wait_for_selector("#status[data-status=ACTIVE]")

        # Opened at the live edge, playing: not paused on the recording's first frame.
        opened = _wait(lambda: _near_edge(page), 30, "playback near the live edge")
        assert opened["t"] > 20
        # Into the past, and "Go live" brings it back.
        page.eval_on_selector("#player", "v => { v.currentTime = 1; }")
        _wait(lambda: page.eval_on_selector("#player", "v => v.currentTime < 5 && !v.seeking"), 10, "the seek back")
        page.wait_for_selector("#go-live[data-at-edge=false]")
        assert page.inner_text("#go-live") == "Go live"
        page.click("#go-live")
        _wait(lambda: _near_edge(page), 20, "Go live to return to the live edge")

        # An appearance: its span and length, and the wall-clock time of its start.
        item = page.wait_for_selector("#events li", timeout=40_000)
        assert item is not None
        text = _wait(
            lambda: next((t for t in page.locator("#events .time").all_inner_texts() if SPAN.match(t)), None),
            60,
            "an event with an end after its start",
        )
        start, end, seconds, wall = SPAN.match(text).groups()  # type: ignore[union-attr]
        chart = api.get(f"/api/ui/sessions/{ids['session_id']}/chunks").json()
        event = next(e for e in api.get(path).json()["events"] if _clock(e["stream_time"]) == start)
        assert _clock(event["end_time"]) == end and abs(int(seconds) - (event["end_time"] - event["stream_time"])) <= 1
        origin = datetime.fromisoformat(chart["started_at"])
        assert wall == (origin + timedelta(seconds=event["stream_time"])).astimezone().strftime("%H:%M:%S")
        title = page.get_attribute(f"#timeline .marker[data-event-id='{event['event_id']}']", "title") or ""
        assert title.startswith(f"{start} · {wall}")  # the timeline's tooltip says it too

        # The chunks chart, and the last marker inside the timeline's box.
        page.wait_for_selector("#chart canvas")
        _wait(lambda: int(page.get_attribute("#chart", "data-chunks") or 0) >= 6, 10, "the chart's chunks")
        box = page.locator("#timeline").bounding_box()
        last = page.locator("#timeline .marker").last.bounding_box()
        assert box and last and last["x"] >= box["x"] and last["x"] + last["width"] <= box["x"] + box["width"] + 0.5
        # The counters beside the list agree with it.
        listed = page.locator("#events li").count()
        page.wait_for_function(
            f"document.querySelector('#counters [data-counter=triggers] dd').textContent == '{listed}'"
        )
        screenshot(page, "session")
        api.post("/api/live/end-session", json=ids)


def _clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 60:02d}:{total % 60:02d}"


def test_the_overview_groups_a_urls_runs_with_a_thumbnail_archives_and_deletes_ended_ones(
    keyed: tuple[LiveServer, str], open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    _needs_assets()
    server, key = keyed
    page = open_page()
    log_in(page, server.url, key)
    recordings = server.state.settings.recordings_dir
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as stream, server.client(key) as api:
        first = api.post(
            "/api/live/start-session", json={"source_url": stream.url, "name": "front", "rapid_review_query": QUERY}
        ).json()
        second = api.post("/api/live/start-session", json={"source_url": stream.url, "name": "back"}).json()
        path = f"/api/live/live-sessions/{first['stream_id']}/{first['session_id']}"
        _wait(lambda: any("thumbnail_url" in e for e in api.get(path).json()["events"]), 60, "an event with a frame")
        back = f"/api/live/live-sessions/{second['stream_id']}/{second['session_id']}"
        _wait(lambda: api.get(back).json()["chunks"], 30, "the second session's first chunk")
        assert api.post("/api/live/end-session", json=second).status_code == 200
        _wait(lambda: api.get(back).json()["status"] == "FINISHED", 30, "the second session to end")
        assert (recordings / second["session_id"]).is_dir()

        # One stream for the URL's two runs, with the newest event frame as its picture.
        front_row = page.wait_for_selector(f"li.run[data-run-id='{first['session_id']}']")
        back_row = page.wait_for_selector(f"li.run[data-run-id='{second['session_id']}'][data-status=FINISHED]")
        assert front_row is not None and back_row is not None
        group = page.locator("section.stream", has=page.locator(f"li[data-run-id='{first['session_id']}']"))
        assert group.locator(f"li[data-run-id='{second['session_id']}']").count() == 1
        group.locator(".thumb img").wait_for()
        page.wait_for_function(
            "[...document.querySelectorAll('.thumb img')].some(i => i.complete && i.naturalWidth > 0)"
        )

        # A running run has no delete button, and the API refuses it.
        assert front_row.query_selector("[data-action=delete]").is_hidden()  # type: ignore[union-attr]
        refused = api.delete(f"/api/ui/sessions/{first['session_id']}")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "RUN_STILL_RUNNING"
        screenshot(page, "overview")

        # Delete asks first: dismissing changes nothing; confirming removes the run and its recording.
        back_row.query_selector("[data-action=delete]").click()  # type: ignore[union-attr]
        page.wait_for_selector("#confirm[open]")
        assert "back" in page.inner_text("#confirm-text")
        page.click("#confirm-cancel")
        page.wait_for_selector("#confirm", state="hidden")
        assert page.locator(f"li.run[data-run-id='{second['session_id']}']").count() == 1
        assert api.get(back).status_code == 200 and (recordings / second["session_id"]).is_dir()
        back_row.query_selector("[data-action=delete]").click()  # type: ignore[union-attr]
        page.click("#confirm-ok")
        page.wait_for_selector(f"li.run[data-run-id='{second['session_id']}']", state="detached")
        assert api.get(back).status_code == 404 and not (recordings / second["session_id"]).exists()

        # Archive hides an ended run; "show archived" shows it again.
        assert api.post("/api/live/end-session", json=first).status_code == 200
        row = f"li.run[data-run-id='{first['session_id']}']"
        page.wait_for_selector(f"{row}[data-status=FINISHED]", timeout=60_000)
        page.click(f"{row} [data-action=archive]")
        page.wait_for_selector(row, state="detached")
        assert page.inner_text("#archived-count") == "(1)"
        page.check("#show-archived")
        page.wait_for_selector(f"{row}[data-archived=true] .archived-tag:visible")

    icon = httpx.get(server.url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
