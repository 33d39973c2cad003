"""Prices checked before any plan, and a frozen book while a leg trades: on the simulated
exchange, whose replies a scenario event corrupts (`bad_price`) or freezes (`frozen`), through the
real gateway, daemon and executor, in virtual time."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from bot.domain.market import Side
from bot.domain.status import LegOutcome
from bot.errors import MalformedReply
from bot.exchange.gateway import Gateway
from bot.sim.exchange import SimExchange
from tests.integration.helpers import ROOT, daemon_for, settings_for

D = Decimal
DEMO = ROOT / "config" / "scenarios" / "demo.toml"


def scenario(tmp_path: Path, events: str, base: Path = DEMO) -> str:
    path = tmp_path / "scenario.toml"
    path.write_text(f'extends = "{base}"\n{events}\n')
    return str(path)


def event(kind: str, symbol: str, at: float, duration: float = 0, **more: str | float) -> str:
    lines = [f'kind = "{kind}"', f'symbol = "{symbol}"', f"at = {at}"]
    if duration:
        lines.append(f"duration = {duration}")
    lines += [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in more.items()]
    return "[[events]]\n" + "\n".join(lines).replace("'", '"') + "\n"


def bought(ex: SimExchange, asset: str) -> Decimal:
    """What the account bought of `asset` (as the base of a buy, or the quote of a sell)."""
    total = D(0)
    for t in ex.engine.my_trades():
        base, _, quote = t.symbol.partition("/")
        if base == asset and t.side is Side.BUY:
            total += t.amount
        elif quote == asset and t.side is Side.SELL:
            total += t.amount * t.price
    return total


def _ms(ex: SimExchange, seconds: float) -> int:
    """The exchange's time (ms) `seconds` after the scenario's start."""
    return int((ex.engine.books["ETH/USDT"].start + seconds) * 1000)


# -- 2: garbage prices never stop the daemon -------------------------------------------------------

SHOWN = {"0": "price of 0", "-1": "price of -", "nan": "price of NaN"}


@pytest.mark.parametrize("size", ["0", "-1", "nan"])
@pytest.mark.parametrize("reply", ["book", "ticker"])
async def test_a_garbage_price_makes_its_asset_wait_and_the_daemon_go_on(
    tmp_path: Path, reply: str, size: str
) -> None:
    """SOL/USDT's book or ticker shows 0, a negative price or NaN for five minutes: SOL waits,
    with the reason (nothing is planned meanwhile); the daemon neither crashes nor halts, and
    rebalances once the prices are sane again. Before: exit code 1 (0 or below), or a traceback
    (decimal.InvalidOperation on NaN)."""
    events = event("bad_price", "SOL/USDT", 0, 300, size=size, reply=reply)
    settings = settings_for(
        tmp_path, "[loop]\npoll_interval = 30\ncooldown = 30", scenario=scenario(tmp_path, events)
    )
    daemon, ex, journal = daemon_for(settings)
    first = await daemon.run(once=True)
    assert first.halted is None
    assert first.waiting is not None
    assert f"no trusted price for SOL (SOL/USDT: the {reply} shows a bid {SHOWN[size]}" in (
        first.waiting
    )
    assert not ex.engine.all_orders()  # nothing traded on these prices
    later = await daemon.run(until_balanced=True, max_rounds=10)
    assert later.halted is None
    assert later.balanced
    assert journal.active_halt() is None
    assert min(o.timestamp for o in ex.engine.all_orders("SOL/USDT")) >= _ms(ex, 300)


async def test_a_reply_ccxt_itself_cannot_parse_is_a_malformed_reply() -> None:
    """Binance's ticker with lastPrice "NaN", read by ccxt's real binance class (the HTTP call
    answered in Binance's JSON): ccxt's own parser raises a bare ValueError. The gateway makes it
    a MalformedReply, which the daemon waits on (before: an uncaught traceback)."""
    client = ccxt.binance({"options": {"defaultType": "spot"}})
    client.number = str
    client.set_markets(
        [
            {
                "id": "ETHUSDT",
                "symbol": "ETH/USDT",
                "base": "ETH",
                "quote": "USDT",
                "baseId": "ETH",
                "quoteId": "USDT",
                "type": "spot",
                "spot": True,
                "active": True,
                "precision": {"amount": 0.0001, "price": 0.01},
                "limits": {},
                "info": {},
            }
        ]
    )
    ticker = {"symbol": "ETHUSDT", "bidPrice": "3499", "bidQty": "1", "askPrice": "3501"}
    ticker.update(askQty="1", lastPrice="NaN", openPrice="3400", closeTime=1_700_000_000_000)

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        return [ticker]

    client.fetch = fetch

    async def no_sleep(seconds: float) -> None:
        pass

    gateway = Gateway(client, sleep=no_sleep)
    try:
        with pytest.raises(MalformedReply, match="fetch_tickers: a reply ccxt cannot read"):
            await gateway.fetch_tops(["ETH/USDT"])
    finally:
        await client.close()


# -- 3: a bad tick at start-up is not traded on ----------------------------------------------------


async def test_a_bad_tick_at_start_up_is_caught_by_the_cross_market(tmp_path: Path) -> None:
    """Right after a start, ETH/USDT shows ETH 30% low (book and ticker) for ten minutes: ETH/BTC x
    BTC/USDT disagree, so nothing is planned (before: 48.28 ETH bought instead of 22.86). Once
    the tick is gone, the plan buys what the real prices call for."""
    events = event("bad_price", "ETH/USDT", 0, 600, size=0.7)
    settings = settings_for(
        tmp_path, "[loop]\npoll_interval = 60\ncooldown = 60", scenario=scenario(tmp_path, events)
    )
    daemon, ex, _ = daemon_for(settings)
    first = await daemon.run(once=True)
    assert first.halted is None
    assert first.waiting is not None
    assert re.search(
        r"no trusted price for BTC, ETH \(ETH/USDT shows 24\d\d\.?\d* but ETH/BTC x BTC/USDT"
        r" imply 3\d{3}\.?\d* \(30\.\d% apart, more than 5%\)\)",
        first.waiting,
    ), first.waiting
    assert not ex.engine.all_orders()
    later = await daemon.run(until_balanced=True, max_rounds=10)
    assert later.balanced
    assert later.halted is None
    assert D(20) < bought(ex, "ETH") < D(26)  # ~22.86 ETH, never ~48
    assert min(o.timestamp for o in ex.engine.all_orders()) >= _ms(ex, 600)


def _without_eth_btc(tmp_path: Path) -> Path:
    """The demo scenario with no ETH/BTC market: nothing implies ETH/USDT."""
    text = DEMO.read_text()
    start = text.index('[markets."ETH/BTC"]')
    end = text.index("\n[", start + 1)
    path = tmp_path / "no-cross.toml"
    path.write_text(text[:start] + text[end + 1 :])
    return path


async def test_a_bad_tick_at_start_up_with_no_cross_market_waits_for_two_looks(
    tmp_path: Path,
) -> None:
    """No ETH/BTC to expose it: ETH/USDT shows ETH 30% low for the first three seconds after a
    start. The first look is never enough: the second, 5 s later, disagrees with it, so the bot
    waits; the next poll agrees with that one, and the plan is made on real prices."""
    events = event("bad_price", "ETH/USDT", 0, 3, size=0.7)
    settings = settings_for(
        tmp_path,
        "[loop]\npoll_interval = 60\ncooldown = 60",
        scenario=scenario(tmp_path, events, base=_without_eth_btc(tmp_path)),
    )
    daemon, ex, journal = daemon_for(settings)
    first = await daemon.run(once=True)
    assert first.halted is None
    assert first.waiting is not None
    assert "ETH moved 42." in first.waiting
    assert "a second look must agree before any plan" in first.waiting
    assert not ex.engine.all_orders()
    later = await daemon.run(until_balanced=True, max_rounds=5)
    assert later.balanced
    assert later.halted is None and journal.active_halt() is None
    assert D(20) < bought(ex, "ETH") < D(26)


async def test_a_ticker_the_exchange_stopped_stamping_makes_its_asset_wait(
    tmp_path: Path,
) -> None:
    """BTC/USDT's ticker freezes at the start (same prices, same stamp) while its book lives: the
    first rebalance runs on the books; two hundred seconds on, the ticker is stale and BTC waits."""
    events = event("frozen", "BTC/USDT", 0, 3600, reply="ticker")
    settings = settings_for(
        tmp_path, "[risk]\nprice_max_age = 120", scenario=scenario(tmp_path, events)
    )
    daemon, ex, _ = daemon_for(settings)
    first = await daemon.run(once=True)
    assert first.reports and first.balanced
    await ex.clock.sleep(200)
    second = await daemon.run(once=True)
    assert second.halted is None
    assert second.waiting is not None
    assert re.search(r"BTC/USDT is stale: the exchange stamped it \d+ s ago", second.waiting)


# -- 8: a frozen book stops the leg ----------------------------------------------------------------


@pytest.mark.parametrize("style", ["passive-then-take", "take"])
async def test_a_frozen_book_stops_the_leg_after_a_few_children(tmp_path: Path, style: str) -> None:
    """Ten seconds into the rebalance, BTC/USDT's book stops changing (same levels, stamp and
    update id) while the market falls 5% under it: the sells placed at its prices never fill.
    The leg stops placing after a few children and is given up with the reason; the daemon does
    not halt (before: children until the leg's deadline, none filled; with `take`, without end)."""
    events = event("frozen", "BTC/USDT", 10, 3600) + event("jump", "BTC/USDT", 10, size=-0.05)
    settings = settings_for(
        tmp_path, f'[execution]\nstyle = "{style}"', scenario=scenario(tmp_path, events)
    )
    daemon, ex, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    assert result.halted is None and journal.active_halt() is None
    (leg,) = [leg for leg in result.reports[0].legs if leg.symbol == "BTC/USDT"]
    assert leg.outcome is LegOutcome.HALTED
    assert leg.reason.startswith("book frozen: unchanged for ")
    frozen_at = _ms(ex, 10)
    after = [o for o in ex.engine.all_orders("BTC/USDT") if o.timestamp >= frozen_at]
    assert 1 <= len(after) <= 6
    assert all(o.filled == 0 for o in after)
