"""External flows: deposits and withdrawals as the exchange reports them, and what each does to a
balance.

A flow's effect on its asset's balance depends on its status: a deposit counts once credited
(`ok`), never while pending; a withdrawal leaves the balance when it is applied for (pending or
done: amount and fee), and comes back when it fails or is cancelled. What a new report of a
flow explains is the change of its effect since the last report the bot recorded
(`explained_change`), so a flow read twice is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO
from bot.errors import DomainError


class FlowKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class FlowStatus(StrEnum):
    """ccxt's transaction statuses, and `other` for a word of the exchange's own."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    CANCELED = "canceled"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Flow:
    """One deposit or withdrawal. `amount` excludes the fee (ccxt's convention); `fee` is in the
    flow's asset; `timestamp_ms` is its time on the exchange's clock (when it was made)."""

    id: str
    kind: FlowKind
    asset: str
    amount: Decimal
    status: FlowStatus
    fee: Decimal = ZERO
    timestamp_ms: int | None = None
    txid: str | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.asset:
            raise DomainError(f"a {self.kind} needs an id and an asset")
        for name, value in (("amount", self.amount), ("fee", self.fee)):
            if not value.is_finite() or value < 0:
                raise DomainError(f"{self.kind} {self.id}: {name} {value} is not >= 0")

    @property
    def key(self) -> str:
        """Its identity in the journal: deposits and withdrawals have ids of their own."""
        return f"{self.kind}:{self.id}"

    def effect(self, status: FlowStatus | None = None) -> Decimal:
        """What the flow does to its asset's balance in `status` (default: its own)."""
        status = self.status if status is None else status
        if self.kind is FlowKind.DEPOSIT:
            return self.amount if status is FlowStatus.OK else ZERO
        if status in (FlowStatus.PENDING, FlowStatus.OK):
            return -(self.amount + self.fee)
        return ZERO


def explained_change(flow: Flow, recorded: FlowStatus | None) -> Decimal:
    """The balance change a report of `flow` explains, given the status recorded before (None:
    never seen): a deposit seen pending then credited explains its amount once, at the credit."""
    before = ZERO if recorded is None else flow.effect(recorded)
    return flow.effect() - before


def net_by_asset(changes: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for asset, change in changes:
        if change:
            out[asset] = out.get(asset, ZERO) + change
    return out


def unexplained(
    before: Mapping[str, Decimal], after: Mapping[str, Decimal], explained: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """Per asset, the balance change from `before` to `after` that `explained` does not
    account for (non-zero entries only)."""
    assets = set(before) | set(after) | set(explained)
    out = {}
    for asset in sorted(assets):
        rest = after.get(asset, ZERO) - before.get(asset, ZERO) - explained.get(asset, ZERO)
        if rest:
            out[asset] = rest
    return out
