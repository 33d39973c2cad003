"""The dashboard (`bot/api/static/`) in headless chromium against the real API and daemon: it
loads with no console error and no failed request under the API's Content-Security-Policy, shows
every asset's weight against its target, the halt banner whose Resume clears the halt in the
journal, the API's refusal of a command without a token (nothing changes), a running rebalance's
legs, and, in a screenshot decoded here, the colours it promises: a red bar out of band, a green
one in band, the banner in the halt's red."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.market import Side
from bot.execution.reports import LegReport
from bot.runtime.control import PAUSE_KEY, Running
from tests.browser.conftest import TOKEN, Bot, Watched

MakeBot = Callable[..., Awaitable[Bot]]
HALTED_RED = (0xB7, 0x1C, 0x1C)  # --halted in dashboard.css
OUT_RED = (0xC6, 0x28, 0x28)  # --out
IN_GREEN = (0x2E, 0x7D, 0x32)  # --in
STATIC = ("static/dashboard.css", "static/dashboard.js")


async def rounds(bot: Bot, n: int = 3, gap: float = 300.0) -> None:
    """`n` rounds of the daemon (the first rebalances the demo portfolio), `gap` seconds of
    virtual time apart, so there is history and snapshots over time."""
    for _ in range(n):
        await bot.daemon.run(once=True)
        await bot.daemon.clock.sleep(gap)


async def api(watched: Watched, bot: Bot, path: str) -> object:
    resp = await watched.page.request.get(bot.url + "api/v1/" + path)
    assert resp.ok, await resp.text()
    return await resp.json()


async def assert_positions_shown(watched: Watched, status: dict[str, Any]) -> None:
    """Every asset of the status, with its weight, target and band state, in the page."""
    page = watched.page
    positions = status["positions"]
    assert {p["asset"] for p in positions} == set(status["targets"]["weights"])
    assert await page.locator("#positions li.position").count() == len(positions)
    for p in positions:
        row = page.locator(f'#positions li[data-asset="{p["asset"]}"]')
        assert await row.locator(".asset").text_content() == p["asset"]
        assert await row.locator(".num-weight").text_content() == pct(p["weight"])
        assert await row.locator(".num-target").text_content() == pct(p["target"])
        assert await row.get_attribute("class") == "position " + ("in" if p["in_band"] else "out")
        label = await row.locator("svg.bar").get_attribute("aria-label") or ""
        assert f"weight {pct(p['weight'])}, target {pct(p['target'])}" in label


def pct(text: str) -> str:
    return f"{float(text) * 100:.1f}%"


# -- a tiny PNG decoder (8-bit RGB or RGBA, not interlaced: what chromium writes) ---------------


def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Width, height and rows of (r, g, b) pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[list[tuple[int, int, int]]] = []
    prior = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prior[i]
            corner = prior[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, channels)])
        prior = line
    return width, height, rows


def share(png: bytes, colour: tuple[int, int, int], tolerance: int = 10) -> float:
    """The fraction of the image's pixels within `tolerance` of `colour` in every channel."""
    width, height, rows = decode_png(png)
    near = sum(
        1
        for row in rows
        for px in row
        if all(abs(a - b) <= tolerance for a, b in zip(px, colour, strict=True))
    )
    return near / (width * height)


# -- the tests ----------------------------------------------------------------------------------


async def test_the_page_loads_cleanly_and_shows_every_asset_against_its_target(
    make_bot: MakeBot, watched: Watched
) -> None:
    bot = await make_bot()
    await rounds(bot)
    await watched.open(bot.url)
    page = watched.page
    status = await api(watched, bot, "status")
    assert isinstance(status, dict)
    await assert_positions_shown(watched, status)
    # drift over time: one line per asset, and the history table: one row per rebalance
    lines = page.locator("#drift svg path.series")
    assert await lines.count() == len(status["targets"]["weights"])
    assert await page.locator("#drift svg rect.band").count() == 1
    history = await api(watched, bot, "rebalances?limit=20")
    assert isinstance(history, list) and history
    assert await page.locator("#history tbody tr").count() == len(history)
    assert await page.locator("#history tbody tr td").nth(2).text_content() == history[0]["status"]
    assert await page.locator("#mode").text_content() == "sim"
    assert not await page.locator("#banner").is_visible()
    assert watched.errors == [] and watched.failed == []
    # offline: nothing but this server (no CDN, no web font), the page and its two files first
    assert all(url.startswith(bot.url) for url in watched.requested), watched.requested
    assert watched.requested[:3] == [bot.url + p for p in ("", *STATIC)]


async def test_a_halt_shows_the_banner_and_resume_clears_it(
    make_bot: MakeBot, watched: Watched
) -> None:
    bot = await make_bot()
    reason = 'price check: <img src=x id="injected"> BTC/USDT moved'
    bot.journal.halt(reason)
    await bot.daemon.run(once=True)  # polls (a snapshot), trades nothing
    await watched.open(bot.url)
    page = watched.page
    banner = page.locator("#banner")
    assert await banner.is_visible()
    assert await page.locator("#banner-text").text_content() == reason  # as text, not markup
    assert await page.locator("#injected").count() == 0
    await page.click("#resume")
    dialog = page.locator("#confirm")
    assert await dialog.is_visible()
    assert await page.locator("#confirm-title").text_content() == "Resume?"
    await page.fill("#token", TOKEN)
    await page.click("#confirm-yes")
    await page.locator(".msg.ok").wait_for()
    assert bot.journal.active_halt() is None
    await banner.wait_for(state="hidden")
    assert "halt cleared" in (await page.locator(".msg.ok").text_content() or "")
    # the token: in this tab's sessionStorage only, never in the URL, the page or the console
    stored = await page.evaluate("() => [sessionStorage.length, localStorage.length]")
    assert stored == [1, 0]
    assert TOKEN not in page.url and TOKEN not in await page.content()
    assert not any(TOKEN in line for line in watched.console)
    assert watched.errors == [] and watched.failed == []


async def test_pause_without_a_token_shows_the_apis_error_and_changes_nothing(
    make_bot: MakeBot, watched: Watched
) -> None:
    bot = await make_bot()
    await bot.daemon.run(once=True)
    await watched.open(bot.url)
    page = watched.page
    await page.click("#pause")
    assert await page.locator("#confirm").is_visible()
    assert await page.input_value("#token") == ""
    await page.fill("#reason", "going to lunch")
    await page.click("#confirm-yes")
    shown = page.locator("#messages .msg.error")
    await shown.wait_for()
    refusal = await page.request.post(bot.url + "api/v1/pause")  # what the API says to that
    assert refusal.status == 401
    error = (await refusal.json())["error"]
    assert await shown.text_content() == f"Refused (401): {error}"
    assert await page.locator("#messages").get_attribute("aria-live") == "polite"
    assert bot.daemon.control.paused is None and not bot.journal.get_meta(PAUSE_KEY)
    assert bot.journal.commands(10) == []
    assert not await page.locator("#banner").is_visible()
    assert await page.evaluate("() => sessionStorage.length") == 0


async def test_a_running_rebalance_shows_its_legs_filling(
    make_bot: MakeBot, watched: Watched
) -> None:
    bot = await make_bot()
    await bot.daemon.run(once=True)
    leg = LegReport("1:BTC/USDT", "BTC/USDT", Side.BUY, Decimal("0.5"), Decimal(60000), "USDT")
    leg.filled, leg.cost = Decimal("0.2"), Decimal("12003")
    bot.daemon.control.running = Running(bot.daemon.clock.time(), {leg.key: leg})
    await watched.open(bot.url)
    page = watched.page
    row = page.locator("#legs tbody tr")
    assert await row.count() == 1
    cells = [await c.text_content() for c in await row.locator("td").all()]
    assert cells[0] == "BTC/USDT" and cells[1] == "buy" and cells[2] == "0.2 / 0.5"
    assert cells[3] == " 40%" and cells[4] == "2.50"
    progress = row.locator("progress")
    assert await progress.evaluate("p => [p.value, p.max]") == [0.2, 0.5]
    assert await page.locator("#cancel").is_enabled()
    assert not await page.locator("#running-none").is_visible()
    assert watched.errors == [] and watched.failed == []


async def test_a_screenshot_shows_the_banner_and_the_bands_in_their_colours(
    make_bot: MakeBot, watched: Watched, tmp_path: Path
) -> None:
    bot = await make_bot()
    bot.journal.halt("kill switch: turnover budget spent")
    await bot.daemon.run(once=True)  # the demo portfolio, out of band, as polled
    await watched.open(bot.url)
    page = watched.page
    status = await api(watched, bot, "status")
    assert isinstance(status, dict)
    band = {p["asset"]: p["in_band"] for p in status["positions"]}
    assert band["BTC"] is False and band["USDT"] is True, json.dumps(band)
    await assert_positions_shown(watched, status)  # weights far from their targets here
    whole = await page.screenshot(full_page=True, path=str(tmp_path / "dashboard.png"))
    width, height, _ = decode_png(whole)
    assert width == 1200 and height >= 900
    assert share(await page.locator("#banner").screenshot(), HALTED_RED) > 0.5
    out_bar = await page.locator('#positions li[data-asset="BTC"] svg.bar').screenshot()
    in_bar = await page.locator('#positions li[data-asset="USDT"] svg.bar').screenshot()
    assert share(out_bar, OUT_RED) > 0.01 and share(out_bar, IN_GREEN) == 0
    assert share(in_bar, IN_GREEN) > 0.01 and share(in_bar, OUT_RED) == 0


async def test_the_page_refreshes_itself_every_five_seconds(
    make_bot: MakeBot, watched: Watched
) -> None:
    bot = await make_bot()
    await bot.daemon.run(once=True)
    await watched.open(bot.url)
    page = watched.page
    first = await page.get_attribute("#updated", "datetime")
    assert not await page.locator("#banner").is_visible()
    bot.journal.halt("stale prices")  # the page is told nothing: it must read it again
    await page.locator("#banner").wait_for(state="visible", timeout=8000)
    assert await page.locator("#banner-text").text_content() == "stale prices"
    assert await page.get_attribute("#updated", "datetime") != first
    assert watched.errors == [] and watched.failed == []


async def test_without_a_token_the_page_is_read_only(make_bot: MakeBot, watched: Watched) -> None:
    """An API with no token configured: the page says it is read-only and every command button
    is disabled; clicking one opens nothing and sends nothing."""
    bot = await make_bot(token=None)
    await bot.daemon.run(once=True)
    await watched.open(bot.url)
    page = watched.page
    assert await page.locator("#readonly").is_visible()
    for button in ("pause", "rebalance", "cancel", "resume"):
        assert await page.locator(f"#{button}").is_disabled(), button
    await page.locator("#pause").click(force=True)  # a disabled button does nothing
    assert not await page.locator("#confirm").is_visible()
    assert not any("/api/v1/pause" in url for url in watched.requested)
    assert bot.journal.commands(10) == [] and bot.daemon.control.paused is None
    assert watched.errors == [] and watched.failed == []


@pytest.mark.parametrize("how", ["button", "escape"])
async def test_a_cancelled_dialog_sends_nothing_and_forgets_the_token(
    make_bot: MakeBot, watched: Watched, how: str
) -> None:
    """The confirmation dialog closed by its Cancel button or by Escape: no request is sent,
    the typed token is cleared and never stored, nothing is journaled."""
    bot = await make_bot()
    await bot.daemon.run(once=True)
    await watched.open(bot.url)
    page = watched.page
    assert not await page.locator("#readonly").is_visible()
    await page.click("#pause")
    assert await page.locator("#confirm").is_visible()
    await page.fill("#token", TOKEN)
    if how == "button":
        await page.click("#confirm-no")
    else:
        await page.keyboard.press("Escape")
    await page.locator("#confirm").wait_for(state="hidden")
    assert await page.input_value("#token") == ""
    assert not any("/api/v1/pause" in url for url in watched.requested)
    assert await page.evaluate("() => [sessionStorage.length, localStorage.length]") == [0, 0]
    assert bot.journal.commands(10) == [] and bot.daemon.control.paused is None
    assert watched.errors == [] and watched.failed == []
