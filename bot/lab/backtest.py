"""The backtest engine: one policy over a price history, the bot's own code at every decision.

Between decisions the holdings are constant, so the values and weights of a whole stretch of bars
are one numpy product; the first bar whose weights leave a band (`Band.bounds`, as floats) or at
which the policy's `Schedule.due` says yes is a decision point. There, and only there, the bar's
prices become a snapshot (one `asset/quote` market per asset, a book at the close plus and minus
the half spread) and the bot's `plan_from_snapshot` values the portfolio (`Valuation`, its bands),
decides (`needs_rebalance`, or `force` for a calendar slot) and plans the legs (desired values,
routing, netting, ordering, sizing, dust). Each leg then fills at the close with the cost model
(`bot.lab.costs`): a sell receives `amount x close x (1 - spread_impact) x (1 - fee)`, a buy pays
`amount x close x (1 + spread_impact)` and receives `amount x (1 - fee)` (fees in the asset
received, as the simulator and Binance take them).

The portfolio starts at its targets, bought at the first close without cost; the schedule counts
from the first bar, as the daemon's counts from its start; after a rebalance no decision comes
before `loop.cooldown` has passed. A decision that plans no leg (in band by the bot's exact
valuation, or only dust) is not a rebalance. The daemon polls every `loop.poll_interval`; the
backtest looks at each bar's close only.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from bot.domain.cashflow import RebalanceMode
from bot.domain.market import Level, Market, OrderBook, Side
from bot.domain.planner import PlannerPolicy
from bot.domain.portfolio import Band, BandKind, Bands, PortfolioSpec
from bot.lab.bars import History
from bot.lab.costs import CostParams, Floats, rolling_stats, trade_cost_fraction
from bot.lab.metrics import Figures, figures
from bot.lab.policies import Check, Policy
from bot.runtime.planning import plan_from_snapshot
from bot.snapshot import Snapshot

STEP = Decimal("0.00000001")  # amount step and price tick of the backtest's markets
_DEPTH = Decimal("1e15")  # one level per side, deep enough for any leg: impact is the model's
_MIN_HALF_SPREAD = 1e-9  # a zero half spread still needs a two-sided, uncrossed book
FIRST_CHUNK = 256


@dataclass(frozen=True, slots=True)
class Setup:
    """What every policy shares: the portfolio, the starting capital, costs and planner mode."""

    quote: str
    targets: Mapping[str, Decimal]  # the quote may have one
    capital: float
    costs: CostParams = field(default_factory=CostParams)
    default_band: Band = field(default_factory=lambda: Band(BandKind.ABSOLUTE, Decimal("0.05")))
    mode: RebalanceMode = RebalanceMode.FULL
    cooldown: float = 0.0  # seconds after a rebalance before the next may start (loop.cooldown)


@dataclass(frozen=True, slots=True)
class Run:
    """One policy's path: values and weights per bar (after that bar's trades), the bars it
    rebalanced at, what it traded and paid."""

    policy: Policy
    values: Floats
    weights: Floats  # bars x managed assets (the history's assets, then the quote)
    rebalances: tuple[int, ...]
    traded: float  # value traded at mid, in the quote
    fees: float
    impact: float  # half spread and square-root impact
    notes: tuple[str, ...] = field(default=())


def _bands(policy: Policy, setup: Setup) -> Bands:
    band = policy.band or setup.default_band
    overrides: dict[str, Band] = {}
    if band.kind is BandKind.RELATIVE and setup.targets.get(setup.quote, Decimal(0)) == 0:
        # A relative band around a zero target is empty: the quote's cash gets the absolute one.
        overrides[setup.quote] = Band(BandKind.ABSOLUTE, band.width)
    return Bands(band, overrides)


def _markets(history: History, costs: CostParams) -> dict[str, Market]:
    fee = Decimal(str(costs.fee))
    return {
        f"{a}/{history.quote}": Market(
            f"{a}/{history.quote}",
            a,
            history.quote,
            STEP,
            STEP,
            min_cost=Decimal(str(costs.min_notional)),
            maker_fee=fee,
            taker_fee=fee,
        )
        for a in history.assets
    }


def _dec(x: float) -> Decimal:
    return Decimal(f"{x:.15g}")


def _snapshot(
    history: History, markets: Mapping[str, Market], row: int, held: Floats, costs: CostParams
) -> Snapshot:
    hs = max(costs.half_spread, _MIN_HALF_SPREAD)
    books = {}
    for j, asset in enumerate(history.assets):
        symbol = f"{asset}/{history.quote}"
        mid = float(history.close[row, j])
        bid, ask = _dec(mid * (1 - hs)), _dec(mid * (1 + hs))
        books[symbol] = OrderBook(symbol, (Level(bid, _DEPTH),), (Level(ask, _DEPTH),))
    balances = {a: _dec(max(0.0, float(held[j]))) for j, a in enumerate(history.assets)}
    balances[history.quote] = _dec(max(0.0, float(held[-1])))
    return Snapshot(balances, markets, books)


def run_policy(history: History, setup: Setup, policy: Policy, stats: tuple[Floats, Floats]) -> Run:
    """Backtest one policy. `stats`: `rolling_stats` of the history (daily sigma, daily value)."""
    close, ts = history.close, history.timestamps
    n_bars, n = close.shape
    assets = (*history.assets, setup.quote)
    target = np.array([float(setup.targets.get(a, Decimal(0))) for a in assets])
    held = np.empty(n + 1)
    held[:n] = setup.capital * target[:n] / close[0]
    held[n] = setup.capital * target[n]
    values = np.empty(n_bars)
    weights = np.empty((n_bars, n + 1))
    bands = _bands(policy, setup)
    spec = PortfolioSpec(setup.quote, dict(setup.targets), bands)
    planner = PlannerPolicy(rebalance_to=policy.to, mode=setup.mode)
    markets = _markets(history, setup.costs)
    watch = policy.band is not None and policy.check is Check.ALWAYS
    lo = np.array(
        [float(bands.for_asset(a).bounds(setup.targets.get(a, Decimal(0)))[0]) for a in assets]
    )
    hi = np.array(
        [float(bands.for_asset(a).bounds(setup.targets.get(a, Decimal(0)))[1]) for a in assets]
    )
    seconds: list[float] = (ts / 1000).tolist()
    last_slot: float | None = seconds[0]
    due_at: int | None = None  # cached first due bar for the current `last_slot`
    rebalances: list[int] = []
    traded = fees = impact = 0.0
    notes: dict[str, int] = {}  # each planner note, its numbers blanked, and how often

    def mark(start: int, stop: int) -> Floats:
        """Values and weights of bars [start, stop) at the current holdings; the weights."""
        v = np.empty((stop - start, n + 1))
        np.multiply(close[start:stop], held[:n], out=v[:, :n])
        v[:, n] = held[n]
        total = v.sum(axis=1)
        values[start:stop] = total
        with np.errstate(invalid="ignore", divide="ignore"):
            w: Floats = v / total[:, None]
        weights[start:stop] = w
        return w

    mark(0, 1)
    start = 1
    while start < n_bars:
        if policy.schedule is not None and (due_at is None or due_at < start):
            due_at = _first_due(policy.schedule.due, last_slot, seconds, start)
        stop = n_bars if due_at is None or policy.schedule is None else due_at
        decision = stop if stop < n_bars else None
        chunk, at = FIRST_CHUNK, start
        while at < stop:  # the first bar out of band, in growing chunks
            end = min(stop, at + chunk)
            w = mark(at, end)
            if watch:
                out = np.flatnonzero(((w < lo - 1e-12) | (w > hi + 1e-12)).any(axis=1))
                if len(out):
                    decision = at + int(out[0])
                    break
            at, chunk = end, chunk * 2
        if decision is None:
            break
        if decision == stop and decision < n_bars:
            mark(decision, decision + 1)
        scheduled = policy.schedule is not None and decision == due_at
        if scheduled:
            last_slot, due_at = seconds[decision], None
        force = scheduled and policy.check is Check.ALWAYS
        snap = _snapshot(history, markets, decision, held, setup.costs)
        plan = plan_from_snapshot(spec, planner, snap, force=force)
        for note in plan.notes:
            key = re.sub(r" \(-?[0-9.]+%\)", "", note)
            notes[key] = notes.get(key, 0) + 1
        if plan.legs:
            rebalances.append(decision)
            for leg in plan.legs:
                j = history.assets.index(leg.receives if leg.side is Side.BUY else leg.spends)
                t, f, i = _fill(
                    held,
                    j,
                    leg.side,
                    float(leg.amount),
                    float(close[decision, j]),
                    float(stats[0][decision, j]),
                    float(stats[1][decision, j]),
                    setup.costs,
                )
                traded, fees, impact = traded + t, fees + f, impact + i
            mark(decision, decision + 1)
            # The daemon's cooldown: no decision before it has passed (a slot due waits for it).
            resume = bisect_left(seconds, seconds[decision] + setup.cooldown, decision + 1)
            mark(decision + 1, min(resume, n_bars))
            start = resume
        else:
            start = decision + 1
    said = tuple(f"{k} ({n} times)" if n > 1 else k for k, n in notes.items())
    return Run(policy, values, weights, tuple(rebalances), traded, fees, impact, said)


def _first_due(
    due: Callable[[float | None, float], bool], last: float | None, seconds: list[float], start: int
) -> int | None:
    for i in range(start, len(seconds)):
        if due(last, seconds[i]):
            return i
    return None


def _fill(
    held: Floats,
    j: int,
    side: Side,
    amount: float,
    mid: float,
    sigma: float,
    adv: float,
    costs: CostParams,
) -> tuple[float, float, float]:
    """Fill one leg on `held` (in place): (value at mid, fee, spread + impact), in the quote."""
    n = len(held) - 1
    if side is Side.SELL:
        amount = min(amount, held[j])
        notional = amount * mid
        fee, si = trade_cost_fraction(notional, sigma, adv, costs)
        proceeds = notional * (1 - si)
        held[j] -= amount
        held[n] += proceeds * (1 - fee)
        return notional, proceeds * fee, notional * si
    notional = amount * mid
    fee, si = trade_cost_fraction(notional, sigma, adv, costs)
    pay = notional * (1 + si)
    if pay > held[n]:  # impact beyond the planner's budget: buy what the cash pays for
        scale = max(0.0, held[n]) / pay
        amount, notional, pay = amount * scale, notional * scale, pay * scale
    held[n] -= pay
    held[j] += amount * (1 - fee)
    return notional, notional * fee, notional * si


# Worker processes get the history once (initializer), then policies one by one.
_SHARED: dict[str, object] = {}


def _init(history: History, setup: Setup, stats: tuple[Floats, Floats]) -> None:
    _SHARED.update(history=history, setup=setup, stats=stats)


def _work(policy: Policy) -> tuple[Run, Figures]:
    history, setup = _SHARED["history"], _SHARED["setup"]
    stats = _SHARED["stats"]
    assert isinstance(history, History) and isinstance(setup, Setup)
    run = run_policy(history, setup, policy, stats)  # type: ignore[arg-type]
    return run, figures(run, history, setup.targets, setup.quote)


def backtest(
    history: History, setup: Setup, policies: Sequence[Policy], workers: int = 1
) -> list[tuple[Run, Figures]]:
    """Every policy over the history, in `workers` processes (1: in this one), in order."""
    stats = rolling_stats(
        history.close, history.volume, history.bars_per_day, setup.costs.vol_window_days
    )
    if workers <= 1 or len(policies) < 2:
        _init(history, setup, stats)
        return [_work(p) for p in policies]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(history, setup, stats)) as pool:
        return list(pool.map(_work, policies))
