"""Markets and order books: rounding toward safety, exchange filters, depth arithmetic."""

from __future__ import annotations

import pytest

from bot.domain.market import (
    Fill,
    Level,
    Market,
    OrderBook,
    Side,
    ceil_to_step,
    floor_to_step,
)
from bot.errors import DomainError
from tests.unit.strategies import book, d, market

# A book around 100: mid 100, spread 1 (100 bps), three levels a side.
BOOK = book(
    "ETH/USDT",
    bids=[("99.5", "1"), ("99", "2"), ("98", "3")],
    asks=[("100.5", "1"), ("101", "2"), ("102", "3")],
)


# ---------------------------------------------------------------------------------- rounding


def test_floor_and_ceil_to_step() -> None:
    assert floor_to_step(d("1.23456"), d("0.001")) == d("1.234")
    assert ceil_to_step(d("1.23401"), d("0.001")) == d("1.235")
    assert floor_to_step(d("1.234"), d("0.001")) == d("1.234")
    assert ceil_to_step(d("1.234"), d("0.001")) == d("1.234")
    assert floor_to_step(d("17"), d("5")) == d("15")
    assert ceil_to_step(d("17"), d("5")) == d("20")


@pytest.mark.parametrize("step", ["0", "-0.01"])
def test_rounding_refuses_a_step_that_is_not_positive(step: str) -> None:
    with pytest.raises(DomainError, match="step must be > 0"):
        floor_to_step(d("1"), d(step))
    with pytest.raises(DomainError, match="step must be > 0"):
        ceil_to_step(d("1"), d(step))


def test_amount_floors_to_step() -> None:
    m = market("BTC/USDT", step="0.001")
    assert m.round_amount(d("0.123999")) == d("0.123")
    assert m.round_amount(d("0.123")) == d("0.123")
    assert m.round_amount(d("0.0009")) == d("0")


def test_buy_price_floors_to_tick_sell_price_ceils() -> None:
    m = market("BTC/USDT", tick="0.01")
    assert m.round_price(d("100.129"), Side.BUY) == d("100.12")
    assert m.round_price(d("100.121"), Side.SELL) == d("100.13")
    # Already on the tick: unchanged on both sides.
    assert m.round_price(d("100.12"), Side.BUY) == d("100.12")
    assert m.round_price(d("100.12"), Side.SELL) == d("100.12")


def test_side_opposite() -> None:
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY


# ----------------------------------------------------------------------------------- filters


def test_rejects_amount_off_the_step_grid() -> None:
    m = market("BTC/USDT", step="0.001")
    reason = m.rejects(d("0.1234"), d("100"))
    assert reason is not None
    assert "not a multiple of the step 0.001" in reason


@pytest.mark.parametrize("amount", ["0", "-1"])
def test_rejects_non_positive_amount(amount: str) -> None:
    reason = market("BTC/USDT").rejects(d(amount), d("100"))
    assert reason is not None
    assert "not positive" in reason


def test_rejects_below_min_amount() -> None:
    m = market("BTC/USDT", step="0.001", min_amount="0.01")
    reason = m.rejects(d("0.009"), d("100000"))
    assert reason is not None
    assert "below the minimum 0.01 BTC" in reason
    assert m.rejects(d("0.010"), d("100000")) is None


def test_rejects_below_min_cost() -> None:
    m = market("BTC/USDT", step="0.001", min_cost="10")
    # 0.099 * 100 = 9.9 < 10; 0.1 * 100 = 10 is enough (the minimum is inclusive).
    reason = m.rejects(d("0.099"), d("100"))
    assert reason is not None
    assert "below the minimum 10 USDT" in reason
    assert m.rejects(d("0.100"), d("100")) is None


def test_accepts_an_order_passing_every_filter() -> None:
    m = market("BTC/USDT", step="0.001", min_amount="0.001", min_cost="5")
    assert m.rejects(d("0.050"), d("100")) is None


def test_min_tradable_is_the_smallest_amount_on_the_grid_passing_the_filters() -> None:
    # min cost 10 at price 3 needs 3.333.. units: rounded up to the step 0.01 -> 3.34.
    assert market("X/USDT", step="0.01", min_cost="10").min_tradable(d("3")) == d("3.34")
    # min amount dominates.
    assert market("X/USDT", step="0.01", min_amount="5", min_cost="10").min_tradable(d("3")) == d(
        "5.00"
    )
    # No filters at all: one step.
    assert market("X/USDT", step="0.01").min_tradable(d("3")) == d("0.01")
    m = market("X/USDT", step="0.01", min_cost="10")
    assert m.rejects(m.min_tradable(d("3")), d("3")) is None
    assert m.rejects(d("3.33"), d("3")) is not None


# ------------------------------------------------------------------- significant digits mode


def digits_market(amount_digits: int | None = 3, price_digits: int | None = 4) -> Market:
    # How the gateway builds a market in ccxt's SIGNIFICANT_DIGITS mode: a tiny step, and digits.
    return Market(
        "BTC/USDT",
        "BTC",
        "USDT",
        amount_step=d("1e-18"),
        price_tick=d("1e-18"),
        min_cost=d("10"),
        amount_digits=amount_digits,
        price_digits=price_digits,
    )


def test_amount_floors_to_significant_digits() -> None:
    m = digits_market(amount_digits=3)
    assert m.round_amount(d("123.456789")) == d("123")
    assert m.round_amount(d("0.00123999")) == d("0.00123")
    assert m.round_amount(d("0.00123")) == d("0.00123")


def test_price_rounds_to_significant_digits_toward_safety() -> None:
    m = digits_market(price_digits=4)
    assert m.round_price(d("12345.6"), Side.BUY) == d("12340")
    assert m.round_price(d("12341"), Side.SELL) == d("12350")
    assert m.round_price(d("12340"), Side.SELL) == d("12340")


def test_rejects_an_amount_with_too_many_significant_digits() -> None:
    m = digits_market(amount_digits=3)
    reason = m.rejects(d("1.234"), d("100"))
    assert reason is not None
    assert "not a multiple of the step" in reason
    assert m.rejects(d("1.23"), d("100")) is None


def test_min_tradable_respects_significant_digits() -> None:
    # min cost 10 at price 3 needs 3.33.. units; with 2 significant digits 3.3 is too little
    # (9.9 USDT) and the smallest accepted amount is 3.4.
    m = digits_market(amount_digits=2)
    assert m.min_tradable(d("3")) == d("3.4")
    assert m.rejects(m.min_tradable(d("3")), d("3")) is None
    assert m.rejects(d("3.3"), d("3")) is not None


# ------------------------------------------------------------------------------- constructor


def test_market_accepts_good_values() -> None:
    m = market("ETH/BTC", step="0.0001", tick="0.00001", min_cost="0.0001", fee="0.001")
    assert (m.base, m.quote) == ("ETH", "BTC")
    assert m.taker_fee == d("0.001")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base": "BTC", "quote": "BTC"}, "two different assets"),
        ({"base": ""}, "two different assets"),
        ({"amount_step": d("0")}, "amount_step must be > 0"),
        ({"amount_step": d("-0.1")}, "amount_step must be > 0"),
        ({"price_tick": d("0")}, "price_tick must be > 0"),
        ({"min_amount": d("-1")}, "min_amount must be >= 0"),
        ({"min_cost": d("-1")}, "min_cost must be >= 0"),
        ({"taker_fee": d("0.1")}, "taker_fee must be a fraction"),
        ({"maker_fee": d("-0.02")}, "maker_fee must be a fraction"),
        ({"amount_digits": 0}, "amount_digits must be >= 1"),
        ({"price_digits": -2}, "price_digits must be >= 1"),
    ],
)
def test_market_refuses_bad_values(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "amount_step": d("0.001"),
        "price_tick": d("0.01"),
    }
    fields.update(changes)
    with pytest.raises(DomainError, match=message):
        Market(**fields)  # type: ignore[arg-type]


def test_market_reports_every_problem_at_once() -> None:
    with pytest.raises(DomainError) as info:
        Market("BTC/USDT", "BTC", "USDT", amount_step=d("0"), price_tick=d("-1"))
    assert "amount_step must be > 0" in str(info.value)
    assert "price_tick must be > 0" in str(info.value)
    assert str(info.value).startswith("market BTC/USDT: ")


def test_negative_maker_fee_within_range_is_a_rebate() -> None:
    m = Market("BTC/USDT", "BTC", "USDT", d("0.001"), d("0.01"), maker_fee=d("-0.0001"))
    assert m.maker_fee == d("-0.0001")


# --------------------------------------------------------------------------------- the book


def test_book_sorts_levels_and_drops_empty_ones() -> None:
    b = book(
        "ETH/USDT",
        bids=[("98", "3"), ("99.5", "1"), ("99", "0"), ("99.2", "2")],
        asks=[("102", "3"), ("100.5", "1"), ("101", "0")],
    )
    assert b.bids == (Level(d("99.5"), d("1")), Level(d("99.2"), d("2")), Level(d("98"), d("3")))
    assert b.asks == (Level(d("100.5"), d("1")), Level(d("102"), d("3")))


def test_book_refuses_non_positive_prices() -> None:
    with pytest.raises(DomainError, match="price must be > 0"):
        book("ETH/USDT", bids=[("0", "1")], asks=[("1", "1")])


def test_book_ignores_extra_fields_in_a_level() -> None:
    b = OrderBook.from_pairs("X/Y", [(d("1"), d("2"), d("123"))], [(d("2"), d("1"))])
    assert b.bids == (Level(d("1"), d("2")),)


def test_best_prices_mid_and_spread() -> None:
    assert BOOK.best_bid == d("99.5")
    assert BOOK.best_ask == d("100.5")
    assert BOOK.mid == d("100")
    assert BOOK.spread_bps == d("100")  # 1 / 100 * 10000
    assert BOOK.half_spread_fraction() == d("0.005")
    assert BOOK.touch(Side.BUY) == d("100.5")
    assert BOOK.touch(Side.SELL) == d("99.5")
    assert BOOK.is_two_sided
    assert not BOOK.is_crossed


def test_crossed_and_locked_books() -> None:
    crossed = book("X/USDT", bids=[("101", "1")], asks=[("100", "1")])
    locked = book("X/USDT", bids=[("100", "1")], asks=[("100", "1")])
    assert crossed.is_crossed
    assert locked.is_crossed
    # A crossed book still has arithmetic; callers must check is_crossed.
    assert crossed.mid == d("100.5")


@pytest.mark.parametrize(
    ("bids", "asks"),
    [([("99", "1")], []), ([], [("101", "1")]), ([], [])],
)
def test_one_sided_book_has_no_fair_value(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]]
) -> None:
    b = book("X/USDT", bids=bids, asks=asks)
    assert not b.is_two_sided
    assert not b.is_crossed
    assert b.mid is None
    assert b.spread_bps is None
    assert b.half_spread_fraction() is None
    assert b.quantity_within_bps(Side.BUY, d("1000")) == 0
    assert b.quantity_within_bps(Side.SELL, d("1000")) == 0
    assert b.impact_bps(Side.BUY, d("0.5")) is None


def test_one_sided_book_best_prices() -> None:
    b = book("X/USDT", bids=[("99", "1")], asks=[])
    assert b.best_bid == d("99")
    assert b.best_ask is None
    assert b.touch(Side.BUY) is None


def test_quantity_within_bps() -> None:
    # Buys take asks up to mid + bps: 50 bps -> 100.5 (1); 100 bps -> 101 (1 + 2); 200 -> all.
    assert BOOK.quantity_within_bps(Side.BUY, d("49")) == d("0")
    assert BOOK.quantity_within_bps(Side.BUY, d("50")) == d("1")
    assert BOOK.quantity_within_bps(Side.BUY, d("100")) == d("3")
    assert BOOK.quantity_within_bps(Side.BUY, d("200")) == d("6")
    # Sells take bids down to mid - bps: 100 bps -> 99 (1 + 2).
    assert BOOK.quantity_within_bps(Side.SELL, d("50")) == d("1")
    assert BOOK.quantity_within_bps(Side.SELL, d("100")) == d("3")
    assert BOOK.quantity_within_bps(Side.SELL, d("199")) == d("3")


def test_limit_price_within_bps() -> None:
    assert OrderBook.limit_price_within_bps(Side.BUY, d("25"), d("200")) == d("200.5")
    assert OrderBook.limit_price_within_bps(Side.SELL, d("25"), d("200")) == d("199.5")


def test_take_walks_the_book() -> None:
    # 1 @ 100.5 + 1.5 @ 101 = 252 for 2.5: average 100.8.
    fill = BOOK.take(Side.BUY, d("2.5"))
    assert fill == Fill(d("2.5"), d("252.0"))
    assert fill.average == d("100.8")
    # 1 @ 99.5 + 2 @ 99 + 1 @ 98 = 395.5 for 4: average 98.875.
    sell = BOOK.take(Side.SELL, d("4"))
    assert sell == Fill(d("4"), d("395.5"))
    assert sell.average == d("98.875")


def test_take_exactly_the_whole_book_and_nothing() -> None:
    assert BOOK.take(Side.BUY, d("6")) == Fill(d("6"), d("100.5") + d("202") + d("306"))
    assert BOOK.take(Side.BUY, d("0")) == Fill(d("0"), d("0"))
    assert Fill(d("0"), d("0")).average == 0


def test_take_returns_none_when_the_book_is_too_thin() -> None:
    assert BOOK.take(Side.BUY, d("6.0001")) is None
    assert BOOK.take(Side.SELL, d("7")) is None
    assert BOOK.impact_bps(Side.BUY, d("7")) is None


def test_impact_bps() -> None:
    # Buy 2.5 averages 100.8 vs mid 100: 80 bps. Buy 1 at the touch: half the spread, 50 bps.
    assert BOOK.impact_bps(Side.BUY, d("2.5")) == d("80")
    assert BOOK.impact_bps(Side.BUY, d("1")) == d("50")
    # Sell 3: (99.5 + 198) / 3 = 99.1666..; (100 - 99.1666..) / 100 * 10000 = 83.33.. bps.
    impact = BOOK.impact_bps(Side.SELL, d("3"))
    assert impact is not None
    assert abs(impact - d("83.333333333")) < d("1e-6")
    assert BOOK.impact_bps(Side.BUY, d("0")) is None
