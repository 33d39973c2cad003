"""Coinbase Advanced Trade as its REST API answers (docs.cdp.coinbase.com, Advanced Trade API
reference, and the replies recorded in ccxt's ts/src/test/static/response/coinbase.json), behind
ccxt's real `coinbase` class.

ccxt's load_markets reads the public v2 currencies, crypto currencies and exchange rates, the
public products (spot, then futures: none here) and, with a key, the account's fee tier
(transaction_summary). Trading is under /api/v3/brokerage/: JSON bodies, amounts and prices as
strings, times as RFC 3339 with microseconds, ids as UUIDs.

What the fake checks as Coinbase does: each private request carries `Authorization: Bearer` and
an ES256 JWT signed by the CDP key, for this method and path (`uri`), not expired (else 401,
"Unauthorized", text); client_order_id is required, and one already used returns that order
instead of a new one ("If the ID provided is not unique, the order will not be created and the
order corresponding with that ID will be returned instead"); a post-only order that would take
fails (INVALID_LIMIT_PRICE_POST_ONLY); a failed create is HTTP 200 with success false; a cancel
of an order no longer open fails (UNKNOWN_CANCEL_ORDER); a 429 is an HTML page. Fees are taken in
the quote (the matcher's `fees_in_quote`).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import yarl
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bot.domain.market import Side
from bot.sim.account import OrderStatus, SimOrder, TimeInForce
from tests.venues.venue import MARKETS, Answer, Handler, Request, Venue

# A CDP API key: its name and a P-256 private key (PEM), made for these tests.
_KEY = ec.generate_private_key(ec.SECP256R1())
CREDENTIALS = {
    "apiKey": "organizations/0f6b3a52-1c8e-4a55-9d1a-2b7c6f0e9a11/apiKeys/5c1d2e3f-test",
    "secret": _KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode(),
}
HOST = "api.coinbase.com"
BROKERAGE = "/api/v3/brokerage"
PUBLIC = (f"{BROKERAGE}/market/", "/v2/")
CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
USER = "3f2a5b6c-7d8e-4f90-a1b2-c3d4e5f60718"
PORTFOLIO = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
_STATUS = {
    OrderStatus.OPEN: "OPEN",
    OrderStatus.CLOSED: "FILLED",
    OrderStatus.CANCELED: "CANCELLED",
    OrderStatus.EXPIRED: "CANCELLED",  # an IOC's rest is cancelled
}
_TOO_MANY = "<html><head><title>Coinbase</title></head><body>Too Many Requests</body></html>"


def coinbase_id(kind: str, n: str) -> str:
    """A UUID for the matcher's order or trade `n`, the same every time."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-fake/{kind}/{n}"))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def failure(error: str, message: str, preview: str, configuration: Any = None) -> Answer:
    """A create that failed: HTTP 200, success false (the create-order reference)."""
    return Answer(
        200,
        {
            "success": False,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": "",
            "error_response": {
                "error": error,
                "message": message,
                "error_details": "",
                "preview_failure_reason": preview,
                "new_order_failure_reason": error,
            },
            "order_configuration": configuration,
        },
    )


def grpc_error(status: int, error: str, code: int, message: str) -> Answer:
    """Coinbase's error body for a refused request (gRPC status names)."""
    return Answer(status, {"error": error, "code": code, "message": message, "details": []})


class _Routes(dict[tuple[str, str], Handler]):
    """The routes, with GET .../orders/historical/{order_id} matched by its prefix."""

    def __init__(self, routes: Mapping[tuple[str, str], Handler], by_id: Handler) -> None:
        super().__init__(routes)
        self.by_id = by_id

    def get(self, key: tuple[str, str], default: Any = None) -> Any:  # type: ignore[override]
        found = super().get(key)
        prefix = f"{BROKERAGE}/orders/historical/"
        if found is None and key[0] == "GET" and key[1].startswith(prefix):
            return self.by_id
        return found if found is not None else default


@dataclass
class Fake(Venue):
    exchange_id: str = "coinbase"
    create_path: str = f"{BROKERAGE}/orders"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.engine.fees_in_quote = True  # the exchange takes every fee in the quote
        self.engine.client_id_pattern = CLIENT_ORDER_ID
        self._routes = _Routes(self._routes, self.get_order)
        self._ids: dict[str, str] = {}  # the matcher's order id -> order_id
        self._orders: dict[str, SimOrder] = {}  # order_id -> order
        self._configs: dict[str, dict[str, Any]] = {}  # order_id -> order_configuration
        self.tokens: list[dict[str, Any]] = []  # the JWT payloads of accepted private calls

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/v2/time"): self.time,
            ("GET", "/v2/currencies"): self.currencies,
            ("GET", "/v2/currencies/crypto"): self.crypto_currencies,
            ("GET", "/v2/exchange-rates"): self.exchange_rates,
            ("GET", f"{BROKERAGE}/market/products"): self.products,
            ("GET", f"{BROKERAGE}/market/product_book"): self.product_book,
            ("GET", f"{BROKERAGE}/transaction_summary"): self.transaction_summary,
            ("GET", f"{BROKERAGE}/accounts"): self.accounts,
            ("POST", f"{BROKERAGE}/orders"): self.create_order,
            ("POST", f"{BROKERAGE}/orders/batch_cancel"): self.batch_cancel,
            ("GET", f"{BROKERAGE}/orders/historical/batch"): self.list_orders,
            ("GET", f"{BROKERAGE}/orders/historical/fills"): self.list_fills,
        }

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "-")

    # ---- the transport: the JWT, and the answers that are not JSON ----------------------------

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        if not url.path.startswith(PUBLIC) and not self._authorized(method, url, headers):
            self.requests.append((method, url.path))
            return 401, {"Content-Type": "text/plain"}, "Unauthorized\n"
        for order in self.engine.all_orders():  # orders placed on the matcher directly
            if order.id not in self._ids:
                self._register(order, self._configuration(order))
        status, out_headers, body = await super().handle(method, url, headers, data)
        if out_headers.get("Content-Type", "").startswith("text/"):
            body = json.loads(body)  # an answer Coinbase gives as text or HTML, not JSON
        return status, out_headers, body

    def _authorized(self, method: str, url: yarl.URL, headers: Mapping[str, str]) -> bool:
        """An ES256 JWT of the CDP key, for this request's method and path, still valid."""
        lowered = {k.lower(): v for k, v in headers.items()}
        auth = lowered.get("authorization", "")
        if not auth.startswith("Bearer "):
            return False
        try:
            head64, body64, sig64 = auth[len("Bearer ") :].split(".")
            header, payload = (json.loads(_unb64(part)) for part in (head64, body64))
            signature = _unb64(sig64)
            _KEY.public_key().verify(
                encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                ),
                f"{head64}.{body64}".encode(),
                ec.ECDSA(hashes.SHA256()),
            )
        except Exception:
            return False
        now = time.time()
        valid = (
            header.get("alg") == "ES256"
            and header.get("kid") == CREDENTIALS["apiKey"]
            and payload.get("sub") == CREDENTIALS["apiKey"]
            and payload.get("uri") == f"{method} {HOST}{url.path}"
            and payload.get("nbf", now + 1) <= now + 1
            and now < payload.get("exp", 0) <= payload["nbf"] + 120
        )
        if valid:
            self.tokens.append(payload)
        return bool(valid)

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.AuthenticationError):
            return Answer(401, "Unauthorized\n", {"Content-Type": "text/plain"})
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            return Answer(429, _TOO_MANY, {"Content-Type": "text/html"})
        if isinstance(exc, ccxt.InvalidNonce):
            return grpc_error(401, "UNAUTHENTICATED", 16, "request timestamp expired")
        if isinstance(exc, ccxt.RequestTimeout):
            return grpc_error(504, "DEADLINE_EXCEEDED", 4, "deadline exceeded")
        if isinstance(exc, ccxt.ExchangeNotAvailable):
            return grpc_error(500, "INTERNAL", 13, "internal error")
        if isinstance(exc, ccxt.InsufficientFunds):
            return failure(
                "INSUFFICIENT_FUND",
                "Insufficient balance in source account",
                "PREVIEW_INSUFFICIENT_FUND",
            )
        if isinstance(exc, ccxt.OrderImmediatelyFillable):
            return failure(
                "INVALID_LIMIT_PRICE_POST_ONLY",
                "Invalid limit price for Post only order",
                "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
            )
        if isinstance(exc, ccxt.OrderNotFound):
            return grpc_error(404, "NOT_FOUND", 5, "order with this orderID was not found")
        if isinstance(exc, ccxt.InvalidOrder):
            reason = "INVALID_LIMIT_PRICE" if "price" in str(exc) else "INVALID_SIZE_PRECISION"
            return failure(reason, str(exc), f"PREVIEW_{reason}")
        if isinstance(exc, ccxt.BadSymbol | ccxt.BadRequest):
            return grpc_error(400, "INVALID_ARGUMENT", 3, str(exc))
        return grpc_error(500, "INTERNAL", 13, "internal error")

    # ---- public -------------------------------------------------------------------------------

    async def time(self, request: Request) -> Any:
        ms = self.engine.now_ms
        return {"data": {"iso": iso(ms)[:19] + "Z", "epoch": ms // 1000}}

    async def currencies(self, request: Request) -> Any:
        return {"data": [{"id": "USD", "name": "US Dollar", "min_size": "0.01"}]}

    async def crypto_currencies(self, request: Request) -> Any:
        names = {"BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether"}
        return {
            "data": [
                {
                    "asset_id": coinbase_id("asset", code),
                    "code": code,
                    "name": name,
                    "color": "#F7931A",
                    "sort_index": 100 + i,
                    "exponent": 8 if code != "USDT" else 6,
                    "type": "crypto",
                    "address_regex": "^.+$",
                }
                for i, (code, name) in enumerate(names.items())
            ]
        }

    async def exchange_rates(self, request: Request) -> Any:
        rates = {"USD": "1.0", "USDT": "1.0"}
        for symbol, (_, price, *_) in MARKETS.items():
            rates[symbol.split("/")[0]] = text(Decimal(1) / price)
        return {"data": {"currency": "USD", "rates": rates}}

    async def products(self, request: Request) -> Any:
        if request.param("product_type", "SPOT") != "SPOT":
            return {"products": [], "num_products": 0}
        wanted = request.param("product_ids")
        products = []
        for symbol, (market, *_) in MARKETS.items():
            pid = self.market_id(symbol)
            if wanted is not None and pid != wanted:
                continue
            bids, asks = self.engine.book(symbol)
            products.append(
                {
                    "product_id": pid,
                    "price": text((bids[0].price + asks[0].price) / 2),
                    "price_percentage_change_24h": "0.5",
                    "volume_24h": "1000",
                    "volume_percentage_change_24h": "1.5",
                    "base_increment": text(market.amount_step),
                    "quote_increment": text(market.price_tick),
                    "quote_min_size": text(market.min_cost),
                    "quote_max_size": "150000000",
                    "base_min_size": text(market.min_amount),
                    "base_max_size": "3400",
                    "base_name": market.base,
                    "quote_name": market.quote,
                    "watched": False,
                    "is_disabled": False,
                    "new": False,
                    "status": "online",
                    "cancel_only": False,
                    "limit_only": False,
                    "post_only": False,
                    "trading_disabled": False,
                    "auction_mode": False,
                    "product_type": "SPOT",
                    "quote_currency_id": market.quote,
                    "base_currency_id": market.base,
                    "fcm_trading_session_details": None,
                    "mid_market_price": "",
                    "alias": "",
                    "alias_to": [],
                    "base_display_symbol": market.base,
                    "quote_display_symbol": market.quote,
                    "view_only": False,
                    "price_increment": text(market.price_tick),
                    "display_name": pid,
                    "product_venue": "CBE",
                    "approximate_quote_24h_volume": "50000000",
                }
            )
        return {"products": products, "num_products": len(products)}

    async def product_book(self, request: Request) -> Any:
        pid = str(request.param("product_id"))
        symbol = self.symbol_of(pid)
        limit = int(request.param("limit", 50))
        bids, asks = self.engine.book(symbol)

        def side(levels: list[Any]) -> list[dict[str, str]]:
            return [{"price": text(lv.price), "size": text(lv.amount)} for lv in levels[:limit]]

        mid = (bids[0].price + asks[0].price) / 2
        spread = asks[0].price - bids[0].price
        return {
            "pricebook": {
                "product_id": pid,
                "bids": side(bids),
                "asks": side(asks),
                "time": iso(self.engine.now_ms),
            },
            "last": text(mid),
            "mid_market": text(mid),
            "spread_bps": text((spread / mid * 10000).quantize(Decimal("0.01"))),
            "spread_absolute": text(spread),
        }

    # ---- private: account ---------------------------------------------------------------------

    async def transaction_summary(self, request: Request) -> Any:
        market = next(iter(MARKETS.values()))[0]
        return {
            "total_volume": 0,
            "total_fees": 0,
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "usd_from": "0",
                "usd_to": "1000",
                "taker_fee_rate": text(market.taker_fee),
                "maker_fee_rate": text(market.maker_fee),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": 0,
            "advanced_trade_only_fees": 0,
            "coinbase_pro_volume": 0,
            "coinbase_pro_fees": 0,
            "total_balance": "",
            "has_promo_fee": False,
        }

    async def accounts(self, request: Request) -> Any:
        account = self.engine.account
        out = []
        for code in account.assets():
            out.append(
                {
                    "uuid": coinbase_id("account", code),
                    "name": f"{code} Wallet",
                    "currency": code,
                    "available_balance": {"value": text(account.free[code]), "currency": code},
                    "default": True,
                    "active": True,
                    "created_at": "2023-01-04T06:20:06.456Z",
                    "updated_at": "2023-01-04T06:20:07.181Z",
                    "deleted_at": None,
                    "type": "ACCOUNT_TYPE_CRYPTO",
                    "ready": True,
                    "hold": {"value": text(account.used.get(code, Decimal(0))), "currency": code},
                    "retail_portfolio_id": PORTFOLIO,
                    "platform": "ACCOUNT_PLATFORM_CONSUMER",
                }
            )
        return {"accounts": out, "has_next": False, "cursor": "", "size": len(out)}

    # ---- private: orders ----------------------------------------------------------------------

    async def create_order(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        client_id = body.get("client_order_id")
        if not client_id:
            raise grpc_error(400, "INVALID_ARGUMENT", 3, "client_order_id is required")
        if not CLIENT_ORDER_ID.fullmatch(str(client_id)):
            raise grpc_error(400, "INVALID_ARGUMENT", 3, "invalid client_order_id")
        configuration = body.get("order_configuration") or {}
        for order_id, order in self._orders.items():
            if order.client_order_id == client_id:  # not unique: that order, not a new one
                return self._created(order_id, order, self._configs[order_id])
        symbol = self.symbol_of(str(body.get("product_id")))
        side = str(body.get("side", "")).lower()
        if side not in ("buy", "sell"):
            raise grpc_error(400, "INVALID_ARGUMENT", 3, "invalid side")
        kind, spec = next(iter(configuration.items()), ("", {}))
        if kind not in ("limit_limit_gtc", "sor_limit_ioc") or not spec.get("base_size"):
            raise failure(
                "UNSUPPORTED_ORDER_CONFIGURATION",
                "source is not enabled for trading",
                "UNKNOWN_PREVIEW_FAILURE_REASON",
                configuration,
            )
        try:
            order = self.place(
                symbol,
                side,
                Decimal(spec["base_size"]),
                Decimal(spec["limit_price"]),
                ioc=kind == "sor_limit_ioc",
                post_only=bool(spec.get("post_only")),
                client_id=str(client_id),
            )
        except (ccxt.InsufficientFunds, ccxt.OrderImmediatelyFillable, ccxt.InvalidOrder) as exc:
            answer = self.error(exc)
            answer.body["order_configuration"] = configuration
            raise answer from None
        order_id = self._register(order, configuration)
        return self._created(order_id, order, configuration)

    @staticmethod
    def _configuration(order: SimOrder) -> dict[str, Any]:
        spec = {"base_size": text(order.amount), "limit_price": text(order.price or Decimal(0))}
        if order.time_in_force is TimeInForce.IOC:
            return {"sor_limit_ioc": spec}
        return {"limit_limit_gtc": {**spec, "post_only": order.post_only}}

    def _created(
        self, order_id: str, order: SimOrder, configuration: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": order_id,
            "success_response": {
                "order_id": order_id,
                "product_id": self.market_id(order.symbol),
                "side": order.side.value.upper(),
                "client_order_id": order.client_order_id,
            },
            "order_configuration": dict(configuration),
        }

    def _register(self, order: SimOrder, configuration: Mapping[str, Any]) -> str:
        """The order's order_id; its trades take UUIDs as Coinbase's trade_id."""
        order_id = coinbase_id("order", order.id)
        self._ids[order.id] = order_id
        self._orders[order_id] = order
        self._configs[order_id] = dict(configuration)
        for i, trade in enumerate(order.trades):
            renamed = replace(trade, id=coinbase_id("trade", trade.id))
            order.trades[i] = renamed
            trades = self.engine.trades
            trades[next(j for j, t in enumerate(trades) if t is trade)] = renamed
        return order_id

    def _json(self, order_id: str, order: SimOrder) -> dict[str, Any]:
        """An order as Get Order and List Orders give it."""
        fees = order.fee
        value = order.cost
        after = value + fees if order.side is Side.BUY else value - fees
        done = order.amount and order.filled / order.amount * 100
        last_fill = order.trades[-1].timestamp if order.trades else None
        return {
            "order_id": order_id,
            "product_id": self.market_id(order.symbol),
            "user_id": USER,
            "order_configuration": self._configs[order_id],
            "side": order.side.value.upper(),
            "client_order_id": order.client_order_id,
            "status": _STATUS[order.status],
            "time_in_force": "IMMEDIATE_OR_CANCEL"
            if "sor_limit_ioc" in self._configs[order_id]
            else "GOOD_UNTIL_CANCELLED",
            "created_time": iso(order.timestamp),
            "completion_percentage": text(Decimal(done)),
            "filled_size": text(order.filled),
            "average_filled_price": text(order.average or Decimal(0)),
            "fee": "",
            "number_of_fills": str(len(order.trades)),
            "filled_value": text(value),
            "pending_cancel": False,
            "size_in_quote": False,
            "total_fees": text(fees),
            "size_inclusive_of_fees": False,
            "total_value_after_fees": text(after),
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "LIMIT",
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": not order.is_open,
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "User requested cancel"
            if order.status is OrderStatus.CANCELED
            else "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": text(order.locked),
            "is_liquidation": False,
            "last_fill_time": iso(last_fill) if last_fill is not None else None,
            "edit_history": [],
            "leverage": "",
            "margin_type": "UNKNOWN_MARGIN_TYPE",
            "retail_portfolio_id": PORTFOLIO,
        }

    async def batch_cancel(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        results = []
        for order_id in body.get("order_ids") or []:
            order = self._orders.get(str(order_id))
            if order is not None and order.is_open:
                self.engine.cancel(order.id)
                results.append(
                    {
                        "success": True,
                        "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                        "order_id": order_id,
                    }
                )
            else:
                results.append(
                    {
                        "success": False,
                        "failure_reason": "UNKNOWN_CANCEL_ORDER",
                        "order_id": order_id,
                    }
                )
        return {"results": results}

    async def get_order(self, request: Request) -> Any:
        order_id = request.path.rsplit("/", 1)[-1]
        order = self._orders.get(order_id)
        if order is None:
            raise self.error(ccxt.OrderNotFound(order_id))
        return {"order": self._json(order_id, order)}

    def _page(self, request: Request, items: list[Any]) -> tuple[list[Any], str]:
        """A page of `items` (newest first) from the cursor, and the next cursor ("" at the end)."""
        start = int(request.param("cursor") or 0)
        limit = int(request.param("limit") or 100)
        page = items[start : start + limit]
        following = start + limit
        return page, str(following) if following < len(items) else ""

    async def list_orders(self, request: Request) -> Any:
        """Every status unless order_status says (OPEN cannot be paired with another); newest
        first; product_ids (product_id, which ccxt sends, is honoured too)."""
        statuses = request.param("order_status")
        product = request.param("product_ids") or request.param("product_id")
        found = list(self._orders.items())
        if statuses is not None:
            wanted = set(str(statuses).split(","))
            if "OPEN" in wanted and len(wanted) > 1:
                raise grpc_error(400, "INVALID_ARGUMENT", 3, "OPEN cannot be paired")
            found = [(i, o) for i, o in found if _STATUS[o.status] in wanted]
        if product is not None:
            found = [(i, o) for i, o in found if self.market_id(o.symbol) == product]
        found.sort(key=lambda item: item[1].timestamp, reverse=True)
        page, cursor = self._page(request, found)
        return {
            "orders": [self._json(i, o) for i, o in page],
            "sequence": "0",
            "has_next": bool(cursor),
            "cursor": cursor,
        }

    async def list_fills(self, request: Request) -> Any:
        """Fills newest first; order_ids, product_ids (or the older order_id, product_id),
        start_sequence_timestamp."""
        orders = request.param("order_ids") or request.param("order_id")
        product = request.param("product_ids") or request.param("product_id")
        since = request.param("start_sequence_timestamp")
        trades = [t for t in self.engine.my_trades() if t.order_id in self._ids]
        if orders is not None:
            trades = [t for t in trades if self._ids[t.order_id] == orders]
        if product is not None:
            trades = [t for t in trades if self.market_id(t.symbol) == product]
        if since is not None:
            floor = datetime.fromisoformat(str(since).replace("Z", "+00:00")).timestamp() * 1000
            trades = [t for t in trades if t.timestamp >= floor]
        trades.sort(key=lambda t: t.timestamp, reverse=True)
        page, cursor = self._page(request, trades)
        return {"fills": [self._fill(t) for t in page], "cursor": cursor}

    def _fill(self, trade: Any) -> dict[str, Any]:
        return {
            "entry_id": uuid.uuid5(uuid.NAMESPACE_OID, trade.id).hex * 2,
            "trade_id": trade.id,
            "order_id": self._ids[trade.order_id],
            "trade_time": iso(trade.timestamp),
            "trade_type": "FILL",
            "price": text(trade.price),
            "size": text(trade.amount),
            "commission": text(trade.fee),
            "product_id": self.market_id(trade.symbol),
            "sequence_timestamp": iso(trade.timestamp),
            "liquidity_indicator": "TAKER" if trade.taker else "MAKER",
            "size_in_quote": False,
            "user_id": USER,
            "side": trade.side.value.upper(),
            "retail_portfolio_id": PORTFOLIO,
        }


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
