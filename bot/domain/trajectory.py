"""The `schedule` style: a leg worked along a risk-aware trajectory, passive when on schedule,
taking when behind, with a catch-up at the horizon.

The trajectory is Almgren and Chriss's (2000) optimal one for a linear temporary impact and a
price that walks: of a leg of `X`, the part still to trade at `t` of a horizon `T` is

    x(t) = X * sinh(kappa * (T - t)) / sinh(kappa * T),   kappa = sqrt(lambda * sigma^2 / eta)

`sigma^2` is the variance of the mid per second (bps^2/s, measured from the mids the leg sees),
`eta` the temporary impact of trading at a rate (bps per share-of-the-leg per second: taking `q`
of a book holding `D` within the band each `tau` seconds reaches about `band * q / (2 D)` into
it), `lambda` the risk aversion (`risk_aversion`, per bps). `kappa` near 0 is a straight line (a
TWAP); a volatile market or a deep, quickly refilled book makes it front-loaded: the price risk of
waiting dominates, so the leg trades sooner.

At each step the leg compares what it still holds with the trajectory:
- more than `patience` seconds behind: the difference to one step ahead is taken now (IOC within
  the band, at most `participation` of the depth there), so the leg never falls far behind;
- otherwise: what the trajectory trades over the next `patience` seconds (at least one step's
  slice) rests post-only at the touch, when the half spread it earns beats the adverse move
  expected over a step (else it is taken); a resting child still at the touch is kept from step
  to step (`at_touch`), so it keeps its place in the queue;
- past the horizon: whatever is left is taken, step by step, within the band.
Floats serve the statistics only; amounts stay `Decimal`, rounded by the market.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from bot.domain.market import ZERO, OrderBook, Side

# How much the newest observation weighs in the variance estimate, and the variance assumed
# before two looks exist (bps^2 per second: about 1 bps per sqrt(second), a calm major).
VARIANCE_WEIGHT = 0.2
PRIOR_VARIANCE = 1.0
# The adverse move a resting order expects over a step, in standard deviations of the mid.
ADVERSE_SIGMAS = 0.5
# How much the newest refill observation weighs (see `Refill`).
REFILL_WEIGHT = 0.3


@dataclass(frozen=True, slots=True)
class Volatility:
    """An exponentially weighted estimate of the mid's variance per second (bps^2/s)."""

    variance: float = PRIOR_VARIANCE
    last_mid: Decimal | None = None
    last_at: float = 0.0
    looks: int = 0

    def observe(self, mid: Decimal, now: float) -> Volatility:
        if self.last_mid is None or now <= self.last_at or mid <= 0 or self.last_mid <= 0:
            return Volatility(self.variance, mid if mid > 0 else self.last_mid, now, self.looks)
        move = math.log(float(mid / self.last_mid)) * 10_000
        sample = move * move / (now - self.last_at)
        weight = 1.0 if self.looks == 0 else VARIANCE_WEIGHT
        variance = (1 - weight) * self.variance + weight * sample
        return Volatility(variance, mid, now, self.looks + 1)

    def sigma_bps(self, seconds: float) -> float:
        """The mid's standard deviation over `seconds`, in bps."""
        return math.sqrt(max(self.variance, 0.0) * max(seconds, 0.0))


@dataclass(frozen=True, slots=True)
class Refill:
    """How fast the book puts back what the leg takes from it: base units per second that
    reappear within the band on the side the leg takes from, measured between two looks around
    the leg's own takes (the depth seen, less what the first look held minus what was taken), as
    an exponentially weighted mean. None until a take has been followed by a look."""

    rate: float | None = None
    last_depth: Decimal | None = None
    last_at: float = 0.0

    def observe(self, depth: Decimal, now: float, taken: Decimal) -> Refill:
        if self.last_depth is None or now <= self.last_at or taken <= 0:
            return Refill(self.rate, depth, now)
        left = max(self.last_depth - taken, ZERO)
        sample = float(max(depth - left, ZERO)) / (now - self.last_at)
        rate = (
            sample
            if self.rate is None
            else (1 - REFILL_WEIGHT) * self.rate + (REFILL_WEIGHT * sample)
        )
        return Refill(rate, depth, now)

    def over(self, seconds: float) -> Decimal | None:
        """What the book refills over `seconds`, in base units (None: not measured yet)."""
        return None if self.rate is None else Decimal(repr(self.rate * seconds))


def urgency(
    variance: float, depth_share: float, band_bps: float, step: float, aversion: float
) -> float:
    """Almgren-Chriss `kappa` (per second). `depth_share`: the depth within the band as a share
    of the leg (0: no depth, which makes impact dominate and the schedule a straight line)."""
    if aversion <= 0 or variance <= 0 or depth_share <= 0 or band_bps <= 0 or step <= 0:
        return 0.0
    eta = band_bps * step / (2 * depth_share)  # bps per (share of the leg per second)
    return math.sqrt(aversion * variance / eta)


def remaining_share(elapsed: float, horizon: float, kappa: float) -> float:
    """The share of the leg the trajectory still holds at `elapsed` (1 at 0, 0 at the horizon)."""
    if horizon <= 0 or elapsed >= horizon:
        return 0.0
    left = max(horizon - max(elapsed, 0.0), 0.0)
    if kappa * horizon < 1e-6:
        return left / horizon
    if kappa * horizon > 700:  # sinh overflows: the whole weight is at the start
        return math.exp(-kappa * max(elapsed, 0.0))
    return math.sinh(kappa * left) / math.sinh(kappa * horizon)


@dataclass(frozen=True, slots=True)
class Step:
    """What the schedule asks of this step: `amount` to trade, taken (`take`) or resting."""

    amount: Decimal
    take: bool
    reason: str


def plan_step(
    *,
    total: Decimal,
    remaining: Decimal,
    elapsed: float,
    horizon: float,
    step: float,
    kappa: float,
    half_spread_bps: float,
    fee_saving_bps: float,
    adverse_bps: float,
    patience: float = 0.0,
) -> Step:
    """The amount and manner of this step. `fee_saving_bps`: taker minus maker fee;
    `adverse_bps`: the move against a resting order expected over one step; `patience`: seconds
    the leg may lag its trajectory before it takes (0: any lag is taken at once), and what a
    resting order holds: the trajectory's progress over that many seconds ahead."""
    if elapsed >= horizon:
        return Step(remaining, True, "past the horizon: catching up")

    def holding(at: float) -> Decimal:
        return total * Decimal(repr(remaining_share(at, horizon, kappa)))

    target_next, target_now = holding(elapsed + step), holding(elapsed)
    behind = remaining - target_next
    slice_ = min(max(target_now - target_next, ZERO), remaining)
    late = holding(elapsed - patience) if patience > 0 else target_now
    if remaining > late and behind > slice_:
        return Step(behind, True, "behind schedule: taking the difference")
    if patience > 0:  # rest what the trajectory trades over the patience ahead
        slice_ = min(max(slice_, remaining - holding(elapsed + patience)), remaining)
    if half_spread_bps + fee_saving_bps > adverse_bps:
        return Step(slice_, False, "on schedule: resting at the touch")
    return Step(slice_, True, "on schedule, but resting earns less than the expected move")


def at_touch(side: Side, price: Decimal, book: OrderBook) -> bool | None:
    """Where a resting order at `price` stands: True at its side's best price (it keeps its
    place in the queue), False behind it (the touch moved away: re-peg), None when the book's
    best on its side is worse than its price (its level is gone: it has most likely filled)."""
    best = book.best_bid if side is Side.BUY else book.best_ask
    if best is None:
        return None
    if best == price:
        return True
    better = best > price if side is Side.BUY else best < price
    return False if better else None
