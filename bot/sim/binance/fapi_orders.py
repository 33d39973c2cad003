"""The /fapi order endpoints: new order, cancel, cancel all, query, open orders, all orders and
the account's trades.

Binance's checks of an order's parameters happen here, in the order Binance makes them; the
futures engine's own (position side, reduce-only, margin, filters, post-only) raise ccxt errors
that `fapi_errors.translate` answers. Only LIMIT and MARKET orders exist (conditional orders are
Binance's algo endpoints: -4120); post-only is timeInForce GTX.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from bot.domain.market import Side
from bot.sim.account import CLIENT_ORDER_ID, OrderType, SimOrder, TimeInForce
from bot.sim.binance import fapi_wire
from bot.sim.binance.fapi_market import charge, futures_of
from bot.sim.binance.fapi_venue import Futures
from bot.sim.binance.params import Params, integer, limit, number
from bot.sim.binance.replies import error, illegal, mandatory, not_required
from bot.sim.binance.venue import Venue
from bot.sim.perp_errors import REDUCE_ONLY_NOT_REQUIRED

CONDITIONAL = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
# Parameters of conditional orders and of Binance's other order features, refused (-1106) on a
# LIMIT or MARKET order; `closePosition` and `priceProtect` only when true.
UNSUPPORTED = ("stopPrice", "activationPrice", "callbackRate", "goodTillDate")
ORDER_PARAMS = (
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "closePosition",
    "workingType",
    "priceProtect",
    "newOrderRespType",
    "priceMatch",
    "selfTradePreventionMode",
    *UNSUPPORTED,
)
_TIF = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "GTX": TimeInForce.PO,
}
DAY_MS = 24 * 3600 * 1000

T = TypeVar("T")


def _flag(params: Params, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise illegal(name, "true, false")
    return raw.lower() == "true"


async def new_order(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    side = params.get("side", "")
    if not side:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise error(400, -1117, "Invalid side.")
    kind = params.get("type", "")
    if not kind:
        raise mandatory("type")
    if kind in CONDITIONAL:
        raise error(
            400,
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API"
            " endpoints instead.",
        )
    if kind not in fapi_wire.ORDER_TYPES:
        raise error(400, -1116, "Invalid orderType.")
    for name in UNSUPPORTED:
        if params.get(name):
            raise not_required(name)
    for name in ("closePosition", "priceProtect"):
        if _flag(params, name):
            raise not_required(name)
    if params.get("priceMatch", "NONE") != "NONE":
        raise not_required("priceMatch")
    pside = params.get("positionSide") or None
    if pside is not None and pside not in POSITION_SIDES:
        raise illegal("positionSide", ", ".join(POSITION_SIDES))
    reduce_only = _flag(params, "reduceOnly")
    tif = params.get("timeInForce") or None
    quantity = number(params, "quantity")
    price = number(params, "price")
    if kind == "MARKET":
        for name, value in (("timeInForce", tif), ("price", price)):
            if value is not None:
                raise not_required(name)
    else:
        if tif is None:
            raise mandatory("timeInForce")
        if tif not in _TIF:
            raise error(400, -1115, "Invalid timeInForce.")
        if price is None:
            raise mandatory("price")
    if quantity is None:
        raise mandatory("quantity")
    client_id = params.get("newClientOrderId") or venue.client_id()
    if not CLIENT_ORDER_ID.match(client_id):
        raise illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
    if params.get("newOrderRespType", "ACK") not in ("ACK", "RESULT"):
        raise illegal("newOrderRespType", "ACK, RESULT")
    stp = params.get("selfTradePreventionMode") or fapi_wire.STP_MODE
    if stp not in STP_MODES:
        raise illegal("selfTradePreventionMode", ", ".join(STP_MODES))
    if stp != fapi_wire.STP_MODE:
        raise error(400, -1106, f"selfTradePreventionMode {stp}: {fapi_wire.STP_MODE} only.")
    await charge(venue, "new_order", 0)
    engine = futures.engine
    if reduce_only is not None and engine.hedged:  # sent at all, even false
        raise error(400, *REDUCE_ONLY_NOT_REQUIRED)
    order = engine.place(
        symbol,
        OrderType.MARKET if kind == "MARKET" else OrderType.LIMIT,
        Side.BUY if side == "BUY" else Side.SELL,
        quantity,
        price,
        time_in_force=_TIF[tif] if tif else TimeInForce.GTC,
        client_order_id=client_id,
        reduce_only=bool(reduce_only),
        position_side=pside,
    )
    flags = engine.flags(order.id)
    return fapi_wire.new_order_reply(
        order, futures.symbols.id(symbol), flags.reduce_only, flags.position_side
    )


async def cancel_order(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    order_id, client_id = _which_order(params)
    await charge(venue, "cancel_order", 1)
    order = futures.engine.cancel(order_id, client_id, symbol)
    return _order_json(futures, order)


async def cancel_all(venue: Venue, params: Params) -> dict[str, Any]:
    """DELETE /fapi/v1/allOpenOrders: Binance's success body, with or without open orders."""
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    await charge(venue, "cancel_all", 1)
    for order in futures.engine.open_orders(symbol):
        futures.engine.cancel(order.id, None, symbol)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


async def query_order(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    order_id, client_id = _which_order(params)
    await charge(venue, "query_order", 1)
    return _order_json(futures, futures.engine.find(order_id, client_id, symbol))


async def open_orders(venue: Venue, params: Params) -> list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "open_orders", 1 if symbol else 40)
    return [_order_json(futures, o) for o in futures.engine.open_orders(symbol)]


async def all_orders(venue: Venue, params: Params) -> list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    from_id = integer(params, "orderId")
    start, end = _time_range(params)
    count = limit(params, 500, 1000)
    await charge(venue, "all_orders", 5)
    orders = sorted(futures.engine.all_orders(symbol), key=lambda o: o.seq)
    ids, times = [int(o.id) for o in orders], [o.timestamp for o in orders]
    chosen = _window(orders, ids, times, from_id, start, end, count)
    return [_order_json(futures, o) for o in chosen]


async def user_trades(venue: Venue, params: Params) -> list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    order_id = integer(params, "orderId")
    from_id = integer(params, "fromId")
    start, end = _time_range(params)
    if from_id is not None and (start is not None or end is not None):
        raise error(400, -1128, "Combination of optional parameters invalid.")
    count = limit(params, 500, 1000)
    await charge(venue, "user_trades", 5)
    engine = futures.engine
    trades = sorted(engine.my_trades(symbol), key=lambda t: int(t.id))
    if order_id is not None:
        trades = [t for t in trades if t.order_id == str(order_id)]
    ids, times = [int(t.id) for t in trades], [t.timestamp for t in trades]
    chosen = _window(trades, ids, times, from_id, start, end, count)
    symbol_id = futures.symbols.id(symbol)
    return [
        fapi_wire.trade(
            t, symbol_id, engine.trade_pnl(t.id), engine.flags(t.order_id).position_side
        )
        for t in chosen
    ]


# ---- helpers ------------------------------------------------------------------------------------


def _order_json(futures: Futures, order: SimOrder) -> dict[str, Any]:
    flags = futures.engine.flags(order.id)
    return fapi_wire.order(
        order, futures.symbols.id(order.symbol), flags.reduce_only, flags.position_side
    )


def _which_order(params: Params) -> tuple[str | None, str | None]:
    """(order id, client order id) to look up: the order id wins when both are sent."""
    order_id = integer(params, "orderId")
    client_id = params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise error(
            400,
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    if order_id is not None:
        return str(order_id), None
    return None, client_id


def _time_range(params: Params) -> tuple[int | None, int | None]:
    """`startTime` and `endTime`: at most 7 days apart, the end not before the start."""
    start, end = integer(params, "startTime"), integer(params, "endTime")
    if start is not None and end is not None:
        if end < start:
            raise error(400, -1128, "Combination of optional parameters invalid.")
        if end - start > 7 * DAY_MS:
            raise error(400, -1127, "More than 7 days between startTime and endTime.")
    return start, end


def _window(
    items: Sequence[T],
    ids: Sequence[int],
    times: Sequence[int],
    from_id: int | None,
    start: int | None,
    end: int | None,
    count: int,
) -> list[T]:
    """From an id or a start time, the oldest `count` on; else the newest `count`; oldest
    first."""
    chosen = [
        item
        for item, i, t in zip(items, ids, times, strict=True)
        if (from_id is None or i >= from_id)
        and (start is None or t >= start)
        and (end is None or t <= end)
    ]
    if from_id is not None or start is not None:
        return chosen[:count]
    return chosen[-count:]
