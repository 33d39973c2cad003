"""Perpetual futures as the bot sees them: positions, the futures account, funding payments.

Linear perpetuals only (settled in the portfolio's quote, e.g. BTC/USDT:USDT): a position's
exposure is `contracts * contract_size * mark` in the quote, signed (long +, short -). In one-way
mode a symbol has one position (`side` LONG or SHORT, `position_side` BOTH); in hedge mode it may
have a LONG and a SHORT position at once (`position_side` LONG / SHORT), and its net exposure is
their sum. Values refuse nonsense in their constructor (negative contracts, a mark that is not
positive), like the rest of the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO
from bot.errors import DomainError


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


class PositionMode(StrEnum):
    ONE_WAY = "oneway"  # one position per symbol; an order that crosses zero flips it
    HEDGE = "hedge"  # a long and a short per symbol, each named by the order's positionSide


class MarginMode(StrEnum):
    CROSS = "cross"  # the whole futures wallet backs every position
    ISOLATED = "isolated"  # each position has its own collateral


@dataclass(frozen=True, slots=True)
class Position:
    """One open perpetual position at one moment, as the exchange reports it (ccxt's
    `fetch_positions`), with the fields the exchange left out as None.

    `contracts` is unsigned (the side says which way); `contract_size` converts contracts to the
    base asset. `collateral` is the margin behind the position (isolated: its own; cross: the
    share the exchange reports, or None). `maintenance_margin` is in the quote; `liquidation_price`
    as the exchange computes it, None when not told (the bot then recomputes it from the mark).
    `hedged`: True when the account is in hedge mode (the position is one of the symbol's two).
    """

    symbol: str
    base: str
    side: PositionSide
    contracts: Decimal
    contract_size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    margin_mode: MarginMode = MarginMode.CROSS
    hedged: bool = False
    leverage: Decimal | None = None
    collateral: Decimal | None = None
    maintenance_margin: Decimal | None = None
    maintenance_margin_rate: Decimal | None = None
    liquidation_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None

    def __post_init__(self) -> None:
        if self.contracts < 0:
            raise DomainError(
                f"position {self.symbol}: contracts must be >= 0, got {self.contracts}"
            )
        if self.contract_size <= 0:
            raise DomainError(
                f"position {self.symbol}: contract_size must be > 0, got {self.contract_size}"
            )
        if self.mark_price <= 0:
            raise DomainError(
                f"position {self.symbol}: mark price must be > 0, got {self.mark_price}"
            )
        if self.entry_price < 0:
            raise DomainError(
                f"position {self.symbol}: entry price must be >= 0, got {self.entry_price}"
            )

    @property
    def base_amount(self) -> Decimal:
        """Signed, in the base asset: long +, short -."""
        size = self.contracts * self.contract_size
        return size if self.side is PositionSide.LONG else -size

    @property
    def notional(self) -> Decimal:
        """Signed exposure in the quote at the mark."""
        return self.base_amount * self.mark_price

    @property
    def pnl(self) -> Decimal:
        """Unrealised profit at the mark: the exchange's figure, else computed from the entry."""
        if self.unrealized_pnl is not None:
            return self.unrealized_pnl
        return self.base_amount * (self.mark_price - self.entry_price)


@dataclass(frozen=True, slots=True)
class FuturesAccount:
    """The futures wallet in the settlement asset (the quote), as the exchange reports it.

    `wallet`: deposited collateral plus realised profit and funding; `equity` (margin balance):
    wallet plus unrealised profit; `free`: what may be transferred out or used for new positions.
    """

    asset: str
    wallet: Decimal
    equity: Decimal
    free: Decimal

    def __post_init__(self) -> None:
        if self.wallet < 0:
            raise DomainError(f"futures wallet must be >= 0, got {self.wallet}")
        if self.free < 0:
            raise DomainError(f"futures free balance must be >= 0, got {self.free}")


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement on a position: `amount` in `asset`, received (+) or paid (-)."""

    id: str
    symbol: str
    asset: str
    amount: Decimal
    timestamp: int  # ms


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A perpetual's current funding rate per interval (0.0001 = 1 bp every `interval_hours`),
    the mark and index prices, and when the next settlement is (ms)."""

    symbol: str
    rate: Decimal
    mark_price: Decimal
    index_price: Decimal | None = None
    next_funding: int | None = None
    interval_hours: Decimal = Decimal(8)

    @property
    def annualised(self) -> Decimal:
        return self.rate * Decimal(24 * 365) / self.interval_hours


def net_base(positions: list[Position] | tuple[Position, ...], base: str) -> Decimal:
    """The signed base amount of every position on `base` (hedge mode: long minus short)."""
    return sum((p.base_amount for p in positions if p.base == base), ZERO)


def is_contract(symbol: str) -> bool:
    """Whether a market symbol is a derivative's: ccxt's unified symbols name a contract's
    settlement asset after a colon (BTC/USDT:USDT), a spot market's never."""
    return ":" in symbol
