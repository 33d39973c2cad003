"""The dashboard in a real browser: Debian's chromium driven by Playwright (no browser download),
against the real API (`bot.api.app.build_app`) in front of a real daemon on the simulated exchange
(virtual time), served on 127.0.0.1 on a free port.

The tests skip only when no chromium is installed (`.ci/browser-deps` installs it in CI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright

from bot.api.app import build_app
from bot.journal import Journal
from bot.runtime.daemon import Daemon
from tests.integration.helpers import daemon_for, settings_for

TOKEN = "s3cr3t-dashboard-token-0123456789abcdef"


def chromium_path() -> str | None:
    """Debian's chromium (or `CHROMIUM` from the environment), None when there is none."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium at /usr/bin/chromium: run .ci/browser-deps to install it")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Bot:
    """A daemon on the simulator with its API served at `url`."""

    url: str
    daemon: Daemon
    journal: Journal


@dataclass
class Watched:
    """A page, with everything it complained about: console errors, uncaught exceptions,
    requests that failed and responses of 400 or more."""

    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    async def open(self, url: str) -> None:
        await self.page.goto(url)
        await self.page.wait_for_selector("#updated[datetime]")  # a first refresh drew


@pytest.fixture
async def make_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    """`await make_bot()`: a daemon (nothing run yet) and its API with a token (`token=None`:
    read-only), on a free port."""
    runners: list[web.AppRunner] = []
    journals: list[Journal] = []

    async def make(token: str | None = TOKEN) -> Bot:
        if token is None:  # a read-only API
            monkeypatch.delenv("REBALANCE_API__TOKEN", raising=False)
        else:
            monkeypatch.setenv("REBALANCE_API__TOKEN", token)
        settings = settings_for(tmp_path, "[api]\nenabled = true\n")
        daemon, _, journal = daemon_for(settings)
        journals.append(journal)
        runner = web.AppRunner(build_app(settings, daemon), access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return Bot(f"http://127.0.0.1:{port}/", daemon, journal)

    yield make
    for runner in runners:
        await runner.cleanup()
    for journal in journals:
        journal.close()


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    seen = Watched(page)

    def on_console(msg: ConsoleMessage) -> None:
        seen.console.append(msg.text)
        if msg.type in ("error", "warning"):
            seen.errors.append(f"console {msg.type}: {msg.text}")

    def on_failed(request: Request) -> None:
        seen.failed.append(f"{request.method} {request.url}: {request.failure}")

    async def on_response(response: object) -> None:
        status = getattr(response, "status", 0)
        if status >= 400:
            seen.failed.append(f"{status} {getattr(response, 'url', '?')}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
    page.on("request", lambda request: seen.requested.append(request.url))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    yield seen
    await context.close()
