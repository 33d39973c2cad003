"""SimExchange speaks ccxt: its dicts carry the keys of ccxt's unified structures, same meaning."""

from __future__ import annotations

import typing
from typing import Any

import ccxt
import pytest
from ccxt.base import types as ccxt_types

from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange

from .conftest import SYMBOL, MakeSim

Sim = tuple[SimExchange, VirtualClock]
BASE = ccxt.Exchange()  # ccxt's own normalisers, offline

ORDER_KEYS = set(
    BASE.safe_order({"id": "1", "symbol": SYMBOL, "amount": "1", "status": "open"}).keys()
) | {"info", "fees"}
TRADE_KEYS = set(typing.get_type_hints(ccxt_types.Trade))
TICKER_KEYS = set(typing.get_type_hints(ccxt_types.Ticker))
BOOK_KEYS = set(typing.get_type_hints(ccxt_types.OrderBook))


def assert_numbers_are_floats(d: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        assert d[key] is None or type(d[key]) is float, key


async def test_exchange_attributes(sim: Sim) -> None:
    ex, _ = sim
    assert ex.precisionMode == ccxt.TICK_SIZE
    assert ex.id == "sim" and ex.rateLimit > 0
    for capability in ("createOrder", "cancelOrder", "fetchOrderBook", "fetchMyTrades"):
        assert ex.has[capability] is True
    assert not ex.urls.get("test")
    assert ex.markets is None
    await ex.close()


async def test_markets_have_ccxts_market_structure(sim: Sim) -> None:
    ex, _ = sim
    markets = await ex.load_markets()
    assert ex.markets is markets and ex.symbols == [SYMBOL]
    market = markets[SYMBOL]
    clean = BASE.safe_market_structure({"spot": True})
    assert set(clean) <= set(market)
    assert set(clean["precision"]) <= set(market["precision"])
    assert set(clean["limits"]) <= set(market["limits"])
    assert (market["id"], market["base"], market["quote"]) == ("BTCUSDT", "BTC", "USDT")
    assert (market["type"], market["spot"], market["active"]) == ("spot", True, True)
    assert market["precision"]["amount"] == 0.001 and market["precision"]["price"] == 0.01
    assert market["limits"]["amount"]["min"] == 0.01
    assert market["limits"]["cost"]["min"] == 1.0
    assert (market["maker"], market["taker"]) == (0.001, 0.002)
    assert BASE.safe_market_structure(market) == market  # nothing for ccxt to fill in
    assert ex.amount_to_precision(SYMBOL, 1.23456) == "1.234"
    assert ex.price_to_precision(SYMBOL, 100.016) == "100.02"


async def test_order_has_ccxts_order_structure(sim: Sim) -> None:
    ex, _ = sim
    order = await ex.create_order(SYMBOL, "limit", "buy", 2, 100.01, {"clientOrderId": "c-1"})
    assert set(order) >= ORDER_KEYS
    assert order["symbol"] == SYMBOL and order["side"] == "buy" and order["type"] == "limit"
    assert order["timeInForce"] == "GTC" and order["postOnly"] is False
    assert isinstance(order["timestamp"], int) and order["datetime"].endswith("Z")
    assert_numbers_are_floats(order, ["price", "amount", "filled", "remaining", "cost", "average"])
    assert set(order["fee"]) >= {"cost", "currency"}
    assert order["amount"] == order["filled"] + order["remaining"]
    normalised = BASE.safe_order(
        {k: v for k, v in order.items() if k not in ("trades", "fees")}, ex.market(SYMBOL)
    )
    for key in ("amount", "filled", "remaining", "cost", "average", "price", "status"):
        assert normalised[key] == order[key], key  # ccxt derives the same values from ours


async def test_trade_has_ccxts_trade_structure(sim: Sim) -> None:
    ex, _ = sim
    order = await ex.create_order(SYMBOL, "market", "sell", 1.5)
    trades = await ex.fetch_my_trades(SYMBOL)
    assert [t["order"] for t in trades] == [order["id"], order["id"]]
    trade = trades[0]
    assert set(trade) >= TRADE_KEYS
    assert (trade["side"], trade["takerOrMaker"], trade["symbol"]) == ("sell", "taker", SYMBOL)
    assert_numbers_are_floats(trade, ["price", "amount", "cost"])
    assert trade["cost"] == pytest.approx(trade["price"] * trade["amount"])
    assert trade["fee"]["currency"] == "USDT" and trade["fee"]["rate"] == 0.002


async def test_balance_has_ccxts_balance_structure(sim: Sim) -> None:
    ex, _ = sim
    await ex.create_order(SYMBOL, "limit", "buy", 1, 90)
    balance = await ex.fetch_balance()
    assert {"info", "free", "used", "total", "BTC", "USDT"} <= set(balance)
    assert balance["USDT"] == {"free": 99910.0, "used": 90.0, "total": 100000.0}
    assert balance["total"] == {"BTC": 10.0, "USDT": 100000.0}
    recomputed = BASE.safe_balance(
        {
            c: {"free": str(v["free"]), "used": str(v["used"])}
            for c, v in balance.items()
            if c in ("BTC", "USDT")
        }
    )
    assert recomputed["total"] == balance["total"]


async def test_order_book_and_tickers(sim: Sim) -> None:
    ex, _ = sim
    book = await ex.fetch_order_book(SYMBOL, limit=3)
    assert set(book) >= BOOK_KEYS
    assert book["bids"] == [[99.99, 1.0], [99.98, 2.0], [99.97, 3.0]]
    assert book["asks"] == [[100.01, 1.0], [100.02, 2.0], [100.03, 3.0]]
    ticker = await ex.fetch_ticker(SYMBOL)
    assert set(ticker) >= TICKER_KEYS
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (99.99, 100.01, 100.0)
    tickers = await ex.fetch_tickers()
    assert list(tickers) == [SYMBOL] and tickers[SYMBOL]["ask"] == 100.01


async def test_order_lists_and_filters(sim: Sim) -> None:
    ex, clock = sim
    closed = await ex.create_order(SYMBOL, "limit", "buy", 1, 100.01)
    clock.advance(1)
    open_ = await ex.create_order(SYMBOL, "limit", "buy", 1, 95)
    clock.advance(1)
    canceled = await ex.create_order(SYMBOL, "limit", "sell", 1, 105)
    await ex.cancel_order(canceled["id"], SYMBOL)
    assert [o["id"] for o in await ex.fetch_open_orders()] == [open_["id"]]
    assert [o["id"] for o in await ex.fetch_closed_orders(SYMBOL)] == [closed["id"]]
    assert [o["id"] for o in await ex.fetch_canceled_orders(SYMBOL)] == [canceled["id"]]
    everything = await ex.fetch_orders(SYMBOL, since=open_["timestamp"])
    assert [o["id"] for o in everything] == [open_["id"], canceled["id"]]
    assert [o["id"] for o in await ex.fetch_orders(SYMBOL, limit=1)] == [canceled["id"]]


async def test_binance_argument_rules(sim: Sim) -> None:
    ex, _ = sim
    with pytest.raises(ccxt.ArgumentsRequired):
        await ex.fetch_my_trades()
    with pytest.raises(ccxt.ArgumentsRequired):
        await ex.fetch_order("1")
    with pytest.raises(ccxt.ArgumentsRequired):
        await ex.cancel_order("1")
    with pytest.raises(ccxt.BadSymbol):
        await ex.fetch_order_book("NOPE/USDT")


async def test_same_seed_and_calls_give_the_same_market(make_sim: MakeSim) -> None:
    regime = {"volatility": 0.0005, "depth_noise": 0.3, "trade_rate": 1.0}

    async def run(seed: int) -> list[Any]:
        ex, clock = make_sim(seed=seed, regime=regime)
        seen = []
        for i in range(30):
            book = await ex.fetch_order_book(SYMBOL)
            if i % 5 == 0:
                await ex.create_order(SYMBOL, "limit", "buy", 0.5, book["bids"][0][0])
            clock.advance(2)
            seen.append((book["bids"], book["asks"], (await ex.fetch_balance())["total"]))
        return seen

    assert await run(11) == await run(11)
    assert await run(11) != await run(12)
