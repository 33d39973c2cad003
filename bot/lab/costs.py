"""The backtest's cost model: what one trade costs, as a fraction of its notional at mid.

    cost = fee + half_spread + impact * sigma_daily * sqrt(notional / adv)

- `fee`: the taker fee (every backtest trade takes);
- `half_spread`: half the bid-ask spread, paid against the mid;
- square-root impact: `impact` (the law's coefficient Y, about 0.5-1 in the literature) times the
  asset's daily volatility (standard deviation of log returns over `vol_window_days`, scaled to one
  day) times the square root of the trade's share of the average daily traded value (`adv`,
  volume x close over the same window, in the quote). Only bars up to the trade's bar are used.

Floats, not Decimal: a statistical model (the guide's rule), vectorised with numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CostParams:
    """The cost model's parameters (set in the policies file's `[costs]` table)."""

    fee_bps: float = 10.0
    half_spread_bps: float = 2.0
    impact: float = 0.7
    vol_window_days: float = 30.0
    min_notional: float = 10.0  # the markets' minimum order in the quote: smaller legs are dust

    @property
    def fee(self) -> float:
        return self.fee_bps / 10_000

    @property
    def half_spread(self) -> float:
        return self.half_spread_bps / 10_000


def trade_cost_fraction(
    notional: float, sigma_daily: float, adv: float, params: CostParams
) -> tuple[float, float]:
    """(fee, spread + impact) of one trade, each a fraction of its notional at mid."""
    impact = 0.0
    if notional > 0 and adv > 0 and sigma_daily > 0:
        impact = params.impact * sigma_daily * math.sqrt(notional / adv)
    return params.fee, params.half_spread + impact


def rolling_stats(
    close: Floats, volume: Floats, bars_per_day: float, window_days: float
) -> tuple[Floats, Floats]:
    """Per bar and asset (columns), the daily volatility and the average daily traded value in
    the quote, from the `window_days` of bars ending at that bar (fewer at the start; 0 before
    two bars). Rolling sums by cumulative sums: O(bars x assets)."""
    n = max(2, round(window_days * bars_per_day))
    rets = np.zeros_like(close)
    rets[1:] = np.log(close[1:] / close[:-1])
    c1 = np.cumsum(rets, axis=0)
    c2 = np.cumsum(rets * rets, axis=0)
    traded = close * volume
    cv = np.cumsum(traded, axis=0)
    idx = np.arange(close.shape[0])
    lo = np.maximum(idx - n, 0)  # returns in (lo, idx]; return 0 is a placeholder
    count = (idx - lo).astype(np.float64)[:, None]
    s1 = c1 - c1[lo]
    s2 = c2 - c2[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / count
        var = (s2 - count * mean * mean) / np.maximum(count - 1, 1)
        sigma = np.sqrt(np.clip(var, 0, None) * bars_per_day)
        sigma = np.where(count >= 2, sigma, 0.0)
        full = idx >= n  # a whole window: bars (idx - n, idx]; before it: [0, idx]
        vcount = np.where(full, n, idx + 1).astype(np.float64)[:, None]
        vsum = cv - np.where(full[:, None], cv[np.maximum(idx - n, 0)], 0.0)
        adv = vsum / vcount * bars_per_day
    return np.nan_to_num(sigma), np.nan_to_num(adv)
