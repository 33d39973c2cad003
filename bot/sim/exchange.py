"""`SimExchange`: the simulator behind ccxt's unified async API.

It is `account_api.SimAccountApi` (balances, orders, trades, over a matcher) on the synthetic
market of `engine.MatchingEngine`, with latency and injected faults.

It returns ccxt-shaped dicts (floats, like ccxt) and raises ccxt's exception classes, so the gateway
runs the same code against it as against a real exchange. Where exchanges differ it behaves like
Binance spot through ccxt: `cancel_order`, `fetch_order`, `fetch_orders`, `fetch_closed_orders`
and `fetch_my_trades` require a symbol (`ccxt.ArgumentsRequired`); `fetch_order` and
`cancel_order` find an order by `params={"clientOrderId": ...}` (or `origClientOrderId`), which
takes precedence over the id; request weights are Binance's.

Each call: waits the configured latency on the clock, runs the market (and the account's
scheduled deposits and withdrawals, `flows`) up to the clock's time, passes the fault injector
(maintenance, weight budget, order rate, injected errors: `faults`), then acts on the matching
engine; a create or cancel the injector let execute before its error raises that error after
acting. A request refused for a bad parameter is charged its weight.
`last_response_headers` carries Binance's `X-MBX-USED-WEIGHT-1M` (and, after `create_order`,
`X-MBX-ORDER-COUNT-10S` and `-1D`), and `Retry-After` after a `ccxt.DDoSProtection` (a 429: the
weight budget, to the next minute, or the order rate, to the end of its window).

`fetch_status()` is ccxt's: {"status": "ok" | "maintenance", "updated": ms, "eta": None, "url":
None, "info": Binance's /sapi/v1/system/status body}; in a maintenance window every other call
raises `ccxt.OnMaintenance`. The errors are the classes ccxt's binance raises for Binance's
replies, so a gateway sees the same here as over `bot.sim.binance`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import ccxt
import structlog
from ccxt.base.decimal_to_precision import (
    ROUND,
    TICK_SIZE,
    TRUNCATE,
    decimal_to_precision,
)

from bot.domain.market import Level
from bot.sim import structures
from bot.sim.account_api import Params, SimAccountApi
from bot.sim.clock import Clock, VirtualClock
from bot.sim.engine import MatchingEngine
from bot.sim.faults import (
    NEW_ORDERS,
    STATUS,
    WEIGHTS,
    FaultConfig,
    FaultInjector,
    order_book_weight,
)
from bot.sim.model import Event, EventKind
from bot.sim.scenario import Scenario

log = structlog.get_logger("bot.sim.exchange")

COMMISSION_DECIMALS = 8  # Binance's commission precision (baseCommissionPrecision, quote...)


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
            FaultConfig(weight_per_minute=0, orders_per_10s=0, orders_per_day=0),
            random.Random(0),
            clock,
            exchange_id,
        )
        self.has["fetchStatus"] = True
        self.tickers_bid_ask = True
        self.book_depths: tuple[int, ...] = ()
        self._nonce = 0
        self._frozen_replies: dict[tuple[str, str, float], dict[str, Any]] = {}
        self._last_replies: dict[tuple[str, str], dict[str, Any]] = {}
        self._late: ccxt.BaseError | None = None  # the error of an executed call, to raise
        # Called with the time after each advance: what is priced off this market (a perpetual's
        # index) moves with it, though nothing asks it meanwhile.
        self.followers: list[Callable[[float], None]] = []

    @classmethod
    def from_scenario(cls, scenario: Scenario, clock: Clock | None = None) -> SimExchange:
        """A fresh exchange for `scenario`; the market starts at the clock's current time.

        Without a clock, a `VirtualClock` starting at `scenario.start` is used.
        """
        clock = clock or VirtualClock(scenario.start)
        books = scenario.build_books(clock.time())
        engine = MatchingEngine(books, scenario.balances, step_seconds=scenario.step_seconds)
        engine.filters.update(scenario.filters())
        engine.commission_decimals = COMMISSION_DECIMALS if scenario.round_commissions else None
        engine.time_offset = scenario.clock_offset
        engine.fee_asset = scenario.fee_asset
        engine.fee_discount = scenario.fee_discount
        faults = FaultInjector(scenario.faults, scenario.fault_rng(), clock)
        exchange = cls(engine, clock, faults)
        exchange.max_trades_page = scenario.max_trades_page
        for flow in scenario.flows:
            exchange.flow_book.schedule(
                flow.kind, flow.asset, flow.amount, clock.time() + flow.at,
                fee=flow.fee, confirm=flow.confirm,
            )  # fmt: skip
        return exchange

    def present(
        self,
        *,
        client_id_pattern: str | None = None,
        tickers_bid_ask: bool = True,
        fees_in_quote: bool = False,
        book_depths: tuple[int, ...] = (),
    ) -> None:
        """Answer with another exchange's rules (sim mode for a configuration that names it):
        client order ids must match `client_id_pattern` (else refused, as that exchange
        would); tickers carry no bid or ask; fees are taken in the quote; order books are
        served only at `book_depths` levels."""
        if client_id_pattern is not None:
            self.engine.client_id_pattern = re.compile(client_id_pattern)
        self.tickers_bid_ask = tickers_bid_ask
        self.engine.fees_in_quote = fees_in_quote
        self.book_depths = book_depths

    # ---- plumbing ---------------------------------------------------------------------------

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        self.calls[method] += 1
        self._late = None
        if self.faults.config.latency > 0:
            await self.clock.sleep(self.faults.config.latency)
        now = self.clock.time()
        self.engine.advance_to(now)
        for follow in self.followers:  # markets priced off this one (perpetuals)
            follow(now)
        self.flow_book.advance(self.engine.account, now)
        try:
            self._late = self.faults.admit(method, weight)
        except ccxt.BaseError as exc:
            self._failed(method, exc)
            raise
        self._answered(method)

    def _answered(self, method: str) -> None:
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.faults.weight_used)}
        if method in NEW_ORDERS:
            headers.update(self.faults.order_counts())
        self.last_response_headers = headers

    def _failed(self, method: str, exc: ccxt.BaseError) -> None:
        """The headers of a refused call: Retry-After after a 429, the weight after a reply."""
        self.last_response_headers = {}
        if isinstance(exc, ccxt.DDoSProtection):
            retry = self.faults.retry_after or 60 - self.clock.time() % 60
            self.last_response_headers = {"Retry-After": str(math.ceil(retry))}
        elif not isinstance(exc, ccxt.NetworkError):
            self._answered(method)

    async def _refused(self, method: str, weight: int) -> None:
        self.calls[method] += 1
        try:
            self.faults.refused(method, weight)
        except ccxt.BaseError as exc:
            self._failed(method, exc)
            raise
        self._answered(method)

    def _late_error(self, method: str) -> ccxt.BaseError | None:
        late, self._late = self._late, None
        if late is None and method in NEW_ORDERS and self.faults.reply_lost(method):
            late = ccxt.RequestTimeout(
                f"{self.id} {method}: request timed out (simulated; the order was accepted)"
            )
        return late

    async def charge(self, method: str, weight: int) -> None:
        """Admit one request of `weight` the way every unified method does first (latency, market
        run up to now, weight budget, injected faults), for a front that serves an endpoint with
        no unified method here (server time, book ticker: see `bot.sim.binance`)."""
        await self._call(method, weight)

    async def charge_refused(self, method: str, weight: int) -> None:
        """Charge a request refused for a bad parameter before it reached a unified method (a
        front's own checks), as Binance does: maintenance or the weight budget may refuse it."""
        await self._refused(method, weight)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.markets is None:
            markets = {
                m.symbol: structures.market_dict(
                    m, self.engine.filters.get(m.symbol), number=self._number()
                )
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

    async def fetch_status(self, params: Params = None) -> dict[str, Any]:
        """ccxt's exchange status: "maintenance" in a maintenance window, else "ok"."""
        await self._call(STATUS, WEIGHTS[STATUS])
        down = self.faults.in_maintenance()
        # Binance's /sapi/v1/system/status: 0 normal, 1 system maintenance
        info = {"status": int(down), "msg": "system_maintenance" if down else "normal"}
        return {
            "status": "maintenance" if down else "ok",
            "updated": self.milliseconds(),
            "eta": None,
            "url": None,
            "info": info,
        }

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
        if self.book_depths and limit not in self.book_depths:
            raise ccxt.BadRequest(
                f"{self.id} serves order books of {self.book_depths} levels, not {limit}"
            )
        await self._call("fetch_order_book", order_book_weight(limit))
        frozen = self._frozen(symbol, "book")
        if frozen is None:
            bids, asks = self._shown(symbol, "book")
            self._nonce += 1
            full = structures.book_dict(symbol, bids, asks, self.milliseconds(), self._nonce)
            if (frozen := self._frozen(symbol, "book", full)) is None:
                frozen = full
        if limit is None:
            return dict(frozen)
        return {**frozen, "bids": frozen["bids"][:limit], "asks": frozen["asks"][:limit]}

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
        frozen = self._frozen(symbol, "ticker")
        if frozen is not None:
            return dict(frozen)
        bids, asks = self._shown(symbol, "ticker")
        stats = self.engine.books[symbol].stats
        ticker = structures.ticker_dict(
            symbol, bids, asks, stats, self.milliseconds(), number=self._number()
        )
        if not self.tickers_bid_ask:
            ticker.update(bid=None, ask=None, bidVolume=None, askVolume=None)
        self._frozen(symbol, "ticker", ticker)
        return ticker

    # ---- what a scenario's reply events show -------------------------------------------------

    def _events(self, symbol: str, kind: EventKind, reply: str) -> list[Event]:
        book = self.engine.books[symbol]
        return [
            e
            for e in book.events
            if e.kind is kind and e.active(book.elapsed) and e.reply in (None, reply)
        ]

    def _shown(self, symbol: str, reply: str) -> tuple[list[Level], list[Level]]:
        """The public book as a `reply` shows it: under a `bad_price` event, every price times
        the event's size (0, negative, NaN: what a broken feed may send)."""
        bids, asks = self.engine.book(symbol)
        for event in self._events(symbol, EventKind.BAD_PRICE, reply):
            factor = Decimal(repr(event.size))
            bids = [Level(lv.price * factor, lv.amount) for lv in bids]
            asks = [Level(lv.price * factor, lv.amount) for lv in asks]
        return bids, asks

    def _frozen(
        self, symbol: str, reply: str, fresh: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Under a `frozen` event, the `reply` the feed is stuck on: the last one given before
        the window (else the first in it, `fresh`), repeated with the same levels, stamp and
        update id. None outside one (`fresh` is then remembered as the last reply given)."""
        events = self._events(symbol, EventKind.FROZEN, reply)
        if not events:
            if fresh is not None:
                self._last_replies[(symbol, reply)] = fresh
            return None
        key = (symbol, reply, events[0].at)
        stuck = self._frozen_replies.get(key) or self._last_replies.get((symbol, reply)) or fresh
        if stuck is not None:
            self._frozen_replies[key] = stuck
        return stuck

    async def close(self) -> None:
        """Nothing to release; present because every ccxt async exchange must be closed."""
