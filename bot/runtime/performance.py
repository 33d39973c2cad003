"""The portfolio's valuation points, recorded as the daemon polls, and its performance net of
deposits and withdrawals read back from the journal (`rebalance-bot performance`).

A point is recorded at the first confirmed poll, then at most every `VALUATION_EVERY` seconds,
after every rebalance, and at every poll where deposits or withdrawals explained a balance
change: then the poll before is recorded too (if it was not), so the sub-period holding the flow
is one poll long and the flow's price risk within it is small. A flow that lands in the balances
before the bot reads it (during a rebalance) makes one sub-period's return too high and the next
too low by as much: the chain telescopes, the TWR is right once the flow is read. See
`bot.domain.performance` for the arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain.performance import Performance, ValuationPoint, performance
from bot.domain.portfolio import Valuation
from bot.domain.status import RebalanceStatus
from bot.journal import Journal

VALUATION_EVERY = 900.0  # seconds: a quarter of an hour between points without a flow

# Rebalances that may have traded: fees and a count for `performance`.
TRADED = frozenset(
    {
        RebalanceStatus.DONE,
        RebalanceStatus.STOPPED,
        RebalanceStatus.HALTED,
        RebalanceStatus.FAILED,
        RebalanceStatus.INTERRUPTED,
    }
)


def point_of(valuation: Valuation, flows: Mapping[str, Decimal], at: float) -> ValuationPoint:
    """The managed assets as held (the quote's reserve included: flows move it too), their
    prices, and the flows of those assets."""
    balances = {
        p.asset: p.balance + (valuation.reserve if p.asset == valuation.quote else 0)
        for p in valuation.positions
    }
    prices = {p.asset: p.price for p in valuation.positions}
    moved = {a: c for a, c in sorted(flows.items()) if a in balances and c}
    return ValuationPoint(at, balances, prices, moved)


class ValuationLog:
    """Which polls become valuation points, for one daemon."""

    def __init__(self, journal: Journal, every: float = VALUATION_EVERY) -> None:
        self.journal = journal
        self.every = every
        self._last_at = journal.last_valuation_at()
        self._unrecorded: tuple[str, ValuationPoint] | None = None  # the last poll, not kept

    def observe(
        self, valuation: Valuation, flows: Mapping[str, Decimal], at: float, force: bool = False
    ) -> None:
        """A confirmed poll at `at`, and the balance change flows explained since the last;
        `force`: a point whatever the time (the portfolio after a rebalance)."""
        point = point_of(valuation, flows, at)
        if point.flows and self._unrecorded is not None:
            self._record(*self._unrecorded)
        if force or point.flows or self._last_at is None or at - self._last_at >= self.every:
            self._record(valuation.quote, point)
        else:
            self._unrecorded = (valuation.quote, point)

    def _record(self, quote: str, point: ValuationPoint) -> None:
        self.journal.record_valuation(quote, point)
        self._last_at = point.at
        self._unrecorded = None


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    quote: str
    performance: Performance | None  # None: no valuation point in the period
    fees: Decimal  # paid by the rebalances started in the period, in the quote
    rebalances: int  # those that traded


def performance_report(journal: Journal, quote: str, since: float | None) -> PerformanceReport:
    result = performance(journal.valuations(quote, since))
    fees, count = Decimal(0), 0
    for row in journal.rebalances_since(since):
        traded = Decimal(str(row.report.get("traded_value") or 0))
        if row.status in TRADED and traded > 0:
            count += 1
            fees += Decimal(str(row.report.get("fees") or 0))
    return PerformanceReport(quote, result, fees, count)
