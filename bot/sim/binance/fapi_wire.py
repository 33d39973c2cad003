"""The futures simulator's state in Binance USD-M's REST JSON (/fapi): pure functions, no I/O.

Numbers are strings (`wire.fmt`: eight decimals, more when the exact value has more), order and
trade ids integers, times integer milliseconds, symbols Binance's ids ("BTCUSDT"). Field names
and shapes follow Binance's USD-M futures API documentation and what ccxt's `binance.
parse_market`, `parse_order`, `parse_trade`, `parse_ticker`, `parse_funding_rate`
read (ccxt 4.5); the account and positions are `fapi_positions`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from bot.domain.market import ZERO, Level, Side
from bot.sim.account import OrderStatus, SimOrder, SimTrade
from bot.sim.binance.wire import DAY_MS, fmt, rate, touch
from bot.sim.filters import Filters
from bot.sim.model import TapeStats
from bot.sim.perp_account import PerpSide
from bot.sim.perp_market import PerpSpec

ORDER_TYPES = ("LIMIT", "MARKET")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
STP_MODE = "EXPIRE_MAKER"
PERPETUAL_DELIVERY_MS = 4133404800000  # what Binance gives a perpetual as its delivery date
ONBOARD_MS = 1569398400000
_STATUS = {
    OrderStatus.CLOSED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
}


def fapi_id(spec: PerpSpec) -> str:
    """Binance's id of a perpetual: base and quote ("BTCUSDT" for BTC/USDT:USDT)."""
    return spec.market.base + spec.market.quote


def decimals(step: Decimal) -> int:
    """The decimal places of an increment (pricePrecision, quantityPrecision)."""
    exponent = step.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


# ---- market data ----------------------------------------------------------------------------


def symbol_info(spec: PerpSpec, f: Filters | None = None) -> dict[str, Any]:
    """One entry of exchangeInfo's `symbols`: a perpetual settled in its quote."""
    m, f = spec.market, f or Filters()
    return {
        "symbol": fapi_id(spec),
        "pair": fapi_id(spec),
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": ONBOARD_MS,
        "status": "TRADING",
        "maintMarginPercent": rate(spec.maintenance_margin_rate * 100),
        "requiredMarginPercent": rate(Decimal(100) / spec.max_leverage),
        "baseAsset": m.base,
        "quoteAsset": m.quote,
        "marginAsset": m.quote,
        "pricePrecision": decimals(m.price_tick),
        "quantityPrecision": decimals(m.amount_step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": rate(spec.liquidation_fee),
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
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
                "minQty": fmt(f.market_min_amount or m.min_amount or m.amount_step),
                "maxQty": fmt(f.market_max_amount),
                "stepSize": fmt(f.market_step or m.amount_step),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": f.max_open_orders or 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": rate(m.min_cost)},
        ],
        "orderTypes": list(ORDER_TYPES),
        "timeInForce": list(TIME_IN_FORCE),
        "permissionSets": ["GRID", "COPY"],
    }


def exchange_info(
    markets: Iterable[tuple[PerpSpec, Filters | None]],
    now_ms: int,
    weight_limit: int,
    orders_per_minute: int = 1200,
    orders_per_10s: int = 300,
) -> dict[str, Any]:
    """exchangeInfo: rate limits (the order limits USD-M publishes, not enforced), the
    settlement assets, the symbols."""

    def limit(kind: str, interval: str, num: int, value: int) -> dict[str, Any]:
        return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": value}

    entries = [symbol_info(spec, f) for spec, f in markets]
    assets = sorted({e["marginAsset"] for e in entries})
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            limit("REQUEST_WEIGHT", "MINUTE", 1, weight_limit),
            limit("ORDERS", "MINUTE", 1, orders_per_minute),
            limit("ORDERS", "SECOND", 10, orders_per_10s),
        ],
        "exchangeFilters": [],
        "assets": [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets
        ],
        "symbols": entries,
    }


def depth(
    update_id: int, bids: Sequence[Level], asks: Sequence[Level], limit: int, now_ms: int
) -> dict[str, Any]:
    return {
        "lastUpdateId": update_id,
        "E": now_ms,
        "T": now_ms,
        "bids": [[fmt(lv.price), fmt(lv.amount)] for lv in bids[:limit]],
        "asks": [[fmt(lv.price), fmt(lv.amount)] for lv in asks[:limit]],
    }


def ticker_24hr(symbol_id: str, stats: TapeStats, now_ms: int) -> dict[str, Any]:
    """The 24-hour ticker over the simulated tape (USD-M's carries no bid or ask)."""
    last, first = stats.last, stats.open
    change = last - first
    percent = (change / first * 100).quantize(Decimal("0.001")) if first else ZERO
    average = (
        (stats.quote_volume / stats.base_volume).quantize(Decimal("1e-8"))
        if stats.base_volume
        else ZERO
    )
    return {
        "symbol": symbol_id,
        "priceChange": fmt(change),
        "priceChangePercent": f"{percent:.3f}",
        "weightedAvgPrice": fmt(average),
        "lastPrice": fmt(last),
        "lastQty": fmt(ZERO),
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


def book_ticker(
    symbol_id: str, bids: Sequence[Level], asks: Sequence[Level], now_ms: int
) -> dict[str, Any]:
    bid, ask = touch(bids), touch(asks)
    return {
        "symbol": symbol_id,
        "bidPrice": fmt(bid.price),
        "bidQty": fmt(bid.amount),
        "askPrice": fmt(ask.price),
        "askQty": fmt(ask.amount),
        "time": now_ms,
    }


def price_ticker(symbol_id: str, stats: TapeStats, now_ms: int) -> dict[str, Any]:
    return {"symbol": symbol_id, "price": fmt(stats.last), "time": now_ms}


def premium_index(
    symbol_id: str,
    mark: Decimal,
    index: Decimal,
    last_rate: Decimal,
    interest: Decimal,
    next_funding_ms: int,
    now_ms: int,
) -> dict[str, Any]:
    """GET /fapi/v1/premiumIndex: mark, index, the last settled funding rate, the next time."""
    return {
        "symbol": symbol_id,
        "markPrice": fmt(mark),
        "indexPrice": fmt(index),
        "estimatedSettlePrice": fmt(index),
        "lastFundingRate": fmt(last_rate),
        "interestRate": fmt(interest),
        "nextFundingTime": next_funding_ms,
        "time": now_ms,
    }


def leverage_bracket(spec: PerpSpec, symbol_id: str) -> dict[str, Any]:
    """One symbol's notional brackets: a single one, the spec's maintenance rate."""
    return {
        "symbol": symbol_id,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": spec.max_leverage,
                "notionalCap": 9_000_000_000,
                "notionalFloor": 0,
                "maintMarginRatio": float(spec.maintenance_margin_rate),
                "cum": 0.0,
            }
        ],
    }


# ---- orders and trades ----------------------------------------------------------------------


def order_status(order: SimOrder) -> str:
    if order.is_open:
        return "PARTIALLY_FILLED" if order.filled > 0 else "NEW"
    return _STATUS[order.status]


def time_in_force(order: SimOrder) -> str:
    return "GTX" if order.post_only else order.time_in_force.value


def order(
    o: SimOrder, symbol_id: str, reduce_only: bool, position_side: PerpSide
) -> dict[str, Any]:
    """An order as GET /fapi/v1/order answers it (and POST and DELETE, `time` aside)."""
    kind = o.type.value.upper()
    return {
        "orderId": int(o.id),
        "symbol": symbol_id,
        "status": order_status(o),
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price or ZERO),
        "avgPrice": fmt(o.average or ZERO),
        "origQty": fmt(o.amount),
        "executedQty": fmt(o.filled),
        "cumQty": fmt(o.filled),
        "cumQuote": fmt(o.cost),
        "timeInForce": time_in_force(o),
        "type": kind,
        "reduceOnly": reduce_only,
        "closePosition": False,
        "side": o.side.value.upper(),
        "positionSide": position_side.value,
        "stopPrice": fmt(ZERO),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": kind,
        "priceMatch": "NONE",
        "selfTradePreventionMode": STP_MODE,
        "goodTillDate": 0,
        "time": o.timestamp,
        "updateTime": o.last_update_timestamp or o.timestamp,
    }


def new_order_reply(
    o: SimOrder, symbol_id: str, reduce_only: bool, position_side: PerpSide
) -> dict[str, Any]:
    """POST /fapi/v1/order's answer (ACK and RESULT alike: the order as it stands)."""
    body = order(o, symbol_id, reduce_only, position_side)
    del body["time"]
    return body


def trade(
    t: SimTrade, symbol_id: str, realized_pnl: Decimal, position_side: PerpSide
) -> dict[str, Any]:
    """One of GET /fapi/v1/userTrades' entries."""
    return {
        "buyer": t.side is Side.BUY,
        "commission": fmt(t.fee),
        "commissionAsset": t.fee_currency,
        "id": int(t.id),
        "maker": not t.taker,
        "orderId": int(t.order_id),
        "price": fmt(t.price),
        "qty": fmt(t.amount),
        "quoteQty": fmt(t.cost),
        "realizedPnl": fmt(realized_pnl),
        "side": t.side.value.upper(),
        "positionSide": position_side.value,
        "symbol": symbol_id,
        "time": t.timestamp,
    }
