"""The slicer: guards, child sizing within the band, styles, and its invariants (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.market import Market, OrderBook, Side
from bot.domain.orders import TimeInForce
from bot.domain.slicing import (
    Child,
    Done,
    ExecutionPolicy,
    Halt,
    LegState,
    Phase,
    Style,
    Wait,
    next_child,
    phase_for,
)

D = Decimal
MARKET = Market(
    "BTC/USDT", "BTC", "USDT", D("0.001"), D("0.1"), D("0.001"), D(10), D("0.001"), D("0.001")
)


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    return OrderBook.from_pairs(
        "BTC/USDT", [(D(p), D(a)) for p, a in bids], [(D(p), D(a)) for p, a in asks]
    )


# mid 100.0; 10 bps band = 99.9 .. 100.1
BOOK = book(
    [("99.95", "1"), ("99.9", "2"), ("99.8", "50")],
    [("100.05", "1"), ("100.1", "2"), ("100.2", "50")],
)
POLICY = ExecutionPolicy(style=Style.TAKE, participation=D("0.5"), band_bps=D(10))


def state(side: Side = Side.BUY, remaining: str = "10", **kw: float) -> LegState:
    return LegState(side=side, remaining=D(remaining), arrival_mid=D(100), **kw)


def test_take_child_takes_participation_of_depth_within_band_at_worst_level() -> None:
    child = next_child(MARKET, BOOK, state(), POLICY)
    # 3 BTC rest within 10 bps on the ask side; half of it, priced at the level that completes it
    assert child == Child(
        Side.BUY, D("1.5"), D("100.1"), Phase.TAKE, TimeInForce.IOC, post_only=False
    )
    sell = next_child(MARKET, BOOK, state(Side.SELL), POLICY)
    assert isinstance(sell, Child)
    assert (sell.amount, sell.price) == (D("1.5"), D("99.9"))


def test_small_remainder_is_taken_at_the_touch() -> None:
    child = next_child(MARKET, BOOK, state(remaining="0.5"), POLICY)
    assert isinstance(child, Child)
    assert (child.amount, child.price) == (D("0.5"), D("100.05"))


def test_notional_cap_limits_the_child() -> None:
    policy = ExecutionPolicy(
        style=Style.TAKE, participation=D("0.5"), band_bps=D(10), max_order_notional=D(50)
    )
    child = next_child(MARKET, BOOK, state(), policy)
    assert isinstance(child, Child)
    assert child.amount == D("0.499")  # 50 / 100.1 rounded down to the step


def test_dust_remainder_is_done_not_forced() -> None:
    decision = next_child(MARKET, BOOK, state(remaining="0.05"), POLICY)  # 0.05 * 100 = 5 < 10
    assert isinstance(decision, Done)
    assert "dust" in decision.reason


@pytest.mark.parametrize(
    ("b", "reason"),
    [
        (book([], []), "book empty"),
        (book([("99.9", "1")], []), "book one-sided"),
        (book([("100.2", "1")], [("100.1", "1")]), "book crossed"),
        (book([("99", "1")], [("101", "1")]), "spread"),
    ],
)
def test_guards_wait(b: OrderBook, reason: str) -> None:
    decision = next_child(MARKET, b, state(), POLICY)
    assert isinstance(decision, Wait)
    assert reason in decision.reason


def test_adverse_move_pauses_then_halts() -> None:
    moved = book([("101.95", "5")], [("102.05", "5")])  # mid 102: +200 bps against a buy
    policy = ExecutionPolicy(style=Style.TAKE, max_deviation_bps=D(150), deviation_timeout=60)
    wait = next_child(MARKET, moved, state(), policy)
    assert isinstance(wait, Wait)
    assert wait.deviation
    assert isinstance(next_child(MARKET, moved, state(paused_for=60), policy), Halt)
    # the same move helps a sell: no guard
    assert isinstance(next_child(MARKET, moved, state(Side.SELL), policy), Child)


def test_thin_book_waits() -> None:
    thin = book([("99.95", "0.01")], [("100.05", "0.01")])
    decision = next_child(MARKET, thin, state(), POLICY)
    assert isinstance(decision, Wait)
    assert "too thin" in decision.reason


def test_leg_deadline_halts() -> None:
    assert isinstance(next_child(MARKET, BOOK, state(elapsed=1800), POLICY), Halt)


def test_passive_child_posts_one_tick_inside_when_the_spread_allows() -> None:
    policy = ExecutionPolicy(style=Style.PASSIVE, participation=D("0.5"), band_bps=D(10))
    wide = book([("99.8", "3")], [("100.2", "3")])  # 4 ticks of spread
    child = next_child(MARKET, wide, state(), policy)
    assert isinstance(child, Child)
    assert (child.price, child.post_only, child.time_in_force) == (D("99.9"), True, TimeInForce.GTC)
    tight = book([("99.9", "3")], [("100.0", "3")])  # one tick: join the bid
    child = next_child(MARKET, tight, state(), policy)
    assert isinstance(child, Child)
    assert child.price == D("99.9")
    sell = next_child(MARKET, wide, state(Side.SELL), policy)
    assert isinstance(sell, Child)
    assert sell.price == D("100.1")


def test_phases_by_style() -> None:
    passive = ExecutionPolicy(style=Style.PASSIVE, leg_deadline=100, take_after=D("0.8"))
    assert phase_for(passive, 79) is Phase.PASSIVE
    assert phase_for(passive, 80) is Phase.TAKE
    assert phase_for(ExecutionPolicy(style=Style.TAKE), 0) is Phase.TAKE
    assert phase_for(ExecutionPolicy(style=Style.PASSIVE_THEN_TAKE), 0) is Phase.PASSIVE


@st.composite
def books(draw: st.DrawFn) -> OrderBook:
    tick = D("0.1")
    mid_ticks = draw(st.integers(500, 100_000))
    spread = draw(st.integers(1, 10))
    bid = mid_ticks * tick
    ask = bid + spread * tick
    n = draw(st.integers(1, 12))
    gaps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(1, 5000), min_size=2 * n, max_size=2 * n))
    bids, asks, off = [], [], 0
    for i, g in enumerate(gaps):
        bids.append((bid - off * tick, D(sizes[i]) / 1000))
        asks.append((ask + off * tick, D(sizes[n + i]) / 1000))
        off += g
    return OrderBook.from_pairs("BTC/USDT", bids, asks)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    b=books(),
    side=st.sampled_from(list(Side)),
    remaining=st.decimals(D("0.001"), D(100), places=3),
    participation=st.decimals(D("0.05"), D(1), places=2),
    band=st.integers(1, 200),
    style=st.sampled_from(list(Style)),
)
def test_child_invariants(
    b: OrderBook, side: Side, remaining: Decimal, participation: Decimal, band: int, style: Style
) -> None:
    policy = ExecutionPolicy(
        style=style, participation=participation, band_bps=D(band), max_spread_bps=D(10_000)
    )
    mid = b.mid
    assert mid is not None
    s = LegState(side=side, remaining=remaining, arrival_mid=mid)
    decision = next_child(MARKET, b, s, policy)
    if not isinstance(decision, Child):
        return
    reach = D(band) if decision.phase is Phase.TAKE else max(D(band), b.spread_bps or D(0))
    within = b.quantity_within_bps(side, reach)
    # never more than asked, never more than the participation share of what rests in the band
    assert decision.amount <= remaining
    assert decision.amount <= within * participation
    # on the exchange's grid and above its minimums
    assert MARKET.rejects(decision.amount, decision.price) is None
    assert decision.price % MARKET.price_tick == 0
    limit_offset = mid * D(band) / 10_000
    if decision.phase is Phase.TAKE:
        # cannot walk past the band
        if side is Side.BUY:
            assert decision.price <= mid + limit_offset
        else:
            assert decision.price >= mid - limit_offset
        fill = b.take(side, decision.amount)
        assert fill is not None  # the book holds it within the price
    else:
        # a passive child never crosses the spread
        assert b.best_bid is not None
        assert b.best_ask is not None
        if side is Side.BUY:
            assert decision.price < b.best_ask
        else:
            assert decision.price > b.best_bid


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    b=books(),
    band=st.integers(1, 100),
    fee_bps=st.data(),
    budget=st.decimals(D(1), D(100_000), places=2),
    participation=st.decimals(D("0.05"), D(1), places=2),
    style=st.sampled_from(list(Style)),
    take=st.booleans(),
)
def test_a_buy_child_never_spends_past_its_budget(
    b: OrderBook,
    band: int,
    fee_bps: st.DataObject,
    budget: Decimal,
    participation: Decimal,
    style: Style,
    take: bool,
) -> None:
    """Sized at its own limit price (the worst it can fill at) plus the higher fee, a buy child
    fits its budget whatever the band, the fee (0 up to the band) and the book's walk."""
    fee = D(fee_bps.draw(st.integers(0, band))) / 10_000
    market = Market(
        "BTC/USDT", "BTC", "USDT", D("0.001"), D("0.1"), D("0.001"), D(10), fee / 2, fee
    )
    policy = ExecutionPolicy(
        style=style, participation=participation, band_bps=D(band), max_spread_bps=D(10_000)
    )
    mid = b.mid
    assert mid is not None
    state = LegState(side=Side.BUY, remaining=D(1000), arrival_mid=mid)
    phase = Phase.TAKE if take else None
    decision = next_child(market, b, state, policy, phase, budget=budget)
    if isinstance(decision, Child):
        spend = decision.amount * decision.price * (1 + market.max_fee)
        assert spend <= budget
        assert market.rejects(decision.amount, decision.price) is None


def test_a_budget_sized_take_is_repriced_no_higher_than_it_needs() -> None:
    """The budget cuts a take that would walk three levels down to what the touch holds: its
    limit comes back to the touch, so it pays the touch, not the band's worst level."""
    deep = book([("99.9", "5")], [("100.0", "1"), ("100.1", "1"), ("100.2", "40")])
    policy = ExecutionPolicy(style=Style.TAKE, participation=D(1), band_bps=D(50))
    state = LegState(side=Side.BUY, remaining=D(10), arrival_mid=D("99.95"))
    unbounded = next_child(MARKET, deep, state, policy)
    assert isinstance(unbounded, Child)
    assert unbounded.price == D("100.2")
    child = next_child(MARKET, deep, state, policy, budget=D(100))
    assert isinstance(child, Child)
    assert child.price == D("100.0")
    assert child.amount * child.price * (1 + MARKET.max_fee) <= D(100)
