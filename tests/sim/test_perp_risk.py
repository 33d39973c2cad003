"""The futures engine over time: funding every 8 hours, liquidations on price jumps, transfers.

Markets as in `test_perp`: spot BTC/USDT still at 100 unless a scenario jump moves it; the perp's
index is that mid.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ccxt
import pytest

from bot.domain.market import Side
from bot.sim.account import OrderStatus, OrderType
from bot.sim.perp import PerpEngine
from bot.sim.perp_account import IncomeType, MarginMode
from bot.sim.perp_market import next_funding_time
from tests.sim.test_perp import PERP, code, make

D = Decimal
HOURS_8 = 8 * 3600


def jumps(*moves: tuple[float, float]) -> list[dict[str, Any]]:
    return [{"kind": "jump", "at": at, "size": size, "symbol": "BTC/USDT"} for at, size in moves]


def start_with(side: str, contracts: str, leverage: int, mode: str, **overrides: Any) -> PerpEngine:
    futures = {
        "positions": [
            {"symbol": PERP, "side": side, "contracts": contracts, "entry": "100",
             "leverage": leverage, "margin_mode": mode},
        ]
    }  # fmt: skip
    futures.update(overrides.pop("futures", {}))
    return make(futures=futures, **overrides)


# ---- funding --------------------------------------------------------------------------------


def test_funding_every_8_hours_is_minus_notional_times_rate() -> None:
    # premium 0.1%: rate = 0.001 + clamp(0.0001 - 0.001, +-0.0005) = 0.0005; mark 100.1
    e = start_with("short", "3", 5, "cross", step_seconds=60, perps={PERP: {"basis": 0.001}})
    first = next_funding_time(e.now, HOURS_8)
    e.advance_to(first + 2 * HOURS_8 + 60)
    fees = [i for i in e.incomes if i.type is IncomeType.FUNDING_FEE]
    assert [i.time_ms for i in fees] == [round((first + k * HOURS_8) * 1000) for k in range(3)]
    assert all(i.time_ms % (HOURS_8 * 1000) == 0 for i in fees)  # 00:00, 08:00, 16:00 UTC
    assert all(i.rate == D("0.0005") for i in fees)
    assert all(i.amount == D("3") * D("100.1") * D("0.0005") for i in fees)  # a short receives
    assert e.balance().wallet == D(10000) + sum(i.amount for i in fees)
    assert e.last_funding_rate(PERP) == D("0.0005")
    assert e.next_funding_time(PERP) == first + 3 * HOURS_8


def test_a_long_pays_a_varying_rate_and_the_income_list_sums_to_the_wallet_change() -> None:
    # premium 0.1% +- 0.05%: beyond the clamp around the interest rate, so the rate follows it
    e = start_with("long", "2", 5, "isolated", step_seconds=60,
                   perps={PERP: {"basis": 0.001, "basis_noise": 0.0005}})  # fmt: skip
    margin = e.position(PERP).isolated_margin
    marks: list[Decimal] = []
    rates: list[Decimal] = []
    for _ in range(3):
        due = e.next_funding_time(PERP)
        e.advance_to(due)
        marks.append(e.mark_price(PERP))
        rates.append(e.last_funding_rate(PERP))
    fees = [i for i in e.incomes if i.type is IncomeType.FUNDING_FEE]
    assert [i.rate for i in fees] == rates
    assert len(set(rates)) == 3  # the premium index differs from one interval to the next
    expected = [
        (-2 * m * r).quantize(D("1e-8"), ROUND_HALF_UP) for m, r in zip(marks, rates, strict=True)
    ]
    assert [i.amount for i in fees] == expected
    # isolated: paid from the position's own margin
    assert e.position(PERP).isolated_margin == margin + sum(i.amount for i in fees)
    assert e.balance().wallet == D(10000) + sum(i.amount for i in fees)


def test_the_predicted_rate_is_the_one_settled() -> None:
    e = start_with("long", "1", 5, "cross", step_seconds=60,
                   perps={PERP: {"basis": 0.001, "basis_noise": 0.0005}})  # fmt: skip
    due = e.next_funding_time(PERP)
    e.advance_to(due - 0.001)
    predicted = e.funding_rate(PERP)
    assert predicted != D("0.0001")  # not the interest rate: the premium is beyond the clamp
    e.advance_to(due)
    assert e.last_funding_rate(PERP) == predicted


# ---- liquidation ----------------------------------------------------------------------------

TWO_DROPS = jumps((30, -0.2), (60, -0.2))  # 100 -> 80 -> 64 within one minute


def test_an_unguarded_3x_long_is_liquidated_by_two_20_percent_drops() -> None:
    e = start_with("long", "1", 3, "isolated", events=TWO_DROPS)
    e.advance_to(e.now + 45)
    assert e.index_price(PERP) == D(80) and not e.liquidations  # 33.33 - 20 > 0.32
    e.advance_to(e.now + 30)
    assert len(e.liquidations) == 1
    liq = e.liquidations[0]
    assert (liq.symbol, liq.amount, liq.price) == (PERP, D(1), D(64))
    assert liq.pnl == -D(100) / 3  # the whole isolated margin, no more
    assert liq.fee == 0  # nothing left to charge
    assert e.position(PERP).amount == 0
    assert e.balance().wallet == D(10000) - D(100) / 3


def test_a_1x_long_survives_the_same_drops() -> None:
    e = start_with("long", "1", 1, "isolated", events=TWO_DROPS)
    e.advance_to(e.now + 120)
    assert not e.liquidations
    assert e.balance().unrealized_pnl == D(-36)


def test_cross_margin_is_backed_by_the_whole_wallet_isolated_is_not() -> None:
    cross = start_with("long", "1", 3, "cross", events=TWO_DROPS)
    isolated = start_with("long", "1", 3, "isolated", events=TWO_DROPS)
    poor = start_with("long", "1", 3, "cross", events=TWO_DROPS, futures={"wallet": "34"})
    for e in (cross, isolated, poor):
        e.advance_to(e.now + 120)
    assert not cross.liquidations  # 10000 in the wallet backs it
    assert len(isolated.liquidations) == 1
    assert len(poor.liquidations) == 1  # a cross wallet of 34: 34 - 36 < 0.256
    assert poor.liquidations[0].margin_mode is MarginMode.CROSS
    assert poor.balance().wallet == 0  # the insurance fund takes the rest


def test_a_liquidation_charges_the_clearance_fee_capped_and_cancels_the_orders() -> None:
    # 10 long at 100, cross, wallet 60; -5.7%: mark 94.3, loss 57, 3 left < maintenance 3.772
    e = start_with("long", "10", 20, "cross", futures={"wallet": "60"},
                   events=jumps((30, -0.057)))  # fmt: skip
    resting = e.place(PERP, OrderType.LIMIT, Side.SELL, D(1), D(105), reduce_only=True)
    e.advance_to(e.now + 60)
    liq = e.liquidations[0]
    assert liq.price == D("94.3") and liq.pnl == D(-57)
    assert liq.fee == D(3)  # 1.5% of 943 = 14.145, capped by the 3 left
    assert e.balance().wallet == 0
    assert resting.status is OrderStatus.CANCELED
    kinds = [i.type for i in e.incomes]
    assert IncomeType.INSURANCE_CLEAR in kinds


def test_cross_liquidates_the_worst_position_first_and_rechecks() -> None:
    eth = "ETH/USDT:USDT"
    data: dict[str, Any] = {
        "futures": {"wallet": "40", "positions": [
            {"symbol": PERP, "side": "long", "contracts": "1", "entry": "100", "leverage": 3},
            {"symbol": eth, "side": "long", "contracts": "1", "entry": "10", "leverage": 3},
        ]},
        "markets": {"ETH/USDT": {"price": "10", "tick": "0.01", "step": "0.001",
                                 "top_depth": "10"}},
        "perps": {eth: {"underlying": "ETH/USDT", "tick": "0.01", "step": "0.001",
                        "top_depth": "10", "basis": 0.0}},
        "events": [*jumps((30, -0.455)), {"kind": "jump", "at": 20, "size": 0.5,
                                          "symbol": "ETH/USDT"}],
    }  # fmt: skip
    e = make(**data)
    e.advance_to(e.now + 25)
    assert not e.liquidations
    e.advance_to(e.now + 10)
    # 40 - 45.5 + 5 < maintenance: BTC (the worst) goes, its loss capped by the wallet's 40;
    # then 0 + 5 covers ETH's maintenance of 0.06: ETH stays
    assert [liq.symbol for liq in e.liquidations] == [PERP]
    assert e.liquidations[0].pnl == D(-40)
    assert e.position(eth).amount == 1
    b = e.balance()
    assert (b.wallet, b.margin_balance) == (D(0), D(5))


def test_liquidation_is_checked_at_every_step_not_only_on_calls() -> None:
    # a drop and a recovery between two calls still liquidates
    e = start_with("long", "1", 3, "isolated", events=jumps((30, -0.4), (40, 0.7)))
    e.advance_to(e.now + 100)
    assert len(e.liquidations) == 1
    assert e.index_price(PERP) == D(102)


# ---- transfers ------------------------------------------------------------------------------


def test_transfers_move_usdt_both_ways_within_what_is_free() -> None:
    e = make()
    spot_before = e.spot.account.free["USDT"]
    e.transfer(D(1000), "spot", "future")
    assert e.spot.account.free["USDT"] == spot_before - 1000
    assert e.balance().wallet == D(11000)
    with pytest.raises(ccxt.InsufficientFunds):
        e.transfer(spot_before, "spot", "future")  # 1000 less is free now
    e.set_leverage(PERP, 1)
    e.place(PERP, OrderType.LIMIT, Side.BUY, D(10), D("100.04"))  # ~1000 of margin at 1x
    room = e.balance().available
    assert room < D(11000) - 1000
    with pytest.raises(ccxt.InsufficientFunds) as exc:
        e.transfer(room + 1, "future", "spot")
    assert code(exc) == -5013
    e.transfer(room, "future", "spot")
    assert e.spot.account.free["USDT"] == spot_before - 1000 + room
    assert [t.from_account for t in e.transfers] == ["spot", "future"]
    transfers = [i.amount for i in e.incomes if i.type is IncomeType.TRANSFER]
    assert transfers == [D(1000), -room]


def test_unrealised_profit_cannot_be_transferred_out() -> None:
    e = start_with("long", "1", 10, "cross", events=jumps((30, 0.5)))
    e.advance_to(e.now + 60)
    b = e.balance()
    assert b.unrealized_pnl == D(50)
    with pytest.raises(ccxt.InsufficientFunds):
        e.transfer(b.wallet - b.cross_initial_margin + 1, "future", "spot")
    with pytest.raises(ccxt.BadRequest):
        e.transfer(D(1), "spot", "margin")
