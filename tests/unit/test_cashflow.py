"""Cash-flow rebalancing: `[rebalance] mode` (full, buy-only, sell-only) and `raise` (the sells
that free cash for a withdrawal with every asset in band after it).

Books as in test_planner: BTC/USDT 50000, ETH/USDT 2500, SOL/USDT 100 (mids), 0.1% taker fee.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.cashflow import RebalanceMode
from bot.domain.market import Side
from bot.domain.planner import Plan, PlannerPolicy, RebalanceTo
from bot.domain.portfolio import PriceMap, Valuation, value_portfolio
from bot.domain.raising import RaisePlan, plan_raise
from bot.errors import CannotRaise
from tests.unit.strategies import d
from tests.unit.test_planner import BANDS, plan, venue

TARGETS = {"BTC": "0.4", "ETH": "0.3", "SOL": "0.2", "USDT": "0.1"}
MODES = [RebalanceMode.FULL, RebalanceMode.BUY_ONLY, RebalanceMode.SELL_ONLY]
BUY_ONLY = PlannerPolicy(mode=RebalanceMode.BUY_ONLY)
SELL_ONLY = PlannerPolicy(mode=RebalanceMode.SELL_ONLY)


def sells(p: Plan) -> list[str]:
    """Legs that spend an asset other than the quote: the sells of what the user holds."""
    return [leg.symbol for leg in p.legs if leg.spends != "USDT"]


def buys(p: Plan) -> list[str]:
    return [leg.symbol for leg in p.legs if leg.spends == "USDT"]


def valued(balances: dict[str, str], targets: dict[str, str] = TARGETS) -> Valuation:
    markets, books = venue()
    return value_portfolio(
        {a: d(q) for a, q in balances.items()},
        {a: d(t) for a, t in targets.items()},
        "USDT",
        BANDS,
        PriceMap("USDT", markets, books),
    )


# 100,000 USDT at target (BTC 40k, ETH 30k, SOL 20k, USDT 10k), then a deposit of 50,000 USDT:
# BTC 26.7%, ETH 20%, SOL 13.3%, USDT 40%: every asset out of band, the cash covers all of them.
DEPOSITED = {"BTC": "0.8", "ETH": "12", "SOL": "200", "USDT": "60000"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("to", [RebalanceTo.TARGET, RebalanceTo.BAND_EDGE])
def test_a_deposit_that_covers_the_underweights_sells_nothing_in_any_mode(
    mode: RebalanceMode, to: RebalanceTo
) -> None:
    p = plan(DEPOSITED, TARGETS, PlannerPolicy(rebalance_to=to, mode=mode))
    assert sells(p) == []
    if mode is RebalanceMode.SELL_ONLY:
        assert p.legs == ()
    else:
        assert sorted(buys(p)) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def test_full_mode_uses_the_deposit_first_even_with_an_asset_a_little_over_target() -> None:
    # Before the deposit BTC was 3.5 pp over target, inside its band; after it BTC 33.3%:
    # under target, so full mode, too, only buys.
    p = plan({"BTC": "0.87", "ETH": "10.6", "SOL": "200", "USDT": "53500"}, TARGETS)
    assert sells(p) == [] and buys(p)


def test_buy_only_never_sells_an_overweight_asset() -> None:
    # BTC 60% (band 35-45) and ETH 10% (band 25-35), cash 20% vs 10%: full sells BTC, buy-only
    # puts the 10% of cash into ETH and SOL and leaves BTC.
    balances = {"BTC": "1.2", "ETH": "4", "SOL": "100", "USDT": "20000"}
    full = plan(balances, TARGETS)
    assert "BTC/USDT" in sells(full)
    p = plan(balances, TARGETS, BUY_ONLY)
    assert sells(p) == []
    assert all(leg.side is Side.BUY for leg in p.legs) and p.legs
    spent = sum(leg.value for leg in p.legs)
    assert spent <= Decimal("10000")  # only the cash above USDT's target
    # The cash falls short of what ETH and SOL lack (20k + 10k): each gets the same share of it.
    eth = next(leg.value for leg in p.legs if leg.symbol == "ETH/USDT")
    sol = next(leg.value for leg in p.legs if leg.symbol == "SOL/USDT")
    assert abs(eth / sol - 2) < Decimal("0.01")
    assert any("still out of band" in n and "BTC" in n for n in p.notes), p.notes


def test_buy_only_with_no_cash_plans_nothing_and_says_why() -> None:
    # USDT 8k of 88k: under its 10% target, so no cash to put anywhere
    p = plan({"BTC": "1.2", "ETH": "4", "SOL": "100", "USDT": "8000"}, TARGETS, BUY_ONLY)
    assert p.legs == ()
    assert any("still out of band" in n for n in p.notes)


def test_sell_only_never_buys() -> None:
    balances = {"BTC": "1.2", "ETH": "4", "SOL": "100", "USDT": "20000"}
    p = plan(balances, TARGETS, SELL_ONLY)
    assert buys(p) == []
    assert sells(p) == ["BTC/USDT"]
    # BTC back to target, the proceeds kept in the quote; ETH and SOL stay short
    assert abs(p.projected_weights["BTC"] - d("0.4")) < d("0.002")
    assert any("still out of band" in n and "ETH" in n for n in p.notes), p.notes


def test_mode_is_a_setting_and_a_bad_one_is_refused() -> None:
    from pydantic import ValidationError

    from bot.settings.models import RebalanceSettings

    assert RebalanceSettings().policy().mode is RebalanceMode.FULL
    assert RebalanceSettings(mode="buy-only").policy().mode is RebalanceMode.BUY_ONLY
    with pytest.raises(ValidationError):
        RebalanceSettings(mode="buy")


# ------------------------------------------------------------------------------------- raise


def raised(balances: dict[str, str], amount: str, targets: dict[str, str] = TARGETS) -> RaisePlan:
    markets, books = venue()
    return plan_raise(valued(balances, targets), "USDT", d(amount), markets, books, PlannerPolicy())


def test_a_withdrawal_is_raised_from_the_overweight_assets_first() -> None:
    # 100k: BTC 44k, ETH 26k, SOL 22k, USDT 8k; withdraw 10k. At the new total (90k) BTC is 8k
    # over its 36k target, SOL 4k over 18k, ETH 1k under 27k: USDT's 7,625 (the 10k, and 6.25%
    # of 90k to stay inside its band, less the 8k it holds) comes from BTC and SOL only. First
    # each to 1.25 pp inside its top edge (BTC 4,625, SOL 625), then the 2,375 left evenly from
    # their remaining excess (3,375 each): BTC 5,812.5, SOL 1,812.5; ETH is not touched.
    r = raised({"BTC": "0.88", "ETH": "10.4", "SOL": "220", "USDT": "8000"}, "10000")
    values = {leg.symbol: leg.value for leg in r.plan.legs}
    assert sorted(values) == ["BTC/USDT", "SOL/USDT"]
    assert abs(values["BTC/USDT"] - Decimal("5812.5")) < 10
    assert abs(values["SOL/USDT"] - Decimal("1812.5")) < 10
    assert r.free_after >= d("10000")
    assert r.out_of_band == ()


def test_an_asset_that_would_leave_its_band_is_sold_first_then_the_others_toward_target() -> None:
    # Everything at target; withdraw 30k: at 70k each asset would be 1.43x its weight, over its
    # band: each is first sold to 1.25 pp inside its top edge, then the rest of USDT's need is
    # taken evenly from what is left above target. Nothing is sold below its target.
    r = raised({"BTC": "0.8", "ETH": "12", "SOL": "200", "USDT": "10000"}, "30000")
    values = {leg.symbol: leg.value for leg in r.plan.legs}
    assert sorted(values) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert all(leg.side is Side.SELL for leg in r.plan.legs)
    # BTC: 40k - 43.75% of 70k = 9,375 to the edge, then 1,750 of the 5,250 left
    assert abs(values["BTC/USDT"] - 11125) < 10 and abs(values["SOL/USDT"] - 5125) < 10
    for asset, target in TARGETS.items():
        if asset != "USDT":
            assert r.weights_after[asset] >= d(target) - d("0.001")
    assert r.free_after >= d("30000") and r.out_of_band == ()


def test_cash_already_free_needs_no_sell() -> None:
    r = raised({"BTC": "0.8", "ETH": "12", "SOL": "200", "USDT": "20000"}, "5000")
    assert r.plan.legs == () and r.out_of_band == ()


def test_more_than_the_portfolio_is_refused() -> None:
    with pytest.raises(CannotRaise, match="cannot raise 200000 USDT"):
        raised({"BTC": "0.8", "ETH": "12", "SOL": "200", "USDT": "10000"}, "200000")
    markets, books = venue()
    valuation = valued({"BTC": "1", "USDT": "1"})
    with pytest.raises(CannotRaise, match="only the portfolio's quote"):
        plan_raise(valuation, "BTC", d("0.1"), markets, books, PlannerPolicy())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-80, 80), min_size=4, max_size=4),
    st.integers(1, 40),
)
def test_raise_keeps_every_asset_in_band_after_the_withdrawal(drift: list[int], share: int) -> None:
    """Random in-band portfolios (each weight within 4 pp of its target), a withdrawal of 1-40%
    of the portfolio: after the sells and the withdrawal every asset is in its band, and the
    quote held covers the amount."""
    targets = {"BTC": d("0.4"), "ETH": d("0.3"), "SOL": d("0.2"), "USDT": d("0.1")}
    raw = {a: t + d(x) / 2000 for (a, t), x in zip(targets.items(), drift, strict=True)}
    total = sum(raw.values())
    weights = {a: w / total for a, w in raw.items()}
    value = d(100000)
    prices = {"BTC": d(50000), "ETH": d(2500), "SOL": d(100), "USDT": d(1)}
    balances = {a: f"{(w * value / prices[a]).quantize(d('0.00001'))}" for a, w in weights.items()}
    start = valued(balances, {a: str(t) for a, t in targets.items()})
    if start.needs_rebalance:
        return  # drawn outside a band after normalising: not a case for this property
    amount = f"{value * share / 100:.2f}"
    r = raised(balances, amount, {a: str(t) for a, t in targets.items()})
    assert r.out_of_band == (), (balances, amount, r.weights_after)
    assert r.free_after >= d(amount)
    assert all(leg.side is Side.SELL for leg in r.plan.legs)
    for p in start.positions:  # checked independently of the plan's own verdict
        lo, hi = p.bounds
        assert lo <= r.weights_after[p.asset] <= hi, (p.asset, r.weights_after)
