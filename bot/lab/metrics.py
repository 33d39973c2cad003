"""What a backtest says of each policy, the cost/tracking-error frontier, and the recommendation.

Per policy (values at mid, in the quote; `years` from the first bar to the last):
- turnover: value traded / mean portfolio value / years (1.0 = the portfolio's worth once a year);
- costs: fees and spread + impact, in the quote and in bps of the mean value per year;
- rebalances: decisions that traded at least one leg;
- tracking error: annualised standard deviation of the bar returns' difference from the target
  portfolio's (held at its weights every bar, at no cost);
- drift: the largest |weight - target| over bars and assets, and its mean over bars;
- return (total, annualised) and maximum drawdown; against buy-and-hold, the excess return.

Frontier: the policies no other beats on both cost and tracking error. Recommendation: the
cheapest policy whose tracking error is within the budget (`max_tracking_error`), else the one
with the lowest tracking error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

import numpy as np

from bot.lab.bars import History
from bot.lab.costs import Floats
from bot.lab.policies import Policy

YEAR_DAYS = 365.25


class Run(Protocol):
    """What the metrics read of a policy's backtest (`bot.lab.backtest.Run`)."""

    @property
    def policy(self) -> Policy: ...
    @property
    def values(self) -> Floats: ...
    @property
    def weights(self) -> Floats: ...
    @property
    def rebalances(self) -> tuple[int, ...]: ...
    @property
    def traded(self) -> float: ...
    @property
    def fees(self) -> float: ...
    @property
    def impact(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Figures:
    name: str
    description: str
    rebalances: int
    traded: float
    turnover: float  # per year, x the mean value
    fees: float
    impact: float
    cost_bps_year: float
    tracking_error: float  # annualised fraction
    max_drift: float  # fraction (0.05 = 5 percentage points)
    mean_drift: float
    total_return: float
    annual_return: float
    max_drawdown: float
    final_value: float
    excess_return: float = 0.0  # total return minus buy-and-hold's

    @property
    def costs(self) -> float:
        return self.fees + self.impact


def max_drawdown(values: Floats) -> float:
    """The largest fall from a running peak, a fraction."""
    peaks = np.maximum.accumulate(values)
    return float(np.max(1 - values / peaks)) if len(values) else 0.0


def tracking_error(values: Floats, close: Floats, target: Floats, bars_per_year: float) -> float:
    """Annualised std of (portfolio return - target portfolio return) per bar. `target`: the
    weights of close's columns then the quote (whose return is 0)."""
    if len(values) < 3:
        return 0.0
    mine = values[1:] / values[:-1] - 1
    theirs = (close[1:] / close[:-1] - 1) @ target[:-1]
    return float(np.std(mine - theirs, ddof=1) * np.sqrt(bars_per_year))


def figures(run: Run, history: History, targets: Mapping[str, Decimal], quote: str) -> Figures:
    assets = (*history.assets, quote)
    target = np.array([float(targets.get(a, Decimal(0))) for a in assets])
    values = run.values
    years = max(history.years, 1e-9)
    mean_value = float(np.mean(values))
    drift = np.abs(run.weights - target).max(axis=1)
    costs = run.fees + run.impact
    growth = float(values[-1] / values[0])
    return Figures(
        name=run.policy.name,
        description=run.policy.describe(),
        rebalances=len(run.rebalances),
        traded=run.traded,
        turnover=run.traded / mean_value / years,
        fees=run.fees,
        impact=run.impact,
        cost_bps_year=costs / mean_value / years * 10_000,
        tracking_error=tracking_error(
            values, history.close, target, history.bars_per_day * YEAR_DAYS
        ),
        max_drift=float(drift.max()),
        mean_drift=float(drift.mean()),
        total_return=growth - 1,
        annual_return=growth ** (1 / years) - 1 if history.years > 0 else 0.0,
        max_drawdown=max_drawdown(values),
        final_value=float(values[-1]),
    )


def against(figs: Sequence[Figures], hold: Figures) -> list[Figures]:
    """Each policy's excess total return over buy-and-hold's."""
    return [replace(f, excess_return=f.total_return - hold.total_return) for f in figs]


def frontier(figs: Sequence[Figures]) -> list[str]:
    """Names of the policies no other beats on both cost and tracking error, cheapest first."""
    ordered = sorted(figs, key=lambda f: (f.costs, f.tracking_error, f.name))
    best_te = float("inf")
    names = []
    for f in ordered:
        if f.tracking_error < best_te - 1e-12:
            names.append(f.name)
            best_te = f.tracking_error
    return names


@dataclass(frozen=True, slots=True)
class Recommendation:
    name: str
    reason: str


def recommend(figs: Sequence[Figures], max_te: float) -> Recommendation:
    """The cheapest policy within the tracking-error budget (else the lowest tracking error)."""
    within = sorted(
        (f for f in figs if f.tracking_error <= max_te),
        key=lambda f: (f.costs, f.tracking_error, f.name),
    )
    if not within:
        best = min(figs, key=lambda f: (f.tracking_error, f.costs, f.name))
        return Recommendation(
            best.name,
            f"no policy keeps the tracking error within {max_te:.2%} a year; {best.name} has the"
            f" lowest ({best.tracking_error:.2%}) at {best.cost_bps_year:.1f} bps a year of costs",
        )
    best = within[0]
    reason = (
        f"cheapest of the {len(within)} policies with tracking error within {max_te:.2%} a year:"
        f" {best.cost_bps_year:.1f} bps a year of costs, tracking error"
        f" {best.tracking_error:.2%}, {best.rebalances} rebalances, max drift {best.max_drift:.1%}"
    )
    cheaper = [f for f in figs if f.costs < best.costs and f.tracking_error > max_te]
    if cheaper:
        nxt = max(cheaper, key=lambda f: f.costs)
        reason += (
            f"; the next cheaper, {nxt.name} ({nxt.cost_bps_year:.1f} bps), tracks at"
            f" {nxt.tracking_error:.2%}"
        )
    return Recommendation(best.name, reason)
