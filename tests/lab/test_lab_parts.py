"""The cost model, the policies file, the metrics and the chart, each on hand-made cases."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bot.domain.planner import RebalanceTo
from bot.domain.portfolio import BandKind
from bot.errors import ConfigError
from bot.lab.chart import Line, thin, write_charts
from bot.lab.costs import CostParams, rolling_stats, trade_cost_fraction
from bot.lab.metrics import Figures, frontier, max_drawdown, recommend, tracking_error
from bot.lab.policies import Check, default_policies, load_lab_file


def test_cost_formula_on_a_hand_example() -> None:
    params = CostParams(fee_bps=10, half_spread_bps=2, impact=0.7)
    # 1,000,000 traded where 100,000,000 trade a day (1%), daily volatility 4%:
    # impact = 0.7 x 0.04 x sqrt(0.01) = 0.0028; with the half spread 0.0002: 0.003.
    fee, spread_impact = trade_cost_fraction(1_000_000, 0.04, 100_000_000, params)
    assert fee == pytest.approx(0.001)
    assert spread_impact == pytest.approx(0.003)
    # No volume or volatility known: the spread alone.
    assert trade_cost_fraction(1_000, 0.0, 0.0, params)[1] == pytest.approx(0.0002)


def test_rolling_stats_use_only_the_window_up_to_each_bar() -> None:
    close = np.array([[100.0], [110.0], [99.0], [99.0]])
    volume = np.ones_like(close)
    sigma, adv = rolling_stats(close, volume, bars_per_day=1.0, window_days=2)
    r1, r2 = np.log(1.1), np.log(0.9)
    assert sigma[0, 0] == 0 and sigma[1, 0] == 0  # fewer than two returns
    assert sigma[2, 0] == pytest.approx(np.std([r1, r2], ddof=1))
    assert sigma[3, 0] == pytest.approx(np.std([r2, 0.0], ddof=1))
    assert adv[0, 0] == 100 and adv[1, 0] == pytest.approx(105)
    assert adv[2, 0] == pytest.approx((110 + 99) / 2)


def test_default_grid() -> None:
    grid = default_policies()
    assert len(grid) == 20
    assert len({p.name for p in grid}) == 20
    assert sum(not p.trades for p in grid) == 1
    kinds = {p.band.kind for p in grid if p.band}
    assert kinds == {BandKind.ABSOLUTE, BandKind.RELATIVE}
    assert {p.to for p in grid} == set(RebalanceTo)


def test_policies_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        "[costs]\nfee_bps = 7.5\nimpact = 1\n[recommend]\nmax_tracking_error = 0.03\n"
        '[[policy]]\nname = "none"\n'
        '[[policy]]\nname = "edge"\nband = "relative"\nwidth = 0.25\nto = "band_edge"\n'
        '[[policy]]\nname = "cal"\nschedule = "weekly mon 08:00"\n'
        '[[policy]]\nname = "both"\nband = "absolute"\nwidth = 0.05\nschedule = "every 7d"\n'
        'check = "scheduled"\n'
    )
    lab = load_lab_file(path, CostParams(half_spread_bps=3))
    assert [p.name for p in lab.policies] == ["none", "edge", "cal", "both"]
    assert lab.costs == CostParams(fee_bps=7.5, half_spread_bps=3, impact=1.0)
    assert lab.max_tracking_error == 0.03
    edge = lab.policies[1]
    assert edge.band is not None and edge.band.width == Decimal("0.25")
    assert edge.to is RebalanceTo.BAND_EDGE
    assert lab.policies[3].check is Check.SCHEDULED


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[policy]]\nname = "x"\nwidht = 0.1\n', "unknown key 'widht'"),
        ('[[policy]]\nname = "x"\nband = "absolute"\nwidth = 1.5\n', "width: band width"),
        ('[[policy]]\nname = "x"\nband = "wide"\nwidth = 0.1\n', "band: expected one of"),
        ('[[policy]]\nname = "x"\nto = "band_edge"\n', "band_edge needs a band"),
        ('[[policy]]\nname = "x"\nschedule = "hourly"\n', "schedule 'hourly'"),
        ('[[policy]]\nname = "x"\n[[policy]]\nname = "x"\n', "used twice"),
        ("[costs]\nfee_bps = -1\n", "costs.fee_bps: must be"),
        ("[costs]\nfees = 1\n", "unknown key 'fees'"),
        ("[[policy]]\nname = \n", "invalid TOML"),
    ],
)
def test_policies_file_errors_are_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_lab_file(path, CostParams())
    assert len(caught.value.problems) == 1
    assert "\n" not in caught.value.problems[0]
    assert says in caught.value.problems[0]


def _fig(name: str, costs: float, te: float) -> Figures:
    return Figures(name, name, 1, 0, 0, costs, 0, costs, te, 0, 0, 0, 0, 0, 0)


def test_drawdown_and_tracking_error_by_hand() -> None:
    # Peak 120, trough 90: 25%.
    assert max_drawdown(np.array([100.0, 120, 90, 110, 130])) == pytest.approx(0.25)
    # A portfolio that moves exactly as its targets has no tracking error.
    close = np.array([[10.0], [11], [9], [12]])
    values = 50 + 5 * close[:, 0]  # 50/50 at the start, never rebalanced: drifts
    target = np.array([0.5, 0.5])
    assert tracking_error(values, close, target, 365) > 0
    rebalanced = np.cumprod(np.r_[1.0, 1 + 0.5 * (close[1:, 0] / close[:-1, 0] - 1)])
    assert tracking_error(rebalanced, close, target, 365) == pytest.approx(0, abs=1e-12)


def test_frontier_and_recommendation() -> None:
    figs = [_fig("none", 0, 0.20), _fig("a", 10, 0.01), _fig("b", 5, 0.03), _fig("c", 12, 0.02)]
    # c costs more than a and tracks worse: off the frontier.
    assert frontier(figs) == ["none", "b", "a"]
    assert recommend(figs, 0.02).name == "a"  # the cheapest within 2%
    assert "b" in recommend(figs, 0.02).reason  # the cheaper one it passed over
    assert recommend(figs, 0.05).name == "b"
    assert recommend(figs, 0.001).name == "a"  # none within: the lowest tracking error


def test_charts_are_written(tmp_path: Path) -> None:
    n = 5000
    ts = np.arange(n, dtype=np.int64) * 3_600_000
    w = np.tile([0.5, 0.5], (n, 1))
    lines = [Line("none", np.linspace(100, 200, n), w), Line("x", np.full(n, 100.0), w)]
    png, page = write_charts(tmp_path / "c", ts, lines, ["BTC", "USDT"], "two <policies>")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "two &lt;policies&gt;" in text and '"name":"x"' in text
    assert "http" not in text.replace("http://www.w3.org/2000/svg", "")  # self-contained
    assert len(thin(n)) <= 1000 and thin(n)[-1] == n - 1
