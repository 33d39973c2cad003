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

At each step the leg compares what it still holds with the trajectory one step ahead:
- behind: the difference is taken now (IOC within the band, at most `participation` of the
  depth there), so the leg never falls far behind its schedule;
- on or ahead of schedule: the step's slice rests post-only at the touch for one step, when the
  half spread it earns beats the adverse move expected over that step (else it is taken);
- past the horizon: whatever is left is taken, step by step, within the band.
Floats serve the statistics only; amounts stay `Decimal`, rounded by the market.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from bot.domain.market import ZERO

# How much the newest observation weighs in the variance estimate, and the variance assumed
# before two looks exist (bps^2 per second: about 1 bps per sqrt(second), a calm major).
VARIANCE_WEIGHT = 0.2
PRIOR_VARIANCE = 1.0
# The adverse move a resting order expects over a step, in standard deviations of the mid.
ADVERSE_SIGMAS = 0.5


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
) -> Step:
    """The amount and manner of this step. `fee_saving_bps`: taker minus maker fee;
    `adverse_bps`: the move against a resting order expected over one step."""
    if elapsed >= horizon:
        return Step(remaining, True, "past the horizon: catching up")
    target_next = total * Decimal(repr(remaining_share(elapsed + step, horizon, kappa)))
    target_now = total * Decimal(repr(remaining_share(elapsed, horizon, kappa)))
    behind = remaining - target_next
    slice_ = min(max(target_now - target_next, ZERO), remaining)
    if behind > slice_:
        return Step(behind, True, "behind schedule: taking the difference")
    if half_spread_bps + fee_saving_bps > adverse_bps:
        return Step(slice_, False, "on schedule: resting at the touch")
    return Step(slice_, True, "on schedule, but resting earns less than the expected move")
