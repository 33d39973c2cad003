"""Raising cash for a withdrawal (`rebalance-bot raise AMOUNT ASSET`): the sells that free
`amount` of the quote while every asset stays in band once it is gone.

1. The total after the withdrawal is the total less the amount: every asset's band is judged on it.
2. An asset that would end above its band is sold to a quarter of its half band inside the edge.
3. While the quote still lacks the amount plus its own floor (its lower band edge, a quarter of
   its half band inside, never above its target), the overweight assets (against their targets at
   the smaller total) are sold toward their targets, in proportion to their excess.
4. Only then is every asset sold, in proportion to its target.

The plan is made by the planner's own routing and sizing (`plan_deltas`); when its fees, spread
and step rounding leave the quote short, the shortfall is raised again (a few rounds at most).
An amount the managed portfolio cannot free is refused (`CannotRaise`), nothing planned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain.cashflow import still_out
from bot.domain.market import ZERO, Market, OrderBook
from bot.domain.planner import EDGE_MARGIN, Plan, PlannerPolicy, plan_deltas
from bot.domain.portfolio import Position, Valuation
from bot.errors import CannotRaise, DomainError

# Rounds of planning that add what fees and rounding left short.
ROUNDS = 6


@dataclass(frozen=True, slots=True)
class RaisePlan:
    """The sells that free `amount` of `asset` (the quote), and the portfolio once it is gone."""

    plan: Plan
    asset: str
    amount: Decimal
    free_after: Decimal  # the quote held once the sells are done (estimated, before withdrawing)
    weights_after: Mapping[str, Decimal]  # every managed asset's weight after the withdrawal
    out_of_band: tuple[str, ...]  # assets outside their band after it (`ETH 31.2% (...)`)


def _margin(p: Position) -> Decimal:
    return p.band.half_width(p.target) * EDGE_MARGIN


def quote_floor(valuation: Valuation) -> Decimal:
    """The lowest weight a raise aims to leave the quote at: a margin inside its lower edge, never
    above its target."""
    q = valuation.position(valuation.quote)
    return min(q.target, q.bounds[0] + _margin(q))


def raise_deltas(
    valuation: Valuation, amount: Decimal, extra: Decimal = ZERO
) -> dict[str, Decimal]:
    """The value to sell (negative deltas, in the quote) of each non-quote asset so that `amount`
    of the quote can be withdrawn with every asset in band after; `extra`: more to raise (what
    fees left short). Raises CannotRaise when the managed portfolio cannot free it."""
    if amount <= 0:
        raise DomainError(f"the amount to raise must be positive, got {amount}")
    total, quote = valuation.total, valuation.quote
    if amount >= total:
        raise CannotRaise(
            f"cannot raise {amount:f} {quote}: the managed portfolio is worth {total:,.2f}"
            f" {quote} at mid (the reserve excluded)"
        )
    after = total - amount
    q = valuation.position(quote)
    need = amount + quote_floor(valuation) * after - q.value + extra
    others = [p for p in valuation.positions if p.asset != quote and p.value > 0]
    sells: dict[str, Decimal] = {}
    for p in others:  # above its band once the total shrinks: sold to just inside it
        top = max(p.target, p.bounds[1] - _margin(p))
        sells[p.asset] = max(ZERO, p.value - top * after)
    rest = need - sum(sells.values(), ZERO)
    spare = {p.asset: max(ZERO, p.value - p.target * after) - sells[p.asset] for p in others}
    spare_total = sum(spare.values(), ZERO)
    if rest > 0 and spare_total > 0:  # the overweight assets first, toward their targets
        take = min(rest, spare_total)
        for a, s in spare.items():
            sells[a] += s * take / spare_total
        rest -= take
    if rest > 0:  # then every asset, in proportion to its target
        weight = sum((p.target for p in others), ZERO)
        left = {p.asset: p.value - sells[p.asset] for p in others}
        if weight <= 0 or rest > sum(left.values(), ZERO):
            raise CannotRaise(
                f"cannot raise {amount:f} {quote}: selling every managed asset would not free it"
                f" (the managed portfolio is worth {total:,.2f} {quote} at mid)"
            )
        for p in others:
            sells[p.asset] += min(left[p.asset], rest * p.target / weight)
    return {a: -s for a, s in sells.items() if s > 0}


def plan_raise(
    valuation: Valuation,
    asset: str,
    amount: Decimal,
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    policy: PlannerPolicy,
) -> RaisePlan:
    """The sells that free `amount` of `asset` with every asset in band after its withdrawal.
    Raises CannotRaise for an asset that is not the quote, or an amount the portfolio cannot
    free once fees and the markets' minimums are counted."""
    quote = valuation.quote
    if asset != quote:
        raise CannotRaise(
            f"cannot raise {asset}: only the portfolio's quote ({quote}) can be raised"
        )
    lowest = valuation.position(quote).bounds[0]
    extra = ZERO
    for _ in range(ROUNDS):
        plan = plan_deltas(
            valuation, raise_deltas(valuation, amount, extra), markets, books, policy
        )
        held = plan.balances_after
        free = held.get(quote, ZERO)
        values = {
            p.asset: max(ZERO, held.get(p.asset, ZERO)) * p.price for p in valuation.positions
        }
        rest = sum(values.values(), ZERO) - amount
        short = amount + lowest * rest - free
        if short <= 0 and rest > 0:
            values[quote] = free - amount
            weights = {a: v / rest for a, v in values.items()}
            out = tuple(still_out(valuation, weights))
            return RaisePlan(plan, asset, amount, free, weights, out)
        extra += max(short, amount / 1000) * Decimal("1.1")
    raise CannotRaise(
        f"cannot raise {amount:f} {quote}: after fees, spreads and the markets' minimums the"
        f" sells would leave {free:f} {quote} (the managed portfolio is worth"
        f" {valuation.total:,.2f} {quote} at mid)"
    )
