"""The simulator behind Binance's spot REST API, on 127.0.0.1, for the unmodified ccxt client.

    runner, port = await start_server(load_scenario("config/scenarios/demo.toml"))
    exchange = ccxt.async_support.binance(
        {"urls": {"api": {"public": f"http://127.0.0.1:{port}/api/v3", ...}},
         "apiKey": LOCAL_TEST_API_KEY, "secret": LOCAL_TEST_SECRET,
         "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                     "fetchCurrencies": False, "fetchMargins": False}})
    await exchange.load_markets()
    ...
    await exchange.close(); await runner.cleanup()

One `SimExchange` does the work (matching, balances, weight budget and injected faults stay in
`bot.sim`); this module only speaks Binance: its paths, parameters and their checks, its JSON
(numbers as strings, integer order and trade ids, statuses NEW/PARTIALLY_FILLED/FILLED/CANCELED/
EXPIRED, LIMIT_MAKER for post-only), its signed-request rules (X-MBX-APIKEY, HMAC-SHA256 over the
query string followed by the body, `timestamp` within `recvWindow`) and its errors, with the codes,
messages and HTTP statuses that make ccxt raise what it raises against api.binance.com:

    -2014/-2015 (401) missing/unknown key  -> AuthenticationError
    -1022 bad signature                    -> AuthenticationError
    -1021 timestamp outside recvWindow     -> InvalidNonce
    -2010 'Account has insufficient balance for requested action.' -> InsufficientFunds
    -2010 'Order would immediately match and take.'               -> OrderImmediatelyFillable
    -2010 'Duplicate order sent.'          -> InvalidOrder
    -1013 'Filter failure: LOT_SIZE' / 'Filter failure: PRICE_FILTER' -> InvalidOrder
    -1013 'Filter failure: NOTIONAL'       -> BadRequest (ccxt has no rule for it: check minimums)
    -2011 'Unknown order sent.' (cancel), -2013 'Order does not exist.' (query) -> OrderNotFound
    -1121 'Invalid symbol.'                -> BadSymbol; other parameter errors -> BadRequest
    429 + Retry-After, -1003               -> DDoSProtection (ccxt's rule for Binance's 429)
    503 -1007 (reply lost, execution status unknown) -> RequestTimeout
    503 'Service Unavailable'              -> ExchangeNotAvailable; dropped connection likewise

Every response carries `X-MBX-USED-WEIGHT-1M`: the sim's weight budget (`[faults]
weight_per_minute`, Binance's endpoint weights) is the one that answers 429. `HttpFaults` adds
transport-level trouble: 429 bursts, 503s and late replies, by fraction of requests.

The JSON shapes are pure functions in `binance_wire`; numbers keep the simulator's exact values
(eight decimals like Binance, more when the exact value has more: fees are not rounded). As on
Binance, a cancel reply's `clientOrderId` is the cancel request's own id; the order's client id is
its `origClientOrderId`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import math
import random
import re
import signal
import string
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import ccxt
import structlog
from aiohttp import web

from bot.clock import Clock, RealClock
from bot.domain.market import ZERO, Side, floor_to_step
from bot.sim import binance_wire as wire
from bot.sim.binance_wire import NotionalFilter
from bot.sim.exchange import SimExchange
from bot.sim.faults import WEIGHTS
from bot.sim.matching import CLIENT_ORDER_ID, SimOrder
from bot.sim.scenario import Scenario, load_scenario
from bot.sim.structures import market_id

log = structlog.get_logger("bot.sim.binance_front")

# Local test keys: what the server accepts unless it is given others (the `sim-server` command
# passes the bot's own REBALANCE_EXCHANGE__API_KEY / __SECRET when they are set). They protect
# nothing (the server holds simulated money on 127.0.0.1); they exist so that the client signs its
# requests exactly as it does against Binance.
LOCAL_TEST_API_KEY = "rebalance-bot-local-test-key"
LOCAL_TEST_SECRET = "rebalance-bot-local-test-secret"
DEFAULT_PORT = 8765

SHUTDOWN_TIMEOUT = 5.0  # seconds cleanup() waits for replies in flight (slow ones included)
DEFAULT_RECV_WINDOW = 5000  # ms, Binance's default
UNLIMITED_WEIGHT = 6000  # what exchangeInfo reports when the scenario sets no weight budget
MAX_RECV_WINDOW = 60000
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT")
UNSUPPORTED_ORDER_PARAMS = (
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
)
SIGNING = frozenset({"timestamp", "recvWindow", "signature"})

_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")
_ALNUM = string.ascii_letters + string.digits
_FILTER_IN_MESSAGE = re.compile(r"\((LOT_SIZE|PRICE_FILTER|NOTIONAL)\)")

Params = dict[str, str]
T = TypeVar("T")
Handler = Callable[[Params], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class HttpFaults:
    """Transport-level trouble, by fraction of requests, drawn from a stream seeded with `seed`.

    - `rate_limited`: a request starts a burst of `burst_seconds` in which every request is
      answered 429 (-1003) with `Retry-After`; nothing is executed.
    - `server_error`: the request is answered 503 Service Unavailable and not executed.
    - `slow`: the request is executed and its reply held back `slow_seconds` of wall time (longer
      than the client's timeout: a lost reply, the case idempotent placement must survive).
    """

    rate_limited: float = 0.0
    burst_seconds: float = 5.0
    server_error: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        for name in ("rate_limited", "server_error", "slow"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a fraction in [0, 1], got {getattr(self, name)}")
        if self.rate_limited + self.server_error > 1:
            problems.append("rate_limited + server_error must be <= 1")
        for name in ("burst_seconds", "slow_seconds"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        if problems:
            raise ValueError("; ".join(problems))


class Reply(Exception):
    """An HTTP answer other than 200, raised from anywhere in a request's handling."""

    def __init__(
        self, status: int, body: Mapping[str, Any] | str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, headers=self.headers)
        return _json_response(self.body, self.status, self.headers)


class _Drop(Exception):
    """Close the connection without answering (a network error as the client sees it)."""


def error(status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> Reply:
    """Binance's error body `{"code": ..., "msg": ...}` with its HTTP status."""
    return Reply(status, {"code": code, "msg": msg}, headers)


def _mandatory(name: str) -> Reply:
    return error(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _not_required(name: str) -> Reply:
    return error(400, -1106, f"Parameter '{name}' sent when not required.")


def _illegal(name: str, legal: str) -> Reply:
    return error(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
    )


def _without_signature(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))


@dataclass(frozen=True, slots=True)
class _Endpoint:
    name: str
    handler: Handler
    signed: bool
    params: frozenset[str]


class BinanceFront:
    """The HTTP front of one `SimExchange`; `app()` is the aiohttp application."""

    def __init__(
        self,
        exchange: SimExchange,
        *,
        api_key: str = LOCAL_TEST_API_KEY,
        secret: str = LOCAL_TEST_SECRET,
        faults: HttpFaults | None = None,
        notional_filter: NotionalFilter = "NOTIONAL",
        seed: int = 0,
    ) -> None:
        if not api_key or not secret:
            raise ValueError("the Binance front needs a non-empty API key and secret")
        self.exchange = exchange
        self.engine = exchange.engine
        self.clock: Clock = exchange.clock
        self.api_key = api_key
        self._secret = secret.encode()
        self.faults = faults or HttpFaults()
        self.notional_filter = notional_filter
        self.requests: Counter[str] = Counter()  # by endpoint name, every answer counted
        self._fault_rng = random.Random(f"{self.faults.seed}/http-faults")
        self._id_rng = random.Random(f"{seed}/client-ids")
        self._burst_until = 0.0
        self._quote_qty: dict[str, Decimal] = {}
        self._ids = {market_id(s): s for s in self.engine.markets}
        self._routes = self._route_table()

    # ---- the application --------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app[FRONT] = self
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def rate_limit_burst(self, seconds: float) -> None:
        """Answer every request 429 for the next `seconds` (clock time), as a burst would."""
        self._burst_until = max(self._burst_until, self.clock.time() + seconds)

    def _route_table(self) -> dict[tuple[str, str], _Endpoint]:
        sym = frozenset({"symbol", "symbols", "symbolStatus"})
        order = frozenset(
            {
                "symbol",
                "side",
                "type",
                "timeInForce",
                "quantity",
                "quoteOrderQty",
                "price",
                "newClientOrderId",
                "newOrderRespType",
                "selfTradePreventionMode",
                "strategyId",
                "strategyType",
                *UNSUPPORTED_ORDER_PARAMS,
            }
        )
        table: list[tuple[str, str, str, Handler, bool, Iterable[str]]] = [
            ("GET", "/api/v3/ping", "ping", self._ping, False, ()),
            ("GET", "/api/v3/time", "time", self._time, False, ()),
            ("GET", "/api/v3/exchangeInfo", "exchangeInfo", self._exchange_info, False, sym),
            ("GET", "/api/v3/depth", "depth", self._depth, False, {"symbol", "limit"}),
            ("GET", "/api/v3/ticker/24hr", "ticker24hr", self._ticker_24hr, False, {*sym, "type"}),
            ("GET", "/api/v3/ticker/bookTicker", "bookTicker", self._book_ticker, False, sym),
            ("GET", "/api/v3/ticker/price", "tickerPrice", self._ticker_price, False, sym),
            ("GET", "/api/v3/account", "account", self._account, True, {"omitZeroBalances"}),
            ("POST", "/api/v3/order", "newOrder", self._new_order, True, order),
            (
                "DELETE",
                "/api/v3/order",
                "cancelOrder",
                self._cancel_order,
                True,
                {
                    "symbol",
                    "orderId",
                    "origClientOrderId",
                    "newClientOrderId",
                    "cancelRestrictions",
                },
            ),
            (
                "GET",
                "/api/v3/order",
                "queryOrder",
                self._query_order,
                True,
                {"symbol", "orderId", "origClientOrderId"},
            ),
            ("GET", "/api/v3/openOrders", "openOrders", self._open_orders, True, {"symbol"}),
            ("DELETE", "/api/v3/openOrders", "cancelAll", self._cancel_all, True, {"symbol"}),
            (
                "GET",
                "/api/v3/allOrders",
                "allOrders",
                self._all_orders,
                True,
                {"symbol", "orderId", "startTime", "endTime", "limit"},
            ),
            (
                "GET",
                "/api/v3/myTrades",
                "myTrades",
                self._my_trades,
                True,
                {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
            ),
            ("GET", "/sapi/v1/system/status", "systemStatus", self._system_status, False, ()),
            ("GET", "/sapi/v1/asset/tradeFee", "tradeFee", self._trade_fee, True, {"symbol"}),
        ]
        routes = {}
        for method, path, name, handler, signed, params in table:
            allowed = frozenset(params) | (SIGNING if signed else frozenset())
            routes[(method, path)] = _Endpoint(name, handler, signed, allowed)
        # ccxt's `v1` API and Binance's older paths answer the same as v3 where they exist.
        for (method, path), endpoint in list(routes.items()):
            if path in ("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"):
                routes[(method, path.replace("/api/v3/", "/api/v1/"))] = endpoint
        return routes

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = self._routes.get((request.method, request.path))
        if endpoint is None:
            known = any(path == request.path for _, path in self._routes)
            log.warning("binance_front_no_route", method=request.method, path=request.path)
            self.requests["unknown"] += 1
            return web.Response(
                status=405 if known else 404, text="Method Not Allowed" if known else "Not Found"
            )
        self.requests[endpoint.name] += 1
        slow = False
        try:
            slow = self._transport_faults()
            raw_query = request.rel_url.raw_query_string
            raw_body = await request.text() if request.can_read_body else ""
            params = self._params(raw_query, raw_body)
            if endpoint.signed:
                self._authenticate(request, params, raw_query, raw_body)
            unknown = [k for k in params if k not in endpoint.params]
            if unknown:
                raise error(
                    400,
                    -1104,
                    f"Not all sent parameters were read; read '{len(params) - len(unknown)}'"
                    f" parameter(s) but was sent '{len(params)}'.",
                )
            try:
                body = await endpoint.handler(params)
            except ccxt.BaseError as exc:
                raise self._translate(exc, endpoint.name) from None
            response: web.StreamResponse = _json_response(body)
        except Reply as reply:
            response = reply.response()
        except _Drop:
            log.debug("binance_front_dropped", endpoint=endpoint.name)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        except Exception:
            log.exception("binance_front_error", endpoint=endpoint.name)
            response = error(
                500, -1000, "An unknown error occured while processing the request."
            ).response()
        if slow:
            await asyncio.sleep(self.faults.slow_seconds)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(self.exchange.faults.weight_used)
        log.debug(
            "binance_front_request",
            endpoint=endpoint.name,
            method=request.method,
            status=response.status,
        )
        return response

    def _transport_faults(self) -> bool:
        """Raise a 429 or 503 reply when a fault says so; return whether to answer late."""
        f = self.faults
        now = self.clock.time()
        if now >= self._burst_until and (f.rate_limited or f.server_error):
            u = self._fault_rng.random()
            if u < f.rate_limited:
                self._burst_until = now + f.burst_seconds
            elif u < f.rate_limited + f.server_error:
                raise Reply(503, "Service Unavailable")
        if now < self._burst_until:
            raise self._too_many(math.ceil(self._burst_until - now))
        return bool(f.slow) and self._fault_rng.random() < f.slow

    def _too_many(self, retry_after: int) -> Reply:
        budget = self.exchange.faults.config.weight_per_minute or UNLIMITED_WEIGHT
        return error(
            429,
            -1003,
            f"Too much request weight used; current limit is {budget} request weight per 1"
            " MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
            {"Retry-After": str(max(retry_after, 1))},
        )

    # ---- request checks ---------------------------------------------------------------------

    @staticmethod
    def _params(raw_query: str, raw_body: str) -> Params:
        params: Params = {}
        for raw in (raw_query, raw_body):
            for key, value in parse_qsl(raw, keep_blank_values=True):
                params.setdefault(key, value)
        return params

    def _now_ms(self) -> int:
        return round(self.clock.time() * 1000)

    def _authenticate(
        self, request: web.Request, params: Params, raw_query: str, raw_body: str
    ) -> None:
        key = request.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise error(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        timestamp = params.get("timestamp", "")
        if not _INTEGER.match(timestamp):
            raise _mandatory("timestamp")
        signature = params.get("signature", "")
        if not signature:
            raise _mandatory("signature")
        payload = _without_signature(raw_query) + _without_signature(raw_body)
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise error(400, -1022, "Signature for this request is not valid.")
        recv_window = float(DEFAULT_RECV_WINDOW)
        if "recvWindow" in params:
            try:
                recv_window = float(params["recvWindow"])
            except ValueError:
                raise _illegal("recvWindow", "^[0-9]{1,20}$") from None
            if not 0 < recv_window <= MAX_RECV_WINDOW:
                raise error(400, -1131, f"recvWindow must be less than {MAX_RECV_WINDOW}")
        now = self._now_ms()
        ts = int(timestamp)
        if ts >= now + 1000:
            raise error(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - ts > recv_window:
            raise error(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _symbol(self, params: Params) -> str:
        raw = params.get("symbol", "")
        if not raw:
            raise _mandatory("symbol")
        return self._symbol_of(raw)

    def _symbol_of(self, raw: str) -> str:
        symbol = self._ids.get(raw)
        if symbol is None:
            raise error(400, -1121, "Invalid symbol.")
        return symbol

    def _symbols(self, params: Params) -> list[str] | None:
        """Symbols asked by `symbol` or `symbols` (a JSON list), or None for all of them."""
        if params.get("symbol") and params.get("symbols"):
            raise error(400, -1128, "Combination of optional parameters invalid.")
        if params.get("symbol"):
            return [self._symbol_of(params["symbol"])]
        raw = params.get("symbols")
        if not raw:
            return None
        try:
            ids = json.loads(raw)
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise _illegal(
                "symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
            )
        return [self._symbol_of(i) for i in ids]

    @staticmethod
    def _number(params: Params, name: str) -> Decimal | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        if not _NUMBER.match(raw):
            raise _illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
        return Decimal(raw)

    @staticmethod
    def _integer(params: Params, name: str, default: int | None = None) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        if not _INTEGER.match(raw):
            raise _illegal(name, "^[0-9]{1,20}$")
        return int(raw)

    def _limit(self, params: Params, default: int, maximum: int) -> int:
        limit = self._integer(params, "limit", default)
        assert limit is not None
        if limit <= 0:
            raise error(400, -1130, "Data sent for parameter 'limit' is not valid.")
        return min(limit, maximum)

    @staticmethod
    def _time_range(params: Params) -> tuple[int | None, int | None]:
        start = BinanceFront._integer(params, "startTime")
        end = BinanceFront._integer(params, "endTime")
        if start is not None and end is not None:
            if end < start:
                raise error(400, -1128, "Combination of optional parameters invalid.")
            if end - start > 24 * 3600 * 1000:
                raise error(400, -1127, "More than 24 hours between startTime and endTime.")
        return start, end

    def _client_id(self) -> str:
        return "".join(self._id_rng.choices(_ALNUM, k=22))

    # ---- ccxt errors from the simulator, as Binance answers ---------------------------------

    def _translate(self, exc: ccxt.BaseError, endpoint: str) -> Reply | _Drop:
        text = str(exc)
        if isinstance(exc, ccxt.DDoSProtection):
            retry = self.exchange.last_response_headers.get("Retry-After")
            seconds = int(retry) if retry else math.ceil(60 - self.clock.time() % 60)
            return self._too_many(seconds)
        if isinstance(exc, ccxt.RequestTimeout):
            return error(
                503,
                -1007,
                "Timeout waiting for response from backend server. Send status unknown;"
                " execution status unknown.",
            )
        if isinstance(exc, ccxt.ExchangeNotAvailable):
            return Reply(503, "Service Unavailable")
        if isinstance(exc, ccxt.NetworkError):
            return _Drop()
        if isinstance(exc, ccxt.InsufficientFunds):
            return error(400, -2010, "Account has insufficient balance for requested action.")
        if isinstance(exc, ccxt.OrderImmediatelyFillable):
            return error(400, -2010, "Order would immediately match and take.")
        if isinstance(exc, ccxt.DuplicateOrderId):
            return error(400, -2010, "Duplicate order sent.")
        if isinstance(exc, ccxt.OrderNotFound):
            if endpoint in ("cancelOrder", "cancelAll"):
                return error(400, -2011, "Unknown order sent.")
            return error(400, -2013, "Order does not exist.")
        if isinstance(exc, ccxt.BadSymbol):
            return error(400, -1121, "Invalid symbol.")
        if isinstance(exc, ccxt.InvalidOrder):
            found = _FILTER_IN_MESSAGE.search(text)
            if found:
                name = found.group(1)
                name = self.notional_filter if name == "NOTIONAL" else name
                return error(400, -1013, f"Filter failure: {name}")
            if ": price " in text and "must be positive" in text:
                return error(400, -1013, "Invalid price.")
            if ": amount " in text and "must be positive" in text:
                return error(400, -1013, "Invalid quantity.")
            return error(400, -2010, text)
        if isinstance(exc, ccxt.ArgumentsRequired):
            return error(400, -1102, text)
        log.warning("binance_front_unmapped_error", endpoint=endpoint, error=type(exc).__name__)
        return error(500, -1000, "An unknown error occured while processing the request.")

    # ---- public endpoints -------------------------------------------------------------------

    async def _ping(self, params: Params) -> dict[str, Any]:
        await self.exchange.charge("ping", 1)
        return {}

    async def _time(self, params: Params) -> dict[str, Any]:
        await self.exchange.charge("time", 1)
        return {"serverTime": self._now_ms()}

    async def _system_status(self, params: Params) -> dict[str, Any]:
        await self.exchange.charge("system_status", 1)
        return {"status": 0, "msg": "normal"}

    async def _exchange_info(self, params: Params) -> dict[str, Any]:
        symbols = self._symbols(params)
        await self.exchange.charge("load_markets", WEIGHTS["load_markets"])
        wanted = symbols if symbols is not None else list(self.engine.markets)
        return wire.exchange_info(
            (self.engine.markets[s] for s in wanted),
            self._now_ms(),
            self.exchange.faults.config.weight_per_minute or UNLIMITED_WEIGHT,
            self.notional_filter,
        )

    async def _depth(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(params)
        limit = self._limit(params, 100, 5000)
        raw = await self.exchange.fetch_order_book(symbol, limit)
        bids, asks = self.engine.book(symbol)  # the state the call just read, exactly
        return wire.depth(int(raw["nonce"]), bids, asks, limit)

    async def _ticker_24hr(self, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
        symbols = self._symbols(params)
        if params.get("type", "FULL") not in ("FULL", "MINI"):
            raise _illegal("type", "FULL, MINI")
        await self.exchange.charge("fetch_tickers", _ticker_weight(symbols))
        now = self._now_ms()

        def one(s: str) -> dict[str, Any]:
            return wire.ticker_24hr(s, *self.engine.book(s), self.engine.books[s].stats, now)

        return self._one_or_all(params, symbols, one)

    async def _book_ticker(self, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
        symbols = self._symbols(params)
        await self.exchange.charge("fetch_bids_asks", 2 if params.get("symbol") else 4)
        return self._one_or_all(
            params, symbols, lambda s: wire.book_ticker(s, *self.engine.book(s))
        )

    async def _ticker_price(self, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
        symbols = self._symbols(params)
        await self.exchange.charge("fetch_last_prices", 2 if params.get("symbol") else 4)
        return self._one_or_all(
            params, symbols, lambda s: wire.price_ticker(s, self.engine.books[s].stats)
        )

    def _one_or_all(
        self, params: Params, symbols: list[str] | None, one: Callable[[str], dict[str, Any]]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """One object for `symbol`, a list for `symbols` or for all markets, as Binance does."""
        if params.get("symbol"):
            return one(self._symbol_of(params["symbol"]))
        return [one(s) for s in (symbols if symbols is not None else self.engine.markets)]

    # ---- account ----------------------------------------------------------------------------

    async def _account(self, params: Params) -> dict[str, Any]:
        omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
        await self.exchange.fetch_balance()
        # Binance's account-wide rates; per market, see /sapi/v1/asset/tradeFee
        first = next(iter(self.engine.markets.values()))
        return wire.account_info(
            self.engine.account,
            first.maker_fee,
            first.taker_fee,
            self._now_ms(),
            omit_zero=omit_zero,
        )

    async def _trade_fee(self, params: Params) -> list[dict[str, Any]]:
        symbols = [self._symbol_of(params["symbol"])] if params.get("symbol") else None
        await self.exchange.charge("fetch_trading_fees", 1)
        wanted = symbols if symbols is not None else list(self.engine.markets)
        return [wire.trade_fee(self.engine.markets[s]) for s in wanted]

    # ---- orders -----------------------------------------------------------------------------

    async def _new_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(params)
        side = params.get("side", "")
        if not side:
            raise _mandatory("side")
        if side not in ("BUY", "SELL"):
            raise error(400, -1117, "Invalid side.")
        kind = params.get("type", "")
        if not kind:
            raise _mandatory("type")
        if kind not in wire.ORDER_TYPES:
            raise error(400, -1116, "Invalid orderType.")
        for name in UNSUPPORTED_ORDER_PARAMS:
            if params.get(name):
                raise _not_required(name)
        tif = params.get("timeInForce") or None
        quantity = self._number(params, "quantity")
        quote_qty = self._number(params, "quoteOrderQty")
        price = self._number(params, "price")
        if kind == "MARKET":
            for name, value in (("timeInForce", tif), ("price", price)):
                if value is not None:
                    raise _not_required(name)
            if quantity is None and quote_qty is None:
                raise error(
                    400,
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty!",
                )
            if quantity is not None and quote_qty is not None:
                raise _not_required("quoteOrderQty")
        else:
            if kind == "LIMIT" and tif is None:
                raise _mandatory("timeInForce")
            if kind == "LIMIT_MAKER" and tif is not None:
                raise _not_required("timeInForce")
            if tif is not None and tif not in TIME_IN_FORCE:
                raise error(400, -1115, "Invalid timeInForce.")
            if quote_qty is not None:
                raise _not_required("quoteOrderQty")
            if quantity is None:
                raise _mandatory("quantity")
            if price is None:
                raise _mandatory("price")
        client_id = params.get("newClientOrderId") or self._client_id()
        if not CLIENT_ORDER_ID.match(client_id):
            raise _illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
        reply = params.get("newOrderRespType") or ("ACK" if kind == "LIMIT_MAKER" else "FULL")
        if reply not in ("ACK", "RESULT", "FULL"):
            raise _illegal("newOrderRespType", "ACK, RESULT, FULL")
        stp = params.get("selfTradePreventionMode") or wire.STP_MODE
        if stp not in STP_MODES:
            raise _illegal("selfTradePreventionMode", ", ".join(STP_MODES))
        if stp != wire.STP_MODE:
            raise error(
                400, -1013, f"selfTradePreventionMode {stp} is not supported: {wire.STP_MODE} only."
            )

        order_side = Side.BUY if side == "BUY" else Side.SELL
        if quote_qty is not None:
            quantity = self._base_for_quote(symbol, order_side, quote_qty)
        assert quantity is not None
        sim_params: dict[str, Any] = {"clientOrderId": client_id}
        if kind == "LIMIT":
            sim_params["timeInForce"] = tif
        elif kind == "LIMIT_MAKER":
            sim_params["postOnly"] = True
        order_type = "market" if kind == "MARKET" else "limit"
        try:
            raw = await self.exchange.create_order(
                symbol, order_type, order_side.value, quantity, price, sim_params
            )
        except ccxt.RequestTimeout:  # placed, reply lost: keep what a later query must show
            if quote_qty is not None:
                with contextlib.suppress(ccxt.OrderNotFound):
                    lost = self.engine.find(client_order_id=client_id, symbol=symbol)
                    self._quote_qty[lost.id] = quote_qty
            raise
        order = self.engine.orders[str(raw["id"])]
        if quote_qty is not None:
            self._quote_qty[order.id] = quote_qty
        return wire.new_order_reply(order, reply, self._quote(order))

    def _base_for_quote(self, symbol: str, side: Side, quote: Decimal) -> Decimal:
        """The base quantity a MARKET order with `quoteOrderQty` takes from the visible book."""
        market = self.engine.market(symbol)
        if quote < market.min_cost:
            raise error(400, -1013, f"Filter failure: {self.notional_filter}")
        self.engine.advance_to(self.clock.time())
        left, qty = quote, ZERO
        for lv in self.engine.books[symbol].levels(side.opposite):
            take = min(lv.amount, left / lv.price)
            qty += take
            left -= take * lv.price
            if left <= 0:
                break
        qty = floor_to_step(qty, market.amount_step)
        if qty <= 0:
            raise error(400, -1013, "Filter failure: LOT_SIZE")
        return qty

    def _quote(self, order: SimOrder) -> Decimal:
        return self._quote_qty.get(order.id, ZERO)

    def _order_json(self, order: SimOrder) -> dict[str, Any]:
        return wire.order(order, self._quote(order))

    def _cancel_json(self, order: SimOrder, cancel_id: str) -> dict[str, Any]:
        return wire.cancel_reply(order, cancel_id, self._now_ms(), self._quote(order))

    def _which_order(self, params: Params, unknown: Reply) -> tuple[str, str | None]:
        """(order id, client order id) to look up; Binance checks both when both are sent."""
        order_id = self._integer(params, "orderId")
        client_id = params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise error(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None and client_id is not None:
            order = self.engine.orders.get(str(order_id))
            if order is None or order.client_order_id != client_id:
                raise unknown
            client_id = None
        return ("" if order_id is None else str(order_id)), client_id

    async def _cancel_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(params)
        order_id, client_id = self._which_order(params, error(400, -2011, "Unknown order sent."))
        cancel_id = params.get("newClientOrderId") or self._client_id()
        by_client = {"clientOrderId": client_id} if client_id else None
        raw = await self.exchange.cancel_order(order_id, symbol, by_client)
        return self._cancel_json(self.engine.orders[str(raw["id"])], cancel_id)

    async def _query_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(params)
        order_id, client_id = self._which_order(params, error(400, -2013, "Order does not exist."))
        by_client = {"clientOrderId": client_id} if client_id else None
        raw = await self.exchange.fetch_order(order_id or None, symbol, by_client)
        return self._order_json(self.engine.orders[str(raw["id"])])

    async def _open_orders(self, params: Params) -> list[dict[str, Any]]:
        symbol = self._symbol(params) if params.get("symbol") else None
        raws = await self.exchange.fetch_open_orders(symbol)
        return [self._order_json(self.engine.orders[str(r["id"])]) for r in raws]

    async def _cancel_all(self, params: Params) -> list[dict[str, Any]]:
        symbol = self._symbol(params)
        open_orders = self.engine.open_orders(symbol)
        if not open_orders:
            await self.exchange.charge("cancel_all_orders", 1)
            raise error(400, -2011, "Unknown order sent.")
        out = []
        for order in open_orders:
            raw = await self.exchange.cancel_order(order.id, symbol)
            out.append(self._cancel_json(self.engine.orders[str(raw["id"])], self._client_id()))
        return out

    async def _all_orders(self, params: Params) -> list[dict[str, Any]]:
        symbol = self._symbol(params)
        from_id = self._integer(params, "orderId")
        start, end = self._time_range(params)
        limit = self._limit(params, 500, 1000)
        raws = await self.exchange.fetch_orders(symbol)
        orders = sorted((self.engine.orders[str(r["id"])] for r in raws), key=lambda o: o.seq)
        ids, times = [o.seq for o in orders], [o.timestamp for o in orders]
        chosen = _window(orders, ids, times, from_id, start, end, limit)
        return [self._order_json(o) for o in chosen]

    async def _my_trades(self, params: Params) -> list[dict[str, Any]]:
        symbol = self._symbol(params)
        order_id = self._integer(params, "orderId")
        from_id = self._integer(params, "fromId")
        start, end = self._time_range(params)
        if from_id is not None and (start is not None or end is not None):
            raise error(400, -1128, "Combination of optional parameters invalid.")
        limit = self._limit(params, 500, 1000)
        raws = await self.exchange.fetch_my_trades(symbol)
        by_id = {t.id: t for t in self.engine.trades}
        trades = sorted((by_id[str(r["id"])] for r in raws), key=lambda t: int(t.id))
        if order_id is not None:
            trades = [t for t in trades if t.order_id == str(order_id)]
        ids, times = [int(t.id) for t in trades], [t.timestamp for t in trades]
        chosen = _window(trades, ids, times, from_id, start, end, limit)
        return [wire.trade(t) for t in chosen]


FRONT = web.AppKey("binance_front", BinanceFront)


def _ticker_weight(symbols: Sequence[str] | None) -> int:
    """Binance's weight of GET /api/v3/ticker/24hr: by how many symbols are asked."""
    if symbols is None or len(symbols) > 100:
        return 80
    return 2 if len(symbols) <= 20 else 40


def _window(
    items: Sequence[T],
    ids: Sequence[int],
    times: Sequence[int],
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[T]:
    """Binance's history rules: from an id or a start time, the oldest `limit` on; else the
    newest `limit`; always oldest first."""
    chosen = [
        item
        for item, i, t in zip(items, ids, times, strict=True)
        if (from_id is None or i >= from_id)
        and (start is None or t >= start)
        and (end is None or t <= end)
    ]
    if from_id is not None or start is not None:
        return chosen[:limit]
    return chosen[-limit:]


# ---- starting, serving, pointing ccxt at it --------------------------------------------------


def front_of(runner: web.AppRunner) -> BinanceFront:
    """The `BinanceFront` (and through it the `SimExchange`) behind a runner from start_server."""
    app = runner.app
    assert isinstance(app, web.Application)
    return app[FRONT]


async def start_server(
    scenario: Scenario,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str = LOCAL_TEST_API_KEY,
    secret: str = LOCAL_TEST_SECRET,
    clock: Clock | None = None,
    faults: HttpFaults | None = None,
    notional_filter: NotionalFilter = "NOTIONAL",
) -> tuple[web.AppRunner, int]:
    """Serve `scenario` as Binance spot on `host:port` (0: a free port) in the running loop.

    The market runs on `clock` (default: wall time); a `VirtualClock` only moves when told, and a
    client then needs `adjustForTimeDifference` to sign with the server's time. Returns the runner
    (`await runner.cleanup()` stops it; `front_of(runner)` reaches the simulator) and the port.
    """
    clock = clock or RealClock()
    if not _is_loopback(host):
        log.warning("binance_front_not_loopback", host=host)
    exchange = SimExchange.from_scenario(scenario, clock)
    front = BinanceFront(
        exchange,
        api_key=api_key,
        secret=secret,
        faults=faults,
        notional_filter=notional_filter,
        seed=scenario.seed,
    )
    runner = web.AppRunner(
        front.app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual = int(runner.addresses[0][1])
    log.info("binance_front_started", host=host, port=actual, scenario=scenario.name)
    return runner, actual


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    scenario_path: str | Path,
    port: int = DEFAULT_PORT,
    api_key: str = LOCAL_TEST_API_KEY,
    secret: str = LOCAL_TEST_SECRET,
    *,
    host: str = "127.0.0.1",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a scenario file until SIGINT or SIGTERM (the `sim-server` command).

    Raises `ScenarioError` (a `ConfigError`) for a bad file and `OSError` when the port is taken.
    `on_ready` receives the base URL (for `exchange.api_url`) once the server listens.
    """
    scenario = load_scenario(scenario_path)
    asyncio.run(_serve_until_stopped(scenario, host, port, api_key, secret, on_ready))


async def _serve_until_stopped(
    scenario: Scenario,
    host: str,
    port: int,
    api_key: str,
    secret: str,
    on_ready: Callable[[str], None] | None,
) -> None:
    runner, actual = await start_server(scenario, host, port, api_key=api_key, secret=secret)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if on_ready is not None:
            on_ready(f"http://{host}:{actual}")
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("binance_front_stopped", port=actual)


__all__ = [
    "DEFAULT_PORT",
    "LOCAL_TEST_API_KEY",
    "LOCAL_TEST_SECRET",
    "BinanceFront",
    "HttpFaults",
    "front_of",
    "serve",
    "start_server",
]
