"""A fake exchange behind the real ccxt class of a venue: the HTTP call ccxt makes is answered,
in the venue's own JSON, by a small simulated account; ccxt's signing, parsing and error mapping
all run for real.

    venue = OkxVenue()                       # a subclass: the venue's routes and JSON
    client = ccxt_client("okx", profile, ...) # the bot's own client factory
    venue.install(client)                     # ccxt's aiohttp session is replaced by the venue

The account is `bot.sim.matching.Matcher` (balances, orders, fills, fees in the asset received)
over `StaticBook`s: a fixed ladder around a price that refills at once, so every test can compute
what it will see. A subclass supplies `routes()` ((HTTP method, path) -> handler) and `error()`
(the venue's error body for a ccxt error class); handlers get a `Request` and return the JSON
body (or raise `Answer` with a status and a body).

Faults, each for the next matching request only: `lose_reply(path)` executes the request and
then drops the connection (ccxt raises RequestTimeout: the ambiguous case); `fail(path, error)`
answers the venue's error for a ccxt error class without executing (rate limit, auth...).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import ccxt
import yarl

from bot.domain.market import Level, Market, Side
from bot.sim.account import OrderType, SimOrder, SimTrade, TimeInForce
from bot.sim.matching import Matcher

D = Decimal


class StaticBook:
    """A ladder of `levels` prices `spacing` apart on each side of `price`, `depth` base units
    each, that refills at once: what our orders take is gone only for that order."""

    def __init__(
        self, market: Market, price: Decimal, depth: Decimal, spacing: Decimal, levels: int = 20
    ) -> None:
        self.market = market
        self._bids = tuple(Level(price - spacing * (i + 1), depth) for i in range(levels))
        self._asks = tuple(Level(price + spacing * (i + 1), depth) for i in range(levels))

    def levels(self, resting: Side) -> tuple[Level, ...]:
        return self._bids if resting is Side.BUY else self._asks

    def best(self, resting: Side) -> Decimal | None:
        return self.levels(resting)[0].price

    def consume(self, resting: Side, price: Decimal, amount: Decimal) -> None:
        pass

    def see_trade(self, price: Decimal, amount: Decimal) -> None:
        pass


def market(symbol: str, tick: str, step: str, min_cost: str = "5", fee: str = "0.001") -> Market:
    base, quote = symbol.split("/")
    return Market(symbol, base, quote, D(step), D(tick), D(step), D(min_cost), D(fee), D(fee))


# The account every venue test starts from: ~60 % BTC against targets of BTC 50 %, ETH 30 %,
# USDT 20 %, on books deep enough for each leg to finish in a few children.
MARKETS = {
    "BTC/USDT": (market("BTC/USDT", "0.1", "0.00001"), D(50000), D("0.5"), D("0.1")),
    "ETH/USDT": (market("ETH/USDT", "0.01", "0.0001"), D(2500), D(8), D("0.01")),
}
BALANCES = {"BTC": D("1.2"), "ETH": D(4), "USDT": D(30000)}
TARGETS = {"BTC": D("0.5"), "ETH": D("0.3"), "USDT": D("0.2")}


class Answer(Exception):
    """An HTTP answer other than 200 with a JSON body."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, dict(headers or {})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # the JSON (or form) body, decoded
    headers: Mapping[str, str]

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter from the query string or the body, whichever has it."""
        if name in self.query:
            return self.query[name]
        if isinstance(self.body, dict) and name in self.body:
            return self.body[name]
        return default


Handler = Callable[[Request], Awaitable[Any]]


@dataclass
class _Fault:
    kind: str  # "lose" | "fail"
    error: type[Exception] | None = None


@dataclass
class Venue:
    """The simulated account and the fault switches; a subclass speaks the venue."""

    exchange_id: str = "venue"
    create_path: str = ""  # the path of the venue's order-creation endpoint
    engine: Matcher[StaticBook] = field(init=False)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _faults: dict[str, list[_Fault]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        books = {
            s: StaticBook(m, price, depth, spacing)
            for s, (m, price, depth, spacing) in MARKETS.items()
        }
        self.engine = Matcher(books, dict(BALANCES), exchange_id=self.exchange_id, now=time.time())
        self._routes = self.routes()

    # ---- what a subclass supplies -------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], Handler]:
        raise NotImplementedError

    def error(self, exc: Exception) -> Answer:
        """The venue's reply for a ccxt error class raised by the account (or a fault)."""
        raise NotImplementedError

    def market_id(self, symbol: str) -> str:
        raise NotImplementedError

    def trade_id(self, trade: SimTrade) -> str:
        """The id this venue shows for one of the account's trades (the engine's own by default)."""
        return trade.id

    def symbol_of(self, market_id: str) -> str:
        for symbol in MARKETS:
            if self.market_id(symbol) == market_id:
                return symbol
        raise self.error(ccxt.BadSymbol(f"unknown market {market_id}"))

    # ---- faults --------------------------------------------------------------------------------

    def lose_reply(self, path: str) -> None:
        """The next request to `path` executes, then its connection drops."""
        self._faults.setdefault(path, []).append(_Fault("lose"))

    def fail(self, path: str, error: type[Exception]) -> None:
        """The next request to `path` is refused with the venue's reply for `error`."""
        self._faults.setdefault(path, []).append(_Fault("fail", error))

    # ---- the account, for handlers ------------------------------------------------------------

    def place(
        self,
        symbol: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        *,
        ioc: bool = False,
        post_only: bool = False,
        client_id: str | None = None,
    ) -> SimOrder:
        tif = TimeInForce.PO if post_only else TimeInForce.IOC if ioc else TimeInForce.GTC
        kind = OrderType.LIMIT if price is not None else OrderType.MARKET
        return self.engine.place(
            symbol, kind, Side(side), amount, price, time_in_force=tif, client_order_id=client_id
        )

    # ---- the HTTP side -------------------------------------------------------------------------

    def install(self, client: Any) -> None:
        """Answer every HTTP request of the ccxt `client` from this venue."""
        client.session = FakeSession(self)

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        self.engine.now += 0.05  # time moves on by 50 ms a request
        path = url.path
        self.requests.append((method, path))
        body = _decode(data, headers)
        request = Request(method, path, dict(parse_qsl(url.query_string)), body, headers)
        handler = self._routes.get((method, path))
        if handler is None:
            return 404, {"Content-Type": "text/plain"}, f"no route {method} {path}"
        fault = self._faults.get(path, [None]).pop(0) if self._faults.get(path) else None
        try:
            if fault is not None and fault.kind == "fail":
                assert fault.error is not None
                raise self.error(fault.error(f"injected {fault.error.__name__}"))
            try:
                result = await handler(request)
            except ccxt.BaseError as exc:
                raise self.error(exc) from None
        except Answer as answer:
            return (
                answer.status,
                {"Content-Type": "application/json", **answer.headers},
                (json.dumps(answer.body)),
            )
        if fault is not None and fault.kind == "lose":
            raise TimeoutError()  # executed; the reply never arrives
        return 200, {"Content-Type": "application/json"}, json.dumps(result)


def _decode(data: bytes | None, headers: Mapping[str, str]) -> Any:
    if not data:
        return None
    text = data.decode()
    try:
        return json.loads(text)
    except ValueError:
        return dict(parse_qsl(text))


class _Response:
    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status, self.headers, self._text = status, headers, text
        self.reason = "OK" if status == 200 else "Error"
        self.content = text.encode()

    async def text(self, errors: str = "strict") -> str:
        return self._text


class _Call:
    def __init__(self, venue: Venue, method: str, url: yarl.URL, kwargs: Mapping[str, Any]):
        self.venue, self.method, self.url, self.kwargs = venue, method, url, kwargs

    async def __aenter__(self) -> _Response:
        status, headers, text = await self.venue.handle(
            self.method, self.url, self.kwargs.get("headers") or {}, self.kwargs.get("data")
        )
        return _Response(status, headers, text)

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeSession:
    """What ccxt's async fetch uses of an aiohttp session: one method per HTTP verb, returning
    an async context manager with the response."""

    closed = False

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.headers: dict[str, str] = {}  # ccxt adds a session's default headers to each request

    def _call(self, method: str) -> Callable[..., _Call]:
        def call(url: yarl.URL, **kwargs: Any) -> _Call:
            return _Call(self.venue, method, url, kwargs)

        return call

    def __getattr__(self, name: str) -> Callable[..., _Call]:
        if name in ("get", "post", "delete", "put", "patch"):
            return self._call(name.upper())
        raise AttributeError(name)

    async def close(self) -> None:
        self.closed = True
