"""Glide paths: a large change of allocation spread over several days, per asset.

Each managed asset (the quote excepted: it is the cash that takes the difference) may trade at most
a daily cap, in the portfolio quote: the smaller of a share of the portfolio's value and a share
of its market's 24 h volume. What it traded in the last 24 h counts against the cap; what is left
(its allowance) is how far this rebalance may move it from its weight now toward its final target.
The effective targets are those moves; the quote's is what makes them sum to 1.

Pure and exact: Decimal throughout, and every division that sizes a move rounds toward the
weight now, so a move never exceeds its allowance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, localcontext

from bot.domain.market import ONE, ZERO, Market
from bot.domain.orders import FillReport
from bot.domain.portfolio import PriceMap, Valuation
from bot.errors import DomainError

DAY = 86_400.0  # seconds: the window a daily cap counts over (rolling)


@dataclass(frozen=True, slots=True)
class GlideLimits:
    """The daily caps as the settings give them; None: that cap is off."""

    max_share_per_day: Decimal | None = None  # of the portfolio's value, per asset
    max_volume_share: Decimal | None = None  # of the asset's market's 24 h quote volume

    def __post_init__(self) -> None:
        for name in ("max_share_per_day", "max_volume_share"):
            share = getattr(self, name)
            if share is not None and not (ZERO < share <= ONE):
                raise DomainError(f"glide {name} must be in (0, 1], got {share}")

    @property
    def active(self) -> bool:
        return self.max_share_per_day is not None or self.max_volume_share is not None


@dataclass(frozen=True, slots=True)
class GlideStep:
    """One asset on its path. Values in the portfolio quote; `cap` None: no cap applies."""

    asset: str
    now: Decimal  # weight now
    final: Decimal  # the target in force
    effective: Decimal  # the target for this rebalance
    cap: Decimal | None  # per day
    traded: Decimal  # in the last 24 h
    days: int | None  # daily windows until at final, today counted; 0: there; None: never

    @property
    def allowance(self) -> Decimal | None:
        return None if self.cap is None else max(ZERO, self.cap - self.traded)

    @property
    def limited(self) -> bool:
        """The cap holds this asset short of its final target in this rebalance."""
        return self.effective != self.final


@dataclass(frozen=True, slots=True)
class GlidePath:
    quote: str
    total: Decimal
    steps: tuple[GlideStep, ...]  # the managed assets but the quote, in valuation order
    targets: Mapping[str, Decimal]  # the effective targets, the quote included
    notes: tuple[str, ...] = ()  # caps skipped, and why

    @property
    def gliding(self) -> bool:
        return any(s.limited for s in self.steps)

    @property
    def waiting(self) -> bool:
        """Held short of the final targets with no allowance left to move any asset today."""
        return self.gliding and all(s.effective == s.now or not s.limited for s in self.steps)

    @property
    def days(self) -> int | None:
        """Daily windows until every asset is at its final target (None: never at these caps)."""
        if any(s.days is None for s in self.steps):
            return None
        return max((s.days or 0 for s in self.steps), default=0)

    def reason(self) -> str:
        """One line for status, naming each asset the caps hold back: "glide path: BTC at 0.31 of
        0.40, 2 more days at 10%/day"."""
        parts = []
        for s in self.steps:
            if not s.limited:
                continue
            when = "never at this cap" if s.days is None else f"{s.days} more days"
            rate = "" if s.cap is None else f" at {_share(s.cap / self.total)}/day"
            parts.append(f"{s.asset} at {s.now:.2f} of {s.final:.2f}, {when}{rate}")
        return "glide path: " + "; ".join(parts) if parts else "glide path: at the final targets"


def _share(x: Decimal) -> str:
    return f"{(x * 100).quantize(Decimal('0.1')).normalize():f}%"


def daily_caps(
    valuation: Valuation,
    limits: GlideLimits,
    markets: Mapping[str, Market],
    volumes: Mapping[str, Decimal | None],
) -> tuple[dict[str, Decimal | None], tuple[str, ...]]:
    """Each managed asset's cap per day in the portfolio quote (None: uncapped), and notes on caps
    skipped. The volume cap reads the 24 h quote volume (`volumes`, by symbol, in the market's
    quote) of the asset's first market on its route to the quote; with no volume there, that cap
    is skipped for the asset and a note says so."""
    caps: dict[str, Decimal | None] = {}
    notes: list[str] = []
    for p in valuation.positions:
        if p.asset == valuation.quote:
            continue
        options: list[Decimal] = []
        if limits.max_share_per_day is not None:
            options.append(limits.max_share_per_day * valuation.total)
        if limits.max_volume_share is not None:
            volume = _volume(p.asset, valuation.prices, markets, volumes)
            if volume is None:
                notes.append(f"{p.asset}: no 24 h volume in the tickers; its volume cap skipped")
            else:
                options.append(limits.max_volume_share * volume)
        caps[p.asset] = min(options) if options else None
    return caps, tuple(notes)


def _volume(
    asset: str,
    prices: PriceMap,
    markets: Mapping[str, Market],
    volumes: Mapping[str, Decimal | None],
) -> Decimal | None:
    if asset not in prices or not prices.route(asset).symbols:
        return None
    symbol = prices.route(asset).symbols[0]
    volume = volumes.get(symbol)
    market = markets.get(symbol)
    if volume is None or market is None or market.quote not in prices:
        return None
    return volume * prices.price(market.quote)


def traded_by_asset(
    fills: Iterable[FillReport], markets: Mapping[str, Market], prices: PriceMap
) -> dict[str, Decimal]:
    """Value traded per asset (portfolio quote) by `fills`: a fill counts for both assets of its
    market, at its own price (its market's quote valued at mid now)."""
    out: dict[str, Decimal] = {}
    for f in fills:
        market = markets.get(f.symbol)
        base, _, quote = f.symbol.partition("/")
        if market is not None:
            base, quote = market.base, market.quote
        if quote not in prices:
            continue
        value = f.amount * f.price * prices.price(quote)
        for asset in (base, quote):
            out[asset] = out.get(asset, ZERO) + value
    return out


def glide_path(
    valuation: Valuation,
    caps: Mapping[str, Decimal | None],
    traded: Mapping[str, Decimal],
    notes: tuple[str, ...] = (),
) -> GlidePath:
    """The effective targets for this rebalance and each asset's path at its cap."""
    total = valuation.total
    steps = []
    for p in valuation.positions:
        if p.asset == valuation.quote:
            continue
        cap = caps.get(p.asset)
        spent = traded.get(p.asset, ZERO)
        gap = p.target - p.weight
        effective = p.target
        days: int | None = 0 if gap == 0 else 1
        if cap is not None and gap != 0 and total > 0:
            allowance = max(ZERO, cap - spent)
            distance = abs(gap) * total
            with localcontext() as ctx:
                ctx.rounding = ROUND_DOWN  # a move never exceeds its allowance
                move = min(abs(gap), allowance / total)
                effective = p.weight + move if gap > 0 else p.weight - move
                ctx.rounding = ROUND_CEILING  # and the days are never too few
                later = max(ZERO, distance - allowance)
                if later == 0:
                    days = 1
                elif cap > 0:
                    days = 1 + int((later / cap).to_integral_value(rounding=ROUND_CEILING))
                else:
                    days = None
        steps.append(GlideStep(p.asset, p.weight, p.target, effective, cap, spent, days))
    targets = {s.asset: s.effective for s in steps}
    targets[valuation.quote] = ONE - sum(targets.values(), ZERO)
    return GlidePath(valuation.quote, total, tuple(steps), targets, notes)


def glided(valuation: Valuation, path: GlidePath) -> Valuation:
    """`valuation` with the path's effective targets in place of the final ones, for a plan on
    its way: an asset the caps do not hold back and inside its final band keeps its weight now
    (a glide trades what it must, not every small drift each time it may), and the quote takes
    the difference."""
    targets = dict(path.targets)
    for s in path.steps:
        if not s.limited and valuation.position(s.asset).in_band:
            targets[s.asset] = s.now
    targets[path.quote] = ONE - sum((w for a, w in targets.items() if a != path.quote), ZERO)
    positions = tuple(replace(p, target=targets[p.asset]) for p in valuation.positions)
    return replace(valuation, positions=positions)
