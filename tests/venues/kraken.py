"""Kraken spot as its REST API answers (docs.kraken.com/api, and the replies recorded in ccxt's
ts/src/test/static/response/kraken.json), behind ccxt's real `kraken` class.

Public calls are GETs under /0/public/, private ones signed POSTs (form bodies) under
/0/private/. Every reply is HTTP 200 with {"error": [...], "result": ...}: an error is a
string in that list ("EOrder:Insufficient funds"), never an HTTP status. Kraken's names: XBT
for bitcoin, asset ids XXBT / XETH / USDT in balances, pairs XBTUSDT and ETHUSDT (key and
altname alike). Times are float seconds, amounts and prices strings.

What the fake checks as Kraken does: API-Key, the API-Sign HMAC over the path and the nonce
and body, a nonce above the last one; cl_ord_id's forms (a UUID, 32 hex, or free text of at
most 18 characters) and its uniqueness among open orders; a post-only order that would take is
accepted and then cancelled ("Post only order"), as Kraken does. Fees are charged in the
quote (the matcher's `fees_in_quote`), to 8 decimals.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import parse_qsl

import ccxt
import yarl

from bot.domain.market import Side
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from tests.venues.venue import MARKETS, Answer, Handler, Request, Venue

CREDENTIALS = {
    "apiKey": "kraken-test-api-key",
    "secret": base64.b64encode(
        b"kraken fake private key, 64 bytes long, for HMAC-SHA512 !!"
    ).decode(),
}
# code -> (Kraken asset id, altname, decimals): GET /0/public/Assets.
ASSETS = {"BTC": ("XXBT", "XBT", 10), "ETH": ("XETH", "ETH", 10), "USDT": ("USDT", "USDT", 8)}
# cl_ord_id: a long UUID, a short UUID (32 hex), or free text of at most 18 characters.
CL_ORD_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32}|[!-~]{1,18}"
)
PAGE = 50  # ClosedOrders and TradesHistory: 50 results a page, most recent first
FEE_DECIMALS = 8
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_STATUS = {
    OrderStatus.OPEN: "open",
    OrderStatus.CLOSED: "closed",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.EXPIRED: "canceled",  # an IOC's rest is cancelled
}


def kraken_id(prefix: str, n: int) -> str:
    """A Kraken-shaped id for the matcher's n-th order ("O...") or trade ("T..."):
    OQCLML-BW3P3-BUCMWZ."""
    rng = random.Random(f"{prefix}{n}")
    body = "".join(rng.choice(_ALPHABET) for _ in range(16))
    return f"{prefix}{body[:5]}-{body[5:10]}-{body[10:]}"


def decimals(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def fixed(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):f}"


def truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


@dataclass
class Fake(Venue):
    exchange_id: str = "kraken"
    create_path: str = "/0/private/AddOrder"
    nonces: list[int] = field(default_factory=list)  # the nonces of accepted private calls

    def __post_init__(self) -> None:
        super().__post_init__()
        self.engine.fees_in_quote = True  # the exchange takes every fee in the quote
        self.engine.commission_decimals = FEE_DECIMALS
        self.engine.client_id_pattern = CL_ORD_ID
        self._txids: dict[str, str] = {}  # the matcher's order id -> txid
        self._orders: dict[str, SimOrder] = {}  # txid -> order (post-only refusals included)
        self._reasons: dict[str, str] = {}  # txid -> why it was cancelled
        self._refused = 0

    def routes(self) -> dict[tuple[str, str], Handler]:
        public = {
            "Time": self.time,
            "SystemStatus": self.system_status,
            "Assets": self.assets,
            "AssetPairs": self.asset_pairs,
            "Ticker": self.ticker,
            "Depth": self.depth,
        }
        private = {
            "BalanceEx": self.balance_ex,
            "AddOrder": self.add_order,
            "CancelOrder": self.cancel_order,
            "QueryOrders": self.query_orders,
            "OpenOrders": self.open_orders,
            "ClosedOrders": self.closed_orders,
            "QueryTrades": self.query_trades,
            "TradesHistory": self.trades_history,
        }
        routes = {("GET", f"/0/public/{name}"): h for name, h in public.items()}
        routes.update({("POST", f"/0/private/{name}"): h for name, h in private.items()})
        return routes

    def market_id(self, symbol: str) -> str:
        base, quote = symbol.split("/")
        return ASSETS[base][1] + ASSETS[quote][1]

    # ---- the transport: Kraken's signature and nonce ------------------------------------------

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        if url.path.startswith("/0/private/"):
            refusal = self._refusal(url.path, headers, (data or b"").decode())
            if refusal is not None:
                self.requests.append((method, url.path))
                body = json.dumps({"error": [refusal]})
                return 200, {"Content-Type": "application/json"}, body
        for order in self.engine.all_orders():  # orders placed on the matcher directly
            self._register(order)
        return await super().handle(method, url, headers, data)

    def _refusal(self, path: str, headers: Mapping[str, str], body: str) -> str | None:
        """API-Sign = base64(HMAC-SHA512(base64-decoded secret, path + SHA256(nonce + body)))."""
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("api-key") != CREDENTIALS["apiKey"]:
            return "EAPI:Invalid key"
        nonce = dict(parse_qsl(body)).get("nonce", "")
        digest = hashlib.sha256((nonce + body).encode()).digest()
        secret = base64.b64decode(CREDENTIALS["secret"])
        mac = hmac.new(secret, path.encode() + digest, hashlib.sha512).digest()
        if lowered.get("api-sign") != base64.b64encode(mac).decode():
            return "EAPI:Invalid signature"
        if not nonce.isdigit() or (self.nonces and int(nonce) <= self.nonces[-1]):
            return "EAPI:Invalid nonce"
        self.nonces.append(int(nonce))
        return None

    def error(self, exc: Exception) -> Answer:
        """Kraken's error strings (ccxt's kraken exceptions table), with HTTP 200."""
        text = str(exc)
        if isinstance(exc, ccxt.AuthenticationError):
            code = "EAPI:Invalid key"
        elif isinstance(exc, ccxt.InvalidNonce):
            code = "EAPI:Invalid nonce"
        elif isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            code = "EAPI:Rate limit exceeded"
        elif isinstance(exc, ccxt.OnMaintenance):
            code = "EService:Market in cancel_only mode"
        elif isinstance(exc, ccxt.ExchangeNotAvailable | ccxt.RequestTimeout):
            code = "EService:Unavailable"
        elif isinstance(exc, ccxt.InsufficientFunds):
            code = "EOrder:Insufficient funds"
        elif isinstance(exc, ccxt.OrderNotFound):
            code = "EOrder:Unknown order"
        elif isinstance(exc, ccxt.BadSymbol):
            code = "EQuery:Unknown asset pair"
        elif isinstance(exc, ccxt.DuplicateOrderId):
            code = "EGeneral:Invalid arguments:cl_ord_id"
        elif isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
            code = (
                "EOrder:Order minimum not met"
                if "minimum" in text or "MIN_NOTIONAL" in text or "NOTIONAL" in text
                else "EGeneral:Invalid arguments:price"
                if "price" in text
                else "EGeneral:Invalid arguments:volume"
            )
        else:
            code = "EGeneral:Internal error"
        return Answer(200, {"error": [code]})

    # ---- public -------------------------------------------------------------------------------

    @staticmethod
    def _ok(result: Any) -> dict[str, Any]:
        return {"error": [], "result": result}

    async def time(self, request: Request) -> Any:
        now = int(self.engine.now_ms / 1000)
        return self._ok({"unixtime": now, "rfc1123": "Tue, 14 Nov 23 22:13:20 +0000"})

    async def system_status(self, request: Request) -> Any:
        return self._ok({"status": "online", "timestamp": "2023-11-14T22:13:20Z"})

    async def assets(self, request: Request) -> Any:
        return self._ok(
            {
                asset: {
                    "aclass": "currency",
                    "altname": alt,
                    "decimals": places,
                    "display_decimals": min(places, 5),
                    "status": "enabled",
                }
                for asset, alt, places in ASSETS.values()
            }
        )

    async def asset_pairs(self, request: Request) -> Any:
        pairs = {}
        for symbol, (market, *_) in MARKETS.items():
            pair = self.market_id(symbol)
            percent = f"{market.taker_fee * 100:f}"
            pairs[pair] = {
                "altname": pair,
                "wsname": f"{ASSETS[market.base][1]}/{market.quote}",
                "aclass_base": "currency",
                "base": ASSETS[market.base][0],
                "aclass_quote": "currency",
                "quote": ASSETS[market.quote][0],
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": decimals(market.price_tick),
                "lot_decimals": decimals(market.amount_step),
                "lot_multiplier": 1,
                "leverage_buy": [],
                "leverage_sell": [],
                "fees": [[0, float(percent)]],
                "fees_maker": [[0, float(f"{market.maker_fee * 100:f}")]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": f"{market.min_amount:f}",
                "costmin": f"{market.min_cost:f}",
                "tick_size": f"{market.price_tick:f}",
                "status": "online",
            }
        return self._ok(pairs)

    def _pairs(self, request: Request) -> list[str]:
        wanted = request.param("pair")
        if not wanted:
            return [self.market_id(s) for s in MARKETS]
        return str(wanted).split(",")

    async def ticker(self, request: Request) -> Any:
        out = {}
        for pair in self._pairs(request):
            symbol = self.symbol_of(pair)
            bids, asks = self.engine.book(symbol)
            tick = decimals(MARKETS[symbol][0].price_tick)
            best_bid, best_ask = bids[0], asks[0]
            last = fixed(best_bid.price, tick)
            out[pair] = {
                "a": [fixed(best_ask.price, tick), "1", fixed(best_ask.amount, 3)],
                "b": [fixed(best_bid.price, tick), "1", fixed(best_bid.amount, 3)],
                "c": [last, "0.01000000"],
                "v": ["10.00000000", "25.00000000"],
                "p": [last, last],
                "t": [100, 250],
                "l": [last, last],
                "h": [last, last],
                "o": last,
            }
        return self._ok(out)

    async def depth(self, request: Request) -> Any:
        pair = self._pairs(request)[0]
        symbol = self.symbol_of(pair)
        count = int(request.param("count", 100))
        market = MARKETS[symbol][0]
        tick, lot = decimals(market.price_tick), max(3, decimals(market.amount_step))
        stamp = int(self.engine.now_ms / 1000)
        bids, asks = self.engine.book(symbol)

        def side(levels: list[Any]) -> list[list[Any]]:
            return [[fixed(lv.price, tick), fixed(lv.amount, lot), stamp] for lv in levels[:count]]

        return self._ok({pair: {"asks": side(asks), "bids": side(bids)}})

    # ---- private: balances and orders ---------------------------------------------------------

    async def balance_ex(self, request: Request) -> Any:
        account = self.engine.account
        out = {}
        for code in account.assets():
            asset, _, places = ASSETS[code]
            out[asset] = {
                "balance": fixed(account.total(code), places),
                "credit": "0.0000",
                "credit_used": "0.0000",
                "hold_trade": fixed(account.used.get(code, Decimal(0)), places),
            }
        return self._ok(out)

    async def add_order(self, request: Request) -> Any:
        pair, side = request.param("pair"), request.param("type")
        if request.param("ordertype") != "limit":
            raise Answer(200, {"error": ["EGeneral:Invalid arguments:ordertype"]})
        if side not in ("buy", "sell"):
            raise Answer(200, {"error": ["EGeneral:Invalid arguments:type"]})
        symbol = self.symbol_of(str(pair))
        volume, price = request.param("volume"), request.param("price")
        if volume is None or price is None:
            raise Answer(200, {"error": ["EGeneral:Invalid arguments:volume"]})
        client_id = request.param("cl_ord_id")
        if client_id is not None and not CL_ORD_ID.fullmatch(client_id):
            raise Answer(200, {"error": ["EGeneral:Invalid arguments:cl_ord_id"]})
        flags = str(request.param("oflags", "")).split(",")
        tif = str(request.param("timeinforce", "GTC"))
        if tif not in ("GTC", "IOC", "GTD"):
            raise Answer(200, {"error": ["EGeneral:Invalid arguments:timeinforce"]})
        post_only = "post" in flags
        try:
            order = self.place(
                symbol,
                side,
                Decimal(volume),
                Decimal(price),
                ioc=tif == "IOC",
                post_only=post_only,
                client_id=client_id,
            )
        except ccxt.OrderImmediatelyFillable:
            # Kraken takes the order, then cancels it: "Post only order".
            order = self._refused_post_only(
                symbol, side, Decimal(volume), Decimal(price), client_id
            )
        txid = self._register(order)
        if order.status is not OrderStatus.OPEN and order.remaining > 0 and tif == "IOC":
            self._reasons.setdefault(txid, "Immediate or cancel")
        return self._ok({"descr": {"order": self._description(order)}, "txid": [txid]})

    def _refused_post_only(
        self, symbol: str, side: str, amount: Decimal, price: Decimal, client_id: str | None
    ) -> SimOrder:
        self._refused += 1
        market = MARKETS[symbol][0]
        order = SimOrder(
            id=f"refused-{self._refused}",
            client_order_id=client_id or "",
            symbol=symbol,
            type=OrderType.LIMIT,
            side=Side(side),
            price=price,
            amount=amount,
            time_in_force=TimeInForce.PO,
            post_only=True,
            timestamp=self.engine.now_ms,
            fee_currency=market.quote,
            seq=0,
            status=OrderStatus.CANCELED,
            last_update_timestamp=self.engine.now_ms,
        )
        txid = self._register(order)
        self._reasons[txid] = "Post only order"
        return order

    def _register(self, order: SimOrder) -> str:
        """The order's txid (new for a new order); its trades take Kraken-shaped ids."""
        txid = self._txids.get(order.id)
        if txid is None:
            txid = kraken_id("O", len(self._txids) + 1)
            self._txids[order.id] = txid
            self._orders[txid] = order
        for i, trade in enumerate(order.trades):
            if not trade.id.startswith("T"):
                renamed = replace(trade, id=kraken_id("T", int(trade.id)))
                order.trades[i] = renamed
                trades = self.engine.trades
                trades[next(j for j, t in enumerate(trades) if t is trade)] = renamed
        return txid

    def _description(self, order: SimOrder) -> str:
        tick = decimals(MARKETS[order.symbol][0].price_tick)
        price = fixed(order.price or Decimal(0), tick)
        pair = self.market_id(order.symbol)
        return f"{order.side.value} {fixed(order.amount, 8)} {pair} @ limit {price}"

    def _json(self, txid: str, order: SimOrder, with_trades: bool) -> dict[str, Any]:
        """An order as QueryOrders, OpenOrders and ClosedOrders give it."""
        market = MARKETS[order.symbol][0]
        tick = decimals(market.price_tick)
        average = order.cost / order.filled if order.filled else Decimal(0)
        final = order.status is not OrderStatus.OPEN
        out: dict[str, Any] = {
            "refid": None,
            "userref": None,
            "cl_ord_id": order.client_order_id or None,
            "status": _STATUS[order.status],
            "reason": self._reasons.get(txid) if final else None,
            "opentm": order.timestamp / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": self.market_id(order.symbol),
                "type": order.side.value,
                "ordertype": "limit",
                "price": fixed(order.price or Decimal(0), tick),
                "price2": "0",
                "leverage": "none",
                "order": self._description(order),
                "close": "",
            },
            "vol": fixed(order.amount, 8),
            "vol_exec": fixed(order.filled, 8),
            "cost": fixed(order.cost, FEE_DECIMALS),
            "fee": fixed(order.fee, FEE_DECIMALS),
            "price": f"{average.normalize():f}" if order.filled else fixed(Decimal(0), tick),
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "post,fciq" if order.post_only else "fciq",
        }
        if final:
            out["closetm"] = (order.last_update_timestamp or order.timestamp) / 1000
        if with_trades and order.trades:
            out["trades"] = [t.id for t in order.trades]
        return out

    def _find(self, request: Request) -> list[tuple[str, SimOrder]]:
        """The orders a listing asks for: all, or those of a cl_ord_id or userref."""
        client_id = request.param("cl_ord_id")
        userref = request.param("userref")
        found = list(self._orders.items())
        if client_id is not None:
            found = [(t, o) for t, o in found if o.client_order_id == client_id]
        if userref is not None:
            found = []  # the bot never tags orders with a userref
        return found

    async def cancel_order(self, request: Request) -> Any:
        txid, client_id = request.param("txid"), request.param("cl_ord_id")
        if client_id is not None:
            matches = [t for t, o in self._orders.items() if o.client_order_id == client_id]
            txid = next((t for t in matches if self._orders[t].is_open), None)
        order = self._orders.get(str(txid))
        if order is None or not order.is_open:
            raise Answer(200, {"error": ["EOrder:Unknown order"]})
        self.engine.cancel(order.id)
        self._reasons[str(txid)] = "User requested"
        return self._ok({"count": 1})

    async def query_orders(self, request: Request) -> Any:
        with_trades = truthy(request.param("trades", False))
        out = {}
        for txid in str(request.param("txid", "")).split(","):
            order = self._orders.get(txid)
            if order is not None:
                out[txid] = self._json(txid, order, with_trades)
        return self._ok(out)

    async def open_orders(self, request: Request) -> Any:
        with_trades = truthy(request.param("trades", False))
        found = [(t, o) for t, o in self._find(request) if o.is_open]
        return self._ok({"open": {t: self._json(t, o, with_trades) for t, o in found}})

    async def closed_orders(self, request: Request) -> Any:
        with_trades = truthy(request.param("trades", False))
        found = [(t, o) for t, o in self._find(request) if not o.is_open]
        start, end = request.param("start"), request.param("end")
        if start is not None:
            found = [(t, o) for t, o in found if o.timestamp / 1000 > float(start)]
        if end is not None:
            found = [(t, o) for t, o in found if o.timestamp / 1000 <= float(end)]
        found.sort(key=lambda item: item[1].last_update_timestamp or 0, reverse=True)
        offset = int(request.param("ofs", 0))
        page = found[offset : offset + PAGE]
        closed = {t: self._json(t, o, with_trades) for t, o in page}
        return self._ok({"closed": closed, "count": len(found)})

    # ---- private: trades ----------------------------------------------------------------------

    def _trades(self) -> dict[str, tuple[str, Any]]:
        """Every trade by its id, with its order's txid."""
        return {t.id: (self._txids[t.order_id], t) for t in self.engine.my_trades()}

    def _trade_json(self, txid: str, trade: Any) -> dict[str, Any]:
        market = MARKETS[trade.symbol][0]
        return {
            "ordertxid": txid,
            "postxid": kraken_id("T", zlib.crc32(trade.id.encode())),
            "pair": self.market_id(trade.symbol),
            "time": trade.timestamp / 1000,
            "type": trade.side.value,
            "ordertype": "limit",
            "price": fixed(trade.price, decimals(market.price_tick)),
            "cost": fixed(trade.cost, FEE_DECIMALS),
            "fee": fixed(trade.fee, FEE_DECIMALS),
            "vol": fixed(trade.amount, 8),
            "margin": "0.00000",
            "leverage": "0",
            "misc": "",
            "trade_id": zlib.crc32(trade.id.encode()) % 10**8,
            "maker": not trade.taker,
        }

    async def query_trades(self, request: Request) -> Any:
        trades = self._trades()
        out = {}
        for tid in str(request.param("txid", "")).split(","):
            if tid in trades:
                out[tid] = self._trade_json(*trades[tid])
        return self._ok(out)

    async def trades_history(self, request: Request) -> Any:
        """50 trades a page, most recent first; `start` exclusive, `end` inclusive, in
        seconds; `ofs` the offset."""
        items = sorted(self._trades().items(), key=lambda kv: kv[1][1].timestamp, reverse=True)
        start, end = request.param("start"), request.param("end")
        if start is not None:
            items = [kv for kv in items if kv[1][1].timestamp / 1000 > float(start)]
        if end is not None:
            items = [kv for kv in items if kv[1][1].timestamp / 1000 <= float(end)]
        offset = int(request.param("ofs", 0))
        page = {tid: self._trade_json(*pair) for tid, pair in items[offset : offset + PAGE]}
        return self._ok({"trades": page, "count": len(items)})
