"""Take the README's screenshots of the web UI after real activity: ``python docs/screenshots/take.py``.

Runs a LiveSight server with one API key, the test model and two live test streams (a red square comes
and goes in one; the other shows it all the time), starts a session from the form, a monitor job and a
short session, then photographs the session page while it runs (at the live edge), the session page
playing back an event, a monitor job with its chart of checks, the overview (streams with thumbnails) and
the create page (a validation message and a check-once verdict with its frame) in Debian's Chromium at
desktop width. Needs what the web tests need: `apt-get install chromium`, `pip install -e '.[test]'`,
`npm ci --prefix src/livesight/web`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from livesight.api.app import create_app
from livesight.settings import Settings
from livesight.store import Store
from livesight.testing._server import ServerThread
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer

HERE = Path(__file__).resolve().parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_for(check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:g} s")


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="livesight-shots-"))
    vlm = VLMTestServer().start()
    settings = Settings(
        data_dir=data,
        model_base_url=vlm.base_url,
        model="livesight-test-vlm",
        allow_loopback=True,
        min_interval_seconds=1.0,
    )

    async def make_key() -> str:
        store = await Store.open(settings.resolved_database_url())
        try:
            return (await store.create_api_key("me"))[1]
        finally:
            await store.close()

    key = asyncio.run(make_key())
    server = ServerThread(create_app(settings)).start()
    settings.public_url = base = server.base_url
    door = SceneSpec(duration=90.0, events=((20.0, 28.0), (50.0, 58.0)))
    yard = SceneSpec(duration=120.0, events=((0.0, 120.0),))
    try:
        with (
            sync_playwright() as playwright,
            LiveHLSServer(spec=yard, speed=1.0) as yard_stream,
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api,
        ):
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(base + "/ui/login")
            page.fill("#api-key", key)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(base + "/")

            # A short session that has ended, and a monitor job that keeps firing.
            short = api.post("/api/live/start-session", json={"source_url": yard_stream.url, "name": "yard"}).json()
            job = {"stream_url": yard_stream.url, "condition": "is there a red square?", "interval_seconds": 2}
            job_id = api.post(
                "/api/live-monitor", json={**job, "max_triggers": None, "trigger_cooldown_seconds": 4}
            ).json()["job_id"]
            with LiveHLSServer(spec=door, speed=4.0, end_list=True) as door_stream:
                page.goto(base + "/ui/new")
                page.fill("#s-source", door_stream.url)
                page.fill("#s-name", "front door")
                page.fill("#s-query", "report every red square you see")
                page.click("#session-form button[type=submit]")
                page.wait_for_url("**/ui/sessions/**")
                page.wait_for_selector("#events li", timeout=60_000)
                wait_for(lambda: page.eval_on_selector("#player", "v => !v.paused && v.currentTime > 1"))
                time.sleep(1.0)
                shoot(page, "session-live")  # opened at the live edge, "● Live"
                # both appearances of the square (or whatever the session saw, if the stream ended first)
                wait_for(lambda: spread(page) >= 20 or page.inner_text("#status") == "FINISHED")
                api.post(
                    "/api/live/end-session", json={"stream_id": short["stream_id"], "session_id": short["session_id"]}
                )
                page.locator("#events li button").nth(1).click()
                wait_for(lambda: page.eval_on_selector("#player", "v => !v.paused && v.currentTime > 1"))
                time.sleep(1.5)
                shoot(page, "session")

                page.goto(f"{base}/ui/jobs/{job_id}")
                wait_for(lambda: int(page.get_attribute("#chart", "data-checks") or 0) >= 6)
                time.sleep(1.5)
                shoot(page, "job")

                page.goto(base + "/")
                page.wait_for_selector("li.run")
                page.wait_for_function("[...document.querySelectorAll('.thumb img')].some(i => i.naturalWidth > 0)")
                time.sleep(1.5)
                shoot(page, "overview")

            page.goto(base + "/ui/new")
            page.fill("#s-source", "https://example.com/live/index.m3u8")
            page.click("#session-form button[type=submit]")
            page.wait_for_selector("#s-name-err:visible")
            page.fill("#j-source", yard_stream.url)
            page.fill("#j-condition", "is there a red square?")
            page.click("#check-once")
            page.wait_for_selector("#verdict-frame")
            page.evaluate("document.activeElement.blur()")
            shoot(page, "create")
            browser.close()
    finally:
        server.stop()
        vlm.stop()


def spread(page: Page) -> float:
    """Seconds between the first and the last event listed."""
    times = page.eval_on_selector_all("#events li", "items => items.map(li => Number(li.dataset.streamTime))")
    return max(times) - min(times) if times else 0.0


def shoot(page: Page, name: str) -> None:
    path = HERE / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
