"""OKX's REST API v5 (spot), as ccxt's okx class calls it, answered from the simulated account.

Formats from OKX's docs (https://www.okx.com/docs-v5/en/): every reply is
`{"code": "0", "msg": "", "data": [...]}` with numbers as strings and times as millisecond
strings; an order request that fails answers `code "1"` with the reason in `data[].sCode`
(HTTP 200); key and rate-limit errors answer a top-level code with HTTP 401 / 429
(#error-code-rest-api-public). What OKX checks and this fake checks too: the four OK-ACCESS-*
headers and the HMAC-SHA256 signature of `timestamp + method + path?query + body`, the
passphrase, the demo-trading header when the key is a demo key, clOrdId's charset and length,
instType on the listings that require it, and post-only orders that would take (accepted, then
cancelled by the system: cancelSource 31).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import ccxt
import yarl

from bot.domain.market import ZERO, Side
from bot.sim.account import OrderStatus, OrderType, SimOrder, SimTrade, TimeInForce
from tests.venues.venue import Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "okx-test-key", "secret": "okx-test-secret", "password": "okx-Passphrase1"}

CLORDID = re.compile(r"[A-Za-z0-9]{1,32}")  # "case-sensitive alphanumerics ... up to 32"
ORDER_IDS = 680800019749900000  # OKX order ids are long numeric strings
REFUSED_IDS = 690800019749900000  # orders OKX accepted and cancelled at once (post-only)
BILL_IDS = 680900019754000000


def num(value: Decimal | None) -> str:
    """A decimal as OKX prints it: plain digits, no exponent, no trailing zeros; "" for none."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def top_error(status: int, code: str, msg: str) -> Answer:
    return Answer(status, {"code": code, "msg": msg, "data": []})


@dataclass
class Fake(Venue):
    exchange_id: str = "okx"
    create_path: str = "/api/v5/trade/order"
    demo: bool = False  # the key is a demo-trading key: x-simulated-trading: 1 is required
    refused: dict[str, SimOrder] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query) as sent
    # path -> an answer given instead of the reply, after the request executed (51149)
    executed_then: dict[str, Answer] = field(default_factory=dict)
    _raw: tuple[str, str] = ("", "")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.engine.client_id_pattern = CLORDID
        # OKX spot has a minimum size (minSz) and no minimum notional.
        for symbol, market in list(self.engine.markets.items()):
            self.engine.markets[symbol] = replace(market, min_cost=ZERO)

    # ---- the venue's identity -----------------------------------------------------------------

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "-")

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.InsufficientFunds):
            return self._failed("51008", f"Order failed. Insufficient balance in account: {exc}")
        if isinstance(exc, ccxt.OrderNotFound):
            return Answer(200, {"code": "51603", "msg": "Order does not exist", "data": []})
        if isinstance(exc, ccxt.DuplicateOrderId):
            return self._failed("51016", "Client order ID already exists.")
        if isinstance(exc, ccxt.BadSymbol):
            return self._failed("51001", "Instrument ID doesn't exist.")
        if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
            return self._failed("51000", f"Parameter error: {exc}")
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return top_error(429, "50011", "Too Many Requests")
        if isinstance(exc, ccxt.InvalidNonce):
            return top_error(401, "50102", "Timestamp request expired.")
        if isinstance(exc, ccxt.AuthenticationError):
            return top_error(401, "50113", "Invalid signature.")
        if isinstance(exc, ccxt.OnMaintenance):
            return top_error(
                503, "50001", "Service temporarily unavailable. Please try again later."
            )
        if isinstance(exc, ccxt.RequestTimeout):
            return top_error(400, "50004", "API endpoint request timeout.")
        return top_error(500, "50026", "System error. Try again later")

    @staticmethod
    def _failed(code: str, msg: str, clordid: str = "") -> Answer:
        item = {"clOrdId": clordid, "ordId": "", "sCode": code, "sMsg": msg, "tag": "", "ts": ""}
        return Answer(200, {"code": "1", "msg": "All operations failed", "data": [item]})

    # ---- HTTP: authentication -----------------------------------------------------------------

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        self._raw = (url.raw_path_qs, data.decode() if data else "")
        self.sent.append((method, url.raw_path_qs))
        reply = await super().handle(method, url, headers, data)
        instead = self.executed_then.pop(url.path, None)
        if instead is not None:
            return instead.status, {"Content-Type": "application/json"}, json.dumps(instead.body)
        return reply

    def _auth(self, request: Request) -> None:
        """OKX's checks of a private request (#overview-rest-authentication)."""
        h = {k.upper(): v for k, v in request.headers.items()}
        for name, code in (
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
        ):
            if not h.get(name):
                raise top_error(401, code, f'Request header "{name}" cannot be empty.')
        if h["OK-ACCESS-KEY"] != CREDENTIALS["apiKey"]:
            raise top_error(401, "50111", "Invalid OK-ACCESS-KEY.")
        if h["OK-ACCESS-PASSPHRASE"] != CREDENTIALS["password"]:
            raise top_error(401, "50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.')
        if self.demo != (h.get("X-SIMULATED-TRADING") == "1"):
            raise top_error(401, "50101", "APIKey does not match current environment.")
        target, body = self._raw
        prehash = h["OK-ACCESS-TIMESTAMP"] + request.method + target + body
        digest = hmac.new(CREDENTIALS["secret"].encode(), prehash.encode(), hashlib.sha256)
        if h["OK-ACCESS-SIGN"] != base64.b64encode(digest.digest()).decode():
            raise top_error(401, "50113", "Invalid signature.")

    def _private(self, handler: Handler) -> Handler:
        async def checked(request: Request) -> Any:
            self._auth(request)
            return await handler(request)

        return checked

    # ---- routes ---------------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], Handler]:
        v5 = "/api/v5"
        private = {
            ("GET", f"{v5}/asset/currencies"): self.currencies,
            ("GET", f"{v5}/account/balance"): self.balance,
            ("GET", f"{v5}/account/bills-archive"): self.bills_archive,
            ("POST", f"{v5}/trade/order"): self.place_order,
            ("GET", f"{v5}/trade/order"): self.get_order,
            ("GET", f"{v5}/trade/orders-pending"): self.pending,
            ("GET", f"{v5}/trade/orders-history"): self.history,
            ("POST", f"{v5}/trade/cancel-order"): self.cancel,
            ("GET", f"{v5}/trade/fills-history"): self.fills,
        }
        return {
            ("GET", f"{v5}/public/time"): self.time,
            ("GET", f"{v5}/system/status"): self.status,
            ("GET", f"{v5}/public/instruments"): self.instruments,
            ("GET", f"{v5}/market/tickers"): self.tickers,
            ("GET", f"{v5}/market/books"): self.books,
            **{route: self._private(h) for route, h in private.items()},
        }

    # ---- public --------------------------------------------------------------------------------

    async def time(self, request: Request) -> Any:
        return ok([{"ts": str(self.engine.now_ms)}])

    async def status(self, request: Request) -> Any:
        return ok([])  # no maintenance scheduled or ongoing

    async def instruments(self, request: Request) -> Any:
        if request.param("instType") is None:
            raise top_error(400, "50014", "Parameter instType can not be empty.")
        if request.param("instType") != "SPOT":
            return ok([])
        rows = []
        for symbol, market in self.engine.markets.items():
            rows.append(
                {
                    "alias": "",
                    "auctionEndTime": "",
                    "baseCcy": market.base,
                    "category": "1",
                    "ctMult": "",
                    "ctType": "",
                    "ctVal": "",
                    "ctValCcy": "",
                    "expTime": "",
                    "instFamily": "",
                    "instId": self.market_id(symbol),
                    "instType": "SPOT",
                    "lever": "10",
                    "listTime": "1606468572000",
                    "lotSz": num(market.amount_step),
                    "maxIcebergSz": "9999999999.0000000000000000",
                    "maxLmtAmt": "1000000",
                    "maxLmtSz": "9999999999",
                    "maxMktAmt": "1000000",
                    "maxMktSz": "1000000",
                    "maxStopSz": "1000000",
                    "maxTriggerSz": "9999999999",
                    "maxTwapSz": "9999999999",
                    "minSz": num(market.min_amount),
                    "optType": "",
                    "quoteCcy": market.quote,
                    "ruleType": "normal",
                    "settleCcy": "",
                    "state": "live",
                    "stk": "",
                    "tickSz": num(market.price_tick),
                    "uly": "",
                }
            )
        return ok(rows)

    async def tickers(self, request: Request) -> Any:
        if request.param("instType") is None:
            raise top_error(400, "50014", "Parameter instType can not be empty.")
        rows = []
        for symbol in self.engine.markets:
            bids, asks = self.engine.book(symbol)
            mid = (bids[0].price + asks[0].price) / 2
            rows.append(
                {
                    "instType": "SPOT",
                    "instId": self.market_id(symbol),
                    "last": num(mid),
                    "lastSz": "0.001",
                    "askPx": num(asks[0].price),
                    "askSz": num(asks[0].amount),
                    "bidPx": num(bids[0].price),
                    "bidSz": num(bids[0].amount),
                    "open24h": num(mid),
                    "high24h": num(mid),
                    "low24h": num(mid),
                    "volCcy24h": "1000000",
                    "vol24h": "100",
                    "ts": str(self.engine.now_ms),
                    "sodUtc0": num(mid),
                    "sodUtc8": num(mid),
                }
            )
        return ok(rows)

    async def books(self, request: Request) -> Any:
        symbol = self.symbol_of(str(request.param("instId")))
        size = int(request.param("sz", 1))
        if not 1 <= size <= 400:
            raise top_error(400, "51000", "Parameter sz error")
        bids, asks = self.engine.book(symbol)

        def side(levels: Any) -> list[list[str]]:
            return [[num(lv.price), num(lv.amount), "0", "1"] for lv in levels[:size]]

        return ok([{"asks": side(asks), "bids": side(bids), "ts": str(self.engine.now_ms)}])

    # ---- account -------------------------------------------------------------------------------

    async def currencies(self, request: Request) -> Any:
        rows = []
        for asset in self.engine.account.assets():
            rows.append(
                {
                    "ccy": asset,
                    "chain": f"{asset}-{asset}",
                    "name": asset,
                    "canDep": True,
                    "canWd": True,
                    "canInternal": True,
                    "minWd": "0.001",
                    "maxWd": "1000000",
                    "wdTickSz": "8",
                    "minFee": "0.0001",
                    "maxFee": "0.0002",
                    "mainNet": True,
                }
            )
        return ok(rows)

    async def bills_archive(self, request: Request) -> Any:
        """No transfer between the account's funding and trading accounts: the balances the
        venue tests start from are already in the trading account."""
        return ok([])

    async def balance(self, request: Request) -> Any:
        account = self.engine.account
        details = []
        for asset in account.assets():
            details.append(
                {
                    "availBal": num(account.free.get(asset, ZERO)),
                    "availEq": "",  # spot mode: equity fields are for margin modes
                    "cashBal": num(account.total(asset)),
                    "ccy": asset,
                    "eq": num(account.total(asset)),
                    "frozenBal": num(account.used.get(asset, ZERO)),
                    "ordFrozen": num(account.used.get(asset, ZERO)),
                    "uTime": str(self.engine.now_ms),
                }
            )
        return ok([{"details": details, "totalEq": "", "uTime": str(self.engine.now_ms)}])

    # ---- orders --------------------------------------------------------------------------------

    def ord_id(self, order: SimOrder) -> str:
        if order.id.startswith("r"):
            return str(REFUSED_IDS + int(order.id[1:]))
        return str(ORDER_IDS + int(order.id))

    def find(self, request: Request) -> SimOrder:
        """The order a request names: ordId first, else the latest with clOrdId (51603)."""
        symbol = self.symbol_of(str(request.param("instId")))
        ord_id, cl_id = request.param("ordId"), request.param("clOrdId")
        if not ord_id and not cl_id:
            raise top_error(200, "51003", "Either client order ID or order ID is required.")
        candidates = [*self.engine.all_orders(symbol), *self.refused.values()]
        found = [
            o
            for o in candidates
            if o.symbol == symbol
            and (self.ord_id(o) == ord_id if ord_id else o.client_order_id == cl_id)
        ]
        if not found:
            raise Answer(200, {"code": "51603", "msg": "Order does not exist", "data": []})
        return max(found, key=lambda o: (o.timestamp, o.seq))

    async def place_order(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        for name in ("instId", "tdMode", "side", "ordType", "sz"):
            if not body.get(name):
                raise top_error(400, "50014", f"Parameter {name} can not be empty.")
        cl_id = str(body.get("clOrdId", ""))
        if cl_id and not CLORDID.fullmatch(cl_id):
            raise top_error(400, "51000", "Parameter clOrdId error")
        if body["tdMode"] != "cash":
            raise self._failed("51010", "Request unsupported under current account mode", cl_id)
        kind = body["ordType"]
        if kind not in ("limit", "post_only", "ioc", "fok") or not body.get("px"):
            raise self._failed("51000", f"Parameter ordType {kind} / px error", cl_id)
        symbol = self.symbol_of(body["instId"])
        amount, price = Decimal(body["sz"]), Decimal(body["px"])
        try:
            order = self.place(
                symbol,
                body["side"],
                amount,
                price,
                ioc=kind == "ioc",
                post_only=kind == "post_only",
                client_id=cl_id or None,
            )
        except ccxt.OrderImmediatelyFillable:
            order = self._cancelled_post_only(symbol, Side(body["side"]), amount, price, cl_id)
        except ccxt.InsufficientFunds as exc:
            raise self._failed(
                "51008", f"Order failed. Insufficient balance: {exc}", cl_id
            ) from None
        except ccxt.DuplicateOrderId:
            raise self._failed("51016", "Client order ID already exists.", cl_id) from None
        item = {
            "clOrdId": order.client_order_id if cl_id else "",
            "ordId": self.ord_id(order),
            "tag": str(body.get("tag", "")),
            "ts": str(self.engine.now_ms),
            "sCode": "0",
            "sMsg": "Order placed",
            "subCode": "",
        }
        return {
            **ok([item]),
            "inTime": f"{self.engine.now_ms}000",
            "outTime": f"{self.engine.now_ms}100",
        }

    def _cancelled_post_only(
        self, symbol: str, side: Side, amount: Decimal, price: Decimal, cl_id: str
    ) -> SimOrder:
        """OKX takes a post-only order that would take, then cancels it (cancelSource 31)."""
        market = self.engine.market(symbol)
        order = SimOrder(
            id=f"r{len(self.refused) + 1}",
            client_order_id=cl_id,
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
            state = "partially_filled" if order.filled else "live"
        else:
            state = "filled" if order.status is OrderStatus.CLOSED else "canceled"
        source = ""
        if order.id.startswith("r"):
            source = "31"  # the post-only order would have taken liquidity
        elif order.status is OrderStatus.EXPIRED:
            source = "14"  # IOC: the unfilled rest cancelled
        elif order.status is OrderStatus.CANCELED:
            source = "1"  # cancelled by the user
        last = order.trades[-1] if order.trades else None
        kind = {TimeInForce.PO: "post_only", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok"}
        return {
            "accFillSz": num(order.filled),
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": num(order.average),
            "cTime": str(order.timestamp),
            "cancelSource": source,
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": order.client_order_id
            if not order.client_order_id.startswith("sim-")
            else "",
            "fee": num(-order.fee),
            "feeCcy": order.fee_currency,
            "fillPx": num(last.price) if last else "",
            "fillSz": num(last.amount) if last else "0",
            "fillTime": str(last.timestamp) if last else "",
            "instId": self.market_id(order.symbol),
            "instType": "SPOT",
            "lever": "",
            "ordId": self.ord_id(order),
            "ordType": kind.get(order.time_in_force, "limit"),
            "pnl": "0",
            "posSide": "",
            "px": num(order.price),
            "rebate": "0",
            "rebateCcy": order.fee_currency,
            "reduceOnly": "false",
            "side": order.side.value,
            "source": "",
            "state": state,
            "stpMode": "cancel_maker",
            "sz": num(order.amount),
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "",
            "tradeId": last.id if last else "",
            "uTime": str(order.last_update_timestamp or order.timestamp),
        }

    async def get_order(self, request: Request) -> Any:
        return ok([self.order_json(self.find(request))])

    def _listed(self, request: Request, open_: bool) -> list[SimOrder]:
        if not open_ and request.param("instType") is None:
            raise top_error(400, "50014", "Parameter instType can not be empty.")
        inst = request.param("instId")
        symbol = self.symbol_of(str(inst)) if inst else None
        orders = [*self.engine.all_orders(symbol), *self.refused.values()]
        orders = [o for o in orders if symbol is None or o.symbol == symbol]
        orders = [o for o in orders if o.is_open == open_]
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 100:
            raise top_error(400, "51000", "Parameter limit error")
        return sorted(orders, key=lambda o: (o.timestamp, o.seq), reverse=True)[:limit]

    async def pending(self, request: Request) -> Any:
        return ok([self.order_json(o) for o in self._listed(request, True)])

    async def history(self, request: Request) -> Any:
        rows = [self.order_json(o) for o in self._listed(request, False)]
        state = request.param("state")
        if state:
            rows = [r for r in rows if r["state"] == state]
        return ok(rows)

    async def cancel(self, request: Request) -> Any:
        order = self.find(request)
        if not order.is_open:
            raise self._failed(
                "51400",
                "Order cancellation failed as the order has been filled, canceled or does not"
                " exist.",
                order.client_order_id,
            )
        self.engine.cancel(order.id)
        item = {
            "clOrdId": order.client_order_id,
            "ordId": self.ord_id(order),
            "ts": str(self.engine.now_ms),
            "sCode": "0",
            "sMsg": "",
        }
        return ok([item])

    # ---- trades --------------------------------------------------------------------------------

    def trade_json(self, trade: SimTrade) -> dict[str, Any]:
        order = self.engine.orders[trade.order_id]
        return {
            "side": trade.side.value,
            "fillSz": num(trade.amount),
            "fillPx": num(trade.price),
            "fee": num(-trade.fee),
            "fillPnl": "0",
            "ordId": self.ord_id(order),
            "feeRate": num(-trade.fee_rate),
            "instType": "SPOT",
            "instId": self.market_id(trade.symbol),
            "clOrdId": order.client_order_id,
            "posSide": "net",
            "billId": str(BILL_IDS + int(trade.id)),
            "subType": "1" if trade.side is Side.BUY else "2",
            "tag": "",
            "fillTime": str(trade.timestamp),
            "execType": "T" if trade.taker else "M",
            "tradeId": trade.id,
            "feeCcy": trade.fee_currency,
            "ts": str(trade.timestamp),
            "tradeQuoteCcy": self.engine.markets[trade.symbol].quote,
        }

    async def fills(self, request: Request) -> Any:
        """Newest first, at most `limit` (100) rows; begin/end filter on ts."""
        if request.param("instType") is None:
            raise top_error(400, "50014", "Parameter instType can not be empty.")
        inst = request.param("instId")
        symbol = self.symbol_of(str(inst)) if inst else None
        trades = self.engine.my_trades(symbol)
        if request.param("ordId"):
            trades = [
                t
                for t in trades
                if self.ord_id(self.engine.orders[t.order_id]) == request.param("ordId")
            ]
        if request.param("begin"):
            trades = [t for t in trades if t.timestamp >= int(request.param("begin"))]
        if request.param("end"):
            trades = [t for t in trades if t.timestamp <= int(request.param("end"))]
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 100:
            raise top_error(400, "51000", "Parameter limit error")
        newest = sorted(trades, key=lambda t: int(t.id), reverse=True)[:limit]
        return ok([self.trade_json(t) for t in newest])
