"""From settings and a snapshot to a valued portfolio and its plan."""

from __future__ import annotations

from bot.domain.planner import Plan, plan_rebalance
from bot.domain.portfolio import PriceMap, value_portfolio
from bot.settings import Settings
from bot.snapshot import Snapshot


def plan_from_snapshot(settings: Settings, snapshot: Snapshot) -> Plan:
    """Value the managed portfolio at mid and plan the legs that restore its allocation.

    Raises NoPriceError when a managed asset cannot be priced in the quote.
    """
    quote = settings.portfolio.quote
    prices = PriceMap(quote, snapshot.markets, snapshot.books)
    valuation = value_portfolio(
        snapshot.balances,
        settings.portfolio.targets,
        quote,
        settings.bands_model(),
        prices,
        reserve=settings.portfolio.quote_reserve,
    )
    return plan_rebalance(valuation, snapshot.markets, snapshot.books, settings.rebalance.policy())
