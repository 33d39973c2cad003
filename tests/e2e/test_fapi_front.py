"""The futures simulator served as Binance USD-M (/fapi) beside spot, on one port, driven by the
real `ccxt.async_support.binanceusdm` (and `binance` for the spot side of transfers).

Every test starts a server on a free 127.0.0.1 port in its own event loop, on a `VirtualClock`
(both clients sign with its time), so an 8-hour funding interval passes at once. The market is
still: BTC/USDT around 100 on spot; the perpetual BTC/USDT:USDT around 100.01 (basis 1 bp), one
tick 0.01 apart, 1, 2, 3, ... contracts a level.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest
from aiohttp import web

from bot.exchange.connect import api_url_config
from bot.exchange.profile import ApiUrlLayout, ExchangeProfile
from bot.exchange.profiles import profile_for
from bot.sim.binance import LOCAL_TEST_API_KEY, LOCAL_TEST_SECRET, BinanceFront, front_of
from bot.sim.binance.server import start_server
from bot.sim.clock import VirtualClock
from bot.sim.perp import PerpEngine
from bot.sim.perp_account import IncomeType, PerpSide
from bot.sim.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[2]
D = Decimal
PERP = "BTC/USDT:USDT"
STILL = {
    "volatility": 0.0,
    "spread_bps": 2.0,
    "levels": 5,
    "depth_growth": 1.0,
    "depth_noise": 0.0,
    "resilience_half_life": 10.0,
    "trade_rate": 0.0,
}
SCENARIO: dict[str, Any] = {
    "name": "fapi-front",
    "seed": 5,
    "step_seconds": 60.0,
    "balances": {"BTC": "10", "USDT": "100000"},
    "regime": STILL,
    "markets": {
        "BTC/USDT": {
            "price": "100",
            "tick": "0.01",
            "step": "0.001",
            "min_cost": "1",
            "top_depth": "1",
        },
    },
    "perps": {
        PERP: {
            "underlying": "BTC/USDT",
            "tick": "0.01",
            "step": "0.001",
            "min_cost": "5",
            "top_depth": "1",
            "maker_fee": "0.0002",
            "taker_fee": "0.0005",
            "regime": STILL,
            "basis": 0.0001,
        },
    },
    "futures": {"wallet": "10000"},
    "faults": {"weight_per_minute": 0},
}
# USD-M client options: linear markets only, no currency or margin endpoints.
USDM_OPTIONS = {
    "defaultType": "swap",
    "fetchMarkets": {"types": ["linear"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}
# ccxt's binanceusdm keys USD-M's error codes (-2019, -2022, -5022, ...) by host name: at another
# address, that table is merged into the general one.
USDM_LAYOUT = ExchangeProfile(id="binanceusdm", api_url=ApiUrlLayout(exception_tables=("linear",)))


@dataclass
class Rig:
    usdm: Any
    spot: Any
    front: BinanceFront
    clock: VirtualClock
    url: str

    @property
    def engine(self) -> PerpEngine:
        assert self.front.futures is not None
        return self.front.futures.engine


def clients(url: str, clock: VirtualClock) -> tuple[Any, Any]:
    common = {
        "apiKey": LOCAL_TEST_API_KEY,
        "secret": LOCAL_TEST_SECRET,
        "enableRateLimit": False,
        "timeout": 5000,
    }
    usdm = ccxt.binanceusdm(
        {**api_url_config("binanceusdm", url, USDM_LAYOUT), **common, "options": USDM_OPTIONS}
    )
    spot = ccxt.binance(
        {
            **api_url_config("binance", url),
            **common,
            "options": {**profile_for("binance").options(), "adjustForTimeDifference": False},
        }
    )
    for ex in (usdm, spot):
        ex.milliseconds = lambda: int(clock.time() * 1000)
    return usdm, spot


Start = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    runners: list[web.AppRunner] = []
    opened: list[Any] = []

    async def run(**overrides: Any) -> Rig:
        data = json.loads(json.dumps(SCENARIO))
        data.update(overrides)
        sc = parse_scenario(data)
        clock = VirtualClock(sc.start)
        runner, port = await start_server(sc, clock=clock)
        runners.append(runner)
        url = f"http://127.0.0.1:{port}"
        usdm, spot = clients(url, clock)
        opened.extend((usdm, spot))
        return Rig(usdm, spot, front_of(runner), clock, url)

    yield run
    for ex in opened:
        await ex.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def rig(start: Start) -> Rig:
    return await start()


async def test_load_markets_shows_only_the_linear_swap(rig: Rig) -> None:
    markets = await rig.usdm.load_markets()
    assert list(markets) == [PERP]
    m = markets[PERP]
    assert (m["type"], m["swap"], m["linear"], m["contract"]) == ("swap", True, True, True)
    assert (m["id"], m["settle"], m["contractSize"]) == ("BTCUSDT", "USDT", 1)
    assert (m["precision"]["amount"], m["precision"]["price"]) == (0.001, 0.01)
    assert m["limits"]["cost"]["min"] == 5
    assert rig.front.requests["fapiExchangeInfo"] == 1 and not rig.front.requests["exchangeInfo"]
    assert list(await rig.spot.load_markets()) == ["BTC/USDT"], "the spot front is unchanged"
    assert await rig.usdm.fetch_time() == int(rig.clock.time() * 1000)


async def test_book_tickers_mark_and_funding_rate_are_the_engines(rig: Rig) -> None:
    engine = rig.engine
    book = await rig.usdm.fetch_order_book(PERP, 5)
    bids, asks = engine.book(PERP)
    assert book["bids"][0] == [float(bids[0].price), float(bids[0].amount)]
    assert book["asks"][0] == [float(asks[0].price), float(asks[0].amount)]
    quotes = await rig.usdm.fetch_bids_asks([PERP])
    assert quotes[PERP]["bid"] == float(bids[0].price) and quotes[PERP]["ask"] == float(
        asks[0].price
    )
    ticker = await rig.usdm.fetch_ticker(PERP)
    assert ticker["symbol"] == PERP and ticker["last"] is not None
    rate = await rig.usdm.fetch_funding_rate(PERP)
    assert D(str(rate["markPrice"])) == engine.mark_price(PERP)
    assert D(str(rate["indexPrice"])) == engine.index_price(PERP)
    assert rate["fundingTimestamp"] == int(engine.next_funding_time(PERP) * 1000)
    assert list(await rig.usdm.fetch_funding_rates()) == [PERP]


async def test_a_filled_limit_order_opens_the_position_ccxt_reports(start: Start) -> None:
    rig = await start(futures={"wallet": "20"})  # a small wallet: a liquidation price near
    await rig.usdm.load_markets()
    await rig.usdm.set_leverage(10, PERP)
    assert rig.engine.leverage(PERP) == 10
    ask = rig.engine.book(PERP)[1][0].price
    order = await rig.usdm.create_order(
        PERP, "limit", "buy", 0.5, float(ask), {"clientOrderId": "fut-1"}
    )
    assert (order["status"], order["filled"], order["clientOrderId"]) == ("closed", 0.5, "fut-1")
    again = await rig.usdm.fetch_order(order["id"], PERP, {"clientOrderId": "fut-1"})
    assert again["id"] == order["id"] and again["average"] == float(ask)
    (pos,) = await rig.usdm.fetch_positions([PERP])
    engine_pos = rig.engine.position(PERP)
    liq = rig.engine.ledger.liquidation_price(engine_pos)
    assert liq is not None
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["contractSize"]) == (
        PERP,
        "long",
        0.5,
        1,
    )
    assert D(str(pos["entryPrice"])) == ask == engine_pos.entry_price
    assert pos["liquidationPrice"] == float(liq.quantize(D("1e-8")))
    assert (pos["marginMode"], pos["hedged"]) == ("cross", False)
    (trade,) = await rig.usdm.fetch_my_trades(PERP)
    assert (trade["order"], trade["side"], trade["takerOrMaker"]) == (order["id"], "buy", "taker")
    assert D(str(trade["fee"]["cost"])) == D("0.5") * ask * D("0.0005")
    balance = await rig.usdm.fetch_balance()
    b = rig.engine.balance()
    assert D(str(balance["USDT"]["free"])) == D(f"{b.available:.8f}")
    assert D(str(balance["USDT"]["total"])) == D(f"{b.margin_balance:.8f}")


async def test_refusals_raise_what_ccxt_binanceusdm_raises(rig: Rig) -> None:
    usdm = rig.usdm
    await usdm.load_markets()
    bids, asks = rig.engine.book(PERP)
    ask, bid = float(asks[0].price), float(bids[0].price)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):  # nothing to reduce
        await usdm.create_order(PERP, "limit", "sell", 0.1, ask, {"reduceOnly": True})
    await usdm.create_order(PERP, "limit", "buy", 0.2, ask)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):  # would increase the long
        await usdm.create_order(PERP, "limit", "buy", 0.1, ask, {"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):  # more than the long
        await usdm.create_order(PERP, "limit", "sell", 0.3, bid, {"reduceOnly": True})
    reduced = await usdm.create_order(PERP, "limit", "sell", 0.1, bid, {"reduceOnly": True})
    assert reduced["reduceOnly"] is True and reduced["status"] == "closed"
    with pytest.raises(ccxt.OrderNotFillable, match="-5022"):  # post-only (GTX) would take
        await usdm.create_order(PERP, "limit", "buy", 0.1, ask, {"postOnly": True})
    maker = await usdm.create_order(PERP, "limit", "buy", 0.1, bid, {"postOnly": True})
    assert (maker["status"], maker["postOnly"], maker["timeInForce"]) == ("open", True, "PO")
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        await usdm.create_order(PERP, "limit", "buy", 5000, bid)
    with pytest.raises(ccxt.OperationRejected, match="-4061"):  # LONG in one-way mode
        await usdm.create_order(PERP, "limit", "buy", 0.1, bid, {"positionSide": "LONG"})
    with pytest.raises(ccxt.OrderNotFound):
        await usdm.fetch_order("999", PERP)
    with pytest.raises(ccxt.OrderNotFound):
        await usdm.cancel_order("999", PERP)
    cancelled = await usdm.cancel_order(maker["id"], PERP)
    assert cancelled["status"] == "canceled"
    with pytest.raises(ccxt.BadSymbol):
        await usdm.fapiPublicGetDepth({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.InvalidOrder, match="-4164"):  # notional below 5
        await usdm.create_order(PERP, "limit", "buy", 0.01, bid)


async def test_hedge_mode_positions_by_side(rig: Rig) -> None:
    usdm = rig.usdm
    await usdm.load_markets()
    assert (await usdm.fetch_position_mode(PERP))["hedged"] is False
    await usdm.set_position_mode(True)
    assert (await usdm.fetch_position_mode(PERP))["hedged"] is True and rig.engine.hedged
    bids, asks = rig.engine.book(PERP)
    ask, bid = float(asks[0].price), float(bids[0].price)
    await usdm.create_order(PERP, "limit", "buy", 0.3, ask, {"positionSide": "LONG"})
    await usdm.create_order(PERP, "limit", "sell", 0.2, bid, {"positionSide": "SHORT"})
    positions = {p["side"]: p for p in await usdm.fetch_positions([PERP])}
    assert {s: p["contracts"] for s, p in positions.items()} == {"long": 0.3, "short": 0.2}
    assert all(p["hedged"] for p in positions.values())
    assert rig.engine.position(PERP, PerpSide.SHORT).amount == D("-0.2")
    with pytest.raises(ccxt.BadRequest, match="-1106"):  # reduceOnly is one-way mode's
        await usdm.create_order(
            PERP, "limit", "sell", 0.1, bid, {"positionSide": "LONG", "reduceOnly": True}
        )
    with pytest.raises(ccxt.OperationRejected, match="-4061"):  # BOTH is one-way mode's
        await usdm.create_order(PERP, "limit", "buy", 0.1, ask)
    closed = await usdm.create_order(PERP, "limit", "sell", 0.3, bid, {"positionSide": "LONG"})
    assert closed["status"] == "closed"
    (short,) = await usdm.fetch_positions([PERP])
    assert short["side"] == "short"
    with pytest.raises(ccxt.OperationRejected, match="-4068"):  # a position is open
        await usdm.set_position_mode(False)


async def test_funding_history_after_eight_hours_is_the_engines_income(rig: Rig) -> None:
    usdm = rig.usdm
    await usdm.load_markets()
    ask = float(rig.engine.book(PERP)[1][0].price)
    await usdm.create_order(PERP, "limit", "buy", 1, ask)
    assert await usdm.fetch_funding_history(PERP) == []
    rig.clock.advance(8 * 3600)
    history = await usdm.fetch_funding_history(PERP)
    funding = [i for i in rig.engine.incomes if i.type is IncomeType.FUNDING_FEE]
    assert len(funding) == 1 and len(history) == 1
    (entry,), (income,) = history, funding
    assert (entry["symbol"], entry["code"]) == (PERP, "USDT")
    assert D(str(entry["amount"])) == D(f"{income.amount:.8f}")
    assert entry["timestamp"] == income.time_ms and entry["id"] == income.id
    assert income.amount < 0, "a long pays a positive rate"
    rate = await usdm.fetch_funding_rate(PERP)
    assert D(str(rate["fundingRate"])) == rig.engine.last_funding_rate(PERP)


async def test_transfers_between_spot_and_futures(rig: Rig) -> None:
    await rig.spot.load_markets()
    await rig.usdm.load_markets()
    spot_before = (await rig.spot.fetch_balance())["USDT"]["free"]
    futures_before = (await rig.usdm.fetch_balance())["USDT"]["total"]
    with pytest.raises(ccxt.BadRequest, match="-1100"):  # ccxt's name is swap or linear
        await rig.spot.transfer("USDT", 1000, "spot", "future")  # (type MAIN_FUTURE)
    sent = await rig.spot.transfer("USDT", 1000, "spot", "swap")
    assert sent["id"] == rig.engine.transfers[-1].id  # Binance answers {"tranId": ...} only
    assert (await rig.spot.fetch_balance())["USDT"]["free"] == spot_before - 1000
    assert (await rig.usdm.fetch_balance())["USDT"]["total"] == futures_before + 1000
    back = await rig.usdm.transfer("USDT", 400, "swap", "spot")
    record = rig.engine.transfers[-1]
    assert (back["id"], record.from_account, record.amount) == (record.id, "future", D(400))
    assert (await rig.spot.fetch_balance())["USDT"]["free"] == spot_before - 600
    assert (await rig.usdm.fetch_balance())["USDT"]["total"] == futures_before + 600
    with pytest.raises(ccxt.InsufficientFunds, match="-5013"):
        await rig.spot.transfer("USDT", 10**9, "spot", "linear")
    history = await rig.spot.sapiGetAssetTransfer({"type": "MAIN_UMFUTURE"})
    assert history["total"] == 1 and history["rows"][0]["amount"] == "1000.00000000"


async def test_margin_type_leverage_and_settings_endpoints(rig: Rig) -> None:
    usdm = rig.usdm
    await usdm.load_markets()
    await usdm.set_margin_mode("isolated", PERP)
    assert rig.engine.margin_mode(PERP).value == "isolated"
    with pytest.raises(ccxt.MarginModeAlreadySet):  # -4046
        await usdm.set_margin_mode("isolated", PERP)
    leverages = await usdm.fetch_leverages([PERP])
    assert leverages[PERP]["marginMode"] == "isolated"
    with pytest.raises(ccxt.BadRequest, match="-4028"):
        await usdm.fapiPrivatePostLeverage({"symbol": "BTCUSDT", "leverage": 126})
    ask = float(rig.engine.book(PERP)[1][0].price)
    await usdm.create_order(PERP, "limit", "buy", 1, ask)
    (pos,) = await usdm.fetch_positions([PERP])
    assert pos["marginMode"] == "isolated"
    engine_pos = rig.engine.position(PERP)
    assert D(str(pos["collateral"])) == D(
        f"{engine_pos.isolated_margin + engine_pos.unrealized_pnl(rig.engine.mark_price(PERP)):.8f}"
    )
    with pytest.raises(ccxt.OperationRejected, match="-4048"):
        await usdm.set_margin_mode("cross", PERP)


async def test_fapi_is_served_only_with_perpetuals(start: Start) -> None:
    rig = await start(perps={}, futures={})
    assert rig.front.futures is None
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{rig.url}/fapi/v1/time") as reply:
            assert reply.status == 404
        async with http.get(f"{rig.url}/api/v3/time") as reply:
            assert reply.status == 200


async def test_serve_runs_the_perps_scenario_file_with_both_fronts() -> None:
    """What `sim-server --scenario config/scenarios/perps.toml` serves: spot and USD-M."""
    code = (
        "from bot.sim.binance import serve;"
        " serve('config/scenarios/perps.toml', 0, on_ready=lambda url: print(url, flush=True))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        url = ""
        while not url.startswith("http"):  # log lines first
            url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        config = {"apiKey": LOCAL_TEST_API_KEY, "secret": LOCAL_TEST_SECRET}
        usdm = ccxt.binanceusdm(
            {**api_url_config("binanceusdm", url, USDM_LAYOUT), **config, "options": USDM_OPTIONS}
        )
        spot = ccxt.binance(
            {
                **api_url_config("binance", url),
                **config,
                "options": profile_for("binance").options(),
            }
        )
        try:
            assert sorted(await usdm.load_markets()) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
            assert sorted(await spot.load_markets()) == ["BTC/USDT", "ETH/USDT"]
            (short,) = await usdm.fetch_positions()
            assert (short["symbol"], short["side"], short["contracts"]) == (PERP, "short", 1)
            assert short["entryPrice"] == 95000
        finally:
            await usdm.close()
            await spot.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_order_listings_cancel_all_and_fees(rig: Rig) -> None:
    usdm = rig.usdm
    await usdm.load_markets()
    bid = float(rig.engine.book(PERP)[0][0].price)
    ask = float(rig.engine.book(PERP)[1][0].price)
    resting = [await usdm.create_order(PERP, "limit", "buy", 0.1, bid) for _ in range(2)]
    taken = await usdm.create_order(PERP, "market", "buy", 0.1)
    assert taken["status"] == "closed" and taken["average"] == ask
    assert {o["id"] for o in await usdm.fetch_open_orders(PERP)} == {o["id"] for o in resting}
    assert [o["id"] for o in await usdm.fetch_orders(PERP)] == [
        *(o["id"] for o in resting),
        taken["id"],
    ]
    await usdm.cancel_all_orders(PERP)
    assert await usdm.fetch_open_orders(PERP) == [] and not rig.engine.open_orders()
    fee = await usdm.fetch_trading_fee(PERP)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.0005)
    (trade,) = await usdm.fetch_my_trades(PERP)
    assert trade["order"] == taken["id"]
    later = await usdm.fetch_my_trades(PERP, params={"fromId": int(trade["id"]) + 1})
    assert later == []
