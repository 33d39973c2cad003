"""Margin safety for linear perpetuals: liquidation prices, distance to them, breaches, and what
to do first when a rule is broken (move collateral, then cut positions with reduce-only orders).

The model: a group of positions that move together (cross: every position of one symbol, both
sides in hedge mode; isolated: the one position) has signed size `q` (base), maintenance
`m` = sum of rate x |size| (base), mark `P` and a balance `B` behind it (isolated: its collateral,
which like ccxt's `collateral` includes its unrealised profit; cross: the futures equity less the
isolated collateral and the other positions' maintenance, those held at their marks). At price
`L` its headroom is h(L) = B + q(L - P) - m L; liquidation is the root L* = (qP - B) / (q - m).
h is linear in L, so "no liquidation within f of the mark" is h(P(1-f)) >= 0 and h(P(1+f)) >= 0.
When the exchange reports a liquidation price nearer than the model's, the balance implied by it
(m L - q(L - P)) is used instead: the model is never less careful than the exchange.
Cutting a cross group by a fraction x keeps B and scales q and m by 1 - x, so it only helps; an
isolated position releases its collateral in proportion, so only margin or a close helps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from bot.domain.exposure import PerpOrder
from bot.domain.market import ONE, ZERO, Market, Side, ceil_to_step
from bot.domain.positions import FundingPayment, FuturesAccount, MarginMode, Position, PositionSide
from bot.errors import DomainError

# Maintenance margin rate assumed when the exchange reports neither the rate nor the amount:
# higher than any major venue's first tier, so the liquidation it implies is nearer, not farther.
DEFAULT_MAINTENANCE_RATE = Decimal("0.05")
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class MarginLimits:
    """The guard's limits. floor = max(move_multiple x realised 24 h move, liquidation_floor),
    as a fraction of the mark; de-levering restores distance to floor x (1 + restore_margin) and
    leverage (futures notional / futures equity) to `target_leverage`; `max_leverage` is the cap
    above which nothing opens; `max_margin_ratio`: maintenance / margin balance."""

    liquidation_floor: Decimal = Decimal("0.15")
    move_multiple: Decimal = Decimal(3)
    max_margin_ratio: Decimal = Decimal("0.5")
    target_leverage: Decimal = Decimal(2)
    max_leverage: Decimal = Decimal(3)
    restore_margin: Decimal = Decimal("0.1")

    def __post_init__(self) -> None:
        checks = [
            (ZERO < self.liquidation_floor < ONE, "liquidation_floor must be in (0, 1)"),
            (self.move_multiple >= 0, "move_multiple must be >= 0"),
            (ZERO < self.max_margin_ratio <= ONE, "max_margin_ratio must be in (0, 1]"),
            (
                ZERO < self.target_leverage <= self.max_leverage,
                "0 < target_leverage <= max_leverage",
            ),
            (ZERO <= self.restore_margin <= ONE, "restore_margin must be in [0, 1]"),
        ]
        problems = [why for ok, why in checks if not ok]
        if problems:
            raise DomainError(f"margin limits: {'; '.join(problems)}, got {self!r}")

    def floor(self, move: Decimal) -> Decimal:
        return max(self.move_multiple * move, self.liquidation_floor)


def _rate(p: Position) -> Decimal:
    if p.maintenance_margin_rate is not None:
        return p.maintenance_margin_rate
    if p.maintenance_margin is not None and p.notional != 0:
        return p.maintenance_margin / abs(p.notional)
    return DEFAULT_MAINTENANCE_RATE


def maintenance(p: Position) -> Decimal:
    """The position's maintenance margin in the quote: reported, else rate x |notional|."""
    if p.maintenance_margin is not None:
        return p.maintenance_margin
    return _rate(p) * abs(p.notional)


def _collateral(p: Position) -> Decimal:
    """An isolated position's margin balance: reported, else |notional| / leverage + its profit,
    else 0 (nothing known behind it)."""
    if p.collateral is not None:
        return p.collateral
    if p.leverage:
        return abs(p.notional) / p.leverage + p.pnl
    return ZERO


def _total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def _isolated(positions: Iterable[Position]) -> Decimal:
    """The collateral set apart in isolated positions: not behind the cross ones."""
    return _total(_collateral(p) for p in positions if p.margin_mode is MarginMode.ISOLATED)


def _group(p: Position, positions: Sequence[Position]) -> list[Position]:
    if p.margin_mode is MarginMode.ISOLATED:
        return [p]
    return [o for o in positions if o.symbol == p.symbol and o.margin_mode is MarginMode.CROSS]


def _model(
    p: Position, account: FuturesAccount, positions: Sequence[Position]
) -> tuple[Decimal, Decimal, Decimal]:
    """(q, m, B) of `p`'s group, from the model alone."""
    group = _group(p, positions)
    q = _total(o.base_amount for o in group)
    m = _total(_rate(o) * abs(o.base_amount) for o in group)
    if p.margin_mode is MarginMode.ISOLATED:
        return q, m, _collateral(p)
    others = [o for o in positions if o.margin_mode is MarginMode.CROSS and o not in group]
    return q, m, account.equity - _isolated(positions) - _total(maintenance(o) for o in others)


def _balance(
    p: Position, account: FuturesAccount, positions: Sequence[Position]
) -> tuple[Decimal, Decimal, Decimal]:
    """(q, m, B) with B lowered to what the exchange's liquidation price implies, if lower."""
    q, m, b = _model(p, account, positions)
    for o in _group(p, positions):
        if o.liquidation_price is not None and o.liquidation_price > 0:
            lq = o.liquidation_price
            b = min(b, m * lq - q * (lq - p.mark_price))
    return q, m, b


def _headroom(q: Decimal, m: Decimal, b: Decimal, mark: Decimal, price: Decimal) -> Decimal:
    return b + q * (price - mark) - m * price


def _root(q: Decimal, m: Decimal, b: Decimal, mark: Decimal) -> Decimal | None:
    if q == m:
        return None
    root = (q * mark - b) / (q - m)
    return root if root > 0 else None


@dataclass(frozen=True, slots=True)
class Liquidation:
    price: Decimal | None  # None: no price liquidates it (fully collateralised)
    recomputed: bool  # False: the exchange's figure


def liquidation_price(
    position: Position, account: FuturesAccount, positions: Sequence[Position]
) -> Liquidation:
    """The exchange's liquidation price when it gives one (> 0), else the model's root from the
    mark (module docstring): isolated from the position's collateral and maintenance rate;
    cross from the account's equity with every other symbol at its mark."""
    if position.liquidation_price is not None and position.liquidation_price > 0:
        return Liquidation(position.liquidation_price, False)
    q, m, b = _model(position, account, positions)
    if _headroom(q, m, b, position.mark_price, position.mark_price) <= 0:
        return Liquidation(_root(q, m, b, position.mark_price) or position.mark_price, True)
    return Liquidation(_root(q, m, b, position.mark_price), True)


def _distance(p: Position, liq: Decimal | None, slope: Decimal) -> Decimal | None:
    """|mark - L| / mark on the side where the headroom runs out (its slope q - m > 0: a fall;
    < 0: a rise); 0 once past it; None: no L."""
    if liq is None:
        return None
    move = (p.mark_price - liq) * (1 if slope > 0 else -1) if slope else abs(p.mark_price - liq)
    return max(ZERO, move / p.mark_price)


def realised_move(mids: Sequence[tuple[float, Decimal]], window: float = DAY) -> Decimal:
    """(max - min) / min of the mids in the `window` seconds up to the latest one. It bounds
    every move between two points of the window, up or down, whatever their order, and measures
    it from the lower price, so it is never less than any return a position could have seen.
    Fewer than two points: 0 (the floor's fixed part then applies)."""
    if window <= 0:
        raise DomainError(f"realised move window must be > 0 s, got {window}")
    if any(m <= 0 for _, m in mids):
        raise DomainError("realised move: every mid must be > 0")
    if not mids:
        return ZERO
    end = max(t for t, _ in mids)
    seen = [m for t, m in mids if t >= end - window]
    return (max(seen) - min(seen)) / min(seen)


class Rule(StrEnum):
    DISTANCE = "distance"  # nearer liquidation than the floor
    MARGIN_RATIO = "margin_ratio"  # maintenance / margin balance above the limit
    LEVERAGE = "leverage"  # futures notional / equity above the cap (or equity <= 0)


@dataclass(frozen=True, slots=True)
class Breach:
    rule: Rule
    symbol: str | None  # None: the account
    value: Decimal | None  # None: not finite (equity or collateral <= 0)
    limit: Decimal

    def describe(self) -> str:
        where = self.symbol or "account"
        shown = "unbounded" if self.value is None else f"{self.value:.4f}"
        return f"{where}: {self.rule} {shown} breaks the limit {self.limit}"


@dataclass(frozen=True, slots=True)
class PositionHealth:
    symbol: str
    side: PositionSide
    notional: Decimal
    mark: Decimal
    liquidation: Liquidation
    distance: Decimal | None  # fraction of the mark; None: no liquidation price
    floor: Decimal
    margin_ratio: Decimal | None  # isolated: its own; cross: the cross pool's; None: unbounded


@dataclass(frozen=True, slots=True)
class MarginHealth:
    positions: tuple[PositionHealth, ...]
    leverage: Decimal | None  # None: equity <= 0 with positions open
    margin_ratio: Decimal | None
    breaches: tuple[Breach, ...]

    @property
    def ok(self) -> bool:
        return not self.breaches

    def position(self, symbol: str, side: PositionSide) -> PositionHealth:
        return next(h for h in self.positions if h.symbol == symbol and h.side is side)


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    if whole > 0:
        return part / whole
    return ZERO if part == 0 else None


def health(
    positions: Sequence[Position],
    account: FuturesAccount,
    moves: Mapping[str, Decimal],
    limits: MarginLimits,
) -> MarginHealth:
    """Each position's liquidation, distance, floor and margin ratio; the account's leverage
    (sum |notional| / equity) and margin ratio (sum of maintenance / equity); and the breaches:
    distance < floor, margin ratio > max_margin_ratio (an isolated position's own; the cross
    positions' together, over the equity less isolated collateral), leverage > max_leverage."""
    breaches: list[Breach] = []
    cross_mm = _total(maintenance(p) for p in positions if p.margin_mode is MarginMode.CROSS)
    cross_ratio = _ratio(cross_mm, account.equity - _isolated(positions))
    rows = []
    for p in positions:
        liq = liquidation_price(p, account, positions)
        floor = limits.floor(moves.get(p.symbol, ZERO))
        q, m, _ = _model(p, account, positions)
        dist = _distance(p, liq.price, q - m)
        if p.margin_mode is MarginMode.ISOLATED:
            ratio = _ratio(maintenance(p), _collateral(p))
            if ratio is None or ratio > limits.max_margin_ratio:
                breaches.append(Breach(Rule.MARGIN_RATIO, p.symbol, ratio, limits.max_margin_ratio))
        else:
            ratio = cross_ratio
        if dist is not None and dist < floor:
            breaches.append(Breach(Rule.DISTANCE, p.symbol, dist, floor))
        rows.append(
            PositionHealth(p.symbol, p.side, p.notional, p.mark_price, liq, dist, floor, ratio)
        )
    gross = _total(abs(p.notional) for p in positions)
    leverage = _ratio(gross, account.equity)
    if leverage is None or leverage > limits.max_leverage:
        breaches.append(Breach(Rule.LEVERAGE, None, leverage, limits.max_leverage))
    crossed = any(p.margin_mode is MarginMode.CROSS for p in positions)
    if crossed and (cross_ratio is None or cross_ratio > limits.max_margin_ratio):
        breaches.append(Breach(Rule.MARGIN_RATIO, None, cross_ratio, limits.max_margin_ratio))
    ratio_all = _ratio(_total(maintenance(p) for p in positions), account.equity)
    return MarginHealth(tuple(rows), leverage, ratio_all, tuple(breaches))


@dataclass(frozen=True, slots=True)
class MarginTopUp:
    """Margin to add to an isolated position (ccxt's `add_margin`), from the transfer."""

    symbol: str
    side: PositionSide
    amount: Decimal


@dataclass(frozen=True, slots=True)
class DeleverPlan:
    """What to do before any other trade, in order: move `transfer` of the quote from spot to
    the futures wallet, add `top_ups` to isolated positions, then send `orders` (reduce-only)."""

    transfer: Decimal
    top_ups: tuple[MarginTopUp, ...]
    orders: tuple[PerpOrder, ...]
    reasons: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return self.transfer == 0 and not self.top_ups and not self.orders


def _need(q: Decimal, m: Decimal, b: Decimal, mark: Decimal, f: Decimal) -> Decimal:
    """The balance to add so that no price within `f` of the mark liquidates the group."""
    low, high = max(ZERO, mark * (ONE - f)), mark * (ONE + f)
    return max(ZERO, -_headroom(q, m, b, mark, low), -_headroom(q, m, b, mark, high))


def _keep(q: Decimal, m: Decimal, b: Decimal, mark: Decimal, f: Decimal) -> Decimal:
    """The largest share of a cross group that keeps no liquidation within `f` (0: close)."""
    if b <= 0:
        return ZERO
    keep = ONE
    for price in (max(ZERO, mark * (ONE - f)), mark * (ONE + f)):
        g = q * (price - mark) - m * price
        if g < 0:
            keep = min(keep, b / -g)
    return keep


def _cut(p: Position, share: Decimal, market: Market) -> Position:
    """`p` with `share` of its contracts cut at the mark, rounded UP to the step (safer) and
    never past the position; maintenance and isolated collateral fall in proportion."""
    if share <= 0 or p.contracts == 0:
        return p
    amount = min(p.contracts, ceil_to_step(p.contracts * share, market.amount_step))
    amount = min(p.contracts, max(amount, ceil_to_step(market.min_amount, market.amount_step)))
    return _resize(p, p.contracts - amount)


def _resize(p: Position, contracts: Decimal) -> Position:
    scale = contracts / p.contracts if p.contracts else ZERO
    return replace(
        p,
        contracts=contracts,
        maintenance_margin=None if p.maintenance_margin is None else p.maintenance_margin * scale,
        maintenance_margin_rate=_rate(p),
        collateral=None if p.collateral is None else p.collateral * scale,
        liquidation_price=None,
        unrealized_pnl=None if p.unrealized_pnl is None else p.unrealized_pnl * scale,
    )


def delever(
    health_now: MarginHealth,
    positions: Sequence[Position],
    account: FuturesAccount,
    markets: Mapping[str, Market],
    limits: MarginLimits,
    spot_free_quote: Decimal,
    can_transfer: bool,
) -> DeleverPlan:
    """Nothing when healthy. Else, aiming at floor x (1 + restore_margin) and target_leverage:
    (1) with transfers, the quote to move to the futures wallet (at most `spot_free_quote`):
    first what the cross positions need (distance, leverage, margin ratio), then each isolated
    position's top-up, only if it can be paid in full; (2) what that leaves unfixed, cut with
    reduce-only orders, least distance first: a cross symbol by the share that restores its
    distance (cut amounts rounded up to the step), an isolated position closed; then cuts in the
    same order until leverage and the cross margin ratio are back. Never an order that grows a
    position; fills are taken at the mark, fees apart (`restore_margin` covers them)."""
    if health_now.ok:
        return DeleverPlan(ZERO, (), (), ())
    if missing := sorted({p.symbol for p in positions} - set(markets)):
        raise DomainError(f"delever: no market for {', '.join(missing)}")
    floors = {h.symbol: h.floor for h in health_now.positions}
    aim = ONE + limits.restore_margin
    reasons = [b.describe() for b in health_now.breaches]
    dist = {(h.symbol, h.side): h.distance for h in health_now.positions}
    keys = sorted(dist, key=lambda k: (dist[k] is None, dist[k] or ZERO))
    now = {(p.symbol, p.side): p for p in positions}
    # What the exchange's liquidation prices take off each group's balance, kept throughout.
    offsets = {
        k: _model(p, account, positions)[2] - _balance(p, account, positions)[2]
        for k, p in now.items()
    }

    def live() -> list[Position]:
        return [now[k] for k in keys if now[k].contracts > 0]

    def state(k: tuple[str, PositionSide], acc: FuturesAccount) -> tuple[Decimal, ...]:
        q, m, b = _model(now[k], acc, live())
        return q, m, b - offsets[k], now[k].mark_price, floors[k[0]] * aim

    def cross_ratio(acc: FuturesAccount) -> tuple[Decimal, Decimal]:
        cross = _total(maintenance(p) for p in live() if p.margin_mode is MarginMode.CROSS)
        return cross, acc.equity - _isolated(live())

    budget = max(ZERO, spot_free_quote) if can_transfer else ZERO
    mm, pool = cross_ratio(account)
    wants = [_total(abs(p.notional) for p in positions) / limits.target_leverage]
    wants[0] -= account.equity
    wants.append(mm * aim / limits.max_margin_ratio - pool)
    isolated = [k for k in keys if now[k].margin_mode is MarginMode.ISOLATED]
    wants += [_need(*state(k, account)) for k in keys if k not in isolated]
    transfer = min(budget, max(ZERO, *wants))
    top_ups = []
    for k in isolated:
        q, m, b, mark, f = state(k, account)
        ratio_need = maintenance(now[k]) * aim / limits.max_margin_ratio
        need = max(_need(q, m, b, mark, f), ratio_need - b)
        if ZERO < need <= budget - transfer:
            transfer += need
            top_ups.append(MarginTopUp(k[0], k[1], need))
            now[k] = replace(now[k], collateral=b + need, liquidation_price=None)
            offsets[k] = ZERO
    if transfer > 0:
        reasons.append(f"move {transfer} {account.asset} from spot to the futures wallet")
    acc = replace(account, wallet=account.wallet + transfer, equity=account.equity + transfer)
    for k in keys:  # distance, least first
        if now[k].contracts == 0:
            continue
        q, m, b, mark, f = state(k, acc)
        if _need(q, m, b, mark, floors[k[0]]) == 0 and k not in isolated:
            continue  # acts below the floor only, then aims at floor x (1 + restore_margin)
        if k in isolated:
            ratio = _ratio(maintenance(now[k]), b)
            if (
                _need(q, m, b, mark, f / aim) > 0
                or ratio is None
                or ratio > limits.max_margin_ratio
            ):
                now[k] = _resize(now[k], ZERO)
                reasons.append(f"close {k[0]} {k[1]}: its isolated margin cannot be restored")
            continue
        share = ONE - _keep(q, m, b, mark, f)
        if share > 0:
            for o in _group(now[k], live()):
                now[o.symbol, o.side] = _cut(o, share, markets[o.symbol])
            reasons.append(f"cut {k[0]} by {share:.2%} to keep liquidation {f:.2%} away")
    for what in ("leverage", "margin ratio"):  # then leverage, then the cross margin ratio
        for k in keys:  # a cross symbol's sides are cut together, as for the distance
            group = _group(now[k], live()) if now[k].contracts > 0 else []
            if what == "leverage":
                total = _total(abs(o.notional) for o in live())
                size = _total(abs(o.notional) for o in group)
                limit = limits.target_leverage * acc.equity
            else:
                total, pool = cross_ratio(acc)
                size = _total(maintenance(o) for o in group) if k not in isolated else ZERO
                limit = limits.max_margin_ratio / aim * pool
            if total <= limit:
                break
            if size > 0:
                for o in group:
                    now[o.symbol, o.side] = _cut(
                        o, min(ONE, (total - limit) / size), markets[o.symbol]
                    )
                reasons.append(f"cut {k[0]} to bring the {what} down")
    orders = []
    for p in positions:
        cut = p.contracts - now[p.symbol, p.side].contracts
        if cut > 0:
            side = Side.SELL if p.side is PositionSide.LONG else Side.BUY
            orders.append(PerpOrder(p.symbol, side, cut, True, p.side if p.hedged else None))
    return DeleverPlan(transfer, tuple(top_ups), tuple(orders), tuple(reasons))


def opening_allowed(
    symbol: str,
    desired_base: Decimal,
    positions: Sequence[Position],
    account: FuturesAccount,
    market: Market,
    mark: Decimal,
    moves: Mapping[str, Decimal],
    limits: MarginLimits,
) -> list[str]:
    """Why growing `symbol` to `desired_base` (signed, net) may not be done: it would leave the
    account above max_leverage, a position nearer liquidation than its floor, or a margin ratio
    above the limit, with the symbol held as one position of that size at `mark` (isolated: its
    collateral grows by the added notional / its leverage). Empty: allowed. Never refuses a
    change that does not grow |net|: reducing is always allowed."""
    mine = [p for p in positions if p.symbol == symbol]
    net = _total(p.base_amount for p in mine)
    if abs(desired_base) <= abs(net) and desired_base * net >= 0:
        return []
    like = mine[0] if mine else None
    mode = like.margin_mode if like else MarginMode.CROSS
    lev = like.leverage if like else None
    added = (abs(desired_base) - abs(net)) * mark
    coll = _total(_collateral(p) for p in mine) + (added / lev if lev else ZERO)
    side = PositionSide.LONG if desired_base > 0 else PositionSide.SHORT
    size = abs(desired_base) / market.contract_size
    after = [p for p in positions if p.symbol != symbol]
    after.append(
        Position(
            symbol,
            market.base,
            side,
            size,
            market.contract_size,
            mark,
            mark,
            mode,
            leverage=lev,
            collateral=coll if mode is MarginMode.ISOLATED else None,
            maintenance_margin_rate=_rate(like) if like else None,
        )
    )
    return [b.describe() for b in health(after, account, moves, limits).breaches]


def funding_totals(payments: Iterable[FundingPayment]) -> dict[str, Decimal]:
    """Funding per symbol: received +, paid -."""
    totals: dict[str, Decimal] = {}
    for p in payments:
        totals[p.symbol] = totals.get(p.symbol, ZERO) + p.amount
    return totals
