"""The dashboard's picture for the README: `python -m bench.dashboard_screenshot [out.png]`
writes docs/dashboard.png (or `out.png`).

A real daemon on the simulated exchange (config/demo.toml, in virtual time, a journal in a
temporary directory) rebalances the demo portfolio and polls every ten minutes for two hours; a
pause is then set so the banner shows. Its API and dashboard (`bot.api.app.build_app`) are served
on 127.0.0.1 and photographed by Debian's chromium through Playwright (`.ci/browser-deps`
installs chromium; Playwright comes with the `dev` extras)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from aiohttp import web
from playwright.async_api import async_playwright

from bot.api.app import build_app
from bot.journal import Journal
from bot.observability import configure_logging
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "dashboard.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN = "demo-dashboard-token-0123456789abcdef"  # for the demo daemon only
ROUNDS, GAP = 12, 600.0  # polls, seconds of virtual time apart


async def shoot(out: Path, workdir: Path) -> None:
    environ = {
        **os.environ,
        "REBALANCE_SIM__TIME": "virtual",
        "REBALANCE_JOURNAL__PATH": str(workdir / "journal.sqlite"),
        "REBALANCE_API__ENABLED": "true",
        "REBALANCE_API__TOKEN": TOKEN,
    }
    settings = load_settings(ROOT / "config" / "demo.toml", environ)
    configure_logging("warning")
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    daemon = build_daemon(settings, backend, journal)
    runner = web.AppRunner(build_app(settings, daemon), access_log=None)
    try:
        for _ in range(ROUNDS):
            await daemon.run(once=True)
            await daemon.clock.sleep(GAP)
        daemon.control.pause("cli", "maintenance window until 14:00")
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            await page.goto(url)
            await page.wait_for_selector("#updated[datetime]")
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out), full_page=True)
            await browser.close()
    finally:
        await runner.cleanup()
        journal.close()
    print(f"wrote {out}")


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else OUT
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"no chromium at {CHROMIUM}: run .ci/browser-deps (or set CHROMIUM)")
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(shoot(out, Path(workdir)))


if __name__ == "__main__":
    main(sys.argv[1:])
