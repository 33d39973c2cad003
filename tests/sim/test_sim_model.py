"""The synthetic book: its profile, determinism, resilience, background trades and events."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from decimal import Decimal

import pytest

from bot.domain.market import Market, Side
from bot.sim.model import BookModel, Event, EventKind, Regime

D = Decimal

MARKET = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.001"), price_tick=D("0.01"))
STILL = Regime(volatility=0.0, spread_bps=2.0, levels=5, depth_growth=1.0)


def book(
    regime: Regime = STILL, seed: int = 1, events: tuple[Event, ...] = (), spacing: int = 1
) -> BookModel:

    return BookModel(
        market=MARKET,
        regime=regime,
        price=D(100),
        top_depth=D(1),
        rng=random.Random(seed),
        start=0.0,
        level_spacing_ticks=spacing,
        events=events,
    )


def pairs(b: BookModel, side: Side) -> list[tuple[D, D]]:
    return [(lv.price, lv.amount) for lv in b.levels(side)]


def test_profile_grows_with_distance_from_the_mid() -> None:
    b = book(spacing=3)
    assert pairs(b, Side.BUY) == [
        (D("99.99"), D(1)),
        (D("99.96"), D(2)),
        (D("99.93"), D(3)),
        (D("99.90"), D(4)),
        (D("99.87"), D(5)),
    ]
    assert pairs(b, Side.SELL)[:2] == [(D("100.01"), D(1)), (D("100.04"), D(2))]


def test_spread_is_at_least_one_tick() -> None:
    b = book(Regime(volatility=0.0, spread_bps=0.0, levels=3))
    bid, ask = b.best(Side.BUY), b.best(Side.SELL)
    assert bid is not None and ask is not None
    assert ask - bid == D("0.01")


def test_same_seed_same_book_sequence_and_another_seed_differs() -> None:
    regime = Regime(volatility=0.0005, depth_noise=0.3, trade_rate=1.0, levels=10)

    def run(seed: int) -> list[object]:
        b = book(regime, seed=seed)
        seen: list[object] = []
        for i in range(200):
            if i % 2:
                prints = b.step(1.0)
            else:
                b.jump_to(b.t + 3.0)
                prints = []
            seen.append((pairs(b, Side.BUY), pairs(b, Side.SELL), prints))
        return seen

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_mid_walk_has_the_configured_volatility() -> None:
    b = book(Regime(volatility=0.001, levels=1), seed=9)
    mids = [float(b.mid)]
    for _ in range(4000):
        b.step(1.0)
        mids.append(float(b.mid))
    returns = [math.log(b / a) for a, b in itertools.pairwise(mids)]
    assert statistics.stdev(returns) == pytest.approx(0.001, rel=0.05)
    assert abs(statistics.fmean(returns)) < 0.0001


def test_taken_liquidity_refills_with_the_half_life() -> None:
    b = book(Regime(volatility=0.0, levels=5, depth_growth=1.0, resilience_half_life=10.0))
    b.consume(Side.SELL, D("100.01"), D(1))
    b.consume(Side.SELL, D("100.02"), D("1.5"))
    assert pairs(b, Side.SELL)[:2] == [(D("100.02"), D("0.5")), (D("100.03"), D(3))]
    b.jump_to(10.0)
    assert pairs(b, Side.SELL)[:2] == [(D("100.01"), D("0.5")), (D("100.02"), D("1.250"))]
    b.jump_to(20.0)
    assert pairs(b, Side.SELL)[0] == (D("100.01"), D("0.75"))
    for _ in range(200):  # stepping or jumping: the refill depends on elapsed time only
        b.step(1.0)
    assert pairs(b, Side.SELL)[0] == (D("100.01"), D(1))


def test_background_trades_arrive_at_the_configured_rate() -> None:
    b = book(Regime(volatility=0.0, levels=3, trade_rate=2.0, trade_size=0.5), seed=4)
    prints = [p for _ in range(1000) for p in b.step(1.0)]
    assert len(prints) == pytest.approx(2000, rel=0.06)
    assert sum(p.aggressor is Side.BUY for p in prints) == pytest.approx(len(prints) / 2, rel=0.1)
    mean = statistics.fmean(float(p.amount) for p in prints)
    assert mean == pytest.approx(0.5, rel=0.1)  # trade_size x the top level (1 BTC)


def test_price_jump_event() -> None:
    b = book(events=(Event(EventKind.JUMP, at=30.0, size=-0.05),))
    b.jump_to(29.0)
    assert b.mid == 100
    b.jump_to(31.0)
    assert float(b.mid) == pytest.approx(95.0)
    assert b.best(Side.SELL) == D("95.01")


def test_liquidity_drought_event() -> None:
    b = book(events=(Event(EventKind.DROUGHT, at=10.0, duration=20.0, size=0.1),))
    b.jump_to(15.0)
    assert [q for _, q in pairs(b, Side.BUY)] == [D("0.1"), D("0.2"), D("0.3"), D("0.4"), D("0.5")]
    b.jump_to(30.0)
    assert pairs(b, Side.BUY)[0] == (D("99.99"), D(1))


def test_one_sided_and_empty_book_events() -> None:
    b = book(
        events=(
            Event(EventKind.ONE_SIDED, at=10.0, duration=5.0, side=Side.SELL),
            Event(EventKind.EMPTY, at=20.0, duration=5.0),
        )
    )
    b.jump_to(11.0)
    assert pairs(b, Side.SELL) == [] and len(pairs(b, Side.BUY)) == 5
    b.jump_to(21.0)
    assert pairs(b, Side.SELL) == [] and pairs(b, Side.BUY) == []
    b.jump_to(25.0)
    assert len(pairs(b, Side.SELL)) == len(pairs(b, Side.BUY)) == 5


def test_crossed_book_event_lasts_a_moment() -> None:
    b = book(events=(Event(EventKind.CROSSED, at=5.0, duration=2.0, size=2),))
    b.jump_to(6.0)
    bid, ask = b.best(Side.BUY), b.best(Side.SELL)
    assert bid == D("100.03") and ask == D("100.01")  # best bid two ticks above the best ask
    b.jump_to(7.0)
    assert b.best(Side.BUY) == D("99.99")


def test_regime_refuses_impossible_values() -> None:
    with pytest.raises(ValueError, match="levels must be >= 1"):
        Regime(levels=0)
    with pytest.raises(ValueError, match="depth_noise must be in"):
        Regime(depth_noise=1.5)


def test_the_market_path_does_not_depend_on_how_often_it_is_watched() -> None:
    """Strategies compared on one seed see one market: the mid and the book at a given time are
    the same whether the book was looked at every second or once a minute."""
    regime = Regime(volatility=0.001, depth_noise=0.3)
    events = (Event(EventKind.JUMP, at=30.5, size=-0.02),)
    watched = [book(regime=regime, seed=9, events=events) for _ in range(3)]
    for b, every in zip(watched, (0.37, 10.0, 60.0), strict=True):
        t = b.start
        while t + every <= b.start + 60:
            t += every
            b.jump_to(t)
        b.jump_to(b.start + 60)
    mids = {b.mid for b in watched}
    assert len(mids) == 1
    assert {tuple(pairs(b, Side.BUY)) for b in watched} == {tuple(pairs(watched[0], Side.BUY))}
