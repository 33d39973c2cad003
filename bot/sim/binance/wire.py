"""The simulator's state in Binance spot's REST JSON: pure functions, no I/O (see bot.sim.binance).

Binance prints numbers as strings with eight decimals; these keep the simulator's exact values, so a
number with more decimals (a fee when a scenario turns commission rounding off, a balance after
one) is printed in full. Order and trade ids are integers, times integer milliseconds. Field names
and shapes follow Binance's spot API documentation and what ccxt's `binance.parse_market`,
`parse_order`, `parse_trade`, `parse_ticker` and `parse_balance` read (ccxt 4.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

from bot.domain.market import ZERO, Level, Market, Side
from bot.sim.account import Account, OrderStatus, SimOrder, SimTrade
from bot.sim.filters import Filters
from bot.sim.model import TapeStats
from bot.sim.structures import market_id

NotionalFilter = Literal["NOTIONAL", "MIN_NOTIONAL"]
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")
STP_MODE = "EXPIRE_MAKER"  # the matching engine's self-trade prevention, Binance's default
DAY_MS = 24 * 3600 * 1000

_EIGHT = Decimal("1e-8")
_STATUS = {
    OrderStatus.CLOSED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
}
# The keys a new-order RESULT reply and a cancel reply share with a queried order.
_RESULT_KEYS = (
    "price",
    "origQty",
    "executedQty",
    "origQuoteOrderQty",
    "cummulativeQuoteQty",
    "status",
    "timeInForce",
    "type",
    "side",
)


def fmt(value: Decimal | int) -> str:
    """A number as Binance prints it: eight decimals, or the exact value when it has more."""
    d = Decimal(value)
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -8:
        return f"{d:.8f}"
    return format(d, "f")


def rate(value: Decimal) -> str:
    """A fee rate the way Binance's fee endpoints print it: "0.001"."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def touch(levels: Sequence[Level]) -> Level:
    """The best level, or zeros as Binance prints an empty side."""
    return levels[0] if levels else Level(ZERO, ZERO)


# ---- market data ----------------------------------------------------------------------------


def symbol_info(
    m: Market, f: Filters | None = None, notional_filter: NotionalFilter = "NOTIONAL"
) -> dict[str, Any]:
    """One entry of exchangeInfo's `symbols`: assets, order types and the filters the simulator
    enforces (`f`: none beyond the market's own when None; MAX_NUM_ORDERS only when set)."""
    f = f or Filters()
    notional: dict[str, Any]
    if notional_filter == "NOTIONAL":
        notional = {
            "filterType": "NOTIONAL",
            "minNotional": fmt(m.min_cost),
            "applyMinToMarket": True,
            "maxNotional": fmt(f.max_cost),
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        }
    else:
        notional = {
            "filterType": "MIN_NOTIONAL",
            "minNotional": fmt(m.min_cost),
            "applyToMarket": True,
            "avgPriceMins": 5,
        }
    return {
        "symbol": market_id(m.symbol),
        "status": "TRADING",
        "baseAsset": m.base,
        "baseAssetPrecision": 8,
        "quoteAsset": m.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(m.price_tick),
                "maxPrice": fmt(f.max_price),
                "tickSize": fmt(m.price_tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(m.min_amount or m.amount_step),
                "maxQty": fmt(f.max_amount),
                "stepSize": fmt(m.amount_step),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(f.market_min_amount),
                "maxQty": fmt(f.market_max_amount),
                "stepSize": fmt(f.market_step),
            },
            notional,
            *(
                [{"filterType": "MAX_NUM_ORDERS", "maxNumOrders": f.max_open_orders}]
                if f.max_open_orders
                else []
            ),
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": STP_MODE,
        "allowedSelfTradePreventionModes": [STP_MODE],
    }


def exchange_info(
    markets: Iterable[tuple[Market, Filters]],
    now_ms: int,
    weight_limit: int,
    notional_filter: NotionalFilter,
    orders_per_10s: int = 100,
    orders_per_day: int = 200000,
) -> dict[str, Any]:
    """exchangeInfo: the rate limits (an order limit of 0, none, is left out) and the symbols."""

    def limit(kind: str, interval: str, num: int, value: int) -> dict[str, Any]:
        return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": value}

    orders = [
        limit("ORDERS", interval, num, value)
        for interval, num, value in (("SECOND", 10, orders_per_10s), ("DAY", 1, orders_per_day))
        if value
    ]
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            limit("REQUEST_WEIGHT", "MINUTE", 1, weight_limit),
            *orders,
            limit("RAW_REQUESTS", "MINUTE", 5, 61000),
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(m, f, notional_filter) for m, f in markets],
    }


def depth(
    update_id: int, bids: Sequence[Level], asks: Sequence[Level], limit: int
) -> dict[str, Any]:
    return {
        "lastUpdateId": update_id,
        "bids": [[fmt(lv.price), fmt(lv.amount)] for lv in bids[:limit]],
        "asks": [[fmt(lv.price), fmt(lv.amount)] for lv in asks[:limit]],
    }


def ticker_24hr(
    symbol: str, bids: Sequence[Level], asks: Sequence[Level], stats: TapeStats, now_ms: int
) -> dict[str, Any]:
    """The 24-hour ticker over the simulated tape (since the start: the simulator keeps no
    per-day window); trade ids and counts are not tracked (-1, 0)."""
    last, first = stats.last, stats.open
    change = last - first
    percent = (change / first * 100).quantize(Decimal("0.001")) if first else ZERO
    average = (
        (stats.quote_volume / stats.base_volume).quantize(_EIGHT) if stats.base_volume else ZERO
    )
    bid, ask = touch(bids), touch(asks)
    return {
        "symbol": market_id(symbol),
        "priceChange": fmt(change),
        "priceChangePercent": f"{percent:.3f}",
        "weightedAvgPrice": fmt(average),
        "prevClosePrice": fmt(first),
        "lastPrice": fmt(last),
        "lastQty": fmt(ZERO),
        "bidPrice": fmt(bid.price),
        "bidQty": fmt(bid.amount),
        "askPrice": fmt(ask.price),
        "askQty": fmt(ask.amount),
        "openPrice": fmt(first),
        "highPrice": fmt(max(stats.high, last)),
        "lowPrice": fmt(min(stats.low, last)),
        "volume": fmt(stats.base_volume),
        "quoteVolume": fmt(stats.quote_volume),
        "openTime": now_ms - DAY_MS,
        "closeTime": now_ms,
        "firstId": -1,
        "lastId": -1,
        "count": 0,
    }


def book_ticker(symbol: str, bids: Sequence[Level], asks: Sequence[Level]) -> dict[str, Any]:
    bid, ask = touch(bids), touch(asks)
    return {
        "symbol": market_id(symbol),
        "bidPrice": fmt(bid.price),
        "bidQty": fmt(bid.amount),
        "askPrice": fmt(ask.price),
        "askQty": fmt(ask.amount),
    }


def price_ticker(symbol: str, stats: TapeStats) -> dict[str, Any]:
    return {"symbol": market_id(symbol), "price": fmt(stats.last)}


# ---- account --------------------------------------------------------------------------------


def account_info(
    account: Account, maker: Decimal, taker: Decimal, now_ms: int, *, omit_zero: bool = False
) -> dict[str, Any]:
    balances = []
    for asset in account.assets():
        free, locked = account.free.get(asset, ZERO), account.used.get(asset, ZERO)
        if omit_zero and not free and not locked:
            continue
        balances.append({"asset": asset, "free": fmt(free), "locked": fmt(locked)})
    return {
        "makerCommission": int(maker * 10000),
        "takerCommission": int(taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(maker),
            "taker": fmt(taker),
            "buyer": fmt(ZERO),
            "seller": fmt(ZERO),
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 0,
    }


def trade_fee(m: Market) -> dict[str, Any]:
    return {
        "symbol": market_id(m.symbol),
        "makerCommission": rate(m.maker_fee),
        "takerCommission": rate(m.taker_fee),
    }


# ---- orders and trades ----------------------------------------------------------------------


def order_status(order: SimOrder) -> str:
    if order.is_open:
        return "PARTIALLY_FILLED" if order.filled > 0 else "NEW"
    return _STATUS[order.status]


def order(o: SimOrder, quote_qty: Decimal = ZERO) -> dict[str, Any]:
    """An order as GET /api/v3/order answers it; `quote_qty` is its `quoteOrderQty` if any."""
    return {
        "symbol": market_id(o.symbol),
        "orderId": int(o.id),
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price or ZERO),
        "origQty": fmt(o.amount),
        "executedQty": fmt(o.filled),
        "cummulativeQuoteQty": fmt(o.cost),
        "status": order_status(o),
        "timeInForce": "GTC" if o.post_only else o.time_in_force.value,
        "type": "LIMIT_MAKER" if o.post_only else o.type.value.upper(),
        "side": o.side.value.upper(),
        "stopPrice": fmt(ZERO),
        "icebergQty": fmt(ZERO),
        "time": o.timestamp,
        "updateTime": o.last_update_timestamp or o.timestamp,
        "isWorking": True,
        "workingTime": o.timestamp,
        "origQuoteOrderQty": fmt(quote_qty),
        "selfTradePreventionMode": STP_MODE,
    }


def new_order_reply(o: SimOrder, reply: str, quote_qty: Decimal = ZERO) -> dict[str, Any]:
    """POST /api/v3/order's answer for `newOrderRespType` `reply`: FULL lists the fills."""
    head: dict[str, Any] = {
        "symbol": market_id(o.symbol),
        "orderId": int(o.id),
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": o.timestamp,
    }
    if reply == "ACK":
        return head
    body = order(o, quote_qty)
    result = {
        **head,
        **{k: body[k] for k in _RESULT_KEYS},
        "workingTime": o.timestamp,
        "selfTradePreventionMode": STP_MODE,
    }
    if reply == "FULL":
        result["fills"] = [fill(t) for t in o.trades]
    return result


def cancel_reply(
    o: SimOrder, cancel_id: str, now_ms: int, quote_qty: Decimal = ZERO
) -> dict[str, Any]:
    """DELETE /api/v3/order's answer. As on Binance, `clientOrderId` is the cancel request's own
    id (`newClientOrderId`, random when not sent) and the order's is `origClientOrderId`."""
    body = order(o, quote_qty)
    return {
        "symbol": body["symbol"],
        "origClientOrderId": o.client_order_id,
        "orderId": body["orderId"],
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": now_ms,
        **{k: body[k] for k in _RESULT_KEYS},
        "selfTradePreventionMode": STP_MODE,
    }


def fill(t: SimTrade) -> dict[str, Any]:
    """One of a FULL new-order reply's `fills`."""
    return {
        "price": fmt(t.price),
        "qty": fmt(t.amount),
        "commission": fmt(t.fee),
        "commissionAsset": t.fee_currency,
        "tradeId": int(t.id),
    }


def trade(t: SimTrade) -> dict[str, Any]:
    """One of GET /api/v3/myTrades' entries."""
    return {
        "symbol": market_id(t.symbol),
        "id": int(t.id),
        "orderId": int(t.order_id),
        "orderListId": -1,
        "price": fmt(t.price),
        "qty": fmt(t.amount),
        "quoteQty": fmt(t.cost),
        "commission": fmt(t.fee),
        "commissionAsset": t.fee_currency,
        "time": t.timestamp,
        "isBuyer": t.side is Side.BUY,
        "isMaker": not t.taker,
        "isBestMatch": True,
    }
