"""Price history for a backtest: every asset's closes and volumes on one time grid.

From the OHLCV cache (`bot.lab.ohlcv_cache`, any mapping of symbol -> bars with `timestamps`,
`close` and `volume` arrays) or generated: seeded geometric Brownian motion with one common market
factor, for tests and benchmarks (no network).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.errors import ConfigError

DAY_MS = 86_400_000
_TIMEFRAME = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}


class BarSeries(Protocol):
    """What the backtest reads of one symbol's bars (the cache's `Bars` has it)."""

    @property
    def timestamps(self) -> npt.NDArray[np.int64]: ...
    @property
    def close(self) -> npt.NDArray[np.float64]: ...
    @property
    def volume(self) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True, slots=True)
class Series:
    """One symbol's bars, as the generator makes them."""

    timestamps: npt.NDArray[np.int64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class History:
    """Closes and volumes (bars x assets) on the timestamps every asset has a bar at."""

    assets: tuple[str, ...]  # base assets, one per column
    quote: str
    timestamps: npt.NDArray[np.int64]  # ms, increasing
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]  # base units per bar
    timeframe_ms: int

    @property
    def bars_per_day(self) -> float:
        return DAY_MS / self.timeframe_ms

    @property
    def years(self) -> float:
        return (len(self.timestamps) - 1) * self.timeframe_ms / (365.25 * DAY_MS)


def timeframe_ms(text: str) -> int:
    """`1h`, `15m`, `1d`, `1w` in milliseconds; ConfigError otherwise."""
    m = _TIMEFRAME.match(text.strip())
    if not m or int(m[1]) == 0:
        raise ConfigError([f"timeframe {text!r}: expected a number and m, h, d or w (1h, 15m)"])
    return int(m[1]) * _UNIT_MS[m[2]]


def align(
    bars: Mapping[str, BarSeries], assets: Sequence[str], quote: str, timeframe: int
) -> History:
    """The bars of `asset/quote` for every asset, cut to the timestamps all of them have."""
    common: npt.NDArray[np.int64] | None = None
    for asset in assets:
        series = bars.get(f"{asset}/{quote}")
        if series is None or len(series.timestamps) == 0:
            raise ConfigError([f"no bars for {asset}/{quote} in that period"])
        ts = np.asarray(series.timestamps, dtype=np.int64)
        common = ts if common is None else np.intersect1d(common, ts)
    if common is None or len(common) < 2:
        raise ConfigError(["fewer than two bar times common to every asset in that period"])
    close = np.empty((len(common), len(assets)))
    volume = np.empty_like(close)
    for j, asset in enumerate(assets):
        series = bars[f"{asset}/{quote}"]
        at = np.searchsorted(np.asarray(series.timestamps, dtype=np.int64), common)
        close[:, j] = np.asarray(series.close, dtype=np.float64)[at]
        volume[:, j] = np.asarray(series.volume, dtype=np.float64)[at]
    if not np.all(np.isfinite(close)) or np.any(close <= 0):
        raise ConfigError(["the bars hold a close price that is not a positive number"])
    volume = np.nan_to_num(np.clip(volume, 0, None))
    return History(tuple(assets), quote, common, close, volume, timeframe)


def generate(
    assets: Sequence[str],
    quote: str,
    start_ms: int,
    end_ms: int,
    timeframe: int,
    seed: int = 7,
) -> dict[str, Series]:
    """Seeded bars for `asset/quote`: daily volatility 2.5-5.5%, a common market factor (about
    0.6 correlation), a median drift of 10% a year, prices from 1 to 50,000 and about 50
    million quote traded a day."""
    rng = np.random.default_rng(seed)
    ts = np.arange(start_ms - start_ms % timeframe, end_ms, timeframe, dtype=np.int64)
    n, k = len(ts), len(assets)
    per_day = DAY_MS / timeframe
    sigma = rng.uniform(0.025, 0.055, k) / np.sqrt(per_day)
    market = rng.standard_normal(n)
    own = rng.standard_normal((n, k))
    shocks = (0.77 * market[:, None] + 0.64 * own) * sigma + 0.1 / 365.25 / per_day
    shocks[0] = 0.0
    start_price = np.exp(rng.uniform(0, np.log(50_000), k))
    close = start_price * np.exp(np.cumsum(shocks, axis=0))
    quote_volume = 5e7 / per_day * np.exp(0.5 * rng.standard_normal((n, k)))
    volume = quote_volume / close
    return {f"{a}/{quote}": Series(ts, close[:, j], volume[:, j]) for j, a in enumerate(assets)}
