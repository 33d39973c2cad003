"""The public /fapi endpoints: ping, time, exchangeInfo, depth, the tickers, premiumIndex (mark,
index, funding) and the funding rate history.

Each takes the `Venue` and the request's parameters and returns the JSON body. Every request is
charged its USD-M weight on the simulator's one weight budget (`SimExchange.charge`: latency,
maintenance, budget, injected faults, as for spot), under the method name "fapi_<endpoint>";
futures orders are not counted in the spot order-rate limits (exchangeInfo shows USD-M's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sim.binance import fapi_wire
from bot.sim.binance.fapi_venue import Futures
from bot.sim.binance.limits import weight_budget
from bot.sim.binance.params import Params, integer, limit
from bot.sim.binance.replies import error, unknown_error
from bot.sim.binance.venue import Venue
from bot.sim.binance.wire import fmt

DEPTHS = (5, 10, 20, 50, 100, 500, 1000)  # the limits /fapi/v1/depth takes
FUNDING_HISTORY_MAX = 1000


def futures_of(venue: Venue) -> Futures:
    """The venue's futures side (the /fapi routes exist only with one)."""
    if venue.futures is None:
        raise unknown_error()
    return venue.futures


async def charge(venue: Venue, method: str, weight: int) -> Futures:
    """Admit a /fapi request of `weight` (see the module docstring) with the futures market run
    up to the server's time before and after (the latency is clock time)."""
    futures = futures_of(venue)
    futures.engine.advance_to(venue.clock.time())
    await venue.exchange.charge(f"fapi_{method}", weight)
    futures.engine.advance_to(venue.clock.time())
    return futures


def depth_weight(count: int) -> int:
    """Binance's weight of GET /fapi/v1/depth by `limit`."""
    if count <= 50:
        return 2
    if count <= 100:
        return 5
    return 10 if count <= 500 else 20


async def ping(venue: Venue, params: Params) -> dict[str, Any]:
    await charge(venue, "ping", 1)
    return {}


async def server_time(venue: Venue, params: Params) -> dict[str, Any]:
    await charge(venue, "time", 1)
    return {"serverTime": venue.now_ms()}


async def exchange_info(venue: Venue, params: Params) -> dict[str, Any]:
    futures = await charge(venue, "exchange_info", 1)
    engine = futures.engine
    return fapi_wire.exchange_info(
        ((spec, engine.filters.get(s)) for s, spec in engine.specs.items()),
        venue.now_ms(),
        weight_budget(venue.exchange),
    )


async def depth(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    count = limit(params, 500, 1000)
    if count not in DEPTHS:
        raise error(400, -1130, "Data sent for parameter 'limit' is not valid.")
    await charge(venue, "depth", depth_weight(count))
    bids, asks = futures.engine.book(symbol)
    update = futures.engine.now_ms
    return fapi_wire.depth(update, bids, asks, count, venue.now_ms())


async def ticker_24hr(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "ticker_24hr", 1 if symbol else 40)
    now = venue.now_ms()
    books = futures.engine.books
    return _one_or_all(
        futures,
        symbol,
        lambda s: fapi_wire.ticker_24hr(futures.symbols.id(s), books[s].stats, now),
    )


async def book_ticker(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "book_ticker", 2 if symbol else 5)
    now, engine = venue.now_ms(), futures.engine
    return _one_or_all(
        futures,
        symbol,
        lambda s: fapi_wire.book_ticker(futures.symbols.id(s), *engine.book(s), now),
    )


async def ticker_price(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "ticker_price", 1 if symbol else 2)
    now, books = venue.now_ms(), futures.engine.books
    return _one_or_all(
        futures,
        symbol,
        lambda s: fapi_wire.price_ticker(futures.symbols.id(s), books[s].stats, now),
    )


async def premium_index(venue: Venue, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "premium_index", 1 if symbol else 10)
    now, engine = venue.now_ms(), futures.engine

    def one(s: str) -> dict[str, Any]:
        return fapi_wire.premium_index(
            futures.symbols.id(s),
            engine.mark_price(s),
            engine.index_price(s),
            engine.last_funding_rate(s),
            engine.specs[s].interest_rate,
            round(engine.next_funding_time(s) * 1000 + engine.time_offset * 1000),
            now,
        )

    return _one_or_all(futures, symbol, one)


async def funding_rate_history(venue: Venue, params: Params) -> list[dict[str, Any]]:
    """GET /fapi/v1/fundingRate: the settlements (from the income of the positions that paid
    them: a settlement with no position open is not recorded), oldest first."""
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    start, end = integer(params, "startTime"), integer(params, "endTime")
    count = limit(params, 100, FUNDING_HISTORY_MAX)
    await charge(venue, "funding_rate", 1)
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for i in futures.engine.incomes:
        if i.type.value != "FUNDING_FEE" or i.rate is None:
            continue
        if (symbol and i.symbol != symbol) or (start and i.time_ms < start):
            continue
        if end and i.time_ms > end:
            continue
        seen.setdefault(
            (i.symbol, i.time_ms),
            {
                "symbol": futures.symbols.id(i.symbol),
                "fundingRate": fmt(i.rate),
                "fundingTime": i.time_ms,
                "markPrice": "",
            },
        )
    rows = sorted(seen.values(), key=lambda r: (r["fundingTime"], r["symbol"]))
    return rows[:count] if start is not None else rows[-count:]


def _one_or_all(
    futures: Futures, symbol: str | None, one: Callable[[str], dict[str, Any]]
) -> dict[str, Any] | list[dict[str, Any]]:
    """One object for `symbol`, a list of every perpetual without, as Binance does."""
    if symbol is not None:
        return one(symbol)
    return [one(s) for s in futures.engine.specs]
