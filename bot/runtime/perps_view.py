"""What the perpetuals' runtime sees and keeps: one poll's look (`PerpsLook`), a rebalance's
share (`ExposurePlan`), the portfolio as exposures in the spot valuation's shape, and the last
look as the journal keeps it for `status` and the API (`STATE_KEY`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from bot.domain.exposure import Allocation, ExposureView
from bot.domain.margin import MarginHealth
from bot.domain.market import ZERO
from bot.domain.planner import Leg
from bot.domain.portfolio import Valuation
from bot.domain.positions import FundingRate, FuturesAccount, Position

STATE_KEY = "derivatives_state"  # the journal's meta: the last look, for `status` and the API


@dataclass(frozen=True, slots=True)
class PerpsLook:
    """One poll's view of the perpetuals, and the portfolio as net exposures."""

    spot: Valuation
    positions: tuple[Position, ...]
    account: FuturesAccount
    rates: Mapping[str, FundingRate]
    moves: Mapping[str, Decimal]
    view: ExposureView
    health: MarginHealth
    valuation: Valuation  # each asset's net exposure against its target and band


@dataclass(frozen=True, slots=True)
class ExposurePlan:
    allocation: Allocation
    spot_targets: dict[str, Decimal]
    reducing: tuple[Leg, ...]
    opening: tuple[Leg, ...]
    held_back: tuple[str, ...]  # openings refused by the margin limits, and why
    valuation: Valuation  # the exposures before the rebalance (after any collateral moved)


def exposure_valuation(spot: Valuation, view: ExposureView) -> Valuation:
    """The portfolio as net exposures, in the spot valuation's shape: each asset's value is its
    spot value plus its perpetual's notional, its balance the base amount of both, its weight a
    share of the whole equity (spot and the futures wallet); the quote is what the rest leaves.
    Bands and targets are the spot valuation's: they now bound exposures."""
    equity = view.equity
    rows = []
    for p in spot.positions:
        if p.asset == spot.quote:
            continue
        x = view.asset(p.asset)
        net = x.spot + x.perp
        weight = net / equity if equity > 0 else ZERO
        rows.append(replace(p, balance=p.balance + x.perp_base, value=net, weight=weight))
    cash = equity - sum((r.value for r in rows), ZERO)
    quote = spot.position(spot.quote)
    weight = cash / equity if equity > 0 else ZERO
    rows.append(replace(quote, balance=cash, value=cash, weight=weight))
    return replace(spot, total=equity, positions=tuple(rows))


def state(look: PerpsLook, at: float) -> dict[str, object]:
    """The last look as the journal keeps it (decimals as text): positions with their margin,
    the futures wallet, leverage, the breaches."""
    rows = []
    for p, h in zip(look.positions, look.health.positions, strict=True):
        rows.append(
            {
                "symbol": p.symbol,
                "side": p.side.value,
                "contracts": str(p.contracts),
                "notional": str(p.notional),
                "mark": str(p.mark_price),
                "entry": str(p.entry_price),
                "liquidation": None if h.liquidation.price is None else str(h.liquidation.price),
                "liquidation_recomputed": h.liquidation.recomputed,
                "distance": None if h.distance is None else str(h.distance),
                "floor": str(h.floor),
                "margin_mode": p.margin_mode.value,
            }
        )
    rates = {s: str(r.rate) for s, r in sorted(look.rates.items())}
    return {
        "at": at,
        "positions": rows,
        "futures_wallet": str(look.account.wallet),
        "futures_equity": str(look.account.equity),
        "leverage": str(look.view.leverage),
        "futures_leverage": str(look.view.futures_leverage),
        "margin_ratio": None if look.health.margin_ratio is None else str(look.health.margin_ratio),
        "breaches": [b.describe() for b in look.health.breaches],
        "funding_rates": rates,
    }


def mark_of(symbol: str, look: PerpsLook) -> Decimal:
    """A perpetual's mark: its funding rate's, else its position's."""
    rate = look.rates.get(symbol)
    if rate is not None:
        return rate.mark_price
    return next(p.mark_price for p in look.positions if p.symbol == symbol)
