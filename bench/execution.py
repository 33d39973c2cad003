"""Execution quality: the bot's executor styles against strong baselines, on the simulator, in
virtual time, compared pair by pair on the same seeds.

A cell is one (scenario, trade, size). For every seed, each strategy (`bench/strategies.py`)
works the same trade on a fresh `SimExchange` built from the same scenario and seed, and one more
run with no trading of ours gives the seed's reference (`strategies.Reference`): the arrival book,
the model's true mid each second, and the book at the common horizon (the longest duration).

Per run, in bps of the arrival notional (amount x arrival mid), positive = a cost:
- IS price: the fills against the arrival mid; IS fees: the fees; IS all-in: both, plus the
  unfinished rest walked through the horizon book with the taker fee (the same book for every
  strategy of the seed: nothing is rewarded for leaving work undone, or for when it stopped).
- drift-removed: each fill against the model's true mid at its own time (the rest: against the
  true mid at the horizon), plus fees. Price drift (the random walk, jumps) cancels out; the
  spread paid or earned, the impact and the fees remain. A passive fill's adverse selection
  after the fill does not show here; it does in the IS, and in the markout:
- markout: each fill against the true mid `MARKOUT` seconds after it (the horizon at the
  latest), plus fees: the drift-removed cost with the move that follows each fill charged to it
  (informed flow that filled a resting order moves the mid against it). 'maker markout' is the
  same for the maker fills alone, in bps of their own notional.
- paired differences: strategy minus baseline, seed by seed, with a 95% t-interval.

Seeds are added in batches per cell until the 95% interval of the bot default's paired
difference to the best baseline (lowest mean all-in IS; chosen after the fact) is narrower than
`target_half_width` bps on each side, or the cap is reached (reported as a miss, with the width).
Jump cells (a scenario with a `jump` event) get, per seed, one jump of the traded market at a
random whole second in [0, horizon) in a random direction (seeded), instead of the fixed time.

Out of sample: the cells of `OVER_HTTP` (a second, differently parameterised queue book,
`config/scenarios/oos-major.toml`, and a differently built model, the zero-intelligence
order-flow book of `config/scenarios/oos-flow.toml`, whose price emerges from its order flow)
run every strategy over HTTP against sim-server's Binance front through ccxt's real `binance`
class (`strategies.Run(http=True)`); nothing was tuned on them.
"""

from __future__ import annotations

import csv
import math
import os
import random
import statistics
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from bench import strategies as st
from bench.stats import Interval, mean_interval, paired
from bot.domain.market import ONE, Side, bps
from bot.domain.slicing import ExecutionPolicy
from bot.observability import configure_logging
from bot.sim.model import EventKind
from bot.sim.scenario import EventSpec, Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "config" / "scenarios"
RESULTS = Path(__file__).resolve().parent / "results"

SOLD = "BTC/USDT"
# (name, file, trades: (symbol, side) pairs)
SCENARIOS: tuple[tuple[str, str, tuple[tuple[str, Side], ...]], ...] = (
    ("deep-calm", "deep-calm.toml", ((SOLD, Side.SELL), ("SOL/USDT", Side.BUY))),
    ("thin-volatile", "thin-volatile.toml", ((SOLD, Side.SELL), ("SOL/USDT", Side.BUY))),
    ("slow-resilience", "slow-resilience.toml", ((SOLD, Side.SELL), ("SOL/USDT", Side.BUY))),
    ("price-jump", "price-jump.toml", ((SOLD, Side.SELL), ("SOL/USDT", Side.BUY))),
    # A queue book: one-tick spread, queue positions, informed flow, fill sources.
    ("major-one-tick", "major-one-tick.toml", ((SOLD, Side.SELL),)),
    # Out of sample, over HTTP through ccxt's binance class: another queue book's parameters.
    ("oos-major", "oos-major.toml", ((SOLD, Side.SELL),)),
    # Out of sample, over HTTP, a differently built model: a zero-intelligence order-flow book
    # (`bot/sim/flowbook.py`) whose price emerges from the flow, with no fair mid to follow.
    ("oos-flow", "oos-flow.toml", (("ADA/USDT", Side.SELL),)),
)
OVER_HTTP = frozenset({"oos-major", "oos-flow"})
# books with their own background flow: their jobs start first
SLOW_FIRST = frozenset({"major-one-tick", "oos-major", "oos-flow"})
MARKOUT = 60.0  # seconds after a fill at which the markout reads the true mid
POV_SHARE = Decimal("0.10")
MAKER_CAP = 1  # the maker loop's order: at most this many top levels


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.replace(",", " ").split())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.replace(",", " ").split())


@dataclass(frozen=True, slots=True)
class Config:
    """What to run. Defaults fit `make bench` in ~15 minutes on two cores; every field can be set
    from the environment (BENCH_DURATIONS="5 15 30", BENCH_SIZES="5 20", BENCH_SEED_BATCH=8,
    BENCH_MAX_SEEDS=32, BENCH_TARGET_BPS=0.5, BENCH_STOP_METRIC=is_all|dr_all) or the command
    line."""

    durations: tuple[float, ...] = (5.0, 15.0, 30.0)  # minutes of virtual time
    sizes: tuple[int, ...] = (5, 20)  # multiples of the top-of-book depth
    batch: int = 8  # seeds added to an undecided cell at a time
    max_seeds: int = 32  # the cap per cell (BENCH_MAX_SEEDS=64: ~twice the time)
    target_half_width: float = 0.5  # bps
    # the interval the stop rule watches: "is_all" (all-in IS) or "dr_all" (drift-removed)
    stop_metric: str = "is_all"
    scenarios: tuple[str, ...] = tuple(n for n, _, _ in SCENARIOS)

    @classmethod
    def from_env(cls, quick: bool = False) -> Config:
        base = QUICK if quick else cls()
        env = os.environ
        return replace(
            base,
            durations=_floats(env["BENCH_DURATIONS"])
            if "BENCH_DURATIONS" in env
            else base.durations,
            sizes=_ints(env["BENCH_SIZES"]) if "BENCH_SIZES" in env else base.sizes,
            batch=int(env.get("BENCH_SEED_BATCH", base.batch)),
            max_seeds=int(env.get("BENCH_MAX_SEEDS", base.max_seeds)),
            target_half_width=float(env.get("BENCH_TARGET_BPS", base.target_half_width)),
            stop_metric=env.get("BENCH_STOP_METRIC", base.stop_metric),
        )

    @property
    def horizon(self) -> float:
        """Seconds: the longest duration, where every unfinished rest is valued."""
        return max(self.durations) * 60

    def strategies(self) -> tuple[str, ...]:
        return (*self.baselines(), *self.bot_styles())

    def baselines(self) -> tuple[str, ...]:
        out = ["market"]
        pov_name = f"pov{int(POV_SHARE * 100)}"
        for d in self.durations:
            out += [f"{kind}/{_m(d)}" for kind in ("twap-touch", "twap-market", pov_name, "maker")]
        return tuple(out)

    def bot_styles(self) -> tuple[str, ...]:
        return tuple(f"bot-{s.value}/{_m(d)}" for s in st.BOT_STYLES for d in self.durations)

    @property
    def default(self) -> str:
        """The bot as configured by default: its default style and leg deadline (else the
        longest duration)."""
        policy = ExecutionPolicy()
        minutes = policy.leg_deadline / 60
        d = minutes if minutes in self.durations else max(self.durations)
        return f"bot-{policy.style.value}/{_m(d)}"


QUICK = Config(durations=(5.0, 15.0), sizes=(20,), batch=4, max_seeds=8)


def _m(minutes: float) -> str:
    return f"{minutes:g}m"


def strategy(name: str, top: Decimal) -> st.Strategy:
    """The strategy called `name` (see `Config.strategies`)."""
    if name == "market":
        return st.market_order
    kind, _, minutes = name.partition("/")
    duration = float(minutes.removesuffix("m")) * 60
    if kind.startswith("bot-"):
        style = next(s for s in st.BOT_STYLES if s.value == kind.removeprefix("bot-"))
        return st.bot(style, duration)
    if kind == "twap-touch":
        return st.twap(duration, touch=True)
    if kind == "twap-market":
        return st.twap(duration, touch=False)
    if kind.startswith("pov"):
        return st.pov(duration, Decimal(kind.removeprefix("pov")) / 100)
    if kind == "maker":
        return st.maker_loop(duration, top * MAKER_CAP)
    raise ValueError(f"unknown strategy {name}")


# ---- cells and jobs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    scenario: str
    symbol: str
    side: Side
    size: int

    def __str__(self) -> str:
        http = " (HTTP)" if self.scenario in OVER_HTTP else ""
        return f"{self.scenario} {self.side.value} {self.symbol} {self.size}x{http}"


@dataclass(frozen=True, slots=True)
class Job:
    cell: Cell
    seed: int
    config: Config


def _scenario(name: str) -> Scenario:
    file = next(f for n, f, _ in SCENARIOS if n == name)
    return load_scenario(SCENARIO_DIR / file)


def cells(config: Config) -> list[Cell]:
    return [
        Cell(name, symbol, side, size)
        for name, _, trades in SCENARIOS
        if name in config.scenarios
        for symbol, side in trades
        # over HTTP (slower): the largest size only
        for size in (config.sizes if name not in OVER_HTTP else (max(config.sizes),))
    ]


def has_jumps(scenario: Scenario) -> bool:
    return any(e.kind is EventKind.JUMP for e in scenario.events)


def random_jump(scenario: Scenario, symbol: str, seed: int, horizon: float) -> Scenario:
    """The scenario with its jumps of `symbol` replaced by one jump at a random whole second in
    [0, horizon) in a random direction, as large as the scenario's largest jump (seeded)."""
    jumps = [e for e in scenario.events if e.kind is EventKind.JUMP]
    if not jumps:
        return scenario
    size = max(abs(e.size) for e in jumps)
    rng = random.Random(f"{seed}/jump/{symbol}")
    at = float(rng.randrange(int(horizon)))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    kept = [e for e in scenario.events if not (e.kind is EventKind.JUMP and e.symbol == symbol)]
    jump = EventSpec(kind=EventKind.JUMP, at=at, size=sign * size, symbol=symbol)
    return scenario.model_copy(update={"events": [*kept, jump]})


def setup(cell: Cell, seed: int, horizon: float) -> tuple[Scenario, st.Trade]:
    scenario = _scenario(cell.scenario)
    spec = scenario.markets[cell.symbol]
    market = spec.to_market(cell.symbol)
    top = market.round_amount(spec.top_depth * Decimal(repr(spec.regime.depth_factor)))
    amount = market.round_amount(top * cell.size)
    balances = {market.quote: Decimal(10) ** 12, market.base: amount * 2}
    scenario = random_jump(scenario, cell.symbol, seed, horizon)
    scenario = scenario.model_copy(update={"seed": seed, "balances": balances})
    return scenario, st.Trade(cell.symbol, cell.side, amount, top)


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One strategy on one seed, in bps of the arrival notional (positive = cost)."""

    is_price: float
    is_fees: float
    is_all: float
    dr_all: float  # drift-removed, fees included
    mo_all: float  # markout: fills against the true mid MARKOUT s later, fees included
    maker_markout: float  # the maker fills' markout, bps of their notional (nan: none)
    own_pct: float  # share of the amount the strategy filled itself (the rest: valued)
    maker_pct: float  # share of the amount filled as a maker
    trade_pct: float  # share of the amount filled by background market orders reaching us
    completion: float  # seconds to the last fill
    requests: int
    children: int
    note: str


@dataclass(frozen=True, slots=True)
class SeedResult:
    cell: Cell
    seed: int
    taker_ref: float  # half the arrival spread + the taker fee, bps
    maker_ref: float  # the maker fee - half the arrival spread, bps
    runs: dict[str, RunFigures]
    seconds: float  # CPU-side wall time of this job


def measure(o: st.Outcome, trade: st.Trade, ref: st.Reference) -> RunFigures:
    """The figures of one outcome against the seed's reference (see the module docstring)."""
    m0 = ref.arrival.mid
    assert m0 is not None
    notional = trade.amount * m0
    sign = ONE if trade.side is Side.BUY else -ONE
    price = drift_removed = markout = fees = maker = by_trades = filled = Decimal(0)
    maker_mo = maker_notional = Decimal(0)
    last = 0.0
    for f in o.fills:
        price += sign * f.qty * (f.price - m0)
        drift_removed += sign * f.qty * (f.price - ref.true_mid_at(f.t))
        later = sign * f.qty * (f.price - ref.true_mid_at(f.t + MARKOUT))
        markout += later
        fees += f.fee
        filled += f.qty
        maker += f.qty if f.maker else 0
        if f.maker:
            maker_mo += later + f.fee
            maker_notional += f.qty * f.price
        by_trades += f.qty if f.source == "trade" else 0
        last = max(last, f.t)
    note = o.note
    rest = trade.amount - filled
    if rest > 0:
        qty, cost = st.walk(ref.horizon_book, trade.side, rest)
        price += sign * (cost - qty * m0)
        drift_removed += sign * (cost - qty * ref.horizon_true_mid)
        markout += sign * (cost - qty * ref.horizon_true_mid)
        fees += cost * ref.taker_fee
        if qty < rest:
            note = "; ".join(x for x in (note, f"{rest - qty} beyond the horizon book") if x)

    def b(x: Decimal) -> float:
        return float(bps(x, notional))

    return RunFigures(
        is_price=b(price),
        is_fees=b(fees),
        is_all=b(price + fees),
        dr_all=b(drift_removed + fees),
        mo_all=b(markout + fees),
        maker_markout=float(bps(maker_mo, maker_notional)) if maker_notional else math.nan,
        own_pct=float(filled / trade.amount * 100),
        maker_pct=float(maker / trade.amount * 100),
        trade_pct=float(by_trades / trade.amount * 100),
        completion=last,
        requests=o.requests,
        children=o.children,
        note=note,
    )


def run_job(job: Job) -> SeedResult:
    """Every strategy on one (cell, seed), and the seed's reference."""
    configure_logging("error", "json")
    started = time.perf_counter()
    config = job.config
    scenario, trade = setup(job.cell, job.seed, config.horizon)
    ref = st.reference(scenario, trade, config.horizon)
    runs = {}
    http = job.cell.scenario in OVER_HTTP
    for name in config.strategies():
        outcome = st.run_sync(scenario, trade, name, strategy(name, trade.top_depth), http)
        runs[name] = measure(outcome, trade, ref)
    half = ref.arrival.half_spread_fraction()
    assert half is not None
    return SeedResult(
        cell=job.cell,
        seed=job.seed,
        taker_ref=float(bps(half + ref.taker_fee, ONE)),
        maker_ref=float(bps(ref.maker_fee - half, ONE)),
        runs=runs,
        seconds=time.perf_counter() - started,
    )


# ---- seeds in batches until the interval is narrow enough ----------------------------------


@dataclass
class CellState:
    cell: Cell
    base_seed: int
    results: list[SeedResult] = field(default_factory=list)
    status: str = ""

    @property
    def seeds(self) -> int:
        return len(self.results)

    def values(self, strategy: str, metric: str = "is_all") -> list[float]:
        ordered = sorted(self.results, key=lambda r: r.seed)
        return [float(getattr(r.runs[strategy], metric)) for r in ordered]

    def best_baseline(self, config: Config, metric: str = "is_all") -> str:
        return min(config.baselines(), key=lambda s: statistics.fmean(self.values(s, metric)))

    def headline(self, config: Config, metric: str = "is_all") -> Interval:
        """The bot default minus the best baseline (by all-in IS), on `metric`."""
        best = self.best_baseline(config)
        return paired(self.values(config.default, metric), self.values(best, metric))

    def decide(self, config: Config) -> bool:
        """True when this cell needs no more seeds (and say why in `status`)."""
        if self.seeds < 2:
            return False
        half = self.headline(config, config.stop_metric).half
        what = "" if config.stop_metric == "is_all" else f" ({config.stop_metric})"
        if half < config.target_half_width:
            self.status = (
                f"converged: half-width{what} {half:.2f} < {config.target_half_width} bps"
                f" after {self.seeds} seeds"
            )
            return True
        if self.seeds >= config.max_seeds:
            self.status = (
                f"MISSED the {config.target_half_width} bps target: cap of {config.max_seeds}"
                f" seeds reached, half-width{what} {half:.2f} bps"
            )
            return True
        return False


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_all(
    config: Config, workers: int | None = None, log: bool = True
) -> tuple[list[CellState], float]:
    """Every cell in rounds of `config.batch` seeds until each is decided; (cells, seconds)."""
    started = time.perf_counter()
    states = [CellState(c, _scenario(c.scenario).seed) for c in cells(config)]
    workers = workers or min(2, available_cpus())
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        open_cells = list(states)
        round_no = 0
        while open_cells:
            round_no += 1
            todo = [
                Job(s.cell, s.base_seed + s.seeds + i, config)
                for s in open_cells
                for i in range(min(config.batch, config.max_seeds - s.seeds))
            ]
            # the slow queue- and flow-book cells first, so that the round's tail is short
            todo.sort(key=lambda j: j.cell.scenario not in SLOW_FIRST)
            done: Iterable[SeedResult] = (
                pool.map(run_job, todo, chunksize=1) if pool else map(run_job, todo)
            )
            by_cell = {s.cell: s for s in open_cells}
            for result in done:
                by_cell[result.cell].results.append(result)
            open_cells = [s for s in open_cells if not s.decide(config)]
            if log:
                print(
                    f"  round {round_no}: {len(todo)} jobs, {len(open_cells)} cells still open,"
                    f" {time.perf_counter() - started:.0f} s",
                    flush=True,
                )
    finally:
        if pool is not None:
            pool.shutdown()
    return states, time.perf_counter() - started


# ---- report ---------------------------------------------------------------------------------


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def _verdict(d: Interval) -> str:
    if not math.isfinite(d.half):
        return "too few seeds"
    if d.high < 0:
        return "bot better"
    if d.low > 0:
        return "bot worse"
    return "no difference shown"


def summary(states: Sequence[CellState], config: Config) -> list[str]:
    head = (
        f"| cell | best baseline | its IS all-in | {config.default} IS all-in"
        " | Δ all-in [95% CI] | Δ drift-removed [95% CI] | Δ markout [95% CI] | efficiency"
        " | verdict | seeds | stop |"
    )
    lines = [head, _rule(head)]
    for s in states:
        best = s.best_baseline(config)
        d = s.headline(config)
        dr = paired(s.values(config.default, "dr_all"), s.values(best, "dr_all"))
        mo = paired(s.values(config.default, "mo_all"), s.values(best, "mo_all"))
        lines.append(
            f"| {s.cell} | {best} | {mean_interval(s.values(best)).fmt('.2f')}"
            f" | {mean_interval(s.values(config.default)).fmt('.2f')} | {_ci(d)} | {_ci(dr)}"
            f" | {_ci(mo)} | {efficiency(s, config.default):.2f} | {_verdict(d)} | {s.seeds}"
            f" | {s.status} |"
        )
    return lines


def efficiency(s: CellState, name: str) -> float:
    """How much of one market order's cost above the taker reference (half the spread + the
    taker fee: one small marketable order) the strategy saves, drift-removed, mean over seeds:
    (market - strategy) / (market - taker reference). 1: as cheap as the taker reference; more:
    cheaper (resting earned); nan when the market order costs no more than the reference."""
    market = _mean(s.values("market", "dr_all"))
    taker = _mean([r.taker_ref for r in s.results])
    if market - taker <= 1e-9:
        return math.nan
    return (market - _mean(s.values(name, "dr_all"))) / (market - taker)


def _finite(xs: Sequence[float]) -> float:
    kept = [x for x in xs if math.isfinite(x)]
    return statistics.fmean(kept) if kept else math.nan


def _fmt(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "–"


def _per_child(runs: Sequence[RunFigures]) -> str:
    """API requests per child order (from the first order decision on), over the seeds."""
    children = sum(r.children for r in runs)
    return f"{sum(r.requests for r in runs) / children:.2f}" if children else "–"


def _ci(d: Interval) -> str:
    if not math.isfinite(d.half):
        return f"{d.mean:+.2f} [–]"
    return f"{d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"


def cell_table(s: CellState, config: Config) -> list[str]:
    best = s.best_baseline(config)
    taker = _mean([r.taker_ref for r in s.results])
    maker = _mean([r.maker_ref for r in s.results])
    lines = [
        f"#### {s.cell}",
        "",
        f"{s.seeds} seeds ({s.status}). References: taker {taker:.2f} bps (half the arrival"
        f" spread + taker fee), maker {maker:.2f} bps (maker fee - half the arrival spread)."
        f" Best baseline: {best}.",
        "",
    ]
    head = (
        "| strategy | IS all-in ± CI | IS price | IS fees | drift-removed | markout"
        " | Δ vs best [95% CI] | Δ drift-removed [95% CI] | own fills % | maker %"
        " | maker markout | by bg trades % | last fill s | requests | req./child | notes |"
    )
    lines += [head, _rule(head)]
    best_all, best_dr = s.values(best), s.values(best, "dr_all")
    for name in config.strategies():
        runs = [r.runs[name] for r in s.results]
        is_all = s.values(name)
        d = paired(is_all, best_all) if name != best else None
        dr = paired(s.values(name, "dr_all"), best_dr) if name != best else None
        notes = sorted({r.note for r in runs if r.note})
        note = "; ".join(notes)
        if len(note) > 90:
            note = note[:87] + "..."
        mark = " (default)" if name == config.default else (" (best)" if name == best else "")
        lines.append(
            f"| {name}{mark} | {mean_interval(is_all).fmt('.2f')}"
            f" | {_mean([r.is_price for r in runs]):.2f} | {_mean([r.is_fees for r in runs]):.2f}"
            f" | {_mean([r.dr_all for r in runs]):.2f} | {_mean([r.mo_all for r in runs]):.2f}"
            f" | {_ci(d) if d else '–'} | {_ci(dr) if dr else '–'}"
            f" | {_mean([r.own_pct for r in runs]):.1f} | {_mean([r.maker_pct for r in runs]):.1f}"
            f" | {_fmt(_finite([r.maker_markout for r in runs]))}"
            f" | {_mean([r.trade_pct for r in runs]):.1f}"
            f" | {_mean([r.completion for r in runs]):.0f}"
            f" | {_mean([float(r.requests) for r in runs]):.0f}"
            f" | {_per_child(runs)} | {note} |"
        )
    return lines


def _rule(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)


def header(config: Config, states: Sequence[CellState], elapsed: float, workers: int) -> list[str]:
    seeds = sum(s.seeds for s in states)
    cpu = sum(r.seconds for s in states for r in s.results)
    return [
        "## Execution quality (simulator, virtual time)",
        "",
        f"{len(states)} cells, {seeds} (cell, seed) jobs, {len(config.strategies())} strategies"
        f" each, {elapsed:.0f} s wall ({cpu:.0f} s in the workers, {workers} processes).",
        f"Durations {', '.join(_m(d) for d in config.durations)}; common horizon"
        f" {_m(config.horizon / 60)}; sizes {', '.join(f'{x}x' for x in config.sizes)} the"
        f" top-of-book depth; seeds in batches of {config.batch} until the 95% interval of"
        f" {config.default} minus the best baseline is within ±{config.target_half_width} bps,"
        f" at most {config.max_seeds} per cell.",
        "",
        "How to read: every figure is in bps of the arrival notional (amount x arrival mid),"
        " positive = a cost. IS all-in = price + fees, the unfinished rest walked through the"
        " book at the common horizon (the same book for every strategy of a seed, with the"
        " taker fee). drift-removed: each fill against the model's true mid at its time (the"
        " simulator's `MatchingEngine.true_mid`), plus fees: what the strategy paid for"
        " liquidity, without the market's moves. markout: the same against the true mid"
        f" {MARKOUT:.0f} s after each fill (the move that follows a fill, adverse selection,"
        " charged to it); maker markout: the maker fills alone, bps of their notional."
        " req./child: API requests per child order. efficiency (summary): (market order -"
        " default) / (market order - taker reference), drift-removed: the share of one market"
        " order's cost above a small taker's that the default saves (1 = as cheap as the taker"
        " reference). Δ: the strategy minus the best baseline, seed by"
        " seed (same scenario seed), mean and 95% t-interval; negative = cheaper than the best"
        " baseline. The best baseline is the one with the lowest mean all-in IS in the cell,"
        " picked after the fact (which flatters the baseline a little). 'own fills': the share"
        " the strategy traded itself before stopping; 'maker': filled resting; 'by bg trades':"
        " filled by background market orders reaching our resting order (the rest of the maker"
        " share: the book moving through our price).",
        f"Baselines (duration fixed in advance, catch-up: the rest in one market order at the"
        f" end): twap-touch (IOC at the best opposite price every {st.INTERVAL:.0f} s toward the"
        f" straight-line schedule), twap-market (market-order slices), pov{int(POV_SHARE * 100)}"
        f" ({POV_SHARE * 100:.0f}% of the background volume: the tape of a queue or flow"
        f" book, the regime's expected rate on a profile book), maker (post-only at our best price, at most"
        f" {MAKER_CAP}x top depth, re-placed every {st.INTERVAL:.0f} s), market (one market order)."
        " The bot: its Executor and Gateway, default ExecutionPolicy with the style and"
        " leg_deadline = duration; no catch-up (what it gives up is valued at the horizon).",
        "Jump cells (price-jump): one jump of the traded market per seed, at a random second"
        " before the horizon, random direction, the size of the scenario's largest jump.",
        "Out of sample (HTTP): oos-major, a second, differently parameterised queue book"
        " (config/scenarios/oos-major.toml), and oos-flow, a differently built model: a"
        " zero-intelligence order-flow book whose price emerges from its flow, the true mid being"
        " the background book's mid (config/scenarios/oos-flow.toml); both served by sim-server's"
        " Binance front in virtual time; every strategy, the bot's Gateway included, trades them"
        " through ccxt's binance class.",
        "",
    ]


def report(states: Sequence[CellState], config: Config, head: Sequence[str]) -> str:
    lines = [*head, "### Summary: the bot's default against the best baseline", ""]
    lines += summary(states, config)
    lines += ["", "### Per cell", ""]
    for s in states:
        lines += [*cell_table(s, config), ""]
    return "\n".join(lines)


def write_pairs(states: Sequence[CellState], config: Config, path: Path) -> None:
    """Every strategy minus every baseline, per cell: mean, 95% interval, n (CSV)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell", "strategy", "baseline", "metric", "mean", "low", "high", "n"])
        for s in states:
            for name in config.strategies():
                for base in config.baselines():
                    if base == name:
                        continue
                    for metric in ("is_all", "dr_all", "mo_all"):
                        d = paired(s.values(name, metric), s.values(base, metric))
                        row = [str(s.cell), name, base, metric, f"{d.mean:.4f}"]
                        w.writerow([*row, f"{d.low:.4f}", f"{d.high:.4f}", d.n])


def chart(states: Sequence[CellState], config: Config, path: Path) -> str:
    """Paired differences (all-in IS, strategy minus the best baseline) with 95% intervals,
    one panel per cell; returns what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart (pip install 'matplotlib>=3.8,<4')"
    cols = 3
    rows = math.ceil(len(states) / cols)
    names = config.strategies()
    fig, axes = plt.subplots(
        rows, cols, figsize=(6.2 * cols, 0.22 * len(names) * rows + 1.5), squeeze=False
    )
    for ax, s in zip(axes.flat, states, strict=False):
        best = s.best_baseline(config)
        ys, xs, errs, colours = [], [], [], []
        for i, name in enumerate(names):
            if name == best:
                continue
            d = paired(s.values(name), s.values(best))
            ys.append(i)
            xs.append(d.mean)
            errs.append(d.half if math.isfinite(d.half) else 0.0)
            colours.append(
                "tab:red"
                if name == config.default
                else ("tab:blue" if name.startswith("bot-") else "tab:gray")
            )
        for y, x, e, c in zip(ys, xs, errs, colours, strict=True):
            ax.errorbar(x, y, xerr=e, fmt="o", ms=3, color=c, capsize=2, lw=1)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(range(len(names)), [n + (" *" if n == best else "") for n in names])
        ax.tick_params(axis="y", labelsize=6)
        ax.invert_yaxis()
        ax.set_xscale("symlog", linthresh=2.0)
        ax.set_title(f"{s.cell} (n={s.seeds})", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(states) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("Δ all-in IS vs best baseline (*), bps (symlog)", fontsize=8)
    fig.suptitle(
        "Paired differences to the best baseline, 95% intervals (red: the bot's default;"
        " blue: other bot styles; grey: baselines). Left of 0 = cheaper."
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"chart written to {path.relative_to(ROOT)}"
