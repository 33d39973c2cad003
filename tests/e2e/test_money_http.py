"""Money paths over real HTTP, through the bot's own ccxt client factory and the real
`ccxt.async_support.binance`, against the simulator served as Binance spot on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.clock import RealClock
from bot.domain.market import Side
from bot.domain.orders import OrderRequest
from bot.domain.planner import Leg
from bot.domain.slicing import ExecutionPolicy, Style
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.exchange.transport import RetryPolicy
from bot.execution.executor import Executor
from bot.journal import Journal
from bot.runtime.reconcile import reconcile
from bot.runtime.wiring import build_backend, build_daemon, open_journal
from bot.settings import load_settings
from bot.sim.binance import (
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    front_of,
    start_server,
)
from bot.sim.scenario import Scenario, load_scenario, parse_scenario
from tests.integration.test_money_safety import bridged_config, bridged_scenario

D = Decimal
KEYS = {"apiKey": LOCAL_TEST_API_KEY, "secret": LOCAL_TEST_SECRET}


@asynccontextmanager
async def served(data: dict[str, Any]) -> AsyncIterator[tuple[Gateway, BinanceFront]]:
    """The scenario served on a free port, and a gateway on the bot's own binance client."""
    runner, port = await start_server(parse_scenario(data))
    profile = profile_for("binance")
    client = ccxt_client(
        "binance",
        profile,
        timeout=5.0,
        options={},
        credentials=lambda: KEYS,
        api_url=f"http://127.0.0.1:{port}",
    )
    gateway = Gateway(client, profile=profile, requests_per_second=1000)
    try:
        yield gateway, front_of(runner)
    finally:
        await gateway.close()
        await runner.cleanup()


MEME: dict[str, Any] = {
    "seed": 1,
    "balances": {"MEME": "5000000000", "USDT": "100000"},
    "regime": {"volatility": 0.0, "levels": 5, "trade_rate": 0.0, "spread_bps": 20.0},
    "markets": {
        "MEME/USDT": {
            "price": "0.000012345678",
            "tick": "0.000000000001",
            "step": "0.00000001",
            "top_depth": "900000000",
        }
    },
    "faults": {"weight_per_minute": 0},
}


async def test_an_amount_of_eighteen_digits_reaches_the_exchange_unchanged() -> None:
    """A large meme-token position on a fine step: 1,234,567,890.12345678 has 18 significant
    digits, more than a float holds (it would arrive as 1234567890.1234567)."""
    amount = D("1234567890.12345678")
    async with served(MEME) as (gateway, front):
        await gateway.load_markets()
        book = await gateway.fetch_order_book("MEME/USDT", 5)
        assert book.best_ask is not None
        price = book.best_ask + D("0.000000001")  # a sell that rests above the touch
        report = await gateway.place_order(
            OrderRequest("exact-1", "MEME/USDT", Side.SELL, amount, price)
        )
        order = front.engine.find(client_order_id="exact-1")
        assert order.amount == amount
        assert order.price == price
        assert report.amount == amount
        balances = await gateway.fetch_balances()
        assert balances.used["MEME"] == amount
        assert balances.free["MEME"] == D(5_000_000_000) - amount


def ccxt_leg(symbol: str, side: Side, amount: str, price: str) -> Leg:
    base, quote = symbol.split("/")
    a, p = D(amount), D(price)
    spends, receives = (quote, base) if side is Side.BUY else (base, quote)
    return Leg(symbol, side, a, p, a * p, a * p, spends, receives, D(0), D(0), None)


WALK: dict[str, Any] = {
    "seed": 3,
    "balances": {"BTC": "0", "USDT": "500000"},
    "regime": {"volatility": 0.0, "levels": 30, "trade_rate": 0.0, "depth_growth": 0.0},
    "markets": {
        "BTC/USDT": {
            "price": "95000",
            "tick": "0.01",
            "step": "0.00001",
            "min_cost": "5",
            "top_depth": "0.05",
            "level_spacing_ticks": 5000,
            "maker_fee": "0",
            "taker_fee": "0",
        }
    },
    "faults": {"weight_per_minute": 0},
}


async def test_a_buy_never_spends_past_its_budget_over_http() -> None:
    """Zero fees, a 100 bps band, a book of thin levels 50 USDT apart: every take walks several
    levels, and what it walks must still fit what is left of the budget."""
    async with served(WALK) as (gateway, front):
        await gateway.load_markets()
        book = await gateway.fetch_order_book("BTC/USDT", 50)
        assert book.mid is not None
        policy = ExecutionPolicy(
            style=Style.TAKE, band_bps=D(100), participation=D(1), child_timeout=0.05
        )
        leg = ccxt_leg("BTC/USDT", Side.BUY, "2", "95000")
        report = await Executor(gateway, policy, RealClock()).run_leg(
            leg, book.mid, "budget-1", D(60_000)
        )
        spent = D(500_000) - front.engine.account.total("USDT")
        assert report.filled > 0
        assert spent <= D(60_000)
        assert report.reason.startswith("budget spent")


async def test_fills_survive_an_outage_a_clock_offset_and_paging_over_http(
    tmp_path: Path,
) -> None:
    """The trade endpoint is down for the leg's end, the exchange's clock is 3 s behind the
    bot's, and a trade query returns at most 4 trades: the leg ends unsettled with estimated
    fees, and the reconciliation after the outage records every trade, fees as charged."""
    data = {
        **WALK,
        "clock_offset": -3.0,
        "max_trades_page": 4,
        "markets": {
            "BTC/USDT": {
                **WALK["markets"]["BTC/USDT"],
                "taker_fee": "0.001",
                "level_spacing_ticks": 500,
            }
        },
        "faults": {
            "weight_per_minute": 0,
            "outages": [{"method": "fetch_my_trades", "start": 0, "end": 4}],
        },
    }
    async with served(data) as (gateway, front):
        gateway.retry = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1)
        journal = Journal(tmp_path / "journal.sqlite")
        await gateway.load_markets()
        book = await gateway.fetch_order_book("BTC/USDT", 50)
        assert book.mid is not None
        policy = ExecutionPolicy(
            style=Style.TAKE, band_bps=D(30), participation=D(1), child_timeout=0.05
        )
        leg = ccxt_leg("BTC/USDT", Side.BUY, "0.5", "95000")
        rid = journal.start_rebalance("testnet", D(500_000), D(0))
        journal.start_leg("fills-1", rid, 0, "BTC/USDT", Side.BUY, leg.amount, book.mid)
        report = await Executor(gateway, policy, RealClock(), recorder=journal).run_leg(
            leg, book.mid, "fills-1"
        )
        journal.finish_leg(
            "fills-1",
            report.outcome,
            report.reason,
            report.filled,
            report.cost,
            report.fees,
            report.cost,
            fees_settled=report.fees_settled,
        )
        trades = front.engine.my_trades("BTC/USDT")
        assert len(trades) > 4  # more than a page
        assert not report.fees_settled
        assert report.fees == report.cost * D("0.001")  # estimated: never 0
        assert journal.recorded_fills() == []

        await asyncio.sleep(4.5)  # the outage ends
        repaired = await reconcile(gateway, journal, RealClock())
        assert repaired.fees_settled == ["fills-1"]
        rows = journal.recorded_fills()
        assert {r.trade_id for r in rows} == {t.id for t in trades}
        assert sum(r.fee for r in rows) == sum(t.fee for t in trades)
        leg_row = journal.legs_of(rid)[0]
        assert leg_row.fees_settled
        assert leg_row.fees == sum(t.fee * t.price for t in trades)  # charged in BTC
        journal.close()


async def test_an_unmanaged_bridge_asset_is_never_spent_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X -> BTC -> USDT, BTC not in the targets, a 1.2 % drop of X/BTC while the first leg works:
    the whole rebalance, through the bot's own wiring and ccxt's binance client, leaves the
    user's BTC untouched."""
    runner, port = await start_server(
        load_scenario_text(tmp_path, bridged_scenario(7, 3000, -0.012, "X/BTC", 2.0))
    )
    try:
        monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", LOCAL_TEST_API_KEY)
        monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", LOCAL_TEST_SECRET)
        path = bridged_config(tmp_path, "take")
        text = path.read_text().replace(
            'mode = "sim"', f'mode = "testnet"\napi_url = "http://127.0.0.1:{port}"'
        )
        path.write_text(
            text.replace('style = "take"', 'style = "take"\nchild_timeout = 0.1\nband_bps = 20')
        )
        settings = load_settings(path)
        backend = build_backend(settings)
        journal = open_journal(settings, backend.clock)
        front = front_of(runner)
        before = front.engine.account.total("BTC")
        try:
            result = await build_daemon(settings, backend, journal).run(once=True)
        finally:
            await backend.close()
            journal.close()
        assert [leg.symbol for leg in result.reports[0].legs][:2] == ["X/BTC", "BTC/USDT"]
        assert front.engine.account.total("BTC") >= before
        assert not front.engine.open_orders()
    finally:
        await runner.cleanup()


def load_scenario_text(folder: Path, text: str) -> Scenario:
    (folder / "scenario.toml").write_text(text)
    return load_scenario(folder / "scenario.toml")
