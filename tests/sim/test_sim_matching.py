"""Matching against the hand-computable default market (see conftest): exact fills, fees, locks."""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal

import ccxt
import pytest

from bot.domain.market import Side
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange

from .conftest import SYMBOL, MakeSim

D = Decimal

Sim = tuple[SimExchange, VirtualClock]


def free(ex: SimExchange, asset: str) -> D:
    return ex.engine.account.free[asset]


def used(ex: SimExchange, asset: str) -> D:
    return ex.engine.account.used[asset]


async def test_taker_buy_walks_the_levels_at_their_prices(sim: Sim) -> None:
    ex, _ = sim
    order = await ex.create_order(SYMBOL, "limit", "buy", 3.5, 100.03)
    assert order["status"] == "closed"
    trades = [(t["price"], t["amount"], t["takerOrMaker"]) for t in order["trades"]]
    assert trades == [(100.01, 1.0, "taker"), (100.02, 2.0, "taker"), (100.03, 0.5, "taker")]
    internal = ex.engine.orders[order["id"]]
    assert internal.cost == D("350.065")  # 100.01 + 2 * 100.02 + 0.5 * 100.03
    assert internal.fee == D("0.007")  # taker 0.2% of 3.5 BTC, in the asset received
    assert order["fee"] == {"cost": 0.007, "currency": "BTC"}
    assert free(ex, "BTC") == D("13.493")
    assert free(ex, "USDT") == D("100000") - D("350.065")  # the 0.04 locked above was refunded
    assert used(ex, "USDT") == 0
    book = await ex.fetch_order_book(SYMBOL)
    assert book["asks"][0] == [100.03, 2.5]  # the taken liquidity is gone


async def test_taker_sell_pays_its_fee_in_quote(sim: Sim) -> None:
    ex, _ = sim
    order = await ex.create_order(SYMBOL, "limit", "sell", 1.5, 99.98)
    internal = ex.engine.orders[order["id"]]
    assert internal.cost == D("149.98")  # 99.99 + 0.5 * 99.98
    assert internal.fee == D("0.29996")
    assert order["fee"]["currency"] == "USDT"
    assert free(ex, "USDT") == D("100000") + D("149.98") - D("0.29996")
    assert free(ex, "BTC") == D("8.5")
    assert used(ex, "BTC") == 0


async def test_resting_limit_locks_exactly_and_cancel_releases(sim: Sim) -> None:
    ex, _ = sim
    order = await ex.create_order(SYMBOL, "limit", "buy", 2, 99.5)
    assert order["status"] == "open"
    assert (free(ex, "USDT"), used(ex, "USDT")) == (D("99801"), D("199"))
    sell = await ex.create_order(SYMBOL, "limit", "sell", 0.3, 101)
    assert (free(ex, "BTC"), used(ex, "BTC")) == (D("9.7"), D("0.3"))
    balance = await ex.fetch_balance()
    assert balance["USDT"] == {"free": 99801.0, "used": 199.0, "total": 100000.0}
    assert balance["used"]["BTC"] == 0.3
    canceled = await ex.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert canceled["remaining"] == 2.0
    await ex.cancel_order(sell["id"], SYMBOL)
    assert (free(ex, "USDT"), used(ex, "USDT")) == (D("100000"), D(0))
    assert (free(ex, "BTC"), used(ex, "BTC")) == (D("10"), D(0))
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order(order["id"], SYMBOL)


async def test_partially_taken_order_rests_and_fills_as_maker_when_liquidity_returns(
    sim: Sim,
) -> None:
    ex, clock = sim
    order = await ex.create_order(SYMBOL, "limit", "buy", 2, 100.01)
    assert (order["status"], order["filled"], order["remaining"]) == ("open", 1.0, 1.0)
    assert used(ex, "USDT") == D("100.01")
    book = await ex.fetch_order_book(SYMBOL)
    assert book["bids"][0] == [100.01, 1.0]  # our own order shows in the public book
    assert book["asks"][0] == [100.02, 2.0]
    clock.advance(30)  # sellers come back to 100.01 (half-life 10 s) and meet our bid
    done = await ex.fetch_order(order["id"], SYMBOL)
    assert done["status"] == "closed"
    refills = done["trades"][1:]
    assert len(refills) > 1  # the refill trades with us as it comes back, step by step
    assert {(t["takerOrMaker"], t["price"]) for t in refills} == {("maker", 100.01)}
    assert ex.engine.orders[order["id"]].fee == D("0.002") + D("0.001")  # taker 1, maker 1
    assert used(ex, "USDT") == 0
    assert free(ex, "USDT") == D("100000") - D("200.02")


async def test_resting_order_fills_as_maker_when_the_market_trades_through(
    make_sim: MakeSim,
) -> None:
    ex, clock = make_sim(events=[{"kind": "jump", "at": 5, "size": -0.001}])
    order = await ex.create_order(SYMBOL, "limit", "buy", 2, 99.98)
    clock.advance(4)
    assert (await ex.fetch_order(order["id"], SYMBOL))["status"] == "open"
    clock.advance(2)  # mid 99.9: the asks now start at 99.91, through our bid
    done = await ex.fetch_order(order["id"], SYMBOL)
    assert done["status"] == "closed"
    assert {(t["price"], t["takerOrMaker"]) for t in done["trades"]} == {(99.98, "maker")}
    assert done["average"] == 99.98
    assert ex.engine.orders[order["id"]].fee == D("0.002")  # maker 0.1% of 2 BTC
    assert free(ex, "BTC") == D("11.998")
    assert free(ex, "USDT") == D("100000") - D("199.96")


async def test_background_trades_fill_resting_orders_near_the_touch(make_sim: MakeSim) -> None:
    ex, clock = make_sim(regime={"trade_rate": 2.0, "trade_size": 1.0})
    inside = await ex.create_order(SYMBOL, "limit", "sell", 1, 100.00, {"postOnly": True})
    deep = await ex.create_order(SYMBOL, "limit", "sell", 1, 100.05, {"postOnly": True})
    clock.advance(30)
    inside_now = await ex.fetch_order(inside["id"], SYMBOL)
    assert inside_now["status"] == "closed"
    assert {(t["price"], t["takerOrMaker"]) for t in inside_now["trades"]} == {(100.0, "maker")}
    deep_now = await ex.fetch_order(deep["id"], SYMBOL)
    assert deep_now["filled"] < 1.0  # ten BTC of better offers stand in front of it


async def test_post_only_that_would_take_is_rejected(sim: Sim) -> None:
    ex, _ = sim
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="post-only"):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 100.01, {"postOnly": True})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await ex.create_order(SYMBOL, "limit", "sell", 1, 99.99, {"timeInForce": "PO"})
    assert (free(ex, "USDT"), used(ex, "USDT")) == (D("100000"), D(0))
    maker = await ex.create_order(SYMBOL, "limit", "buy", 1, 100.00, {"postOnly": True})
    assert (maker["status"], maker["postOnly"], maker["timeInForce"]) == ("open", True, "PO")
    with pytest.raises(ccxt.OrderImmediatelyFillable):  # our own bid is the touch now
        await ex.create_order(SYMBOL, "limit", "sell", 1, 100.00, {"postOnly": True})


async def test_ioc_fills_what_it_can_and_expires_the_rest(sim: Sim) -> None:
    ex, _ = sim
    order = await ex.create_order(SYMBOL, "limit", "buy", 2.5, 100.01, {"timeInForce": "IOC"})
    assert (order["status"], order["filled"], order["remaining"]) == ("expired", 1.0, 1.5)
    assert used(ex, "USDT") == 0
    assert free(ex, "USDT") == D("100000") - D("100.01")
    assert await ex.fetch_open_orders(SYMBOL) == []


async def test_fok_fills_entirely_or_not_at_all(sim: Sim) -> None:
    ex, _ = sim
    miss = await ex.create_order(SYMBOL, "limit", "buy", 2.5, 100.01, {"timeInForce": "FOK"})
    assert (miss["status"], miss["filled"], miss["trades"]) == ("expired", 0.0, [])
    assert free(ex, "USDT") == D("100000")
    assert (await ex.fetch_order_book(SYMBOL))["asks"][0] == [100.01, 1.0]
    hit = await ex.create_order(SYMBOL, "limit", "buy", 2.5, 100.02, {"timeInForce": "FOK"})
    assert (hit["status"], hit["filled"]) == ("closed", 2.5)
    assert ex.engine.orders[hit["id"]].cost == D("250.04")


async def test_market_orders_by_amount(sim: Sim) -> None:
    ex, _ = sim
    buy = await ex.create_order(SYMBOL, "market", "buy", 1.5)
    assert (buy["status"], buy["type"]) == ("closed", "market")
    assert ex.engine.orders[buy["id"]].cost == D("150.02")
    assert buy["price"] == buy["average"] == pytest.approx(150.02 / 1.5)
    assert used(ex, "USDT") == 0
    sell = await ex.create_order(SYMBOL, "market", "sell", 10)  # the bids hold 15 BTC
    assert (sell["status"], sell["filled"]) == ("closed", 10.0)
    assert ex.engine.orders[sell["id"]].cost == D("99.99") + 2 * D("99.98") + 3 * D(
        "99.97"
    ) + 4 * D("99.96")


async def test_market_order_larger_than_the_book_expires_the_rest(make_sim: MakeSim) -> None:
    ex, _ = make_sim(balances={"BTC": "100", "USDT": "100000"})
    order = await ex.create_order(SYMBOL, "market", "sell", 20)
    assert (order["status"], order["filled"], order["remaining"]) == ("expired", 15.0, 5.0)
    assert (free(ex, "BTC"), used(ex, "BTC")) == (D("85"), D(0))


@pytest.mark.parametrize(
    ("amount", "price", "message", "error"),
    [
        (0.0005, 100, "multiple of the step 0.001", ccxt.InvalidOrder),
        (1, 100.005, "multiple of the tick 0.01", ccxt.InvalidOrder),
        (0.005, 100, "below the minimum 0.01", ccxt.InvalidOrder),
        # ccxt's binance raises BadRequest for -1013 NOTIONAL (it has no rule for it)
        (0.01, 50, "notional 0.50 is below the minimum 1 USDT", ccxt.BadRequest),
        (-1, 100, "must be positive", ccxt.InvalidOrder),
    ],
)
async def test_exchange_filters_are_enforced(
    sim: Sim, amount: float, price: float, message: str, error: type[Exception]
) -> None:

    ex, _ = sim
    with pytest.raises(error, match=message):
        await ex.create_order(SYMBOL, "limit", "buy", amount, price)


async def test_bad_order_requests_are_invalid_orders(sim: Sim) -> None:
    ex, _ = sim
    with pytest.raises(ccxt.InvalidOrder, match="needs a price"):
        await ex.create_order(SYMBOL, "limit", "buy", 1)
    with pytest.raises(ccxt.InvalidOrder, match="timeInForce"):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99, {"timeInForce": "GTD"})
    with pytest.raises(ccxt.InvalidOrder, match="order type"):
        await ex.create_order(SYMBOL, "stop", "buy", 1, 99)
    with pytest.raises(ccxt.BadSymbol):
        await ex.create_order("DOGE/USDT", "limit", "buy", 1, 99)


async def test_insufficient_balance(sim: Sim) -> None:
    ex, _ = sim
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(SYMBOL, "limit", "buy", 1001, 100)
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(SYMBOL, "limit", "sell", 10.001, 101)
    await ex.create_order(SYMBOL, "limit", "buy", 1000, 99.5)  # locks 99,500
    with pytest.raises(ccxt.InsufficientFunds, match="needs 600"):
        await ex.create_order(SYMBOL, "limit", "buy", 6, 100)
    assert (free(ex, "USDT"), used(ex, "USDT")) == (D("500"), D("99500"))


async def test_unknown_orders_are_not_found(sim: Sim) -> None:
    ex, _ = sim
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("12345", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order(None, SYMBOL, {"clientOrderId": "nope"})
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order("12345", SYMBOL)


async def test_client_order_id_is_unique_among_open_orders(sim: Sim) -> None:
    ex, _ = sim
    first = await ex.create_order(SYMBOL, "limit", "buy", 1, 99, {"clientOrderId": "leg1-c1"})
    assert first["clientOrderId"] == "leg1-c1"
    with pytest.raises(ccxt.DuplicateOrderId):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 98, {"clientOrderId": "leg1-c1"})
    await ex.cancel_order(None, SYMBOL, {"clientOrderId": "leg1-c1"})  # type: ignore[arg-type]
    again = await ex.create_order(SYMBOL, "limit", "buy", 1, 98, {"clientOrderId": "leg1-c1"})
    found = await ex.fetch_order(None, SYMBOL, {"origClientOrderId": "leg1-c1"})
    assert found["id"] == again["id"] != first["id"]
    with pytest.raises(ccxt.InvalidOrder, match="clientOrderId"):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 98, {"clientOrderId": "x" * 40})


async def test_taking_our_own_resting_order_expires_it(sim: Sim) -> None:
    ex, _ = sim
    resting = await ex.create_order(SYMBOL, "limit", "sell", 1, 100.00, {"postOnly": True})
    await ex.create_order(SYMBOL, "market", "buy", 0.5)
    assert (await ex.fetch_order(resting["id"], SYMBOL))["status"] == "expired"
    assert used(ex, "BTC") == 0


async def test_balances_stay_exact_through_random_trading(make_sim: MakeSim) -> None:
    ex, clock = make_sim(
        regime={"volatility": 0.0005, "trade_rate": 1.0, "depth_noise": 0.3, "levels": 10}
    )
    rng = random.Random(3)
    for _ in range(150):
        book = await ex.fetch_order_book(SYMBOL)
        side = rng.choice(["buy", "sell"])
        touch = D(str((book["asks"] if side == "buy" else book["bids"])[0][0]))
        offset = D(rng.randint(-5, 5)) / 100
        price = touch + offset if side == "buy" else touch - offset
        amount = D(rng.randint(10, 2000)) / 1000
        with contextlib.suppress(ccxt.InsufficientFunds, ccxt.InvalidOrder):
            await ex.create_order(SYMBOL, "limit", side, float(amount), float(price))
        if rng.random() < 0.3:
            for o in await ex.fetch_open_orders(SYMBOL):
                await ex.cancel_order(o["id"], SYMBOL)
        clock.advance(rng.randint(0, 3))
    engine = ex.engine
    acct = engine.account
    open_orders = engine.open_orders(SYMBOL)
    assert acct.used["USDT"] == sum((o.locked for o in open_orders if o.side is Side.BUY), D(0))
    assert acct.used["BTC"] == sum((o.locked for o in open_orders if o.side is Side.SELL), D(0))
    assert min(acct.free.values()) >= 0
    trades = engine.my_trades(SYMBOL)
    assert any(not t.taker for t in trades) and any(t.taker for t in trades)
    bought = sum((t.amount - t.fee for t in trades if t.side is Side.BUY), D(0))
    sold = sum((t.amount for t in trades if t.side is Side.SELL), D(0))
    spent = sum((t.cost for t in trades if t.side is Side.BUY), D(0))
    earned = sum((t.cost - t.fee for t in trades if t.side is Side.SELL), D(0))
    assert acct.total("BTC") == D(10) + bought - sold
    assert acct.total("USDT") == D(100000) - spent + earned
