"""A linear perpetual's contract terms, its prices (index, premium, mark) and its book.

- Index: the underlying spot market's fair mid (`engine.MatchingEngine.true_mid`), to 8 decimals;
  a scenario's jump on the spot market moves the index, the mark and the perp's book together.
- Premium (basis): the perp's fair mid over the index, less 1, constant within each minute:
  `basis` plus `basis_noise` times a standard normal drawn for each hour, interpolated linearly
  from one hour's draw to the next; a function of (seed, symbol, time) alone, so every run of a
  seed sees the same, however it is looked at.
- Mark: index * (1 + premium clamped to +-`mark_clamp`), to 8 decimals (Binance's mark is a
  median of such estimates; this keeps its intent: near the index, following the perp).
- Funding (Binance's formula, the premium index being the time average of the premium over the
  interval): rate = clamp(P + clamp(I - P, -premium_clamp, +premium_clamp), -cap, +cap), where
  P is the average premium of the interval's minutes and I the `interest_rate` per interval,
  to 8 decimals as Binance publishes it; a payment is rounded half up to 8 decimals.
  Settlements at multiples of `funding_interval` seconds since the epoch (8 h: 00, 08, 16 UTC).
- Book: `PerpBook`, the spot profile book (`model.BookModel`) built around the perp's fair mid
  (index * (1 + premium)) instead of its own walk; depth, spread, noise and background trades
  come from the perp's own `regime`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from bot.domain.market import Market, floor_to_step
from bot.sim.model import BookModel, Print, Regime

PRICE_QUANTUM = Decimal("0.00000001")  # index and mark: Binance's 8 decimals
MINUTE = 60.0
DEFAULT_INTERVAL = 8 * 3600.0


@dataclass(frozen=True, slots=True)
class PerpSpec:
    """One perpetual's terms. `market` is its domain market (symbol "BTC/USDT:USDT", base BTC,
    quote USDT, amounts in contracts of `market.contract_size` base units); `underlying` the spot
    symbol whose mid is the index. Rates are fractions; `funding_interval` in seconds."""

    market: Market
    underlying: str
    top_depth: Decimal
    regime: Regime = field(default_factory=Regime)
    level_spacing_ticks: int = 1
    maintenance_margin_rate: Decimal = Decimal("0.004")
    max_leverage: int = 125
    default_leverage: int = 20
    funding_interval: float = DEFAULT_INTERVAL
    interest_rate: Decimal = Decimal("0.0001")
    premium_clamp: Decimal = Decimal("0.0005")
    funding_cap: Decimal = Decimal("0.0075")
    mark_clamp: Decimal = Decimal("0.005")
    liquidation_fee: Decimal = Decimal("0.015")
    basis: float = 0.0001
    basis_noise: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.default_leverage <= self.max_leverage:
            problems.append(
                f"default_leverage {self.default_leverage} not in 1..{self.max_leverage}"
            )
        if not 0 <= self.maintenance_margin_rate < 1:
            problems.append(f"maintenance_margin_rate {self.maintenance_margin_rate} not in [0, 1)")
        if self.funding_interval <= 0:
            problems.append(f"funding_interval {self.funding_interval} must be > 0 seconds")
        if self.top_depth <= 0:
            problems.append(f"top_depth {self.top_depth} must be > 0")
        if problems:
            raise ValueError(f"perp {self.market.symbol}: " + "; ".join(problems))

    @property
    def symbol(self) -> str:
        return self.market.symbol


def funding_rate(spec: PerpSpec, premium: Decimal) -> Decimal:
    """Binance's funding rate for an average `premium` (see the module docstring)."""
    c = spec.premium_clamp
    rate = premium + min(max(spec.interest_rate - premium, -c), c)
    return min(max(rate, -spec.funding_cap), spec.funding_cap).quantize(PRICE_QUANTUM)


def funding_payment(notional: Decimal, rate: Decimal) -> Decimal:
    """What a position of signed `notional` receives at `rate` (negative: pays), to 8 decimals."""
    return (-notional * rate).quantize(PRICE_QUANTUM, ROUND_HALF_UP)


def next_funding_time(t: float, interval: float) -> float:
    """The first settlement strictly after `t` (seconds since the epoch)."""
    return (math.floor(t / interval) + 1) * interval


@dataclass(slots=True)
class PremiumPath:
    """The premium of one perp over its index, minute by minute (see the module docstring)."""

    spec: PerpSpec
    seed: int
    _cache: dict[int, Decimal] = field(default_factory=dict)

    def _knot(self, hour: int) -> float:
        return random.Random(f"{self.seed}/premium/{self.spec.symbol}/{hour}").gauss(0.0, 1.0)

    def at_minute(self, minute: int) -> Decimal:
        value = self._cache.get(minute)
        if value is None:
            noise = self.spec.basis_noise
            draw = 0.0
            if noise > 0:
                hour, into = divmod(minute, 60)
                a, b = self._knot(hour), self._knot(hour + 1)
                draw = noise * (a + (b - a) * into / 60)
            value = Decimal(repr(self.spec.basis + draw))
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[minute] = value
        return value

    def at(self, t: float) -> Decimal:
        return self.at_minute(math.floor(t / MINUTE))

    def average(self, start: float, end: float) -> Decimal:
        """Time-weighted average premium over [start, end) (the premium at `start` if empty)."""
        if end <= start:
            return self.at(start)
        total, t = Decimal(0), start
        while t < end:
            minute = math.floor(t / MINUTE)
            upto = min(end, (minute + 1) * MINUTE)
            total += self.at_minute(minute) * Decimal(repr(upto - t))
            t = upto
        return total / Decimal(repr(end - start))


def index_of(mid: Decimal) -> Decimal:
    """An index price as published: the underlying's mid to 8 decimals."""
    return mid.quantize(PRICE_QUANTUM)


def mark_of(spec: PerpSpec, index: Decimal, premium: Decimal) -> Decimal:
    """index * (1 + premium clamped to +-mark_clamp), to 8 decimals."""
    clamped = min(max(premium, -spec.mark_clamp), spec.mark_clamp)
    return (index * (1 + clamped)).quantize(PRICE_QUANTUM)


@dataclass(slots=True)
class PerpBook(BookModel):
    """The perp's synthetic book: a profile book whose mid is set from outside (`follow`)."""

    def follow(self, t: float, fair_mid: Decimal) -> None:
        """Move to time `t` (depth noise, refills) with the book centred on `fair_mid`."""
        self.jump_to(t)
        self._mid = float(fair_mid)
        self._cache.clear()
        self.stats.see_mid(floor_to_step(fair_mid, self.market.price_tick))

    def background(self, dt: float) -> list[Print]:
        """The background market orders of the last `dt` seconds (they reach our resting
        orders as on a spot book, `engine.MatchingEngine`)."""
        return self._prints(dt)
