"""A real venue's perpetuals as paper futures see them: a `PerpSpec` built from a ccxt swap
market, and `FundingView`, the venue's mark, index and funding as last observed.

Binance publishes no maintenance-margin rate with its markets (its tiers need a signed call), so
`maintenance_margin_rate` is given (one rate, Binance's first tier by default); the liquidation fee
is the market's `liquidationFee` when ccxt keeps it in `info`; the leverage cap is ccxt's
`limits.leverage.max` when known, else 125.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.domain.market import Market
from bot.sim.perp_market import DEFAULT_INTERVAL, PerpSpec

DEFAULT_MMR = Decimal("0.004")
DEFAULT_LIQUIDATION_FEE = Decimal("0.0125")
DEFAULT_MAX_LEVERAGE = 125
HOUR = 3600.0


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def perp_spec(
    raw: Mapping[str, Any],
    market: Market,
    *,
    maintenance_margin_rate: Decimal = DEFAULT_MMR,
    default_leverage: int = 20,
    funding_interval: float = DEFAULT_INTERVAL,
) -> PerpSpec:
    """The terms of the ccxt swap market `raw` (its domain `market` already built)."""
    info = raw.get("info") or {}
    leverage = ((raw.get("limits") or {}).get("leverage") or {}).get("max")
    max_leverage = int(leverage) if leverage else DEFAULT_MAX_LEVERAGE
    fee = _dec(info.get("liquidationFee")) if isinstance(info, Mapping) else None
    return PerpSpec(
        market=market,
        underlying=f"{market.base}/{market.quote}",
        top_depth=Decimal(1),  # unused: the book is the venue's
        maintenance_margin_rate=maintenance_margin_rate,
        max_leverage=max_leverage,
        default_leverage=min(default_leverage, max_leverage),
        funding_interval=funding_interval,
        liquidation_fee=DEFAULT_LIQUIDATION_FEE if fee is None else fee,
    )


@dataclass(slots=True)
class FundingView:
    """A perp's prices and funding as the venue last published them: `rate` is the predicted
    rate of the settlement at `next_ms` (epoch ms); `interval` seconds between settlements;
    `settled_ms` the last settlement we applied (0: none); `observed_at` epoch seconds."""

    mark: Decimal
    index: Decimal
    rate: Decimal
    next_ms: int
    interval: float
    observed_at: float
    settled_ms: int = 0
    last_rate: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "mark": str(self.mark), "index": str(self.index), "rate": str(self.rate),
            "next_ms": self.next_ms, "interval": self.interval, "observed_at": self.observed_at,
            "settled_ms": self.settled_ms, "last_rate": str(self.last_rate),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FundingView:
        return cls(
            Decimal(data["mark"]), Decimal(data["index"]), Decimal(data["rate"]),
            int(data["next_ms"]), float(data["interval"]), float(data["observed_at"]),
            int(data["settled_ms"]), Decimal(data["last_rate"]),
        )  # fmt: skip


def interval_of(raw: Mapping[str, Any], default: float) -> float:
    """Seconds between settlements from ccxt's `interval` ("8h", "4h"), else `default`."""
    text = str(raw.get("interval") or "")
    if text.endswith("h") and (hours := _dec(text[:-1])) is not None and hours > 0:
        return float(hours) * HOUR
    return default


def funding_view(
    raw: Mapping[str, Any], observed_at: float, default_interval: float
) -> FundingView | None:
    """A view of ccxt's funding-rate structure `raw`; None when it lacks the mark, the rate or
    the next funding time (the venue's reply cannot be used)."""
    mark, rate = _dec(raw.get("markPrice")), _dec(raw.get("fundingRate"))
    next_ms = raw.get("fundingTimestamp") or raw.get("nextFundingTimestamp")
    if mark is None or mark <= 0 or rate is None or not next_ms:
        return None
    index = _dec(raw.get("indexPrice")) or mark
    return FundingView(
        mark, index, rate, int(next_ms), interval_of(raw, default_interval), observed_at
    )


def merge(old: FundingView | None, new: FundingView) -> FundingView:
    """`new`, keeping what we settled from `old`; a venue still showing a settlement we have
    applied (its feed lags) moves on by one interval."""
    if old is None:
        return new
    new.settled_ms, new.last_rate = old.settled_ms, old.last_rate
    if new.next_ms <= new.settled_ms:
        steps = math.floor((new.settled_ms - new.next_ms) / (new.interval * 1000)) + 1
        new.next_ms += round(steps * new.interval * 1000)
    return new
