"""Gate spot (API v4, classic account) behind ccxt's `gate`, in Gate's own JSON.

Replies are bare JSON (no envelope); errors are {"label", "message"} with an HTTP status (400,
401, 404, 429, 5xx). Numbers are strings, order times in seconds and milliseconds, order ids
numeric strings. What Gate checks and this fake checks too: the signature (SIGN, HMAC-SHA512
of method, path, query, the body's SHA-512 and the Timestamp), the 60 s timestamp window
(REQUEST_EXPIRED), the `text` rule (`t-` then at most 28 of letters, digits, `_`, `-`, `.`),
`currency_pair` on order calls, a lookup by text only while the order is open or within an hour
of its end (ORDER_NOT_FOUND after), a post-only (poc) order that would take refused with
POC_FILL_IMMEDIATELY. The account keeps the bot's client ids without the `t-`: Gate's `text`
is the prefix and the id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt

from bot.sim.account import OrderStatus, SimOrder, SimTrade
from tests.venues.routing import Routes, query_string, txt
from tests.venues.venue import MARKETS, Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "gate-key", "secret": "gate-secret"}
TEXT = re.compile(r"^t-[0-9A-Za-z_.-]{1,28}$")  # Gate API v4, spot order `text`
WINDOW_S = 60  # Gate API v4, Authentication: Timestamp within 60 s of the server's
TEXT_LOOKUP_MS = 3_600_000  # a finished order is found by its text for an hour
ID_BASE = 62364648000  # Gate order ids are numeric strings


def decimals(step: Decimal) -> int:
    """Decimal places of a step (Gate gives precisions as places)."""
    return max(0, -int(step.normalize().as_tuple().exponent))


def label(name: str, message: str, status: int = 400) -> Answer:
    return Answer(status, {"label": name, "message": message})


@dataclass
class Fake(Venue):
    exchange_id: str = "gate"
    create_path: str = "/api/v4/spot/orders"
    skew: float = 0.0  # the server clock's offset from the host's, seconds
    _update_id: int = 0  # the book's update id

    def __post_init__(self) -> None:
        super().__post_init__()
        # The account holds the id after `t-` (28 at most); the fake checks the whole text.
        self.engine.client_id_pattern = re.compile(r"^[0-9A-Za-z_.-]{1,28}$")

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "_")

    def routes(self) -> dict[tuple[str, str], Handler]:
        return Routes(
            {
                ("GET", "/api/v4/spot/time"): self.server_time,
                ("GET", "/api/v4/spot/currencies"): self.currencies,
                ("GET", "/api/v4/spot/currency_pairs"): self.currency_pairs,
                ("GET", "/api/v4/margin/currency_pairs"): self.margin_pairs,
                ("GET", "/api/v4/spot/tickers"): self.tickers,
                ("GET", "/api/v4/spot/order_book"): self.book,
                ("GET", "/api/v4/spot/accounts"): self.private(self.accounts),
                ("POST", "/api/v4/spot/orders"): self.private(self.create),
                ("GET", "/api/v4/spot/orders"): self.private(self.list_orders),
                ("GET", "/api/v4/spot/open_orders"): self.private(self.open_orders),
                ("GET", "/api/v4/spot/orders/{order_id}"): self.private(self.get_order),
                ("DELETE", "/api/v4/spot/orders/{order_id}"): self.private(self.cancel),
                ("GET", "/api/v4/spot/my_trades"): self.private(self.my_trades),
            }
        )

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.OrderNotFound):
            return label("ORDER_NOT_FOUND", "Order not found", 404)
        if isinstance(exc, ccxt.OrderImmediatelyFillable):
            return label(
                "POC_FILL_IMMEDIATELY", "Order would match and take immediately so its cancelled"
            )
        if isinstance(exc, ccxt.InsufficientFunds):
            return label("BALANCE_NOT_ENOUGH", "Not enough balance")
        if isinstance(exc, ccxt.DuplicateOrderId):
            return label("REPEATED_CREATION", "Repeated creation")
        if isinstance(exc, ccxt.InvalidNonce):
            return label(
                "REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60", 401
            )
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return label("TOO_MANY_REQUESTS", "Request Rate limit Exceeded (007)", 429)
        if isinstance(exc, ccxt.AuthenticationError):
            return label("INVALID_SIGNATURE", "Signature mismatch", 401)
        if isinstance(exc, ccxt.ExchangeNotAvailable):
            return label("SERVER_ERROR", "Internal server error", 500)
        if isinstance(exc, ccxt.BadSymbol):
            return label("INVALID_CURRENCY_PAIR", "Invalid currency pair")
        return label("INVALID_PARAM_VALUE", str(exc) or "Invalid parameter")

    # ---- signing ------------------------------------------------------------------------------

    def server_s(self) -> float:
        return time.time() + self.skew

    def private(self, handler: Handler) -> Handler:
        async def signed(request: Request) -> Any:
            self.check_signature(request)
            return await handler(request)

        return signed

    def check_signature(self, request: Request) -> None:
        h = {k.upper(): v for k, v in request.headers.items()}
        if h.get("KEY") != CREDENTIALS["apiKey"]:
            raise label("INVALID_KEY", "Invalid key provided", 401)
        stamp = h.get("TIMESTAMP", "")
        if not stamp.isdigit() or abs(int(stamp) - self.server_s()) > WINDOW_S:
            raise self.error(ccxt.InvalidNonce("timestamp"))
        body = "" if request.body is None else json.dumps(request.body, separators=(",", ":"))
        payload = "\n".join(
            [
                request.method,
                request.path,
                query_string(request.query),
                hashlib.sha512(body.encode()).hexdigest(),
                stamp,
            ]
        )
        secret = CREDENTIALS["secret"].encode()
        if h.get("SIGN") != hmac.new(secret, payload.encode(), hashlib.sha512).hexdigest():
            raise label("INVALID_SIGNATURE", "Signature mismatch", 401)

    # ---- public -------------------------------------------------------------------------------

    async def server_time(self, request: Request) -> Any:
        return {"server_time": round(self.server_s() * 1000)}

    async def currencies(self, request: Request) -> Any:
        codes = sorted({c for s in MARKETS for c in s.split("/")})
        return [
            {
                "currency": c,
                "name": c,
                "delisted": False,
                "withdraw_disabled": False,
                "withdraw_delayed": False,
                "deposit_disabled": False,
                "trade_disabled": False,
                "chain": c,
                "chains": [
                    {
                        "name": c,
                        "addr": "",
                        "withdraw_disabled": False,
                        "withdraw_delayed": False,
                        "deposit_disabled": False,
                    }
                ],
            }
            for c in codes
        ]

    async def currency_pairs(self, request: Request) -> Any:
        return [
            {
                "id": self.market_id(symbol),
                "base": m.base,
                "base_name": m.base,
                "quote": m.quote,
                "quote_name": m.quote,
                "fee": txt(m.taker_fee * 100),  # percent
                "min_base_amount": txt(m.min_amount),
                "min_quote_amount": txt(m.min_cost),
                "max_base_amount": "10000",
                "max_quote_amount": "5000000",
                "amount_precision": decimals(m.amount_step),
                "precision": decimals(m.price_tick),
                "trade_status": "tradable",
                "sell_start": 1516378650,
                "buy_start": 1516378650,
                "delisting_time": 0,
                "type": "normal",
                "trade_url": f"https://www.gate.com/trade/{self.market_id(symbol)}",
                "st_tag": False,
            }
            for symbol, (m, *_) in MARKETS.items()
        ]

    async def margin_pairs(self, request: Request) -> Any:
        return []

    async def tickers(self, request: Request) -> Any:
        out = []
        for symbol in MARKETS:
            bids, asks = self.engine.book(symbol)
            out.append(
                {
                    "currency_pair": self.market_id(symbol),
                    "last": txt((bids[0].price + asks[0].price) / 2),
                    "lowest_ask": txt(asks[0].price),
                    "lowest_size": txt(asks[0].amount),
                    "highest_bid": txt(bids[0].price),
                    "highest_size": txt(bids[0].amount),
                    "change_percentage": "0",
                    "change_utc0": "0",
                    "change_utc8": "0",
                    "base_volume": "100",
                    "quote_volume": "1000000",
                    "high_24h": txt(asks[0].price),
                    "low_24h": txt(bids[0].price),
                }
            )
        return out

    async def book(self, request: Request) -> Any:
        symbol = self.symbol_of(self.required(request, "currency_pair"))
        limit = int(request.param("limit", 10))
        bids, asks = self.engine.book(symbol)
        now = round(self.server_s() * 1000)  # market data is stamped by Gate's clock
        body: dict[str, Any] = {"current": now, "update": now}
        self._update_id += 1
        if request.param("with_id") == "true":
            body = {"id": 12305468000 + self._update_id, **body}
        body["asks"] = [[txt(lv.price), txt(lv.amount)] for lv in asks[:limit]]
        body["bids"] = [[txt(lv.price), txt(lv.amount)] for lv in bids[:limit]]
        return body

    # ---- account ------------------------------------------------------------------------------

    async def accounts(self, request: Request) -> Any:
        account = self.engine.account
        return [
            {
                "currency": asset,
                "available": txt(account.free.get(asset, Decimal(0))),
                "locked": txt(account.used.get(asset, Decimal(0))),
                "update_id": 101 + i,
            }
            for i, asset in enumerate(account.assets())
        ]

    # ---- orders -------------------------------------------------------------------------------

    def required(self, request: Request, name: str) -> str:
        value = request.param(name)
        if value in (None, ""):
            raise label("MISSING_REQUIRED_PARAM", f"Missing required parameter: {name}")
        return str(value)

    async def create(self, request: Request) -> Any:
        body = request.body or {}
        for name in ("currency_pair", "side", "amount"):
            self.required(request, name)
        if body.get("account", "spot") != "spot" or body.get("type", "limit") != "limit":
            raise label("INVALID_PARAM_VALUE", "only limit orders on the spot account here")
        text = body.get("text")
        if text is not None and not TEXT.fullmatch(text):
            raise label("INVALID_PARAM_VALUE", f"invalid argument: text {text}")
        symbol = self.symbol_of(body["currency_pair"])
        tif = body.get("time_in_force", "gtc")
        order = self.place(
            symbol,
            body["side"],
            Decimal(body["amount"]),
            Decimal(self.required(request, "price")),
            ioc=tif == "ioc",
            post_only=tif == "poc",
            client_id=None if text is None else text[2:],
        )
        return self.order_json(order)

    def order_id(self, order: SimOrder) -> str:
        return str(ID_BASE + int(order.id))

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        market = self.engine.market(order.symbol)
        filled_all = order.status is OrderStatus.CLOSED
        status = "open" if order.is_open else "closed" if filled_all else "cancelled"
        ioc = order.time_in_force.value == "IOC"
        finish = (
            "open" if order.is_open else "filled" if filled_all else "ioc" if ioc else "cancelled"
        )
        created = order.timestamp
        updated = order.last_update_timestamp or created
        tif = "poc" if order.post_only else "ioc" if ioc else "gtc"
        return {
            "id": self.order_id(order),
            "text": f"t-{order.client_order_id}",
            "amend_text": "-",
            "create_time": str(created // 1000),
            "update_time": str(updated // 1000),
            "create_time_ms": created,
            "update_time_ms": updated,
            "status": status,
            "currency_pair": self.market_id(order.symbol),
            "type": "limit",
            "account": "spot",
            "side": order.side.value,
            "amount": txt(order.amount),
            "price": txt(order.price or Decimal(0)),
            "time_in_force": tif,
            "iceberg": "0",
            "left": txt(order.remaining),
            "filled_amount": txt(order.filled),
            "fill_price": txt(order.cost),
            "filled_total": txt(order.cost),
            "avg_deal_price": txt(order.average) if order.average is not None else "",
            "fee": txt(order.fee),
            "fee_currency": order.fee_currency,
            "point_fee": "0",
            "gt_fee": "0",
            "gt_maker_fee": "0",
            "gt_taker_fee": "0",
            "gt_discount": False,
            "rebated_fee": "0",
            "rebated_fee_currency": market.quote
            if order.fee_currency == market.base
            else market.base,
            "stp_id": 0,
            "stp_act": "-",
            "finish_as": finish,
        }

    def find(self, request: Request, order_id: str) -> SimOrder:
        """An order by its id or its text (`t-...`), on the pair the query names."""
        symbol = self.symbol_of(self.required(request, "currency_pair"))
        if order_id.startswith("t-"):
            order = self.engine.find(client_order_id=order_id[2:], symbol=symbol)
            ended = order.last_update_timestamp or order.timestamp
            if not order.is_open and self.engine.now_ms - ended > TEXT_LOOKUP_MS:
                raise ccxt.OrderNotFound(order_id)  # "only order ID is accepted" after an hour
            return order
        if not order_id.isdigit():
            raise ccxt.OrderNotFound(order_id)
        return self.engine.find(str(int(order_id) - ID_BASE), symbol=symbol)

    async def get_order(self, request: Request) -> Any:
        return self.order_json(self.find(request, request.path.rsplit("/", 1)[1]))

    async def cancel(self, request: Request) -> Any:
        order = self.find(request, request.path.rsplit("/", 1)[1])
        if order.status is OrderStatus.CLOSED:
            raise label("ORDER_CLOSED", "Order was closed")
        if not order.is_open:
            raise label("ORDER_CANCELLED", "Order was cancelled")
        self.engine.cancel(order.id, symbol=order.symbol)
        return self.order_json(order)

    async def open_orders(self, request: Request) -> Any:
        """Every pair's open orders, grouped by pair (Gate takes no currency_pair here)."""
        groups = []
        for symbol in MARKETS:
            orders = self.engine.open_orders(symbol)
            if orders:
                groups.append(
                    {
                        "currency_pair": self.market_id(symbol),
                        "total": len(orders),
                        "orders": [self.order_json(o) for o in orders],
                    }
                )
        return groups

    async def list_orders(self, request: Request) -> Any:
        symbol = self.symbol_of(self.required(request, "currency_pair"))
        status = self.required(request, "status")
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 1000:
            raise label("INVALID_PARAM_VALUE", "invalid argument: limit")
        wanted = [o for o in self.engine.all_orders(symbol) if o.is_open == (status == "open")]
        wanted.sort(key=lambda o: o.last_update_timestamp or o.timestamp, reverse=True)
        return [self.order_json(o) for o in wanted[:limit]]

    async def my_trades(self, request: Request) -> Any:
        order_id = request.param("order_id")
        pair = request.param("currency_pair")
        if order_id is not None and pair is None:
            raise label("MISSING_REQUIRED_PARAM", "currency_pair is required with order_id")
        trades = self.engine.my_trades(None if pair is None else self.symbol_of(pair))
        if order_id is not None:
            engine_id = str(int(order_id) - ID_BASE) if order_id.isdigit() else ""
            trades = [t for t in trades if t.order_id == engine_id]
        if request.param("from") is not None:
            trades = [t for t in trades if t.timestamp >= int(request.param("from")) * 1000]
        limit = int(request.param("limit", 100))
        if not 1 <= limit <= 1000:
            raise label("INVALID_PARAM_VALUE", "invalid argument: limit")
        page = sorted(trades, key=lambda t: t.timestamp, reverse=True)[:limit]  # newest first
        return [self.trade_json(t) for t in page]

    def trade_json(self, trade: SimTrade) -> dict[str, Any]:
        order = self.engine.orders[trade.order_id]
        return {
            "id": trade.id,
            "create_time": str(trade.timestamp // 1000),
            "create_time_ms": f"{trade.timestamp}.000000",
            "currency_pair": self.market_id(trade.symbol),
            "side": trade.side.value,
            "role": "taker" if trade.taker else "maker",
            "amount": txt(trade.amount),
            "price": txt(trade.price),
            "order_id": self.order_id(order),
            "fee": txt(trade.fee),
            "fee_currency": trade.fee_currency,
            "point_fee": "0",
            "gt_fee": "0",
            "amend_text": "-",
            "sequence_id": str(588018 + int(trade.id)),
            "text": f"t-{order.client_order_id}",
        }
