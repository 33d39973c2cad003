"""Prometheus metrics and /healthz over real HTTP on 127.0.0.1, as a scraper sees them."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.market import Side
from bot.execution.executor import LegOutcome, LegReport
from bot.metrics import STALE_POLLS, Metrics
from bot.runtime.planning import plan_from_snapshot
from bot.runtime.rebalance import RebalanceReport
from bot.settings import load_settings
from bot.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
POLL = 10.0


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics(clock: FakeClock) -> Iterator[Metrics]:
    m = Metrics(POLL, clock=clock)
    m.start("127.0.0.1", 0)
    yield m
    m.stop()


def get(metrics: Metrics, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{metrics.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, ctype, text = get(metrics, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def demo_plan():  # type: ignore[no-untyped-def]
    settings = load_settings(ROOT / "config" / "demo.toml")
    return plan_from_snapshot(
        settings.portfolio_spec(),
        settings.rebalance.policy(),
        load_snapshot(ROOT / "config" / "snapshots" / "demo.json"),
    )


def leg(symbol: str, side: Side, shortfall_price: Decimal, **counts: int) -> LegReport:
    """A leg that filled 1 unit at arrival 100 moved by `shortfall_price`, fee 0.1."""
    price = Decimal(100) + (shortfall_price if side is Side.BUY else -shortfall_price)
    return LegReport(
        key=f"rb01-1-{symbol}",
        symbol=symbol,
        side=side,
        planned=Decimal(1),
        arrival_mid=Decimal(100),
        quote="USDT",
        filled=Decimal(1),
        cost=price,
        fees=Decimal("0.1"),
        children=counts.get("children", 0),
        children_filled=counts.get("filled", 0),
        children_cancelled=counts.get("cancelled", 0),
        children_rejected=counts.get("rejected", 0),
        outcome=LegOutcome.DONE,
    )


def test_poll_values_are_exposed_per_asset(metrics: Metrics, clock: FakeClock) -> None:
    valuation = demo_plan().valuation
    metrics.observe_poll(valuation, clock.now)
    series = scrape(metrics)
    assert series[("rebalance_portfolio_value", (("quote", "USDT"),))] == pytest.approx(
        float(valuation.total)
    )
    btc = valuation.position("BTC")
    assert series[("rebalance_asset_weight", (("asset", "BTC"),))] == pytest.approx(
        float(btc.weight)
    )
    assert series[("rebalance_asset_target", (("asset", "BTC"),))] == pytest.approx(0.40)
    assert series[("rebalance_asset_drift", (("asset", "BTC"),))] == pytest.approx(
        float(btc.weight) - 0.40
    )
    assets = {dict(labels)["asset"] for name, labels in series if name == "rebalance_asset_weight"}
    assert assets == {p.asset for p in valuation.positions} == {"BTC", "ETH", "SOL", "LINK", "USDT"}
    assert series[("rebalance_last_poll_timestamp_seconds", ())] == clock.now


def test_rebalance_counters_fees_and_shortfall(metrics: Metrics) -> None:
    plan = demo_plan()
    legs = [
        # ETH/BTC's quote is BTC: its value in USDT uses the BTC price; these two are USDT legs.
        leg("SOL/USDT", Side.SELL, Decimal("0.03"), children=4, filled=3, cancelled=1),
        leg("LINK/USDT", Side.BUY, Decimal("0.08"), children=3, filled=2, rejected=1),
    ]
    done = RebalanceReport(1, "done", "", plan, started=0.0, finished=12.0, legs=legs)
    halted = RebalanceReport(2, "halted", "SOL/USDT: deadline", plan, started=20.0, finished=30.0)
    for report in (done, halted):
        metrics.rebalance_started()
        metrics.rebalance_finished(report)
    metrics.halted(True)
    metrics.api_error("RateLimitExceeded")
    metrics.api_error("RateLimitExceeded")
    metrics.api_error("RequestTimeout")
    metrics.loop_lag(0.25)

    s = scrape(metrics)
    assert s[("rebalance_rebalances_started_total", ())] == 2
    assert s[("rebalance_rebalances_finished_total", (("status", "done"),))] == 1
    assert s[("rebalance_rebalances_finished_total", (("status", "halted"),))] == 1
    assert s[("rebalance_rebalances_halted_total", ())] == 1
    assert s[("rebalance_child_orders_placed_total", ())] == 7
    assert s[("rebalance_child_orders_filled_total", ())] == 5
    assert s[("rebalance_child_orders_cancelled_total", ())] == 1
    assert s[("rebalance_child_orders_rejected_total", ())] == 1
    assert s[("rebalance_fees_total", (("quote", "USDT"),))] == pytest.approx(0.2)
    assert s[("rebalance_traded_value_total", (("quote", "USDT"),))] == pytest.approx(
        float(done.traded_value)
    )
    # shortfall per leg, price + fee: 3 + 10.003 bps (sold at 99.97) and 8 + 9.992 (bought at 100.08)
    assert s[("rebalance_shortfall_bps_count", ())] == 2
    assert s[("rebalance_shortfall_bps_sum", ())] == pytest.approx(
        float(sum(x.shortfall_bps for x in legs))
    )
    assert s[("rebalance_shortfall_bps_bucket", (("le", "15.0"),))] == 1
    assert s[("rebalance_shortfall_bps_bucket", (("le", "20.0"),))] == 2
    assert s[("rebalance_api_errors_total", (("error", "RateLimitExceeded"),))] == 2
    assert s[("rebalance_api_errors_total", (("error", "RequestTimeout"),))] == 1
    assert s[("rebalance_loop_lag_seconds", ())] == 0.25
    assert s[("rebalance_halted", ())] == 1
    metrics.halted(False)
    assert scrape(metrics)[("rebalance_halted", ())] == 0


def test_healthz_follows_the_polls(metrics: Metrics, clock: FakeClock) -> None:
    status, ctype, body = get(metrics, "/healthz")
    assert (status, json.loads(body)["reason"]) == (503, "no poll yet")
    assert ctype == "application/json"

    metrics.observe_poll(demo_plan().valuation, clock.now)
    status, _, body = get(metrics, "/healthz")
    assert status == 200
    assert json.loads(body) == {
        "status": "ok",
        "reason": "polling",
        "last_poll_age_s": 0.0,
        "halted": False,
    }

    clock.now += STALE_POLLS * POLL  # exactly at the limit: still fine
    assert get(metrics, "/healthz")[0] == 200
    clock.now += 1
    status, _, body = get(metrics, "/healthz")
    assert status == 503
    assert json.loads(body)["status"] == "unhealthy"
    assert "last poll 31 s ago" in json.loads(body)["reason"]

    metrics.observe_poll(demo_plan().valuation)  # `now` defaults to the clock's
    assert get(metrics, "/healthz")[0] == 200
    assert get(metrics, "/nope")[0] == 404


def test_two_instances_never_share_series() -> None:
    a, b = Metrics(POLL), Metrics(POLL)
    a.api_error("NetworkError")
    assert b"NetworkError" in a.render()
    assert b"NetworkError" not in b.render()


def test_start_stop_and_a_busy_port(clock: FakeClock) -> None:
    m = Metrics(POLL, clock=clock)
    port = m.start("127.0.0.1", 0)
    with pytest.raises(RuntimeError):
        m.start("127.0.0.1", 0)
    other = Metrics(POLL)
    with pytest.raises(OSError, match="in use"):
        other.start("127.0.0.1", port)
    started = time.monotonic()
    m.stop()
    assert time.monotonic() - started < 2
    m.stop()  # twice is harmless
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


async def test_scrapes_never_wait_for_the_event_loop(clock: FakeClock) -> None:
    """The server answers while the loop is blocked, and the loop-lag monitor sees the stall."""
    m = Metrics(POLL, clock=clock)
    m.start("127.0.0.1", 0)
    monitor = asyncio.create_task(m.monitor_loop_lag(interval=0.02))
    try:
        await asyncio.sleep(0.05)
        # Blocking calls on the loop thread: a scrape (served by the metrics thread, so it
        # cannot need the loop) and a stall, which is what the lag gauge exists to reveal.
        assert get(m, "/metrics")[0] == 200
        time.sleep(0.3)  # noqa: ASYNC251 (the stall under test)
        for _ in range(3):  # let the monitor wake once, late, and record it
            await asyncio.sleep(0)
        lag = scrape(m)[("rebalance_loop_lag_seconds", ())]
        assert 0.2 <= lag < 5
    finally:
        monitor.cancel()
        m.stop()
