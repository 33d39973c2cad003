"""A simulated futures account's records: positions, wallet figures, income, liquidations.

Pure values and arithmetic, exact (`Decimal`); the rules that change them (fills, funding,
liquidation, transfers) are in `perp.py`. Signs: a position's `amount` is in contracts, long +,
short -; an income's `amount` is what the wallet received (a payment is negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO, Side
from bot.domain.positions import MarginMode

__all__ = [
    "FuturesBalance",
    "Income",
    "IncomeType",
    "Liquidation",
    "MarginMode",
    "PerpPosition",
    "PerpSide",
    "TransferRecord",
    "closes",
    "liquidation_price",
]


class PerpSide(StrEnum):
    """Binance's `positionSide`: BOTH in one-way mode, LONG or SHORT in hedge mode."""

    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class IncomeType(StrEnum):
    """Binance's `incomeType` values the simulator records."""

    FUNDING_FEE = "FUNDING_FEE"
    REALIZED_PNL = "REALIZED_PNL"
    COMMISSION = "COMMISSION"
    TRANSFER = "TRANSFER"
    INSURANCE_CLEAR = "INSURANCE_CLEAR"  # a liquidation's clearance fee


@dataclass(slots=True)
class PerpPosition:
    """One position: `amount` contracts (long +, short -; 0: flat), its average entry price, its
    leverage and margin mode; `isolated_margin` is its own collateral (isolated mode only)."""

    symbol: str
    side: PerpSide
    amount: Decimal
    entry_price: Decimal
    leverage: int
    margin_mode: MarginMode
    contract_size: Decimal = Decimal(1)
    isolated_margin: Decimal = ZERO
    updated_ms: int = 0

    @property
    def contracts(self) -> Decimal:
        return abs(self.amount)

    def notional(self, mark: Decimal) -> Decimal:
        """Signed value at `mark` (long +, short -)."""
        return self.amount * self.contract_size * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.amount * self.contract_size * (mark - self.entry_price)

    def initial_margin(self, mark: Decimal) -> Decimal:
        """Notional at `mark` over the leverage."""
        return abs(self.notional(mark)) / self.leverage

    def maintenance_margin(self, mark: Decimal, rate: Decimal) -> Decimal:
        return abs(self.notional(mark)) * rate


@dataclass(frozen=True, slots=True)
class FuturesBalance:
    """The wallet as Binance's account endpoint reports it, in the settlement asset.

    `wallet` (totalWalletBalance): transfers, realised PnL, funding and fees, isolated margins
    included; `margin_balance` (totalMarginBalance) = wallet + `unrealized_pnl`; `available`
    (availableBalance) = cross wallet + cross unrealised PnL - cross positions' initial margin -
    open orders' initial margin, never below 0; `maintenance` (totalMaintMargin).
    """

    asset: str
    wallet: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    position_initial_margin: Decimal
    open_order_initial_margin: Decimal
    maintenance: Decimal
    cross_wallet: Decimal
    cross_unrealized_pnl: Decimal
    cross_initial_margin: Decimal
    available: Decimal

    @property
    def used(self) -> Decimal:
        """What ccxt calls `used`: margin balance less available."""
        return self.margin_balance - self.available


@dataclass(frozen=True, slots=True)
class Income:
    """One entry of the income history (Binance's /fapi/v1/income): `amount` credited (+) or
    debited (-) to the wallet at `time_ms`; `rate` is the funding rate of a FUNDING_FEE."""

    id: str
    symbol: str
    type: IncomeType
    amount: Decimal
    asset: str
    time_ms: int
    rate: Decimal | None = None
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A forced close: `amount` contracts (signed, as the position was) at `price` (the mark),
    the loss realised (`pnl`, negative) and the clearance `fee`, both taken from the margin."""

    symbol: str
    side: PerpSide
    amount: Decimal
    price: Decimal
    pnl: Decimal
    fee: Decimal
    margin_mode: MarginMode
    time_ms: int


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A move of `amount` of `asset` between the spot account and the futures wallet."""

    id: str
    asset: str
    amount: Decimal
    from_account: str  # "spot" or "future"
    to_account: str
    time_ms: int


def closes(side: PerpSide, order_side: Side) -> bool:
    """A hedge-mode order that closes its position (SELL on LONG, BUY on SHORT)."""
    return (side is PerpSide.LONG and order_side is Side.SELL) or (
        side is PerpSide.SHORT and order_side is Side.BUY
    )


def liquidation_price(
    amount: Decimal, entry: Decimal, margin: Decimal, rate: Decimal, contract_size: Decimal
) -> Decimal | None:
    """The mark at which `margin` + unrealised PnL = maintenance margin (`rate` of the notional)
    for a position of `amount` contracts from `entry`; None when flat or never (0 or below)."""
    if amount == 0:
        return None
    q = amount * contract_size
    # margin + q * (p - entry) = |q| * p * rate  ->  p = (q * entry - margin) / (q - |q| * rate)
    denominator = q - abs(q) * rate
    if denominator == 0:
        return None
    price = (q * entry - margin) / denominator
    return price if price > 0 else None
