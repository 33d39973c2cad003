"""The queue book (`book_model = "queue"`): persistent levels, queue positions, informed flow.

The market is the conftest's (mid 100, tick 0.01, levels one tick apart, no noise) on a queue
book, with the touch made 5 BTC deep where a test needs a queue to wait behind.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.market import Side
from bot.errors import ScenarioError
from bot.sim.account import OrderStatus, OrderType, TimeInForce
from bot.sim.engine import MatchingEngine
from bot.sim.exchange import SimExchange
from bot.sim.fills import FillSource, SimFill
from bot.sim.model import Print, Regime
from bot.sim.queue import QueueBook, QueueParams
from bot.sim.scenario import load_scenario
from tests.sim.conftest import SYMBOL, scenario

D = Decimal
SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"
FLAT = {"top_depth": "5", "regime": {"depth_growth": 0.0}}  # 5 BTC at every level


def engine(market: dict[str, Any] | None = None, **regime: Any) -> MatchingEngine:
    spec: dict[str, Any] = {"book_model": "queue", **(market or {})}
    spec["regime"] = {**spec.get("regime", {}), **regime}
    s = scenario(markets={SYMBOL: spec})
    return MatchingEngine(s.build_books(s.start), s.balances, step_seconds=s.step_seconds)


def buy(e: MatchingEngine, price: str, amount: str = "1") -> str:
    order = e.place(SYMBOL, OrderType.LIMIT, Side.BUY, D(amount), D(price))
    return order.id


def sell_print(e: MatchingEngine, amount: str, informed: bool = False) -> None:
    e.background_trade(SYMBOL, Print(Side.SELL, D(amount), informed))


def filled(e: MatchingEngine, order_id: str) -> Decimal:
    return e.orders[order_id].filled


# ---- queue position ----------------------------------------------------------------------------


def test_an_order_behind_five_waits_out_a_trade_of_three_and_fills_on_the_next() -> None:
    e = engine(FLAT)
    order_id = buy(e, "99.99")
    assert e.queue_ahead(order_id) == D(5)
    sell_print(e, "3")
    assert filled(e, order_id) == 0
    assert e.queue_ahead(order_id) == D(2)
    sell_print(e, "3")
    assert filled(e, order_id) == D(1)
    (trade,) = e.my_trades(SYMBOL)
    assert isinstance(trade, SimFill)
    assert (trade.source, trade.taker, trade.price) == (FillSource.TRADE, False, D("99.99"))
    assert e.books[SYMBOL].levels(Side.BUY)[0].price == D("99.98")  # 99.99 taken: 3 + 2 + ours


def test_an_order_at_a_new_better_price_is_first_in_the_queue() -> None:
    e = engine(FLAT, spread_bps=10.0)  # best bid 99.95, best ask 100.05
    inside = buy(e, "99.97")
    at_touch = buy(e, "99.95")
    assert e.queue_ahead(inside) == 0
    assert e.queue_ahead(at_touch) == D(5)
    sell_print(e, "0.4")
    assert filled(e, inside) == D("0.4")
    assert filled(e, at_touch) == 0


def test_cancels_ahead_advance_our_place_in_the_queue() -> None:
    e = engine({**FLAT, "cancel_rate": 0.1})
    order_id = buy(e, "99.99")
    assert e.queue_ahead(order_id) == D(5)
    e.advance_to(e.now + 10)
    ahead = e.queue_ahead(order_id)
    assert ahead is not None and D("0.5") < ahead < D(4)  # ~5 * exp(-1) = 1.8 on average
    assert e.books[SYMBOL].levels(Side.BUY)[0].amount == D(5)  # replaced behind us
    sell_print(e, "4")
    assert filled(e, order_id) == D(1)


def test_a_cancelled_order_leaves_the_queue() -> None:
    e = engine(FLAT)
    order_id = buy(e, "99.99")
    e.cancel(order_id)
    assert e.queue_ahead(order_id) is None
    assert e.orders[order_id].status is OrderStatus.CANCELED


# ---- levels persist ------------------------------------------------------------------------


def test_levels_consumed_by_background_orders_stay_consumed_until_they_refill() -> None:
    e = engine(resilience_half_life=1000.0)  # asks 100.01: 1, 100.02: 2, ...
    e.background_trade(SYMBOL, Print(Side.BUY, D("1.5")))
    e.advance_to(e.now + 10)
    asks = e.books[SYMBOL].levels(Side.SELL)  # 100.01 taken, 100.02: 1.5 left, refilling slowly
    assert [lv.price for lv in asks[:2]] == [D("100.01"), D("100.02")]
    assert asks[0].amount <= D("0.01") and asks[1].amount <= D("1.51")
    assert e.book(SYMBOL)[1][0].amount <= D("0.01")
    fast = engine(resilience_half_life=1.0)
    fast.background_trade(SYMBOL, Print(Side.BUY, D("1.5")))
    fast.advance_to(fast.now + 30)
    asks = fast.books[SYMBOL].levels(Side.SELL)
    assert [(lv.price, lv.amount) for lv in asks[:2]] == [(D("100.01"), 1), (D("100.02"), 2)]


def test_the_profile_book_still_refills_at_once() -> None:
    s = scenario(regime={"trade_rate": 0.0})
    e = MatchingEngine(s.build_books(s.start), s.balances)
    e.background_trade(SYMBOL, Print(Side.BUY, D("1.5")))
    best = e.books[SYMBOL].levels(Side.SELL)[0]
    assert (best.price, best.amount) == (D("100.01"), 1)
    assert not isinstance(e.books[SYMBOL], QueueBook)


def test_the_queue_market_does_not_depend_on_how_often_it_is_looked_at() -> None:
    regime = {"volatility": 0.0002, "trade_rate": 1.0, "depth_noise": 0.2}
    market = {"informed_share": 0.5, "impact_bps": 2.0}
    once, often = engine(market, **regime), engine(market, **regime)
    once.advance_to(once.now + 120)
    for _ in range(240):
        often.advance_to(often.now + 0.5)
    assert once.true_mid(SYMBOL) == often.true_mid(SYMBOL)
    assert once.book(SYMBOL) == often.book(SYMBOL)


# ---- fill sources and the fair mid ---------------------------------------------------------


def test_fills_say_whether_we_took_a_trade_reached_us_or_the_book_moved_onto_us() -> None:
    e = engine(FLAT)
    taken = e.place(SYMBOL, OrderType.LIMIT, Side.BUY, D("0.5"), D("100.01"))
    assert [t.source for t in taken.trades if isinstance(t, SimFill)] == [FillSource.TAKER]
    resting = e.place(SYMBOL, OrderType.LIMIT, Side.SELL, D("0.5"), D("100.01"))
    book = e.books[SYMBOL]
    book._mid = 100.05  # the fair mid jumps: the bids follow it up onto our ask
    e.advance_to(e.now + 1)
    assert [t.source for t in e.my_trades(SYMBOL) if t.order_id == resting.id] == [FillSource.BOOK]
    assert e.true_mid(SYMBOL) == Decimal(100.05)  # noqa: RUF032 (the float walk, exactly)


def test_an_informed_trade_moves_the_fair_mid_and_the_book_follows() -> None:
    e = engine(market={"informed_share": 1.0, "impact_bps": 10.0})
    before = e.true_mid(SYMBOL)
    sell_print(e, "1", informed=True)  # one top level's quantity: -10 bps
    after = e.true_mid(SYMBOL)
    assert math.isclose(float(after / before), math.exp(-0.001))
    e.advance_to(e.now + 1)
    assert e.books[SYMBOL].best(Side.SELL) == D("99.92")  # ceil(99.90 * 1.0001)
    sell_print(e, "1", informed=False)
    assert e.true_mid(SYMBOL) == after


# ---- informed flow, statistically ----------------------------------------------------------


def _moves_after_prints(informed_share: float, horizon: int = 5) -> tuple[float, float]:
    """Mean log move of the fair mid, in bps, over `horizon` seconds after background buys and
    after background sells, over 3000 seeded seconds."""
    regime = Regime(volatility=0.0001, spread_bps=2.0, levels=5, trade_rate=1.0, trade_size=0.5)
    s = scenario()
    book = QueueBook(
        market=s.market_list()[0],
        regime=regime,
        price=D(100),
        top_depth=D(1),
        rng=random.Random(11),
        start=0.0,
        queue=QueueParams(informed_share=informed_share, impact_bps=2.0),
    )
    mids, trades = [], []
    for k in range(3000):
        prints = book.step(1.0)
        mids.append(float(book.mid))
        for p in prints:
            trades.append((k, p.aggressor))
            book.apply_print(p, [])
    moves: dict[Side, list[float]] = {Side.BUY: [], Side.SELL: []}
    for k, side in trades:
        if k + horizon < len(mids):
            moves[side].append(math.log(mids[k + horizon] / mids[k]) * 10_000)
    buys, sells = moves[Side.BUY], moves[Side.SELL]
    assert len(buys) > 1000 and len(sells) > 1000
    return sum(buys) / len(buys), sum(sells) / len(sells)


def test_the_mid_moves_the_way_of_background_orders_when_they_are_informed() -> None:
    # informed: each trade moves the mid by 2 bps per top-level quantity, half of them informed,
    # sizes 0.5 of the top on average: +-0.5 bps expected; walk noise ~0.07 bps standard error
    after_buy, after_sell = _moves_after_prints(informed_share=0.5)
    assert after_buy > 0.3 and after_sell < -0.3
    after_buy, after_sell = _moves_after_prints(informed_share=0.0)
    assert abs(after_buy) < 0.25 and abs(after_sell) < 0.25


def test_a_passive_bid_filled_is_followed_by_a_lower_mid_on_average() -> None:
    """Adverse selection: the fair mid 10 s after a passive fill of our bid, against the mid at
    the start of the second it filled in (the mid moves only with informed trades here)."""

    def mean_move(informed_share: float) -> tuple[float, int]:
        e = engine(
            market={"informed_share": informed_share, "impact_bps": 3.0},
            trade_rate=1.0,
            trade_size=1.0,
        )
        order_id: str | None = None
        placed = 0
        moves: list[float] = []
        pending: list[tuple[int, float]] = []
        for k in range(2500):
            if order_id is not None and e.orders[order_id].is_open and k - placed >= 10:
                e.cancel(order_id)  # re-peg to the best bid every 10 s
            if order_id is None or not e.orders[order_id].is_open:
                bid = e.books[SYMBOL].best(Side.BUY)
                if bid is not None:  # (a sweep may have emptied the bids for a moment)
                    order_id, placed = buy(e, str(bid), "0.1"), k
            before = float(e.true_mid(SYMBOL))
            e.advance_to(e.now + 1)
            if order_id is not None and e.orders[order_id].status is OrderStatus.CLOSED:
                pending.append((k + 10, before))
                order_id = None
            while pending and pending[0][0] <= k:
                moves.append(float(e.true_mid(SYMBOL)) / pending.pop(0)[1] - 1)
        return sum(moves) / len(moves) * 10_000, len(moves)

    informed, fills = mean_move(0.5)
    assert fills > 100
    assert informed < -0.3  # bps
    uninformed, fills = mean_move(0.0)
    assert fills > 100 and uninformed == 0.0


# ---- scenarios ---------------------------------------------------------------------------


async def test_the_one_tick_major_shows_a_one_tick_spread_and_a_deep_touch() -> None:
    s = load_scenario(SCENARIOS / "major-one-tick.toml")
    spec = s.markets["BTC/USDT"]
    assert (spec.book_model, spec.tick, spec.maker_fee, spec.taker_fee) == (
        "queue",
        D("0.01"),
        D(0),
        D("0.001"),
    )
    ex = SimExchange.from_scenario(s)
    assert ex.faults.config.latency > 0
    spreads, touch = [], []
    for _ in range(60):
        ex.clock.advance(5)
        book = await ex.fetch_order_book("BTC/USDT", 5)
        (bid, bid_qty), (ask, ask_qty) = book["bids"][0], book["asks"][0]
        assert 90_000 < bid < ask < 100_000
        spreads.append(round(ask - bid, 2))
        touch += [bid_qty, ask_qty]
    assert spreads.count(0.01) >= 0.7 * len(spreads)
    assert sorted(touch)[len(touch) // 2] >= 0.5  # BTC (~47,500 USDT) at the median touch
    fair = float(ex.engine.true_mid("BTC/USDT"))
    assert abs(fair / ((bid + ask) / 2) - 1) < 0.001


def test_the_low_fee_major_has_maker_below_taker() -> None:
    s = load_scenario(SCENARIOS / "major-low-fees.toml")
    spec = s.markets["BTC/USDT"]
    assert (spec.maker_fee, spec.taker_fee, spec.book_model) == (D("0.0002"), D("0.00055"), "queue")
    assert s.markets["ETH/USDT"].book_model == "profile"


@pytest.mark.parametrize(
    ("market", "expected"),
    [
        (
            {"book_model": "queue", "informed_share": -0.1},
            "markets.BTC/USDT.informed_share: Input should be greater than or equal to 0"
            " (got -0.1)",
        ),
        (
            {"book_model": "queue", "informed_share": 1.5},
            "markets.BTC/USDT.informed_share: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            {"book_model": "queue", "cancel_rate": -1},
            "markets.BTC/USDT.cancel_rate: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            {"impact_bps": 1.0},
            'markets.BTC/USDT: impact_bps needs book_model = "queue" (the profile book ignores it)',
        ),
        (
            {"book_model": "fifo"},
            "markets.BTC/USDT.book_model: Input should be 'profile', 'queue' or 'flow'"
            " (got 'fifo')",
        ),
    ],
)
def test_queue_fields_are_validated_with_one_clear_message(
    market: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(markets={SYMBOL: market})
    assert caught.value.problems == [expected]


def test_queue_params_refuse_bad_values_when_built_directly() -> None:
    with pytest.raises(ValueError, match=r"informed_share must be in \[0, 1\], got -0.1"):
        QueueParams(informed_share=-0.1)


def test_a_post_only_order_joins_the_queue_too() -> None:
    e = engine(FLAT)
    order = e.place(
        SYMBOL, OrderType.LIMIT, Side.BUY, D(1), D("99.99"), time_in_force=TimeInForce.PO
    )
    assert e.queue_ahead(order.id) == D(5)
