"""The web UI in a real headless Chromium, against a real server, a live HLS stream and the test model."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from livesight.api.routes_ui import HLS_JS
from livesight.settings import Settings
from livesight.store import Store
from livesight.testing._vision import colour_fraction
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec, frame_index_from_image

from .conftest import LiveServer, log_in, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

QUERY = "report every red square you see"
SCENE = SceneSpec(duration=90.0, events=((20.0, 28.0), (50.0, 58.0)))

# The picture the <video> element shows right now, as a PNG data URL (same-origin media: not tainted).
GRAB = """v => { const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0); return c.toDataURL('image/png'); }"""


def _video(page: Page) -> dict[str, Any]:
    return page.eval_on_selector(  # type: ignore[no-any-return]
        "#player",
        "v => ({t: v.currentTime, paused: v.paused, ready: v.readyState, seeking: v.seeking,"
        " engine: v.dataset.engine})",
    )


def _landed(page: Page, stream_time: float) -> dict[str, Any] | None:
    video = _video(page)
    settled = video["ready"] >= 2 and not video["seeking"]
    return video if settled and abs(video["t"] - stream_time) < 1.0 else None


def _after(page: Page, seconds: float) -> dict[str, Any] | None:
    video = _video(page)
    return video if video["t"] > seconds else None


def _picture(page: Page) -> Image.Image:
    url = page.eval_on_selector("#player", GRAB)
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _click_event_and_check_playback(page: Page, event: dict[str, Any]) -> dict[str, Any]:
    """Click the event in the list: the video lands within 1 s of its stream_time, plays, and shows it."""
    page.click(f"#events li[data-event-id='{event['event_id']}'] button")
    landed = _wait(lambda: _landed(page, event["stream_time"]), 15, f"currentTime within 1 s of {event['stream_time']}")
    advanced = _wait(lambda: _after(page, landed["t"] + 0.3), 15, "playback to advance")
    assert not advanced["paused"]
    # The picture is the event's moment of the source: its frame counter reads the event's capture time.
    picture = _picture(page)
    shown = frame_index_from_image(np.asarray(picture), SCENE) / SCENE.fps
    elapsed = _video(page)["t"] - event["stream_time"]
    assert abs(shown - elapsed - event["capture_time"]) < 1.0, (shown, elapsed, event["capture_time"])
    assert colour_fraction(picture, "red") > 0.003  # and the red square is there
    return advanced


def test_start_a_session_see_it_live_and_play_an_event(
    keyed: tuple[LiveServer, str], open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    if not HLS_JS.is_file():
        pytest.skip("hls.js is not installed: run `npm ci --prefix src/livesight/web` (.ci/run does it)")
    server, key = keyed
    watcher = open_page()  # an overview opened before the session exists: it must appear there live
    log_in(watcher, server.url, key)
    assert watcher.inner_text("#who") == "key: web tests"
    page = open_page()
    log_in(page, server.url, key)
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as stream, server.client(key) as api:
        page.click("text=New session or job")
        page.wait_for_url("**/ui/new")
        page.fill("#s-source", stream.url)
        page.fill("#s-name", "front door")
        page.fill("#s-query", QUERY)
        page.click("#session-form button[type=submit]")
        page.wait_for_url("**/ui/sessions/**")
        stream_id, session_id = page.url.split("/")[-2:]

        page.wait_for_selector("#status[data-status=ACTIVE]")
        assert page.inner_text("#title") == "front door"
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        assert page.locator("#events li").count() == 0
        row = watcher.wait_for_selector(f"li.run[data-run-id='{session_id}'][data-status=ACTIVE]")
        assert row is not None and "front door" in row.inner_text()

        page.wait_for_selector("#events li", timeout=40_000)  # the first red square, pushed over SSE
        assert page.evaluate("window.__sameDocument") is True
        payload = api.get(f"/api/live/live-sessions/{stream_id}/{session_id}").json()
        first = payload["events"][0]
        item = page.locator(f"#events li[data-event-id='{first['event_id']}']")
        assert float(item.get_attribute("data-stream-time") or "nan") == first["stream_time"]
        assert page.locator("#timeline .marker").count() >= 1

        played = _click_event_and_check_playback(page, first)
        assert played["engine"] == "hls.js"  # Chromium's native HLS cannot seek a live (EVENT) playlist
        screenshot(page, "session")
        counter = f"li.run[data-run-id='{session_id}'] [data-counter=triggers] dd"
        watcher.wait_for_function(f"Number(document.querySelector(`{counter}`).textContent) >= 1")  # counters move
        screenshot(watcher, "overview")

        # A marker seeks the same way (from the keyboard: focus it, press Enter).
        page.eval_on_selector("#player", f"v => {{ v.currentTime = {max(0.0, first['stream_time'] - 5)}; }}")
        _wait(lambda: abs(_video(page)["t"] - first["stream_time"]) > 2.0, 10, "the player to move away")
        page.focus("#timeline .marker")
        page.keyboard.press("Enter")
        _wait(lambda: _landed(page, first["stream_time"]), 10, "the marker's seek")

        page.click("#stop")
        page.wait_for_selector("#status[data-status=FINISHED]", timeout=60_000)
        assert page.is_hidden("#stop")
        watcher.wait_for_selector(f"li.run[data-run-id='{session_id}'][data-status=FINISHED]")
        assert page.evaluate("window.__sameDocument") is True

    # Ended, the recording is a VOD playlist, which Chromium plays natively.
    page.reload()
    page.wait_for_selector(f"#events li[data-event-id='{first['event_id']}']")
    played = _click_event_and_check_playback(page, first)
    assert played["engine"] == "native"


def test_forms_show_api_errors_next_to_fields_and_check_once(
    keyed: tuple[LiveServer, str], open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    server, key = keyed
    page = open_page()
    page.goto(server.url + "/ui/new")
    page.wait_for_url("**/ui/login?next=%2Fui%2Fnew")
    page.fill("#api-key", "ls_not-a-key")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#api-key-err:visible")
    assert "not valid" in page.inner_text("#api-key-err")
    assert page.get_attribute("#api-key", "aria-invalid") == "true"
    page.fill("#api-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/ui/new")
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')].filter(e => !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []

    # The session form: no name → the API's message under the name field, and focus on it.
    page.fill("#s-source", "http://127.0.0.1:9/live.m3u8")
    page.click("#session-form button[type=submit]")
    page.wait_for_selector("#s-name-err:visible")
    assert page.inner_text("#s-name-err") == "Must not be empty"  # the API's words, as a sentence
    assert page.get_attribute("#s-name", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "s-name"
    assert page.is_hidden("#s-source-err")

    # The job form: several bad fields at once, each message next to its own field.
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as stream:
        page.fill("#j-source", stream.url)
        page.fill("#j-condition", "is there a red square?")
        page.fill("#j-interval", "0.5")
        page.fill("#j-max", "0")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("#j-interval-err:visible")
        assert page.inner_text("#j-interval-err") == "Must be at least 1 second"
        assert page.inner_text("#j-max-err") == "Must be at least 1"
        assert page.is_hidden("#j-condition-err")
        assert page.url.endswith("/ui/new")

        # Check once: the verdict and the frame it judged.
        page.fill("#j-interval", "1")
        page.fill("#j-max", "1")
        page.click("#check-once")
        page.wait_for_selector("#verdict")
        assert page.is_hidden("#j-interval-err")  # earlier errors are cleared
        verdict = page.inner_text("#verdict")
        assert verdict.startswith(("Yes", "No"))
        size = page.eval_on_selector("#verdict-frame", "img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert size[0] and size[1] >= 320 and size[2] >= 180
        frame = page.get_attribute("#verdict-frame", "src") or ""
        judged = Image.open(io.BytesIO(base64.b64decode(frame.split(",", 1)[1])))
        # the test model answers from the pixels: its verdict agrees with the red in that frame
        assert verdict.startswith("Yes") == (colour_fraction(judged, "red") > 0.003)
        screenshot(page, "create")


def test_monitor_job_from_the_form_triggers_and_plays_back(
    keyed: tuple[LiveServer, str], open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    server, key = keyed
    page = open_page()
    log_in(page, server.url, key)
    page.goto(server.url + "/ui/new")
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as stream, server.client(key) as api:
        page.fill("#j-source", stream.url)
        page.fill("#j-condition", "is there a red square?")
        page.fill("#j-interval", "1")
        page.click("#job-form button[type=submit]")
        page.wait_for_url("**/ui/jobs/**")
        job_id = page.url.rsplit("/", 1)[1]
        page.wait_for_selector("#status[data-status=running]")
        page.wait_for_selector("#events li", timeout=40_000)
        page.wait_for_selector("#status[data-status=completed]", timeout=30_000)  # max_triggers 1
        assert page.is_hidden("#stop")
        trigger = api.get(f"/api/jobs/{job_id}").json()["triggers"][0]
        assert page.get_attribute("#events li", "data-event-id") == trigger["event_id"]
        _click_event_and_check_playback(page, trigger)
        assert page.inner_text("#last-check").startswith("Last check at")
        # The chart: a point per stored check, and a "yes" point at the trigger's check.
        checks = api.get(f"/api/ui/jobs/{job_id}/checks").json()["checks"]
        assert checks and any(c["triggered"] and abs(c["stream_time"] - trigger["stream_time"]) < 0.5 for c in checks)
        page.wait_for_function(f"document.querySelector('#chart').dataset.checks == '{len(checks)}'")
        plotted = page.eval_on_selector("#chart", "el => el.plot.data")
        assert plotted[0] == [c["stream_time"] for c in checks]
        yes = [x for x, y in zip(plotted[0], plotted[1], strict=True) if y is not None]
        assert any(abs(x - trigger["stream_time"]) < 0.5 for x in yes)
        size = page.eval_on_selector("#chart canvas", "c => [c.width, c.height]")
        assert size[0] > 100 and size[1] > 50
        screenshot(page, "job")


def test_development_mode_login_takes_an_empty_key(
    web_settings: Settings, open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    from .conftest import start_server

    server = start_server(web_settings)
    try:
        page = open_page()
        page.goto(server.url + "/ui/login")
        page.wait_for_selector("#dev-note:visible")
        assert "development mode" in page.inner_text("#dev-note")
        page.click("#login-form button[type=submit]")
        page.wait_for_url(server.url + "/")
        page.wait_for_selector("#empty:visible")
        assert page.inner_text("#who") == "development mode"
        page.click("#logout")
        page.wait_for_url("**/ui/login")
        page.goto(server.url + "/")
        page.wait_for_url("**/ui/login**")  # logged out: the pages send you to the login again
    finally:
        server.thread.stop()


def test_pages_fit_a_phone(keyed: tuple[LiveServer, str], browser: Browser) -> None:
    """At 360 px wide nothing scrolls sideways, and the two forms stack."""
    server, key = keyed
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        log_in(page, server.url, key)
        with server.client(key) as api:
            started = api.post(
                "/api/live/start-session",
                json={"source_url": "http://127.0.0.1:9/x.m3u8", "name": "p", "skip_validation": True},
            )
            ids = started.json()
        for path, rendered in (
            ("/", "li.run"),
            ("/ui/new", "#s-stream option[value^=str_]"),
            (f"/ui/sessions/{ids['stream_id']}/{ids['session_id']}", "#counters div"),
        ):
            page.goto(server.url + path)
            page.wait_for_selector(rendered, state="attached")
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(server.url + "/ui/new")
        session_box = page.locator("#session-form").bounding_box()
        job_box = page.locator("#job-form").bounding_box()
        assert session_box and job_box and job_box["y"] > session_box["y"] + session_box["height"]
    finally:
        context.close()


@pytest.fixture
def impatient(web_settings: Settings) -> Iterator[tuple[LiveServer, str]]:
    """A keyed server that gives a silent source up after 4 s, so a run fails while the test watches."""
    settings = web_settings.model_copy(update={"give_up_after_seconds": 4.0})

    async def make() -> str:
        store = await Store.open(settings.resolved_database_url())
        try:
            return (await store.create_api_key("web tests"))[1]
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop in this thread
        token = pool.submit(asyncio.run, make()).result()
    live = start_server(settings)
    try:
        yield live, token
    finally:
        live.thread.stop()


def test_a_run_whose_source_is_down_says_so(
    impatient: tuple[LiveServer, str], open_page: Callable[[], Page], screenshot: Callable[[Page, str], None]
) -> None:
    """Not grey text under a black player: a source that does not answer is an alert while the run retries
    it, and the reason once the run has failed."""
    server, key = impatient
    page = open_page()
    log_in(page, server.url, key)
    with server.client(key) as api:
        started = api.post(
            "/api/live/start-session",
            json={"source_url": "http://127.0.0.1:9/cam.m3u8", "name": "garage", "skip_validation": True},
        )
        assert started.status_code == 200, started.text
        ids = started.json()
    page.goto(f"{server.url}/ui/sessions/{ids['stream_id']}/{ids['session_id']}")
    alert = page.wait_for_selector("#run-alert.warn", state="visible")
    assert alert is not None and "reconnecting" in alert.inner_text()
    failed = page.wait_for_selector("#run-alert.bad", state="visible", timeout=30_000)
    assert failed is not None and failed.inner_text().startswith("Failed: no frames for")
    page.wait_for_selector("#status[data-status=FAILED]")
    screenshot(page, "session-failed")
    page.reload()  # and a page opened after the failure says it too
    assert "Failed: no frames for" in page.wait_for_selector("#run-alert.bad", state="visible").inner_text()
