"""`SimExchange`: the simulator behind ccxt's unified async API.

`SimAccountApi` is the part every simulated account shares (balances, orders, trades, over a
`matching.Matcher`); `SimExchange` adds the synthetic market, latency and faults, and
`paper.PaperExchange` a real exchange's public market data instead.

It returns ccxt-shaped dicts (floats, like ccxt) and raises ccxt's exception classes, so the gateway
runs the same code against it as against a real exchange. Where exchanges differ it behaves like
Binance spot through ccxt: `cancel_order`, `fetch_order`, `fetch_orders`, `fetch_closed_orders`
and `fetch_my_trades` require a symbol (`ccxt.ArgumentsRequired`); `fetch_order` and
`cancel_order` find an order by `params={"clientOrderId": ...}` (or `origClientOrderId`), which
takes precedence over the id; request weights are Binance's.

Each call: waits the configured latency on the clock, runs the market up to the clock's time,
passes the fault injector (weight budget, injected errors), then acts on the matching engine.
`last_response_headers` carries Binance's `X-MBX-USED-WEIGHT-1M`, and `Retry-After` (seconds to
the next minute) after a `ccxt.DDoSProtection`.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import ccxt
import structlog
from ccxt.base.decimal_to_precision import (
    ROUND,
    TICK_SIZE,
    TRUNCATE,
    decimal_to_precision,
)

from bot.domain.market import Side
from bot.sim import structures
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from bot.sim.clock import Clock, VirtualClock
from bot.sim.faults import WEIGHTS, FaultConfig, FaultInjector, order_book_weight
from bot.sim.matching import Matcher, MatchingEngine
from bot.sim.scenario import Scenario

log = structlog.get_logger("bot.sim.exchange")

Params = Mapping[str, Any] | None

HAS: dict[str, bool | str] = {
    "spot": True,
    "margin": False,
    "swap": False,
    "future": False,
    "option": False,
    "cancelOrder": True,
    "createOrder": True,
    "createMarketOrder": True,
    "createLimitOrder": True,
    "createPostOnlyOrder": True,
    "fetchBalance": True,
    "fetchClosedOrders": True,
    "fetchCanceledOrders": True,
    "fetchCurrencies": False,
    "fetchMarkets": True,
    "fetchMyTrades": True,
    "fetchOpenOrders": True,
    "fetchOrder": True,
    "fetchOrderBook": True,
    "fetchOrders": True,
    "fetchTicker": True,
    "fetchTickers": True,
    "fetchTime": False,
    "fetchTradingFees": True,
    "sandbox": False,
    "ws": False,
}


def _decimal(value: Any, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ccxt.InvalidOrder(f"sim: {name} {value!r} is not a number") from None
    if not result.is_finite():
        raise ccxt.InvalidOrder(f"sim: {name} {value!r} is not a finite number")
    return result


def _since_limit(
    items: Sequence[dict[str, Any]], since: int | None, limit: int | None
) -> list[dict[str, Any]]:
    out = [i for i in items if since is None or (i["timestamp"] or 0) >= since]
    if limit is not None:
        out = out[:limit] if since is not None else out[-limit:]
    return out


E = TypeVar("E", bound=Matcher[Any])


class SimAccountApi(Generic[E]):
    """ccxt's unified account and order methods for one simulated account (an `engine`).

    A subclass supplies the market: `market()` (a ccxt market dict, or `ccxt.BadSymbol`), `_call()`
    (what every request does first: count it, bring the market up to now) and `close()`.
    """

    precisionMode = TICK_SIZE  # noqa: N815 - ccxt's attribute names
    rateLimit = 50  # noqa: N815
    enableRateLimit = False  # noqa: N815
    # As in ccxt: `float` (the default) or `str`, the type the reply's numbers come in.
    number: type[float] | type[str] = float
    _event = "sim"  # prefix of the log events

    def __init__(self, engine: E, clock: Clock, *, exchange_id: str, name: str) -> None:
        self.id = exchange_id
        self.name = name
        self.engine = engine
        self.clock = clock
        self.has = dict(HAS)
        self.options: dict[str, Any] = {}
        self.urls: dict[str, Any] = {}
        self.fees: dict[str, Any] = {"trading": {"percentage": True, "tierBased": False}}
        self.last_response_headers: dict[str, str] = {}
        self.markets: dict[str, dict[str, Any]] | None = None
        self.markets_by_id: dict[str, list[dict[str, Any]]] | None = None
        self.symbols: list[str] = []
        self.currencies: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()

    # ---- what a subclass supplies -----------------------------------------------------------

    def market(self, symbol: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        """Before `method` acts on the account (about `symbol`, or all symbols when None)."""
        raise NotImplementedError

    async def _symbol(self, symbol: str) -> None:
        """Check that `symbol` can be traded here (`ccxt.BadSymbol` otherwise)."""
        self.market(symbol)

    def _reply_lost(self) -> bool:
        """Whether the reply to an accepted `create_order` is lost (a timeout for the caller)."""
        return False

    async def close(self) -> None:
        raise NotImplementedError

    # ---- plumbing ---------------------------------------------------------------------------

    def _number(self) -> structures.Number:
        return structures.text if self.number is str else float

    def milliseconds(self) -> int:
        return round(self.clock.time() * 1000)

    async def _require_symbol(self, method: str, symbol: str | None) -> str:
        if symbol is None:
            raise ccxt.ArgumentsRequired(f"{self.id} {method}() requires a symbol argument")
        await self._symbol(symbol)
        return symbol

    # ---- account ----------------------------------------------------------------------------

    async def fetch_balance(self, params: Params = None) -> dict[str, Any]:
        await self._call("fetch_balance", WEIGHTS["fetch_balance"])
        return structures.balance_dict(
            self.engine.account, self.milliseconds(), number=self._number()
        )

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float | str | Decimal,
        price: float | str | Decimal | None = None,
        params: Params = None,
    ) -> dict[str, Any]:
        params = params or {}
        await self._symbol(symbol)
        order_type, order_side, tif = self._order_kind(symbol, type, side, params)
        qty = _decimal(amount, "amount")
        limit = (
            _decimal(price, "price")
            if price is not None and order_type is OrderType.LIMIT
            else None
        )
        client_id = params.get("clientOrderId", params.get("newClientOrderId"))
        await self._call("create_order", WEIGHTS["create_order"], symbol)
        order = self.engine.place(
            symbol,
            order_type,
            order_side,
            qty,
            limit,
            time_in_force=tif,
            client_order_id=None if client_id is None else str(client_id),
        )
        log.debug(
            f"{self._event}_order_placed",
            symbol=symbol,
            side=side,
            type=type,
            amount=str(qty),
            price=None if limit is None else str(limit),
            status=order.status.value,
            filled=str(order.filled),
            client_order_id=order.client_order_id,
        )
        if self._reply_lost():
            raise ccxt.RequestTimeout(
                f"{self.id} create_order: request timed out (simulated; the order was accepted)"
            )
        return structures.order_dict(order, number=self._number())

    def _order_kind(
        self, symbol: str, type: str, side: str, params: Mapping[str, Any]
    ) -> tuple[OrderType, Side, TimeInForce]:
        try:
            order_type = OrderType(type.lower())
        except ValueError:
            raise ccxt.InvalidOrder(
                f"{self.id} {symbol}: order type {type!r} is not supported (limit, market)"
            ) from None
        try:
            order_side = Side(side.lower())
        except ValueError:
            raise ccxt.InvalidOrder(
                f"{self.id} {symbol}: side {side!r} is not buy or sell"
            ) from None
        raw_tif = params.get("timeInForce")
        post_only = bool(params.get("postOnly", False))
        try:
            tif = TimeInForce(str(raw_tif).upper()) if raw_tif is not None else TimeInForce.GTC
        except ValueError:
            raise ccxt.InvalidOrder(
                f"{self.id} {symbol}: timeInForce {raw_tif!r} is not one of GTC, IOC, FOK, PO"
            ) from None
        if post_only:
            if tif not in (TimeInForce.GTC, TimeInForce.PO):
                raise ccxt.InvalidOrder(
                    f"{self.id} {symbol}: postOnly cannot be combined with timeInForce {tif}"
                )
            tif = TimeInForce.PO
        if order_type is OrderType.MARKET and tif is TimeInForce.PO:
            raise ccxt.InvalidOrder(f"{self.id} {symbol}: a market order cannot be post-only")
        if order_type is OrderType.MARKET:
            tif = TimeInForce.GTC
        return order_type, order_side, tif

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("cancel_order", symbol)
        await self._call("cancel_order", WEIGHTS["cancel_order"], symbol)
        order = self.engine.cancel(id, self._client_id(params), symbol)
        log.debug(
            f"{self._event}_order_canceled", symbol=symbol, id=order.id, filled=str(order.filled)
        )
        return structures.order_dict(order, number=self._number())

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("fetch_order", symbol)
        await self._call("fetch_order", WEIGHTS["fetch_order"], symbol)
        order = self.engine.find(id, self._client_id(params), symbol)
        return structures.order_dict(order, number=self._number())

    @staticmethod
    def _client_id(params: Params) -> str | None:
        params = params or {}
        value = params.get("origClientOrderId", params.get("clientOrderId"))
        return None if value is None else str(value)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        if symbol is not None:
            await self._symbol(symbol)
        weight = WEIGHTS["fetch_open_orders" if symbol else "fetch_open_orders_all"]
        await self._call("fetch_open_orders", weight, symbol)
        return self._orders(self.engine.open_orders(symbol), since, limit)

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol("fetch_orders", symbol)
        await self._call("fetch_orders", WEIGHTS["fetch_orders"], symbol)
        return self._orders(self.engine.all_orders(symbol), since, limit)

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        return await self._with_status(
            "fetch_closed_orders", OrderStatus.CLOSED, symbol, since, limit
        )

    async def fetch_canceled_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        return await self._with_status(
            "fetch_canceled_orders", OrderStatus.CANCELED, symbol, since, limit
        )

    async def _with_status(
        self,
        method: str,
        status: OrderStatus,
        symbol: str | None,
        since: int | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol(method, symbol)
        await self._call(method, WEIGHTS["fetch_orders"], symbol)
        orders = [o for o in self.engine.all_orders(symbol) if o.status is status]
        return self._orders(orders, since, limit)

    def _orders(
        self, orders: Sequence[SimOrder], since: int | None, limit: int | None
    ) -> list[dict[str, Any]]:
        return _since_limit(
            [structures.order_dict(o, number=self._number()) for o in orders], since, limit
        )

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol("fetch_my_trades", symbol)
        await self._call("fetch_my_trades", WEIGHTS["fetch_my_trades"], symbol)
        trades = [
            structures.trade_dict(
                t, self.engine.orders[t.order_id].client_order_id, number=self._number()
            )
            for t in self.engine.my_trades(symbol)
        ]
        return _since_limit(trades, since, limit)


class SimExchange(SimAccountApi[MatchingEngine]):
    """A simulated spot exchange with ccxt's unified async interface (see the module docstring)."""

    def __init__(
        self,
        engine: MatchingEngine,
        clock: Clock,
        faults: FaultInjector | None = None,
        *,
        exchange_id: str = "sim",
    ) -> None:
        super().__init__(engine, clock, exchange_id=exchange_id, name="Simulated exchange")
        self.faults = faults or FaultInjector(
            FaultConfig(weight_per_minute=0), random.Random(0), clock, exchange_id
        )
        self._nonce = 0

    @classmethod
    def from_scenario(cls, scenario: Scenario, clock: Clock | None = None) -> SimExchange:
        """A fresh exchange for `scenario`; the market starts at the clock's current time.

        Without a clock, a `VirtualClock` starting at `scenario.start` is used.
        """
        clock = clock or VirtualClock(scenario.start)
        books = scenario.build_books(clock.time())
        engine = MatchingEngine(books, scenario.balances, step_seconds=scenario.step_seconds)
        faults = FaultInjector(scenario.faults, scenario.fault_rng(), clock)
        return cls(engine, clock, faults)

    # ---- plumbing ---------------------------------------------------------------------------

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        self.calls[method] += 1
        if self.faults.config.latency > 0:
            await self.clock.sleep(self.faults.config.latency)
        now = self.clock.time()
        self.engine.advance_to(now)
        try:
            self.faults.admit(method, weight)
        except ccxt.DDoSProtection:
            self.last_response_headers = {"Retry-After": str(math.ceil(60 - now % 60))}
            raise
        except ccxt.NetworkError:
            self.last_response_headers = {}
            raise
        self.last_response_headers = {"X-MBX-USED-WEIGHT-1M": str(self.faults.weight_used)}

    async def charge(self, method: str, weight: int) -> None:
        """Admit one request of `weight` the way every unified method does first (latency, market
        run up to now, weight budget, injected faults), for a front that serves an endpoint with
        no unified method here (server time, book ticker: see `bot.sim.binance`)."""
        await self._call(method, weight)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.markets is None:
            markets = {
                m.symbol: structures.market_dict(m, number=self._number())
                for m in self.engine.markets.values()
            }
            self.markets = markets
            self.markets_by_id = {m["id"]: [m] for m in markets.values()}
            self.symbols = sorted(markets)
            codes = sorted({c for m in markets.values() for c in (m["base"], m["quote"])})
            self.currencies = {
                c: {"id": c, "code": c, "name": c, "active": True, "precision": None} for c in codes
            }
        return self.markets

    def market(self, symbol: str) -> dict[str, Any]:
        market = self._load().get(symbol)
        if market is None:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        return market

    def amount_to_precision(self, symbol: str, amount: float | str | Decimal) -> str:
        step = self.market(symbol)["precision"]["amount"]
        return str(decimal_to_precision(str(amount), TRUNCATE, step, TICK_SIZE))

    def price_to_precision(self, symbol: str, price: float | str | Decimal) -> str:
        tick = self.market(symbol)["precision"]["price"]
        return str(decimal_to_precision(str(price), ROUND, tick, TICK_SIZE))

    # ---- public data ------------------------------------------------------------------------

    async def load_markets(self, reload: bool = False, params: Params = None) -> dict[str, Any]:
        if reload or self.markets is None:
            await self._call("load_markets", WEIGHTS["load_markets"])
            if reload:
                self.markets = None
        return self._load()

    async def fetch_markets(self, params: Params = None) -> list[dict[str, Any]]:
        await self._call("load_markets", WEIGHTS["load_markets"])
        return list(self._load().values())

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params = None
    ) -> dict[str, Any]:
        self.market(symbol)
        await self._call("fetch_order_book", order_book_weight(limit))
        bids, asks = self.engine.book(symbol)
        if limit is not None:
            bids, asks = bids[:limit], asks[:limit]
        self._nonce += 1
        return structures.book_dict(symbol, bids, asks, self.milliseconds(), self._nonce)

    async def fetch_trading_fees(self, params: Params = None) -> dict[str, dict[str, Any]]:
        """The account's fee rates per market (Binance: GET /sapi/v1/asset/tradeFee)."""
        await self._call("fetch_trading_fees", 1)
        n = self._number()
        return {
            m.symbol: {
                "info": {"symbol": structures.market_id(m.symbol)},
                "symbol": m.symbol,
                "maker": n(m.maker_fee),
                "taker": n(m.taker_fee),
                "percentage": True,
                "tierBased": False,
            }
            for m in self.engine.markets.values()
        }

    async def fetch_ticker(self, symbol: str, params: Params = None) -> dict[str, Any]:
        self.market(symbol)
        await self._call("fetch_ticker", WEIGHTS["fetch_ticker"])
        return self._ticker(symbol)

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> dict[str, dict[str, Any]]:
        wanted = list(symbols) if symbols is not None else sorted(self._load())
        for s in wanted:
            self.market(s)
        await self._call("fetch_tickers", WEIGHTS["fetch_tickers"])
        return {s: self._ticker(s) for s in wanted}

    def _ticker(self, symbol: str) -> dict[str, Any]:
        bids, asks = self.engine.book(symbol)
        stats = self.engine.books[symbol].stats
        return structures.ticker_dict(
            symbol, bids, asks, stats, self.milliseconds(), number=self._number()
        )

    def _reply_lost(self) -> bool:
        return self.faults.reply_lost("create_order")

    async def close(self) -> None:
        """Nothing to release; present because every ccxt async exchange must be closed."""
