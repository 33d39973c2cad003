"""Binance's symbol filters, as the matcher checks them on every new order.

The domain `Market` holds the tick, the step and the minimums; `Filters` holds the rest of a
symbol's filters, with Binance's names and, where a scenario leaves them out, Binance's usual
values (`Filters.binance()`); `Filters()` sets none of them (paper trading). A limit of 0 is no
limit, as on Binance.

- PRICE_FILTER `maxPrice` (`max_price`): a limit price above it is refused.
- LOT_SIZE `maxQty` (`max_amount`): any order's amount above it is refused.
- MARKET_LOT_SIZE `minQty`, `maxQty`, `stepSize` (`market_min_amount`, `market_max_amount`,
  `market_step`): a MARKET order's amount, on top of LOT_SIZE.
- NOTIONAL `maxNotional` (`max_cost`): a limit order's `amount * price` above it is refused
  (Binance's `applyMaxToMarket` false: not market orders).
- MAX_NUM_ORDERS `maxNumOrders` (`max_open_orders`): a new order when the account already has
  that many open on the symbol is refused.

`check_filters` raises the refusal with the filter's name in parentheses ("(LOT_SIZE)"), which
the HTTP front turns into Binance's "Filter failure: LOT_SIZE". The classes are those ccxt's
binance raises for Binance's replies: `ccxt.InvalidOrder` for PRICE_FILTER, LOT_SIZE,
MARKET_LOT_SIZE (-1013: ccxt reads the filter's name) and MAX_NUM_ORDERS (-2010);
`ccxt.BadRequest` for NOTIONAL (-1013, for which ccxt has no rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import ccxt

from bot.domain.market import ZERO, Market

# Binance's usual values: what exchangeInfo publishes for a major spot symbol.
MAX_PRICE = Decimal(1_000_000_000)
MAX_QTY = Decimal(9_000_000_000)
MAX_NOTIONAL = Decimal(9_000_000_000_000)
MAX_NUM_ORDERS = 200


@dataclass(frozen=True, slots=True)
class Filters:
    """A symbol's filters beyond the domain `Market`; 0 disables a limit."""

    max_price: Decimal = ZERO
    max_amount: Decimal = ZERO
    max_cost: Decimal = ZERO
    market_min_amount: Decimal = ZERO
    market_max_amount: Decimal = ZERO
    market_step: Decimal = ZERO
    max_open_orders: int = 0

    @classmethod
    def binance(cls) -> Filters:
        """Binance's usual limits (nothing a simulated order comes near, but 200 open orders)."""
        return cls(
            max_price=MAX_PRICE,
            max_amount=MAX_QTY,
            max_cost=MAX_NOTIONAL,
            market_max_amount=MAX_QTY,
            max_open_orders=MAX_NUM_ORDERS,
        )


def check_filters(
    exchange_id: str,
    market: Market,
    filters: Filters,
    amount: Decimal,
    price: Decimal | None,
    reference: Decimal | None,
    open_orders: int,
) -> None:
    """Refuse an order of `amount` at `price` (None: a market order, valued at `reference`, the
    best opposite price, if any) when it breaks a filter; `open_orders`: the account's open
    orders on the symbol."""
    s, f = market.symbol, filters

    def refuse(why: str) -> ccxt.InvalidOrder:
        return ccxt.InvalidOrder(f"{exchange_id} {s}: {why}")

    if amount <= 0:
        raise refuse(f"amount {amount} must be positive")
    if amount % market.amount_step != 0:
        raise refuse(
            f"amount {amount} is not a multiple of the step {market.amount_step} (LOT_SIZE)"
        )
    if amount < market.min_amount:
        raise refuse(f"amount {amount} is below the minimum {market.min_amount} (LOT_SIZE)")
    if f.max_amount and amount > f.max_amount:
        raise refuse(f"amount {amount} is above the maximum {f.max_amount} (LOT_SIZE)")
    if price is None:
        if amount < f.market_min_amount:
            raise refuse(
                f"amount {amount} is below the market minimum {f.market_min_amount}"
                " (MARKET_LOT_SIZE)"
            )
        if f.market_max_amount and amount > f.market_max_amount:
            raise refuse(
                f"amount {amount} is above the market maximum {f.market_max_amount}"
                " (MARKET_LOT_SIZE)"
            )
        if f.market_step and amount % f.market_step != 0:
            raise refuse(
                f"amount {amount} is not a multiple of the market step {f.market_step}"
                " (MARKET_LOT_SIZE)"
            )
    else:
        if price <= 0:
            raise refuse(f"price {price} must be positive")
        if price % market.price_tick != 0:
            raise refuse(
                f"price {price} is not a multiple of the tick {market.price_tick} (PRICE_FILTER)"
            )
        if f.max_price and price > f.max_price:
            raise refuse(f"price {price} is above the maximum {f.max_price} (PRICE_FILTER)")
    value = price if price is not None else reference
    if value is not None and amount * value < market.min_cost:
        raise ccxt.BadRequest(
            f"{exchange_id} {s}: notional {amount * value} is below the minimum"
            f" {market.min_cost} {market.quote} (NOTIONAL)"
        )
    if price is not None and f.max_cost and amount * price > f.max_cost:
        raise ccxt.BadRequest(
            f"{exchange_id} {s}: notional {amount * price} is above the maximum {f.max_cost}"
            f" {market.quote} (NOTIONAL)"
        )
    if f.max_open_orders and open_orders >= f.max_open_orders:
        raise refuse(
            f"the account has {open_orders} open orders on the symbol, the most allowed"
            " (MAX_NUM_ORDERS)"
        )
