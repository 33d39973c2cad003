"""Bybit's REST API v5 (spot, unified trading account), as ccxt's bybit class calls it, answered
from the simulated account.

Formats from Bybit's docs (https://bybit-exchange.github.io/docs/v5/): every reply is
`{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": ms}`, numbers as
strings; errors are a non-zero retCode with HTTP 200 (#error). What Bybit checks and this fake
checks too: the X-BAPI-* headers and the HMAC-SHA256 signature of
`timestamp + key + recv_window + (query | body)`, the timestamp inside the receive window
(10002), `category` on every trading call, orderLinkId's charset and length and that it is never
reused (170141), listing limits ([1, 50] for orders, [1, 100] for executions), and post-only
orders that would take (accepted, then Cancelled with rejectReason EC_PostOnlyWillTakeLiquidity).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
import yarl

from bot.domain.market import ZERO, Side
from bot.sim.account import OrderStatus, OrderType, SimOrder, SimTrade, TimeInForce
from tests.venues.venue import Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "bybit-test-key", "secret": "bybit-test-secret"}

ORDER_LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")  # "max of 36 ... numbers, letters, - and _"


def server_ms() -> int:
    """Bybit's clock, which signed requests are checked against: the wall clock (the account's
    own times, orders and trades, run on the simulated clock)."""
    return int(time.time() * 1000)


def num(value: Decimal | None) -> str:
    """A decimal as Bybit prints it: plain digits, no exponent; "0" for none."""
    if value is None:
        return "0"
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass
class Fake(Venue):
    exchange_id: str = "bybit"
    create_path: str = "/v5/order/create"
    # What a cancel of an order that is already filled or cancelled answers (170213 "Order does
    # not exist."; Bybit's spot table also has 170139 "Order has been filled." and 170142).
    final_cancel_code: int = 170213
    # After a Bybit release or restart, finished orders are found only in the order history,
    # no longer by /v5/order/realtime (#order/open-order).
    realtime_forgets_finished: bool = False
    refused: dict[str, SimOrder] = field(default_factory=dict)
    # (method, host, path?query, headers) of every request, as sent
    sent: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    # path -> an answer given instead of the reply, after the request executed (170146)
    executed_then: dict[str, Answer] = field(default_factory=dict)
    _raw: tuple[str, str] = ("", "")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.engine.client_id_pattern = ORDER_LINK_ID

    # ---- the venue's identity -----------------------------------------------------------------

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "")

    def reply(self, result: Any) -> dict[str, Any]:
        return {
            "retCode": 0,
            "retMsg": "OK",
            "result": result,
            "retExtInfo": {},
            "time": self.engine.now_ms,
        }

    def refuse(self, code: int, msg: str, status: int = 200) -> Answer:
        body = {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": 0}
        body["time"] = self.engine.now_ms
        return Answer(status, body)

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.InsufficientFunds):
            return self.refuse(170131, "Insufficient balance.")
        if isinstance(exc, ccxt.OrderNotFound):
            return self.refuse(170213, "Order does not exist.")
        if isinstance(exc, ccxt.DuplicateOrderId):
            return self.refuse(170141, "Duplicate clientOrderId.")
        if isinstance(exc, ccxt.BadSymbol):
            return self.refuse(170121, "Invalid symbol.")
        if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
            return self.refuse(170130, f"Data sent for paramter is not valid: {exc}")
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return self.refuse(10006, "Too many visits. Exceeded the API Rate Limit.")
        if isinstance(exc, ccxt.InvalidNonce):
            return self.refuse(10002, "The request time exceeds the time window range.")
        if isinstance(exc, ccxt.AuthenticationError):
            return self.refuse(10004, "Error sign, please check your signature generation.")
        if isinstance(exc, ccxt.RequestTimeout):
            return self.refuse(10000, "Server Timeout")
        return self.refuse(10016, "Server error.")

    # ---- HTTP: authentication -----------------------------------------------------------------

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        self._raw = (url.raw_query_string, data.decode() if data else "")
        self.sent.append((method, url.host or "", url.raw_path_qs, dict(headers)))
        reply = await super().handle(method, url, headers, data)
        instead = self.executed_then.pop(url.path, None)
        if instead is not None:
            return instead.status, {"Content-Type": "application/json"}, json.dumps(instead.body)
        return reply

    def _auth(self, request: Request) -> None:
        """Bybit's checks of a private request (#integration-guidance)."""
        h = {k.upper(): v for k, v in request.headers.items()}
        for name in ("X-BAPI-API-KEY", "X-BAPI-TIMESTAMP", "X-BAPI-SIGN"):
            if not h.get(name):
                raise self.refuse(10003, "API key is invalid.", 401)
        if h["X-BAPI-API-KEY"] != CREDENTIALS["apiKey"]:
            raise self.refuse(10003, "API key is invalid.")
        window = h.get("X-BAPI-RECV-WINDOW", "5000")
        stamp, now = int(h["X-BAPI-TIMESTAMP"]), server_ms()
        if not now - int(window) <= stamp < now + 1000:
            raise self.refuse(10002, "The request time exceeds the time window range.")
        query, body = self._raw
        payload = h["X-BAPI-TIMESTAMP"] + h["X-BAPI-API-KEY"] + window
        payload += body if request.method == "POST" else query
        digest = hmac.new(CREDENTIALS["secret"].encode(), payload.encode(), hashlib.sha256)
        if h["X-BAPI-SIGN"] != digest.hexdigest():
            raise self.refuse(10004, "Error sign, please check your signature generation.")

    def _private(self, handler: Handler) -> Handler:
        async def checked(request: Request) -> Any:
            self._auth(request)
            return await handler(request)

        return checked

    # ---- routes ---------------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], Handler]:
        private = {
            ("GET", "/v5/asset/coin/query-info"): self.coins,
            ("GET", "/v5/account/wallet-balance"): self.balance,
            ("POST", "/v5/order/create"): self.create,
            ("POST", "/v5/order/cancel"): self.cancel,
            ("GET", "/v5/order/realtime"): self.realtime,
            ("GET", "/v5/order/history"): self.history,
            ("GET", "/v5/execution/list"): self.executions,
        }
        return {
            ("GET", "/v5/market/time"): self.time,
            ("GET", "/v5/system/status"): self.status,
            ("GET", "/v5/market/instruments-info"): self.instruments,
            ("GET", "/v5/market/tickers"): self.tickers,
            ("GET", "/v5/market/orderbook"): self.orderbook,
            **{route: self._private(h) for route, h in private.items()},
        }

    def _category(self, request: Request) -> str:
        category = request.param("category")
        if category is None:
            raise self.refuse(10001, "params error: category is required")
        return str(category)

    # ---- public --------------------------------------------------------------------------------

    async def time(self, request: Request) -> Any:
        now = server_ms()
        body = self.reply({"timeSecond": str(now // 1000), "timeNano": f"{now}000000"})
        return {**body, "time": now}

    async def status(self, request: Request) -> Any:
        return self.reply({"list": []})  # no maintenance scheduled or ongoing

    async def instruments(self, request: Request) -> Any:
        if self._category(request) != "spot":
            return self.reply({"category": request.param("category"), "list": []})
        rows = []
        for symbol, market in self.engine.markets.items():
            rows.append(
                {
                    "symbol": self.market_id(symbol),
                    "baseCoin": market.base,
                    "quoteCoin": market.quote,
                    "innovation": "0",
                    "status": "Trading",
                    "marginTrading": "utaOnly",
                    "stTag": "0",
                    "lotSizeFilter": {
                        "basePrecision": num(market.amount_step),
                        "quotePrecision": "0.00000001",
                        "minOrderQty": num(market.min_amount),
                        "maxOrderQty": "71.73956243",
                        "minOrderAmt": num(market.min_cost),
                        "maxOrderAmt": "2000000",
                        "maxLimitOrderQty": "71.73956243",
                        "maxMarketOrderQty": "35.86978121",
                        "postOnlyMaxLimitOrderSize": "71.73956243",
                    },
                    "priceFilter": {"tickSize": num(market.price_tick)},
                    "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
                    "symbolType": "",
                }
            )
        return self.reply({"category": "spot", "list": rows})

    async def tickers(self, request: Request) -> Any:
        if self._category(request) != "spot":
            return self.reply({"category": request.param("category"), "list": []})
        rows = []
        for symbol in self.engine.markets:
            bids, asks = self.engine.book(symbol)
            mid = (bids[0].price + asks[0].price) / 2
            rows.append(
                {
                    "symbol": self.market_id(symbol),
                    "bid1Price": num(bids[0].price),
                    "bid1Size": num(bids[0].amount),
                    "ask1Price": num(asks[0].price),
                    "ask1Size": num(asks[0].amount),
                    "lastPrice": num(mid),
                    "prevPrice24h": num(mid),
                    "price24hPcnt": "0",
                    "highPrice24h": num(mid),
                    "lowPrice24h": num(mid),
                    "turnover24h": "1000000",
                    "volume24h": "100",
                    "usdIndexPrice": num(mid),
                }
            )
        return self.reply({"category": "spot", "list": rows})

    async def orderbook(self, request: Request) -> Any:
        self._category(request)
        symbol = self.symbol_of(str(request.param("symbol")))
        limit = int(request.param("limit", 1))
        if not 1 <= limit <= 200:  # spot: [1, 200]
            raise self.refuse(10001, "params error: limit")
        bids, asks = self.engine.book(symbol)
        now = self.engine.now_ms
        return self.reply(
            {
                "s": self.market_id(symbol),
                "b": [[num(lv.price), num(lv.amount)] for lv in bids[:limit]],
                "a": [[num(lv.price), num(lv.amount)] for lv in asks[:limit]],
                "ts": now,
                "u": now,
                "seq": now,
                "cts": now,
            }
        )

    # ---- account -------------------------------------------------------------------------------

    async def coins(self, request: Request) -> Any:
        rows = []
        for asset in self.engine.account.assets():
            chain = {
                "chainType": asset,
                "confirmation": "1",
                "withdrawFee": "0.0001",
                "depositMin": "0",
                "withdrawMin": "0.001",
                "chain": asset,
                "chainDeposit": "1",
                "chainWithdraw": "1",
                "minAccuracy": "8",
                "withdrawPercentageFee": "0",
                "contractAddress": "",
            }
            rows.append({"name": asset, "coin": asset, "remainAmount": "150", "chains": [chain]})
        return self.reply({"rows": rows})

    async def balance(self, request: Request) -> Any:
        if request.param("accountType") != "UNIFIED":
            raise self.refuse(10001, "accountType only support UNIFIED.")
        account = self.engine.account
        coins = []
        for asset in account.assets():
            coins.append(
                {
                    "availableToBorrow": "",
                    "bonus": "0",
                    "accruedInterest": "0",
                    "availableToWithdraw": "",  # deprecated for UNIFIED since 9 Jan 2025
                    "totalOrderIM": "0",
                    "equity": num(account.total(asset)),
                    "totalPositionMM": "0",
                    "usdValue": "0",
                    "spotHedgingQty": "0",
                    "unrealisedPnl": "0",
                    "collateralSwitch": True,
                    "borrowAmount": "0",
                    "totalPositionIM": "0",
                    "walletBalance": num(account.total(asset)),
                    "cumRealisedPnl": "0",
                    "locked": num(account.used.get(asset, ZERO)),
                    "marginCollateral": True,
                    "coin": asset,
                    "spotBorrow": "0",
                }
            )
        entry = {"accountType": "UNIFIED", "totalEquity": "0", "coin": coins}
        return self.reply({"list": [entry]})

    # ---- orders --------------------------------------------------------------------------------

    def order_id(self, order: SimOrder) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"bybit-{order.id}"))

    def _all(self, symbol: str | None = None) -> list[SimOrder]:
        orders = [*self.engine.all_orders(symbol), *self.refused.values()]
        return [o for o in orders if symbol is None or o.symbol == symbol]

    async def create(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("category") != "spot":
            raise self.refuse(10001, "params error: category")
        for name in ("symbol", "side", "orderType", "qty"):
            if not body.get(name):
                raise self.refuse(10001, f"params error: {name} is required")
        link = str(body.get("orderLinkId", ""))
        if link and not ORDER_LINK_ID.fullmatch(link):
            raise self.refuse(170130, "Data sent for paramter 'orderLinkId' is not valid.")
        if link and any(o.client_order_id == link for o in self._all()):
            raise self.refuse(170141, "Duplicate clientOrderId.")
        if body["orderType"] != "Limit" or not body.get("price"):
            raise self.refuse(170116, "Invalid orderType.")
        tif = body.get("timeInForce", "GTC")
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise self.refuse(170115, "Invalid timeInForce.")
        symbol = self.symbol_of(body["symbol"])
        side = Side(body["side"].lower())
        amount, price = Decimal(body["qty"]), Decimal(body["price"])
        try:
            order = self.place(
                symbol,
                side.value,
                amount,
                price,
                ioc=tif == "IOC",
                post_only=tif == "PostOnly",
                client_id=link or None,
            )
        except ccxt.OrderImmediatelyFillable:
            order = self._cancelled_post_only(symbol, side, amount, price, link)
        except ccxt.InsufficientFunds:
            raise self.refuse(170131, "Insufficient balance.") from None
        except ccxt.InvalidOrder as exc:
            raise self.refuse(170130, f"Data sent for paramter is not valid: {exc}") from None
        except ccxt.BadRequest:
            raise self.refuse(170140, "Order value exceeded lower limit.") from None
        return self.reply({"orderId": self.order_id(order), "orderLinkId": link})

    def _cancelled_post_only(
        self, symbol: str, side: Side, amount: Decimal, price: Decimal, link: str
    ) -> SimOrder:
        """Bybit takes a post-only order that would take, then cancels it."""
        market = self.engine.market(symbol)
        order = SimOrder(
            id=f"r{len(self.refused) + 1}",
            client_order_id=link,
            symbol=symbol,
            type=OrderType.LIMIT,
            side=side,
            price=price,
            amount=amount,
            time_in_force=TimeInForce.PO,
            post_only=True,
            timestamp=self.engine.now_ms,
            fee_currency=market.base if side is Side.BUY else market.quote,
            seq=0,
            status=OrderStatus.CANCELED,
            last_update_timestamp=self.engine.now_ms,
        )
        self.refused[order.id] = order
        return order

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        if order.status is OrderStatus.OPEN:
            status = "PartiallyFilled" if order.filled else "New"
        elif order.status is OrderStatus.CLOSED:
            status = "Filled"
        else:  # spot: a cancelled (or expired IOC) order with fills is PartiallyFilledCanceled
            status = "PartiallyFilledCanceled" if order.filled else "Cancelled"
        tif = {TimeInForce.PO: "PostOnly", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
        return {
            "orderId": self.order_id(order),
            "orderLinkId": ""
            if order.client_order_id.startswith("sim-")
            else order.client_order_id,
            "blockTradeId": "",
            "symbol": self.market_id(order.symbol),
            "price": num(order.price),
            "qty": num(order.amount),
            "side": order.side.value.capitalize(),
            "isLeverage": "0",
            "positionIdx": 0,
            "orderStatus": status,
            "cancelType": "UNKNOWN",
            "rejectReason": "EC_PostOnlyWillTakeLiquidity"
            if order.id.startswith("r")
            else "EC_NoError",
            "avgPrice": num(order.average),
            "leavesQty": num(order.remaining if order.is_open else ZERO),
            "leavesValue": num(order.remaining * (order.price or ZERO) if order.is_open else ZERO),
            "cumExecQty": num(order.filled),
            "cumExecValue": num(order.cost),
            "cumExecFee": num(order.fee),
            "cumFeeDetail": {order.fee_currency: num(order.fee)} if order.fee else {},
            "timeInForce": tif.get(order.time_in_force, "GTC"),
            "orderType": "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "triggerPrice": "0.00",
            "takeProfit": "0.00",
            "stopLoss": "0.00",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": False,
            "closeOnTrigger": False,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(order.timestamp),
            "updatedTime": str(order.last_update_timestamp or order.timestamp),
        }

    def _find(self, request: Request, symbol: str | None) -> list[SimOrder]:
        """Orders named by orderId (first) or orderLinkId; "None" is a name that matches none."""
        order_id, link = request.param("orderId"), request.param("orderLinkId")
        if order_id:
            return [o for o in self._all(symbol) if self.order_id(o) == order_id]
        return [o for o in self._all(symbol) if o.client_order_id == link]

    def _listing(self, request: Request) -> tuple[str | None, int]:
        self._category(request)
        raw = request.param("symbol")
        symbol = self.symbol_of(str(raw)) if raw else None
        limit = int(request.param("limit", 20))
        if not 1 <= limit <= 50:
            raise self.refuse(10001, "params error: limit must be in [1, 50]")
        return symbol, limit

    @staticmethod
    def _newest(orders: list[SimOrder], limit: int) -> list[SimOrder]:
        return sorted(orders, key=lambda o: (o.timestamp, o.seq), reverse=True)[:limit]

    async def realtime(self, request: Request) -> Any:
        """Open orders; by orderId or orderLinkId, an order of any status (openOnly ignored)."""
        symbol, limit = self._listing(request)
        if request.param("orderId") or request.param("orderLinkId"):
            orders = self._find(request, symbol)
        else:
            orders = [o for o in self._all(symbol) if o.is_open]
        if self.realtime_forgets_finished:
            orders = [o for o in orders if o.is_open]
        rows = [self.order_json(o) for o in self._newest(orders, limit)]
        return self.reply({"list": rows, "nextPageCursor": "", "category": "spot"})

    async def history(self, request: Request) -> Any:
        symbol, limit = self._listing(request)
        if request.param("orderId") or request.param("orderLinkId"):
            orders = self._find(request, symbol)
        else:
            orders = self._all(symbol)
        orders = [o for o in orders if not o.is_open]
        rows = [self.order_json(o) for o in self._newest(orders, limit)]
        wanted = request.param("orderStatus")
        if wanted:
            rows = [r for r in rows if r["orderStatus"] == wanted]
        return self.reply({"list": rows, "nextPageCursor": "", "category": "spot"})

    async def cancel(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("category") != "spot":
            raise self.refuse(10001, "params error: category")
        found = self._find(Request("POST", "", {}, body, {}), self.symbol_of(body["symbol"]))
        if not found:
            raise self.refuse(170213, "Order does not exist.")
        order = found[-1]
        if not order.is_open:
            messages = {
                170213: "Order does not exist.",
                170139: "Order has been filled.",
                170142: "Order has been cancelled.",
            }
            raise self.refuse(self.final_cancel_code, messages[self.final_cancel_code])
        self.engine.cancel(order.id)
        return self.reply({"orderId": self.order_id(order), "orderLinkId": order.client_order_id})

    # ---- trades --------------------------------------------------------------------------------

    def trade_id(self, trade: SimTrade) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"bybit-exec-{trade.id}"))

    def trade_json(self, trade: SimTrade) -> dict[str, Any]:
        order = self.engine.orders[trade.order_id]
        return {
            "symbol": self.market_id(trade.symbol),
            "orderType": "Limit",
            "underlyingPrice": "",
            "orderLinkId": order.client_order_id,
            "side": trade.side.value.capitalize(),
            "indexPrice": "",
            "orderId": self.order_id(order),
            "stopOrderType": "",
            "leavesQty": num(order.remaining if order.is_open else ZERO),
            "execTime": str(trade.timestamp),
            "feeCurrency": trade.fee_currency,
            "isMaker": not trade.taker,
            "execFee": num(trade.fee),
            "feeRate": num(trade.fee_rate),
            "execId": self.trade_id(trade),
            "tradeIv": "",
            "blockTradeId": "",
            "markPrice": "",
            "execPrice": num(trade.price),
            "markIv": "",
            "orderQty": num(order.amount),
            "orderPrice": num(order.price),
            "execValue": num(trade.cost),
            "execType": "Trade",
            "execQty": num(trade.amount),
            "closedSize": "",
            "extraFees": "",
            "seq": int(trade.id),
        }

    async def executions(self, request: Request) -> Any:
        """Newest first, at most `limit` ([1, 100], 50 unless asked); startTime filters."""
        self._category(request)
        raw = request.param("symbol")
        symbol = self.symbol_of(str(raw)) if raw else None
        trades = self.engine.my_trades(symbol)
        if request.param("orderId"):
            wanted = request.param("orderId")
            trades = [t for t in trades if self.order_id(self.engine.orders[t.order_id]) == wanted]
        if request.param("startTime"):
            trades = [t for t in trades if t.timestamp >= int(request.param("startTime"))]
        limit = int(request.param("limit", 50))
        if not 1 <= limit <= 100:
            raise self.refuse(10001, "params error: limit must be in [1, 100]")
        newest = sorted(trades, key=lambda t: int(t.id), reverse=True)[:limit]
        rows = [self.trade_json(t) for t in newest]
        return self.reply({"nextPageCursor": "", "category": "spot", "list": rows})
