"""The `rebalance-bot` command line.

Exit codes: 0 done, 2 bad input (configuration, snapshot, arguments), 1 anything unexpected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from bot import __version__
from bot.errors import BotError, ConfigError, DomainError
from bot.observability import configure_logging, get_logger, register_secrets
from bot.report import plan_to_dict, render_plan
from bot.runtime.planning import plan_from_snapshot
from bot.settings import Settings, load_settings
from bot.snapshot import load_snapshot

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Keeps a crypto portfolio at its target allocation.",
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML configuration file.", show_default=False)
]


def _out() -> Console:
    """Standard output; wide enough for the tables when it is a file or a pipe."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)


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
    register_secrets(
        s.get_secret_value() if s else None for s in (ex.api_key, ex.secret, ex.password)
    )
    configure_logging(settings.log.level, settings.log.format)
    return settings


@app.command("check-config")
def check_config(config: ConfigOption) -> None:
    """Validate a configuration file (and the environment overrides); print one line per problem."""
    settings = _settings(config)
    p = settings.portfolio
    targets = ", ".join(f"{a} {w * 100:g}%" for a, w in p.targets.items())
    print(f"{config}: OK. mode={settings.exchange.mode.value} quote={p.quote} targets: {targets}")


@app.command()
def plan(
    config: ConfigOption,
    snapshot: Annotated[
        Path,
        typer.Option(help="JSON snapshot of balances, markets and books (format in the README)."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show weights, drift and the trades a rebalance would make. Trades nothing."""
    settings = _settings(config)
    log = get_logger("bot.cli")
    try:
        snap = load_snapshot(snapshot)
        result = plan_from_snapshot(settings, snap)
    except (BotError, DomainError) as exc:
        _fail([str(exc)])
    log.debug("plan_made", legs=len(result.legs), dust=len(result.dust))
    if as_json:
        json.dump(plan_to_dict(result, snap.taken_at), sys.stdout, indent=2)
        print()
    else:
        render_plan(result, _out(), snap.taken_at)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()
