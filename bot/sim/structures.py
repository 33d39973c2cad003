"""The simulator's state as ccxt's unified structures: the same keys, types and meanings.

ccxt returns numbers as floats, so these do too; the exact `Decimal` state stays inside the
simulator and every number is converted here, at the boundary, once. Keys follow ccxt's
`safe_market_structure`, `safe_order`, `safe_trade`, `safe_balance`, `safe_ticker` and
`parse_order_book` (ccxt 4.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.domain.market import Level, Market, Side
from bot.sim.account import Account, OrderStatus, OrderType, SimOrder, SimTrade
from bot.sim.model import TapeStats

_BINANCE_STATUS = {
    OrderStatus.OPEN: "NEW",
    OrderStatus.CLOSED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
}


def num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def iso8601(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def market_id(symbol: str) -> str:
    return symbol.replace("/", "")


def market_dict(market: Market) -> dict[str, Any]:
    mid = market_id(market.symbol)
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
        "taker": float(market.taker_fee),
        "maker": float(market.maker_fee),
        "percentage": True,
        "tierBased": False,
        "feeSide": "get",
        "contractSize": None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {
            "amount": float(market.amount_step),
            "price": float(market.price_tick),
            "cost": None,
            "base": None,
            "quote": None,
        },
        "limits": {
            "leverage": {"min": None, "max": None},
            "amount": {"min": num(market.min_amount or market.amount_step), "max": None},
            "price": {"min": float(market.price_tick), "max": None},
            "cost": {"min": num(market.min_cost) if market.min_cost else None, "max": None},
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
            ],
        },
    }


def fee_dict(cost: Decimal, currency: str, rate: Decimal | None = None) -> dict[str, Any]:
    fee: dict[str, Any] = {"cost": float(cost), "currency": currency}
    if rate is not None:
        fee["rate"] = float(rate)
    return fee


def trade_dict(trade: SimTrade, client_order_id: str | None = None) -> dict[str, Any]:
    fee = fee_dict(trade.fee, trade.fee_currency, trade.fee_rate)
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
        "price": float(trade.price),
        "amount": float(trade.amount),
        "cost": float(trade.cost),
        "fee": fee,
        "fees": [dict(fee)],
    }


def order_dict(order: SimOrder) -> dict[str, Any]:
    average = order.average
    price = order.price if order.type is OrderType.LIMIT else average
    fee = fee_dict(order.fee, order.fee_currency)
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
        "price": num(price),
        "triggerPrice": None,
        "stopPrice": None,
        "takeProfitPrice": None,
        "stopLossPrice": None,
        "amount": float(order.amount),
        "cost": float(order.cost),
        "average": num(average),
        "filled": float(order.filled),
        "remaining": float(order.remaining),
        "status": order.status.value,
        "fee": fee,
        "fees": [dict(fee)],
        "trades": [trade_dict(t, order.client_order_id) for t in order.trades],
    }


def balance_dict(account: Account, ms: int) -> dict[str, Any]:
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
    free: dict[str, float] = {}
    used: dict[str, float] = {}
    total: dict[str, float] = {}
    for a in account.assets():
        free[a] = float(account.free.get(a, 0))
        used[a] = float(account.used.get(a, 0))
        total[a] = float(account.total(a))
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
    symbol: str, bids: Sequence[Level], asks: Sequence[Level], stats: TapeStats, ms: int
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
        "high": float(max(stats.high, last)),
        "low": float(min(stats.low, last)),
        "bid": num(bid.price) if bid else None,
        "bidVolume": num(bid.amount) if bid else None,
        "ask": num(ask.price) if ask else None,
        "askVolume": num(ask.amount) if ask else None,
        "vwap": num(vwap),
        "open": float(stats.open),
        "close": float(last),
        "last": float(last),
        "previousClose": None,
        "change": float(change),
        "percentage": float(change / stats.open * 100),
        "average": float((stats.open + last) / 2),
        "baseVolume": float(stats.base_volume),
        "quoteVolume": float(stats.quote_volume),
        "indexPrice": None,
        "markPrice": None,
    }
