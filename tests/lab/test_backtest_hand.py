"""The engine on a two-asset portfolio whose trades, turnover and costs are computed by hand.

BTC/USDT, targets 50/50, 100,000 USDT at the start: 5 BTC at 10,000 and 50,000 USDT. BTC doubles
at bar 2 (daily bars), then stays. Costs: fee 10 bps, half spread 2 bps, no impact.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from bot.domain.planner import RebalanceTo
from bot.domain.portfolio import Band, BandKind
from bot.domain.schedule import Schedule
from bot.lab.backtest import Run, Setup, run_policy
from bot.lab.bars import DAY_MS, History
from bot.lab.costs import CostParams, rolling_stats
from bot.lab.policies import Check, Policy

START = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
COSTS = CostParams(fee_bps=10, half_spread_bps=2, impact=0, min_notional=20)
ABS5 = Band(BandKind.ABSOLUTE, Decimal("0.05"))


def history(prices: list[float]) -> History:
    n = len(prices)
    return History(
        ("BTC",),
        "USDT",
        np.array([START + i * DAY_MS for i in range(n)], dtype=np.int64),
        np.array(prices, dtype=np.float64)[:, None],
        np.full((n, 1), 1_000.0),
        DAY_MS,
    )


def run(policy: Policy, prices: list[float] | None = None, costs: CostParams = COSTS) -> Run:
    h = history(prices or [10_000, 10_000, 20_000, 20_000, 20_000])
    setup = Setup("USDT", {"BTC": Decimal("0.5"), "USDT": Decimal("0.5")}, 100_000.0, costs)
    stats = rolling_stats(h.close, h.volume, h.bars_per_day, costs.vol_window_days)
    return run_policy(h, setup, policy, stats)


def test_none_never_trades() -> None:
    r = run(Policy("none"))
    assert r.rebalances == ()
    assert r.traded == r.fees == r.impact == 0
    # 5 BTC at each close + 50,000 USDT.
    assert r.values.tolist() == [100_000, 100_000, 150_000, 150_000, 150_000]
    assert r.weights[2, 0] == pytest.approx(2 / 3)


def test_absolute_band_to_target_trades_once() -> None:
    r = run(Policy("abs 5% target", band=ABS5))
    # Bar 2: BTC 5 x 20,000 = 100,000 of 150,000: weight 2/3 > 0.55, out of band.
    # To target: 0.5 x 150,000 = 75,000 of BTC: sell 25,000 at mid = 1.25 BTC.
    assert r.rebalances == (2,)
    assert r.traded == pytest.approx(25_000)
    # The sell receives 25,000 x (1 - 0.0002) = 24,995 before the fee; the fee is 0.1% of that:
    # 24.995. Half spread: 25,000 x 0.0002 = 5.
    assert r.fees == pytest.approx(24.995)
    assert r.impact == pytest.approx(5.0)
    # After: 3.75 BTC (75,000) and 50,000 + 24,995 - 24.995 = 74,970.005 USDT.
    assert r.values[2] == pytest.approx(149_970.005)
    assert r.weights[4, 0] == pytest.approx(75_000 / 149_970.005)


def test_absolute_band_to_band_edge_trades_to_inside_the_edge() -> None:
    r = run(Policy("abs 5% edge", band=ABS5, to=RebalanceTo.BAND_EDGE))
    # Band [0.45, 0.55]; the planner aims a quarter of the half width inside the upper edge:
    # 0.55 - 0.05 x 0.25 = 0.5375 of 150,000 = 80,625 of BTC: sell 19,375 (0.96875 BTC).
    # USDT after: (50,000 + 19,375) / 150,000 = 0.4625, inside its band: no fallback to target.
    assert r.rebalances == (2,)
    assert r.traded == pytest.approx(19_375)
    assert r.fees == pytest.approx(19_375 * 0.9998 * 0.001)  # 19.371125
    assert r.impact == pytest.approx(19_375 * 0.0002)  # 3.875
    usdt = 50_000 + 19_375 * 0.9998 * 0.999  # 69,351.753875
    assert r.values[2] == pytest.approx(80_625 + usdt)
    assert r.weights[2, 0] == pytest.approx(80_625 / (80_625 + usdt))  # 0.5376: in band
    assert r.notes == ()


def test_calendar_rebalances_to_target_at_its_slots() -> None:
    r = run(Policy("daily", schedule=Schedule.parse("daily 00:00")))
    # Slots at every bar from bar 1 on. Bar 1: at target, nothing to do. Bar 2: the same sell as
    # to target (1.25 BTC). Bars 3, 4: the costs left BTC at 75,000 of 149,970.005, so the target
    # is 74,985.0025: a sell of 14.9975, under the 20 USDT minimum: dust, no rebalance.
    assert r.rebalances == (2,)
    assert r.traded == pytest.approx(25_000)
    assert r.fees == pytest.approx(24.995)


def test_calendar_with_a_minimum_under_the_drift_trades_the_remainder() -> None:
    costs = CostParams(fee_bps=10, half_spread_bps=2, impact=0, min_notional=10)
    r = run(Policy("daily", schedule=Schedule.parse("daily 00:00")), costs=costs)
    # With a 10 USDT minimum, bar 3 sells the 14.9975 USDT left above target.
    assert r.rebalances == (2, 3)
    assert r.traded == pytest.approx(25_000 + 14.9975, abs=1e-3)


def test_interval_schedule_counts_from_the_first_bar() -> None:
    r = run(Policy("every 2d", schedule=Schedule.parse("every 2d")), [10_000] * 2 + [20_000] * 3)
    # Due at bar 2 (two days after bar 0) and bar 4 (dust there).
    assert r.rebalances == (2,)


def test_scheduled_check_trades_only_out_of_band() -> None:
    weekly = Schedule.parse("weekly wed 00:00")  # 2024-01-03 is bar 2
    r = run(Policy("weekly if abs 5%", ABS5, weekly, check=Check.SCHEDULED))
    assert r.rebalances == (2,)
    in_band = run(
        Policy("weekly if abs 5%", ABS5, weekly, check=Check.SCHEDULED), [10_000, 10_000, 10_500]
    )
    # 52,500 / 102,500 = 0.512: in band at the slot, so nothing trades.
    assert in_band.rebalances == ()


def test_impact_is_charged_by_the_square_root_law() -> None:
    costs = CostParams(fee_bps=10, half_spread_bps=2, impact=0.7, vol_window_days=30)
    prices = [10_000, 10_000, 20_000, 20_000, 20_000]
    r = run(Policy("abs 5% target", band=ABS5), prices, costs)
    h = history(prices)
    sigma, adv = rolling_stats(h.close, h.volume, 1.0, 30)
    # At bar 2: sigma = std(0, ln 2) (ddof 1) = ln 2 / sqrt 2; ADV = mean of 1,000 x closes
    # 10,000, 10,000, 20,000 = 13,333,333.3.
    assert sigma[2, 0] == pytest.approx(np.log(2) / np.sqrt(2))
    assert adv[2, 0] == pytest.approx(40_000_000 / 3)
    spread_impact = 0.0002 + 0.7 * sigma[2, 0] * np.sqrt(25_000 / adv[2, 0])
    assert r.impact == pytest.approx(25_000 * spread_impact)
    assert r.fees == pytest.approx(25_000 * (1 - spread_impact) * 0.001)


def test_cooldown_defers_the_next_rebalance() -> None:
    prices = [10_000.0, 10_000, 20_000, 40_000, 40_000, 40_000]
    h = history(prices)
    stats = rolling_stats(h.close, h.volume, h.bars_per_day, 30)
    targets = {"BTC": Decimal("0.5"), "USDT": Decimal("0.5")}
    policy = Policy("abs 5% target", band=ABS5)
    # BTC doubles at bar 2 and again at bar 3: out of band both times.
    free = run_policy(h, Setup("USDT", targets, 100_000.0, COSTS), policy, stats)
    assert free.rebalances == (2, 3)
    # A two-day cooldown: bar 3 is one day after the rebalance, so it waits for bar 4.
    slow = run_policy(
        h, Setup("USDT", targets, 100_000.0, COSTS, cooldown=2 * 86_400), policy, stats
    )
    assert slow.rebalances == (2, 4)
    assert slow.weights[3, 0] > 0.55  # out of band while cooling down


def test_invariants_on_generated_bars() -> None:
    from bot.lab.backtest import backtest
    from bot.lab.bars import align, generate
    from bot.lab.policies import default_policies

    assets = ("A", "B", "C", "D", "E")
    bars = generate(assets, "USDT", START, START + 365 * DAY_MS, 3_600_000, seed=3)
    h = align(bars, assets, "USDT", 3_600_000)
    targets = {a: Decimal("0.18") for a in assets} | {"USDT": Decimal("0.1")}
    results = backtest(h, Setup("USDT", targets, 1_000_000.0), default_policies(), workers=1)
    hold = results[0][0]
    for run_, figs in results:
        assert np.all(run_.values > 0)
        assert np.all(run_.weights >= -1e-9)
        assert np.allclose(run_.weights.sum(axis=1), 1)
        assert figs.costs >= 0 and figs.traded >= 0
        assert (figs.rebalances == 0) == (figs.traded == 0)
        band = run_.policy.band
        if band is not None and band.kind is BandKind.ABSOLUTE and run_.policy.schedule is None:
            # Checked at every bar and traded at once: no weight ends a bar outside its band.
            assert figs.max_drift <= float(band.width) + 1e-9, run_.policy.name
    # Buy-and-hold: the holdings never change, so its value is theirs at each close.
    start_units = 1_000_000 * 0.18 / h.close[0]
    assert np.allclose(hold.values, h.close @ start_units + 100_000)
