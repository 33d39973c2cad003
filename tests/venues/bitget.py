"""Bitget's REST API v2 (classic spot account), as ccxt's bitget class calls it (options uta
False), answered from the simulated account.

Formats from Bitget's docs (https://www.bitget.com/api-doc/, spot pages) and the replies ccxt
quotes in ccxt/async_support/bitget.py: every reply is `{"code": "00000", "msg": "success",
"requestTime": ms, "data": ...}`, numbers as strings, an order's fees as a JSON string
(`feeDetail`); errors are a non-zero code with HTTP 400 (429 for the rate limit). What Bitget
checks and this fake checks too: the ACCESS-* headers and the HMAC-SHA256 (base64) signature of
`timestamp + method + path?query + body`, the passphrase, the timestamp against the server's
clock, the demo-trading header when the key is a demo key, clientOid's length (40305), required
parameters, listing limits (100), and post-only orders that would take (accepted, then
cancelled).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
import yarl

from bot.domain.market import ZERO, Side
from bot.sim.account import OrderStatus, OrderType, SimOrder, SimTrade, TimeInForce
from tests.venues.venue import Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "bitget-test-key", "secret": "bitget-test-secret", "password": "bgPass1"}

CLIENT_OID = re.compile(r"[A-Za-z0-9_-]{1,50}")  # 40305: "length is not greater than 50"
ORDER_IDS = 1111461743123900000  # Bitget order and trade ids are long numeric strings
TRADE_IDS = 1111461743999900000
WINDOW_MS = 30_000  # ACCESS-TIMESTAMP this far from the server's clock is refused (40008)


def server_ms() -> int:
    """Bitget's clock, which signed requests are checked against: the wall clock (the account's
    own times, orders and trades, run on the simulated clock)."""
    return int(time.time() * 1000)


def num(value: Decimal | None) -> str:
    """A decimal as Bitget prints it: plain digits, no exponent; "0" for none."""
    if value is None:
        return "0"
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass
class Fake(Venue):
    exchange_id: str = "bitget"
    create_path: str = "/api/v2/spot/trade/place-order"
    demo: bool = False  # the key is a demo-trading key: PAPTRADING: 1 is required
    refused: dict[str, SimOrder] = field(default_factory=dict)
    # (method, path?query, headers) of every request, as sent
    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # path -> an answer given instead of the reply, after the request executed
    executed_then: dict[str, Answer] = field(default_factory=dict)
    _raw: tuple[str, str] = ("", "")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.engine.client_id_pattern = CLIENT_OID

    # ---- the venue's identity -----------------------------------------------------------------

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "")

    def ok(self, data: Any) -> dict[str, Any]:
        return {"code": "00000", "msg": "success", "requestTime": server_ms(), "data": data}

    @staticmethod
    def refuse(code: str, msg: str, status: int = 400) -> Answer:
        return Answer(status, {"code": code, "msg": msg, "requestTime": server_ms(), "data": None})

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.InsufficientFunds):
            return self.refuse("43012", "Insufficient balance")
        if isinstance(exc, ccxt.OrderNotFound):
            return self.refuse("43001", "The order does not exist")
        if isinstance(exc, ccxt.BadSymbol):
            return self.refuse("40034", "Parameter symbol does not exist")
        if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
            return self.refuse("43011", f"The parameter does not meet the specification: {exc}")
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return self.refuse("429", "Too Many Requests", 429)
        if isinstance(exc, ccxt.InvalidNonce):
            return self.refuse("40008", "Request timestamp expired")
        if isinstance(exc, ccxt.AuthenticationError):
            return self.refuse("40009", "sign signature error")
        return self.refuse("40015", "System is abnormal, please try again later", 500)

    # ---- HTTP: authentication -----------------------------------------------------------------

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        self._raw = (url.raw_path_qs, data.decode() if data else "")
        self.sent.append((method, url.raw_path_qs, dict(headers)))
        reply = await super().handle(method, url, headers, data)
        instead = self.executed_then.pop(url.path, None)
        if instead is not None:
            return instead.status, {"Content-Type": "application/json"}, json.dumps(instead.body)
        return reply

    def _auth(self, request: Request) -> None:
        """Bitget's checks of a private request (#common/signature)."""
        h = {k.upper(): v for k, v in request.headers.items()}
        for name, code in (
            ("ACCESS-KEY", "40001"),
            ("ACCESS-SIGN", "40003"),
            ("ACCESS-TIMESTAMP", "40005"),
            ("ACCESS-PASSPHRASE", "40011"),
        ):
            if not h.get(name):
                raise self.refuse(code, f"{name} cannot be empty")
        if h["ACCESS-KEY"] != CREDENTIALS["apiKey"]:
            raise self.refuse("40006", "Invalid ACCESS_KEY")
        if h["ACCESS-PASSPHRASE"] != CREDENTIALS["password"]:
            raise self.refuse("40012", "apikey/password is incorrect")
        if self.demo != (h.get("PAPTRADING") == "1"):
            raise self.refuse("40099", "exchange environment is incorrect")
        if abs(int(h["ACCESS-TIMESTAMP"]) - server_ms()) > WINDOW_MS:
            raise self.refuse("40008", "Request timestamp expired")
        target, body = self._raw
        prehash = h["ACCESS-TIMESTAMP"] + request.method + target + body
        digest = hmac.new(CREDENTIALS["secret"].encode(), prehash.encode(), hashlib.sha256)
        if h["ACCESS-SIGN"] != base64.b64encode(digest.digest()).decode():
            raise self.refuse("40009", "sign signature error")

    def _private(self, handler: Handler) -> Handler:
        async def checked(request: Request) -> Any:
            self._auth(request)
            return await handler(request)

        return checked

    # ---- routes ---------------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], Handler]:
        spot = "/api/v2/spot"
        private = {
            ("GET", f"{spot}/account/assets"): self.assets,
            ("POST", f"{spot}/trade/place-order"): self.place_order,
            ("POST", f"{spot}/trade/cancel-order"): self.cancel,
            ("GET", f"{spot}/trade/orderInfo"): self.order_info,
            ("GET", f"{spot}/trade/unfilled-orders"): self.unfilled,
            ("GET", f"{spot}/trade/history-orders"): self.history,
            ("GET", f"{spot}/trade/fills"): self.fills,
        }
        return {
            ("GET", "/api/v2/public/time"): self.time,
            ("GET", f"{spot}/public/symbols"): self.symbols,
            ("GET", f"{spot}/public/coins"): self.coins,
            ("GET", "/api/v2/margin/currencies"): self.margin_currencies,
            ("GET", f"{spot}/market/tickers"): self.tickers,
            ("GET", f"{spot}/market/orderbook"): self.orderbook,
            **{route: self._private(h) for route, h in private.items()},
        }

    # ---- public --------------------------------------------------------------------------------

    async def time(self, request: Request) -> Any:
        return self.ok({"serverTime": str(server_ms())})

    async def symbols(self, request: Request) -> Any:
        rows = []
        for symbol, market in self.engine.markets.items():
            rows.append(
                {
                    "symbol": self.market_id(symbol),
                    "baseCoin": market.base,
                    "quoteCoin": market.quote,
                    "minTradeAmount": "0",
                    "maxTradeAmount": "10000000000",
                    "takerFeeRate": num(market.taker_fee),
                    "makerFeeRate": num(market.maker_fee),
                    "pricePrecision": str(-market.price_tick.normalize().as_tuple().exponent),
                    "quantityPrecision": str(-market.amount_step.normalize().as_tuple().exponent),
                    "quotePrecision": "8",
                    "status": "online",
                    "minTradeUSDT": num(market.min_cost),
                    "buyLimitPriceRatio": "0.05",
                    "sellLimitPriceRatio": "0.05",
                    "areaSymbol": "no",
                    "orderQuantity": "200",
                    "openTime": "1532454360000",
                }
            )
        return self.ok(rows)

    async def coins(self, request: Request) -> Any:
        rows = []
        for n, asset in enumerate(self.engine.account.assets(), start=1):
            chain = {
                "chain": asset,
                "needTag": "false",
                "withdrawable": "true",
                "rechargeable": "true",
                "withdrawFee": "0.0001",
                "extraWithdrawFee": "0",
                "depositConfirm": "1",
                "withdrawConfirm": "1",
                "minDepositAmount": "0.0001",
                "minWithdrawAmount": "0.001",
                "browserUrl": "",
                "contractAddress": "",
                "withdrawStep": "0",
                "withdrawMinScale": "8",
                "congestion": "normal",
            }
            rows.append({"coinId": str(n), "coin": asset, "transfer": "true", "chains": [chain]})
        return self.ok(rows)

    async def margin_currencies(self, request: Request) -> Any:
        return self.ok([])  # no margin pairs: spot only

    async def tickers(self, request: Request) -> Any:
        rows = []
        for symbol in self.engine.markets:
            bids, asks = self.engine.book(symbol)
            mid = (bids[0].price + asks[0].price) / 2
            rows.append(
                {
                    "symbol": self.market_id(symbol),
                    "high24h": num(mid),
                    "open": num(mid),
                    "lastPr": num(mid),
                    "low24h": num(mid),
                    "quoteVolume": "1000000",
                    "baseVolume": "100",
                    "usdtVolume": "1000000",
                    "bidPr": num(bids[0].price),
                    "askPr": num(asks[0].price),
                    "bidSz": num(bids[0].amount),
                    "askSz": num(asks[0].amount),
                    "openUtc": num(mid),
                    "ts": str(self.engine.now_ms),
                    "changeUtc24h": "0",
                    "change24h": "0",
                }
            )
        return self.ok(rows)

    async def orderbook(self, request: Request) -> Any:
        symbol = self.symbol_of(str(request.param("symbol")))
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 150:
            raise self.refuse("40020", "Parameter limit error")
        bids, asks = self.engine.book(symbol)
        return self.ok(
            {
                "asks": [[num(lv.price), num(lv.amount)] for lv in asks[:limit]],
                "bids": [[num(lv.price), num(lv.amount)] for lv in bids[:limit]],
                "ts": str(self.engine.now_ms),
            }
        )

    # ---- account -------------------------------------------------------------------------------

    async def assets(self, request: Request) -> Any:
        account = self.engine.account
        rows = [
            {
                "coin": asset,
                "available": num(account.free.get(asset, ZERO)),
                "frozen": num(account.used.get(asset, ZERO)),
                "locked": "0",
                "limitAvailable": "0",
                "uTime": str(self.engine.now_ms),
            }
            for asset in account.assets()
        ]
        return self.ok(rows)

    # ---- orders --------------------------------------------------------------------------------

    def order_id(self, order: SimOrder) -> str:
        if order.id.startswith("r"):
            return str(ORDER_IDS + 500_000 + int(order.id[1:]))
        return str(ORDER_IDS + int(order.id))

    def _all(self, symbol: str | None = None) -> list[SimOrder]:
        orders = [*self.engine.all_orders(symbol), *self.refused.values()]
        return [o for o in orders if symbol is None or o.symbol == symbol]

    def _find(self, params: Mapping[str, Any]) -> SimOrder:
        """The order named by orderId or clientOid (43001 otherwise; "None" names none)."""
        order_id, client_oid = params.get("orderId"), params.get("clientOid")
        if not order_id and not client_oid:
            raise self.refuse("40019", "Parameter orderId or clientOid cannot be empty")
        for o in reversed(self._all()):
            if (order_id and self.order_id(o) == order_id) or (
                not order_id and o.client_order_id == client_oid
            ):
                return o
        raise self.refuse("43001", "The order does not exist")

    async def place_order(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        for name in ("symbol", "side", "orderType", "size"):
            if not body.get(name):
                raise self.refuse("40019", f"Parameter {name} cannot be empty")
        client_oid = str(body.get("clientOid", ""))
        if client_oid and not CLIENT_OID.fullmatch(client_oid):
            raise self.refuse(
                "40305",
                "Client_oid length is not greater than 50, and cannot be Martian characters",
            )
        force = str(body.get("force", "gtc")).lower()
        if body["orderType"] != "limit" or not body.get("price"):
            raise self.refuse("43011", "The parameter does not meet the specification")
        if force not in ("gtc", "post_only", "ioc", "fok"):
            raise self.refuse("40020", "Parameter force error")
        symbol = self.symbol_of(body["symbol"])
        side = Side(body["side"])
        amount, price = Decimal(body["size"]), Decimal(body["price"])
        try:
            order = self.place(
                symbol,
                side.value,
                amount,
                price,
                ioc=force == "ioc",
                post_only=force == "post_only",
                client_id=client_oid or None,
            )
        except ccxt.OrderImmediatelyFillable:
            order = self._cancelled_post_only(symbol, side, amount, price, client_oid)
        except ccxt.InsufficientFunds:
            raise self.refuse("43012", "Insufficient balance") from None
        except ccxt.DuplicateOrderId:
            raise self.refuse("43011", "Duplicate clientOid") from None
        except ccxt.BadRequest:
            raise self.refuse("45110", "less than the minimum amount 5 USDT") from None
        return self.ok({"orderId": self.order_id(order), "clientOid": order.client_order_id})

    def _cancelled_post_only(
        self, symbol: str, side: Side, amount: Decimal, price: Decimal, client_oid: str
    ) -> SimOrder:
        """A post-only order that would take is taken, then cancelled by the system."""
        market = self.engine.market(symbol)
        order = SimOrder(
            id=f"r{len(self.refused) + 1}",
            client_order_id=client_oid,
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
            status = "partially_filled" if order.filled else "live"
        else:
            status = "filled" if order.status is OrderStatus.CLOSED else "cancelled"
        fee = ""
        if order.fee:
            coin = order.fee_currency
            legacy = {"deduction": False, "feeCoinCode": coin, "totalDeductionFee": 0}
            paid = float(-order.fee)
            new = {"c": 0, "d": 0, "deduction": False, "r": paid, "t": paid, "totalDeductionFee": 0}
            fee = json.dumps(
                {"newFees": new, coin: {**legacy, "totalFee": paid}},
                separators=(",", ":"),
            )
        return {
            "userId": "7264631750",
            "symbol": self.market_id(order.symbol),
            "orderId": self.order_id(order),
            "clientOid": order.client_order_id,
            "price": num(order.price),
            "size": num(order.amount),
            "orderType": "limit",
            "side": order.side.value,
            "status": status,
            "priceAvg": num(order.average),
            "baseVolume": num(order.filled),
            "quoteVolume": num(order.cost),
            "enterPointSource": "API",
            "feeDetail": fee,
            "orderSource": "normal",
            "cTime": str(order.timestamp),
            "uTime": str(order.last_update_timestamp or order.timestamp),
            "tpslType": "normal",
            "cancelReason": "normal_cancel" if status == "cancelled" else "",
            "triggerPrice": None,
        }

    async def order_info(self, request: Request) -> Any:
        return self.ok([self.order_json(self._find(request.query))])

    def _listed(self, request: Request, open_: bool) -> list[dict[str, Any]]:
        raw = request.param("symbol")
        symbol = self.symbol_of(str(raw)) if raw else None
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 100:
            raise self.refuse("40020", "Parameter limit error")
        orders = [o for o in self._all(symbol) if o.is_open == open_]
        if request.param("orderId"):
            orders = [o for o in orders if self.order_id(o) == request.param("orderId")]
        newest = sorted(orders, key=lambda o: (o.timestamp, o.seq), reverse=True)[:limit]
        return [self.order_json(o) for o in newest]

    async def unfilled(self, request: Request) -> Any:
        return self.ok(self._listed(request, True))

    async def history(self, request: Request) -> Any:
        return self.ok(self._listed(request, False))

    async def cancel(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("symbol"):
            raise self.refuse("40019", "Parameter symbol cannot be empty")
        order = self._find(body)
        if not order.is_open:
            raise self.refuse("43001", "The order does not exist")
        self.engine.cancel(order.id)
        return self.ok({"orderId": self.order_id(order), "clientOid": order.client_order_id})

    # ---- trades --------------------------------------------------------------------------------

    def trade_id(self, trade: SimTrade) -> str:
        return str(TRADE_IDS + int(trade.id))

    def trade_json(self, trade: SimTrade) -> dict[str, Any]:
        order = self.engine.orders[trade.order_id]
        return {
            "userId": "7264631750",
            "symbol": self.market_id(trade.symbol),
            "orderId": self.order_id(order),
            "tradeId": self.trade_id(trade),
            "orderType": "limit",
            "side": trade.side.value,
            "priceAvg": num(trade.price),
            "size": num(trade.amount),
            "amount": num(trade.cost),
            "feeDetail": {
                "deduction": "no",
                "feeCoin": trade.fee_currency,
                "totalDeductionFee": "",
                "totalFee": num(-trade.fee),
            },
            "tradeScope": "taker" if trade.taker else "maker",
            "cTime": str(trade.timestamp),
            "uTime": str(trade.timestamp),
        }

    async def fills(self, request: Request) -> Any:
        """Newest first, at most `limit` (100); orderId and startTime filter."""
        raw = request.param("symbol")
        symbol = self.symbol_of(str(raw)) if raw else None
        trades = self.engine.my_trades(symbol)
        wanted = request.param("orderId")
        if wanted:
            trades = [t for t in trades if self.order_id(self.engine.orders[t.order_id]) == wanted]
        if request.param("startTime"):
            trades = [t for t in trades if t.timestamp >= int(request.param("startTime"))]
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 100:
            raise self.refuse("40020", "Parameter limit error")
        newest = sorted(trades, key=lambda t: int(t.id), reverse=True)[:limit]
        return self.ok([self.trade_json(t) for t in newest])
