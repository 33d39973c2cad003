"""The OHLCV cache: bars downloaded through the gateway, kept as gzip'd CSV, read back as arrays.

Public API (the backtest codes against it):

    @dataclass(frozen=True, slots=True)
    class Bars:                      # one symbol's bars, oldest first, parallel numpy arrays
        symbol: str
        timeframe: str
        timestamps: NDArray[int64]   # bar open time, ms since the epoch (UTC), increasing
        open, high, low, close, volume: NDArray[float64]
        def __len__(self) -> int

    class CacheError(BotError)       # a cache file is missing or corrupt, or cannot be written

    def cache_path(cache_dir: Path, exchange_id: str, symbol: str, timeframe: str) -> Path
    def source_id(exchange_id: str, mode: str) -> str   # "binance"; "binance-testnet", "-demo"

    async def download(gateway: OhlcvApi, symbols: Sequence[str], timeframe: str,
                       start_ms: int, end_ms: int, cache_dir: Path,
                       progress: Progress | None = None, *, source: str | None = None,
                       now_ms: int | None = None) -> list[Downloaded]
    def load_bars(cache_dir: Path, exchange_id: str, symbols: Sequence[str], timeframe: str,
                  start_ms: int, end_ms: int) -> dict[str, Bars]

    Progress = Callable[[str, int, int], None]   # (symbol, done_ms, total_ms)
    @dataclass class Downloaded: symbol, path, fetched, bars, first_ms, last_ms, repaired_bytes

`load_bars` gives the bars opening in [start_ms, end_ms) as the exchange served them: none made
up, so times may skip (an exchange halt, a range before the listing or not yet downloaded); the
caller aligns them. Prices are floats parsed from the exchange's exact text (`bot.exchange.ohlcv`).

A file, `<cache_dir>/<source>/<BASE>-<QUOTE>_<timeframe>.csv.gz`, holds one unbroken stretch of
the exchange's closed bars (`timestamp,open,high,low,close,volume`: ms and the exchange's exact
decimal text), oldest first, as a series of gzip members: each page fetched is appended as a
member of its own, written whole and synced before the next request. So an interrupted download
loses at most the member being written, and a torn or corrupt member (a failed CRC, bad rows,
time going back) is found on the next run: the file is cut back to the whole members before it
and the rest fetched again. `download` fetches only what the file lacks: after its newest bar
up to `end_ms`, and before its oldest bar down to `start_ms` (written to a new file that
replaces the old one whole, so it too survives an interruption). The stretch stays unbroken:
a range after the file's end is fetched from the file's end, one before its start up to its
start. A bar is kept only once closed (`now_ms` past its end by `CLOSE_MARGIN_MS`), so a cached
bar never changes.
"""

from __future__ import annotations

import gzip
import os
import re
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.errors import BotError
from bot.exchange.codec import to_text
from bot.exchange.ohlcv import Bar, OhlcvApi, timeframe_ms
from bot.observability import get_logger

log = get_logger("bot.lab")

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
# (symbol, done_ms, total_ms): how much of the asked range the cache holds or has passed.
Progress = Callable[[str, int, int], None]

HEADER = "timestamp,open,high,low,close,volume"
# A bar is cached once its end is this far in the past: the exchange may still be booking its
# last trades, and its clock is not ours.
CLOSE_MARGIN_MS = 60_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class CacheError(BotError):
    """A cache file is missing or corrupt, or the cache cannot be written."""


@dataclass(frozen=True, slots=True)
class Bars:
    """One symbol's bars, oldest first, as parallel arrays (prices as floats: see
    `bot.exchange.ohlcv` on why and how exact)."""

    symbol: str
    timeframe: str
    timestamps: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True, slots=True)
class Downloaded:
    """What `download` did for one symbol: bars fetched now, bars in the file, its first and
    last bar's open time (None: empty), and bytes of a torn or corrupt tail cut off."""

    symbol: str
    path: Path
    fetched: int
    bars: int
    first_ms: int | None
    last_ms: int | None
    repaired_bytes: int = 0


def source_id(exchange_id: str, mode: str) -> str:
    """The cache's name for where bars come from: the exchange's id for its real market (live,
    paper), with the mode for its sandbox or demo, whose bars are not the market's."""
    return exchange_id if mode in ("live", "paper") else f"{exchange_id}-{mode}"


def cache_path(cache_dir: Path, exchange_id: str, symbol: str, timeframe: str) -> Path:
    """The file of (exchange, symbol, timeframe): `BTC/USDT` 1h -> `<source>/BTC-USDT_1h.csv.gz`
    (a month, `1M`, is `1mo`: apart from `1m` on a case-blind file system)."""
    timeframe_ms(timeframe)  # a timeframe, not a path
    slug = symbol.replace("/", "-").replace(":", "_")
    for name in (exchange_id, slug):
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"cannot name a cache file after {name!r}")
    return cache_dir / exchange_id / f"{slug}_{timeframe.replace('M', 'mo')}.csv.gz"


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scan:
    """A file read member by member: its whole, valid rows and where they end (bytes)."""

    rows: npt.NDArray[np.float64]  # shape (n, 6)
    good_end: int
    size: int
    problem: str | None

    @property
    def first_ms(self) -> int | None:
        return int(self.rows[0, 0]) if len(self.rows) else None

    @property
    def last_ms(self) -> int | None:
        return int(self.rows[-1, 0]) if len(self.rows) else None


def _rows(text: str, after: float) -> npt.NDArray[np.float64]:
    """One member's rows, checked: six numbers, whole increasing times after `after`, prices
    and volumes finite and not negative. Raises ValueError."""
    lines = [line for line in text.splitlines() if line and line != HEADER]
    if not lines:
        return np.empty((0, 6))
    rows = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    if rows.shape[1] != 6:
        raise ValueError(f"{rows.shape[1]} columns")
    stamps = rows[:, 0]
    if not (np.isfinite(rows).all() and (rows >= 0).all()):
        raise ValueError("a number that is not finite or is negative")
    if (stamps != np.floor(stamps)).any() or stamps.max() >= 2.0**53:
        raise ValueError("a time that is not whole milliseconds")
    if stamps[0] <= after or (np.diff(stamps) <= 0).any():
        raise ValueError("times that do not increase")
    return rows


def _scan(path: Path) -> _Scan:
    """The file's rows up to its first torn or corrupt member (none: an empty scan)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _Scan(np.empty((0, 6)), 0, 0, None)
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {exc.strerror or exc}") from exc
    view, offset, problem = memoryview(raw), 0, None
    parts: list[npt.NDArray[np.float64]] = []
    after = -1.0
    while offset < len(raw):
        inflater = zlib.decompressobj(wbits=31)  # one gzip member, its CRC and length checked
        try:
            text = inflater.decompress(view[offset:]).decode("ascii")
            if not inflater.eof:
                raise ValueError("torn: the member ends before its end")
            rows = _rows(text, after)
        except (zlib.error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            problem = f"{path}: bad data at byte {offset} of {len(raw)}: {exc}"
            break
        if len(rows):
            parts.append(rows)
            after = float(rows[-1, 0])
        offset = len(raw) - len(inflater.unused_data)
    rows = np.concatenate(parts) if parts else np.empty((0, 6))
    return _Scan(rows, offset, len(raw), problem)


def load_bars(
    cache_dir: Path,
    exchange_id: str,
    symbols: Sequence[str],
    timeframe: str,
    start_ms: int,
    end_ms: int,
) -> dict[str, Bars]:
    """The cached bars of each symbol opening in [start_ms, end_ms), by symbol: possibly fewer
    than the range holds (the exchange had none, or they were not downloaded), never made up.
    Raises CacheError for a symbol without a file or with a corrupt one."""
    out: dict[str, Bars] = {}
    for symbol in symbols:
        path = cache_path(cache_dir, exchange_id, symbol, timeframe)
        if not path.exists():
            raise CacheError(
                f"no cached {timeframe} bars of {symbol} from {exchange_id} in {cache_dir}:"
                " run `rebalance-bot data download` first"
            )
        scan = _scan(path)
        if scan.problem is not None:
            raise CacheError(f"{scan.problem}: run `rebalance-bot data download` to repair it")
        rows = scan.rows
        lo, hi = np.searchsorted(rows[:, 0], [start_ms, end_ms], side="left")
        cut = rows[lo:hi]
        out[symbol] = Bars(
            symbol,
            timeframe,
            cut[:, 0].astype(np.int64),
            *(np.ascontiguousarray(cut[:, i]) for i in range(1, 6)),
        )
    return out


# -- writing --------------------------------------------------------------------------------------


def _member(bars: Sequence[Bar], header: bool) -> bytes:
    lines = [HEADER] if header else []
    lines += [
        f"{b.timestamp_ms},{_text(b.open)},{_text(b.high)},{_text(b.low)},"
        f"{_text(b.close)},{_text(b.volume)}"
        for b in bars
    ]
    return gzip.compress(("\n".join(lines) + "\n").encode("ascii"), mtime=0)


def _text(value: Decimal) -> str:
    return to_text(value.normalize()) if value else "0"


def _append(path: Path, data: bytes) -> None:
    """`data` added at the end of `path`, on disk before this returns."""
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _cut(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


def _prepend(path: Path, head: Sequence[Bar], good_end: int) -> None:
    """`head` (older bars) put before the file's whole members, by replacing the file whole."""
    part = path.with_name(path.name + ".part")
    with part.open("wb") as out:
        out.write(_member(head, header=True))
        if good_end:
            with path.open("rb") as f:
                out.write(f.read(good_end))
        out.flush()
        os.fsync(out.fileno())
    part.replace(path)


class _Meter:
    """Progress over [start, until): the part the cached stretch covers, and the part a fetch
    of older bars has passed."""

    def __init__(
        self, symbol: str, start: int, until: int, step: int, report: Progress | None
    ) -> None:
        self.symbol, self.start, self.until, self.step = symbol, start, until, step
        self.report, self.total = report, max(0, until - start)
        self.lo: int | None = None  # the cached stretch: its first bar's time and its end
        self.hi = 0
        self.head_to: int | None = None

    def held(self, first: int | None, last: int | None) -> None:
        if first is not None and last is not None:
            self.lo, self.hi, self.head_to = first, last + self.step, None
        self.show()

    def heading(self, newest: int) -> None:
        self.head_to = newest + self.step
        self.show()

    def show(self, done: int | None = None) -> None:
        if self.report is None:
            return
        if done is None:
            done = 0 if self.lo is None else self._clip(self.hi) - self._clip(self.lo)
            if self.head_to is not None:
                done += self._clip(self.head_to) - self.start
        self.report(self.symbol, min(max(done, 0), self.total), self.total)

    def _clip(self, t: int) -> int:
        return min(max(t, self.start), self.until)


async def download(
    gateway: OhlcvApi,
    symbols: Sequence[str],
    timeframe: str,
    start_ms: int,
    end_ms: int,
    cache_dir: Path,
    progress: Progress | None = None,
    *,
    source: str | None = None,
    now_ms: int | None = None,
) -> list[Downloaded]:
    """The closed bars of each symbol opening in [start_ms, end_ms) into the cache, fetching
    only what it lacks (see the module's docstring); `source` names the exchange in the cache
    (default: the gateway's id). Raises CacheError when the cache cannot be written, and the
    gateway's errors (ExchangeUnavailable...) as they come: what was written stays."""
    step = timeframe_ms(timeframe)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    until = min(end_ms, now - step - CLOSE_MARGIN_MS + 1)  # bars closed by now, with the margin
    where = source or gateway.id
    done: list[Downloaded] = []
    for symbol in symbols:
        path = cache_path(cache_dir, where, symbol, timeframe)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            done.append(
                await _one(gateway, symbol, timeframe, start_ms, until, path, step, progress)
            )
        except OSError as exc:
            raise CacheError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return done


async def _one(
    gateway: OhlcvApi,
    symbol: str,
    timeframe: str,
    start: int,
    until: int,
    path: Path,
    step: int,
    progress: Progress | None,
) -> Downloaded:
    scan = _scan(path)
    repaired = scan.size - scan.good_end
    if repaired:
        log.warning("ohlcv_cache_repaired", path=str(path), cut_bytes=repaired, why=scan.problem)
        _cut(path, scan.good_end)
    meter = _Meter(symbol, start, until, step, progress)
    first, last, count, fetched = scan.first_ms, scan.last_ms, len(scan.rows), 0
    meter.held(first, last)
    if first is not None and start < first and start < until:
        head = []
        async for page in gateway.ohlcv_pages(symbol, timeframe, start, first):
            head += page
            meter.heading(page[-1].timestamp_ms)
        if head:
            _prepend(path, head, scan.good_end)
            first, count, fetched = head[0].timestamp_ms, count + len(head), len(head)
        meter.held(first, last)
    cursor = start if last is None else last + timeframe_ms(timeframe, shortest=True)
    async for page in gateway.ohlcv_pages(symbol, timeframe, cursor, until):
        _append(path, _member(page, header=first is None))
        first = page[0].timestamp_ms if first is None else first
        last = page[-1].timestamp_ms
        count, fetched = count + len(page), fetched + len(page)
        meter.held(first, last)
    meter.show(meter.total)
    log.debug("ohlcv_cached", symbol=symbol, timeframe=timeframe, fetched=fetched, bars=count)
    return Downloaded(symbol, path, fetched, count, first, last, repaired)
