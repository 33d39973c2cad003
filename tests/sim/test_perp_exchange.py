"""`SimPerpExchange`: the futures simulator through ccxt's unified async API, and the scenario's
`perps` and `futures` tables. Markets as in `test_perp`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from bot.errors import ScenarioError
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.perp_exchange import SimPerpExchange, sim_pair
from bot.sim.scenario import load_scenario, parse_scenario
from tests.sim.conftest import BASE, merge
from tests.sim.test_perp import PERP, PERPS, perp_scenario

SCENARIOS = Path(__file__).parents[2] / "config" / "scenarios"
POSITION_KEYS = {
    "info", "id", "symbol", "timestamp", "datetime", "contracts", "contractSize", "side",
    "notional", "leverage", "unrealizedPnl", "collateral", "entryPrice", "markPrice",
    "liquidationPrice", "marginMode", "hedged", "maintenanceMargin",
    "maintenanceMarginPercentage", "initialMargin", "initialMarginPercentage", "marginRatio",
}  # fmt: skip


def pair(**overrides: Any) -> tuple[VirtualClock, SimExchange, SimPerpExchange]:
    scenario = perp_scenario(**overrides)
    clock = VirtualClock(scenario.start)
    spot, perps = sim_pair(scenario, clock)
    return clock, spot, perps


async def test_markets_are_linear_swaps_settled_in_usdt() -> None:
    _, _, perps = pair()
    market = (await perps.load_markets())[PERP]
    assert market["type"] == "swap" and market["swap"] and market["contract"]
    assert market["linear"] and not market["inverse"] and not market["spot"]
    assert (market["settle"], market["contractSize"], market["id"]) == ("USDT", 1.0, "BTCUSDT")
    assert market["limits"]["leverage"]["max"] == 125.0
    assert market["precision"] == {**market["precision"], "amount": 0.001, "price": 0.01}


async def test_positions_as_ccxt_reports_them_are_consistent() -> None:
    _, _, perps = pair(perps={PERP: {"margin_mode": "isolated", "leverage": 5}})
    await perps.create_order(PERP, "limit", "buy", 2, 100.02, {"clientOrderId": "open-1"})
    [pos] = await perps.fetch_positions()
    assert set(pos) >= POSITION_KEYS
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["contractSize"]) == (
        PERP, "long", 2.0, 1.0,
    )  # fmt: skip
    mark, entry = pos["markPrice"], pos["entryPrice"]
    assert (mark, entry) == (100.0, 100.015)
    assert pos["notional"] == pytest.approx(2 * mark)
    assert pos["unrealizedPnl"] == pytest.approx(2 * (mark - entry))
    assert pos["initialMargin"] == pytest.approx(pos["notional"] / 5)
    assert pos["maintenanceMargin"] == pytest.approx(pos["notional"] * 0.004)
    assert pos["maintenanceMarginPercentage"] == 0.004
    assert (pos["leverage"], pos["marginMode"], pos["hedged"]) == (5.0, "isolated", False)
    margin = 200.03 / 5  # the isolated margin: initial margin at the fills
    assert pos["collateral"] == pytest.approx(margin + pos["unrealizedPnl"])
    # at the liquidation price, margin + PnL is the maintenance margin
    liq = pos["liquidationPrice"]
    assert margin + 2 * (liq - entry) == pytest.approx(2 * liq * 0.004)
    assert float(pos["info"]["positionAmt"]) == 2 and pos["info"]["marginType"] == "isolated"


async def test_balance_is_the_futures_wallet_with_binance_account_fields() -> None:
    _, _, perps = pair()
    await perps.create_order(PERP, "limit", "buy", 1, 100.01)
    await perps.create_order(PERP, "limit", "buy", 1, 99.00)  # rests: 9.90 of margin at 10x
    balance = await perps.fetch_balance()
    fee = 100.01 * 0.0005
    info = balance["info"]
    assert float(info["totalWalletBalance"]) == pytest.approx(10000 - fee)
    assert float(info["totalMarginBalance"]) == pytest.approx(10000 - fee - 0.01)
    assert float(info["totalOpenOrderInitialMargin"]) == pytest.approx(9.9)
    usdt = balance["USDT"]
    assert usdt["total"] == pytest.approx(float(info["totalMarginBalance"]))
    assert usdt["free"] == pytest.approx(float(info["availableBalance"]))
    assert usdt["used"] == pytest.approx(10.0 + 9.9)
    assert usdt["free"] == pytest.approx(usdt["total"] - usdt["used"])


async def test_orders_carry_the_futures_fields() -> None:
    _, _, perps = pair()
    await perps.set_position_mode(True)
    assert (await perps.fetch_position_mode())["hedged"] is True
    placed = await perps.create_order(PERP, "limit", "buy", 1, 99.5,
                                      {"positionSide": "LONG", "timeInForce": "GTX"})  # fmt: skip
    assert placed["postOnly"] and placed["status"] == "open"
    assert placed["info"]["positionSide"] == "LONG" and placed["info"]["timeInForce"] == "GTX"
    assert placed["reduceOnly"] is False
    fetched = await perps.fetch_order(placed["id"], PERP)
    assert fetched["info"]["positionSide"] == "LONG"
    [open_order] = await perps.fetch_open_orders(PERP)
    assert open_order["id"] == placed["id"]
    canceled = await perps.cancel_order(placed["id"], PERP)
    assert canceled["status"] == "canceled"
    with pytest.raises(ccxt.BadRequest):
        await perps.create_order(PERP, "limit", "sell", 1, 99.99,
                                 {"positionSide": "LONG", "reduceOnly": "true"})  # fmt: skip


async def test_trades_report_the_realised_pnl() -> None:
    _, _, perps = pair()
    await perps.create_order(PERP, "limit", "buy", 1, 100.01)
    await perps.create_order(PERP, "limit", "sell", 1, 99.99, {"reduceOnly": True})
    trades = await perps.fetch_my_trades(PERP)
    assert [t["info"]["realizedPnl"] for t in trades] == ["0", "-0.02"]
    assert [t["cost"] for t in trades] == [100.01, 99.99]
    assert [await perps.fetch_positions()] == [[]]


async def test_funding_history_and_rates_through_ccxt() -> None:
    clock, _, perps = pair(step_seconds=60, perps={PERP: {"basis": 0.001}})
    await perps.create_order(PERP, "limit", "sell", 1, 99.99)
    before = (await perps.fetch_balance())["info"]["totalWalletBalance"]
    rate = await perps.fetch_funding_rate(PERP)
    assert rate["fundingRate"] == 0.0005 and rate["interval"] == "8h"
    assert rate["fundingTimestamp"] % (8 * 3600 * 1000) == 0
    assert rate["markPrice"] == pytest.approx(100.1) and rate["indexPrice"] == 100.0
    clock.advance(24 * 3600)
    history = await perps.fetch_funding_history(PERP)
    assert len(history) == 3 and all(h["code"] == "USDT" for h in history)
    assert all(h["amount"] == pytest.approx(100.1 * 0.0005) for h in history)
    after = (await perps.fetch_balance())["info"]["totalWalletBalance"]
    assert float(after) - float(before) == pytest.approx(sum(h["amount"] for h in history))
    assert (await perps.fetch_funding_rates([PERP]))[PERP]["previousFundingRate"] == 0.0005
    ticker = await perps.fetch_ticker(PERP)
    assert ticker["markPrice"] == pytest.approx(100.1) and ticker["indexPrice"] == 100.0


async def test_transfers_between_spot_and_futures() -> None:
    _, spot, perps = pair()
    entry = await perps.transfer("USDT", 2500, "spot", "future")
    assert (entry["fromAccount"], entry["toAccount"], entry["amount"]) == ("spot", "future", 2500)
    assert (await spot.fetch_balance())["USDT"]["free"] == 100000 - 2500
    assert (await perps.fetch_balance())["USDT"]["total"] == 12500
    with pytest.raises(ccxt.InsufficientFunds):
        await perps.transfer("USDT", 12501, "future", "spot")
    with pytest.raises(ccxt.InsufficientFunds):
        await perps.transfer("USDT", 97501, "spot", "future")
    await perps.transfer("USDT", 12500, "future", "spot")
    assert (await spot.fetch_balance())["USDT"]["free"] == 100000 + 10000


async def test_an_unguarded_3x_long_is_liquidated_through_the_api() -> None:
    jumps = [{"kind": "jump", "at": at, "size": -0.2, "symbol": "BTC/USDT"} for at in (60, 90)]
    clock, spot, perps = pair(events=jumps, futures={"wallet": "34"})
    await perps.set_leverage(3, PERP)
    await perps.create_order(PERP, "limit", "buy", 1, 100.01)
    clock.advance(120)
    assert await perps.fetch_positions() == []
    assert len(perps.engine.liquidations) == 1
    assert (await spot.fetch_ticker("BTC/USDT"))["last"] is not None
    book = await perps.fetch_order_book(PERP)
    assert book["bids"][0][0] == pytest.approx(63.99)  # the perp book moved with the index


async def test_settings_through_ccxt() -> None:
    _, _, perps = pair()
    assert (await perps.set_leverage(3, PERP))["leverage"] == 3
    assert await perps.set_margin_mode("isolated", PERP) == {"code": 200, "msg": "success"}
    with pytest.raises(ccxt.MarginModeAlreadySet):
        await perps.set_margin_mode("isolated", PERP)
    with pytest.raises(ccxt.BadRequest):
        await perps.set_leverage(200, PERP)
    with pytest.raises(ccxt.ArgumentsRequired):
        await perps.set_leverage(3)
    await perps.create_order(PERP, "limit", "buy", 1, 100.01)
    added = await perps.add_margin(PERP, 5)
    assert added["total"] == pytest.approx(100.01 / 3 + 5)


def test_the_perps_scenario_loads_with_its_hedge() -> None:
    scenario = load_scenario(SCENARIOS / "perps.toml")
    spot, perps = sim_pair(scenario)
    [hedge] = perps.engine.positions()
    assert (hedge.symbol, hedge.amount, hedge.leverage) == (PERP, Decimal(-1), 3)
    assert set(perps.engine.specs) == {PERP, "ETH/USDT:USDT"}
    assert spot.engine.account.free["BTC"] > 1


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"perps": {"BTC/USDT": {"underlying": "BTC/USDT", "tick": "0.01", "step": "1",
                                 "top_depth": "1"}}}, "BASE/QUOTE:QUOTE"),
        ({"perps": {"ETH/USDT:USDT": {"underlying": "ETH/USDT", "tick": "0.01", "step": "1",
                                      "top_depth": "1"}}}, "not in markets"),
        ({"perps": {PERP: {"leverage": 200}}}, "above max_leverage"),
        ({"futures": {"positions": [{"symbol": "X/USDT:USDT", "side": "long", "contracts": 1,
                                     "entry": 1}]}}, "not in perps"),
        ({"futures": {"margin": 1}}, "not a scenario option"),
    ],
)  # fmt: skip
def test_bad_perp_tables_are_refused_naming_the_field(
    override: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(merge(merge(BASE, PERPS), override))
    assert problem in str(exc.value)


async def test_a_market_order_walks_the_perp_book_and_the_income_lists_it() -> None:
    _, _, perps = pair()
    order = await perps.create_order(PERP, "market", "sell", 3, None, {"newClientOrderId": "m1"})
    assert (order["status"], order["filled"], order["clientOrderId"]) == ("closed", 3.0, "m1")
    assert order["average"] == pytest.approx((99.99 + 2 * 99.98) / 3)
    income = await perps.fetch_income(PERP)
    assert [i["info"]["incomeType"] for i in income] == ["COMMISSION", "COMMISSION"]
    assert sum(i["amount"] for i in income) == pytest.approx(-(99.99 + 2 * 99.98) * 0.0005)
    commissions = await perps.fetch_income(PERP, params={"incomeType": "COMMISSION"})
    assert commissions == income
    assert await perps.fetch_funding_history(PERP) == []


def test_the_same_seed_gives_the_same_premium_path() -> None:
    noisy = {PERP: {"basis": 0.001, "basis_noise": 0.0005}}
    runs = []
    for seed in (5, 5, 6):
        _, _, perps = pair(seed=seed, step_seconds=60, perps=noisy)
        perps.engine.advance_to(perps.engine.now + 3 * 3600)
        runs.append((perps.engine.mark_price(PERP), perps.engine.funding_rate(PERP)))
    assert runs[0] == runs[1] != runs[2]
