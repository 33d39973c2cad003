"""OHLCV bars read through ccxt, paged by time: `OhlcvApi`, part of the gateway.

`ohlcv_pages(symbol, timeframe, since_ms, until_ms)` yields the bars whose open time is in
[since_ms, until_ms), oldest first, one page per request: each request asks for the profile's
`ohlcv_page` bars from the earliest time the bar after the newest yet seen may open (that one's
open plus the shortest length of a bar), so no bar is asked twice; one answered twice (a page
that starts before `since`, a bar repeated) is kept once.
Paging ends at `until_ms`, at an empty page, or at a page with nothing newer (an exchange that
serves only its latest bars, whatever `since` says). `fetch_ohlcv_pages` collects the pages.

Numbers: the bot's ccxt clients hand out the exchange's own text (`number = str`, `connect.py`),
so a `Bar` holds exact Decimals, checked finite and not negative. The cache writes that text
unchanged; the backtest reads it as floats (the nearest double: a relative error below 1.2e-16,
far under any tick) because numpy over floats is what a backtest needs to be fast.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.exchange.codec import dec
from bot.exchange.transport import Transport

_ZERO = Decimal(0)
# The longest a bar of each unit lasts, in ms: a month 31 days, a year 366 (the shortest: 28, 365).
_UNIT_MS = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "M": 31 * 86_400_000,
    "y": 366 * 86_400_000,
}
_TIMEFRAME = re.compile(r"([1-9][0-9]{0,3})([smhdwMy])")


_SHORTER_MS = {"M": 3 * 86_400_000, "y": 86_400_000}


def timeframe_ms(timeframe: str, *, shortest: bool = False) -> int:
    """The longest (or `shortest`) a bar of `timeframe` ("1m", "4h", "1d", "1w", "1M") lasts, in
    ms. Raises ValueError for a timeframe that is not a count and a unit."""
    match = _TIMEFRAME.fullmatch(timeframe)
    if match is None:
        raise ValueError(f"not a timeframe: {timeframe!r} (e.g. 1m, 15m, 1h, 4h, 1d, 1w)")
    unit = _UNIT_MS[match[2]] - (_SHORTER_MS.get(match[2], 0) if shortest else 0)
    return int(match[1]) * unit


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar as the exchange reported it: its open time (ms, UTC) and exact prices."""

    timestamp_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def bar_from_ccxt(row: Sequence[Any]) -> Bar:
    """ccxt's `[timestamp, open, high, low, close, volume]` as a `Bar` (a volume of None: 0).
    Raises ValueError for a row that is not one."""
    if len(row) < 6:
        raise ValueError(f"an OHLCV row of {len(row)} fields: {row!r}")
    stamp = dec(row[0])
    if not stamp.is_finite() or stamp != stamp.to_integral_value() or stamp < 0:
        raise ValueError(f"not a timestamp in ms: {row[0]!r}")
    values = [dec(v) for v in row[1:5]] + [_ZERO if row[5] is None else dec(row[5])]
    for value in values:
        if not value.is_finite() or value < 0:
            raise ValueError(f"not a price or volume: {value} in {row!r}")
    return Bar(int(stamp), *values)


def _page(raw: Any) -> list[Bar]:
    """A reply as bars by open time, each time once (the last answer for it kept)."""
    if not isinstance(raw, list):
        raise TypeError(f"fetch_ohlcv answered {type(raw).__name__}, not a list")
    by_time = {bar.timestamp_ms: bar for bar in map(bar_from_ccxt, raw)}
    return [by_time[t] for t in sorted(by_time)]


class OhlcvApi(Transport):
    """Reading an exchange's OHLCV history (the gateway's share of it)."""

    @property
    def reads_ohlcv(self) -> bool:
        """Whether the exchange serves OHLCV bars through ccxt."""
        has: Mapping[str, Any] = getattr(self.exchange, "has", None) or {}
        return bool(has.get("fetchOHLCV"))

    @property
    def timeframes(self) -> tuple[str, ...]:
        """The timeframes the exchange serves, as ccxt names them; empty when not told."""
        return tuple(getattr(self.exchange, "timeframes", None) or ())

    async def ohlcv_pages(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int,
        until_ms: int,
        page: int | None = None,
    ) -> AsyncIterator[list[Bar]]:
        """The bars of `symbol` opening in [since_ms, until_ms), oldest first, one list per
        request (`page` bars asked each, default the profile's `ohlcv_page`); a page with no new
        bar in the range is not yielded."""
        size = page or self.profile.ohlcv_page
        step = timeframe_ms(timeframe, shortest=True)
        cursor, newest_kept = since_ms, since_ms - 1
        while cursor < until_ms:
            raw = await self._call("fetch_ohlcv", symbol, timeframe, cursor, size)
            bars = self._decode("fetch_ohlcv", _page, raw)
            fresh = [b for b in bars if newest_kept < b.timestamp_ms < until_ms]
            if fresh:
                newest_kept = fresh[-1].timestamp_ms
                yield fresh
            if not bars or bars[-1].timestamp_ms < cursor:  # nothing at or after the cursor
                return
            cursor = bars[-1].timestamp_ms + step

    async def fetch_ohlcv_pages(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int,
        until_ms: int,
        page: int | None = None,
    ) -> list[Bar]:
        """Every bar of `symbol` opening in [since_ms, until_ms), oldest first, each once."""
        return [
            bar
            async for bars in self.ohlcv_pages(symbol, timeframe, since_ms, until_ms, page)
            for bar in bars
        ]
