"""`rebalance-bot sim-server`: the simulated exchange served as Binance's REST API (spot, and
USD-M futures when the scenario has perpetuals), for the bot and ccxt to talk to over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from bot.errors import ConfigError
from bot.observability import configure_logging, register_secrets
from bot.settings import sim_server_credentials


def sim_server(
    scenario: Annotated[Path, typer.Option(help="Scenario file (config/scenarios/*.toml).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 inside a container).")
    ] = "127.0.0.1",
) -> None:
    """Serve the simulated exchange as Binance's REST API (spot; USD-M futures too when the
    scenario has perpetuals), until SIGINT/SIGTERM.

    Point the bot at it with exchange.id = "binance", exchange.api_url = "http://127.0.0.1:PORT".
    It accepts the keys in REBALANCE_EXCHANGE__API_KEY / __SECRET, else local test keys.
    """
    from bot.sim.binance import LOCAL_TEST_API_KEY, LOCAL_TEST_SECRET, serve

    configure_logging("info", "auto")
    api_key, secret = sim_server_credentials(LOCAL_TEST_API_KEY, LOCAL_TEST_SECRET)
    register_secrets([secret])
    try:
        serve(
            scenario,
            port,
            api_key,
            secret,
            host=host,
            on_ready=lambda url: print(f"simulated Binance API on {url}", flush=True),
        )
    except ConfigError as exc:
        _fail(exc.problems)
    except OSError as exc:
        _fail([f"cannot listen on {host}:{port}: {exc.strerror}"])


def _fail(lines: list[str], code: int = 2) -> NoReturn:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    raise typer.Exit(code)
