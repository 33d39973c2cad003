"""`FlowBook`: a zero-intelligence order-flow book, in which the price emerges from the order flow.

Opt-in per market (`book_model = "flow"` in a scenario's market table, with a `flow` table of the
`FlowParams` below, see `scenario.py`). Unlike the profile book (`model.BookModel`) and the queue
book (`queue.QueueBook`), which follow a latent fair mid (a random walk), this book has no latent
price at all: it is the continuous double auction of Santa Fe's zero-intelligence model (Smith,
Farmer, Gillemot and Krishnamurthy, 2003) with persistent market-order signs (Lillo and Farmer),
and the price moves only when the other participants' orders move it.

- Background limit orders arrive on each side as a Poisson process (`limit_rate` per second per
  side), at a distance `k` ticks from the opposite best quote that everyone sees (the background's
  or one of our orders, whichever is better), `k` in 1..`window`
  with odds proportional to `k ** -exponent` (0: uniform, as in Santa Fe's model; about 1.6 on
  real books, Bouchaud, Mezard and Potters 2002: most land near the touch, some far), so they
  never cross the book: a buy lands at `best ask - k` ticks (it may improve the bid), a sell at
  `best bid + k`. (Were one to reach our resting orders on the other side, it would be
  marketable: it would take them in price-time priority up to its price and rest the rest.)
- Sizes are exponential, with mean `order_size` (limit) or `market_size` (market) times
  `top_depth` (the market's size unit, as for the other books), at least one amount step.
- Each resting background order is cancelled at rate `cancel_rate` per second (its own exponential
  lifetime, drawn when it arrives), so a level decays in proportion to what rests on it.
- Background market orders arrive as a Poisson process (`market_rate` per second, both sides)
  and walk the other side from its best price in strict price-time priority: at each price the
  orders (ours included) trade oldest first. Their signs follow a Markov chain: the next order
  has the last one's sign with probability `persistence` (0.5: independent; lag-k sign
  autocorrelation `(2 p - 1) ** k`). Flow clusters, so a passive fill tends to be followed by
  more flow the same way and the price moves against it: adverse selection emerges.
- Our resting orders (`join`) queue behind every background order already at their price; what
  arrives later queues behind them. `queue_ahead` is what rests ahead of one of ours now. The
  book trades our orders at each event's own time; `step` returns the background orders that
  traded and `apply_print` hands over our share of each (the engine stamps it at the step's end).
- The book is warmed up for `warmup` seconds before the start (from an empty book around the
  scenario's `price`), so it starts in its stationary state; the tape starts at the start.
- The true mid (`mid`, read by `MatchingEngine.true_mid` and the benchmark's drift-removed and
  markout figures): there is no latent fair value, so it is the mid of the background book
  alone, our orders excluded (the last one seen while a side is empty).
- Events: `jump` moves every background order by the jump's share of the mid (whole ticks);
  the other market events do not apply (a scenario refuses them, see `scenario.py`).

Each stream of the flow (limit orders on each side, market orders) has its own random stream and
its arrival times do not depend on the state, so every run on one seed sees the same background
arrivals, and the result does not depend on how the caller steps time. Prices and quantities are
kept as whole ticks and amount steps (exact integers), shown as `Decimal` on the market's grids;
floats are for the rates and sizes only.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import ConfigDict

from bot.domain.market import ZERO, Level, Side, floor_to_step
from bot.sim.model import BookModel, EventKind, OrderQty, Print, TapeStats


@dataclass(frozen=True, slots=True)
class FlowParams:
    """The flow book's parameters (see the module docstring)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    limit_rate: float = 5.0  # limit orders per second, per side
    market_rate: float = 1.0  # market orders per second, both sides
    cancel_rate: float = 0.1  # per resting background order per second
    order_size: float = 0.2  # mean limit order, in top_depth units
    market_size: float = 0.3  # mean market order, in top_depth units
    window: int = 100  # ticks from the opposite best a limit order may land
    exponent: float = 1.6  # odds of landing k ticks away ~ k ** -exponent
    persistence: float = 0.5  # odds that a market order has the last one's sign
    warmup: float = 600.0  # seconds simulated before the start

    def __post_init__(self) -> None:
        problems = []
        for name in ("limit_rate", "cancel_rate", "order_size", "market_size"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("market_rate", "warmup"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.window < 1:
            problems.append(f"window must be >= 1 (ticks), got {self.window}")
        if not 0 <= self.exponent <= 10:
            problems.append(f"exponent must be in [0, 10], got {self.exponent}")
        if not 0 <= self.persistence < 1:
            problems.append(f"persistence must be in [0, 1), got {self.persistence}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(slots=True, eq=False)
class _Order:
    """A resting order, background or ours: price in ticks, quantity in amount steps."""

    side: Side
    price: int
    qty: int
    seq: int
    ours: str = ""  # our order id ("" for a background order)


@dataclass(slots=True)
class _Stream:
    """One Poisson stream of background orders, with its own random numbers."""

    rng: random.Random
    rate: float
    next_at: float = math.inf

    def draw_next(self, now: float) -> None:
        self.next_at = now + self.rng.expovariate(self.rate) if self.rate > 0 else math.inf


@dataclass(slots=True)
class FlowBook(BookModel):
    """A market's zero-intelligence order-flow book (see the module docstring)."""

    flow: FlowParams = FlowParams()
    _clock: float = field(init=False)
    _seq: int = field(init=False)
    _book: dict[Side, dict[int, deque[_Order]]] = field(init=False)
    _best: dict[Side, int | None] = field(init=False)
    _last_best: dict[Side, int] = field(init=False)
    _cancels: list[tuple[float, int, _Order]] = field(init=False)
    _places: dict[str, _Order] = field(init=False)
    _limits: dict[Side, _Stream] = field(init=False)
    _markets: _Stream = field(init=False)
    _last_sign: Side = field(init=False)
    _odds: list[float] = field(init=False)  # cumulative odds of landing 1, 2... ticks away
    _unit: float = field(init=False)
    _flow_jumps: list[tuple[float, float]] = field(init=False)
    _out: list[Print] = field(init=False)
    _pending: list[tuple[Print, list[OrderQty]]] = field(init=False)

    def __post_init__(self) -> None:
        BookModel.__post_init__(self)  # (no zero-argument super() in a slots dataclass)
        f = self.flow
        base = self.rng.getrandbits(64)
        self._limits = {
            side: _Stream(random.Random(f"{base}/limit/{side.value}"), f.limit_rate)
            for side in Side
        }
        self._markets = _Stream(random.Random(f"{base}/market"), f.market_rate)
        self._last_sign = Side.BUY if self._markets.rng.random() < 0.5 else Side.SELL
        self._odds = list(itertools.accumulate(k**-f.exponent for k in range(1, f.window + 1)))
        self._unit = float(self.top_depth / self.market.amount_step)
        self._seq = 0
        self._book = {Side.BUY: {}, Side.SELL: {}}
        self._best = {Side.BUY: None, Side.SELL: None}
        centre = int(self.price / self.market.price_tick)
        self._last_best = {Side.BUY: centre - 1, Side.SELL: centre + 1}
        self._cancels = []
        self._places = {}
        self._out, self._pending = [], []
        self._flow_jumps = sorted(
            (self.start + e.at, e.size) for e in self.events if e.kind is EventKind.JUMP
        )
        self._clock = self.start - f.warmup
        for stream in (*self._limits.values(), self._markets):
            stream.draw_next(self._clock)
        self._run_to(self.start)
        self._out.clear()
        self._pending.clear()
        mid = floor_to_step(self.mid, self.market.price_tick)
        self.stats = TapeStats(mid, mid, mid, mid)

    # ---- time -------------------------------------------------------------------------------

    @property
    def mid(self) -> Decimal:
        """The true mid: the background book's own mid, our orders excluded (the last best
        price seen stands in for an empty side)."""
        bid = self._best[Side.BUY]
        ask = self._best[Side.SELL]
        ticks = (bid if bid is not None else self._last_best[Side.BUY]) + (
            ask if ask is not None else self._last_best[Side.SELL]
        )
        return ticks * self.market.price_tick / 2

    def jump_to(self, t: float) -> None:
        """Run the order flow up to `t` (its market orders are `step`'s prints)."""
        if t <= self.t:
            return
        self._run_to(t)
        self.t = t
        self._cache.clear()
        self.stats.see_mid(floor_to_step(self.mid, self.market.price_tick))

    def step(self, dt: float) -> list[Print]:
        """Advance `dt` seconds; the background orders that traded meanwhile, whose fills of
        our orders `apply_print` hands over."""
        self.jump_to(self.t + dt)
        out, self._out = self._out, []
        return out

    def _run_to(self, t: float) -> None:
        """Every event up to `t`, in time order."""
        while True:
            side = min(self._limits, key=lambda s: self._limits[s].next_at)
            candidates = (
                self._limits[side].next_at,
                self._markets.next_at,
                self._cancels[0][0] if self._cancels else math.inf,
                self._flow_jumps[0][0] if self._flow_jumps else math.inf,
            )
            at = min(candidates)
            if at > t:
                break
            self._clock = at
            which = candidates.index(at)
            if which == 0:
                self._limit(side)
                self._limits[side].draw_next(at)
            elif which == 1:
                self._market()
                self._markets.draw_next(at)
            elif which == 2:
                self._cancel(heapq.heappop(self._cancels)[2])
            else:
                self._jump(self._flow_jumps.pop(0)[1])
        self._clock = t

    # ---- background orders ------------------------------------------------------------------

    def _size(self, rng: random.Random, mean: float) -> int:
        return max(1, round(self._unit * mean * rng.expovariate(1.0)))

    def _limit(self, side: Side) -> None:
        """A background limit order `k` ticks from the opposite background best."""
        f, rng = self.flow, self._limits[side].rng
        k = 1 + rng.choices(range(f.window), cum_weights=self._odds)[0]
        qty = self._size(rng, f.order_size)
        lifetime = rng.expovariate(f.cancel_rate)
        ref = self._public_best(side.opposite)
        price = ref - k if side is Side.BUY else ref + k
        if price <= 0:
            return
        self._seq += 1
        order = _Order(side, price, qty, self._seq)
        self._trade(order, price)  # a guard: placed off the public best, it reaches none
        if order.qty > 0:
            self._rest(order)
            heapq.heappush(self._cancels, (self._clock + lifetime, order.seq, order))

    def _public_best(self, side: Side) -> int:
        """The best price of `side` that everyone sees: the background's or one of ours (the
        last background best when both are missing)."""
        prices = [o.price for o in self._places.values() if o.side is side and o.qty > 0]
        best = self._best[side]
        prices.append(best if best is not None else self._last_best[side])
        return max(prices) if side is Side.BUY else min(prices)

    def _market(self) -> None:
        f, rng = self.flow, self._markets.rng
        if rng.random() >= f.persistence:
            self._last_sign = self._last_sign.opposite
        qty = self._size(rng, f.market_size)
        self._seq += 1
        self._trade(_Order(self._last_sign, 0, qty, self._seq), None)

    def _cancel(self, order: _Order) -> None:
        level = self._book[order.side].get(order.price)
        if order.qty <= 0 or level is None:
            return  # traded away already
        level.remove(order)
        order.qty = 0
        self._tidy(order.side, order.price)

    def _jump(self, size: float) -> None:
        """Every background order moves by `size` of the mid, in whole ticks."""
        shift = round(float(self.mid / self.market.price_tick) * size)
        for side in Side:
            old = self._book[side]
            self._book[side] = {}
            for price, level in old.items():
                if price + shift > 0:
                    for order in level:
                        order.price += shift
                    self._book[side][price + shift] = level
                else:
                    for order in level:
                        order.qty = 0
            self._reset_best(side)
        self._cache.clear()

    # ---- the book ---------------------------------------------------------------------------

    def _rest(self, order: _Order) -> None:
        self._book[order.side].setdefault(order.price, deque()).append(order)
        best = self._best[order.side]
        if best is None or (order.price > best if order.side is Side.BUY else order.price < best):
            self._best[order.side] = self._last_best[order.side] = order.price
        self._cache.pop(order.side, None)

    def _tidy(self, side: Side, price: int) -> None:
        """A level changed: drop it when empty, renew the best price."""
        if not self._book[side].get(price, True):
            del self._book[side][price]
            if price == self._best[side]:
                self._reset_best(side)
        self._cache.pop(side, None)

    def _reset_best(self, side: Side) -> None:
        prices = self._book[side]
        best = (max(prices) if side is Side.BUY else min(prices)) if prices else None
        self._best[side] = best
        if best is not None:
            self._last_best[side] = best

    def _trade(self, taker: _Order, limit: int | None, record: bool = True) -> list[OrderQty]:
        """A background order of `taker.qty` takes the other side, ours included, best price
        first and oldest first at each price, up to `limit` ticks (None: a market order, the
        whole background book). A limit order reaches our orders only: the others' book is
        never crossed. Our fills wait in `_pending` for `apply_print`."""
        resting = taker.side.opposite
        buy = taker.side is Side.BUY
        mine = [o for o in self._places.values() if o.side is resting and o.qty > 0]
        if limit is not None:
            mine = [o for o in mine if (o.price <= limit if buy else o.price >= limit)]
            if not mine:
                return []
        levels = self._book[resting] if limit is None else {}
        fills: list[OrderQty] = []
        tick, lot = self.market.price_tick, self.market.amount_step
        traded = 0
        for price in sorted({*levels, *(o.price for o in mine)}, reverse=not buy):
            queue = sorted([*levels.get(price, ()), *(o for o in mine if o.price == price)],
                           key=lambda o: o.seq)  # fmt: skip
            for order in queue:
                take = min(taker.qty, order.qty)
                if take <= 0:
                    break
                taker.qty -= take
                order.qty -= take
                traded += take
                if order.ours:
                    fills.append((order.ours, price * tick, take * lot))
                else:
                    self.stats.see_trade(price * tick, take * lot)
                    if order.qty == 0:
                        levels[price].remove(order)
            if price in levels:
                self._tidy(resting, price)
            if taker.qty <= 0:
                break
        if traded and record:
            p = Print(taker.side, traded * lot)
            self._out.append(p)
            self._pending.append((p, fills))
        return fills

    def levels(self, resting: Side) -> tuple[Level, ...]:
        cached = self._cache.get(resting)
        if cached is not None:
            return cached
        tick, lot = self.market.price_tick, self.market.amount_step
        prices = sorted(self._book[resting], reverse=resting is Side.BUY)
        out = tuple(
            Level(p * tick, sum(o.qty for o in self._book[resting][p]) * lot) for p in prices
        )
        self._cache[resting] = out
        return out

    def best(self, resting: Side) -> Decimal | None:
        best = self._best[resting]
        return None if best is None else best * self.market.price_tick

    def consume(self, resting: Side, price: Decimal, amount: Decimal) -> None:
        """Our order took `amount` at `price`: off the front of that level, oldest first."""
        at = int(price / self.market.price_tick)
        left = int(amount / self.market.amount_step)
        level = self._book[resting].get(at)
        while level and left > 0:
            take = min(left, level[0].qty)
            level[0].qty -= take
            left -= take
            if level[0].qty == 0:
                level.popleft()
        self._tidy(resting, at)

    # ---- our orders -------------------------------------------------------------------------

    def join(self, order_id: str, side: Side, price: Decimal, amount: Decimal) -> None:
        """Our order rests at `price` from now on, behind everything already there."""
        self._seq += 1
        ticks = int(price / self.market.price_tick)
        lots = int(amount / self.market.amount_step)
        self._places[order_id] = _Order(side, ticks, lots, self._seq, order_id)

    def leave(self, order_id: str) -> None:
        self._places.pop(order_id, None)

    def queue_ahead(self, order_id: str) -> Decimal | None:
        """The background quantity resting ahead of our order at its price (None: not here)."""
        place = self._places.get(order_id)
        if place is None:
            return None
        level = self._book[place.side].get(place.price, ())
        ahead = sum(o.qty for o in level if o.seq < place.seq)
        return ahead * self.market.amount_step

    def apply_print(self, p: Print, ours: Sequence[OrderQty]) -> list[OrderQty]:
        """Our fills by background order `p`: those it made when it traded (`step`), at most
        what each of our orders still has (`ours`: id, price, remaining); a print from
        elsewhere (`MatchingEngine.background_trade`) trades now, as a market order."""
        index = next((i for i, (q, _) in enumerate(self._pending) if q is p), None)
        if index is not None:
            fills = self._pending.pop(index)[1]
        else:
            for order_id, _, remaining in ours:
                if order_id in self._places:
                    self._places[order_id].qty = int(remaining / self.market.amount_step)
            self._seq += 1
            qty = int(p.amount / self.market.amount_step)
            fills = self._trade(_Order(p.aggressor, 0, qty, self._seq), None, record=False)
        left = {order_id: remaining for order_id, _, remaining in ours}
        out = []
        for order_id, price, q in fills:
            q = min(q, left.get(order_id, ZERO))
            if q > 0:
                left[order_id] -= q
                out.append((order_id, price, q))
        return out
