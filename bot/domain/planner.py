"""The rebalancing planner: from a valued portfolio and the markets, the trades (legs) to make.

Steps, each a function below:
1. desired values: every asset at its target (default), or out-of-band assets moved just inside the
   nearest band edge (`band_edge`), the quote absorbing the difference;
2. routing: value flows from assets in excess to assets lacking value. A direct market between a
   seller and a buyer (ETH/BTC) is used when its half-spread + taker fee is lower than the two hops
   through the quote; everything else goes through the cheapest chain to the quote (bridges such as
   X/BTC then BTC/USDT). Flows on the same market are netted into one leg;
3. ordering: a leg that spends an asset runs after every leg that delivers it (sells before buys);
4. sizing: in that order, on projected balances: value -> base amount, capped by what is held (the
   quote reserve and unmanaged assets are never spent), buys budgeted at the ask plus the taker fee,
   rounded down to the step; a leg below the market's minimums is dust, reported and skipped.

The plan is deterministic: the same inputs give the same legs in the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from bot.domain.cashflow import RebalanceMode, apply_mode, still_out
from bot.domain.market import ONE, ZERO, Market, OrderBook, Side, bps
from bot.domain.portfolio import Valuation
from bot.domain.positions import PositionSide
from bot.errors import UnknownFeeError

# In band_edge mode an asset is moved this fraction of its half band width inside the edge, so fees
# and the next tick do not put it straight back outside.
EDGE_MARGIN = Decimal("0.25")


class RebalanceTo(StrEnum):
    TARGET = "target"
    BAND_EDGE = "band_edge"


@dataclass(frozen=True, slots=True)
class PlannerPolicy:
    rebalance_to: RebalanceTo = RebalanceTo.TARGET
    direct_pairs: bool = True
    force: bool = False  # a scheduled rebalance: to target even when every asset is in band
    mode: RebalanceMode = RebalanceMode.FULL  # buy-only / sell-only: one way only (cashflow.py)


@dataclass(frozen=True, slots=True)
class Leg:
    """One trade of the plan, on one market, to be worked by the executor.

    `amount` is in base units, on the step grid; `price` is the expected execution price (the touch
    when planned); `notional` is in the market's quote; `value` and `est_cost` are in the portfolio
    quote. `est_cost_bps` is half the spread plus the taker fee: what a patient sliced execution
    aims to pay at most. `take_now_bps` is the cost of one market order for the whole amount
    (walking the visible book, plus the taker fee), None when the visible book is too thin.
    """

    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    notional: Decimal
    value: Decimal
    spends: str
    receives: str
    est_cost_bps: Decimal
    est_cost: Decimal
    take_now_bps: Decimal | None
    # A perpetual's leg: it may only shrink the position (`reduce_only`), or names which of a
    # hedge-mode symbol's two positions it trades (`position_side`).
    reduce_only: bool = False
    position_side: PositionSide | None = None


@dataclass(frozen=True, slots=True)
class Dust:
    """A trade the plan wanted but the market's filters refuse: reported, never forced."""

    symbol: str
    side: Side
    amount: Decimal
    value: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    valuation: Valuation
    legs: tuple[Leg, ...]
    dust: tuple[Dust, ...]
    projected_weights: Mapping[str, Decimal]
    notes: tuple[str, ...] = field(default=())
    # Balances once every leg is done (estimated, fees counted on both sides); {} with no plan.
    balances_after: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def est_cost(self) -> Decimal:
        return sum((leg.est_cost for leg in self.legs), ZERO)

    @property
    def turnover(self) -> Decimal:
        return sum((leg.value for leg in self.legs), ZERO)

    @property
    def est_cost_bps(self) -> Decimal:
        return bps(self.est_cost, self.turnover)


@dataclass(frozen=True, slots=True)
class _Hop:
    symbol: str
    spends: str
    receives: str


def plan_rebalance(
    valuation: Valuation,
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    policy: PlannerPolicy | None = None,
) -> Plan:
    """The legs that bring every managed asset back inside its band, the way `policy.mode`
    allows (full, buy-only, sell-only: `bot.domain.cashflow`)."""
    policy = policy or PlannerPolicy()
    held = {p.asset: p.balance for p in valuation.positions}
    if valuation.total <= 0:
        return Plan(valuation, (), (), _weights(valuation, held), ("portfolio has no value",))
    if not valuation.needs_rebalance and not policy.force:
        return Plan(valuation, (), (), _weights(valuation, held), ())

    deltas, notes = _desired_deltas(valuation, policy)
    deltas, mode_notes = apply_mode(deltas, valuation, policy.mode)
    plan = plan_deltas(valuation, deltas, markets, books, policy, (*notes, *mode_notes))
    if policy.mode is not RebalanceMode.FULL:
        out = still_out(valuation, plan.projected_weights)
        if out:
            note = f"{policy.mode.value}: still out of band after the plan: {', '.join(out)}"
            plan = replace(plan, notes=(*plan.notes, note))
    return plan


def plan_deltas(
    valuation: Valuation,
    deltas: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    policy: PlannerPolicy,
    notes: tuple[str, ...] = (),
) -> Plan:
    """The legs that move `deltas` of value (+ bought, - sold, per non-quote asset, in the
    portfolio quote): routed, netted, ordered and sized. What may be spent is what the valuation
    holds: managed balances, the quote net of its reserve. Unmanaged assets are never spent,
    even when a bridge passes through them."""
    held = {p.asset: p.balance for p in valuation.positions}
    tradable = {
        s: b for s, b in books.items() if s in markets and b.mid is not None and not b.is_crossed
    }
    costs = {s: _cost_fraction(markets[s], b) for s, b in tradable.items()}

    def min_value(symbol: str) -> Decimal:
        """Smallest order `symbol` accepts, valued at mid in the portfolio quote."""
        m, mid = markets[symbol], tradable[symbol].mid
        assert mid is not None  # tradable books are two-sided
        return m.min_tradable(mid) * valuation.prices.price(m.base)

    paths = _cheapest_paths(valuation.quote, markets, costs)
    flows, route_notes, direct_used = _route(
        valuation.quote, deltas, markets, costs, paths, policy.direct_pairs, min_value
    )
    if direct_used:
        # Direct pairs are matched greedily, by saving per unit; with several of them that can
        # break netting the routes through the quote would have had: keep the cheaper routing.
        alternative, alt_notes, _ = _route(
            valuation.quote, deltas, markets, costs, paths, False, min_value
        )
        if _flow_cost(alternative, costs) < _flow_cost(flows, costs):
            flows, route_notes = alternative, alt_notes
    ordered = _order(flows, markets, valuation.quote)
    unknown = sorted({hop.symbol for hop, _ in ordered if not markets[hop.symbol].fees_known})
    if unknown:
        raise UnknownFeeError(
            f"{', '.join(unknown)}: the exchange reports no trading fee for"
            f" {'this market' if len(unknown) == 1 else 'these markets'} and the account's rates"
            " cannot be read (fetch_trading_fees); refusing to plan rather than count the fee as"
            " 0. Set exchange.fees (maker and taker) to the rates you pay."
        )
    legs, dust, after = _size(ordered, valuation, markets, tradable, held)
    return Plan(
        valuation,
        tuple(legs),
        tuple(dust),
        _weights(valuation, after),
        (*notes, *route_notes),
        after,
    )


def _flow_cost(flows: Mapping[str, Decimal], costs: Mapping[str, Decimal]) -> Decimal:
    """Estimated cost of a routing: each market's traded value times its half-spread + fee."""
    return sum((abs(v) * costs[s] for s, v in flows.items()), ZERO)


def _cost_fraction(market: Market, book: OrderBook) -> Decimal:
    half = book.half_spread_fraction()
    assert half is not None  # tradable books are two-sided
    return half + market.taker_fee


def _desired_deltas(
    valuation: Valuation, policy: PlannerPolicy
) -> tuple[dict[str, Decimal], list[str]]:
    """Value to add (+) or remove (-) per non-quote asset, in the portfolio quote."""
    total = valuation.total
    full = {p.asset: p.target * total - p.value for p in valuation.positions}
    if policy.rebalance_to is RebalanceTo.TARGET:
        return _without_quote(full, valuation.quote), []

    deltas: dict[str, Decimal] = {}
    for p in valuation.positions:
        if p.asset == valuation.quote or p.in_band:
            continue
        lo, hi = p.bounds
        margin = p.band.half_width(p.target) * EDGE_MARGIN
        aim = hi - margin if p.weight > hi else lo + margin
        deltas[p.asset] = aim * total - p.value
    quote = valuation.position(valuation.quote)
    quote_after = (quote.value - sum(deltas.values(), ZERO)) / total
    lo, hi = quote.bounds
    if lo <= quote_after <= hi:
        return deltas, []
    return _without_quote(full, valuation.quote), [
        f"band_edge: {valuation.quote} would leave its band ({quote_after:.2%});"
        " rebalancing to target instead"
    ]


def _without_quote(deltas: dict[str, Decimal], quote: str) -> dict[str, Decimal]:
    return {a: d for a, d in deltas.items() if a != quote and d != 0}


def _cheapest_paths(
    quote: str, markets: Mapping[str, Market], costs: Mapping[str, Decimal]
) -> dict[str, tuple[Decimal, tuple[_Hop, ...]]]:
    """For every asset, the cheapest chain of markets that turns it into the quote (Dijkstra)."""
    adjacency: dict[str, list[tuple[str, str]]] = {}
    for symbol in sorted(costs):
        m = markets[symbol]
        adjacency.setdefault(m.base, []).append((symbol, m.quote))
        adjacency.setdefault(m.quote, []).append((symbol, m.base))
    best: dict[str, tuple[Decimal, tuple[_Hop, ...]]] = {quote: (ZERO, ())}
    heap: list[tuple[Decimal, int, str]] = [(ZERO, 0, quote)]
    done: set[str] = set()
    while heap:
        dist, hops, asset = heapq.heappop(heap)
        if asset in done:
            continue
        done.add(asset)
        for symbol, other in adjacency.get(asset, ()):
            if other in done:
                continue
            cand = dist + costs[symbol]
            # `other` reaches the quote by spending itself on `symbol` to get `asset`.
            path = (_Hop(symbol, other, asset), *best[asset][1])
            if other not in best or cand < best[other][0]:
                best[other] = (cand, path)
                heapq.heappush(heap, (cand, hops + 1, other))
    return best


def _route(
    quote: str,
    deltas: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    costs: Mapping[str, Decimal],
    paths: Mapping[str, tuple[Decimal, tuple[_Hop, ...]]],
    direct_pairs: bool,
    min_value: Callable[[str], Decimal],
) -> tuple[dict[str, Decimal], list[str], bool]:
    """Net value flow per market, signed: > 0 sells the base, < 0 buys it (portfolio quote).

    A direct pair takes a flow only if the flow reaches the pair's minimum order (`min_value`):
    below it the pair would refuse the trade, while the two hops through the quote may not."""
    sellers = {a: -d for a, d in deltas.items() if d < 0}
    buyers = {a: d for a, d in deltas.items() if d > 0}
    flows: dict[str, Decimal] = {}
    notes: list[str] = []
    direct_used = False

    def push(hop: _Hop, value: Decimal) -> None:
        sign = 1 if markets[hop.symbol].base == hop.spends else -1
        flows[hop.symbol] = flows.get(hop.symbol, ZERO) + sign * value

    if direct_pairs:
        candidates: list[tuple[Decimal, str, str, str]] = []
        for symbol, cost in costs.items():
            m = markets[symbol]
            for seller, buyer in ((m.base, m.quote), (m.quote, m.base)):
                if seller in sellers and buyer in buyers and seller in paths and buyer in paths:
                    saving = paths[seller][0] + paths[buyer][0] - cost
                    if saving > 0:
                        candidates.append((-saving, symbol, seller, buyer))
        for _, symbol, seller, buyer in sorted(candidates):
            value = min(sellers[seller], buyers[buyer])
            if value > 0 and value >= min_value(symbol):
                push(_Hop(symbol, seller, buyer), value)
                sellers[seller] -= value
                buyers[buyer] -= value
                direct_used = True

    for asset, value in sorted(sellers.items()):
        if value <= 0:
            continue
        if asset not in paths:
            notes.append(f"{asset}: no tradable route to {quote}; not sold")
            continue
        for hop in paths[asset][1]:
            push(hop, value)
    for asset, value in sorted(buyers.items()):
        if value <= 0:
            continue
        if asset not in paths:
            notes.append(f"{asset}: no tradable route from {quote}; not bought")
            continue
        for hop in reversed(paths[asset][1]):
            push(_Hop(hop.symbol, hop.receives, hop.spends), value)
    return {s: v for s, v in flows.items() if v != 0}, notes, direct_used


def _order(
    flows: Mapping[str, Decimal], markets: Mapping[str, Market], quote: str
) -> list[tuple[_Hop, Decimal]]:
    """Legs in execution order: a leg spending an asset waits for the legs that deliver it; among
    ready legs, those spending a non-quote asset go first (sells fund buys), larger first."""
    legs: list[tuple[_Hop, Decimal]] = []
    for symbol, signed in sorted(flows.items()):
        m = markets[symbol]
        hop = _Hop(symbol, m.base, m.quote) if signed > 0 else _Hop(symbol, m.quote, m.base)
        legs.append((hop, abs(signed)))

    def key(i: int) -> tuple[bool, Decimal, str]:
        hop, value = legs[i]
        return (hop.spends == quote, -value, hop.symbol)

    incoming: dict[str, int] = {}
    spending: dict[str, list[int]] = {}
    for i, (hop, _) in enumerate(legs):
        incoming[hop.receives] = incoming.get(hop.receives, 0) + 1
        spending.setdefault(hop.spends, []).append(i)
    heap = [(key(i), i) for i, (hop, _) in enumerate(legs) if not incoming.get(hop.spends)]
    heapq.heapify(heap)
    done = [False] * len(legs)
    ordered: list[tuple[_Hop, Decimal]] = []
    while len(ordered) < len(legs):
        if not heap:  # a cycle of flows: release the first remaining leg by the same order
            i = min((j for j in range(len(legs)) if not done[j]), key=key)
            heap.append((key(i), i))
        _, i = heapq.heappop(heap)
        if done[i]:
            continue
        done[i] = True
        ordered.append(legs[i])
        receives = legs[i][0].receives
        incoming[receives] -= 1
        if incoming[receives] == 0:
            for j in spending.get(receives, ()):
                if not done[j]:
                    heapq.heappush(heap, (key(j), j))
    return ordered


def _size(
    ordered: list[tuple[_Hop, Decimal]],
    valuation: Valuation,
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    held: Mapping[str, Decimal],
) -> tuple[list[Leg], list[Dust], dict[str, Decimal]]:
    """Turn value flows into legs on projected balances; returns legs, dust, balances after."""
    price_of = valuation.prices.price
    legs: list[Leg] = []
    dust: list[Dust] = []
    balance = dict(held)
    # The legs spending one asset are scaled together to what is there once everything that
    # delivers it has been sized (a buy budget never exceeds the quote held after the sells).
    scale: dict[str, Decimal] = {}
    needs: dict[str, Decimal] = {}
    for hop, value in ordered:
        m = markets[hop.symbol]
        spend = _spend_for(m, books[hop.symbol], hop, value, price_of(m.base))
        needs[hop.spends] = needs.get(hop.spends, ZERO) + spend
    for hop, value in ordered:
        m = markets[hop.symbol]
        book = books[hop.symbol]
        side = Side.SELL if hop.spends == m.base else Side.BUY
        price = book.touch(side)
        assert price is not None  # tradable books are two-sided
        fee = m.taker_fee
        have = balance.get(hop.spends, ZERO)
        if hop.spends not in scale:
            need = needs[hop.spends]
            scale[hop.spends] = min(ONE, have / need) if need > 0 else ZERO
        value *= scale[hop.spends]
        wanted = value / price_of(m.base)
        cap = have if side is Side.SELL else have / (price * (ONE + fee))
        amount = m.round_amount(max(ZERO, min(wanted, cap)))
        reason = m.rejects(amount, price)
        if reason is not None:
            dust.append(Dust(m.symbol, side, amount, value, reason))
            continue
        notional = amount * price
        # Conservative projection: the fee is counted on both sides, whichever the exchange takes.
        if side is Side.SELL:
            balance[m.base] = have - amount
            balance[m.quote] = balance.get(m.quote, ZERO) + notional * (ONE - fee)
        else:
            balance[m.quote] = have - notional * (ONE + fee)
            balance[m.base] = balance.get(m.base, ZERO) + amount * (ONE - fee)
        leg_value = amount * price_of(m.base)
        cost_fraction = _cost_fraction(m, book)
        impact = book.impact_bps(side, amount)
        legs.append(
            Leg(
                symbol=m.symbol,
                side=side,
                amount=amount,
                price=price,
                notional=notional,
                value=leg_value,
                spends=hop.spends,
                receives=hop.receives,
                est_cost_bps=bps(cost_fraction, ONE),
                est_cost=leg_value * cost_fraction,
                take_now_bps=None if impact is None else impact + bps(fee, ONE),
            )
        )
    return legs, dust, balance


def _spend_for(
    market: Market, book: OrderBook, hop: _Hop, value: Decimal, base_price: Decimal
) -> Decimal:
    """Units of `hop.spends` a leg moving `value` needs at the touch, taker fee included."""
    amount = value / base_price
    if hop.spends == market.base:
        return amount
    ask = book.best_ask
    assert ask is not None
    return amount * ask * (ONE + market.taker_fee)


def _weights(valuation: Valuation, balances: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Weights of the managed assets, valued at mid, for the given balances."""
    values = {
        p.asset: max(ZERO, balances.get(p.asset, ZERO)) * p.price for p in valuation.positions
    }
    total = sum(values.values(), ZERO)
    return {a: (v / total if total > 0 else ZERO) for a, v in values.items()}
