"""The zero-intelligence order-flow book (`book_model = "flow"`, `bot/sim/flowbook.py`).

The market is the conftest's (price 100, tick 0.01, step 0.001) on a small flow book: its price
emerges from the background order flow, so the tests read the book rather than assume it.
"""

from __future__ import annotations

import itertools
import random
import statistics
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.market import Market, Side
from bot.errors import ScenarioError
from bot.sim.account import OrderType
from bot.sim.engine import MatchingEngine
from bot.sim.fills import FillSource
from bot.sim.flowbook import FlowBook, FlowParams
from bot.sim.model import Print, QueuedBook, Regime
from bot.sim.scenario import load_scenario
from tests.sim.conftest import SYMBOL, scenario

D = Decimal
SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"
FLOW: dict[str, Any] = {
    "limit_rate": 5.0,
    "market_rate": 2.0,
    "cancel_rate": 0.1,
    "order_size": 0.3,
    "market_size": 0.5,
    "window": 50,
    "exponent": 1.0,
    "warmup": 200.0,
}
MARKET = Market(
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    amount_step=D("0.001"),
    price_tick=D("0.01"),
    min_amount=D(0),
    min_cost=D(0),
    maker_fee=D(0),
    taker_fee=D(0),
)


def book(seed: int = 1, **flow: Any) -> FlowBook:
    return FlowBook(
        market=MARKET,
        regime=Regime(),
        price=D(100),
        top_depth=D(1),
        rng=random.Random(seed),
        start=0.0,
        flow=FlowParams(**{**FLOW, **flow}),
    )


def engine(seed: int = 1, **flow: Any) -> MatchingEngine:
    spec = {"book_model": "flow", "flow": {**FLOW, **flow}}
    s = scenario(seed=seed, markets={SYMBOL: spec}, balances={"BTC": "1000", "USDT": "1000000"})
    return MatchingEngine(s.build_books(s.start), s.balances, step_seconds=s.step_seconds)


def flow_book(e: MatchingEngine) -> FlowBook:
    b = e.books[SYMBOL]
    assert isinstance(b, FlowBook)
    return b


def snapshot(b: FlowBook) -> tuple[Any, ...]:
    return (b.levels(Side.BUY), b.levels(Side.SELL), b.stats.base_volume, b.mid)


# ---- reproducibility and the shape of the book -----------------------------------------------


def test_one_seed_gives_one_market_however_time_is_stepped() -> None:
    a, b, c = book(7), book(7), book(7)
    prints_a = [p for _ in range(120) for p in a.step(1.0)]
    prints_b = [p for _ in range(240) for p in b.step(0.5)]
    assert snapshot(a) == snapshot(b)
    assert prints_a == prints_b
    assert prints_a  # the flow traded
    c.step(1.0)
    assert snapshot(book(8)) != snapshot(book(7))


def test_prices_stay_on_the_grids_and_the_book_never_crosses() -> None:
    e = engine(3)
    b = flow_book(e)
    ours = 0
    for _ in range(600):
        e.advance_to(e.now + 1)
        bg_bid, bg_ask = b.best(Side.BUY), b.best(Side.SELL)
        bids, asks = e.book(SYMBOL)
        if bg_bid is None or bg_ask is None:  # a side emptied (a small market)
            continue
        assert bg_bid < bg_ask
        assert bids[0].price < asks[0].price  # our orders included
        for lv in (*bids, *asks):
            assert lv.price % MARKET.price_tick == 0 and lv.amount % MARKET.amount_step == 0
            assert lv.amount > 0
        if bg_ask - bg_bid > MARKET.price_tick and len(e.open_orders()) < 4:
            side = Side.BUY if ours % 2 else Side.SELL  # ours inside the spread, in turn
            price = bg_bid + MARKET.price_tick if ours % 2 else bg_ask - MARKET.price_tick
            e.place(SYMBOL, OrderType.LIMIT, side, D("0.2"), price)
            ours += 1
    assert ours >= 10
    # background market orders reached our orders inside the spread
    assert any(t.source is FillSource.TRADE for t in e.trades)


def test_the_book_warms_up_into_a_steady_narrow_market() -> None:
    b = book(2)
    spreads = []
    for _ in range(300):
        b.step(1.0)
        bid, ask = b.best(Side.BUY), b.best(Side.SELL)
        assert bid is not None and ask is not None
        spreads.append((ask - bid) / MARKET.price_tick)
    assert statistics.median(spreads) <= 2
    assert abs(b.mid / 100 - 1) < D("0.01")


def test_the_benchmark_scenario_is_a_large_tick_alt_with_a_one_or_two_tick_spread() -> None:
    """oos-flow trades ADA/USDT on a tick of 1-2 bps (so impact shows in bps): the spread is
    mostly one tick, the book is deep enough for the benchmark's 20x top depth with room to
    spare, and such an order walks more than one tick."""
    s = load_scenario(SCENARIOS / "oos-flow.toml")
    spec = s.markets["ADA/USDT"]
    b = s.build_books(s.start)["ADA/USDT"]
    assert isinstance(b, FlowBook) and isinstance(b, QueuedBook)
    assert (spec.maker_fee, spec.taker_fee) == (D("0.0002"), D("0.00055"))
    assert D(1) <= spec.tick / spec.price * 10_000 <= D(2)  # one tick: 1-2 bps
    assert s.balances["ADA"] >= 20 * spec.top_depth  # the account can sell 20x top depth
    one = two = 0
    walked = []
    for _ in range(120):
        b.step(1.0)
        bid, ask = b.best(Side.BUY), b.best(Side.SELL)
        assert bid is not None and ask is not None
        one += (ask - bid) == spec.tick
        two += (ask - bid) <= 2 * spec.tick
        bids = b.levels(Side.BUY)
        assert sum(lv.amount for lv in bids) > 40 * b.top_depth
        left, last = 20 * b.top_depth, bid
        for lv in bids:
            left, last = left - lv.amount, lv.price
            if left <= 0:
                break
        walked.append((bid - last) / spec.tick)
    assert one >= 0.6 * 120 and two >= 0.85 * 120
    assert statistics.median(walked) >= 3  # 20x top depth walks several ticks
    assert abs(b.mid / spec.price - 1) < D("0.05")


# ---- our orders: price-time priority, cancellations, the true mid ------------------------------


def test_our_order_fills_only_once_everything_ahead_of_it_has_traded() -> None:
    e = engine(4, market_rate=0.0, cancel_rate=1e-9)
    b = flow_book(e)
    bid = b.best(Side.BUY)
    assert bid is not None
    order = e.place(SYMBOL, OrderType.LIMIT, Side.BUY, D(1), bid)
    ahead = e.queue_ahead(order.id)
    assert ahead is not None and ahead == b.levels(Side.BUY)[0].amount > D("0.002")
    e.advance_to(e.now + 30)  # later arrivals at our price queue behind us
    assert e.queue_ahead(order.id) == ahead
    e.background_trade(SYMBOL, Print(Side.SELL, ahead - D("0.001")))
    assert (e.orders[order.id].filled, e.queue_ahead(order.id)) == (0, D("0.001"))
    e.background_trade(SYMBOL, Print(Side.SELL, D("0.501")))
    assert e.orders[order.id].filled == D("0.5")
    assert e.queue_ahead(order.id) == 0
    e.background_trade(SYMBOL, Print(Side.SELL, D("0.7")))  # we are first now: the rest is ours
    assert e.orders[order.id].filled == D(1)
    assert [t.source for t in e.trades] == [FillSource.TRADE, FillSource.TRADE]


def test_cancellations_thin_the_queue_ahead_and_arrivals_do_not_add_to_it() -> None:
    def ahead_over_time(cancel_rate: float) -> list[Decimal]:
        e = engine(5, market_rate=0.0, cancel_rate=cancel_rate)
        bid = flow_book(e).best(Side.BUY)
        assert bid is not None
        order = e.place(SYMBOL, OrderType.LIMIT, Side.BUY, D(1), bid)
        out = []
        for _ in range(21):
            ahead = e.queue_ahead(order.id)
            assert ahead is not None
            out.append(ahead)
            e.advance_to(e.now + 1)
        return out

    thinning = ahead_over_time(0.2)
    assert all(later <= earlier for earlier, later in itertools.pairwise(thinning))
    assert thinning[-1] < thinning[0] * D("0.5")  # about exp(-0.2 * 20) = 2% left on average
    still = ahead_over_time(1e-9)
    assert len(set(still)) == 1 and still[0] > 0


def test_the_true_mid_is_the_background_books_mid_without_our_orders() -> None:
    e = engine(6)
    b = flow_book(e)
    for _ in range(600):
        bid, ask = b.best(Side.BUY), b.best(Side.SELL)
        assert bid is not None and ask is not None
        if ask - bid >= D("0.03"):
            break
        e.advance_to(e.now + 1)
    else:
        pytest.fail("no spread of three ticks in ten minutes")
    e.place(SYMBOL, OrderType.LIMIT, Side.BUY, D(1), bid + D("0.01"))
    bids, asks = e.book(SYMBOL)
    assert bids[0].price == bid + D("0.01")  # ours, on the public book
    assert e.true_mid(SYMBOL) == (bid + ask) / 2 != (bids[0].price + asks[0].price) / 2


# ---- the flow: persistence and the adverse selection it brings ----------------------------------


def sign_autocorrelation(persistence: float) -> float:
    b = book(9, persistence=persistence, market_rate=5.0, limit_rate=10.0)
    signs = [1 if p.aggressor is Side.BUY else -1 for _ in range(1500) for p in b.step(1.0)]
    mean = statistics.fmean(signs)
    pairs = [(x - mean) * (y - mean) for x, y in itertools.pairwise(signs)]
    return statistics.fmean(pairs) / statistics.pvariance(signs)


@pytest.mark.parametrize("persistence", [0.5, 0.8, 0.95])
def test_market_order_signs_have_the_autocorrelation_of_their_markov_chain(
    persistence: float,
) -> None:
    assert sign_autocorrelation(persistence) == pytest.approx(2 * persistence - 1, abs=0.04)


def move_after_passive_fills(persistence: float, seed: int = 11) -> float:
    """Mean move of the true mid 20 s after each passive fill of ours, in ticks, signed so that
    a move against the fill (down after a buy, up after a sell) is negative."""
    e = engine(seed, persistence=persistence)
    b = flow_book(e)
    mids, fills = [], []
    side = Side.BUY
    order = None
    seen = 0
    for k in range(4000):
        if order is not None and order.is_open and order.price != b.best(order.side):
            e.cancel(order.id)  # left behind: re-placed at the touch
            side = order.side
        price = b.best(side)
        if (order is None or not order.is_open) and price is not None:
            order = e.place(SYMBOL, OrderType.LIMIT, side, D("0.1"), price)
            side = side.opposite
        e.advance_to(e.now + 1)
        mids.append(e.true_mid(SYMBOL))
        for t in e.trades[seen:]:
            if t.source is FillSource.TRADE:
                fills.append((k, 1 if t.side is Side.BUY else -1))
        seen = len(e.trades)
    moves = [sign * (mids[k + 20] - mids[k]) for k, sign in fills if k + 20 < len(mids)]
    assert len(moves) > 100
    return statistics.fmean(float(m / D("0.01")) for m in moves)


def test_adverse_selection_emerges_from_persistent_flow_and_not_without_it() -> None:
    persistent = move_after_passive_fills(0.9)
    independent = move_after_passive_fills(0.5)
    assert persistent < -1.0  # ticks against the fill, 20 s on
    assert abs(independent) < 0.5 * abs(persistent)


# ---- scenario fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "extra", "expected"),
    [
        (
            {"flow": {"limit_rate": 2}},
            {},
            "markets.BTC/USDT: a flow table needs book_model = \"flow\" (not 'profile')",
        ),
        (
            {"book_model": "flow", "flow": {"persistence": 1.0}},
            {},
            "markets.BTC/USDT.flow: persistence must be in [0, 1), got 1.0",
        ),
        (
            {"book_model": "flow", "flow": {"window": 0, "cancel_rate": 0}},
            {},
            "markets.BTC/USDT.flow: cancel_rate must be > 0, got 0.0; window must be >= 1"
            " (ticks), got 0",
        ),
        (
            {"book_model": "flow", "flow": {"decay": 0.9}},
            {},
            "markets.BTC/USDT.flow.decay: not a scenario option (see config/scenarios/demo.toml)"
            " (got 0.9)",
        ),
        (
            {"book_model": "flow", "cancel_rate": 0.1},
            {},
            'markets.BTC/USDT: cancel_rate needs book_model = "queue" (the flow book ignores it)',
        ),
        (
            {"book_model": "flow"},
            {"events": [{"kind": "drought", "at": 10, "duration": 5, "size": 0.5}]},
            "events.0: a drought event does not apply to a flow book (BTC/USDT); give it the"
            " symbol of another market",
        ),
    ],
)
def test_flow_fields_are_validated_with_one_clear_message(
    market: dict[str, Any], extra: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(markets={SYMBOL: market}, **extra)
    assert caught.value.problems == [expected]


def test_a_flow_market_takes_jumps_and_the_defaults() -> None:
    s = scenario(
        markets={SYMBOL: {"book_model": "flow"}},
        events=[{"kind": "jump", "at": 30, "size": 0.02}],
    )
    b = s.build_books(s.start)[SYMBOL]
    assert isinstance(b, FlowBook) and b.flow == FlowParams()
    b.step(29.0)
    before = b.mid
    b.step(2.0)
    assert b.mid / before == pytest.approx(D("1.02"), abs=D("0.002"))


def test_flow_params_refuse_bad_values_when_built_directly() -> None:
    with pytest.raises(ValueError, match=r"exponent must be in \[0, 10\], got -1"):
        FlowParams(exponent=-1)
