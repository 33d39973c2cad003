"""The public endpoints: ping, time, system status, exchangeInfo, depth and the tickers.

Each takes the `Venue` and the request's parameters and returns the JSON body. Calls with a
unified method in `SimExchange` go through it; the others are charged their Binance weight with
`SimExchange.charge`, so the weight budget and injected faults apply to every request alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sim.binance import wire
from bot.sim.binance.limits import ticker_weight, weight_budget
from bot.sim.binance.params import Params, limit
from bot.sim.binance.replies import illegal
from bot.sim.binance.venue import Venue
from bot.sim.faults import WEIGHTS


async def ping(venue: Venue, params: Params) -> dict[str, Any]:
    await venue.exchange.charge("ping", 1)
    return {}


async def server_time(venue: Venue, params: Params) -> dict[str, Any]:
    await venue.exchange.charge("time", 1)
    return {"serverTime": venue.now_ms()}


async def system_status(venue: Venue, params: Params) -> dict[str, Any]:
    """{"status": 0, "msg": "normal"}, or 1 and "system_maintenance" in a maintenance window."""
    status: dict[str, Any] = (await venue.exchange.fetch_status())["info"]
    return status


async def exchange_info(venue: Venue, params: Params) -> dict[str, Any]:
    symbols = venue.symbols.asked(params)
    await venue.exchange.charge("load_markets", WEIGHTS["load_markets"])
    wanted = symbols if symbols is not None else list(venue.engine.markets)
    engine, config = venue.engine, venue.exchange.faults.config
    return wire.exchange_info(
        ((engine.markets[s], engine.filters[s]) for s in wanted),
        venue.now_ms(),
        weight_budget(venue.exchange),
        venue.notional_filter,
        config.orders_per_10s,
        config.orders_per_day,
    )


async def depth(venue: Venue, params: Params) -> dict[str, Any]:
    symbol = venue.symbols.required(params)
    count = limit(params, 100, 5000)
    raw = await venue.exchange.fetch_order_book(symbol, count)
    bids, asks = venue.engine.book(symbol)  # the state the call just read, exactly
    return wire.depth(int(raw["nonce"]), bids, asks, count)


async def ticker_24hr(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    symbols = venue.symbols.asked(params)
    if params.get("type", "FULL") not in ("FULL", "MINI"):
        raise illegal("type", "FULL, MINI")
    await venue.exchange.charge("fetch_tickers", ticker_weight(symbols))
    now = venue.now_ms()

    def one(s: str) -> dict[str, Any]:
        return wire.ticker_24hr(s, *venue.engine.book(s), venue.engine.books[s].stats, now)

    return _one_or_all(venue, params, symbols, one)


async def book_ticker(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    symbols = venue.symbols.asked(params)
    await venue.exchange.charge("fetch_bids_asks", 2 if params.get("symbol") else 4)
    return _one_or_all(venue, params, symbols, lambda s: wire.book_ticker(s, *venue.engine.book(s)))


async def ticker_price(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    symbols = venue.symbols.asked(params)
    await venue.exchange.charge("fetch_last_prices", 2 if params.get("symbol") else 4)
    return _one_or_all(
        venue, params, symbols, lambda s: wire.price_ticker(s, venue.engine.books[s].stats)
    )


def _one_or_all(
    venue: Venue,
    params: Params,
    symbols: list[str] | None,
    one: Callable[[str], dict[str, Any]],
) -> dict[str, Any] | list[dict[str, Any]]:
    """One object for `symbol`, a list for `symbols` or for all markets, as Binance does."""
    if params.get("symbol"):
        return one(venue.symbols.of(params["symbol"]))
    return [one(s) for s in (symbols if symbols is not None else venue.engine.markets)]
