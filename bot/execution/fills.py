"""Reading a leg's fills and valuing their fees: once when the leg ends, again at every
reconciliation until they are complete. Fills are never lost and fees never guessed silently.

Trades are read from the exchange's own clock (the orders' timestamps as the exchange gave them,
less a margin), never the host's, page after page until every order's trades add up to what the
exchange says it filled. A fee is valued in the market's quote: charged in the base, at the
fill's price; charged in a third currency (BNB on Binance), at that currency's mid. A fee that
cannot be valued counts at the market's fee rate, and says so in the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain.market import ZERO, Market
from bot.domain.orders import FillReport
from bot.errors import GatewayError
from bot.exchange.gateway import Gateway
from bot.observability import get_logger

log = get_logger("bot.execution")

# Trades are read from this long before the earliest order's time on the exchange's clock.
SINCE_MARGIN_MS = 1000
# Without an exchange timestamp, from this long before the host's time of the first order.
HOST_MARGIN_MS = 60_000
# A bound on the trade pages one read goes through (each page moves the cursor on).
MAX_TRADE_PAGES = 200


@dataclass(frozen=True, slots=True)
class FillsRead:
    fills: list[FillReport]
    complete: bool  # every order's trades add up to its filled amount
    fees: Decimal = ZERO  # of the fills read, in the market's quote
    paid: Mapping[str, Decimal] = field(default_factory=dict)  # by currency, as charged


def since_ms(exchange_times: Iterable[int | None], host_start: float) -> int:
    """Where to start reading a leg's trades: its earliest order on the exchange's clock, less a
    margin; the host's clock, less a wide margin, when an order has no exchange time."""
    times = list(exchange_times)
    if times and all(t is not None for t in times):
        return min(t for t in times if t is not None) - SINCE_MARGIN_MS
    return int(host_start * 1000) - HOST_MARGIN_MS


async def read_fills(
    gateway: Gateway, market: Market, filled: Mapping[str, Decimal], since: int
) -> FillsRead:
    """The trades of the orders in `filled` (exchange id -> filled amount), and the fees of the
    trades read. A failed query is not an answer: the result is incomplete, and the caller
    estimates the fees until a later read completes it."""
    try:
        fills, complete = await fetch_fills(gateway, market.symbol, filled, since)
    except GatewayError as exc:
        log.warning("fills_unread", symbol=market.symbol, error=str(exc))
        fills, complete = [], False
    if not complete:
        log.warning("fills_incomplete", symbol=market.symbol, read=len(fills))
    fees, paid = await value_fees(gateway, market, fills)
    return FillsRead(fills, complete, fees, paid)


def estimated_fees(market: Market, cost: Decimal) -> Decimal:
    """Fees on `cost` (market quote) while the trades are unread: the higher rate, never 0."""
    return cost * market.max_fee


async def fetch_fills(
    gateway: Gateway, symbol: str, filled: Mapping[str, Decimal], since_ms: int
) -> tuple[list[FillReport], bool]:
    """The trades of our orders on `symbol` (`filled`: exchange order id -> the amount the
    exchange says it filled), read from `since_ms` on the exchange's clock, page after page
    (the profile's page size, whatever the exchange caps it at) until every order's trades
    add up to its filled amount. Returns the trades and whether they are complete."""
    if gateway.profile.trades_by_order:
        return await _fetch_by_order(gateway, symbol, filled)
    found: dict[str, FillReport] = {}
    seen: set[str] = set()
    cursor = since_ms
    from_id: int | None = None  # on an exchange that pages by trade id, after the first
    by_id = gateway.profile.trades_from_id
    for _ in range(MAX_TRADE_PAGES):
        if from_id is not None and by_id is not None:
            page = await gateway.fetch_my_trades(
                symbol, None, gateway.profile.trades_page, {by_id: from_id}
            )
        else:
            page = await gateway.fetch_my_trades(symbol, cursor, gateway.profile.trades_page)
        fresh = [t for t in page if t.trade_id not in seen]
        seen.update(t.trade_id for t in page)
        found.update({t.trade_id: t for t in fresh if t.exchange_order_id in filled})
        if _covered(found.values(), filled):
            return sorted(found.values(), key=_trade_order), True
        stamps = [t.timestamp_ms for t in page if t.timestamp_ms is not None]
        if not fresh or not stamps:
            break  # nothing more to read
        ids = [t.trade_id for t in page]
        if by_id is not None and all(i.isdigit() for i in ids):
            from_id = max(int(i) for i in ids) + 1
        else:
            # The next page starts at the last trade's time (that millisecond's trades are
            # read again, and skipped as seen); a page all of one millisecond moves one on.
            cursor = max(stamps) if max(stamps) > cursor else cursor + 1
    return sorted(found.values(), key=_trade_order), _covered(found.values(), filled)


async def _fetch_by_order(
    gateway: Gateway, symbol: str, filled: Mapping[str, Decimal]
) -> tuple[list[FillReport], bool]:
    """Each filled order's trades, asked for order by order."""
    found: dict[str, FillReport] = {}
    for order_id, amount in filled.items():
        if amount > ZERO:
            trades = await gateway.fetch_order_trades(symbol, order_id)
            found.update({t.trade_id: t for t in trades if t.exchange_order_id == order_id})
    return sorted(found.values(), key=_trade_order), _covered(found.values(), filled)


async def value_fees(
    gateway: Gateway, market: Market, fills: Iterable[FillReport]
) -> tuple[Decimal, dict[str, Decimal]]:
    """The fills' fees in the market's quote, and as charged (by currency)."""
    total = ZERO
    paid: dict[str, Decimal] = {}
    rates: dict[str, Decimal | None] = {}
    for f in fills:
        currency = f.fee_currency or market.quote
        paid[currency] = paid.get(currency, ZERO) + f.fee
        if currency == market.quote:
            total += f.fee
        elif currency == market.base:
            total += f.fee * f.price
        else:
            if currency not in rates:
                rates[currency] = await _rate(gateway, currency, market.quote)
            rate = rates[currency]
            if rate is None:
                log.warning("fee_not_valued", currency=currency, symbol=market.symbol)
                total += f.cost * (market.maker_fee if f.maker else market.taker_fee)
            else:
                total += f.fee * rate
    return total, paid


async def _rate(gateway: Gateway, currency: str, quote: str) -> Decimal | None:
    try:
        return await gateway.mid_price(currency, quote)
    except GatewayError as exc:
        log.warning("fee_rate_unavailable", currency=currency, error=str(exc))
        return None


def _covered(fills: Iterable[FillReport], filled: Mapping[str, Decimal]) -> bool:
    """Every order's trades add up to (at least) what the exchange says it filled."""
    got: dict[str, Decimal] = {}
    for f in fills:
        got[f.exchange_order_id] = got.get(f.exchange_order_id, ZERO) + f.amount
    return all(got.get(order, ZERO) >= amount for order, amount in filled.items())


def _trade_order(fill: FillReport) -> tuple[int, str]:
    return (fill.timestamp_ms or 0, fill.trade_id)
