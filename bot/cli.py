"""The `rebalance-bot` command line.

Exit codes: 0 done, 2 bad input (configuration, snapshot, arguments), 1 anything unexpected,
3 halted (`run --once` / `--until-balanced`), 4 another bot holds the journal, 130 SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from bot import __version__
from bot.api.serve import control_services
from bot.cli_backtest import backtest as backtest_command
from bot.cli_data import data_app
from bot.cli_plan import render_path, with_glide  # glide caps: the plan along their path
from bot.cli_sim import sim_server
from bot.errors import BotError, ConfigError, JournalError, JournalIdentityError
from bot.execution.reports import RebalanceReport
from bot.journal import Journal
from bot.observability import configure_logging, get_logger, register_secrets
from bot.report import (
    VALUATION_OPTIONAL,
    JsonLinesView,
    ProgressView,
    plan_to_dict,
    print_fitted,
    render_plan,
    render_run_report,
    render_status,
    status_dict,
    valuation_dict,
    valuation_table,
)
from bot.report_performance import (
    flows_rows,
    history_with_flows,
    performance_dict,
    render_flows,
    render_history_with_flows,
    render_performance,
)
from bot.runtime.control import resume as resume_journal
from bot.runtime.daemon import RunResult
from bot.runtime.online import online_check
from bot.runtime.planning import plan_from_snapshot
from bot.runtime.targets import with_url_targets
from bot.runtime.wiring import (
    journal_path,
    open_journal,
    preflight,
    read_snapshot,
    run_bot,
)
from bot.settings import Mode, Settings, load_settings
from bot.snapshot import load_snapshot

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: fits 80 columns, no type shown after a flag
    help="Keeps a crypto portfolio at its target allocation.",
)
app.command("sim-server")(sim_server)  # the simulator served as Binance's API (bot/cli_sim.py)
app.add_typer(data_app, name="data")  # the policy lab's price history (bot/cli_data.py)
app.command("backtest")(backtest_command)  # the policy lab (bot/cli_backtest.py)


def _show_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Keeps a crypto portfolio at its target allocation."""


ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML configuration file.", show_default=False)
]


WideOption = Annotated[
    bool, typer.Option("--wide", help="Every table column, whatever the terminal's width.")
]


def _out(wide: bool = False) -> Console:
    """Standard output at the terminal's width (COLUMNS when set), where tables fit by dropping
    their least useful columns; 160 columns for a file or a pipe; 250 with --wide."""
    if wide:
        return Console(highlight=False, width=250)
    console = Console(highlight=False)
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(highlight=False, width=160)


class Output(StrEnum):
    AUTO = "auto"
    TEXT = "text"
    JSON = "json"


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        help="What stdout gets: text (progress bars or lines, tables) or json (JSON"
        " lines: one object per line, progress included). auto: text on a terminal, json"
        " elsewhere (a pipe, a file, docker logs).",
    ),
]


def _fail(lines: list[str], code: int = 2) -> NoReturn:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    raise typer.Exit(code)


def _settings(path: Path) -> Settings:
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        _fail(exc.problems)
    ex = settings.exchange
    # Masked in every log line, whether they came from the environment or from *_FILE files.
    creds = (ex.credential(name) for name in ("api_key", "secret", "password"))
    register_secrets(c.get_secret_value() if c else None for c in creds)
    configure_logging(settings.log.level, settings.log.format)
    return settings


@app.command("check-config")
def check_config(
    config: ConfigOption,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also ask the exchange: it answers, it takes the key, its clock is near ours.",
        ),
    ] = False,
) -> None:
    """Validate a configuration file (and the environment overrides, and in sim mode its scenario);
    print one line per problem."""
    settings = _settings(config)
    problems = asyncio.run(preflight(settings))
    if problems:
        _fail(problems)
    if online:
        problems, facts = asyncio.run(online_check(settings))
        for fact in facts:  # a warning (a key that may withdraw) on stderr
            print(fact, file=sys.stderr if fact.startswith("warning:") else sys.stdout)
        if problems:
            kind = problems[0].split(":", 1)[0]
            _fail(problems, code={"key": EXIT_AUTH, "exchange": EXIT_UNREACHABLE}.get(kind, 2))
    p = settings.portfolio
    targets = ", ".join(f"{a} {(w * 100).normalize():f}%" for a, w in (p.targets or {}).items())
    targets = targets or "from portfolio.targets_url when the bot runs"
    print(f"{config}: OK. mode={settings.exchange.mode.value} quote={p.quote} targets: {targets}")


@app.command()
def plan(
    config: ConfigOption,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="JSON snapshot of balances, markets and books (format in the README);"
            " without it, the configured exchange is read (read-only)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: WideOption = False,
) -> None:
    """Show weights, drift and the trades a rebalance would make. Trades nothing."""
    settings = _settings(config)
    log = get_logger("bot.cli")
    try:
        settings = asyncio.run(with_url_targets(settings))  # a targets_url source answers first
        snap = load_snapshot(snapshot) if snapshot else asyncio.run(read_snapshot(settings))
        result = plan_from_snapshot(settings.portfolio_spec(), settings.rebalance.policy(), snap)
        result, glide = asyncio.run(with_glide(settings, snap, result, snapshot is None))
    except ConfigError as exc:
        _fail(exc.problems)
    except BotError as exc:
        _fail([str(exc)])
    log.debug("plan_made", legs=len(result.legs), dust=len(result.dust))
    if as_json:
        json.dump({**plan_to_dict(result, snap.taken_at), **glide}, sys.stdout, indent=2)
        print()
    else:
        render_plan(result, _out(wide), snap.taken_at)
        render_path(glide, _out(wide))


@app.command()
def run(
    config: ConfigOption,
    once: Annotated[bool, typer.Option("--once", help="One poll, at most one rebalance.")] = False,
    until_balanced: Annotated[
        bool,
        typer.Option("--until-balanced", help="Rebalance until every asset is in band."),
    ] = False,
    live: Annotated[
        bool, typer.Option("--live", help='Confirm mode = "live": trade real money.')
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    wide: WideOption = False,
    output: OutputOption = Output.AUTO,
    new_journal: Annotated[
        bool,
        typer.Option(
            "--new-journal",
            help="Start a new history on an account that shows another journal's orders or"
            " recent trades (that journal's open orders are cancelled).",
        ),
    ] = False,
) -> None:
    """Run the bot: watch the portfolio and rebalance it when it drifts out of its bands."""
    settings = _settings(config)
    if settings.exchange.mode is Mode.LIVE and live:
        print(
            "*** LIVE MODE: trading REAL MONEY on "
            f"{settings.exchange.id} (confirmed with --live) ***",
            file=sys.stderr,
        )
    lines = not as_json and (
        output is Output.JSON or (output is Output.AUTO and not Console().is_terminal)
    )
    view = JsonLinesView(sys.stdout) if lines else _progress_printer(to_stderr=as_json)

    def reported(report: RebalanceReport) -> None:  # JSON lines: each report as it ends
        if isinstance(view, JsonLinesView):
            view.emit("rebalance_report", **report.to_dict())

    try:
        result = asyncio.run(
            run_bot(
                settings,
                once=once,
                until_balanced=until_balanced,
                live=live,
                progress=view,
                new_journal=new_journal,
                on_report=reported,
                services=control_services,
            )
        )
    except ConfigError as exc:
        _fail(exc.problems)
    except JournalIdentityError as exc:
        _fail([str(exc)], code=1)
    except JournalError as exc:  # locked by another bot, or cannot be created or written
        _fail([str(exc)], code=4)
    except BotError as exc:
        _fail([str(exc)], code=1)
    except KeyboardInterrupt:
        _fail(["interrupted: open orders may remain; the next start reconciles them"], code=130)
    finally:
        view.close()
    if as_json:
        json.dump([r.to_dict() for r in result.reports], sys.stdout, indent=2)
        print()
    elif isinstance(view, JsonLinesView):
        if result.last is not None:
            view.emit("portfolio", **valuation_dict(result.last))
    else:
        out = _out(wide)
        for report in result.reports:
            render_run_report(report, out)
        if result.last is not None:
            print_fitted(out, valuation_table(result.last, "Portfolio now"), VALUATION_OPTIONAL)
    if result.stopped_by is not None:
        # Stopped by a signal: no new order, ours cancelled, the rebalance recorded as stopped.
        if isinstance(view, JsonLinesView):
            view.emit("stopped", signal=result.stopped_by, open_orders="cancelled")
        else:
            print(f"stopped ({result.stopped_by}): open orders cancelled", file=sys.stderr)
        raise typer.Exit(130 if result.stopped_by == "SIGINT" else 0)
    if not (once or until_balanced):
        return
    _exit_for_trouble(result, settings.exchange.id)
    if result.halted:
        print(f"halted: {result.halted}", file=sys.stderr)
        raise typer.Exit(3)
    if not result.balanced:
        if result.waiting:
            print(f"not balanced: {result.waiting}", file=sys.stderr)
        else:
            out_of_band = [p.asset for p in result.last.out_of_band] if result.last else []
            print(f"not balanced: outside their bands: {', '.join(out_of_band)}", file=sys.stderr)
        raise typer.Exit(1)


# Exit codes of `run --once` / `--until-balanced` for trouble a person must look at (README).
EXIT_AUTH, EXIT_UNREACHABLE = 5, 6


def _exit_for_trouble(result: RunResult, exchange: str) -> None:
    """One plain sentence on stderr for a refused key or an exchange that cannot be read, and
    its own exit code; nothing for other outcomes."""
    if result.cause == "auth":
        print(
            f"error: {exchange} refused the API key or its permissions ({result.halted})."
            " Check REBALANCE_EXCHANGE__API_KEY and __SECRET (or their _FILE), the key's IP"
            " allow-list and that it may trade; then run `rebalance-bot resume`.",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_AUTH)
    if result.cause in ("unreachable", "maintenance") and not result.balanced:
        print(
            f"error: cannot work with {exchange} now: {result.waiting}. Check the network,"
            " exchange.api_url and the exchange's status page; the daemon (`run` without --once)"
            " waits and retries by itself.",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_UNREACHABLE)


def _progress_printer(to_stderr: bool = False) -> ProgressView:
    """The rebalance's progress: bars on a terminal, one line per finished child elsewhere (on
    stderr when stdout carries a JSON document)."""
    return ProgressView(Console(stderr=True, highlight=False) if to_stderr else _out())


def _journal(settings: Settings) -> Journal:
    path = journal_path(settings)
    if not path.exists():
        _fail([f"no journal at {path} yet: the bot has not run with this configuration"])
    try:
        return open_journal(settings)
    except BotError as exc:
        _fail([str(exc)])


def _from_journal(
    config: Path,
    as_json: bool,
    read: Callable[[Settings, Journal], Any],
    render: Callable[[Any, Console], None],
    wide: bool = False,
) -> None:
    """Read something from the journal, then print it as JSON or as tables."""
    settings = _settings(config)
    journal = _journal(settings)
    try:
        data = read(settings, journal)
    except BotError as exc:
        _fail([str(exc)], code=1)
    finally:
        journal.close()
    if as_json:
        json.dump(data, sys.stdout, indent=2)
        print()
    else:
        render(data, _out(wide))


@app.command()
def status(
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: WideOption = False,
) -> None:
    """Weights vs targets as last seen, halted or not, and the last rebalance."""
    _from_journal(
        config,
        as_json,
        lambda s, j: status_dict(s.portfolio_spec(unfetched=True), j),
        render_status,
        wide,
    )


@app.command()
def history(
    config: ConfigOption,
    limit: Annotated[int, typer.Option(help="How many rebalances, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: WideOption = False,
) -> None:
    """Past rebalances (status, traded value, shortfall, fees, duration) and, apart, deposits
    and withdrawals."""
    _from_journal(
        config,
        as_json,
        lambda s, j: history_with_flows(j, s.portfolio.quote, limit),
        render_history_with_flows,
        wide,
    )


@app.command()
def flows(
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: WideOption = False,
) -> None:
    """Deposits and withdrawals the bot journaled: time, kind, asset, amount, fee, status, value."""
    _from_journal(
        config, as_json, lambda s, j: flows_rows(j, s.portfolio.quote), render_flows, wide
    )


@app.command()
def performance(
    config: ConfigOption,
    since: Annotated[
        str | None,
        typer.Option(help="From a date or time (2026-01-31, UTC) or a span back (30d, 12h)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: WideOption = False,
) -> None:
    """Time-weighted return net of deposits and withdrawals, against holding the start."""
    _from_journal(
        config,
        as_json,
        lambda s, j: performance_dict(j, s.portfolio.quote, since),
        render_performance,
        wide,
    )


@app.command()
def resume(config: ConfigOption) -> None:
    """Clear a halt (kill switch), or end a pause, so the bot may trade again."""
    settings = _settings(config)
    journal = _journal(settings)
    try:
        print(resume_journal(journal, "cli").message)
    except BotError as exc:
        _fail([str(exc)], code=1)
    finally:
        journal.close()


@app.command("raise")
def raise_cash(
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="How much, e.g. 5000.")],
    asset: Annotated[str, typer.Argument(metavar="ASSET", help="The portfolio's quote.")],
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    execute: Annotated[bool, typer.Option("--execute", help="Trade the sells.")] = False,
    live: Annotated[bool, typer.Option("--live", help='Confirm mode = "live".')] = False,
    wide: WideOption = False,
) -> None:
    """The sells that free AMOUNT of ASSET for a withdrawal, every asset in band after it."""
    from bot.cli_raise import raise_command

    out, settings = _out(wide), _settings(config)
    if code := raise_command(
        settings, amount, asset, as_json=as_json, execute=execute, live=live, out=out
    ):
        raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()
