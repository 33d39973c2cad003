"""The synthetic market of one symbol: a fair mid price, a depth profile around it, its dynamics.

Deterministic from the `random.Random` it is given. Floats are used for the statistics only (the
random walk, noise, trade sizes); every price and quantity the book shows is a `Decimal` on the
market's tick and step grids.

- Mid: a geometric random walk, `volatility` = standard deviation of the log return per
  sqrt(second), plus scheduled jumps.
- Book: `levels` price levels per side, `level_spacing_ticks` apart, the best bid and ask
  `spread_bps` apart around the mid (at least one tick). Level i holds
  `top_depth * depth_factor * (1 + depth_growth * i)` base units, times a per-step noise factor in
  `1 ± depth_noise`.
- Resilience: liquidity taken from a price level comes back with half-life
  `resilience_half_life` seconds (the hole is kept per absolute price, so it stays where it was
  taken while the mid walks away from it).
- Background trading: `trade_rate` market orders per second (Poisson), buy or sell with equal odds,
  sizes exponential with mean `trade_size` times the top level's quantity. They do not deplete the
  synthetic book (other participants refill it at once); they matter only for our resting orders,
  which the matching engine fills when a trade reaches them (see `matching.py`).
- Events (times in seconds after the start): `jump` (the mid moves by `size`, a fraction),
  `drought` (depth times `size` for `duration`), `one_sided` (the `side` book empties for
  `duration`), `empty` (both sides empty), `crossed` (the best bid `size` ticks above the best ask).
  Two more change only what the exchange's replies show, not the market (`exchange.py`):
  `bad_price` (every price times `size`: 0, -1, nan, 0.7 for a tick 30% low) and `frozen` (the
  replies repeat the last one given before the window: same levels, stamp and update id).

This profile book (`book_model = "profile"`, the default) is rebuilt around the mid at every look.
`queue.QueueBook` (`book_model = "queue"`) keeps persistent levels with queue positions for our
orders and informed background flow instead; see `queue.py`. `flowbook.FlowBook` (`book_model =
"flow"`) has no fair mid at all: its price emerges from zero-intelligence order flow.

The book advances in fixed steps (`step`) when something must be simulated at fine grain (our
resting orders), or in one exact jump (`jump_to`) when nothing rests on it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import ConfigDict

from bot.domain.market import ZERO, Level, Market, Side, ceil_to_step, floor_to_step


class EventKind(StrEnum):
    JUMP = "jump"
    DROUGHT = "drought"
    ONE_SIDED = "one_sided"
    EMPTY = "empty"
    CROSSED = "crossed"
    BAD_PRICE = "bad_price"  # the replies show every price times `size` (0, -1, nan, 0.7...)
    FROZEN = "frozen"  # the replies repeat the last one given before the window


# The market's clock tick: the mid and the depth noise change on this grid, whatever callers do.
GRID_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Regime:
    """How a market behaves. Validated in the constructor; see the module docstring."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    volatility: float = 0.0001
    spread_bps: float = 1.0
    levels: int = 20
    depth_factor: float = 1.0
    depth_growth: float = 0.5
    depth_noise: float = 0.0
    resilience_half_life: float = 30.0
    trade_rate: float = 0.0
    trade_size: float = 0.5
    queue_ahead: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        for name in ("volatility", "spread_bps", "depth_growth", "trade_rate", "trade_size"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.levels < 1:
            problems.append(f"levels must be >= 1, got {self.levels}")
        if self.depth_factor <= 0:
            problems.append(f"depth_factor must be > 0, got {self.depth_factor}")
        if self.resilience_half_life < 0:
            problems.append(f"resilience_half_life must be >= 0, got {self.resilience_half_life}")
        for name in ("depth_noise", "queue_ahead"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Event:
    """A scheduled disturbance of one book; `at` and `duration` in seconds after the start."""

    kind: EventKind
    at: float
    duration: float = 0.0
    size: float = 0.0
    side: Side | None = None
    reply: str | None = None  # bad_price, frozen: "book" or "ticker" replies only (None: both)

    def active(self, elapsed: float) -> bool:
        return self.at <= elapsed < self.at + self.duration


@dataclass(frozen=True, slots=True)
class Print:
    """A background market order: `aggressor` is the side of the order that took liquidity."""

    aggressor: Side
    amount: Decimal
    informed: bool = False  # the queue book (`queue.py`): its direction moves the fair mid


# (order id, price, quantity) of one of our fills; (order id, price, remaining) of a resting order.
OrderQty = tuple[str, Decimal, Decimal]


@runtime_checkable
class QueuedBook(Protocol):
    """A book that runs its own background flow and keeps a queue position for each of our
    resting orders (`queue.QueueBook`, `flowbook.FlowBook`): the engine (`engine.py`) steps it
    always, says where our orders rest (`join`, `leave`) and lets it apply its background
    orders to them (`apply_print`); its tape shows every background trade."""

    def join(self, order_id: str, side: Side, price: Decimal, amount: Decimal) -> None: ...

    def leave(self, order_id: str) -> None: ...

    def queue_ahead(self, order_id: str) -> Decimal | None: ...

    def apply_print(self, p: Print, ours: Sequence[OrderQty]) -> list[OrderQty]: ...


@dataclass(slots=True)
class _Hole:
    amount: Decimal
    since: float


@dataclass(slots=True)
class TapeStats:
    """What a ticker reports: first and extreme mids, last trade, traded volume."""

    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    base_volume: Decimal = ZERO
    quote_volume: Decimal = ZERO

    def see_mid(self, mid: Decimal) -> None:
        self.high = max(self.high, mid)
        self.low = min(self.low, mid)

    def see_trade(self, price: Decimal, amount: Decimal) -> None:
        self.last = price
        self.base_volume += amount
        self.quote_volume += price * amount


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


@dataclass(slots=True)
class BookModel:
    """The synthetic order book of one market (the other participants), without our orders."""

    market: Market
    regime: Regime
    price: Decimal
    top_depth: Decimal
    rng: random.Random
    start: float
    level_spacing_ticks: int = 1
    events: Sequence[Event] = ()
    t: float = field(init=False)
    _mid: float = field(init=False)
    _jumps: list[Event] = field(init=False)
    _holes: dict[Side, dict[Decimal, _Hole]] = field(init=False)
    _noise: dict[Side, list[float]] = field(init=False)
    _cache: dict[Side, tuple[Level, ...]] = field(init=False)
    _grid: int = field(init=False)
    _walk_rng: random.Random = field(init=False)
    _noise_rng: random.Random = field(init=False)
    stats: TapeStats = field(init=False)

    def __post_init__(self) -> None:
        if self.price <= 0 or self.top_depth <= 0 or self.level_spacing_ticks < 1:
            raise ValueError(
                f"book {self.market.symbol}: price, top_depth and level_spacing_ticks must be > 0"
            )
        self.t = self.start
        self._mid = float(self.price)
        self._jumps = sorted((e for e in self.events if e.kind is EventKind.JUMP), key=_at)
        self._holes = {Side.BUY: {}, Side.SELL: {}}
        self._noise = {}
        self._cache = {}
        # The price path and the depth noise are functions of time alone, on a fixed grid, each
        # from its own stream: every strategy run on the same seed sees the same market, however
        # often it looks. Background trades keep `rng`.
        self._grid = 0
        base = self.rng.getrandbits(64)
        self._walk_rng = random.Random(f"{base}/walk")
        self._noise_rng = random.Random(f"{base}/noise")
        self._draw_noise()
        self.stats = TapeStats(self.price, self.price, self.price, self.price)

    # ---- time -------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.t - self.start

    @property
    def mid(self) -> Decimal:
        """The fair mid price (the walk), which the book is built around."""
        return Decimal(self._mid)

    def jump_to(self, t: float) -> None:
        """Advance to time `t`: the mid moves at each grid point (`GRID_SECONDS`) and at each
        scheduled jump, in time order; between them it holds."""
        if t <= self.t:
            return
        while True:
            next_grid = self.start + (self._grid + 1) * GRID_SECONDS
            next_jump = self._jumps[0].at + self.start if self._jumps else math.inf
            if min(next_grid, next_jump) > t:
                break
            if next_jump <= next_grid:
                self._mid *= 1.0 + self._jumps.pop(0).size
            else:
                self._grid += 1
                self._walk(GRID_SECONDS)
                self._draw_noise()
        self.t = t
        self._forget_refilled_holes()
        self._cache.clear()
        self.stats.see_mid(floor_to_step(self.mid, self.market.price_tick))

    def step(self, dt: float) -> list[Print]:
        """Advance `dt` seconds and return the background trades of that interval."""
        self.jump_to(self.t + dt)
        return self._prints(dt)

    def _walk(self, dt: float) -> None:
        sigma = self.regime.volatility
        z = self._walk_rng.gauss(0.0, 1.0)
        self._mid *= math.exp(sigma * math.sqrt(dt) * z - 0.5 * sigma * sigma * dt)

    def _draw_noise(self) -> None:
        n, amp = self.regime.levels, self.regime.depth_noise
        for side in Side:
            if amp > 0:
                self._noise[side] = [
                    1.0 + amp * self._noise_rng.uniform(-1.0, 1.0) for _ in range(n)
                ]
            else:
                self._noise[side] = [1.0] * n

    def _prints(self, dt: float) -> list[Print]:
        rate = self.regime.trade_rate * dt
        if rate <= 0:
            return []
        count, p, limit = 0, self.rng.random(), math.exp(-rate)
        while p > limit:  # Poisson(rate), Knuth's method
            count += 1
            p *= self.rng.random()
        top = self.top_quantity()
        prints = []
        for _ in range(count):
            side = Side.BUY if self.rng.random() < 0.5 else Side.SELL
            size = self.rng.expovariate(1.0) * self.regime.trade_size
            amount = floor_to_step(top * _dec(size), self.market.amount_step)
            if amount > 0:
                prints.append(Print(side, amount))
        return prints

    # ---- the book ---------------------------------------------------------------------------

    def _active(self, kind: EventKind) -> list[Event]:
        elapsed = self.elapsed
        return [e for e in self.events if e.kind is kind and e.active(elapsed)]

    def _depth_multiplier(self) -> float:
        factor = self.regime.depth_factor
        for e in self._active(EventKind.DROUGHT):
            factor *= e.size
        return factor

    def top_quantity(self) -> Decimal:
        """The undepleted quantity of the best level, without noise."""
        return floor_to_step(
            self.top_depth * _dec(self._depth_multiplier()), self.market.amount_step
        )

    def touches(self) -> tuple[Decimal, Decimal]:
        """Best bid and best ask prices the profile would show now (before events empty a side)."""
        m = self.market
        mid = Decimal(self._mid)
        half = _dec(self.regime.spread_bps) / 20_000
        bid = floor_to_step(mid * (1 - half), m.price_tick)
        ask = ceil_to_step(mid * (1 + half), m.price_tick)
        if ask <= bid:
            ask = bid + m.price_tick
        for e in self._active(EventKind.CROSSED):
            bid = ask + max(1, round(e.size)) * m.price_tick
        return bid, ask

    def levels(self, resting: Side) -> tuple[Level, ...]:
        """The synthetic levels of the side where `resting` orders sit, best first."""
        cached = self._cache.get(resting)
        if cached is not None:
            return cached
        levels = self._build(resting)
        self._cache[resting] = levels
        return levels

    def best(self, resting: Side) -> Decimal | None:
        levels = self.levels(resting)
        return levels[0].price if levels else None

    def _build(self, resting: Side) -> tuple[Level, ...]:
        if self._active(EventKind.EMPTY):
            return ()
        if any(e.side is resting for e in self._active(EventKind.ONE_SIDED)):
            return ()
        m, r = self.market, self.regime
        bid, ask = self.touches()
        first, sign = (bid, -1) if resting is Side.BUY else (ask, 1)
        gap = self.level_spacing_ticks * m.price_tick * sign
        depth = self._depth_multiplier()
        noise = self._noise[resting]
        holes = self._holes[resting]
        out = []
        for i in range(r.levels):
            price = first + gap * i
            if price <= 0:
                break
            scale = _dec(depth * (1.0 + r.depth_growth * i) * noise[i])
            qty = floor_to_step(self.top_depth * scale, m.amount_step)
            hole = holes.get(price)
            if hole is not None:
                qty -= self._hole_now(hole)
            if qty > 0:
                out.append(Level(price, qty))
        return tuple(out)

    def _hole_now(self, hole: _Hole) -> Decimal:
        hl = self.regime.resilience_half_life
        if hl <= 0:
            return ZERO
        left = hole.amount * _dec(0.5 ** ((self.t - hole.since) / hl))
        return floor_to_step(left, self.market.amount_step)

    def see_trade(self, price: Decimal, amount: Decimal) -> None:
        """One of our orders traded: the tape (tickers) shows it."""
        self.stats.see_trade(price, amount)

    def consume(self, resting: Side, price: Decimal, amount: Decimal) -> None:
        """Remove `amount` at `price` from the side where `resting` orders sit (it refills)."""
        holes = self._holes[resting]
        hole = holes.get(price)
        now = self._hole_now(hole) if hole is not None else ZERO
        holes[price] = _Hole(now + amount, self.t)
        self._cache.pop(resting, None)

    def _forget_refilled_holes(self) -> None:
        for holes in self._holes.values():
            for price in [p for p, h in holes.items() if self._hole_now(h) <= 0]:
                del holes[price]


def _at(event: Event) -> float:
    return event.at
