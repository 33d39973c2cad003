"""`QueueBook`: a persistent order book on the tick grid, with queue positions and informed flow.

Opt-in per market (`book_model = "queue"` in a scenario's market table, see `scenario.py`); the
default profile book (`model.BookModel`) is unchanged. The queue book shares the profile book's
fair mid (the random walk and its jumps), its events and its tape, and replaces the profile that
is rebuilt around the mid at every look with:

- Persistent levels. A price level's quantity (the other participants' orders) stays on its
  price until trades take it, it refills or it leaves the book. At each step the makers aim at a
  touch derived from the fair mid (`spread_bps`, at least one tick: `spread_bps = 0` gives a
  one-tick spread); levels better than that touch are withdrawn (stale quotes), levels more
  than `levels - 1` spacings (`level_spacing_ticks`) behind it are dropped from sight, and the
  touch and the prices on the spacing's grid (multiples of it) within that range that hold no
  level are posted with the profile quantity `top_depth * depth_factor * (1 + depth_growth * i)`
  times `1 ± depth_noise` (`i`: spacings behind the touch, rounded up). A level's quantity moves
  back toward its profile quantity with half-life `resilience_half_life` seconds.
- Background market orders (`trade_rate`, `trade_size`, as in `model.py`) walk the resting side
  from its best price, taking the levels (and our orders, in their queues) as they go; what they
  take stays taken until it refills.
- Informed flow: a share `informed_share` of the background orders is informed: each moves the
  fair mid in its direction, for good, by `impact_bps` basis points (a log return) per top
  level's quantity (`top_depth * depth_factor`) it trades. The book follows the fair mid at the
  next step, so a passive fill of ours is followed by a move against it on average (adverse
  selection), as on a real market.
- Queue position. Our resting order joins behind the quantity already at its price (nothing when
  it makes a new level). It fills only once the quantity ahead of it is gone: taken by trades,
  withdrawn with its level, or cancelled. The quantity ahead of us cancels at random at
  `cancel_rate` per second: over a step of `dt` seconds the share `1 - exp(-cancel_rate * dt *
  E)`, `E` exponential with mean 1, drawn for each of our orders; cancelled quantity is replaced
  behind us, so the level's depth holds. A level that shrinks otherwise (back toward its profile)
  loses the quantity ahead of us in proportion.

Prices and quantities are `Decimal` on the market's grids; floats are for the statistics only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain.market import ZERO, Level, Side, ceil_to_step, floor_to_step
from bot.sim.model import BookModel, EventKind, OrderQty, Print


@dataclass(frozen=True, slots=True)
class QueueParams:
    """The queue book's own parameters (see the module docstring)."""

    informed_share: float = 0.0
    impact_bps: float = 0.0
    cancel_rate: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.informed_share <= 1:
            problems.append(f"informed_share must be in [0, 1], got {self.informed_share}")
        for name in ("impact_bps", "cancel_rate"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(slots=True)
class _Place:
    side: Side
    price: Decimal
    ahead: Decimal


@dataclass(slots=True)
class QueueBook(BookModel):
    """A market's book with persistent levels and queue positions (see the module docstring)."""

    queue: QueueParams = QueueParams()
    _book: dict[Side, dict[Decimal, Decimal]] = field(init=False)
    _places: dict[str, _Place] = field(init=False)
    _flow_rng: random.Random = field(init=False)
    _post_rng: random.Random = field(init=False)
    _cancel_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        BookModel.__post_init__(self)  # (no zero-argument super() in a slots dataclass)
        base = self.rng.getrandbits(64)
        self._flow_rng = random.Random(f"{base}/informed")
        self._post_rng = random.Random(f"{base}/post")
        self._cancel_rng = random.Random(f"{base}/cancel")
        self._book = {Side.BUY: {}, Side.SELL: {}}
        self._places = {}
        self._refresh(0.0)

    # ---- time -------------------------------------------------------------------------------

    def jump_to(self, t: float) -> None:
        """Advance to `t`: the fair mid moves (`model.BookModel.jump_to`), the quantity ahead of
        our orders cancels, the levels refill and follow the fair mid. Background orders are
        `step`'s, applied by `apply_print`."""
        before = self.t
        BookModel.jump_to(self, t)
        if self.t > before:
            self._cancel_ahead(self.t - before)
            self._refresh(self.t - before)

    def _prints(self, dt: float) -> list[Print]:
        prints = BookModel._prints(self, dt)
        share = self.queue.informed_share
        if share <= 0:
            return prints
        return [Print(p.aggressor, p.amount, self._flow_rng.random() < share) for p in prints]

    def _cancel_ahead(self, dt: float) -> None:
        rate = self.queue.cancel_rate
        if rate <= 0:
            return
        step = self.market.amount_step
        for place in self._places.values():
            if place.ahead > 0:
                kept = math.exp(-rate * dt * self._cancel_rng.expovariate(1.0))
                place.ahead = floor_to_step(place.ahead * Decimal(repr(kept)), step)

    # ---- the levels -------------------------------------------------------------------------

    def _profiles(self) -> list[Decimal]:
        """The profile quantity of the level `i` spacings behind the touch, by `i`."""
        r, depth = self.regime, self._depth_multiplier()
        return [
            floor_to_step(
                self.top_depth * Decimal(repr(depth * (1.0 + r.depth_growth * i))),
                self.market.amount_step,
            )
            for i in range(r.levels)
        ]

    def _draw_noise(self) -> None:
        """(The profile book's per-step depth noise: a queue book draws noise as it posts.)"""

    def _refresh(self, dt: float) -> None:
        """Withdraw stale levels, drop far ones, move the others toward their profile quantity,
        post the missing touch and grid prices behind the touch the makers aim at."""
        m, r = self.market, self.regime
        hl = r.resilience_half_life
        back = Decimal(repr(1.0 - 0.5 ** (dt / hl))) if hl > 0 else Decimal(1)
        gap = self.level_spacing_ticks * m.price_tick
        profiles = self._profiles()
        for side, first in zip((Side.BUY, Side.SELL), self.touches(), strict=True):
            sign = -1 if side is Side.BUY else 1
            levels = self._book[side]
            for price in list(levels):
                distance = (price - first) * sign / gap
                if distance < 0:  # better than the touch: stale, withdrawn
                    self._set(side, price, ZERO)
                    del levels[price]
                elif distance > r.levels - 1:  # out of sight: our place there is kept
                    del levels[price]
                elif dt > 0:
                    q = levels[price]
                    new = self._toward(q, profiles[math.ceil(distance)], back)
                    if new != q:
                        self._set(side, price, new)
            grid = floor_to_step(first, gap) if side is Side.BUY else ceil_to_step(first, gap)
            if grid == first:
                grid += sign * gap
            wanted = [(first, 0)] + [(grid + sign * gap * i, i + 1) for i in range(r.levels - 1)]
            for price, i in wanted:
                if price <= 0 or (price - first) * sign > gap * (r.levels - 1):
                    break
                if price not in levels:
                    noise = 1.0 + r.depth_noise * self._post_rng.uniform(-1.0, 1.0)
                    qty = profiles[i] * Decimal(repr(noise))
                    levels[price] = floor_to_step(qty, m.amount_step)
        self._cache.clear()

    def _toward(self, q: Decimal, target: Decimal, share: Decimal) -> Decimal:
        """`q` moved `share` of the way to `target`, at least one amount step (never past it)."""
        gap = target - q
        if gap == 0:
            return q
        move = min(ceil_to_step(abs(gap) * share, self.market.amount_step), abs(gap))
        return q + move if gap > 0 else q - move

    def _set(self, side: Side, price: Decimal, qty: Decimal) -> None:
        """A level's quantity changes other than by trades: what rests ahead of us shrinks in
        proportion when it shrinks, and what joins it joins behind us."""
        old = self._book[side].get(price, ZERO)
        qty = max(qty, ZERO)
        if qty < old:
            step = self.market.amount_step
            for place in self._places.values():
                if place.side is side and place.price == price:
                    place.ahead = floor_to_step(place.ahead * qty / old, step)
        self._book[side][price] = qty
        self._cache.pop(side, None)

    def _trade_at(self, side: Side, price: Decimal, amount: Decimal) -> None:
        """`amount` traded off the front of a level: it comes off what rests ahead of us."""
        levels = self._book[side]
        levels[price] = max(levels.get(price, ZERO) - amount, ZERO)
        for place in self._places.values():
            if place.side is side and place.price == price:
                place.ahead = max(place.ahead - amount, ZERO)
        self._cache.pop(side, None)

    def levels(self, resting: Side) -> tuple[Level, ...]:
        cached = self._cache.get(resting)
        if cached is not None:
            return cached
        out: tuple[Level, ...] = ()
        hidden = self._active(EventKind.EMPTY) or any(
            e.side is resting for e in self._active(EventKind.ONE_SIDED)
        )
        if not hidden:
            ordered = sorted(self._book[resting].items(), reverse=resting is Side.BUY)
            out = tuple(Level(p, q) for p, q in ordered if q > 0)
        self._cache[resting] = out
        return out

    def consume(self, resting: Side, price: Decimal, amount: Decimal) -> None:
        """Our order took `amount` at `price`: it stays taken until the level refills."""
        self._trade_at(resting, price, amount)

    # ---- queues and background orders --------------------------------------------------------

    def join(self, order_id: str, side: Side, price: Decimal, amount: Decimal = ZERO) -> None:
        """Our order starts resting at `price`: behind everything already there (its amount
        is the engine's to track)."""
        self._places[order_id] = _Place(side, price, self._book[side].get(price, ZERO))

    def leave(self, order_id: str) -> None:
        self._places.pop(order_id, None)

    def queue_ahead(self, order_id: str) -> Decimal | None:
        """The quantity resting ahead of our order at its price (None: not resting here)."""
        place = self._places.get(order_id)
        return None if place is None else place.ahead

    def apply_print(self, p: Print, ours: Sequence[OrderQty]) -> list[OrderQty]:
        """A background market order walks the resting side from its best price, taking at
        each price first the quantity ahead of our orders, then ours (`ours`: our resting orders
        on that side in time priority), then the rest; an informed one then moves the fair mid.
        It walks no further than the book reaches (`levels - 1` spacings behind the touch).
        Returns our fills as (order id, price, quantity)."""
        resting = p.aggressor.opposite
        here = {lv.price: lv.amount for lv in self.levels(resting)}
        mine: dict[Decimal, list[tuple[Decimal, int, str, Decimal]]] = {}
        for n, (order_id, price, remaining) in enumerate(ours):
            ahead = self.queue_ahead(order_id) or ZERO
            mine.setdefault(price, []).append((ahead, n, order_id, remaining))
        fills: list[OrderQty] = []
        left = p.amount
        sign = -1 if resting is Side.BUY else 1
        first = self.touches()[0 if resting is Side.BUY else 1]
        reach = self.level_spacing_ticks * self.market.price_tick * (self.regime.levels - 1)
        for price in sorted({*here, *mine}, reverse=resting is Side.BUY):
            if left <= 0 or (price - first) * sign > reach:
                break
            shown, taken = here.get(price, ZERO), ZERO
            for ahead, _, order_id, remaining in sorted(mine.get(price, ())):
                take = min(left, max(min(ahead, shown) - taken, ZERO))
                taken, left = taken + take, left - take
                q = min(left, remaining)
                if q <= 0:
                    break
                fills.append((order_id, price, q))
                left -= q
            take = min(left, shown - taken)
            taken, left = taken + take, left - take
            if taken > 0:
                self._trade_at(resting, price, taken)
                self.stats.see_trade(price, taken)
        self._impact(p)
        return fills

    def _impact(self, p: Print) -> None:
        unit = float(self.top_quantity())
        if not p.informed or self.queue.impact_bps <= 0 or unit <= 0:
            return
        sign = 1.0 if p.aggressor is Side.BUY else -1.0
        self._mid *= math.exp(sign * self.queue.impact_bps / 10_000 * float(p.amount) / unit)
