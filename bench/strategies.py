"""The execution strategies the benchmark compares, each on a fresh simulated exchange.

Every run builds a new `SimExchange` from the same scenario (same seed) on its own
`VirtualClock`, reads the arrival book, then lets one strategy work one single-leg trade.
Every strategy but `market` has a duration fixed in advance:

- `bot-<style>`: the bot's `Executor` through the `Gateway` (the production path), default
  `ExecutionPolicy` except the style and `leg_deadline` = the duration (style `schedule`: its
  horizon at most `take_after` of it). What the bot leaves undone it leaves undone (no catch-up:
  that is the bot's real behaviour); the benchmark values that rest at the common horizon.
- `twap-touch`: one slice every `interval` seconds, an IOC limit order at the best opposite price
  for what the straight-line schedule says should be done by then (a slice that the touch could
  not fill carries over to the next one); at the end, the rest in one market order (catch-up).
- `twap-market`: the same schedule with market-order slices, catch-up at the end.
- `pov<N>`: every `interval` seconds, an IOC at the touch for what keeps us at N% of the
  background volume traded since the start; catch-up at the end. See `background_volume`.
- `maker`: the fixed-cap maker loop: a post-only order of at most `cap` (one top level) at our
  side's best price, cancelled and re-placed every `interval` seconds; catch-up at the end.
- `market`: one market order for everything, at once.

The naive strategies call the exchange's ccxt-style API directly, as simple bots do; they know
their fills from the exchange's trade records (not counted as requests). API requests are the
calls the exchange counts (`SimExchange.calls`) from the first order decision to the end.

Over HTTP (`Run(http=True)`), the same scenario is served by `sim-server`'s Binance front in the
same process, on the run's virtual clock, and every strategy (the bot's Gateway included) talks
to it through ccxt's real `binance` class: the wire formats, string amounts, parsing and request
counts of production. The client signs with the virtual clock's time (its `milliseconds`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from bot.domain.market import ZERO, Market, OrderBook, Side
from bot.domain.planner import Leg
from bot.domain.slicing import ExecutionPolicy, Style
from bot.exchange.codec import book_from_ccxt
from bot.exchange.connect import api_url_config
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.execution.executor import Executor
from bot.sim.binance.server import LOCAL_TEST_API_KEY, LOCAL_TEST_SECRET, front_of, start_server
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.model import QueuedBook
from bot.sim.scenario import Scenario

BOT_STYLES = (Style.TAKE, Style.PASSIVE, Style.PASSIVE_THEN_TAKE, Style.SCHEDULE)
BOOK_DEPTH = 50
FULL_DEPTH = 1000  # levels read to value a rest (the whole synthetic book)
INTERVAL = 10.0  # seconds between the baselines' slices: the executor's default child_timeout


@dataclass(frozen=True, slots=True)
class Trade:
    """One single-leg trade to work: `amount` base units of `symbol`."""

    symbol: str
    side: Side
    amount: Decimal
    top_depth: Decimal  # the book's nominal top-level quantity (the size unit)


@dataclass(frozen=True, slots=True)
class Fill:
    """One of our trades, as the simulator recorded it. `t`: seconds after the run's start."""

    t: float
    qty: Decimal
    price: Decimal
    fee: Decimal  # in the market's quote
    maker: bool
    source: str  # "taker", "trade" (a background order reached us), "book" (the book moved)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one strategy did on one trade."""

    strategy: str
    fills: tuple[Fill, ...]
    children: int
    requests: int
    stopped: float  # seconds from the start until the strategy returned
    note: str = ""

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)


@dataclass
class Run:
    """A fresh exchange for one strategy run, and what the strategy needs to act on it.

    `sim` is the simulator (its records: our trades, the tape, the request counts); `exchange`
    is what the strategy calls: the simulator itself, or over HTTP the ccxt `binance` client of
    the simulator's Binance front (`start` serves it; `finish` stops it)."""

    scenario: Scenario
    trade: Trade
    http: bool = False
    children: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.scenario.start)
        self.sim = SimExchange.from_scenario(self.scenario, self.clock)
        self.exchange: Any = self.sim
        self.gateway = Gateway(self.exchange, requests_per_second=1e6, sleep=self.clock.sleep)
        self.started = self.clock.time()
        self._server: Any = None

    @property
    def market(self) -> Market:
        return self.gateway.markets[self.trade.symbol]

    def elapsed(self) -> float:
        return self.clock.time() - self.started

    async def book(self, depth: int = BOOK_DEPTH) -> OrderBook:
        raw = await self.exchange.fetch_order_book(self.trade.symbol, depth)
        return book_from_ccxt(self.trade.symbol, raw)

    async def start(self) -> OrderBook:
        """Load the markets and read the arrival book; the requests count from here."""
        if self.http:
            await self._serve()
        await self.gateway.load_markets()
        arrival = await self.gateway.fetch_order_book(self.trade.symbol, BOOK_DEPTH)
        self.sim.calls.clear()
        self.started = self.clock.time()
        return arrival

    async def _serve(self) -> None:
        """The scenario served over HTTP on this run's clock, and a ccxt client for it."""
        self._server, port = await start_server(self.scenario, clock=self.clock)
        self.sim = front_of(self._server).exchange
        client = ccxt_async.binance(
            {
                **api_url_config("binance", f"http://127.0.0.1:{port}"),
                "apiKey": LOCAL_TEST_API_KEY,
                "secret": LOCAL_TEST_SECRET,
                "enableRateLimit": False,
                "timeout": 30_000,
                "options": profile_for("binance").options(),
            }
        )
        clock = self.clock
        client.milliseconds = lambda: int(clock.time() * 1000)  # sign in virtual time
        self.exchange = client
        self.gateway = Gateway(client, requests_per_second=1e6, sleep=clock.sleep)

    async def close(self) -> None:
        if self._server is not None:
            await self.exchange.close()
            await self._server.cleanup()
            self._server = None

    def fills(self) -> tuple[Fill, ...]:
        """Our trades so far, from the simulator's own records (free: not an API request)."""
        engine = self.sim.engine
        market = self.market
        out = []
        for t in engine.my_trades(self.trade.symbol):
            fee = t.fee * t.price if t.fee_currency == market.base else t.fee
            when = t.timestamp / 1000 - engine.time_offset - self.started
            source = str(getattr(t, "source", "taker" if t.taker else "trade"))
            out.append(Fill(when, t.amount, t.price, fee, not t.taker, source))
        return tuple(out)

    def left(self) -> Decimal:
        return self.trade.amount - sum((f.qty for f in self.fills()), ZERO)

    async def sleep_until(self, elapsed: float) -> None:
        wait = elapsed - self.elapsed()
        if wait > 0:
            await self.clock.sleep(wait)

    async def market_order(self, qty: Decimal, why: str) -> None:
        """A market order for `qty` (rounded to the step), unless the exchange would refuse it:
        then the rest stays undone, with a note."""
        qty = self.market.round_amount(qty)
        if qty <= 0:
            return
        book = await self.book(5)
        price = book.touch(self.trade.side) or book.mid
        reason = self.market.rejects(qty, price) if price is not None else "empty book"
        if reason is not None:
            self.notes.append(f"{why}: {qty} not sent ({reason})")
            return
        self.children += 1
        await self.exchange.create_order(
            self.trade.symbol, "market", self.trade.side.value, float(qty)
        )

    async def ioc_at_touch(self, qty: Decimal) -> None:
        """An IOC limit order for `qty` at the best opposite price (what the touch holds fills)."""
        qty = self.market.round_amount(qty)
        book = await self.book(5)
        touch = book.touch(self.trade.side)
        if qty <= 0 or touch is None or self.market.rejects(qty, touch) is not None:
            return
        self.children += 1
        await self.exchange.create_order(
            self.trade.symbol,
            "limit",
            self.trade.side.value,
            float(qty),
            float(touch),
            {"timeInForce": "IOC"},
        )

    async def finish(self, name: str) -> Outcome:
        requests = sum(self.sim.calls.values())
        await self.close()
        return Outcome(
            strategy=name,
            fills=self.fills(),
            children=self.children,
            requests=requests,
            stopped=self.elapsed(),
            note="; ".join(dict.fromkeys(self.notes)),
        )


Strategy = Callable[[Run, OrderBook], Awaitable[None]]


def bot(style: Style, duration: float) -> Strategy:
    """The bot's executor in `style`, default policy, leg deadline = `duration`."""

    async def work(run: Run, arrival: OrderBook) -> None:
        trade = run.trade
        assert arrival.mid is not None
        default = ExecutionPolicy()
        horizon = min(default.horizon, float(default.take_after) * duration)
        policy = ExecutionPolicy(style=style, leg_deadline=duration, horizon=horizon)
        executor = Executor(run.gateway, policy, run.clock, book_depth=BOOK_DEPTH)
        base, quote = run.market.base, run.market.quote
        spends, receives = (quote, base) if trade.side is Side.BUY else (base, quote)
        notional = trade.amount * arrival.mid
        leg = Leg(
            trade.symbol,
            trade.side,
            trade.amount,
            arrival.mid,
            notional,
            notional,
            spends,
            receives,
            ZERO,
            ZERO,
            None,
        )
        report = await executor.run_leg(leg, arrival.mid, "bench1")
        run.children = report.children
        if report.outcome.value != "done" or report.reason not in ("filled", ""):
            run.notes.append(f"{report.outcome.value}: {report.reason}")

    return work


async def market_order(run: Run, arrival: OrderBook) -> None:
    await run.market_order(run.trade.amount, "market order")


def twap(duration: float, *, touch: bool, interval: float = INTERVAL) -> Strategy:
    """Slices every `interval` from 0 to `duration - interval` toward the straight-line schedule
    (IOC at the touch, or market orders), then the rest at `duration` in a market order."""

    async def work(run: Run, arrival: OrderBook) -> None:
        amount = run.trade.amount
        n = max(1, round(duration / interval))
        for k in range(n):
            await run.sleep_until(k * duration / n)
            behind = amount * (k + 1) / n - (amount - run.left())
            if touch:
                await run.ioc_at_touch(behind)
            else:
                await run.market_order(behind, "slice")
        await run.sleep_until(duration)
        await run.market_order(run.left(), "catch-up")

    return work


def background_volume(run: Run, since: Decimal, expected: Decimal) -> Decimal:
    """Base volume the other participants traded since the start.

    A queue or flow book (`book_model = "queue"` or `"flow"`, `model.QueuedBook`) prints every
    background order on its tape: its traded volume less ours. The profile book draws background orders only while our orders rest on it,
    so there the caller passes `expected`, the regime's expected volume (`trade_rate *
    trade_size * top level` per second, accumulated as it goes), and gets it back.
    """
    book = run.sim.engine.books[run.trade.symbol]
    if isinstance(book, QueuedBook):
        return book.stats.base_volume - since - (run.trade.amount - run.left())
    return expected


def pov(duration: float, share: Decimal, interval: float = INTERVAL) -> Strategy:
    """Every `interval`, an IOC at the touch for `share` of the background volume since the
    start less what is done; at `duration`, the rest in a market order."""

    async def work(run: Run, arrival: OrderBook) -> None:
        trade = run.trade
        book = run.sim.engine.books[trade.symbol]
        tape_at_start = book.stats.base_volume
        expected = ZERO
        n = max(1, round(duration / interval))
        for k in range(1, n):
            await run.sleep_until(k * duration / n)
            regime = book.regime
            rate = Decimal(repr(regime.trade_rate * regime.trade_size))
            expected += rate * book.top_quantity() * Decimal(repr(duration / n))
            volume = background_volume(run, tape_at_start, expected)
            target = min(trade.amount, share * volume)
            await run.ioc_at_touch(target - (trade.amount - run.left()))
        await run.sleep_until(duration)
        await run.market_order(run.left(), "catch-up")

    return work


def maker_loop(duration: float, cap: Decimal, interval: float = INTERVAL) -> Strategy:
    """Post-only orders of at most `cap` at our side's best price, re-placed every `interval`;
    at `duration`, the rest in a market order."""

    async def work(run: Run, arrival: OrderBook) -> None:
        trade, market = run.trade, run.market
        while run.elapsed() < duration - 1e-9:
            left = run.left()
            book = await run.book(5)
            price = book.best_bid if trade.side is Side.BUY else book.best_ask
            qty = market.round_amount(min(cap, left))
            if price is None or market.rejects(qty, price) is not None:
                if left <= 0 or left < market.min_tradable(price or arrival.mid or ZERO):
                    return
                await run.clock.sleep(min(interval, duration - run.elapsed()))
                continue
            run.children += 1
            try:
                order = await run.exchange.create_order(
                    trade.symbol,
                    "limit",
                    trade.side.value,
                    float(qty),
                    float(price),
                    {"postOnly": True},
                )
            except ccxt.OrderImmediatelyFillable:
                await run.clock.sleep(min(interval, duration - run.elapsed()))
                continue
            await run.clock.sleep(min(interval, max(duration - run.elapsed(), 0.0)))
            await _cancel(run, order)
        await run.market_order(run.left(), "catch-up")

    return work


async def _cancel(run: Run, order: dict[str, Any]) -> dict[str, Any]:
    """Cancel an order; when it is no longer open, ask for its final state."""
    try:
        return await run.exchange.cancel_order(order["id"], run.trade.symbol)
    except ccxt.OrderNotFound:
        return await run.exchange.fetch_order(order["id"], run.trade.symbol)


async def run_strategy(
    scenario: Scenario, trade: Trade, name: str, strategy: Strategy, http: bool = False
) -> Outcome:
    run = Run(scenario, trade, http)
    try:
        arrival = await run.start()
        await strategy(run, arrival)
        return await run.finish(name)
    finally:
        await run.close()


def run_sync(
    scenario: Scenario, trade: Trade, name: str, strategy: Strategy, http: bool = False
) -> Outcome:
    return asyncio.run(run_strategy(scenario, trade, name, strategy, http))


# ---- the reference: one untouched market per seed ------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """What every strategy of one seed is judged against, from the same scenario run with no
    trading of ours: the arrival book, the model's true (fair) mid each second, and the book
    and true mid at the common horizon, where every strategy's unfinished rest is valued."""

    arrival: OrderBook
    true_mids: tuple[Decimal, ...]  # index k: the fair mid k seconds after the start
    horizon: float
    horizon_book: OrderBook
    horizon_true_mid: Decimal
    maker_fee: Decimal
    taker_fee: Decimal

    def true_mid_at(self, t: float) -> Decimal:
        """The fair mid `t` seconds after the start (it moves on a one-second grid)."""
        k = min(max(int(t + 1e-9), 0), len(self.true_mids) - 1)
        return self.true_mids[k]


async def _reference(scenario: Scenario, trade: Trade, horizon: float) -> Reference:
    run = Run(scenario, trade)
    arrival = await run.start()
    engine = run.sim.engine
    mids = []
    for k in range(int(horizon) + 1):
        engine.advance_to(run.started + k)
        mids.append(true_mid(run))
    await run.sleep_until(horizon)
    book = await run.book(FULL_DEPTH)
    return Reference(
        arrival=arrival,
        true_mids=tuple(mids),
        horizon=horizon,
        horizon_book=book,
        horizon_true_mid=true_mid(run),
        maker_fee=run.market.maker_fee,
        taker_fee=run.market.taker_fee,
    )


def true_mid(run: Run) -> Decimal:
    """The model's fair mid now (`MatchingEngine.true_mid`); the book's mid on a simulator
    without it."""
    engine = run.sim.engine
    getter = getattr(engine, "true_mid", None)
    if getter is not None:
        return Decimal(getter(run.trade.symbol))
    bids, asks = engine.book(run.trade.symbol)
    return (bids[0].price + asks[0].price) / 2


def reference(scenario: Scenario, trade: Trade, horizon: float) -> Reference:
    return asyncio.run(_reference(scenario, trade, horizon))


def walk(book: OrderBook, side: Side, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(quantity, cost) a market order of `amount` would get from `book` (maybe less)."""
    left, cost = amount, ZERO
    for level in book.levels_taken_by(side):
        q = min(left, level.amount)
        cost += q * level.price
        left -= q
        if left <= 0:
            break
    return amount - left, cost
