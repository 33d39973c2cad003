"""Invariants of the planner over random portfolios and markets (see `strategies.scenarios`).

Every plan is checked by replaying its legs, in order, on the account's balances at the leg prices
with the taker fee (sell: base -= amount, quote += amount * price * (1 - fee); buy: quote -= amount *
price * (1 + fee), base += amount * (1 - fee)), then valuing the result at mid.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.market import Side
from bot.domain.planner import Plan, PlannerPolicy, RebalanceTo, plan_rebalance
from bot.domain.portfolio import Valuation
from tests.unit.strategies import PROPERTY_SETTINGS, Scenario, scenarios

ZERO = Decimal(0)
POLICIES = st.sampled_from(
    [
        PlannerPolicy(),
        PlannerPolicy(rebalance_to=RebalanceTo.BAND_EDGE),
        PlannerPolicy(direct_pairs=False),
    ]
)


def make_plan(s: Scenario, policy: PlannerPolicy) -> tuple[Valuation, Plan]:
    valuation = s.valuation()
    return valuation, plan_rebalance(valuation, s.markets, s.books, policy)


def replay(s: Scenario, plan: Plan) -> Iterator[dict[str, Decimal]]:
    """The account's balances after each leg, in plan order."""
    balances = dict(s.balances)
    for leg in plan.legs:
        m = s.markets[leg.symbol]
        fee = m.taker_fee
        notional = leg.amount * leg.price
        if leg.side is Side.SELL:
            balances[m.base] = balances.get(m.base, ZERO) - leg.amount
            balances[m.quote] = balances.get(m.quote, ZERO) + notional * (1 - fee)
        else:
            balances[m.quote] = balances.get(m.quote, ZERO) - notional * (1 + fee)
            balances[m.base] = balances.get(m.base, ZERO) + leg.amount * (1 - fee)
        yield dict(balances)


def final_balances(s: Scenario, plan: Plan) -> dict[str, Decimal]:
    balances = dict(s.balances)
    for balances in replay(s, plan):  # noqa: B007 - the last one is the result
        pass
    return balances


def managed_values(
    s: Scenario, valuation: Valuation, balances: dict[str, Decimal]
) -> dict[str, Decimal]:
    """Value at mid of each managed asset, the quote net of its reserve."""
    values = {}
    for p in valuation.positions:
        held = balances.get(p.asset, ZERO)
        if p.asset == s.quote:
            held -= valuation.reserve
        values[p.asset] = held * p.price
    return values


def min_order_value(s: Scenario, valuation: Valuation, symbol: str) -> Decimal:
    """Value, in the portfolio quote, of the smallest order `symbol` accepts at its mid."""
    m = s.markets[symbol]
    mid = s.books[symbol].mid
    assert mid is not None
    return m.min_tradable(mid) * valuation.prices.price(m.base)


# ------------------------------------------------------------------------------------ (a)


@PROPERTY_SETTINGS
@given(scenarios(), POLICIES)
def test_no_leg_spends_more_than_is_there(s: Scenario, policy: PlannerPolicy) -> None:
    _, plan = make_plan(s, policy)
    # Sells fund buys: no leg spends an asset that a later leg delivers.
    for i, leg in enumerate(plan.legs):
        later = {other.receives for other in plan.legs[i + 1 :]}
        assert leg.spends not in later, [(x.symbol, x.spends, x.receives) for x in plan.legs]
    unmanaged_before = {a: s.balances.get(a, ZERO) for a in s.unmanaged}
    for balances in replay(s, plan):
        negative = {a: q for a, q in balances.items() if q < 0}
        assert not negative, f"overspent: {negative}"
        assert balances[s.quote] >= s.reserve, "the quote reserve was spent"
        for a, before in unmanaged_before.items():
            assert balances.get(a, ZERO) >= before, f"unmanaged {a} was spent"


# ------------------------------------------------------------------------------------ (b)


@PROPERTY_SETTINGS
@given(scenarios(), POLICIES)
def test_after_the_plan_every_asset_is_in_band_or_one_minimal_order_away(
    s: Scenario, policy: PlannerPolicy
) -> None:
    valuation, plan = make_plan(s, policy)
    if valuation.total <= 0:
        return
    after = managed_values(s, valuation, final_balances(s, plan))
    total = sum(after.values(), ZERO)
    assert total > 0
    # The plan's own projection is this replay (and planning again gives the same plan).
    for asset, weight in plan.projected_weights.items():
        assert abs(weight - after[asset] / total) < Decimal("1e-20")
    _, again = make_plan(s, policy)
    assert (again.legs, again.dust) == (plan.legs, plan.dust)
    # What trading costs (fees, half spreads, valued at mid) take from the total shifts every
    # weight a little; the plan cannot avoid that.
    lost = max(ZERO, valuation.total - total)
    slack = 2 * lost / total + Decimal("1e-9")
    # Value the plan could not move (dust, each below some market's minimum) stays where it was:
    # a buyer funded by a dust sell, or a seller whose sell was dust, is short or long by it.
    stuck = sum((x.value for x in plan.dust), ZERO)
    allowances: dict[str, Decimal] = {}
    for p in valuation.positions:
        if p.asset == s.quote:
            continue
        # One minimal order on the asset's own market (toward the quote) could close the gap.
        allowances[p.asset] = (min_order_value(s, valuation, p.route.symbols[0]) + stuck) / total
    for p in valuation.positions:
        weight = after[p.asset] / total
        lo, hi = p.bounds
        gap = max(ZERO, lo - weight, weight - hi)
        # The quote takes what the others leave: its gap is bounded by the sum of theirs.
        allowed = (
            sum(allowances.values(), ZERO) if p.asset == s.quote else allowances[p.asset]
        ) * Decimal("1.05") + slack
        assert gap <= allowed, (
            f"{p.asset}: weight {weight:.6f} outside [{lo}, {hi}] by {gap:.6f} > {allowed:.6f};"
            f" legs={[(leg.symbol, leg.side.value, leg.amount) for leg in plan.legs]}"
            f" dust={plan.dust} notes={plan.notes}"
        )


# ------------------------------------------------------------------------------------ (c)


@PROPERTY_SETTINGS
@given(scenarios(), POLICIES)
def test_every_leg_is_on_the_step_grid_and_passes_the_filters(
    s: Scenario, policy: PlannerPolicy
) -> None:
    _, plan = make_plan(s, policy)
    for leg in plan.legs:
        m = s.markets[leg.symbol]
        assert leg.amount > 0
        assert leg.amount % m.amount_step == 0
        assert m.rejects(leg.amount, leg.price) is None
        assert leg.price == s.books[leg.symbol].touch(leg.side)


# ------------------------------------------------------------------------------------ (d)


@PROPERTY_SETTINGS
@given(scenarios(in_band=True), POLICIES)
def test_nothing_is_planned_when_every_asset_is_in_band(s: Scenario, policy: PlannerPolicy) -> None:
    valuation, plan = make_plan(s, policy)
    assert not valuation.needs_rebalance, [
        (p.asset, p.weight, p.bounds) for p in valuation.out_of_band
    ]
    assert plan.legs == ()
    assert plan.dust == ()


# ------------------------------------------------------------------------------------ (e)


@PROPERTY_SETTINGS
@given(scenarios(cheap_direct=True))
def test_a_cheap_direct_pair_never_makes_the_plan_dearer(s: Scenario) -> None:
    valuation, direct = make_plan(s, PlannerPolicy())
    _, via_quote = make_plan(s, PlannerPolicy(direct_pairs=False))
    # Compared when both plans do all they set out to do: a plan that leaves a leg as dust trades
    # less, so it can cost less while rebalancing less.
    if not direct.dust and not via_quote.dust:
        assert direct.est_cost <= via_quote.est_cost
    if not valuation.needs_rebalance:
        return
    # And the pair is used when it links an asset in excess to one lacking value, by a margin
    # wide enough that the pair's minimum order cannot be the reason not to.
    (symbol,) = s.direct_pairs
    m = s.markets[symbol]
    excess = {p.asset: p.value - p.target * valuation.total for p in valuation.positions}
    if excess[m.base] * excess[m.quote] < 0:
        overlap = min(abs(excess[m.base]), abs(excess[m.quote]))
        if overlap > 10 * min_order_value(s, valuation, symbol):
            assert symbol in {leg.symbol for leg in direct.legs}
