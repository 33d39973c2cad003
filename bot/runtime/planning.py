"""From settings and a snapshot to a valued portfolio and its plan."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.planner import Plan, plan_rebalance
from bot.domain.portfolio import PriceMap, Valuation, value_portfolio
from bot.settings import Settings
from bot.snapshot import Snapshot


def valuation_from_snapshot(settings: Settings, snapshot: Snapshot) -> Valuation:
    """The managed portfolio valued at mid. Raises NoPriceError for an asset with no price."""
    quote = settings.portfolio.quote
    return value_portfolio(
        snapshot.balances,
        settings.portfolio.targets,
        quote,
        settings.bands_model(),
        PriceMap(quote, snapshot.markets, snapshot.books),
        reserve=settings.portfolio.quote_reserve,
    )


def plan_from_snapshot(settings: Settings, snapshot: Snapshot, *, force: bool = False) -> Plan:
    """Value the managed portfolio and plan the legs that restore its allocation. `force`: a
    scheduled rebalance, to target even when every asset is inside its band."""
    valuation = valuation_from_snapshot(settings, snapshot)
    policy = replace(settings.rebalance.policy(), force=force)
    return plan_rebalance(valuation, snapshot.markets, snapshot.books, policy)
