"""The execution strategies the benchmark compares, each on a fresh simulated exchange.

Every run builds a new `SimExchange` from the same scenario (same seed) on its own
`VirtualClock`, reads the arrival book, then lets one strategy work one trade:

- `bot-<style>`: the bot's `Executor` through the `Gateway` (the production path), with the default
  `ExecutionPolicy` except the style and a leg deadline sized for the trade;
- `market`: one market order for the whole amount, what a naive bot does;
- `twap`: N equal slices, each a marketable limit order at the touch (IOC), evenly spaced over a
  given duration (the benchmark passes the bot's passive-then-take duration);
- `maker`: a fixed-cap maker loop: a post-only order of at most `cap` at our side's best price,
  re-placed every `interval` seconds, taking nothing, until filled or the deadline.

The naive strategies call the exchange's ccxt-style API directly, as simple bots do. API requests
are the calls the exchange counts (`SimExchange.calls`) from the first order decision to the end;
the arrival book and the accounting afterwards are not counted. Fills and fees come from the
exchange's own trade records, the same way for every strategy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt

from bot.domain.market import ONE, ZERO, Market, OrderBook, Side, bps, signed_bps
from bot.domain.planner import Leg
from bot.domain.slicing import ExecutionPolicy, Style
from bot.exchange.codec import book_from_ccxt, dec
from bot.exchange.gateway import Gateway
from bot.execution.executor import Executor
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import Scenario

BOT_STYLES = (Style.TAKE, Style.PASSIVE, Style.PASSIVE_THEN_TAKE)
BOOK_DEPTH = 50


@dataclass(frozen=True, slots=True)
class Trade:
    """One single-leg trade to work: `amount` base units of `symbol`, within `deadline` seconds."""

    symbol: str
    side: Side
    amount: Decimal
    top_depth: Decimal  # the book's nominal top-level quantity (the size unit)
    deadline: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one strategy achieved on one trade, everything in the market's quote."""

    strategy: str
    amount: Decimal
    arrival_mid: Decimal
    half_spread_bps: Decimal  # of the arrival book
    taker_fee_bps: Decimal
    filled: Decimal
    cost: Decimal  # quote paid (buy) or received (sell), before fees
    fees: Decimal
    completion: float  # seconds from the start to the last fill (0 when nothing filled)
    duration: float  # seconds from the start until the strategy stopped
    children: int
    requests: int
    # The unfilled rest, completed at the end by walking the book as it is then (plus the taker
    # fee): what finishing the job would still cost. Zero when everything filled.
    rest_cost: Decimal
    rest_fees: Decimal
    rest_unfillable: Decimal  # beyond the visible book even then
    note: str = ""

    @property
    def filled_pct(self) -> float:
        return float(self.filled / self.amount * 100) if self.amount else 0.0

    @property
    def residual(self) -> Decimal:
        return self.amount - self.filled


def shortfall_bps(side: Side, arrival: Decimal, amount: Decimal, cost: Decimal) -> Decimal:
    """Price shortfall of trading `amount` for `cost` vs `arrival`, bps (positive: a cost)."""
    if amount <= 0:
        return ZERO
    return signed_bps(side, arrival, cost / amount)


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


@dataclass
class Run:
    """A fresh exchange for one strategy run, and what the strategy needs to act on it."""

    scenario: Scenario
    trade: Trade

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.scenario.start)
        self.exchange = SimExchange.from_scenario(self.scenario, self.clock)
        self.gateway = Gateway(self.exchange, requests_per_second=1e6, sleep=self.clock.sleep)
        self.children = 0
        self.note = ""

    @property
    def market(self) -> Market:
        return self.gateway.markets[self.trade.symbol]

    async def book(self, depth: int = BOOK_DEPTH) -> OrderBook:
        raw = await self.exchange.fetch_order_book(self.trade.symbol, depth)
        return book_from_ccxt(self.trade.symbol, raw)

    async def start(self) -> OrderBook:
        await self.gateway.load_markets()
        arrival = await self.gateway.fetch_order_book(self.trade.symbol, BOOK_DEPTH)
        self.exchange.calls.clear()
        self.started = self.clock.time()
        return arrival

    async def finish(self, name: str, arrival: OrderBook) -> Outcome:
        requests = sum(self.exchange.calls.values())
        ended = self.clock.time()
        trade, market = self.trade, self.market
        raw = await self.exchange.fetch_my_trades(trade.symbol)
        filled = cost = fees = ZERO
        last = self.started
        for t in raw:
            amount, price, fee = dec(t["amount"]), dec(t["price"]), dec(t["fee"]["cost"])
            filled += amount
            cost += amount * price
            fees += fee * price if t["fee"]["currency"] == market.base else fee
            last = max(last, t["timestamp"] / 1000)
        rest = trade.amount - filled
        rest_qty = rest_cost = ZERO
        if rest > 0:
            rest_qty, rest_cost = walk(await self.book(1000), trade.side, rest)
        mid = arrival.mid
        half = arrival.half_spread_fraction()
        assert mid is not None
        assert half is not None
        return Outcome(
            strategy=name,
            amount=trade.amount,
            arrival_mid=mid,
            half_spread_bps=bps(half, ONE),
            taker_fee_bps=bps(market.taker_fee, ONE),
            filled=filled,
            cost=cost,
            fees=fees,
            completion=last - self.started if filled else 0.0,
            duration=ended - self.started,
            children=self.children,
            requests=requests,
            rest_cost=rest_cost,
            rest_fees=rest_cost * market.taker_fee,
            rest_unfillable=rest - rest_qty,
            note=self.note,
        )


Strategy = Callable[[Run, OrderBook], Awaitable[None]]


def bot(style: Style) -> Strategy:
    """The bot's executor in `style`, default policy, the trade's deadline."""

    async def work(run: Run, arrival: OrderBook) -> None:
        trade = run.trade
        assert arrival.mid is not None
        policy = ExecutionPolicy(style=style, leg_deadline=trade.deadline)
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
            run.note = f"{report.outcome.value}: {report.reason}"

    return work


async def market_order(run: Run, arrival: OrderBook) -> None:
    trade = run.trade
    run.children = 1
    await run.exchange.create_order(trade.symbol, "market", trade.side.value, float(trade.amount))


def twap(duration: float, interval: float = 10.0) -> Strategy:
    """N = duration / interval + 1 equal slices (at least one), the first now and the last at
    `duration`, each an IOC limit order priced at the touch."""

    async def work(run: Run, arrival: OrderBook) -> None:
        trade, market = run.trade, run.market
        n = max(1, round(duration / interval) + 1)
        spacing = duration / (n - 1) if n > 1 else 0.0
        size = market.round_amount(trade.amount / n)
        sizes = [size] * (n - 1) + [trade.amount - size * (n - 1)]
        for i, qty in enumerate(sizes):
            if i:
                await run.clock.sleep(spacing)
            book = await run.book(5)
            touch = book.touch(trade.side)
            if touch is None or market.rejects(qty, touch) is not None:
                continue
            run.children += 1
            await run.exchange.create_order(
                trade.symbol,
                "limit",
                trade.side.value,
                float(qty),
                float(touch),
                {"timeInForce": "IOC"},
            )

    return work


def maker_loop(cap: Decimal, interval: float = 10.0) -> Strategy:
    """Post-only orders of at most `cap` at our side's best price, re-placed every `interval`,
    until the trade is filled or its deadline passes. Never takes."""

    async def work(run: Run, arrival: OrderBook) -> None:
        trade, market = run.trade, run.market
        filled = ZERO
        end = run.clock.time() + trade.deadline
        while run.clock.time() < end:
            left = market.round_amount(trade.amount - filled)
            book = await run.book(5)
            price = book.best_bid if trade.side is Side.BUY else book.best_ask
            qty = min(cap, left)
            if price is None or market.rejects(qty, price) is not None:
                if left <= 0 or left < market.min_tradable(price or arrival.mid or ZERO):
                    return
                await run.clock.sleep(interval)
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
                await run.clock.sleep(interval)
                continue
            await run.clock.sleep(min(interval, max(end - run.clock.time(), 0.0)))
            final = await _cancel(run, order)
            filled += dec(final["filled"])

    return work


async def _cancel(run: Run, order: dict[str, Any]) -> dict[str, Any]:
    """Cancel an order; when it is no longer open, ask for its final state."""
    try:
        return await run.exchange.cancel_order(order["id"], run.trade.symbol)
    except ccxt.OrderNotFound:
        return await run.exchange.fetch_order(order["id"], run.trade.symbol)


async def run_strategy(scenario: Scenario, trade: Trade, name: str, strategy: Strategy) -> Outcome:
    run = Run(scenario, trade)
    arrival = await run.start()
    await strategy(run, arrival)
    return await run.finish(name, arrival)


def run_sync(scenario: Scenario, trade: Trade, name: str, strategy: Strategy) -> Outcome:
    return asyncio.run(run_strategy(scenario, trade, name, strategy))
