"""A child order's life, as one state machine: its states, the transitions between them (as
data), and the rules that decide a transition from what the bot sees.

    intent -> sent -> open -> partially_filled -> cancelling -> filled | cancelled | expired
       |        |
       |        +-> filled | cancelled | expired | rejected | never_arrived
       +-> rejected (refused before it left) | never_arrived (never sent)

- `intent`: written to the journal, not sent. A crash here means it never left.
- `sent`: the request left at `sent_at` (after the request pacer). Until the exchange answers, its
  fate is unknown: it may have executed.
- `open`, `partially_filled`: the exchange holds it.
- `cancelling`: a cancel was sent; the final state is not seen yet.
- final: `filled`, `cancelled`, `expired` (its unfilled rest, for IOC), `rejected` (refused: never
  executed), `never_arrived` (a lost request the exchange can no longer accept). A final state
  never reopens.

`never_arrived` is a conclusion, not an observation: from `sent`, only once the exchange can no
longer accept the lost request (its receive window, counted from the real send, has passed) or
once listing the exchange's orders proves it absent. One lookup that misses proves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO
from bot.domain.orders import OrderReport, OrderStatus
from bot.errors import DomainError


class ChildState(StrEnum):
    INTENT = "intent"
    SENT = "sent"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    CANCELLING = "cancelling"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    NEVER_ARRIVED = "never_arrived"

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]

    @property
    def live(self) -> bool:
        """The exchange may hold it now, or may yet: it must be settled before anything else."""
        return not self.is_final


_S = ChildState
_REPORTED = frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED})
FINAL = frozenset({_S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.REJECTED, _S.NEVER_ARRIVED})

# Every transition a child may make. A state absent from a set cannot follow it.
TRANSITIONS: Mapping[ChildState, frozenset[ChildState]] = {
    _S.INTENT: frozenset({_S.SENT, _S.REJECTED, _S.NEVER_ARRIVED}),
    _S.SENT: _REPORTED | {_S.SENT, _S.REJECTED, _S.NEVER_ARRIVED},
    _S.OPEN: frozenset(
        {_S.OPEN, _S.PARTIALLY_FILLED, _S.CANCELLING, _S.FILLED, _S.CANCELLED, _S.EXPIRED}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.CANCELLING, _S.FILLED, _S.CANCELLED, _S.EXPIRED}
    ),
    _S.CANCELLING: frozenset(
        {_S.CANCELLING, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED}
    ),
    **{final: frozenset() for final in FINAL},
}


def reported_state(report: OrderReport) -> ChildState:
    """The state an exchange report puts a child in."""
    if report.status is OrderStatus.OPEN:
        return _S.PARTIALLY_FILLED if report.filled > 0 else _S.OPEN
    return {
        OrderStatus.CLOSED: _S.FILLED,
        OrderStatus.CANCELED: _S.CANCELLED,
        OrderStatus.EXPIRED: _S.EXPIRED,
        OrderStatus.REJECTED: _S.REJECTED,
    }[report.status]


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """One child order as the bot knows it. Every change goes through a transition method, which
    refuses what the machine does not allow."""

    client_id: str
    state: ChildState = _S.INTENT
    sent_at: float | None = None  # when the request last left, on the bot's clock
    exchange_id: str | None = None
    filled: Decimal = ZERO

    def _to(self, state: ChildState, **changes: object) -> ChildOrder:
        if state not in TRANSITIONS[self.state]:
            raise DomainError(
                f"child {self.client_id}: {self.state.value} -> {state.value} is not a transition"
                " of a child order"
            )
        return replace(self, state=state, **changes)  # type: ignore[arg-type]

    def sent(self, at: float) -> ChildOrder:
        """The request left now (a resend of the same request moves `sent_at` on)."""
        return self._to(_S.SENT, sent_at=at)

    def refused(self) -> ChildOrder:
        """The exchange, or the bot's own check, refused it: it never executed."""
        return self._to(_S.REJECTED)

    def reported(self, report: OrderReport) -> ChildOrder:
        """The exchange reported the order. A report of an order being cancelled that still says
        open keeps it `cancelling`; filled amounts never go down."""
        state = reported_state(report)
        if self.state is _S.CANCELLING and state in (_S.OPEN, _S.PARTIALLY_FILLED):
            state = _S.CANCELLING
        if self.state.is_final and state is self.state:
            return self  # the same final report again
        return self._to(
            state, exchange_id=report.exchange_id, filled=max(self.filled, report.filled)
        )

    def cancelling(self) -> ChildOrder:
        return self._to(_S.CANCELLING)

    def absent(self, now: float, window: float | None, *, proven: bool = False) -> ChildOrder:
        """The exchange does not have it. Conclusive only for a child never sent, after the
        exchange's receive window (`window` seconds from the real send) has passed, or when
        absence is `proven` (the exchange's open and recent orders were listed without it);
        otherwise the child stays as it is, to be asked about again."""
        if self.state is _S.INTENT:
            return self._to(_S.NEVER_ARRIVED)
        if self.state is not _S.SENT:
            return self
        past = window is not None and self.sent_at is not None and now >= self.sent_at + window
        if past or proven:
            return self._to(_S.NEVER_ARRIVED)
        return self
