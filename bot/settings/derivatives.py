"""`[derivatives]`: perpetual futures beside spot. Each target becomes a net exposure (spot plus
the perpetual's position, in the quote) that spot, a perpetual, or both may carry; leverage has
a target and a cap; the margin guard's limits. Off unless `enabled`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.domain.positions import MarginMode, PositionMode
from bot.settings.fields import Asset, Between, ExchangeId, Flag, Fraction

Carrying = Literal["spot", "perp", "both"]
Leverage = Annotated[Decimal, Between(1, 20)]

# The perpetuals' venue of each spot exchange, when `exchange` is not given: ccxt's class for
# Binance's USD-M futures is its own; Bybit's one class trades both.
PERP_VENUES = {"binance": "binanceusdm", "bybit": "bybit"}


class DerivativesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: Flag = False
    # The ccxt id of the perpetuals' venue: by default the spot exchange's (binance ->
    # binanceusdm). It shares [exchange]'s mode and credentials.
    exchange: ExchangeId | None = None
    # Which instruments may carry each asset's exposure: "spot" (the default), "perp", or "both"
    # (the perpetual when its funding, a year of it, costs less than `carry_rate`).
    instruments: dict[Asset, Carrying] = Field(default_factory=dict, max_length=1000)
    # The perpetual of an asset, when not ASSET/QUOTE:QUOTE (a linear swap settled in the quote).
    symbols: dict[Asset, Annotated[str, Field(min_length=3, max_length=64)]] = Field(
        default_factory=dict, max_length=1000
    )
    # The account's settings the bot expects: it reads the account's and refuses to trade on a
    # mismatch rather than change them under open positions.
    margin_mode: MarginMode = MarginMode.CROSS
    position_mode: PositionMode = PositionMode.ONE_WAY
    # Leverage: the futures account's (perpetual notional / its equity) and the portfolio's
    # (gross exposure, spot and perpetuals, long and short, over the whole equity). New
    # exposure opens up to `target_leverage`; above `max_leverage` the guard de-levers back to
    # `target_leverage`.
    target_leverage: Leverage = Decimal(2)
    max_leverage: Leverage = Decimal(3)
    # The margin guard, before any other trade at every poll: a position nearer liquidation
    # than max(move_multiple x its 24 h realised move, liquidation_floor) of its mark, or an
    # account whose maintenance margin passes max_margin_ratio of its margin balance.
    liquidation_floor: Fraction = Decimal("0.15")
    move_multiple: Annotated[Decimal, Between(0, 100)] = Decimal(3)
    max_margin_ratio: Fraction = Decimal("0.5")
    # Move the quote from spot to the futures wallet to restore the margin, before cutting a
    # position, where the venue supports transfers.
    transfer_collateral: Flag = True
    # A year's cost of carrying exposure in spot instead (what the cash would earn), a fraction.
    carry_rate: Annotated[Decimal, Between(-1, 1)] = Decimal("0.05")

    @model_validator(mode="after")
    def _leverage_order(self) -> DerivativesSettings:
        if self.target_leverage > self.max_leverage:
            raise ValueError(
                f"derivatives.target_leverage ({self.target_leverage}) must not exceed"
                f" derivatives.max_leverage ({self.max_leverage})"
            )
        return self

    def venue(self, spot_exchange: str) -> str | None:
        """The ccxt id of the perpetuals' venue (None: the spot exchange has no default)."""
        return self.exchange or PERP_VENUES.get(spot_exchange)

    def perp_symbol(self, asset: str, quote: str) -> str:
        return self.symbols.get(asset, f"{asset}/{quote}:{quote}")

    def perp_assets(self) -> list[str]:
        """The assets a perpetual may carry."""
        return sorted(a for a, c in self.instruments.items() if c != "spot")


def derivatives_problems(
    derivatives: DerivativesSettings,
    targets: dict[str, Decimal] | None,
    quote: str,
    exchange: str,
    *,
    gliding: bool = False,
    one_way: str | None = None,
) -> list[str]:
    """What makes `[derivatives]` unfit for the portfolio, one line each (none: it fits).
    `gliding`: glide caps are set; `one_way`: the rebalance mode when not "full"."""
    if not derivatives.enabled:
        return []
    problems = []
    if gliding:
        problems.append(
            "derivatives: glide paths (rebalance.glide_max_*) do not apply to exposures yet;"
            " unset them or turn [derivatives] off"
        )
    if one_way is not None:
        problems.append(
            f'derivatives: rebalance.mode = "{one_way}" does not apply to exposures yet; use "full"'
        )
    if derivatives.venue(exchange) is None:
        problems.append(
            f"derivatives.exchange: {exchange} has no known perpetuals venue; name its ccxt id"
        )
    if not derivatives.perp_assets():
        problems.append(
            'derivatives.instruments: no asset may be carried by a perpetual ("perp" or "both")'
        )
    for asset in sorted(set(derivatives.instruments) | set(derivatives.symbols)):
        if asset == quote:
            problems.append(f"derivatives.instruments.{asset}: the quote has no perpetual")
        elif targets is not None and asset not in targets:
            problems.append(f"derivatives.instruments.{asset}: {asset} is not in portfolio.targets")
    return problems
