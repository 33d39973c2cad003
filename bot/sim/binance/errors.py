"""The simulator's ccxt errors as Binance answers them: the reply that makes ccxt raise, against
this server, the error the simulator raised (see the table in `bot.sim.binance`).
"""

from __future__ import annotations

import math
import re

import ccxt
import structlog

from bot.sim.binance.limits import too_many, too_many_orders
from bot.sim.binance.replies import Drop, Reply, error, maintenance, unknown_error
from bot.sim.binance.venue import Venue
from bot.sim.faults import BACKEND_TIMEOUT, INTERNAL_ERROR, OUTSIDE_RECV_WINDOW

log = structlog.get_logger("bot.sim.binance")

_FILTER_IN_MESSAGE = re.compile(
    r"\((LOT_SIZE|MARKET_LOT_SIZE|PRICE_FILTER|NOTIONAL|MAX_NUM_ORDERS)\)"
)
# Checked by the matching engine, not the API: Binance answers its failure with -2010.
_ENGINE_FILTERS = ("MAX_NUM_ORDERS",)


def translate(exc: ccxt.BaseError, endpoint: str, venue: Venue) -> Reply | Drop:
    """The reply to `endpoint` (a route's name) when the simulator raised `exc`; `Drop` closes
    the connection (a network error)."""
    text = str(exc)
    if isinstance(exc, ccxt.DDoSProtection):
        retry = venue.exchange.last_response_headers.get("Retry-After")
        seconds = int(retry) if retry else math.ceil(60 - venue.clock.time() % 60)
        if "-1015" in text:
            return too_many_orders(text, seconds)
        return too_many(seconds, venue.exchange)
    if isinstance(exc, ccxt.RequestTimeout):
        return error(503, -1007, BACKEND_TIMEOUT.removeprefix("-1007 "))
    if isinstance(exc, ccxt.OnMaintenance):
        return maintenance()
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return Reply(503, "Service Unavailable")
    if isinstance(exc, ccxt.InvalidNonce):
        return error(400, -1021, OUTSIDE_RECV_WINDOW.removeprefix("-1021 "))
    if isinstance(exc, ccxt.NetworkError):
        return Drop()
    if type(exc) is ccxt.OperationFailed:
        return error(500, -1001, INTERNAL_ERROR.removeprefix("-1001 "))
    if isinstance(exc, ccxt.InsufficientFunds):
        return error(400, -2010, "Account has insufficient balance for requested action.")
    if isinstance(exc, ccxt.OrderImmediatelyFillable):
        return error(400, -2010, "Order would immediately match and take.")
    if isinstance(exc, ccxt.DuplicateOrderId):
        return error(400, -2010, "Duplicate order sent.")
    if isinstance(exc, ccxt.OrderNotFound):
        if endpoint in ("cancelOrder", "cancelAll"):
            return error(400, -2011, "Unknown order sent.")
        return error(400, -2013, "Order does not exist.")
    if isinstance(exc, ccxt.BadSymbol):
        return error(400, -1121, "Invalid symbol.")
    found = _FILTER_IN_MESSAGE.search(text)
    if found and isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
        name = found.group(1)
        name = venue.notional_filter if name == "NOTIONAL" else name
        return error(400, -2010 if name in _ENGINE_FILTERS else -1013, f"Filter failure: {name}")
    if isinstance(exc, ccxt.InvalidOrder):
        if ": price " in text and "must be positive" in text:
            return error(400, -1013, "Invalid price.")
        if ": amount " in text and "must be positive" in text:
            return error(400, -1013, "Invalid quantity.")
        return error(400, -2010, text)
    if isinstance(exc, ccxt.ArgumentsRequired):
        return error(400, -1102, text)
    log.warning("binance_front_unmapped_error", endpoint=endpoint, error=type(exc).__name__)
    return unknown_error()
