"""Headless Chromium (Debian's ``chromium``, driven by Playwright) against a real LiveSight server.

The browser is never downloaded (no ``playwright install``): the tests use the system Chromium, which
``.ci/run`` installs, and skip with a message saying how to get it where there is none.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from livesight.settings import Settings
from livesight.store import Store
from livesight.testing._server import LiveServer, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS_ENV = "LIVESIGHT_SCREENSHOTS"  # a directory: the tests save the pages' screenshots there


def find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "web UI tests need Chromium: `apt-get install -y --no-install-recommends chromium` (.ci/run does it)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("web UI tests need Playwright: `pip install -e '.[test]'` (never `playwright install`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"min_interval_seconds": 1.0, "allow_loopback": True, "sse_keepalive_seconds": 1.0}
    )


@pytest.fixture
def keyed(web_settings: Settings) -> Iterator[tuple[LiveServer, str]]:
    """A server with one API key (so not in development mode), and that key's token."""

    async def make() -> str:
        store = await Store.open(web_settings.resolved_database_url())
        try:
            _, token = await store.create_api_key("web tests")
            return token
        finally:
            await store.close()

    # Playwright's sync API keeps an event loop in this thread: run the store's coroutine in another.
    with ThreadPoolExecutor(1) as pool:
        token = pool.submit(asyncio.run, make()).result()
    live = start_server(web_settings)
    try:
        yield live, token
    finally:
        live.thread.stop()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """New tabs, each in its own browser context (its own sessionStorage), closed after the test; a script
    error on any page fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def new_page() -> Page:
        context = browser.new_context(viewport=DESKTOP)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    try:
        yield new_page
    finally:
        for context in contexts:
            context.close()
    assert errors == []


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """``screenshot(page, name)`` saves ``<name>.png`` into $LIVESIGHT_SCREENSHOTS when it is set."""
    target = os.environ.get(SCREENSHOTS_ENV)

    def take(page: Page, name: str) -> None:
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)

    return take


def log_in(page: Page, base_url: str, key: str) -> None:
    """Open the UI, get sent to the login page, log in with ``key`` and land on the overview."""
    page.goto(base_url + "/")
    page.wait_for_url("**/ui/login**")
    page.fill("#api-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(base_url + "/")
    page.wait_for_selector("#conn[data-state=live]")
