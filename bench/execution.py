"""Execution quality: the bot's executor against naive strategies, on the simulator, in virtual time.

For every scenario, trade and size, each strategy works the same trade on a fresh `SimExchange`
built from the same scenario and seed (see `bench/strategies.py`); this is repeated over
`SEEDS` seeds and the figures are averaged. Trades are single legs: sell BTC/USDT, and buy on
another market, from 1x to 50x the book's nominal top-level quantity.

Shortfall is in bps against the arrival mid, positive = a cost. `filled` figures judge what was
filled; `all-in` completes the unfilled rest at the end by walking the book as it is then (plus the
taker fee), so a strategy that leaves half its trade undone is not rewarded for it. Ratios and
efficiency use all-in totals. The bound is half the arrival spread plus the taker fee: a trade
that always finds a fully resilient book at the touch.

Note: the same seed gives each strategy the same market in law, not the same path: the
simulator draws its random walk per call interval, so strategies that call at different times see
different paths. Averaging over seeds is what makes the comparison fair; `sd` shows the spread.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bench.strategies import (
    BOT_STYLES,
    Outcome,
    Trade,
    bot,
    maker_loop,
    market_order,
    run_sync,
    shortfall_bps,
    twap,
)
from bot.domain.market import Side, bps
from bot.domain.slicing import ExecutionPolicy
from bot.observability import configure_logging
from bot.sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "config" / "scenarios"
RESULTS = Path(__file__).resolve().parent / "results"

# (name, file, market bought); every scenario also sells BTC/USDT.
SCENARIOS = (
    ("deep-calm", "deep-calm.toml", "SOL/USDT"),
    ("thin-volatile", "thin-volatile.toml", "SOL/USDT"),
    ("slow-resilience", "slow-resilience.toml", "SOL/USDT"),
    ("price-jump", "price-jump.toml", "SOL/USDT"),
    ("ten-assets", "ten-assets.toml", "AVAX/USDT"),
)
SOLD = "BTC/USDT"
SIZES = (1, 5, 10, 20, 50)  # multiples of the top-of-book depth
SEEDS = 12  # runs per cell, seeds scenario.seed + 0 .. SEEDS-1
RESILIENT_HALF_LIFE = 60.0  # seconds: books that refill faster count as resilient
INTERVAL = 10.0  # TWAP and maker loop pace: the executor's default child_timeout
DEFAULT = f"bot-{ExecutionPolicy().style.value}"
STRATEGIES = (*(f"bot-{s.value}" for s in BOT_STYLES), "market", "twap", "maker")


def deadline_for(size: int) -> float:
    """A leg deadline adequate for the size: 30 s per top-of-book depth, at least 5 minutes."""
    return max(300.0, 30.0 * size)


@dataclass(frozen=True, slots=True)
class Job:
    scenario: str
    symbol: str
    side: Side
    size: int
    seed: int


def _scenario(name: str) -> Scenario:
    file = next(f for n, f, _ in SCENARIOS if n == name)
    return load_scenario(SCENARIO_DIR / file)


def is_resilient(scenario: Scenario) -> bool:
    """Every book refills within a minute and no shock is scheduled."""
    slow = any(
        m.regime.resilience_half_life > RESILIENT_HALF_LIFE for m in scenario.markets.values()
    )
    return not slow and not scenario.events


def jobs(seeds: int = SEEDS) -> list[Job]:
    out = []
    for name, _, bought in SCENARIOS:
        base_seed = _scenario(name).seed
        for symbol, side in ((SOLD, Side.SELL), (bought, Side.BUY)):
            for size in SIZES:
                for i in range(seeds):
                    out.append(Job(name, symbol, side, size, base_seed + i))
    return out


def run_job(job: Job) -> tuple[Job, list[Outcome]]:
    """Every strategy on one (scenario, trade, size, seed); the bot's default style first, whose
    duration the TWAP copies."""
    configure_logging("error", "json")
    scenario = _scenario(job.scenario)
    spec = scenario.markets[job.symbol]
    market = spec.to_market(job.symbol)
    top = market.round_amount(spec.top_depth * Decimal(repr(spec.regime.depth_factor)))
    amount = market.round_amount(top * job.size)
    balances = {market.quote: Decimal(10) ** 12, market.base: amount * 2}
    scenario = scenario.model_copy(update={"seed": job.seed, "balances": balances})
    trade = Trade(job.symbol, job.side, amount, top, deadline_for(job.size))
    default_style = ExecutionPolicy().style
    first = run_sync(scenario, trade, DEFAULT, bot(default_style))
    outcomes = [first]
    for style in BOT_STYLES:
        if style is not default_style:
            outcomes.append(run_sync(scenario, trade, f"bot-{style.value}", bot(style)))
    outcomes.append(run_sync(scenario, trade, "market", market_order))
    outcomes.append(run_sync(scenario, trade, "twap", twap(first.completion, INTERVAL)))
    outcomes.append(run_sync(scenario, trade, "maker", maker_loop(top, INTERVAL)))
    return job, outcomes


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_all(seeds: int = SEEDS, workers: int | None = None) -> list[tuple[Job, list[Outcome]]]:
    todo = jobs(seeds)
    workers = workers or available_cpus()
    if workers <= 1:
        return [run_job(j) for j in todo]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_job, todo, chunksize=4))


# ---- figures --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """One strategy on one cell (scenario, trade, size), averaged over the seeds."""

    filled_pct: float
    residual_pct: float
    price_bps: float  # filled part
    fee_bps: float
    total_bps: float
    all_price_bps: float  # the unfilled rest completed at the end
    all_fee_bps: float
    all_bps: float
    all_sd: float
    completion: float
    children: float
    requests: float
    bound_bps: float
    runs: int
    notes: tuple[str, ...]

    @property
    def all_se(self) -> float:
        """Standard error of the mean all-in shortfall."""
        return self.all_sd / self.runs**0.5 if self.runs else 0.0

    @property
    def requests_per_child(self) -> float | None:
        return self.requests / self.children if self.children else None


def _per_run(o: Outcome, side: Side) -> dict[str, float]:
    price = shortfall_bps(side, o.arrival_mid, o.filled, o.cost)
    fee = bps(o.fees, o.cost)
    done = o.amount - o.rest_unfillable
    all_cost = o.cost + o.rest_cost
    all_price = shortfall_bps(side, o.arrival_mid, done, all_cost)
    all_fee = bps(o.fees + o.rest_fees, all_cost)
    return {
        "filled_pct": o.filled_pct,
        "residual_pct": 100.0 - o.filled_pct,
        "price_bps": float(price),
        "fee_bps": float(fee),
        "total_bps": float(price + fee),
        "all_price_bps": float(all_price),
        "all_fee_bps": float(all_fee),
        "all_bps": float(all_price + all_fee),
        "completion": o.completion,
        "children": float(o.children),
        "requests": float(o.requests),
        "bound_bps": float(o.half_spread_bps + o.taker_fee_bps),
    }


Cell = tuple[str, Side, str, int]  # scenario, side, symbol, size


def aggregate(results: Iterable[tuple[Job, list[Outcome]]]) -> dict[Cell, dict[str, Figures]]:
    runs: dict[Cell, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    notes: dict[tuple[Cell, str], list[str]] = defaultdict(list)
    for job, outcomes in results:
        cell = (job.scenario, job.side, job.symbol, job.size)
        for o in outcomes:
            runs[cell][o.strategy].append(_per_run(o, job.side))
            if o.note:
                notes[(cell, o.strategy)].append(o.note)
    out: dict[Cell, dict[str, Figures]] = {}
    for cell, by_strategy in runs.items():
        out[cell] = {}
        for name, rows in by_strategy.items():
            mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
            sd = statistics.stdev(r["all_bps"] for r in rows) if len(rows) > 1 else 0.0
            out[cell][name] = Figures(
                **mean,
                all_sd=sd,
                runs=len(rows),
                notes=tuple(sorted(set(notes[(cell, name)]))),
            )
    return out


def efficiency(f: Figures, market: Figures) -> float | None:
    """(IS_market - IS) / (IS_market - bound), all-in; None when the market order is already
    within a basis point of the bound (nothing to win)."""
    room = market.all_bps - f.bound_bps
    if room < 1.0:
        return None
    return (market.all_bps - f.all_bps) / room


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0.05 else None


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def cell_key(cell: Cell) -> tuple[int, int, int]:
    names = [n for n, _, _ in SCENARIOS]
    return (names.index(cell[0]), 0 if cell[1] is Side.SELL else 1, cell[3])


def table(figures: dict[Cell, dict[str, Figures]]) -> list[str]:
    head = (
        "| scenario | trade | size | strategy | filled % | IS price | IS fees | IS total"
        " | IS all-in | ±sd | ×market | ×TWAP | efficiency | time s | children | requests"
        " | req/child | notes |"
    )
    lines = [head, _rule(head)]
    for cell in sorted(figures, key=cell_key):
        scenario, side, symbol, size = cell
        by = figures[cell]
        market, tw = by["market"], by["twap"]
        trade = f"{side.value} {symbol}"
        for name in STRATEGIES:
            f = by[name]
            eff = efficiency(f, market)
            lines.append(
                f"| {scenario} | {trade} | {size}x | {name} | {f.filled_pct:.1f}"
                f" | {f.price_bps:.2f} | {f.fee_bps:.2f} | {f.total_bps:.2f}"
                f" | {f.all_bps:.2f} | {f.all_sd:.1f}"
                f" | {_fmt(_ratio(f.all_bps, market.all_bps))}"
                f" | {_fmt(_ratio(f.all_bps, tw.all_bps))} | {_fmt(eff)}"
                f" | {f.completion:.0f} | {f.children:.1f} | {f.requests:.1f}"
                f" | {_fmt(f.requests_per_child, '.1f')} | {'; '.join(f.notes)[:80]} |"
            )
        bound = market.bound_bps
        lines.append(
            f"| {scenario} | {trade} | {size}x | bound | | | | {bound:.2f} | {bound:.2f} |"
            f" | {_fmt(_ratio(bound, market.all_bps))} | {_fmt(_ratio(bound, tw.all_bps))}"
            " | 1.00 | | | | | |"
        )
    return lines


def _rule(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)


# ---- targets --------------------------------------------------------------------------------

EFFICIENCY_MIN = 0.8
PRICE_VS_MARKET_MAX = 0.3
VS_TWAP_MAX = 0.9
VS_TWAP_CAP = 1.05
REQUESTS_PER_CHILD_MAX = 3.0
TARGET_MIN_SIZE = 10


@dataclass
class TargetCheck:
    name: str
    hits: int = 0
    total: int = 0
    missed: list[str] = field(default_factory=list)

    def see(self, ok: bool, where: str) -> str:
        self.total += 1
        if ok:
            self.hits += 1
            return "ok"
        self.missed.append(where)
        return "MISSED"

    @property
    def status(self) -> str:
        return "hit" if not self.missed else "MISSED"


def _checks() -> dict[str, TargetCheck]:
    return {
        "eff": TargetCheck(f"efficiency >= {EFFICIENCY_MIN}"),
        "price": TargetCheck(
            f"shortfall without fees <= {PRICE_VS_MARKET_MAX}x the market order's"
        ),
        "twap": TargetCheck(f"total shortfall <= {VS_TWAP_MAX}x TWAP's at equal duration"),
        "cap": TargetCheck(f"total shortfall never above {VS_TWAP_CAP}x TWAP's"),
    }


def _resilient() -> dict[str, bool]:
    return {n: is_resilient(_scenario(n)) for n, _, _ in SCENARIOS}


def check_strategy(
    figures: dict[Cell, dict[str, Figures]], name: str
) -> tuple[dict[str, TargetCheck], list[str]]:
    """Every target for one strategy; also its per-cell table rows."""
    resilient = _resilient()
    checks = _checks()
    rows = []
    for cell in sorted(figures, key=cell_key):
        scenario, side, symbol, size = cell
        by = figures[cell]
        f, market, tw = by[name], by["market"], by["twap"]
        where = f"{scenario} {side.value} {symbol} {size}x"
        cols = []
        if resilient[scenario] and size >= TARGET_MIN_SIZE:
            eff = efficiency(f, market)
            ok = eff is not None and eff >= EFFICIENCY_MIN
            cols.append(f"{_fmt(eff)} {checks['eff'].see(ok, where)}")
            base = market.all_price_bps
            price_ratio = f.all_price_bps / base if base > 0 else None
            ok = price_ratio is not None and price_ratio <= PRICE_VS_MARKET_MAX
            cols.append(
                f"{f.all_price_bps:.2f} / {base:.2f} = {_fmt(price_ratio)}"
                f" {checks['price'].see(ok, where)}"
            )
            r = _ratio(f.all_bps, tw.all_bps)
            cols.append(
                f"{_fmt(r)} {checks['twap'].see(r is not None and r <= VS_TWAP_MAX, where)}"
            )
        else:
            why = "not resilient" if not resilient[scenario] else f"< {TARGET_MIN_SIZE}x"
            cols += [f"n/a ({why})"] * 3
        r = _ratio(f.all_bps, tw.all_bps)
        cols.append(f"{_fmt(r)} {checks['cap'].see(r is not None and r <= VS_TWAP_CAP, where)}")
        rows.append(
            f"| {scenario} | {side.value} {symbol} | {size}x | {f.all_bps:.2f} ± {f.all_se:.2f} | "
            + " | ".join(cols)
            + " |"
        )
    return checks, rows


def requests_per_child(figures: dict[Cell, dict[str, Figures]], name: str) -> float:
    requests = sum(by[name].requests for by in figures.values())
    children = sum(by[name].children for by in figures.values())
    return requests / children if children else 0.0


def targets(figures: dict[Cell, dict[str, Figures]]) -> list[str]:
    """Targets for every bot style (one row each), the default style cell by cell, a summary."""
    resilient = _resilient()
    scope = (
        f"trades >= {TARGET_MIN_SIZE}x top-of-book depth in resilient books"
        f" ({', '.join(n for n, ok in resilient.items() if ok)})"
    )
    names = _checks()
    head = (
        "| strategy | "
        + " | ".join(c.name for c in names.values())
        + f" | requests per child <= {REQUESTS_PER_CHILD_MAX:.0f} |"
    )
    lines = [
        f"### Targets (documented, not asserted). Scope: {scope}; the {VS_TWAP_CAP}x TWAP cap:"
        " every scenario and size.",
        "",
        head,
        _rule(head),
    ]
    for name in (*(f"bot-{s.value}" for s in BOT_STYLES), "twap", "maker"):
        checks, _ = check_strategy(figures, name)
        per = requests_per_child(figures, name)
        cols = [f"{c.hits}/{c.total} {'ok' if not c.missed else 'MISSED'}" for c in checks.values()]
        if name.startswith("bot-"):
            cols.append(f"{per:.2f} {'ok' if per <= REQUESTS_PER_CHILD_MAX else 'MISSED'}")
        else:
            cols.append(f"{per:.2f} (reference)")
        mark = " (default)" if name == DEFAULT else ""
        lines.append(f"| {name}{mark} | " + " | ".join(cols) + " |")

    checks, rows = check_strategy(figures, DEFAULT)
    head = (
        f"| scenario | trade | size | {DEFAULT} IS all-in ± se | efficiency (>= {EFFICIENCY_MIN})"
        f" | price: bot / market (<= {PRICE_VS_MARKET_MAX}x) | vs TWAP (<= {VS_TWAP_MAX}x)"
        f" | vs TWAP, any scenario (<= {VS_TWAP_CAP}x) |"
    )
    lines += ["", f"#### {DEFAULT} (the default style), cell by cell", "", head, _rule(head), *rows]
    lines += ["", f"#### Summary ({DEFAULT})", ""]
    for key, check in checks.items():
        where = scope if key != "cap" else "every scenario and size"
        line = f"- {check.name} [{where}]: {check.status}, {check.hits}/{check.total} cells"
        if check.missed:
            line += "; MISSED in: " + ", ".join(check.missed)
        lines.append(line)
    for name in (*(f"bot-{s.value}" for s in BOT_STYLES), "twap", "maker"):
        per = requests_per_child(figures, name)
        if name.startswith("bot-"):
            status = "hit" if per <= REQUESTS_PER_CHILD_MAX else "MISSED"
            tag = f" (target <= {REQUESTS_PER_CHILD_MAX:.0f}): {status},"
        else:
            tag = " (reference):"
        worst_value, worst = max(
            (by[name].requests_per_child or 0.0, cell) for cell, by in figures.items()
        )
        lines.append(
            f"- API requests per child order, {name}{tag} {per:.2f} on average"
            f" (worst cell {worst_value:.2f}: {worst[0]} {worst[1].value} {worst[2]} {worst[3]}x)"
        )
    return lines


# ---- chart ----------------------------------------------------------------------------------


def chart(figures: dict[Cell, dict[str, Figures]], path: Path, seeds: int = SEEDS) -> str:
    """Shortfall (all-in) vs trade size, one panel per scenario; returns what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart (pip install 'matplotlib>=3.8,<4')"
    names = [n for n, _, _ in SCENARIOS]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.8), sharex=True)
    colours = dict(zip(STRATEGIES, plt.get_cmap("tab10").colors, strict=False))
    for ax, scenario in zip(axes, names, strict=True):
        shown: list[float] = []
        off_scale: list[tuple[str, float]] = []
        for side, style in ((Side.SELL, "-"), (Side.BUY, "--")):
            cells = sorted(
                (c for c in figures if c[0] == scenario and c[1] is side), key=lambda c: c[3]
            )
            if not cells:
                continue
            sizes = [c[3] for c in cells]
            first = side is Side.SELL
            for name in STRATEGIES:
                ys = [figures[c][name].all_bps for c in cells]
                label = name if first else None
                ax.plot(sizes, ys, style, marker="o", ms=3, color=colours[name], label=label)
                if name != "maker":
                    shown += ys
                else:
                    off_scale.append((f"maker {side.value}", max(ys)))
            bound = [figures[c]["market"].bound_bps for c in cells]
            ax.plot(sizes, bound, style, color="black", lw=1, label="bound" if first else None)
            how = "solid" if first else "dashed"
            ax.annotate(
                f"{side.value} {cells[0][2]}: {how}",
                xy=(0.02, 0.95 if first else 0.89),
                xycoords="axes fraction",
                fontsize=8,
            )
        top = max(shown) * 1.15 if shown else None
        bottom = min(0.0, min(shown) * 1.15) if shown else None
        clipped = [f"{what} up to {y:.0f} bps" for what, y in off_scale if top and y > top]
        if clipped:
            ax.set_ylim(bottom, top)
            ax.annotate(
                "off scale: " + ", ".join(clipped),
                xy=(0.02, 0.83),
                xycoords="axes fraction",
                fontsize=8,
                color=colours["maker"],
            )
        ax.set_xscale("log")
        ax.set_xticks(list(SIZES), [f"{s}x" for s in SIZES])
        ax.set_title(scenario)
        ax.set_xlabel("trade size (x top-of-book depth)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("implementation shortfall, all-in (bps)")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"Shortfall vs trade size (mean of {seeds} seeds; solid: sell, dashed: buy)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart written to {path.relative_to(ROOT)}"


def header(seeds: int, jobs: int, elapsed: float) -> list[str]:
    return [
        "## Execution quality (simulator, virtual time)",
        "",
        f"{jobs} jobs: {len(SCENARIOS)} scenarios x 2 trades (sell {SOLD}; buy another market)"
        f" x sizes {', '.join(f'{s}x' for s in SIZES)} top-of-book depth x {seeds} seeds,"
        f" {len(STRATEGIES)} strategies each, in {elapsed:.0f} s.",
        "Shortfall in bps vs the arrival mid, positive = cost, mean over the seeds. IS price /"
        " fees / total: the filled part. IS all-in: the unfilled rest completed at the end by"
        " walking the book then (plus the taker fee); ×market, ×TWAP and efficiency use it."
        " sd: spread of all-in IS over the seeds. time: start to last fill.",
        f"Bot: default ExecutionPolicy, leg deadline max(300 s, 30 s x size). TWAP: one IOC"
        f" slice at the touch every ~{INTERVAL:.0f} s over the duration of {DEFAULT}'s run (same"
        f" seed). maker: post-only at our side's best price, at most 1x top depth, re-placed every"
        f" {INTERVAL:.0f} s until filled or the bot's deadline. bound: half the arrival spread +"
        " taker fee. efficiency: (IS_market - IS) / (IS_market - bound), '–' when the market"
        " order is within 1 bp of the bound.",
        "",
    ]


def report(figures: dict[Cell, dict[str, Figures]], header: Sequence[str] = ()) -> str:
    return "\n".join([*header, *table(figures), "", *targets(figures)])
