"""The OHLCV download and its cache, through ccxt's real binance class: GET /api/v3/klines is
answered in Binance's own JSON by a fake (tests/venues/venue.py), so ccxt's request building and
parsing run for real; only the network is fake."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
import structlog
from typer.testing import CliRunner

from bot import cli_data
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.ohlcv import timeframe_ms
from bot.exchange.profiles import profile_for
from bot.lab.ohlcv_cache import (
    CLOSE_MARGIN_MS,
    HEADER,
    CacheError,
    cache_path,
    download,
    load_bars,
    source_id,
)
from bot.sim.binance import wire
from bot.sim.filters import Filters
from tests.venues.venue import MARKETS, Answer, Handler, Request, Venue

H = 3_600_000
START = 1_704_067_200_000  # 2024-01-01 00:00 UTC
NOW = START + 3000 * H + 120_000  # the fake exchange's clock: 2 minutes into a bar
CREDENTIALS = {"apiKey": "binance-key", "secret": "binance-secret"}
KLINES = "/api/v3/klines"


class Killed(BaseException):
    """The process dies: nothing catches it, as nothing catches SIGKILL."""


def price(symbol: str, t: int) -> Decimal:
    base = Decimal(50000) if symbol.startswith("BTC") else Decimal(2500)
    return base + Decimal((t - START) // H % 997) / 100


@dataclass
class Binance(Venue):
    """Binance spot's public market data: exchangeInfo, time, klines (1m/1h/1d bars from
    `listing_ms`, the open bar included, as Binance serves them), tradeFee."""

    exchange_id: str = "binance"
    now_ms: int = NOW
    listing_ms: int = START - 5000 * H
    overlap: int = 0  # bars before startTime answered again (an exchange that repeats bars)
    kill_at: int | None = None  # the klines request (1-based) on which the process dies
    asked: list[dict[str, str]] = field(default_factory=list)

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "")

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/api/v3/exchangeInfo"): self.info,
            ("GET", "/api/v3/time"): self.time,
            ("GET", KLINES): self.klines,
            ("GET", "/sapi/v1/asset/tradeFee"): self.fees,
        }

    def error(self, exc: Exception) -> Answer:
        return Answer(
            503, {"code": -1001, "msg": "Internal error; unable to process your request."}
        )

    async def info(self, request: Request) -> dict[str, Any]:
        markets = ((m, Filters()) for m, *_ in MARKETS.values())
        return wire.exchange_info(markets, self.now_ms, 6000, "NOTIONAL")

    async def time(self, request: Request) -> dict[str, Any]:
        return {"serverTime": self.now_ms}

    async def fees(self, request: Request) -> list[dict[str, Any]]:
        return [
            {"symbol": self.market_id(s), "makerCommission": "0.001", "takerCommission": "0.001"}
            for s in MARKETS
        ]

    async def klines(self, request: Request) -> list[list[Any]]:
        self.asked.append(dict(request.query))
        if self.kill_at is not None and len(self.asked) >= self.kill_at:
            raise Killed()
        symbol = self.symbol_of(request.param("symbol"))
        step = {"1m": 60_000, "1h": H, "1d": 24 * H}[request.param("interval")]
        limit = min(int(request.param("limit", 500)), 1000)
        since = int(request.param("startTime")) - self.overlap * step
        t = max(self.listing_ms, -(-since // step) * step)
        rows = []
        while len(rows) < limit and t <= self.now_ms:
            p = price(symbol, t)
            rows.append(
                [t, f"{p:.8f}", f"{p + 1:.8f}", f"{p - 1:.8f}", f"{p + Decimal('0.5'):.8f}",
                 "1.23400000", t + step - 1, "61700.00000000", 42, "0.6", "30850.0", "0"]
            )  # fmt: skip
            t += step
        return rows

    def starts(self) -> list[int]:
        return [int(q["startTime"]) for q in self.asked]


async def _no_sleep(seconds: float) -> None:
    return None


def gateway_on(venue: Binance) -> Gateway:
    profile = profile_for("binance")
    client = ccxt_client(
        "binance", profile, timeout=5.0, options={}, credentials=lambda: dict(CREDENTIALS)
    )
    venue.install(client)
    return Gateway(client, profile=profile, requests_per_second=1000, sleep=_no_sleep)


@pytest.fixture
def venue() -> Binance:
    return Binance()


async def fetch(venue: Binance, symbols: list[str], start: int, end: int, cache: Path) -> Any:
    gateway = gateway_on(venue)
    try:
        return await download(gateway, symbols, "1h", start, end, cache, now_ms=NOW)
    finally:
        await gateway.close()


# -- the gateway's share -------------------------------------------------------------------------


async def test_pages_by_the_last_bar_until_the_end(venue: Binance) -> None:
    gateway = gateway_on(venue)
    bars = await gateway.fetch_ohlcv_pages("BTC/USDT", "1h", START, START + 2500 * H)
    await gateway.close()
    assert [b.timestamp_ms for b in bars] == [START + i * H for i in range(2500)]
    assert venue.starts() == [START, START + 1000 * H, START + 2000 * H]
    assert {q["limit"] for q in venue.asked} == {"1000"}  # the profile's page: Binance's most
    first = bars[0]  # exact, as Binance printed it
    assert (first.open, first.high, first.close, first.volume) == (
        price("BTC/USDT", START),
        price("BTC/USDT", START) + 1,
        price("BTC/USDT", START) + Decimal("0.5"),
        Decimal("1.234"),
    )


async def test_a_bar_answered_twice_is_kept_once(venue: Binance) -> None:
    venue.overlap = 3
    gateway = gateway_on(venue)
    bars = await gateway.fetch_ohlcv_pages("ETH/USDT", "1h", START, START + 1500 * H, page=400)
    await gateway.close()
    assert [b.timestamp_ms for b in bars] == [START + i * H for i in range(1500)]


async def test_no_bars_before_the_listing_and_none_after_now(venue: Binance) -> None:
    venue.listing_ms = START + 10 * H
    gateway = gateway_on(venue)
    bars = await gateway.fetch_ohlcv_pages("BTC/USDT", "1h", START, NOW + 100 * H)
    await gateway.close()
    assert bars[0].timestamp_ms == START + 10 * H
    assert bars[-1].timestamp_ms == NOW - NOW % H  # the open bar: the gateway does not judge it


def test_timeframes() -> None:
    assert timeframe_ms("15m") == 15 * 60_000
    assert timeframe_ms("1M") == 31 * 24 * H
    assert timeframe_ms("1M", shortest=True) == 28 * 24 * H
    for bad in ("", "1", "h", "0h", "1x", "1h "):
        with pytest.raises(ValueError, match="not a timeframe"):
            timeframe_ms(bad)


# -- the cache -----------------------------------------------------------------------------------


async def test_download_writes_gzip_csv_and_load_bars_slices(
    venue: Binance, tmp_path: Path
) -> None:
    done = await fetch(venue, ["BTC/USDT", "ETH/USDT"], START, START + 2400 * H, tmp_path)
    assert [(d.symbol, d.fetched, d.bars) for d in done] == [
        ("BTC/USDT", 2400, 2400),
        ("ETH/USDT", 2400, 2400),
    ]
    path = cache_path(tmp_path, "binance", "BTC/USDT", "1h")
    assert path == tmp_path / "binance" / "BTC-USDT_1h.csv.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[0] == HEADER
    assert lines[1] == f"{START},50000,50001,49999,50000.5,1.234"  # exact text, trailing zeros off
    bars = load_bars(
        tmp_path, "binance", ["BTC/USDT", "ETH/USDT"], "1h", START + 10 * H, START + 20 * H
    )
    btc = bars["BTC/USDT"]
    assert len(btc) == 10 and len(bars["ETH/USDT"]) == 10
    assert btc.timestamps.tolist() == [START + i * H for i in range(10, 20)]
    assert btc.close[0] == float(price("BTC/USDT", START + 10 * H) + Decimal("0.5"))
    assert btc.volume.tolist() == [1.234] * 10
    everything = load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)["BTC/USDT"]
    assert len(everything) == 2400
    assert (
        len(load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", START - H, START)["BTC/USDT"]) == 0
    )


async def test_only_closed_bars_are_cached(venue: Binance, tmp_path: Path) -> None:
    done = await fetch(venue, ["BTC/USDT"], NOW - 50 * H, NOW + 10 * H, tmp_path)
    last = done[0].last_ms
    assert last is not None and last + H + CLOSE_MARGIN_MS <= NOW
    assert last == NOW - NOW % H - H  # the bar open at NOW is not


async def test_a_second_run_fetches_nothing_new(venue: Binance, tmp_path: Path) -> None:
    await fetch(venue, ["BTC/USDT"], START, START + 1200 * H, tmp_path)
    venue.asked.clear()
    done = await fetch(venue, ["BTC/USDT"], START, START + 1200 * H, tmp_path)
    assert done[0].fetched == 0 and done[0].bars == 1200
    assert venue.asked == []


async def test_resume_after_the_process_dies(venue: Binance, tmp_path: Path) -> None:
    venue.kill_at = 3  # two pages written, then the process dies asking for the third
    with pytest.raises(Killed):
        await fetch(venue, ["BTC/USDT"], START, START + 2500 * H, tmp_path)
    held = load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)["BTC/USDT"]
    assert held.timestamps.tolist() == [START + i * H for i in range(2000)]
    venue.kill_at, venue.asked = None, []
    done = await fetch(venue, ["BTC/USDT"], START, START + 2500 * H, tmp_path)
    assert venue.starts()[0] == START + 2000 * H  # only what the cache lacks
    assert (done[0].fetched, done[0].bars) == (500, 2500)
    bars = load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)["BTC/USDT"]
    assert bars.timestamps.tolist() == [START + i * H for i in range(2500)]


async def test_a_torn_tail_is_cut_and_fetched_again(venue: Binance, tmp_path: Path) -> None:
    await fetch(venue, ["BTC/USDT"], START, START + 2500 * H, tmp_path)
    path = cache_path(tmp_path, "binance", "BTC/USDT", "1h")
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])  # the last member, written in part when the power went
    with pytest.raises(CacheError, match="bad data at byte"):
        load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)
    venue.asked.clear()
    done = await fetch(venue, ["BTC/USDT"], START, START + 2500 * H, tmp_path)
    assert done[0].repaired_bytes > 0 and done[0].fetched == 500
    assert venue.starts()[0] == START + 2000 * H
    assert path.read_bytes() == whole


async def test_a_corrupt_member_is_cut_with_all_after_it(venue: Binance, tmp_path: Path) -> None:
    await fetch(venue, ["BTC/USDT"], START, START + 2500 * H, tmp_path)
    path = cache_path(tmp_path, "binance", "BTC/USDT", "1h")
    whole = bytearray(path.read_bytes())
    inflater = zlib.decompressobj(wbits=31)
    inflater.decompress(bytes(whole))
    at = len(whole) - len(inflater.unused_data)  # where the second member starts
    whole[at + 40] ^= 0xFF  # a flipped bit inside the second page's member: its CRC fails
    path.write_bytes(bytes(whole))
    done = await fetch(venue, ["BTC/USDT"], START, START + 2500 * H, tmp_path)
    assert done[0].fetched == 1500 and done[0].bars == 2500
    bars = load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)["BTC/USDT"]
    assert bars.timestamps.tolist() == [START + i * H for i in range(2500)]


async def test_older_bars_go_before_the_cached_stretch(venue: Binance, tmp_path: Path) -> None:
    await fetch(venue, ["BTC/USDT"], START + 1000 * H, START + 1500 * H, tmp_path)
    venue.asked.clear()
    done = await fetch(venue, ["BTC/USDT"], START, START + 1500 * H, tmp_path)
    assert venue.starts() == [START]  # the head only; the tail is there
    assert (done[0].fetched, done[0].bars, done[0].first_ms) == (1000, 1500, START)
    bars = load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)["BTC/USDT"]
    assert bars.timestamps.tolist() == [START + i * H for i in range(1500)]
    assert not list((tmp_path / "binance").glob("*.part"))


async def test_a_range_after_the_cache_is_joined_to_it(venue: Binance, tmp_path: Path) -> None:
    await fetch(venue, ["BTC/USDT"], START, START + 100 * H, tmp_path)
    venue.asked.clear()
    await fetch(venue, ["BTC/USDT"], START + 200 * H, START + 300 * H, tmp_path)
    assert venue.starts()[0] == START + 100 * H  # no hole: the stretch stays unbroken
    bars = load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", 0, 2**62)["BTC/USDT"]
    assert bars.timestamps.tolist() == [START + i * H for i in range(300)]


def test_load_bars_without_a_file(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="run `rebalance-bot data download` first"):
        load_bars(tmp_path, "binance", ["BTC/USDT"], "1h", START, NOW)


def test_cache_names() -> None:
    assert cache_path(Path("c"), "okx", "BTC/USDT:USDT", "1M") == Path(
        "c/okx/BTC-USDT_USDT_1mo.csv.gz"
    )
    assert source_id("binance", "paper") == "binance"
    assert source_id("binance", "testnet") == "binance-testnet"
    for symbol in ("../x", ".hidden", "a b"):
        with pytest.raises(ValueError, match="cannot name"):
            cache_path(Path("c"), "binance", symbol, "1h")


# -- the command ---------------------------------------------------------------------------------

PAPER = """
[exchange]
id = "binance"
mode = "paper"

[portfolio]
quote = "USDT"
targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2 }

[paper]
balances = { USDT = 10000 }
"""


def invoke(*args: str) -> Any:
    """The command in-process; the logging it configures (on the runner's stderr, closed after)
    is put back as it was, so later tests do not log to a closed file."""
    kept = structlog.get_config()
    try:
        return CliRunner().invoke(cli_data.data_app, ["download", *args])
    finally:
        structlog.configure(**kept)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--from", "2024-13-01", "--to", "2024-12-31"],
            "--from '2024-13-01': not a date as YYYY-MM-DD",
        ),
        (
            ["--from", "2024-01-01", "--to", "31/12/2024"],
            "--to '31/12/2024': not a date as YYYY-MM-DD",
        ),
        (
            ["--from", "2024-02-01", "--to", "2024-01-31"],
            "--from 2024-02-01 is after --to 2024-01-31",
        ),
        (["--from", "2999-01-01", "--to", "2999-01-02"], "--from 2999-01-01 is in the future"),
        (
            ["--from", "2024-01-01", "--to", "2024-01-02", "--timeframe", "1hour"],
            "--timeframe: not a timeframe",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = invoke("--config", "nowhere.toml", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert line in result.stderr


def test_sim_mode_is_refused() -> None:
    demo = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
    result = invoke("--config", str(demo), "--from", "2024-01-01", "--to", "2024-01-02")
    assert result.exit_code == 2
    assert result.stderr == f"error: {cli_data.SIM_REFUSED}\n"


@pytest.fixture
def paper_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, venue: Binance) -> Path:
    """A paper configuration whose exchange is the fake: the command's gateway is built on it."""
    config = tmp_path / "bot.toml"
    config.write_text(PAPER, encoding="utf-8")
    real = cli_data._gateway

    async def on_fake(settings: Any) -> tuple[Any, Gateway]:
        backend, _ = await real(settings)
        gateway = gateway_on(venue)
        backend.gateway = gateway  # closed with the backend
        return backend, gateway

    monkeypatch.setattr(cli_data, "_gateway", on_fake)
    monkeypatch.setattr(cli_data, "_now_ms", lambda: NOW)
    return config


def test_download_command(paper_config: Path, venue: Binance) -> None:
    args = ["--config", str(paper_config), "--from", "2024-01-01", "--to", "2024-01-31"]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith(
        "BTC/USDT 1h: 744 bars 2024-01-01 00:00 .. 2024-01-31 23:00 UTC (744 new)"
    )
    assert out[1].startswith("ETH/USDT 1h: 744 bars")
    assert (paper_config.parent / "data" / "ohlcv" / "binance" / "ETH-USDT_1h.csv.gz").exists()
    venue.asked.clear()
    again = invoke(*args, "--cache", str(paper_config.parent / "data" / "ohlcv"))
    assert again.exit_code == 0 and "(0 new)" in again.stdout and venue.asked == []


def test_an_unreachable_exchange_exits_6(paper_config: Path, venue: Binance) -> None:
    for _ in range(10):
        venue.fail(KLINES, ccxt.ExchangeNotAvailable)
    result = invoke("--config", str(paper_config), "--from", "2024-01-01", "--to", "2024-01-31")
    assert result.exit_code == 6
    last = result.stderr.splitlines()[-1]  # after the retries' log lines
    assert last.startswith(
        "error: cannot reach binance: binance fetch_ohlcv: OperationFailed after 5 tries"
    )
