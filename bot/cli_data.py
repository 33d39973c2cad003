"""`rebalance-bot data`: market history for the policy lab (issue #22).

    rebalance-bot data download --config F --from 2024-01-01 --to 2024-12-31 --timeframe 1h

downloads the OHLCV bars of the configured markets (those a plan between the portfolio's managed
assets may use) into the cache (`bot/lab/ohlcv_cache.py`, default `data/ohlcv/` beside the
configuration), resuming where the cache ends. Exit codes: 0 done, 2 bad input (one line),
6 the exchange cannot be reached, 1 anything else, 130 interrupted (what was written stays).
`bot/cli.py` registers `data_app` under the name `data`.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from bot.domain.portfolio import relevant_symbols
from bot.errors import BotError, ConfigError, ExchangeUnavailable
from bot.exchange.gateway import Gateway
from bot.exchange.ohlcv import timeframe_ms
from bot.observability import configure_logging, register_secrets
from bot.runtime.targets import with_url_targets
from bot.runtime.wiring import Backend, build_backend
from bot.settings import Mode, Settings, load_settings

if TYPE_CHECKING:  # numpy loads with the command, not with every other command
    from bot.lab.ohlcv_cache import Downloaded

EXIT_BAD_INPUT, EXIT_UNREACHABLE = 2, 6
SIM_REFUSED = "data download needs an exchange: mode paper/testnet/demo/live; tests generate data"
DEFAULT_CACHE = Path("data/ohlcv")  # beside the configuration file
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_MS = 86_400_000

data_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Market history for the policy lab: OHLCV bars cached locally.",
)


@data_app.callback()
def _data() -> None:
    """Market history for the policy lab: OHLCV bars cached locally."""


def _fail(line: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    print(f"error: {line}", file=sys.stderr)
    raise typer.Exit(code)


def day_ms(text: str, flag: str) -> int:
    """A `YYYY-MM-DD` date (UTC) as ms since the epoch at its midnight. Raises ValueError with
    the line to show."""
    try:
        if _DATE.fullmatch(text) is None:
            raise ValueError
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a date as YYYY-MM-DD (e.g. 2024-01-31)") from None
    return int(day.timestamp() * 1000)


def date_range(start: str, end: str, now_ms: int) -> tuple[int, int]:
    """[start's midnight, the midnight after end) in ms, checked: end not before start, start not
    in the future. Raises ValueError with the line to show."""
    start_ms, end_ms = day_ms(start, "--from"), day_ms(end, "--to") + _DAY_MS
    if end_ms <= start_ms:
        raise ValueError(f"--from {start} is after --to {end}")
    if start_ms > now_ms:
        raise ValueError(f"--from {start} is in the future: there are no bars yet")
    return start_ms, end_ms


async def _gateway(settings: Settings) -> tuple[Backend, Gateway]:
    """The configured exchange's backend, and the gateway that reads its public bars: the
    backend's own, or in paper mode one on the real exchange's client behind the paper one
    (closed with the backend)."""
    backend = build_backend(settings, live_confirmed=True)  # reads only: nothing is sent
    public = getattr(backend.exchange, "public", None)
    if public is None:
        return backend, backend.gateway
    public.enableRateLimit = False  # the gateway paces, ccxt's limiter must not stack on it
    gw = backend.gateway
    return backend, Gateway(public, retry=gw.retry, sleep=backend.clock.sleep, profile=gw.profile)


async def run_download(
    settings: Settings,
    timeframe: str,
    start_ms: int,
    end_ms: int,
    cache_dir: Path,
    console: Console,
    now_ms: int,
) -> list[Downloaded]:
    """The configured markets' bars into the cache, with a progress bar per market."""
    from bot.lab.ohlcv_cache import download, source_id

    settings = await with_url_targets(settings)
    spec = settings.portfolio_spec()
    backend, gateway = await _gateway(settings)
    try:
        if not gateway.reads_ohlcv:
            raise ConfigError([f"{gateway.id} serves no OHLCV bars through ccxt"])
        if gateway.timeframes and timeframe not in gateway.timeframes:
            served = ", ".join(gateway.timeframes)
            raise ConfigError([f"--timeframe {timeframe}: {gateway.id} serves {served}"])
        markets = await backend.gateway.load_markets()  # paper: the paper account's view
        symbols = sorted(relevant_symbols(markets, set(spec.managed), spec.quote))
        if not symbols:
            raise ConfigError([f"no market on {gateway.id} between {', '.join(spec.managed)}"])
        source = source_id(settings.exchange.id, settings.exchange.mode.value)
        with _ProgressBars(console, symbols) as show:
            return await download(
                gateway,
                symbols,
                timeframe,
                start_ms,
                end_ms,
                cache_dir,
                show,
                source=source,
                now_ms=now_ms,
            )
    finally:
        await backend.close()


class _ProgressBars:
    """One rich progress bar per market; entered, the callback `download` reports to."""

    def __init__(self, console: Console, symbols: Sequence[str]) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeRemainingColumn(),
            console=console,
            transient=not console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {
            s: self._progress.add_task(s, total=None, start=False) for s in symbols
        }

    def __enter__(self) -> _ProgressBars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, symbol: str, done: int, total: int) -> None:
        task = self._tasks[symbol]
        self._progress.start_task(task)
        self._progress.update(task, completed=done, total=max(total, 1))


def _summary(item: Downloaded, timeframe: str) -> str:
    if item.first_ms is None or item.last_ms is None:
        return f"{item.symbol} {timeframe}: no bars in that range on the exchange"
    span = f"{_stamp(item.first_ms)} .. {_stamp(item.last_ms)}"
    repaired = f", {item.repaired_bytes} torn bytes cut" if item.repaired_bytes else ""
    return (
        f"{item.symbol} {timeframe}: {item.bars} bars {span} UTC"
        f" ({item.fetched} new{repaired}) in {item.path}"
    )


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _stamp(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).strftime(
        "%Y-%m-%d %H:%M"
    )


@data_app.command("download")
def download_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="TOML configuration file.", show_default=False)
    ],
    start: Annotated[
        str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).", show_default=False)
    ],
    end: Annotated[
        str, typer.Option("--to", help="Last day, included, YYYY-MM-DD.", show_default=False)
    ],
    timeframe: Annotated[str, typer.Option(help="Bar length: 1m, 15m, 1h, 4h, 1d...")] = "1h",
    cache: Annotated[
        Path | None,
        typer.Option(help="Cache folder (default: data/ohlcv beside the configuration)."),
    ] = None,
) -> None:
    """Download the configured markets' OHLCV bars into the local cache; run again to resume."""
    from bot.lab.ohlcv_cache import CacheError

    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        _fail(f"--timeframe: {exc}")
    now = _now_ms()
    try:
        start_ms, end_ms = date_range(start, end, now)
    except ValueError as exc:
        _fail(str(exc))
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        _fail("; ".join(exc.problems))
    if settings.exchange.mode is Mode.SIM:
        _fail(SIM_REFUSED)
    ex = settings.exchange
    register_secrets(
        c.get_secret_value() if c else None
        for c in (ex.credential(n) for n in ("api_key", "secret", "password"))
    )
    configure_logging(settings.log.level, settings.log.format)
    cache_dir = cache if cache is not None else settings.resolve(DEFAULT_CACHE)
    out = Console(stderr=True, highlight=False)
    try:
        done = asyncio.run(run_download(settings, timeframe, start_ms, end_ms, cache_dir, out, now))
    except ConfigError as exc:
        _fail("; ".join(exc.problems))
    except CacheError as exc:
        _fail(str(exc))
    except ExchangeUnavailable as exc:
        _fail(f"cannot reach {ex.id}: {exc}; run again to resume", EXIT_UNREACHABLE)
    except BotError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted: the cache keeps every bar written; run again to resume", 130)
    for item in done:
        print(_summary(item, timeframe))
