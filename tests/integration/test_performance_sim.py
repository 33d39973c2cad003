"""Performance net of flows on the simulator: valuation points around a deposit, a time-weighted
return that does not count the deposit as a gain, and deposits counted apart in the metrics."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bot.metrics import Metrics
from bot.runtime.performance import ValuationLog, performance_report
from tests.integration.helpers import daemon_for, settings_for

D = Decimal


async def test_a_deposit_is_a_flow_not_a_return_and_is_counted_apart(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    metrics = Metrics(60.0)
    daemon.flows.metrics = metrics
    first = await daemon.run(until_balanced=True)
    assert first.balanced
    await daemon.clock.sleep(60)
    assert not (await daemon.run(once=True)).reports  # a quiet poll: not a point (yet)
    await daemon.clock.sleep(60)
    ex.flow_book.schedule("deposit", "USDT", D(200_000), at=ex.clock.time())
    result = await daemon.run(until_balanced=True)
    assert result.halted is None and result.balanced
    points = journal.valuations("USDT")
    with_flow = [i for i, p in enumerate(points) if p.flows]
    assert len(with_flow) == 1
    i = with_flow[0]
    assert points[i].flows == {"USDT": D(200_000)}
    # the poll before the flow is a point too: the sub-period holding the deposit is one poll
    assert points[i].at - points[i - 1].at <= daemon.loop.poll_interval * 2
    report = performance_report(journal, "USDT", None)
    p = report.performance
    assert p is not None
    assert p.net_flows == D(200_000)
    naive = p.end_value / p.start_value - 1  # the deposit counted as a gain: about +20%
    assert naive > D("0.15")
    assert abs(p.twr) < D("0.01"), p.twr  # net of it: prices and costs only
    assert report.rebalances >= 2 and report.fees > 0
    sample = metrics.registry.get_sample_value
    assert sample("rebalance_deposited_total", {"asset": "USDT"}) == 200_000
    assert sample("rebalance_flows_total", {"kind": "deposit", "asset": "USDT"}) == 1
    assert sample("rebalance_traded_value_total", {"quote": "USDT"}) is None  # not trading


def fake_valuation(usdt: str) -> Any:
    """What `point_of` reads of a valuation: the positions, the quote and its reserve."""
    position = SimpleNamespace(asset="USDT", balance=D(usdt), price=D(1))
    return SimpleNamespace(quote="USDT", reserve=D(0), positions=(position,))


class Recorder:
    def __init__(self) -> None:
        self.points: list[float] = []

    def last_valuation_at(self) -> float | None:
        return None

    def record_valuation(self, quote: str, point: Any) -> None:
        self.points.append(point.at)


def test_points_every_quarter_hour_and_around_every_flow() -> None:
    journal = Recorder()
    log = ValuationLog(journal, every=900)  # type: ignore[arg-type]
    for t in range(0, 2000, 60):
        flows = {"USDT": D(5)} if t == 1020 else {}
        log.observe(fake_valuation("100"), flows, float(t))
    # the first poll, 900 s on, the poll before the flow and the flow's, then 900 s after that
    assert journal.points == [0, 900, 960, 1020, 1920]
