"""`rebalance-bot backtest`: rebalancing policies compared on history (the policy lab, issue #22).

    rebalance-bot backtest --config F --from 2021-01-01 --to 2025-12-31 [--policies FILE]
        [--timeframe 1h] [--cache DIR | --generate [--seed N]] [--chart PATH] [--json]

The portfolio (targets, quote, default band, rebalance mode) and the fee come from the
configuration; the bars from the cache `rebalance-bot data download` fills, or generated
(`--generate`, seeded). Exit codes: 0 done, 2 bad input (one line on stderr, no traceback).
`bot/cli.py` registers `backtest` as a command.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from bot.cli_data import DEFAULT_CACHE, date_range
from bot.errors import BotError, ConfigError
from bot.settings import Settings, load_settings

if TYPE_CHECKING:  # numpy and the lab load with the command, not with every other command
    from bot.lab.bars import History
    from bot.lab.report import Comparison

EXIT_BAD_INPUT = 2


def _fail(line: str) -> NoReturn:
    print(f"error: {line}", file=sys.stderr)
    raise typer.Exit(EXIT_BAD_INPUT)


def _history(
    settings: Settings,
    assets: tuple[str, ...],
    timeframe: str,
    span: tuple[int, int],
    cache: Path | None,
    seed: int | None,
) -> tuple[History, str]:
    from bot.lab.bars import BarSeries, align, generate, timeframe_ms

    quote, tf = settings.portfolio.quote, timeframe_ms(timeframe)
    bars: dict[str, BarSeries]
    if seed is not None:
        bars = dict(generate(assets, quote, span[0], span[1], tf, seed))
        return align(bars, assets, quote, tf), f"generated bars (seed {seed})"
    from bot.lab.ohlcv_cache import load_bars, source_id

    folder = cache if cache is not None else settings.resolve(DEFAULT_CACHE)
    source = source_id(settings.exchange.id, settings.exchange.mode.value)
    symbols = [f"{a}/{quote}" for a in assets]
    bars = dict(load_bars(folder, source, symbols, timeframe, span[0], span[1]))
    return align(bars, assets, quote, tf), f"{source} bars from {folder}"


def compare(
    settings: Settings,
    history: History,
    source: str,
    policies_file: Path | None,
    capital: float,
    workers: int,
    chart: Path | None = None,
) -> Comparison:
    """Every policy of the file (or the default grid) over `history`, compared."""
    from bot.lab.backtest import Setup
    from bot.lab.backtest import backtest as run_backtest
    from bot.lab.chart import Line, write_charts
    from bot.lab.costs import CostParams
    from bot.lab.metrics import against, frontier, recommend
    from bot.lab.policies import Policy, load_lab_file
    from bot.lab.report import Comparison

    spec = settings.portfolio_spec()
    fees = settings.exchange.fees
    base = CostParams(fee_bps=float(fees.taker) * 10_000) if fees else CostParams()
    lab = load_lab_file(policies_file, base)
    setup = Setup(
        spec.quote,
        dict(spec.targets),
        capital,
        lab.costs,
        spec.bands.default,
        settings.rebalance.mode,
        settings.loop.cooldown,
    )
    started = time.perf_counter()
    policies = list(lab.policies)
    has_hold = any(not p.trades for p in policies)
    results = run_backtest(
        history, setup, policies if has_hold else [*policies, Policy("none")], workers
    )
    figs = [f for _, f in results]
    hold = next(f for (r, f) in results if not r.policy.trades)
    if not has_hold:
        results, figs = results[:-1], figs[:-1]
    figs = against(figs, hold)
    elapsed = time.perf_counter() - started
    charts: tuple[str, ...] = ()
    if chart is not None:
        lines = [Line(r.policy.name, r.values, r.weights) for r, _ in results]
        title = f"{len(lines)} policies on {', '.join(history.assets)} in {history.quote}"
        names = (*history.assets, history.quote)
        charts = tuple(str(p) for p in write_charts(chart, history.timestamps, lines, names, title))
    return Comparison(
        assets=history.assets,
        quote=history.quote,
        timeframe=_timeframe_text(history.timeframe_ms),
        start_ms=int(history.timestamps[0]),
        end_ms=int(history.timestamps[-1]),
        bars=len(history.timestamps),
        source=source,
        capital=capital,
        costs=lab.costs,
        figures=tuple(figs),
        frontier=tuple(frontier(figs)),
        recommendation=recommend(figs, lab.max_tracking_error),
        max_tracking_error=lab.max_tracking_error,
        elapsed=elapsed,
        notes={r.policy.name: r.notes for r, _ in results if r.notes},
        charts=charts,
    )


def _timeframe_text(ms: int) -> str:
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def backtest(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="TOML configuration file.", show_default=False)
    ],
    start: Annotated[
        str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).", show_default=False)
    ],
    end: Annotated[
        str, typer.Option("--to", help="Last day, included, YYYY-MM-DD.", show_default=False)
    ],
    policies: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of policies, costs and the tracking-error budget"
            " (default: a grid of 20 policies)."
        ),
    ] = None,
    timeframe: Annotated[str, typer.Option(help="Bar length: 15m, 1h, 4h, 1d...")] = "1h",
    cache: Annotated[
        Path | None,
        typer.Option(help="Cache folder (default: data/ohlcv beside the configuration)."),
    ] = None,
    generate_bars: Annotated[
        bool, typer.Option("--generate", help="Seeded generated bars instead of the cache.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of --generate.")] = 7,
    capital: Annotated[float, typer.Option(help="Starting value, in the quote.")] = 100_000.0,
    chart: Annotated[
        Path | None,
        typer.Option(help="Write the chart as PATH.png and PATH.html.", show_default=False),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes (default: up to 2).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every table column, whatever the terminal's width.")
    ] = False,
) -> None:
    """Backtest rebalancing policies on history, with costs; compare them; recommend one."""
    from bot.lab.bars import timeframe_ms
    from bot.lab.report import comparison_dict, render

    try:
        now = int(datetime.now(UTC).timestamp() * 1000)
        span = date_range(start, end, now)
        timeframe_ms(timeframe)
    except ValueError as exc:
        _fail(str(exc))
    except ConfigError as exc:
        _fail("; ".join(exc.problems))
    if not 0 < capital < 1e15:
        _fail("--capital: must be more than 0")
    try:
        settings = load_settings(config)
        targets = settings.portfolio.targets
        if not targets:
            _fail("backtest needs portfolio.targets in the configuration (not a targets URL)")
        assets = tuple(a for a in targets if a != settings.portfolio.quote)
        history, source = _history(
            settings, assets, timeframe, span, cache, seed if generate_bars else None
        )
        n = workers if workers > 0 else min(2, os.cpu_count() or 1)
        result = compare(settings, history, source, policies, capital, n, chart)
    except ConfigError as exc:
        _fail("; ".join(exc.problems))
    except BotError as exc:
        hint = "" if generate_bars else " (rebalance-bot data download, or --generate)"
        _fail(f"{exc}{hint}")
    if as_json:
        json.dump(comparison_dict(result), sys.stdout, indent=2)
        print()
    else:
        render(result, _console(wide))


def _console(wide: bool) -> Console:
    """As the other commands print: the terminal's width (COLUMNS when set), where the table
    drops its least useful columns; 160 columns for a file or a pipe; 250 with --wide."""
    if wide:
        return Console(highlight=False, width=250)
    console = Console(highlight=False)
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(highlight=False, width=160)
