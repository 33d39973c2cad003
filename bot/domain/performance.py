"""Performance net of deposits and withdrawals: the time-weighted return (TWR) of the portfolio
from its recorded valuations, and the same for simply holding the starting portfolio.

A `ValuationPoint` is the managed assets' balances and prices at one moment, with the balance
change that deposits and withdrawals explained since the point before (`flows`, per asset, already
in `balances`). Between points i-1 and i the portfolio returned

    r_i = (V_i - F_i) / V_(i-1) - 1      V = sum(balance * price),  F_i = sum(flows_i * price_i)

so a deposit raises V_i and F_i alike and is never a gain, a withdrawal never a loss: the flow is
taken as made at the end of its sub-period (the bot reads flows when the balances move, and
records the poll before as a point too, so a sub-period with a flow is one poll long). The TWR
chains the sub-periods: prod(1 + r_i) - 1. Points without a flow telescope (V_2/V_1 * V_3/V_2 =
V_3/V_1): how often points are recorded changes nothing but where the chain is split.

Buy-and-hold is the first point's balances, held, and valued at each point's prices; each flow is
added to the holding of its asset (a withdrawal a holding cannot pay is taken from every holding
in proportion to its value), and its return is chained the same way. Exact `Decimal` throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain.market import ZERO

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class ValuationPoint:
    """The portfolio at `at` (seconds, the bot's clock): balances and mid prices in the quote, and
    the balance change per asset that flows explained since the point before."""

    at: float
    balances: Mapping[str, Decimal]
    prices: Mapping[str, Decimal]
    flows: Mapping[str, Decimal] = field(default_factory=dict)


def _value(holdings: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> Decimal:
    return sum((q * prices[a] for a, q in holdings.items() if q and a in prices), ZERO)


@dataclass(frozen=True, slots=True)
class Performance:
    start: float
    end: float
    start_value: Decimal
    end_value: Decimal
    net_flows: Decimal  # deposits less withdrawals, each valued when it was seen
    twr: Decimal  # the portfolio's time-weighted return (0.05 is 5%)
    hold_return: Decimal  # the same for holding the first point's balances
    hold_value: Decimal  # the held portfolio's value at the end, flows included
    periods: int  # sub-periods: one more than the points with a flow

    @property
    def difference(self) -> Decimal:
        """The bot's TWR less buy-and-hold's: what rebalancing (costs included) earned."""
        return self.twr - self.hold_return


def _hold_after(
    holdings: dict[str, Decimal], flows: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """The held portfolio after `flows`: each in its asset; what a holding cannot pay is taken
    from every holding in proportion to its value."""
    out = dict(holdings)
    short = ZERO
    for asset, change in flows.items():
        out[asset] = out.get(asset, ZERO) + change
        if out[asset] < 0:
            short += -out[asset] * prices.get(asset, ZERO)
            out[asset] = ZERO
    total = _value(out, prices)
    if short and total > 0:
        keep = max(ZERO, total - short) / total
        out = {a: q * keep for a, q in out.items()}
    return out


def performance(points: Sequence[ValuationPoint]) -> Performance | None:
    """The TWR of the points, in time order, and buy-and-hold's; None without a point. A
    sub-period that starts from nothing (no value at risk) counts as no return."""
    if not points:
        return None
    first = points[0]
    prices = dict(first.prices)  # the latest known price of each asset
    hold = dict(first.balances)
    growth = hold_growth = ONE
    net_flows = ZERO
    periods = 1
    previous = _value(first.balances, prices)
    for point in points[1:]:
        hold_before = _value(hold, prices)
        prices.update(point.prices)
        flows = {a: c for a, c in point.flows.items() if c and a in prices}
        flow_value = _value(flows, prices)
        value = _value(point.balances, prices)
        if previous > 0:
            growth *= (value - flow_value) / previous
        if hold_before > 0:
            hold_growth *= _value(hold, prices) / hold_before
        if flows:
            periods += 1
            net_flows += flow_value
            hold = _hold_after(hold, flows, prices)
        previous = value
    last = points[-1]
    return Performance(
        start=first.at,
        end=last.at,
        start_value=_value(first.balances, first.prices),
        end_value=previous,
        net_flows=net_flows,
        twr=growth - ONE,
        hold_return=hold_growth - ONE,
        hold_value=_value(hold, prices),
        periods=periods,
    )
