"""One simulated account's records: its orders, its trades, its balances (free and locked), exact.

The rules that change them (matching, fees, locks, self-trade prevention) are in `matching.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO, Side

CLIENT_ORDER_ID = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")  # Binance's newClientOrderId pattern


class OrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELED = "canceled"
    EXPIRED = "expired"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    PO = "PO"


@dataclass(frozen=True, slots=True)
class SimTrade:
    id: str
    order_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    fee_rate: Decimal
    taker: bool
    timestamp: int

    @property
    def cost(self) -> Decimal:
        return self.price * self.amount


@dataclass(slots=True)
class SimOrder:
    id: str
    client_order_id: str
    symbol: str
    type: OrderType
    side: Side
    price: Decimal | None
    amount: Decimal
    time_in_force: TimeInForce
    post_only: bool
    timestamp: int
    fee_currency: str
    seq: int
    status: OrderStatus = OrderStatus.OPEN
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    locked: Decimal = ZERO
    last_trade_timestamp: int | None = None
    last_update_timestamp: int | None = None
    trades: list[SimTrade] = field(default_factory=list)
    # Fees paid in another asset than `fee_currency` (a fee asset such as BNB), by asset.
    other_fees: dict[str, Decimal] = field(default_factory=dict)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    @property
    def is_open(self) -> bool:
        return self.status is OrderStatus.OPEN


class Account:
    """Free and locked ('used') balances per asset, exact."""

    def __init__(self, balances: Mapping[str, Decimal]) -> None:
        self.free: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        self.used: dict[str, Decimal] = dict.fromkeys(balances, ZERO)

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.used))

    def total(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO) + self.used.get(asset, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) - amount
        self.used[asset] = self.used.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.lock(asset, -amount)

    def credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount
        self.used.setdefault(asset, ZERO)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self.used[asset] = self.used.get(asset, ZERO) - amount
