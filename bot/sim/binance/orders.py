"""The signed endpoints: new order, cancel, cancel-replace, query, open orders, cancel all, order
and trade history, account and trade fees.

Each takes the `Venue` and the request's parameters and returns the JSON body. Binance's checks of
an order's parameters happen here, in the order Binance makes them; the simulator's own (balance,
filters, post-only) raise ccxt errors that `errors.translate` answers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from bot.domain.market import ZERO, Side, floor_to_step
from bot.sim.account import CLIENT_ORDER_ID, SimOrder
from bot.sim.account_api import DEFAULT_TRADES_PAGE
from bot.sim.binance import wire
from bot.sim.binance.params import Params, integer, limit, number, time_range
from bot.sim.binance.replies import Reply, error, illegal, mandatory, not_required
from bot.sim.binance.venue import Venue
from bot.sim.faults import WEIGHTS
from bot.sim.replace import MODES

TIME_IN_FORCE = ("GTC", "IOC", "FOK")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT")
UNSUPPORTED_ORDER_PARAMS = (
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
)

T = TypeVar("T")


# ---- account ------------------------------------------------------------------------------------


async def account(venue: Venue, params: Params) -> dict[str, Any]:
    omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
    await venue.exchange.fetch_balance()
    # Binance's account-wide rates; per market, see /sapi/v1/asset/tradeFee
    first = next(iter(venue.engine.markets.values()))
    return wire.account_info(
        venue.engine.account,
        first.maker_fee,
        first.taker_fee,
        venue.now_ms(),
        omit_zero=omit_zero,
    )


async def trade_fee(venue: Venue, params: Params) -> list[dict[str, Any]]:
    symbols = [venue.symbols.of(params["symbol"])] if params.get("symbol") else None
    await venue.exchange.charge("fetch_trading_fees", 1)
    wanted = symbols if symbols is not None else list(venue.engine.markets)
    return [wire.trade_fee(venue.engine.markets[s]) for s in wanted]


# ---- orders -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _NewOrder:
    """A new order's parameters, checked as Binance checks them."""

    symbol: str
    kind: str  # LIMIT, LIMIT_MAKER, MARKET
    side: Side
    quantity: Decimal | None
    quote_qty: Decimal | None
    price: Decimal | None
    client_id: str
    reply: str  # newOrderRespType
    sim_params: dict[str, Any]

    @property
    def order_type(self) -> str:
        return "market" if self.kind == "MARKET" else "limit"


def _new_order(venue: Venue, params: Params) -> _NewOrder:
    symbol = venue.symbols.required(params)
    side = params.get("side", "")
    if not side:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise error(400, -1117, "Invalid side.")
    kind = params.get("type", "")
    if not kind:
        raise mandatory("type")
    if kind not in wire.ORDER_TYPES:
        raise error(400, -1116, "Invalid orderType.")
    for name in UNSUPPORTED_ORDER_PARAMS:
        if params.get(name):
            raise not_required(name)
    tif = params.get("timeInForce") or None
    quantity = number(params, "quantity")
    quote_qty = number(params, "quoteOrderQty")
    price = number(params, "price")
    if kind == "MARKET":
        for name, value in (("timeInForce", tif), ("price", price)):
            if value is not None:
                raise not_required(name)
        if quantity is None and quote_qty is None:
            raise error(
                400,
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty!",
            )
        if quantity is not None and quote_qty is not None:
            raise not_required("quoteOrderQty")
    else:
        if kind == "LIMIT" and tif is None:
            raise mandatory("timeInForce")
        if kind == "LIMIT_MAKER" and tif is not None:
            raise not_required("timeInForce")
        if tif is not None and tif not in TIME_IN_FORCE:
            raise error(400, -1115, "Invalid timeInForce.")
        if quote_qty is not None:
            raise not_required("quoteOrderQty")
        if quantity is None:
            raise mandatory("quantity")
        if price is None:
            raise mandatory("price")
    client_id = params.get("newClientOrderId") or venue.client_id()
    if not CLIENT_ORDER_ID.match(client_id):
        raise illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
    reply = params.get("newOrderRespType") or ("ACK" if kind == "LIMIT_MAKER" else "FULL")
    if reply not in ("ACK", "RESULT", "FULL"):
        raise illegal("newOrderRespType", "ACK, RESULT, FULL")
    stp = params.get("selfTradePreventionMode") or wire.STP_MODE
    if stp not in STP_MODES:
        raise illegal("selfTradePreventionMode", ", ".join(STP_MODES))
    if stp != wire.STP_MODE:
        raise error(
            400, -1013, f"selfTradePreventionMode {stp} is not supported: {wire.STP_MODE} only."
        )
    sim_params: dict[str, Any] = {"clientOrderId": client_id}
    if kind == "LIMIT":
        sim_params["timeInForce"] = tif
    elif kind == "LIMIT_MAKER":
        sim_params["postOnly"] = True
    order_side = Side.BUY if side == "BUY" else Side.SELL
    args = (symbol, kind, order_side, quantity, quote_qty, price, client_id, reply, sim_params)
    return _NewOrder(*args)


async def new_order(venue: Venue, params: Params) -> dict[str, Any]:
    new = _new_order(venue, params)
    symbol, quote_qty, client_id = new.symbol, new.quote_qty, new.client_id
    quantity = new.quantity
    if quote_qty is not None:
        quantity = _base_for_quote(venue, symbol, new.side, quote_qty)
    assert quantity is not None
    placed = len(venue.engine.orders)
    try:
        raw = await venue.exchange.create_order(
            symbol, new.order_type, new.side.value, quantity, new.price, new.sim_params
        )
    except ccxt.OperationFailed:  # placed, then a lost reply or a 5xx: keep what a query shows
        if quote_qty is not None and len(venue.engine.orders) > placed:
            with contextlib.suppress(ccxt.OrderNotFound):
                lost = venue.engine.find(client_order_id=client_id, symbol=symbol)
                venue.quote_qty[lost.id] = quote_qty
        raise
    order = venue.engine.orders[str(raw["id"])]
    if quote_qty is not None:
        venue.quote_qty[order.id] = quote_qty
    return wire.new_order_reply(order, new.reply, _quote(venue, order))


async def cancel_replace(venue: Venue, params: Params) -> dict[str, Any]:
    """POST /api/v3/order/cancelReplace: the new order's parameters as POST /api/v3/order's,
    the old order by cancelOrderId and/or cancelOrigClientOrderId; 200 with both halves, 400
    -2022 or 409 -2021 with them under `data` (`bot.sim.replace`)."""
    mode = params.get("cancelReplaceMode", "")
    if not mode:
        raise mandatory("cancelReplaceMode")
    if mode not in MODES:
        raise illegal("cancelReplaceMode", ", ".join(MODES))
    if params.get("cancelRestrictions"):
        raise not_required("cancelRestrictions")
    if params.get("orderRateLimitExceededMode", "DO_NOTHING") != "DO_NOTHING":
        raise not_required("orderRateLimitExceededMode")
    new = _new_order(venue, params)
    if new.quote_qty is not None:
        raise not_required("quoteOrderQty")
    if not params.get("cancelOrderId") and not params.get("cancelOrigClientOrderId"):
        raise error(
            400,
            -1102,
            "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were"
            " empty/null!",
        )
    which = {"orderId": params.get("cancelOrderId", ""),
             "origClientOrderId": params.get("cancelOrigClientOrderId", "")}  # fmt: skip
    unknown = error(400, -2011, "Unknown order sent.")
    try:
        order_id, client_id = _which_order(venue, which, unknown)
    except Reply as reply:
        if reply is not unknown:
            raise
        order_id, client_id = "0", None  # names no order: the cancel half fails
    cancel_id = params.get("cancelNewClientOrderId") or venue.client_id()
    sim_params = {**new.sim_params, "cancelReplaceMode": mode}
    if client_id:
        sim_params["origClientOrderId"] = client_id
    request = venue.exchange.cancel_replace_request(
        order_id or None, new.symbol, new.order_type, new.side.value, new.quantity,
        new.price, sim_params,
    )  # fmt: skip
    try:
        halves = await venue.exchange.cancel_replace(request)
    except ccxt.BadResponse as exc:  # a half failed: the body, its halves as Binance's
        body = json.loads(str(exc)[str(exc).index("{") :])
        body["data"] = _replace_halves(venue, body["data"], cancel_id, new.reply)
        raise Reply(409 if body["code"] == -2021 else 400, body) from None
    return _replace_halves(venue, halves, cancel_id, new.reply)


def _replace_halves(
    venue: Venue, halves: Mapping[str, Any], cancel_id: str, reply: str
) -> dict[str, Any]:
    """The simulator's halves (ccxt orders, or Binance errors) as Binance's."""
    out = dict(halves)
    cancel, new = halves.get("cancelResponse"), halves.get("newOrderResponse")
    if isinstance(cancel, Mapping) and "id" in cancel:
        order = venue.engine.orders[str(cancel["id"])]
        out["cancelResponse"] = _cancel_json(venue, order, cancel_id)
    if isinstance(new, Mapping) and "id" in new:
        order = venue.engine.orders[str(new["id"])]
        out["newOrderResponse"] = wire.new_order_reply(order, reply, _quote(venue, order))
    return out


async def cancel_order(venue: Venue, params: Params) -> dict[str, Any]:
    symbol = venue.symbols.required(params)
    order_id, client_id = _which_order(venue, params, error(400, -2011, "Unknown order sent."))
    cancel_id = params.get("newClientOrderId") or venue.client_id()
    by_client = {"clientOrderId": client_id} if client_id else None
    raw = await venue.exchange.cancel_order(order_id, symbol, by_client)
    return _cancel_json(venue, venue.engine.orders[str(raw["id"])], cancel_id)


async def query_order(venue: Venue, params: Params) -> dict[str, Any]:
    symbol = venue.symbols.required(params)
    order_id, client_id = _which_order(venue, params, error(400, -2013, "Order does not exist."))
    by_client = {"clientOrderId": client_id} if client_id else None
    raw = await venue.exchange.fetch_order(order_id or None, symbol, by_client)
    return _order_json(venue, venue.engine.orders[str(raw["id"])])


async def open_orders(venue: Venue, params: Params) -> list[dict[str, Any]]:
    symbol = venue.symbols.required(params) if params.get("symbol") else None
    raws = await venue.exchange.fetch_open_orders(symbol)
    return [_order_json(venue, venue.engine.orders[str(r["id"])]) for r in raws]


async def cancel_all(venue: Venue, params: Params) -> list[dict[str, Any]]:
    symbol = venue.symbols.required(params)
    orders = venue.engine.open_orders(symbol)
    if not orders:
        await venue.exchange.charge("cancel_all_orders", 1)
        raise error(400, -2011, "Unknown order sent.")
    out = []
    for order in orders:
        raw = await venue.exchange.cancel_order(order.id, symbol)
        out.append(_cancel_json(venue, venue.engine.orders[str(raw["id"])], venue.client_id()))
    return out


async def all_orders(venue: Venue, params: Params) -> list[dict[str, Any]]:
    symbol = venue.symbols.required(params)
    from_id = integer(params, "orderId")
    start, end = time_range(params)
    count = limit(params, 500, 1000)
    raws = await venue.exchange.fetch_orders(symbol)
    orders = sorted((venue.engine.orders[str(r["id"])] for r in raws), key=lambda o: o.seq)
    ids, times = [o.seq for o in orders], [o.timestamp for o in orders]
    chosen = _window(orders, ids, times, from_id, start, end, count)
    return [_order_json(venue, o) for o in chosen]


async def my_trades(venue: Venue, params: Params) -> list[dict[str, Any]]:
    symbol = venue.symbols.required(params)
    order_id = integer(params, "orderId")
    from_id = integer(params, "fromId")
    start, end = time_range(params)
    if from_id is not None and (start is not None or end is not None):
        raise error(400, -1128, "Combination of optional parameters invalid.")
    most = venue.exchange.max_trades_page
    count = limit(params, min(DEFAULT_TRADES_PAGE, most), most)
    await venue.exchange.charge("fetch_my_trades", WEIGHTS["fetch_my_trades"])
    trades = sorted(venue.engine.my_trades(symbol), key=lambda t: int(t.id))
    if order_id is not None:
        trades = [t for t in trades if t.order_id == str(order_id)]
    ids, times = [int(t.id) for t in trades], [t.timestamp for t in trades]
    chosen = _window(trades, ids, times, from_id, start, end, count)
    return [wire.trade(t) for t in chosen]


# ---- helpers ------------------------------------------------------------------------------------


def _base_for_quote(venue: Venue, symbol: str, side: Side, quote: Decimal) -> Decimal:
    """The base quantity a MARKET order with `quoteOrderQty` takes from the visible book."""
    engine = venue.engine
    market = engine.market(symbol)
    if quote < market.min_cost:
        raise error(400, -1013, f"Filter failure: {venue.notional_filter}")
    engine.advance_to(venue.clock.time())
    left, qty = quote, ZERO
    for lv in engine.books[symbol].levels(side.opposite):
        take = min(lv.amount, left / lv.price)
        qty += take
        left -= take * lv.price
        if left <= 0:
            break
    qty = floor_to_step(qty, market.amount_step)
    market_step = engine.filters[symbol].market_step
    if market_step:  # on MARKET_LOT_SIZE's grid too
        qty = floor_to_step(qty, market_step)
    if qty <= 0:
        raise error(400, -1013, "Filter failure: LOT_SIZE")
    return qty


def _quote(venue: Venue, order: SimOrder) -> Decimal:
    return venue.quote_qty.get(order.id, ZERO)


def _order_json(venue: Venue, order: SimOrder) -> dict[str, Any]:
    return wire.order(order, _quote(venue, order))


def _cancel_json(venue: Venue, order: SimOrder, cancel_id: str) -> dict[str, Any]:
    return wire.cancel_reply(order, cancel_id, venue.now_ms(), _quote(venue, order))


def _which_order(venue: Venue, params: Params, unknown: Reply) -> tuple[str, str | None]:
    """(order id, client order id) to look up; Binance checks both when both are sent."""
    order_id = integer(params, "orderId")
    client_id = params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise error(
            400,
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    if order_id is not None and client_id is not None:
        order = venue.engine.orders.get(str(order_id))
        if order is None or order.client_order_id != client_id:
            raise unknown
        client_id = None
    return ("" if order_id is None else str(order_id)), client_id


def _window(
    items: Sequence[T],
    ids: Sequence[int],
    times: Sequence[int],
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[T]:
    """Binance's history rules: from an id or a start time, the oldest `limit` on; else the
    newest `limit`; always oldest first."""
    chosen = [
        item
        for item, i, t in zip(items, ids, times, strict=True)
        if (from_id is None or i >= from_id)
        and (start is None or t >= start)
        and (end is None or t <= end)
    ]
    if from_id is not None or start is not None:
        return chosen[:limit]
    return chosen[-limit:]
