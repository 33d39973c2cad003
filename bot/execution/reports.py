"""What execution produced: one leg's report, and a whole rebalance's. Pure data with the
arithmetic of implementation shortfall (vs the arrival mid, fees apart and together); the
executor fills in a `LegReport`, the runtime a `RebalanceReport`, and metrics, notifications and
the tables read them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.domain.market import ZERO, Side, bps, signed_bps
from bot.domain.planner import Plan
from bot.domain.portfolio import Valuation
from bot.domain.status import LegOutcome, RebalanceStatus
from bot.journal_rows import LegRow


@dataclass
class LegReport:
    key: str
    symbol: str
    side: Side
    planned: Decimal
    arrival_mid: Decimal
    quote: str  # the market's quote currency: what `cost` and `fees` are counted in
    filled: Decimal = ZERO
    cost: Decimal = ZERO  # market quote paid (buy) or received (sell), before fees
    fees: Decimal = ZERO  # in the market's quote
    children: int = 0
    requests: int = 0
    outcome: LegOutcome = LegOutcome.DONE
    reason: str = ""
    started: float = 0.0
    finished: float = 0.0
    client_ids: list[str] = field(default_factory=list)
    order_ids: set[str] = field(default_factory=set)
    # What the exchange says each child filled (by its order id), and each child's time on the
    # exchange's clock: the trades to read, and from when.
    order_filled: dict[str, Decimal] = field(default_factory=dict)
    order_times: list[int | None] = field(default_factory=list)
    # False while the leg's trades are not all read: `fees` is then an estimate (the market's
    # higher rate), replaced by the recorded fees when a reconciliation reads them.
    fees_settled: bool = True
    fees_paid: dict[str, Decimal] = field(default_factory=dict)  # as charged, by currency
    children_filled: int = 0  # children that filled at least in part
    children_cancelled: int = 0  # children cancelled or expired with something unfilled
    children_rejected: int = 0  # refused by the exchange (post-only crossing, funds)
    budget: Decimal | None = None  # most this leg may spend (buys), fees included

    def __post_init__(self) -> None:
        self.outcome = LegOutcome(self.outcome)

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    @property
    def price_bps(self) -> Decimal:
        """Shortfall from the price alone: paid above (bought) or received below (sold) arrival."""
        avg = self.average
        return ZERO if avg is None else signed_bps(self.side, self.arrival_mid, avg)

    @property
    def fee_bps(self) -> Decimal:
        return bps(self.fees, self.cost)

    @property
    def shortfall_bps(self) -> Decimal:
        return self.price_bps + self.fee_bps

    @property
    def duration(self) -> float:
        return self.finished - self.started


@dataclass
class RebalanceReport:
    rebalance_id: int | None
    status: RebalanceStatus
    reason: str
    plan: Plan
    started: float
    finished: float = 0.0
    legs: list[LegReport] = field(default_factory=list)
    after: Valuation | None = None
    kind: str = "rebalance"  # or "raise": the sells that freed cash for a withdrawal

    def __post_init__(self) -> None:
        self.status = RebalanceStatus(self.status)

    @property
    def before(self) -> Valuation:
        return self.plan.valuation

    def leg_value(self, leg: LegReport) -> Decimal:
        """A leg's traded value in the portfolio quote, at the arrival prices."""
        prices = self.before.prices
        return leg.cost * prices.price(leg.quote) if leg.quote in prices else ZERO

    @property
    def traded_value(self) -> Decimal:
        return sum((self.leg_value(leg) for leg in self.legs), ZERO)

    @property
    def shortfall_bps(self) -> Decimal:
        """Value-weighted implementation shortfall over all legs, fees included."""
        total = self.traded_value
        if not total:
            return ZERO
        return sum((leg.shortfall_bps * self.leg_value(leg) for leg in self.legs), ZERO) / total

    @property
    def fees_value(self) -> Decimal:
        return sum(
            (leg.fees / leg.cost * self.leg_value(leg) for leg in self.legs if leg.cost), ZERO
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rebalance_id": self.rebalance_id,
            "kind": self.kind,
            "status": self.status.value,
            "reason": self.reason,
            "duration_s": round(self.finished - self.started, 3),
            "value_before": str(self.before.total),
            "value_after": None if self.after is None else str(self.after.total),
            "traded_value": str(self.traded_value),
            "shortfall_bps": f"{self.shortfall_bps:.2f}",
            "fees": str(self.fees_value),
            "legs": [
                {
                    "key": leg.key,
                    "symbol": leg.symbol,
                    "side": leg.side.value,
                    "planned": str(leg.planned),
                    "filled": str(leg.filled),
                    "average": None if leg.average is None else str(leg.average),
                    "arrival_mid": str(leg.arrival_mid),
                    "price_bps": f"{leg.price_bps:.2f}",
                    "fee_bps": f"{leg.fee_bps:.2f}",
                    "fees_settled": leg.fees_settled,
                    "fees_paid": {c: str(a) for c, a in sorted(leg.fees_paid.items())},
                    "shortfall_bps": f"{leg.shortfall_bps:.2f}",
                    "children": leg.children,
                    "requests": leg.requests,
                    "outcome": leg.outcome.value,
                    "reason": leg.reason,
                    "duration_s": round(leg.duration, 3),
                }
                for leg in self.legs
            ],
            "weights_after": None
            if self.after is None
            else {p.asset: str(p.weight) for p in self.after.positions},
            "in_band_after": None if self.after is None else not self.after.needs_rebalance,
        }


def with_recorded_fees(summary: Mapping[str, Any], legs: Iterable[LegRow]) -> dict[str, Any]:
    """A finished rebalance's summary (`RebalanceReport.to_dict`) with the fees of its legs as
    the journal now records them: each leg's fee and shortfall bps, and the totals."""
    by_key = {leg.key: leg for leg in legs}
    out = dict(summary)
    entries = []
    fees_value = total_value = weighted = ZERO
    for entry in summary.get("legs", []):
        entry = dict(entry)
        leg = by_key.get(entry.get("key", ""))
        if leg is not None and leg.cost:
            average = entry.get("average")
            price = (
                signed_bps(Side(entry["side"]), Decimal(entry["arrival_mid"]), Decimal(average))
                if average
                else ZERO
            )
            fee = bps(leg.fees, leg.cost)
            entry.update(
                fee_bps=f"{fee:.2f}",
                shortfall_bps=f"{price + fee:.2f}",
                fees_settled=leg.fees_settled,
            )
            fees_value += leg.fees / leg.cost * leg.value
            total_value += leg.value
            weighted += (price + fee) * leg.value
        entries.append(entry)
    out["legs"] = entries
    out["fees"] = str(fees_value)
    out["shortfall_bps"] = f"{weighted / total_value if total_value else ZERO:.2f}"
    return out
