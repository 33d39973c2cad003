"""The simulator's state as ccxt's unified structures: the same keys, types and meanings.

ccxt returns numbers as floats by default, and as exact text when a client sets `number = str`;
these do the same (`number`: `float` or `text`), except order books, which ccxt always parses into
floats. The exact `Decimal` state stays inside the simulator and every number is converted here,
at the boundary, once. Keys follow ccxt's `safe_market_structure`, `safe_order`, `safe_trade`,
`safe_balance`, `safe_ticker` and `parse_order_book` (ccxt 4.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.domain.market import ZERO, Level, Market, Side
from bot.sim.account import Account, OrderStatus, OrderType, SimOrder, SimTrade
from bot.sim.filters import Filters
from bot.sim.model import TapeStats

_BINANCE_STATUS = {
    OrderStatus.OPEN: "NEW",
    OrderStatus.CLOSED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
}


# How numbers come out: `float` (ccxt's default) or `text` (ccxt with `number = str`). Books
# are floats either way, as ccxt's order book parser makes them.
Number = Callable[[Decimal], float | str]


def text(value: Decimal) -> str:
    """A decimal as plain text, never in exponent notation: "0.00000001", not "1E-8"."""
    return format(value, "f")


def _opt(value: Decimal | None, number: Number) -> float | str | None:
    return None if value is None else number(value)


def iso8601(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def market_id(symbol: str) -> str:
    return symbol.replace("/", "")


def market_dict(
    market: Market, filters: Filters | None = None, number: Number = float
) -> dict[str, Any]:
    """A ccxt market; its maximums as ccxt's binance reads them from `filters` (None: none)."""
    mid = market_id(market.symbol)
    f = filters or Filters()
    maximum: Number | Callable[[Decimal], None] = number if filters else (lambda _: None)
    return {
        "id": mid,
        "lowercaseId": mid.lower(),
        "symbol": market.symbol,
        "base": market.base,
        "quote": market.quote,
        "settle": None,
        "baseId": market.base,
        "quoteId": market.quote,
        "settleId": None,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "index": False,
        "active": True,
        "contract": False,
        "linear": None,
        "inverse": None,
        "subType": None,
        "taker": number(market.taker_fee),
        "maker": number(market.maker_fee),
        "percentage": True,
        "tierBased": False,
        "feeSide": "get",
        "contractSize": None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {
            "amount": number(market.amount_step),
            "price": number(market.price_tick),
            "cost": None,
            "base": None,
            "quote": None,
        },
        "limits": {
            "leverage": {"min": None, "max": None},
            "amount": {
                "min": _opt(market.min_amount or market.amount_step, number),
                "max": maximum(f.max_amount),
            },
            "price": {"min": number(market.price_tick), "max": maximum(f.max_price)},
            "cost": {
                "min": _opt(market.min_cost, number) if market.min_cost else None,
                "max": maximum(f.max_cost),
            },
            "market": {
                "min": maximum(f.market_min_amount),
                "max": maximum(f.market_max_amount),
            },
        },
        "marginModes": {"cross": None, "isolated": None},
        "created": None,
        "info": {
            "symbol": mid,
            "status": "TRADING",
            "baseAsset": market.base,
            "quoteAsset": market.quote,
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": str(market.price_tick)},
                {
                    "filterType": "LOT_SIZE",
                    "stepSize": str(market.amount_step),
                    "minQty": str(market.min_amount),
                },
                {"filterType": "NOTIONAL", "minNotional": str(market.min_cost)},
                *_more_filters(filters),
            ],
        },
    }


def _more_filters(filters: Filters | None) -> list[dict[str, Any]]:
    if filters is None:
        return []
    f = filters
    out: list[dict[str, Any]] = [
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": str(f.market_min_amount),
            "maxQty": str(f.market_max_amount),
            "stepSize": str(f.market_step),
        }
    ]
    if f.max_open_orders:
        out.append({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": f.max_open_orders})
    return out


def fee_dict(
    cost: Decimal, currency: str, rate: Decimal | None = None, number: Number = float
) -> dict[str, Any]:
    fee: dict[str, Any] = {"cost": number(cost), "currency": currency}
    if rate is not None:
        fee["rate"] = number(rate)
    return fee


def trade_dict(
    trade: SimTrade, client_order_id: str | None = None, number: Number = float
) -> dict[str, Any]:
    fee = fee_dict(trade.fee, trade.fee_currency, trade.fee_rate, number)
    return {
        "info": {
            "id": trade.id,
            "orderId": trade.order_id,
            "clientOrderId": client_order_id,
            "price": str(trade.price),
            "qty": str(trade.amount),
            "commission": str(trade.fee),
            "commissionAsset": trade.fee_currency,
            "isBuyer": trade.side is Side.BUY,
            "isMaker": not trade.taker,
        },
        "id": trade.id,
        "order": trade.order_id,
        "timestamp": trade.timestamp,
        "datetime": iso8601(trade.timestamp),
        "symbol": trade.symbol,
        "type": None,
        "side": trade.side.value,
        "takerOrMaker": "taker" if trade.taker else "maker",
        "price": number(trade.price),
        "amount": number(trade.amount),
        "cost": number(trade.cost),
        "fee": fee,
        "fees": [dict(fee)],
    }


def order_dict(order: SimOrder, number: Number = float) -> dict[str, Any]:
    average = order.average
    price = order.price if order.type is OrderType.LIMIT else average
    fee = fee_dict(order.fee, order.fee_currency, number=number)
    tif = order.time_in_force.value
    return {
        "info": {
            "orderId": order.id,
            "clientOrderId": order.client_order_id,
            "symbol": market_id(order.symbol),
            "status": _BINANCE_STATUS[order.status],
            "type": "LIMIT_MAKER" if order.post_only else order.type.value.upper(),
            "side": order.side.value.upper(),
            "price": str(order.price or 0),
            "origQty": str(order.amount),
            "executedQty": str(order.filled),
            "cummulativeQuoteQty": str(order.cost),
            "timeInForce": tif,
        },
        "id": order.id,
        "clientOrderId": order.client_order_id,
        "timestamp": order.timestamp,
        "datetime": iso8601(order.timestamp),
        "lastTradeTimestamp": order.last_trade_timestamp,
        "lastUpdateTimestamp": order.last_update_timestamp,
        "symbol": order.symbol,
        "type": order.type.value,
        "timeInForce": tif,
        "postOnly": order.post_only,
        "reduceOnly": None,
        "side": order.side.value,
        "price": _opt(price, number),
        "triggerPrice": None,
        "stopPrice": None,
        "takeProfitPrice": None,
        "stopLossPrice": None,
        "amount": number(order.amount),
        "cost": number(order.cost),
        "average": _opt(average, number),
        "filled": number(order.filled),
        "remaining": number(order.remaining),
        "status": order.status.value,
        "fee": fee,
        "fees": [
            dict(fee),
            *(fee_dict(c, a, number=number) for a, c in sorted(order.other_fees.items())),
        ],
        "trades": [trade_dict(t, order.client_order_id, number) for t in order.trades],
    }


def balance_dict(account: Account, ms: int, number: Number = float) -> dict[str, Any]:
    result: dict[str, Any] = {
        "info": {
            "balances": [
                {
                    "asset": a,
                    "free": str(account.free.get(a, 0)),
                    "locked": str(account.used.get(a, 0)),
                }
                for a in account.assets()
            ]
        },
        "timestamp": ms,
        "datetime": iso8601(ms),
    }
    free: dict[str, float | str] = {}
    used: dict[str, float | str] = {}
    total: dict[str, float | str] = {}
    for a in account.assets():
        free[a] = number(account.free.get(a, ZERO))
        used[a] = number(account.used.get(a, ZERO))
        total[a] = number(account.total(a))
        result[a] = {"free": free[a], "used": used[a], "total": total[a]}
    result["free"], result["used"], result["total"] = free, used, total
    return result


def book_dict(
    symbol: str, bids: Sequence[Level], asks: Sequence[Level], ms: int, nonce: int
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "bids": [[float(lv.price), float(lv.amount)] for lv in bids],
        "asks": [[float(lv.price), float(lv.amount)] for lv in asks],
        "timestamp": ms,
        "datetime": iso8601(ms),
        "nonce": nonce,
    }


def ticker_dict(
    symbol: str,
    bids: Sequence[Level],
    asks: Sequence[Level],
    stats: TapeStats,
    ms: int,
    number: Number = float,
) -> dict[str, Any]:
    last = stats.last
    change = last - stats.open
    vwap = stats.quote_volume / stats.base_volume if stats.base_volume else None
    bid, ask = (bids[0] if bids else None), (asks[0] if asks else None)
    return {
        "symbol": symbol,
        "info": {"symbol": market_id(symbol), "lastPrice": str(last)},
        "timestamp": ms,
        "datetime": iso8601(ms),
        "high": number(max(stats.high, last)),
        "low": number(min(stats.low, last)),
        "bid": _opt(bid.price, number) if bid else None,
        "bidVolume": _opt(bid.amount, number) if bid else None,
        "ask": _opt(ask.price, number) if ask else None,
        "askVolume": _opt(ask.amount, number) if ask else None,
        "vwap": _opt(vwap, number),
        "open": number(stats.open),
        "close": number(last),
        "last": number(last),
        "previousClose": None,
        "change": number(change),
        "percentage": number(change / stats.open * 100),
        "average": number((stats.open + last) / 2),
        "baseVolume": number(stats.base_volume),
        "quoteVolume": number(stats.quote_volume),
        "indexPrice": None,
        "markPrice": None,
    }
