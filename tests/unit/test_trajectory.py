"""The schedule style's trajectory (Almgren-Chriss) and its step rule."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from bot.domain.market import OrderBook, Side
from bot.domain.trajectory import (
    Step,
    Volatility,
    at_touch,
    plan_step,
    remaining_share,
    urgency,
)

D = Decimal


def test_a_zero_urgency_trajectory_is_a_straight_line() -> None:
    assert [remaining_share(t, 100, 0.0) for t in (0, 25, 50, 100, 150)] == [1, 0.75, 0.5, 0, 0]


def test_urgency_front_loads_the_trajectory() -> None:
    calm, urgent = remaining_share(50, 100, 0.001), remaining_share(50, 100, 0.05)
    assert 0 < urgent < calm < 0.5 + 1e-9
    # the closed form: sinh(k (T - t)) / sinh(k T)
    assert urgent == pytest.approx(math.sinh(0.05 * 50) / math.sinh(0.05 * 100))
    assert remaining_share(10, 100, 50.0) == pytest.approx(math.exp(-500))  # no overflow


def test_urgency_grows_with_variance_and_depth_and_vanishes_without_aversion() -> None:
    base = urgency(1.0, 0.05, 10.0, 10.0, 0.01)
    assert urgency(4.0, 0.05, 10.0, 10.0, 0.01) == pytest.approx(2 * base)
    assert urgency(1.0, 0.20, 10.0, 10.0, 0.01) == pytest.approx(2 * base)
    assert urgency(1.0, 0.05, 10.0, 10.0, 0.0) == 0.0
    assert urgency(1.0, 0.0, 10.0, 10.0, 0.01) == 0.0


def test_volatility_is_measured_from_the_mids_seen() -> None:
    vol = Volatility().observe(D(100), 0.0)
    assert vol.looks == 0
    moved = vol.observe(D("100.1"), 10.0)  # about 10 bps in 10 s: 10 bps^2/s
    assert moved.variance == pytest.approx(math.log(1.001) ** 2 * 1e8 / 10)
    still = moved.observe(D("100.1"), 20.0)
    assert still.variance < moved.variance
    assert moved.sigma_bps(10) == pytest.approx(math.sqrt(moved.variance * 10))


def step(
    remaining: str,
    elapsed: float,
    half_spread: float = 1.0,
    adverse: float = 0.5,
    patience: float = 0.0,
) -> Step:
    return plan_step(
        total=D(100),
        remaining=D(remaining),
        elapsed=elapsed,
        horizon=100.0,
        step=10.0,
        kappa=0.0,
        half_spread_bps=half_spread,
        fee_saving_bps=0.0,
        adverse_bps=adverse,
        patience=patience,
    )


def test_on_schedule_the_slice_rests_and_behind_the_difference_is_taken() -> None:
    on = step("100", 0.0)
    assert (on.amount, on.take) == (D(10), False)
    behind = step("80", 50.0)  # the line holds 50 at 50 s and 40 at 60 s
    assert behind.take and behind.amount == D(40)
    ahead = step("30", 50.0)
    assert not ahead.take and ahead.amount == D(10)


def test_resting_that_earns_less_than_the_expected_move_takes_instead() -> None:
    assert step("100", 0.0, half_spread=0.05, adverse=2.0).take


def test_past_the_horizon_everything_left_is_taken() -> None:
    late = step("7", 100.0)
    assert late.take and late.amount == D(7)


def test_with_patience_a_lag_shorter_than_it_rests_and_a_longer_one_is_taken() -> None:
    # The line holds 50 at 50 s, 70 at 30 s (50 - 20 s of patience), 30 at 70 s.
    short = step("65", 50.0, patience=20.0)  # 15 s behind
    assert not short.take
    assert short.amount == D(35)  # what the line trades over the next 20 s, and what is late
    long = step("75", 50.0, patience=20.0)  # 25 s behind
    assert long.take and long.amount == D(35)  # back to one step ahead of the line
    ahead = step("30", 50.0, patience=20.0)
    assert not ahead.take and ahead.amount == D(10)  # at least a step's slice


def test_a_resting_order_is_at_the_touch_behind_it_or_gone_from_the_book() -> None:
    def book(bid: str, ask: str) -> OrderBook:
        return OrderBook.from_pairs("BTC/USDT", [(D(bid), D(1))], [(D(ask), D(1))])

    assert at_touch(Side.SELL, D("100.1"), book("100.0", "100.1")) is True
    assert at_touch(Side.SELL, D("100.1"), book("99.9", "100.0")) is False  # asks came down
    assert at_touch(Side.SELL, D("100.1"), book("100.1", "100.2")) is None  # lifted: filled
    assert at_touch(Side.BUY, D("100.0"), book("100.0", "100.1")) is True
    assert at_touch(Side.BUY, D("100.0"), book("100.05", "100.1")) is False
    assert at_touch(Side.BUY, D("100.0"), book("99.9", "100.0")) is None
