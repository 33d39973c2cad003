"""Slicing: the next child order of a leg, from the book as it is now.

A child takes at most `participation` of the opposite-side quantity resting within `band_bps` of
the mid, and is priced at the worst level it may reach, so it cannot walk past the band. Guards
run first: a crossed, empty or one-sided book, a spread above the limit, a mid that moved more than
`max_deviation_bps` against the leg since arrival. The answer is one of:

- `Child`: place this order;
- `Wait`: not now (the reason says why); the executor looks again later;
- `Done`: nothing left worth trading (a remainder below the market's minimum is dust);
- `Halt`: give the leg up (the reason says why).

Execution styles, all with limit orders:
- `take`: marketable limits only (IOC at the worst price within the band);
- `passive`: post-only at our side's best price, or one tick inside when the spread allows; each
  child lives `child_timeout` and the next one is pegged to the touch of its moment (a child the
  market left behind is replaced); only the leg's final stretch (`take_after` of its deadline)
  takes what is left;
- `passive-then-take`: each child first rests post-only for `passive_timeout`, then its unfilled
  rest (and no more) is taken within the band;
- `schedule`: along a risk-aware trajectory over `horizon` seconds, resting when on schedule and
  taking when behind (`bot/domain/trajectory.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ONE, ZERO, Market, OrderBook, Side, signed_bps
from bot.domain.orders import TimeInForce
from bot.errors import DomainError


class Style(StrEnum):
    TAKE = "take"
    PASSIVE = "passive"
    PASSIVE_THEN_TAKE = "passive-then-take"
    SCHEDULE = "schedule"  # along a risk-aware trajectory: see bot/domain/trajectory.py


class Phase(StrEnum):
    PASSIVE = "passive"  # rest post-only, earn the spread
    TAKE = "take"  # cross the spread, within the band


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    style: Style = Style.SCHEDULE  # the default the execution benchmark supports (README)
    participation: Decimal = Decimal("0.2")  # share of the quantity within the band per child
    band_bps: Decimal = Decimal(10)  # a child never reaches further than this from the mid
    max_order_notional: Decimal | None = None  # per child, in the market's quote
    child_timeout: float = 10.0  # seconds a resting child lives; also the pause between takes
    passive_timeout: float = 20.0  # passive-then-take: seconds resting before taking the rest
    max_spread_bps: Decimal = Decimal(100)  # wider than this: wait
    max_deviation_bps: Decimal = Decimal(150)  # mid moved this far against the leg: pause
    deviation_timeout: float = 300.0  # paused this long: give the leg up
    leg_deadline: float = 1800.0  # seconds; a leg still open then is given up
    take_after: Decimal = Decimal("0.8")  # passive: take what is left after this share of it
    horizon: float = 900.0  # schedule: seconds its trajectory spans (<= take_after of the deadline)
    risk_aversion: float = 0.0001  # schedule: per bps; 0 is a straight line (a TWAP)
    patience: float = 60.0  # schedule: seconds of lag before it takes; what a rest holds ahead
    jump_settle: float = 60.0  # a paused leg goes on once the mid has held this long (0: never)

    def __post_init__(self) -> None:
        if not ZERO < self.participation <= 1:
            raise DomainError(f"participation must be in (0, 1], got {self.participation}")
        if self.band_bps <= 0:
            raise DomainError(f"band_bps must be > 0, got {self.band_bps}")
        if self.max_order_notional is not None and self.max_order_notional <= 0:
            raise DomainError(f"max_order_notional must be > 0, got {self.max_order_notional}")
        if not ZERO < self.take_after <= 1:
            raise DomainError(f"take_after must be in (0, 1], got {self.take_after}")
        if not 0 <= self.risk_aversion < math.inf:
            raise DomainError(f"risk_aversion must be finite and >= 0, got {self.risk_aversion}")
        if not 0 <= self.patience < math.inf:
            raise DomainError(f"patience must be finite and >= 0, got {self.patience}")
        if not 0 <= self.jump_settle < math.inf:
            raise DomainError(f"jump_settle must be finite and >= 0, got {self.jump_settle}")
        names = ("child_timeout", "passive_timeout", "deviation_timeout", "leg_deadline", "horizon")
        for name in names:
            if getattr(self, name) <= 0:
                raise DomainError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class LegState:
    """What the slicer needs to know about a leg at this moment."""

    side: Side
    remaining: Decimal  # base units still to trade
    arrival_mid: Decimal  # the mid when the rebalance started: every fill is judged against it
    elapsed: float = 0.0  # seconds since the leg started
    paused_for: float = 0.0  # seconds the deviation guard has been holding the leg
    # The mid the deviation guard measures from: the arrival mid, or the level a jump settled at
    # (see `JumpWatch`).
    anchor_mid: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Child:
    side: Side
    amount: Decimal
    price: Decimal
    phase: Phase
    time_in_force: TimeInForce
    post_only: bool


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str
    deviation: bool = False  # the mid moved against the leg (the executor counts the pause)


@dataclass(frozen=True, slots=True)
class Done:
    reason: str


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str


Decision = Child | Wait | Done | Halt


# A jump has settled when the mid has stayed within this share of `max_deviation_bps` (high to
# low) for `jump_settle` seconds.
SETTLE_SHARE = Decimal(1) / 3


@dataclass(frozen=True, slots=True)
class JumpWatch:
    """While the deviation guard holds a leg: the range of the mids seen since the price last
    moved more than the settle band. Once it has held `jump_settle` seconds, the move is a new
    level, not a fall in progress: the leg re-anchors the guard there and goes on (its costs are
    still judged against the arrival mid), once per leg. A fall that goes on keeps resetting it,
    and so does one in steps each smaller than the band once the leg has re-anchored: the guard
    gives the leg up after `deviation_timeout` as before."""

    low: Decimal | None = None
    high: Decimal | None = None
    since: float = 0.0

    def look(self, mid: Decimal, now: float, policy: ExecutionPolicy) -> JumpWatch:
        if self.low is None or self.high is None:
            return JumpWatch(mid, mid, now)
        low, high = min(self.low, mid), max(self.high, mid)
        if (high - low) / low * 10_000 > policy.max_deviation_bps * SETTLE_SHARE:
            return JumpWatch(mid, mid, now)
        return JumpWatch(low, high, self.since)

    def settled(self, now: float, policy: ExecutionPolicy) -> bool:
        return (
            policy.jump_settle > 0
            and self.low is not None
            and now - self.since >= (policy.jump_settle)
        )


def adverse_move_bps(side: Side, arrival_mid: Decimal, mid: Decimal) -> Decimal:
    """How far the mid moved against the leg since arrival, in bps (negative: in our favour)."""
    return signed_bps(side, arrival_mid, mid)


def phase_for(policy: ExecutionPolicy, elapsed: float) -> Phase:
    """The phase a new child starts in."""
    if policy.style is Style.TAKE:
        return Phase.TAKE
    if policy.style is Style.PASSIVE and elapsed >= float(policy.take_after) * policy.leg_deadline:
        return Phase.TAKE
    return Phase.PASSIVE


def guard(book: OrderBook, state: LegState, policy: ExecutionPolicy) -> Wait | Halt | None:
    """Why no child may be sent now, or None."""
    if state.elapsed >= policy.leg_deadline:
        return Halt(f"leg deadline of {policy.leg_deadline:.0f}s reached")
    if not book.bids and not book.asks:
        return Wait("book empty")
    if not book.is_two_sided:
        return Wait("book one-sided")
    if book.is_crossed:
        return Wait("book crossed")
    spread = book.spread_bps
    mid = book.mid
    assert spread is not None
    assert mid is not None
    if spread > policy.max_spread_bps:
        return Wait(f"spread {spread:.1f} bps above the limit of {policy.max_spread_bps} bps")
    adverse = adverse_move_bps(state.side, state.anchor_mid or state.arrival_mid, mid)
    if adverse > policy.max_deviation_bps:
        if state.paused_for >= policy.deviation_timeout:
            return Halt(
                f"mid moved {adverse:.0f} bps against the leg for {state.paused_for:.0f}s"
                f" (limit {policy.max_deviation_bps} bps, {policy.deviation_timeout:.0f}s)"
            )
        return Wait(
            f"mid moved {adverse:.0f} bps against the leg (limit {policy.max_deviation_bps} bps)",
            deviation=True,
        )
    return None


def next_child(
    market: Market,
    book: OrderBook,
    state: LegState,
    policy: ExecutionPolicy,
    phase: Phase | None = None,
    cap: Decimal | None = None,
    budget: Decimal | None = None,
) -> Decision:
    """The next child order of a leg, or why there is none. `cap` bounds the child's amount (the
    unfilled rest of a passive child that is now taken). `budget` bounds what a buy child may
    spend, fees included: its amount at its own limit price (the worst it can fill at), plus the
    market's higher fee rate, never exceeds it."""
    phase = phase or phase_for(policy, state.elapsed)
    blocked = guard(book, state, policy)
    if isinstance(blocked, Halt):
        return blocked
    remaining = market.round_amount(state.remaining)
    reference = book.mid or state.arrival_mid
    if remaining <= 0 or remaining < market.min_tradable(reference):
        return Done(f"remainder {state.remaining} {market.base} is below the market minimum (dust)")
    if blocked is not None:
        return blocked
    mid = book.mid
    assert mid is not None
    side = state.side
    # A passive child is sized like a taker would be, but with at least the spread in reach, so a
    # spread wider than the band still leaves it something to measure.
    reach = policy.band_bps
    if phase is Phase.PASSIVE:
        spread = book.spread_bps
        assert spread is not None
        reach = max(reach, spread)
    within = book.quantity_within_bps(side, reach)
    amount = min(within * policy.participation, remaining)
    if cap is not None:
        amount = min(amount, cap)
    price = _child_price(market, book, side, amount, mid, policy, phase)
    if policy.max_order_notional is not None:
        amount = min(amount, policy.max_order_notional / price)
    if budget is not None and side is Side.BUY:
        amount = min(amount, max(ZERO, budget) / (price * (ONE + market.max_fee)))
        # A smaller take reaches no further into the book: its limit can only come down.
        price = _child_price(market, book, side, amount, mid, policy, phase)
    amount = market.round_amount(amount)
    if amount <= 0 or market.rejects(amount, price) is not None:
        return Wait(
            f"book too thin: {within} {market.base} within {reach:.1f} bps of the mid,"
            f" a child of {policy.participation:.0%} of it is below the market minimum"
        )
    if phase is Phase.TAKE:
        return Child(side, amount, price, phase, TimeInForce.IOC, post_only=False)
    return Child(side, amount, price, phase, TimeInForce.GTC, post_only=True)


def _child_price(
    market: Market,
    book: OrderBook,
    side: Side,
    amount: Decimal,
    mid: Decimal,
    policy: ExecutionPolicy,
    phase: Phase,
) -> Decimal:
    if phase is Phase.TAKE:
        return _worst_level_price(book, side, amount, mid, policy.band_bps)
    return _passive_price(market, book, side)


def _worst_level_price(
    book: OrderBook, side: Side, amount: Decimal, mid: Decimal, band_bps: Decimal
) -> Decimal:
    """Price of the deepest level a taker of `amount` reaches (inside the band by construction)."""
    limit = OrderBook.limit_price_within_bps(side, band_bps, mid)
    price = book.touch(side)
    assert price is not None
    taken = ZERO
    for level in book.levels_taken_by(side):
        beyond = level.price > limit if side is Side.BUY else level.price < limit
        if beyond:
            break
        price = level.price
        taken += level.amount
        if taken >= amount:
            break
    return price


def _passive_price(market: Market, book: OrderBook, side: Side) -> Decimal:
    """Our side's best price, one tick better when that still leaves the order passive."""
    bid, ask = book.best_bid, book.best_ask
    assert bid is not None
    assert ask is not None
    tick = market.price_tick
    if side is Side.BUY:
        return bid + tick if bid + tick < ask else bid
    return ask - tick if ask - tick > bid else ask
