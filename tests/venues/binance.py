"""Binance spot, as ccxt's binance class calls it, for the cancel-and-replace tests: markets
(exchangeInfo in Binance's format, `bot.sim.binance.wire`), server time, the account's trade fees,
and two order endpoints answered from what a test sets, in Binance's own JSON:

- POST /api/v3/order/cancelReplace: the next of `replies` (HTTP status, body), each request kept
  as sent in `sent` (the form body ccxt signs);
- GET /api/v3/order: `orders` by origClientOrderId (Binance's query-order JSON), else 400 -2013;
  DELETE /api/v3/order cancels one of them (by orderId), else 400 -2011.

Reply formats from Binance's spot REST docs ("Cancel an Existing Order and Send a New Order"): 200
with `cancelResponse` and `newOrderResponse`; 400 -2022 "Order cancel-replace failed." and 409
-2021 "Order cancel-replace partially failed." with both halves under `data`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import ccxt

from bot.sim.binance import wire
from bot.sim.filters import Filters
from tests.venues.venue import MARKETS, Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "binance-test-key", "secret": "binance-test-secret"}
REPLACE = "/api/v3/order/cancelReplace"


def order_json(
    order_id: int,
    client_id: str,
    status: str,
    executed: str,
    *,
    price: str = "49990.00000000",
    qty: str = "0.01000000",
    side: str = "BUY",
    kind: str = "LIMIT",
) -> dict[str, Any]:
    """An order as GET /api/v3/order answers it."""
    quote = str(float(executed) * float(price))
    return {
        "symbol": "BTCUSDT",
        "orderId": order_id,
        "orderListId": -1,
        "clientOrderId": client_id,
        "price": price,
        "origQty": qty,
        "executedQty": executed,
        "cummulativeQuoteQty": quote,
        "status": status,
        "timeInForce": "GTC",
        "type": kind,
        "side": side,
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": 1700000000000,
        "updateTime": 1700000001000,
        "isWorking": True,
        "workingTime": 1700000000000,
        "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


@dataclass
class Fake(Venue):
    exchange_id: str = "binance"
    create_path: str = REPLACE
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, str]] = field(default_factory=list)

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "")

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return Answer(
                429,
                {
                    "code": -1015,
                    "msg": "Too many new orders; current limit is 50 orders per 10 SECOND.",
                },
                {"Retry-After": "7"},
            )
        return Answer(400, {"code": -1000, "msg": str(exc)})

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/api/v3/exchangeInfo"): self.exchange_info,
            ("GET", "/api/v3/time"): self.server_time,
            ("GET", "/sapi/v1/asset/tradeFee"): self.trade_fee,
            ("POST", REPLACE): self.cancel_replace,
            ("GET", "/api/v3/order"): self.query_order,
            ("DELETE", "/api/v3/order"): self.cancel_order,
        }

    async def exchange_info(self, request: Request) -> Any:
        markets = [(m, Filters()) for m, _, _, _ in MARKETS.values()]
        return wire.exchange_info(markets, int(time.time() * 1000), 6000, "NOTIONAL")

    async def server_time(self, request: Request) -> Any:
        return {"serverTime": int(time.time() * 1000)}

    async def trade_fee(self, request: Request) -> Any:
        return [wire.trade_fee(m) for m, _, _, _ in MARKETS.values()]

    async def cancel_replace(self, request: Request) -> Any:
        self.sent.append(dict(request.body or {}))
        status, body = self.replies.pop(0)
        if status != 200:
            raise Answer(status, body)
        return body

    async def query_order(self, request: Request) -> Any:
        found = self.orders.get(str(request.param("origClientOrderId")))
        if found is None:
            raise Answer(400, {"code": -2013, "msg": "Order does not exist."})
        return found

    async def cancel_order(self, request: Request) -> Any:
        order_id = int(request.param("orderId", 0))
        found = next((o for o in self.orders.values() if o["orderId"] == order_id), None)
        if found is None or found["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise Answer(400, {"code": -2011, "msg": "Unknown order sent."})
        found["status"] = "CANCELED"
        return {**found, "origClientOrderId": found["clientOrderId"], "clientOrderId": "cxl"}
