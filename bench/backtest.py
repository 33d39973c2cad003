"""How long the policy lab takes: 20 policies x 10 assets x 5 years of hourly bars.

The default grid of `rebalance-bot backtest` (bot/lab/policies.py) over seeded generated bars
(43,800 hourly bars of 10 assets against USDT), the portfolio 9% each and 10% USDT, with the
backtest's default costs. Timed: the whole comparison (rolling statistics, every policy, the
metrics) in 2 worker processes, and in one; the target is 60 s on 2 cores.
"""

from __future__ import annotations

import time
from decimal import Decimal

from bot.lab.backtest import Setup, backtest
from bot.lab.bars import DAY_MS, align, generate, timeframe_ms
from bot.lab.policies import default_policies

START = 1_609_459_200_000  # 2021-01-01 UTC
ASSETS = tuple(f"A{i}" for i in range(10))


def run() -> list[tuple[str, str]]:
    tf = timeframe_ms("1h")
    bars = generate(ASSETS, "USDT", START, START + 1825 * DAY_MS, tf, seed=11)
    history = align(bars, ASSETS, "USDT", tf)
    targets = {a: Decimal("0.09") for a in ASSETS} | {"USDT": Decimal("0.1")}
    setup = Setup("USDT", targets, 1_000_000.0)
    policies = default_policies()
    label = (
        f"backtest, {len(policies)} policies x {len(ASSETS)} assets x 5 years hourly"
        f" ({len(history.timestamps):,} bars)"
    )
    rows = []
    for workers in (2, 1):
        t0 = time.perf_counter()
        results = backtest(history, setup, policies, workers)
        elapsed = time.perf_counter() - t0
        rows.append((f"{label}, {workers} worker{'s' if workers > 1 else ''}", f"{elapsed:.1f} s"))
    rebalances = sum(f.rebalances for _, f in results)
    rows += [
        ("backtest: rebalances planned by the bot's planner, all policies", f"{rebalances:,}"),
        ("backtest target", "<= 60 s on 2 cores"),
    ]
    return rows


if __name__ == "__main__":
    for key, value in run():
        print(f"{key}: {value}")
