"""Exposure targets: each asset's target is its NET exposure (spot value plus the signed notional
of its perpetual, in the quote) as a share of the whole equity (spot and the futures wallet).

`value_exposures` sees the portfolio that way; `allocate` splits each asset's change between spot
and its perpetual by the asset's `Carrier` (and, for `both`, by what each costs to hold), then
clips perpetual increases at the leverage cap; `spot_targets` turns the spot side into weights for
the spot planner; `perp_orders` turns a desired position into orders that never flip a position by
accident. Pure and exact: Decimal throughout, sizes rounded toward safety.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal, localcontext
from enum import StrEnum

from bot.domain.market import ONE, ZERO, Market, Side
from bot.domain.positions import (
    FundingRate,
    FuturesAccount,
    Position,
    PositionMode,
    PositionSide,
)
from bot.errors import DomainError, NoPriceError


class Carrier(StrEnum):
    SPOT = "spot"  # spot only (the default): a perpetual on the asset is closed
    PERP = "perp"  # the perpetual only: the spot holding is left as it is
    BOTH = "both"  # either, by cost (`allocate`)


@dataclass(frozen=True, slots=True)
class ExposurePolicy:
    """Which instruments carry each asset, and the portfolio's leverage cap.

    `max_leverage` caps gross exposure / equity (gross: |spot value| + |perp notional| over the
    non-quote assets) and, with the same figure, the futures account's own leverage (sum of
    |notional| / its equity); only perpetual increases are clipped to meet it. `carry_rate`: a
    year's cost of holding spot instead of the perpetual (what the cash would earn), a fraction.
    """

    carriers: Mapping[str, Carrier] = field(default_factory=dict)
    perp_symbols: Mapping[str, str] = field(default_factory=dict)
    max_leverage: Decimal = Decimal(3)
    carry_rate: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        problems = []
        if self.max_leverage < ONE:
            problems.append(f"max_leverage must be >= 1, got {self.max_leverage}")
        if not (-ONE <= self.carry_rate <= ONE):
            problems.append(f"carry_rate must be in [-1, 1], got {self.carry_rate}")
        for asset, carrier in sorted(self.carriers.items()):
            if not isinstance(carrier, Carrier):
                problems.append(f"{asset}: carrier must be a Carrier, got {carrier!r}")
            elif carrier is not Carrier.SPOT and not self.perp_symbols.get(asset):
                problems.append(f"{asset}: carried by {carrier} but has no perpetual symbol")
        if problems:
            raise DomainError("exposure policy: " + "; ".join(problems))

    def carrier(self, asset: str) -> Carrier:
        return self.carriers.get(asset, Carrier.SPOT)


@dataclass(frozen=True, slots=True)
class AssetExposure:
    """One asset now: spot value and perpetual notional (signed, at the mark), in the quote."""

    asset: str
    spot: Decimal
    perp: Decimal
    perp_base: Decimal  # signed base amount of its positions (hedge mode: long - short)
    mark: Decimal | None  # the perpetual's mark, when a position shows it
    weight: Decimal  # net / equity (0 when equity is not positive)

    @property
    def net(self) -> Decimal:
        return self.spot + self.perp


@dataclass(frozen=True, slots=True)
class ExposureView:
    quote: str
    cash: Decimal  # the quote's own spot value
    assets: tuple[AssetExposure, ...]  # the non-quote assets, by name
    spot_total: Decimal  # every spot value, the cash included
    futures_equity: Decimal  # the futures account's margin balance (0 without one)
    gross: Decimal  # sum of |spot| + |perp| over the non-quote assets

    @property
    def equity(self) -> Decimal:
        return self.spot_total + self.futures_equity

    @property
    def leverage(self) -> Decimal:
        """Gross exposure / equity (0 when equity is not positive)."""
        return self.gross / self.equity if self.equity > 0 else ZERO

    @property
    def futures_leverage(self) -> Decimal:
        """Sum of |perp notional| / the futures account's equity (0 when it has none)."""
        perp = sum((abs(a.perp) for a in self.assets), ZERO)
        return perp / self.futures_equity if self.futures_equity > 0 else ZERO

    def asset(self, asset: str) -> AssetExposure:
        for a in self.assets:
            if a.asset == asset:
                return a
        return AssetExposure(asset, ZERO, ZERO, ZERO, None, ZERO)


def value_exposures(
    spot_values: Mapping[str, Decimal],
    positions: Sequence[Position],
    account: FuturesAccount | None,
    quote: str,
) -> ExposureView:
    """The portfolio as net exposures. `spot_values`: each managed asset's value in the quote at
    mid, the quote's cash included; equity = their sum + the futures account's equity."""
    if any(v < 0 for v in spot_values.values()):
        raise DomainError(f"spot values must be >= 0, got {dict(spot_values)}")
    if positions and account is None:
        raise DomainError("perpetual positions without a futures account to value them")
    if account is not None and account.asset != quote:
        raise DomainError(f"futures account settles in {account.asset}, not the quote {quote}")
    if any(p.base == quote for p in positions):
        raise DomainError(f"a perpetual on the quote {quote} cannot be valued as exposure")
    futures_equity = account.equity if account is not None else ZERO
    spot_total = sum(spot_values.values(), ZERO)
    equity = spot_total + futures_equity
    names = sorted((set(spot_values) | {p.base for p in positions}) - {quote})
    assets = []
    for name in names:
        mine = [p for p in positions if p.base == name]
        perp = sum((p.notional for p in mine), ZERO)
        spot = spot_values.get(name, ZERO)
        weight = (spot + perp) / equity if equity > 0 else ZERO
        base = sum((p.base_amount for p in mine), ZERO)
        mark = mine[0].mark_price if mine else None
        assets.append(AssetExposure(name, spot, perp, base, mark, weight))
    gross = sum((abs(a.spot) + abs(a.perp) for a in assets), ZERO)
    return ExposureView(
        quote, spot_values.get(quote, ZERO), tuple(assets), spot_total, futures_equity, gross
    )


@dataclass(frozen=True, slots=True)
class AssetAllocation:
    """One asset's desired split. `perp` is signed notional at `mark`; `perp_base` = perp/mark."""

    asset: str
    carrier: Carrier
    target: Decimal
    symbol: str | None
    mark: Decimal | None
    spot_now: Decimal
    perp_now: Decimal
    spot: Decimal
    perp: Decimal
    note: str = ""

    @property
    def perp_base(self) -> Decimal:
        return self.perp / self.mark if self.mark else ZERO


@dataclass(frozen=True, slots=True)
class Clip:
    """A change held back: `wanted` and `allowed` are the asset's desired perpetual notional
    (cap clips) or spot value (cash clips) before and after; `why` for status."""

    asset: str
    wanted: Decimal
    allowed: Decimal
    why: str
    perp: bool = False  # a perpetual's notional held back (else a spot value)


@dataclass(frozen=True, slots=True)
class Allocation:
    quote: str
    equity: Decimal
    spot_total: Decimal
    cash: Decimal  # the quote's desired spot value: what the other spot values leave
    assets: tuple[AssetAllocation, ...]
    clipped: tuple[Clip, ...] = ()

    @property
    def gross(self) -> Decimal:
        return sum((abs(a.spot) + abs(a.perp) for a in self.assets), ZERO)

    @property
    def leverage(self) -> Decimal:
        return self.gross / self.equity if self.equity > 0 else ZERO

    def asset(self, asset: str) -> AssetAllocation:
        for a in self.assets:
            if a.asset == asset:
                return a
        raise DomainError(f"{asset} is not in the allocation")

    def perp_bases(self) -> dict[str, Decimal]:
        """Desired signed base amount by perpetual symbol (`perp_orders`' `desired_base`)."""
        return {a.symbol: a.perp_base for a in self.assets if a.symbol is not None}


def _split(
    delta: Decimal, spot: Decimal, perp: Decimal, ann: Decimal | None, carry: Decimal
) -> tuple[Decimal, Decimal, str]:
    """A `both` asset's change between spot and its perpetual. An increase first covers a short
    perpetual, then goes to the perpetual when a year of funding for a long (`ann`) costs less
    than `carry`, else to spot. A decrease first cuts what costs more to hold (a long perpetual
    costs `ann`, spot costs `carry`), then the other, and only then shorts the perpetual: spot
    never goes below zero. Unknown funding: spot is taken as the cheaper."""
    if delta > 0:
        cover = min(delta, max(ZERO, -perp))
        rest = delta - cover
        if ann is not None and ann < carry:
            return spot, perp + cover + rest, "perp: funding cheaper than the carry"
        return spot + rest, perp + cover, "spot: the carry no dearer than funding"
    cut = -delta
    perp_first = ann is not None and perp > 0 and ann > carry
    if perp_first:
        first = min(cut, perp)
        perp -= first
        cut -= first
    from_spot = min(cut, spot)
    spot -= from_spot
    perp -= cut - from_spot
    why = "cut the perp first: funding dearer" if perp_first else "cut spot first"
    return spot, perp, why


def allocate(
    view: ExposureView,
    targets: Mapping[str, Decimal],
    policy: ExposurePolicy,
    funding: Mapping[str, FundingRate],
) -> Allocation:
    """Desired spot value and perpetual position of each target asset (the quote's target is
    ignored: the quote takes what remains). delta = target x equity - net; spot assets move in
    spot (their perpetual closed), perp assets in the perpetual (spot left alone), `both` by cost
    (`_split`). Then spot increases are scaled down to the cash, and perpetual increases (growth
    of |notional|; never a reduction) are scaled down, pro rata, so gross / equity and the futures
    account's leverage stay <= `max_leverage`. `funding`: by perpetual symbol; its mark prices a
    perpetual with no position yet."""
    equity = view.equity
    if equity <= 0:
        raise DomainError(f"cannot allocate: equity is {equity}")
    rows: list[AssetAllocation] = []
    for asset in sorted(a for a in targets if a != view.quote):
        target = targets[asset]
        carrier = policy.carrier(asset)
        now = view.asset(asset)
        if target < 0 and carrier is Carrier.SPOT:
            raise DomainError(f"{asset}: a short target ({target}) needs a perpetual carrier")
        symbol = policy.perp_symbols.get(asset)
        rate = funding.get(symbol) if symbol is not None else None
        mark = rate.mark_price if rate is not None and rate.mark_price > 0 else now.mark
        want = target * equity
        if carrier is Carrier.SPOT:
            spot, perp, note = want, ZERO, "spot"
        elif carrier is Carrier.PERP:
            spot, perp, note = now.spot, want - now.spot, "perp"
        else:
            ann = rate.annualised if rate is not None else None
            spot, perp, note = _split(want - now.net, now.spot, now.perp, ann, policy.carry_rate)
        if perp != now.perp and mark is None:
            raise NoPriceError(f"{asset}: no mark price for its perpetual {symbol}")
        row = AssetAllocation(
            asset, carrier, target, symbol, mark, now.spot, now.perp, max(spot, ZERO), perp, note
        )
        rows.append(row)
    clips: list[Clip] = []
    rows = _fit_cash(rows, view, clips)
    rows = _cap_perps(rows, view, policy.max_leverage, clips)
    cash = view.spot_total - sum((r.spot for r in rows), ZERO)
    cash -= sum((a.spot for a in view.assets if a.asset not in targets), ZERO)
    return Allocation(view.quote, equity, view.spot_total, cash, tuple(rows), tuple(clips))


def _scale(grow: Decimal, excess: Decimal) -> Decimal:
    """The share of `grow` kept when `excess` must go, rounded down (never more than allowed)."""
    if excess <= 0:
        return ONE
    if grow <= excess:
        return ZERO
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        return (grow - excess) / grow


def _grow(now: Decimal, want: Decimal, keep: Decimal) -> Decimal:
    """now + keep x (want - now), for 0 <= now < want, rounded toward `now`."""
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        return now + (want - now) * keep


def _fit_cash(
    rows: list[AssetAllocation], view: ExposureView, clips: list[Clip]
) -> list[AssetAllocation]:
    """Spot increases scaled down pro rata to what spot holds: spot buys need spot cash."""
    others = sum((a.spot for a in view.assets if a.asset not in {r.asset for r in rows}), ZERO)
    grow = sum((max(ZERO, r.spot - r.spot_now) for r in rows), ZERO)
    excess = sum((r.spot for r in rows), ZERO) + others - view.spot_total
    keep = _scale(grow, excess)
    if keep == ONE:
        return rows
    out = []
    for r in rows:
        if r.spot > r.spot_now:
            spot = _grow(r.spot_now, r.spot, keep)
            clips.append(Clip(r.asset, r.spot, spot, "spot buys limited to the spot cash"))
            r = replace(r, spot=spot)
        out.append(r)
    return out


def _cap_perps(
    rows: list[AssetAllocation], view: ExposureView, cap: Decimal, clips: list[Clip]
) -> list[AssetAllocation]:
    """Perpetual increases scaled down pro rata to the tighter of the two leverage caps."""
    mine = {r.asset for r in rows}
    rest = [a for a in view.assets if a.asset not in mine]
    gross = sum((abs(r.spot) + abs(r.perp) for r in rows), ZERO)
    gross += sum((abs(a.spot) + abs(a.perp) for a in rest), ZERO)
    perps = sum((abs(r.perp) for r in rows), ZERO) + sum((abs(a.perp) for a in rest), ZERO)
    grow = sum((max(ZERO, abs(r.perp) - abs(r.perp_now)) for r in rows), ZERO)
    keep = min(
        _scale(grow, gross - cap * view.equity),
        _scale(grow, perps - cap * view.futures_equity),
    )
    if keep == ONE:
        return rows
    why = f"perpetual increase clipped at the leverage cap {cap}"
    out = []
    for r in rows:
        if abs(r.perp) > abs(r.perp_now):
            size = _grow(abs(r.perp_now), abs(r.perp), keep)
            perp = size if r.perp > 0 else -size
            clips.append(Clip(r.asset, r.perp, perp, why, perp=True))
            r = replace(r, perp=perp)
        out.append(r)
    return out


def spot_targets(allocation: Allocation, spot_total: Decimal) -> dict[str, Decimal]:
    """The spot side as weights for the spot planner: each allocated asset's desired spot value
    over `spot_total` (the same spot valuation's total the planner will use: managed assets and
    the quote), the quote taking the rest so the weights sum to 1."""
    if spot_total <= 0:
        raise DomainError(f"spot total must be > 0, got {spot_total}")
    weights = {a.asset: a.spot / spot_total for a in allocation.assets}
    weights[allocation.quote] = ONE - sum(weights.values(), ZERO)
    return weights


@dataclass(frozen=True, slots=True)
class PerpOrder:
    """One perpetual order: `amount` in contracts, on the step, > 0. `reduce_only`: it only
    reduces (in hedge mode the position side says which position; the gateway maps it)."""

    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool
    position_side: PositionSide | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise DomainError(f"perp order {self.symbol}: amount must be > 0, got {self.amount}")

    @property
    def signed(self) -> Decimal:
        return self.amount if self.side is Side.BUY else -self.amount


def _contracts(positions: Sequence[Position], side: PositionSide) -> Decimal:
    return sum((p.contracts for p in positions if p.side is side), ZERO)


def perp_orders(
    positions: Sequence[Position],
    desired_base: Decimal,
    mode: PositionMode,
    market: Market,
    price: Decimal | None = None,
) -> list[PerpOrder]:
    """The orders, in sequence, that move a symbol's position(s) to `desired_base` (signed).

    One-way: shrinking is one reduce-only order; growing on the same side one plain order;
    crossing zero a reduce-only close of the whole position, then an opening order on the other
    side. Hedge: the side opposite the desired direction is closed first (reduce-only), then the
    desired side is adjusted. Amounts are in contracts rounded DOWN to the step, so a reduce-only
    order never exceeds its position and an opening order never exceeds the change. An opening
    order below the market's minimum at `price` (per base unit; default: the positions' mark, and
    with neither only `min_amount` applies) is dropped; a
    reduce-only order only needs the step and `min_amount` (exchanges waive the notional minimum
    for reduce-only orders)."""
    if any(p.symbol != market.symbol for p in positions):
        raise DomainError(f"perp_orders: positions of another symbol than {market.symbol}")
    hedged = any(p.hedged for p in positions)
    if mode is PositionMode.ONE_WAY and (hedged or len(positions) > 1):
        raise DomainError(f"{market.symbol}: hedge-mode positions in one-way mode")
    mark = price if price is not None else next((p.mark_price for p in positions), None)
    # In contracts: one contract costs contract_size x the price.
    minimum = market.min_tradable(mark * market.contract_size) if mark else market.min_amount
    want = desired_base / market.contract_size
    longs = _contracts(positions, PositionSide.LONG)
    shorts = _contracts(positions, PositionSide.SHORT)
    out: list[PerpOrder] = []

    def add(side: Side, amount: Decimal, reduce: bool, pos: PositionSide | None) -> None:
        amount = market.round_amount(amount) if amount > 0 else ZERO
        floor = max(market.min_amount, ZERO) if reduce else minimum
        if amount > 0 and amount >= floor:
            out.append(PerpOrder(market.symbol, side, amount, reduce, pos))

    if mode is PositionMode.HEDGE:
        long_to = max(want, ZERO)
        short_to = max(-want, ZERO)
        if want >= 0:  # close the short, then adjust the long
            add(Side.BUY, shorts - short_to, True, PositionSide.SHORT)
            add(Side.SELL, longs - long_to, True, PositionSide.LONG)
            add(Side.BUY, long_to - longs, False, PositionSide.LONG)
        else:
            add(Side.SELL, longs - long_to, True, PositionSide.LONG)
            add(Side.BUY, shorts - short_to, True, PositionSide.SHORT)
            add(Side.SELL, short_to - shorts, False, PositionSide.SHORT)
        return out
    now = longs - shorts
    if now == 0 or ((now > 0) == (want > 0) and abs(want) >= abs(now)):  # open or grow
        add(Side.BUY if want > now else Side.SELL, abs(want - now), False, None)
    elif (now > 0 and want >= 0) or (now < 0 and want <= 0):  # shrink, same side or flat
        add(Side.SELL if now > 0 else Side.BUY, abs(now - want), True, None)
    else:  # cross zero: close all, then open the rest on the other side
        close = Side.SELL if now > 0 else Side.BUY
        add(close, abs(now), True, None)
        if out and out[-1].amount == abs(now):  # opened only once the close covers it all
            add(close, abs(want), False, None)
    return out
