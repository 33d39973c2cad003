"""A backtest's comparison for people (rich tables) and for scripts (a dict for `--json`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.lab.costs import CostParams
from bot.lab.metrics import Figures, Recommendation
from bot.report import print_fitted

# Columns a narrow terminal drops first.
OPTIONAL = ("mean drift", "fees", "spread+impact", "drawdown", "return/yr", "traded")


@dataclass(frozen=True, slots=True)
class Comparison:
    """Everything a backtest found: the data, the costs, each policy's figures, the verdict."""

    assets: tuple[str, ...]
    quote: str
    timeframe: str
    start_ms: int
    end_ms: int
    bars: int
    source: str  # "cache <dir>" or "generated (seed N)"
    capital: float
    costs: CostParams
    figures: tuple[Figures, ...]
    frontier: tuple[str, ...]
    recommendation: Recommendation
    max_tracking_error: float
    elapsed: float
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    charts: tuple[str, ...] = ()


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def comparison_dict(c: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data (fractions as numbers, amounts in the quote)."""
    return {
        "assets": list(c.assets),
        "quote": c.quote,
        "timeframe": c.timeframe,
        "from": _day(c.start_ms),
        "to": _day(c.end_ms),
        "bars": c.bars,
        "source": c.source,
        "capital": c.capital,
        "costs": asdict(c.costs),
        "policies": [
            {
                **asdict(f),
                "costs": f.costs,
                "on_frontier": f.name in c.frontier,
                "notes": list(c.notes.get(f.name, ())),
            }
            for f in c.figures
        ],
        "frontier": list(c.frontier),
        "recommendation": {"policy": c.recommendation.name, "reason": c.recommendation.reason},
        "max_tracking_error": c.max_tracking_error,
        "charts": list(c.charts),
        "elapsed_s": round(c.elapsed, 3),
    }


def policies_table(c: Comparison) -> Table:
    table = Table(
        title=f"Policies, {c.capital:,.0f} {c.quote} at the start (* on the cost/tracking-error"
        " frontier)",
        title_justify="left",
    )
    columns = (
        "policy",
        "rebalances",
        "turnover/yr",
        "traded",
        "fees",
        "spread+impact",
        "cost bps/yr",
        "tracking err",
        "max drift",
        "mean drift",
        "return",
        "vs hold",
        "return/yr",
        "drawdown",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "policy" else "right")
    for f in c.figures:
        mark = "*" if f.name in c.frontier else " "
        table.add_row(
            f"{mark}{f.name}",
            str(f.rebalances),
            f"{f.turnover:.2f}x",
            f"{f.traded:,.0f}",
            f"{f.fees:,.0f}",
            f"{f.impact:,.0f}",
            f"{f.cost_bps_year:.1f}",
            f"{f.tracking_error:.2%}",
            f"{f.max_drift * 100:.1f} pp",
            f"{f.mean_drift * 100:.1f} pp",
            f"{f.total_return:+.1%}",
            f"{f.excess_return * 100:+.1f} pp",
            f"{f.annual_return:+.1%}",
            f"{f.max_drawdown:.1%}",
        )
    return table


def render(c: Comparison, console: Console) -> None:
    years = (c.end_ms - c.start_ms) / (365.25 * 86_400_000)
    console.print(
        f"Backtest: {', '.join(c.assets)} in {c.quote}, {c.bars:,} bars of {c.timeframe}"
        f" ({_day(c.start_ms)} to {_day(c.end_ms)} UTC, {years:.1f} years), {c.source}"
    )
    k = c.costs
    console.print(
        f"Costs per trade: fee {k.fee_bps:g} bps + half spread {k.half_spread_bps:g} bps +"
        f" {k.impact:g} x daily volatility x sqrt(notional / daily traded value),"
        f" {k.vol_window_days:g} days of bars; legs under {k.min_notional:g} {c.quote} are dust"
    )
    print_fitted(console, policies_table(c), OPTIONAL)
    console.print(f"Frontier (cheapest first): {' -> '.join(c.frontier)}")
    for name, notes in c.notes.items():
        for note in notes:
            console.print(f"note: {name}: {note}")
    console.print(f"Recommended: {c.recommendation.name}: {c.recommendation.reason}")
    for path in c.charts:
        console.print(f"Chart: {path}")
    console.print(f"{len(c.figures)} policies in {c.elapsed:.1f} s")
