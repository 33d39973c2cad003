"""KuCoin spot (HF account) behind ccxt's `kucoin`, in KuCoin's own JSON.

Every reply is the envelope {"code": "200000", "data": ...}; an error is {"code", "msg"} with
KuCoin's code (HTTP 200 for business errors such as 400100 and 200004, 401 for keys, 429, 500).
Numbers are strings, times milliseconds. Orders are HF orders (`active`, `cancelExist`,
`inOrderBook`); ids are 24 hex digits. What KuCoin checks and this fake checks too: the
signature (KC-API-SIGN over timestamp + method + endpoint + body, KC-API-PASSPHRASE signed too,
KC-API-KEY-VERSION 2), the 5 s timestamp window (400002), the clientOid rule (at most 40 of
letters, digits, `_` and `-`), the 20/100 book depths, `symbol` on every HF order call.
Post-only orders that would take are accepted, then cancelled by the engine (cancelExist, no
fill), as on KuCoin's asynchronous HF matching; fees are charged in the quote.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt

from bot.sim.account import OrderStatus, SimOrder, SimTrade
from tests.venues.routing import Routes, match, query_string, txt
from tests.venues.venue import MARKETS, Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "kc-key", "secret": "kc-secret", "password": "kc-passphrase"}
CLIENT_OID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # KuCoin's OpenAPI spec, Add Order: clientOid
WINDOW_MS = 5000  # KuCoin docs, Authentication: timestamps within 5 s of the server's
ID_BASE = "6556088034d1"  # KuCoin order ids are 24 hex digits


def ok(data: Any) -> dict[str, Any]:
    return {"code": "200000", "data": data}


def refuse(code: str, msg: str, status: int = 200) -> Answer:
    return Answer(status, {"code": code, "msg": msg})


@dataclass
class Fake(Venue):
    exchange_id: str = "kucoin"
    create_path: str = "/api/v1/hf/orders"
    # Server clock offset from the host's, seconds (a skewed host sees 400002).
    skew: float = 0.0
    # Post-only orders that would have taken: accepted, then cancelled (KuCoin format).
    cancelled_post_only: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Queries that still see a cancelled order as active after its cancel was acknowledged.
    cancel_lag: int = 0
    # KuCoin's answer to a cancel of an order no longer open (code, msg): today's text; older
    # replies read "order_not_exist_or_not_allow_to_cancel".
    cancel_refusal: tuple[str, str] = ("400100", "Order not exist or not allow to be cancelled")
    _lagging: dict[str, int] = field(default_factory=dict)
    _sequence: int = 0  # the book's update sequence

    def __post_init__(self) -> None:
        super().__post_init__()
        self.engine.fees_in_quote = True  # KuCoin: spot fees in the quote, a buy's on top
        self.engine.client_id_pattern = CLIENT_OID

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "-")

    def routes(self) -> dict[tuple[str, str], Handler]:
        return Routes(
            {
                ("GET", "/api/v1/timestamp"): self.timestamp,
                ("GET", "/api/v1/status"): self.status,
                ("GET", "/api/v3/currencies"): self.currencies,
                ("GET", "/api/v2/symbols"): self.symbols,
                ("GET", "/api/v1/market/allTickers"): self.all_tickers,
                ("GET", "/api/v1/market/orderbook/level2_20"): self.book,
                ("GET", "/api/v1/market/orderbook/level2_100"): self.book,
                ("GET", "/api/v3/margin/symbols"): self.private(self.margin_symbols),
                ("GET", "/api/v1/isolated/symbols"): self.private(self.isolated_symbols),
                ("GET", "/api/v1/hf/accounts/opened"): self.private(self.hf_opened),
                ("GET", "/api/v1/accounts"): self.private(self.accounts),
                ("POST", "/api/v1/hf/orders"): self.private(self.add_order),
                ("GET", "/api/v1/hf/orders/active"): self.private(self.active_orders),
                ("GET", "/api/v1/hf/orders/done"): self.private(self.done_orders),
                ("GET", "/api/v1/hf/orders/client-order/{clientOid}"): self.private(
                    self.order_by_client_oid
                ),
                ("GET", "/api/v1/hf/orders/{orderId}"): self.private(self.order_by_id),
                ("DELETE", "/api/v1/hf/orders/{orderId}"): self.private(self.cancel),
                ("GET", "/api/v1/hf/fills"): self.private(self.fills),
            }
        )

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.OrderNotFound):
            return refuse("400100", "order not exist.")
        if isinstance(exc, ccxt.InsufficientFunds):
            return refuse("200004", "Balance insufficient!")
        if isinstance(exc, ccxt.DuplicateOrderId):
            return refuse("126044", "clientOid duplicate")
        if isinstance(exc, ccxt.InvalidNonce):
            return refuse(
                "400002",
                "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds",
                401,
            )
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return refuse("429000", "Too many requests. System-level rate limit exceeded.", 429)
        if isinstance(exc, ccxt.AuthenticationError):
            return refuse("400005", "Signature error", 401)
        if isinstance(exc, ccxt.ExchangeNotAvailable):
            return refuse("500000", "Internal Server Error", 500)
        if isinstance(exc, ccxt.BadSymbol):
            return refuse("400100", "Unsupported trading pair.")
        return refuse("400100", str(exc) or "Parameter error", 400)

    # ---- signing ------------------------------------------------------------------------------

    def server_ms(self) -> int:
        return round((time.time() + self.skew) * 1000)

    def private(self, handler: Handler) -> Handler:
        async def signed(request: Request) -> Any:
            self.check_signature(request)
            return await handler(request)

        return signed

    def check_signature(self, request: Request) -> None:
        h = {k.upper(): v for k, v in request.headers.items()}
        secret = CREDENTIALS["secret"].encode()
        if h.get("KC-API-KEY") != CREDENTIALS["apiKey"] or h.get("KC-API-KEY-VERSION") != "2":
            raise refuse("400003", "KC-API-KEY not exists", 401)
        passphrase = base64.b64encode(
            hmac.new(secret, CREDENTIALS["password"].encode(), hashlib.sha256).digest()
        ).decode()
        if h.get("KC-API-PASSPHRASE") != passphrase:
            raise refuse("400004", "Invalid KC-API-PASSPHRASE", 401)
        stamp = h.get("KC-API-TIMESTAMP", "")
        if not stamp.isdigit() or abs(int(stamp) - self.server_ms()) > WINDOW_MS:
            raise self.error(ccxt.InvalidNonce("timestamp"))
        endpoint = request.path + (f"?{query_string(request.query)}" if request.query else "")
        body = "" if request.body is None else json.dumps(request.body, separators=(",", ":"))
        payload = f"{stamp}{request.method}{endpoint}{body}"
        expected = base64.b64encode(
            hmac.new(secret, payload.encode(), hashlib.sha256).digest()
        ).decode()
        if h.get("KC-API-SIGN") != expected:
            raise refuse("400005", "Signature error", 401)

    # ---- public -------------------------------------------------------------------------------

    async def timestamp(self, request: Request) -> Any:
        return {"code": "200000", "msg": "success", "data": self.server_ms()}

    async def status(self, request: Request) -> Any:
        return ok({"status": "open", "msg": ""})  # open, close, cancelonly

    async def currencies(self, request: Request) -> Any:
        codes = sorted({c for s in MARKETS for c in s.split("/")})
        return ok(
            [
                {
                    "currency": c,
                    "name": c,
                    "fullName": c,
                    "precision": 8,
                    "confirms": None,
                    "contractAddress": None,
                    "isMarginEnabled": True,
                    "isDebitEnabled": True,
                    "chains": [
                        {
                            "chainName": c,
                            "chainId": c.lower(),
                            "withdrawalMinSize": "0.001",
                            "depositMinSize": None,
                            "withdrawFeeRate": "0",
                            "withdrawalMinFee": "0.0005",
                            "isWithdrawEnabled": True,
                            "isDepositEnabled": True,
                            "confirms": 2,
                            "preConfirms": 2,
                            "withdrawPrecision": 8,
                            "maxWithdraw": None,
                            "maxDeposit": None,
                            "needTag": False,
                            "contractAddress": "",
                        }
                    ],
                }
                for c in codes
            ]
        )

    async def symbols(self, request: Request) -> Any:
        out = []
        for symbol, (m, *_) in MARKETS.items():
            out.append(
                {
                    "symbol": self.market_id(symbol),
                    "name": self.market_id(symbol),
                    "baseCurrency": m.base,
                    "quoteCurrency": m.quote,
                    "feeCurrency": m.quote,
                    "market": "USDS",
                    "baseMinSize": txt(m.min_amount),
                    "quoteMinSize": txt(m.min_cost),
                    "baseMaxSize": "10000000000",
                    "quoteMaxSize": "99999999",
                    "baseIncrement": txt(m.amount_step),
                    "quoteIncrement": "0.000001",
                    "priceIncrement": txt(m.price_tick),
                    "priceLimitRate": "0.1",
                    "minFunds": "0.1",
                    "isMarginEnabled": True,
                    "enableTrading": True,
                    "feeCategory": 1,
                    "makerFeeCoefficient": "1.00",
                    "takerFeeCoefficient": "1.00",
                    "st": False,
                }
            )
        return ok(out)

    async def all_tickers(self, request: Request) -> Any:
        tickers = []
        for symbol, (m, *_) in MARKETS.items():
            bids, asks = self.engine.book(symbol)
            tickers.append(
                {
                    "symbol": self.market_id(symbol),
                    "symbolName": self.market_id(symbol),
                    "buy": txt(bids[0].price),
                    "bestBidSize": txt(bids[0].amount),
                    "sell": txt(asks[0].price),
                    "bestAskSize": txt(asks[0].amount),
                    "changeRate": "0",
                    "changePrice": "0",
                    "high": txt(asks[0].price),
                    "low": txt(bids[0].price),
                    "vol": "100",
                    "volValue": "1000000",
                    "last": txt((bids[0].price + asks[0].price) / 2),
                    "averagePrice": txt(bids[0].price),
                    "takerFeeRate": txt(m.taker_fee),
                    "makerFeeRate": txt(m.maker_fee),
                    "takerCoefficient": "1",
                    "makerCoefficient": "1",
                }
            )
        return ok({"time": self.server_ms(), "ticker": tickers})

    async def book(self, request: Request) -> Any:
        depth = int(request.path.rsplit("_", 1)[1])
        symbol = self.symbol_of(self.required(request, "symbol"))
        bids, asks = self.engine.book(symbol)
        self._sequence += 1
        return ok(
            {
                "time": self.server_ms(),  # market data is stamped by KuCoin's clock
                "sequence": str(14610502970 + self._sequence),
                "bids": [[txt(lv.price), txt(lv.amount)] for lv in bids[:depth]],
                "asks": [[txt(lv.price), txt(lv.amount)] for lv in asks[:depth]],
            }
        )

    # ---- account ------------------------------------------------------------------------------

    async def margin_symbols(self, request: Request) -> Any:
        return ok({"timestamp": self.engine.now_ms, "items": []})

    async def isolated_symbols(self, request: Request) -> Any:
        return ok([])

    async def hf_opened(self, request: Request) -> Any:
        return ok(True)

    async def accounts(self, request: Request) -> Any:
        kind = request.param("type")
        account = self.engine.account
        return ok(
            [
                {
                    "id": f"64feeeb6b4f1fb000794{i:04x}",
                    "currency": asset,
                    "type": "trade_hf",
                    "balance": txt(account.total(asset)),
                    "available": txt(account.free.get(asset, Decimal(0))),
                    "holds": txt(account.used.get(asset, Decimal(0))),
                }
                for i, asset in enumerate(account.assets())
                if kind in (None, "trade_hf")
            ]
        )

    # ---- orders -------------------------------------------------------------------------------

    def required(self, request: Request, name: str) -> str:
        value = request.param(name)
        if value in (None, ""):
            raise refuse("400100", f"{name} is required", 400)
        return str(value)

    async def add_order(self, request: Request) -> Any:
        body = request.body or {}
        for name in ("symbol", "type", "side", "price", "size"):
            self.required(request, name)
        cid = body.get("clientOid")
        if cid is not None and not CLIENT_OID.fullmatch(cid):
            raise refuse("400100", "clientOid: only letters, digits, _ and -, at most 40")
        if body["type"] != "limit":
            raise refuse("400100", "only limit orders in this fake", 400)
        symbol = self.symbol_of(body["symbol"])
        tif = body.get("timeInForce", "GTC")
        post_only = bool(body.get("postOnly")) and tif not in ("IOC", "FOK")
        try:
            order = self.place(
                symbol,
                body["side"],
                Decimal(body["size"]),
                Decimal(body["price"]),
                ioc=tif == "IOC",
                post_only=post_only,
                client_id=cid,
            )
        except ccxt.OrderImmediatelyFillable:
            # KuCoin takes the order, its matching engine then cancels it: no fill.
            oid = f"{ID_BASE}{9000 + len(self.cancelled_post_only):012x}"
            self.cancelled_post_only[oid] = self.post_only_cancelled(oid, body, symbol)
            return ok({"orderId": oid, "clientOid": cid})
        return ok({"orderId": self.order_id(order), "clientOid": cid})

    def post_only_cancelled(self, oid: str, body: dict[str, Any], symbol: str) -> dict[str, Any]:
        size = body["size"]
        return {
            **self.order_shell(oid, body.get("clientOid") or "", symbol, body["side"]),
            "price": body["price"],
            "size": size,
            "dealSize": "0",
            "dealFunds": "0",
            "cancelledSize": size,
            "remainSize": "0",
            "fee": "0",
            "timeInForce": "GTC",
            "postOnly": True,
            "active": False,
            "inOrderBook": False,
            "cancelExist": True,
        }

    def order_id(self, order: SimOrder) -> str:
        return f"{ID_BASE}{int(order.id):012x}"

    def order_shell(self, oid: str, cid: str, symbol: str, side: str) -> dict[str, Any]:
        return {
            "id": oid,
            "clientOid": cid,
            "symbol": self.market_id(symbol),
            "opType": "DEAL",
            "type": "limit",
            "side": side,
            "funds": "0",
            "cancelledFunds": "0",
            "remainFunds": "0",
            "feeCurrency": symbol.split("/")[1],
            "stp": "",
            "hidden": False,
            "iceberg": False,
            "visibleSize": "0",
            "cancelAfter": 0,
            "channel": "API",
            "remark": "",
            "tags": "partner:ccxt",
            "tradeType": "TRADE",
            "createdAt": self.engine.now_ms,
            "lastUpdatedAt": self.engine.now_ms,
        }

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        oid = self.order_id(order)
        lagging = self._lagging.get(oid, 0) > 0
        if lagging:
            self._lagging[oid] -= 1
        active = order.is_open or lagging
        cancelled = order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED) and not lagging
        out = self.order_shell(oid, order.client_order_id, order.symbol, order.side.value)
        out.update(
            {
                "price": txt(order.price or Decimal(0)),
                "size": txt(order.amount),
                "dealSize": txt(order.filled),
                "dealFunds": txt(order.cost),
                "cancelledSize": txt(order.remaining if cancelled else Decimal(0)),
                "remainSize": txt(order.remaining if active else Decimal(0)),
                "fee": txt(order.fee),
                "timeInForce": "IOC" if order.time_in_force.value == "IOC" else "GTC",
                "postOnly": order.post_only,
                "active": active,
                "inOrderBook": active,
                "cancelExist": cancelled,
                "createdAt": order.timestamp,
                "lastUpdatedAt": order.last_update_timestamp or order.timestamp,
            }
        )
        return out

    def find(self, request: Request) -> dict[str, Any]:
        """The order a path names (by orderId or clientOid), on the symbol the query names."""
        symbol = self.symbol_of(self.required(request, "symbol"))
        by_cid = match("/api/v1/hf/orders/client-order/{clientOid}", request.path)
        if by_cid is not None:
            cid = by_cid["clientOid"]
            ghosts = [g for g in self.cancelled_post_only.values() if g["clientOid"] == cid]
            if ghosts:
                return ghosts[-1]
            return self.order_json(self.engine.find(client_order_id=cid, symbol=symbol))
        oid = request.path.rsplit("/", 1)[1]
        if oid in self.cancelled_post_only:
            return self.cancelled_post_only[oid]
        return self.order_json(self.engine.find(self.engine_id(oid), symbol=symbol))

    def engine_id(self, oid: str) -> str:
        if not oid.startswith(ID_BASE):
            raise ccxt.OrderNotFound(oid)
        return str(int(oid[len(ID_BASE) :], 16))

    async def order_by_id(self, request: Request) -> Any:
        return ok(self.find(request))

    async def order_by_client_oid(self, request: Request) -> Any:
        return ok(self.find(request))

    async def cancel(self, request: Request) -> Any:
        symbol = self.symbol_of(self.required(request, "symbol"))
        oid = request.path.rsplit("/", 1)[1]
        try:
            self.engine.cancel(self.engine_id(oid), symbol=symbol)
        except ccxt.OrderNotFound:
            # Filled, cancelled or unknown: KuCoin's one answer (ccxt: OrderNotFound by text).
            raise refuse(*self.cancel_refusal) from None
        if self.cancel_lag:
            self._lagging[oid] = self.cancel_lag
        return ok({"orderId": oid})

    async def active_orders(self, request: Request) -> Any:
        symbol = self.symbol_of(self.required(request, "symbol"))
        return ok([self.order_json(o) for o in self.engine.open_orders(symbol)])

    async def done_orders(self, request: Request) -> Any:
        symbol = self.symbol_of(self.required(request, "symbol"))
        limit = int(request.param("limit", 20))  # ccxt sends pageSize, which HF ignores
        if not 1 <= limit <= 100:
            raise refuse("400100", "limit should be between 1 and 100", 400)
        done = [self.order_json(o) for o in self.engine.all_orders(symbol) if not o.is_open]
        market_id = self.market_id(symbol)
        done += [g for g in self.cancelled_post_only.values() if g["symbol"] == market_id]
        done.sort(key=lambda o: o["lastUpdatedAt"], reverse=True)  # newest first
        return ok({"lastId": 2682265600, "items": done[:limit]})

    async def fills(self, request: Request) -> Any:
        symbol = self.symbol_of(self.required(request, "symbol"))
        limit = int(request.param("limit", 20))
        if not 1 <= limit <= 100:
            raise refuse("400100", "limit should be between 1 and 100", 400)
        trades = self.engine.my_trades(symbol)
        order_id = request.param("orderId")
        if order_id is not None:  # "other parameters are ignored"
            engine_id = self.engine_id(order_id) if order_id.startswith(ID_BASE) else ""
            trades = [t for t in trades if t.order_id == engine_id]
        elif request.param("startAt") is not None:
            trades = [t for t in trades if t.timestamp >= int(request.param("startAt"))]
        page = sorted(trades, key=lambda t: t.timestamp, reverse=True)[:limit]  # newest first
        return ok({"items": [self.fill_json(t) for t in page], "lastId": 2678765568})

    def fill_json(self, trade: SimTrade) -> dict[str, Any]:
        order = self.engine.orders[trade.order_id]
        return {
            "id": 2678765568 + int(trade.id),
            "symbol": self.market_id(trade.symbol),
            "tradeId": trade.id,
            "orderId": self.order_id(order),
            "counterOrderId": "6306cf4027ecbe0001e1df4d",
            "side": trade.side.value,
            "liquidity": "taker" if trade.taker else "maker",
            "forceTaker": False,
            "price": txt(trade.price),
            "size": txt(trade.amount),
            "funds": txt(trade.cost),
            "fee": txt(trade.fee),
            "feeRate": txt(trade.fee_rate),
            "feeCurrency": trade.fee_currency,
            "stop": "",
            "tradeType": "TRADE",
            "taxRate": "0",
            "tax": "0",
            "type": "limit",
            "createdAt": trade.timestamp,
        }
