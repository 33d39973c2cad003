"""The scenario's perpetual futures tables (`perps`, `futures`; see `scenario.py` and `perp.py`),
validated: money as exact decimals, one line per problem naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.domain.market import Market
from bot.errors import DomainError
from bot.sim.filters import MAX_NUM_ORDERS
from bot.sim.model import Regime
from bot.sim.perp_market import PerpSpec

Positive = Annotated[Decimal, Field(gt=0)]
NonNegative = Annotated[Decimal, Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerpMarketSpec(_Spec):
    """A linear perpetual on the spot market `underlying` (see `perp_market.PerpSpec`)."""

    underlying: str
    tick: Positive
    step: Positive
    top_depth: Positive
    contract_size: Positive = Decimal(1)
    min_amount: NonNegative = Decimal(0)
    min_cost: NonNegative = Decimal(0)
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    level_spacing_ticks: Annotated[int, Field(ge=1)] = 1
    regime: Regime = Regime()
    mmr: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.004")
    max_leverage: Annotated[int, Field(ge=1)] = 125
    leverage: Annotated[int, Field(ge=1)] = 20
    margin_mode: Literal["cross", "isolated"] = "cross"
    funding_interval: Annotated[float, Field(gt=0)] = 8 * 3600.0
    interest_rate: Decimal = Decimal("0.0001")
    premium_clamp: NonNegative = Decimal("0.0005")
    funding_cap: NonNegative = Decimal("0.0075")
    mark_clamp: NonNegative = Decimal("0.005")
    liquidation_fee: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.015")
    basis: float = 0.0001
    basis_noise: Annotated[float, Field(ge=0)] = 0.0
    max_open_orders: Annotated[int, Field(ge=0)] = MAX_NUM_ORDERS

    @model_validator(mode="after")
    def _leverage(self) -> PerpMarketSpec:
        if self.leverage > self.max_leverage:
            raise ValueError(f"leverage {self.leverage} is above max_leverage {self.max_leverage}")
        return self

    def to_spec(self, symbol: str) -> PerpSpec:
        base, _, rest = symbol.partition("/")
        quote, _, _ = rest.partition(":")
        market = Market(
            symbol=symbol,
            base=base,
            quote=quote,
            amount_step=self.step,
            price_tick=self.tick,
            min_amount=self.min_amount,
            min_cost=self.min_cost,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            contract_size=self.contract_size,
        )
        return PerpSpec(
            market=market,
            underlying=self.underlying,
            top_depth=self.top_depth,
            regime=self.regime,
            level_spacing_ticks=self.level_spacing_ticks,
            maintenance_margin_rate=self.mmr,
            max_leverage=self.max_leverage,
            default_leverage=self.leverage,
            funding_interval=self.funding_interval,
            interest_rate=self.interest_rate,
            premium_clamp=self.premium_clamp,
            funding_cap=self.funding_cap,
            mark_clamp=self.mark_clamp,
            liquidation_fee=self.liquidation_fee,
            basis=self.basis,
            basis_noise=self.basis_noise,
        )


class PositionSpec(_Spec):
    """A futures position the scenario starts with (no fee, no income)."""

    symbol: str
    side: Literal["long", "short"]
    contracts: Positive
    entry: Positive
    leverage: Annotated[int, Field(ge=1)] | None = None  # None: the perp's `leverage`
    margin_mode: Literal["cross", "isolated"] | None = None  # None: the perp's `margin_mode`


class FuturesSpec(_Spec):
    """The futures account: its wallet (in the perps' settlement asset), position mode and
    starting positions."""

    wallet: NonNegative = Decimal(0)
    hedged: bool = False
    positions: list[PositionSpec] = Field(default_factory=list)


def perp_problems(
    markets: Mapping[str, object], perps: Mapping[str, PerpMarketSpec], futures: FuturesSpec
) -> list[str]:
    """One line per problem of the `perps` and `futures` tables, against the spot `markets`."""
    problems = []
    settles = set()
    for symbol, perp in perps.items():
        pair, colon, settle = symbol.partition(":")
        base, slash, quote = pair.partition("/")
        if not (colon and slash and base.isalnum() and quote.isalnum() and settle == quote
                and symbol == symbol.upper()):  # fmt: skip
            problems.append(f"perps.{symbol}: a perp is BASE/QUOTE:QUOTE in capitals")
            continue
        settles.add(settle)
        if perp.underlying not in markets:
            problems.append(f"perps.{symbol}.underlying: {perp.underlying} is not in markets")
        elif perp.underlying != pair:
            problems.append(f"perps.{symbol}.underlying: {perp.underlying} is not {pair}")
        try:
            perp.to_spec(symbol)
        except (DomainError, ValueError) as exc:
            problems.append(f"perps.{symbol}: {exc}")
    if len(settles) > 1:
        problems.append(f"perps: one settlement asset for all, got {sorted(settles)}")
    seen = set()
    for i, pos in enumerate(futures.positions):
        where = f"futures.positions.{i}"
        found = perps.get(pos.symbol)
        if found is None:
            problems.append(f"{where}.symbol: {pos.symbol} is not in perps")
            continue
        key = (pos.symbol, pos.side if futures.hedged else "")
        if key in seen:
            problems.append(f"{where}: a second {pos.symbol} position (one per side)")
        seen.add(key)
        if pos.leverage is not None and pos.leverage > found.max_leverage:
            problems.append(
                f"{where}.leverage: {pos.leverage} is above max_leverage {found.max_leverage}"
            )
    if (futures.wallet or futures.positions) and not perps:
        problems.append("futures: a futures account needs perps")
    return problems
