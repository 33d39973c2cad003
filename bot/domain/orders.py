"""Orders as the bot sees them: what it asks for, and the exchange's reports back.

Every order has two identities: the client order id the bot chose (known before the order is sent,
written to the journal first) and the exchange's id (known once the exchange answers). Reports
carry both, so a lost reply or a restart can be reconciled by the client id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO, Side
from bot.domain.positions import PositionSide
from bot.errors import DomainError


class TimeInForce(StrEnum):
    GTC = "GTC"  # rests until filled or cancelled
    IOC = "IOC"  # fills what it can at once, the rest expires
    FOK = "FOK"  # fills entirely at once or not at all


class OrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self is not OrderStatus.OPEN


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order the bot wants placed."""

    client_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    # Perpetuals: `reduce_only` may only shrink the position (the exchange refuses one that would
    # grow or flip it); `position_side` names which of a hedge-mode symbol's two positions.
    reduce_only: bool = False
    position_side: PositionSide | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise DomainError(f"order {self.client_id}: amount must be > 0, got {self.amount}")
        if self.price <= 0:
            raise DomainError(f"order {self.client_id}: price must be > 0, got {self.price}")
        if not self.client_id:
            raise DomainError("an order needs a client id")
        if self.post_only and self.time_in_force is not TimeInForce.GTC:
            raise DomainError(f"order {self.client_id}: post-only orders rest (GTC)")


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The exchange's view of one order at one moment."""

    client_id: str | None
    exchange_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal | None
    status: OrderStatus
    filled: Decimal
    average: Decimal | None
    fee: Decimal
    fee_currency: str | None
    timestamp_ms: int | None = None

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.amount - self.filled)

    @property
    def cost(self) -> Decimal:
        return self.filled * self.average if self.average is not None else ZERO


@dataclass(frozen=True, slots=True)
class FillReport:
    """One trade (execution) of one of our orders."""

    trade_id: str
    exchange_order_id: str
    client_id: str | None
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    maker: bool | None
    timestamp_ms: int | None

    @property
    def cost(self) -> Decimal:
        return self.amount * self.price
