"""From a snapshot to a valued portfolio and its plan."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot.domain.planner import Plan, PlannerPolicy, plan_rebalance
from bot.domain.portfolio import PortfolioSpec, Valuation
from bot.domain.raising import RaisePlan, plan_raise
from bot.snapshot import Snapshot


def value_snapshot(portfolio: PortfolioSpec, snapshot: Snapshot) -> Valuation:
    """The managed portfolio valued at mid. Raises NoPriceError for an asset with no price."""
    return portfolio.value(snapshot.balances, snapshot.markets, snapshot.books)


def plan_from_snapshot(
    portfolio: PortfolioSpec, policy: PlannerPolicy, snapshot: Snapshot, *, force: bool = False
) -> Plan:
    """Value the managed portfolio and plan the legs that restore its allocation. `force`: a
    scheduled rebalance, to target even when every asset is inside its band."""
    valuation = value_snapshot(portfolio, snapshot)
    return plan_rebalance(valuation, snapshot.markets, snapshot.books, replace(policy, force=force))


def raise_from_snapshot(
    portfolio: PortfolioSpec, policy: PlannerPolicy, snapshot: Snapshot, asset: str, amount: Decimal
) -> RaisePlan:
    """Value the managed portfolio and plan the sells that free `amount` of `asset` (the quote)
    with every asset in band after its withdrawal. Raises CannotRaise when it cannot."""
    valuation = value_snapshot(portfolio, snapshot)
    return plan_raise(valuation, asset, amount, snapshot.markets, snapshot.books, policy)
