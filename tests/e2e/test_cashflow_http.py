"""Issue #19 over HTTP: the simulator served as Binance spot on 127.0.0.1 (`start_server`), the
bot's own wiring and the real `ccxt.async_support.binance` client, in virtual time (the server's
market and the bot share one `VirtualClock`; ccxt signs with that clock's time), so days of
polls take seconds. A deposit mid-run, a withdrawal after `raise --execute`, a targets-file
change during a rebalance and a 40-point target change under glide caps, each end to end.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli_plan import with_glide
from bot.domain.flows import FlowKind, FlowStatus
from bot.domain.glide import DAY
from bot.domain.market import Side
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.exchange.transport import RetryPolicy
from bot.execution.reports import LegReport
from bot.journal import Journal
from bot.report import status_dict
from bot.runtime.daemon import Daemon, RunResult
from bot.runtime.planning import plan_from_snapshot
from bot.runtime.raising import execute_raise
from bot.runtime.rebalance import take_snapshot
from bot.runtime.wiring import Backend, build_backend, build_daemon
from bot.settings import Settings, load_settings
from bot.sim.binance import (
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    front_of,
    start_server,
)
from bot.sim.clock import VirtualClock
from bot.sim.scenario import Scenario, parse_scenario
from tests.e2e.helpers import DEMO

D = Decimal
OLD = {"BTC": D("0.40"), "ETH": D("0.25"), "SOL": D("0.15"), "LINK": D("0.10"), "USDT": D("0.10")}
NEW = {"BTC": D("0.20"), "ETH": D("0.20"), "SOL": D("0.20"), "LINK": D("0.20"), "USDT": D("0.20")}


def toml_targets(weights: dict[str, Decimal]) -> str:
    return "targets = { " + ", ".join(f"{a} = {w}" for a, w in weights.items()) + " }\n"


def scenario(**overrides: Any) -> Scenario:
    """The demo scenario, top-level keys overridden (`regime` merged, the others replaced)."""
    data = tomllib.loads(DEMO.read_text())
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if key == "regime" else value
    return parse_scenario(data)


@dataclass
class Rig:
    settings: Settings
    clock: VirtualClock
    front: BinanceFront
    journal: Journal
    daemon: Daemon
    backend: Callable[[], Backend]  # another backend on the same server and clock


@asynccontextmanager
async def over_http(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sc: Scenario,
    *,
    portfolio: str = toml_targets(OLD),
    extra: str = "",
) -> AsyncIterator[Rig]:
    """`sc` served on a free port in virtual time, and a daemon trading it over HTTP."""
    clock = VirtualClock(sc.start)
    runner, port = await start_server(sc, clock=clock)
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", LOCAL_TEST_API_KEY)
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", LOCAL_TEST_SECRET)
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        f"""
[exchange]
id = "binance"
mode = "testnet"
api_url = "http://127.0.0.1:{port}"
retries = 8
requests_per_second = 1000
[portfolio]
quote = "USDT"
{portfolio}
[bands]
width = 0.03
[journal]
path = "journal.sqlite"
{extra}
"""
    )
    settings = load_settings(cfg)
    opened: list[Backend] = []

    def backend() -> Backend:
        """The bot's own binance client for the settings, on the virtual clock: it signs with
        the clock's time, and the gateway waits on it."""
        made = build_backend(settings)
        made.exchange.milliseconds = lambda: int(clock.time() * 1000)
        gateway = Gateway(
            made.exchange,
            requests_per_second=1000,
            retry=RetryPolicy(attempts=8),
            sleep=clock.sleep,
            now=clock.time,
            profile=profile_for("binance"),
        )
        opened.append(Backend(made.exchange, clock, gateway, "binance over HTTP, virtual time"))
        return opened[-1]

    journal = Journal(tmp_path / "journal.sqlite", now=clock.time)
    try:
        daemon = build_daemon(settings, backend(), journal)
        yield Rig(settings, clock, front_of(runner), journal, daemon, backend)
    finally:
        journal.close()
        for made in opened:
            await made.close()
        await runner.cleanup()


async def balanced(rig: Rig) -> RunResult:
    """Rebalanced, then a quiet poll (the risk checks' last look is after the bot's trades)."""
    result = await rig.daemon.run(until_balanced=True)
    assert result.balanced and result.halted is None, result.halted
    await rig.clock.sleep(60)
    quiet = await rig.daemon.run(once=True)
    assert quiet.halted is None and not quiet.reports
    await rig.clock.sleep(60)
    return result


async def test_a_deposit_mid_run_is_a_flow_and_only_bought_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with over_http(tmp_path, monkeypatch, scenario()) as rig:
        await balanced(rig)
        orders_before = len(rig.front.engine.all_orders())
        deposited_at = rig.clock.time()
        # 200,000 USDT: the quote at ~25 %, every other asset under its target; the cash covers
        rig.front.exchange.flow_book.schedule("deposit", "USDT", D(200_000), at=deposited_at)
        result = await rig.daemon.run(until_balanced=True)
        assert result.halted is None and rig.journal.active_halt() is None, result.halted
        assert [(f.kind, f.asset, f.amount, f.status) for f in rig.journal.flows()] == [
            (FlowKind.DEPOSIT, "USDT", D(200_000), FlowStatus.OK)
        ]
        assert result.balanced and result.reports
        orders = rig.front.engine.all_orders()[orders_before:]
        assert orders and {o.side for o in orders} == {Side.BUY}, "a covering deposit sells nothing"
        fills = rig.journal.fills_since(deposited_at)
        assert fills and {f.side for f in fills} == {Side.BUY}
        assert all(leg.side is Side.BUY for r in result.reports for leg in r.plan.legs)


async def test_a_withdrawal_after_raise_execute_is_no_halt_and_leaves_the_bands_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with over_http(tmp_path, monkeypatch, scenario()) as rig:
        await balanced(rig)
        # `raise 100000 USDT --execute`'s own code, on a backend of the same server and clock
        monkeypatch.setattr(
            "bot.runtime.raising.build_backend", lambda settings, live_confirmed: rig.backend()
        )
        _, raised = await execute_raise(rig.settings, "USDT", D(100_000))
        assert raised.halted is None and raised.reports[0].legs
        assert all(leg.side is Side.SELL for leg in raised.reports[0].plan.legs)
        await rig.clock.sleep(60)
        rig.front.exchange.flow_book.schedule(
            "withdrawal", "USDT", D(100_000), at=rig.clock.time(), fee=D(1)
        )
        # `raise --execute` holds the journal's lock: the bot was stopped for it, and starts again
        restarted = build_daemon(rig.settings, rig.backend(), rig.journal)
        after = await restarted.run(once=True)
        assert after.halted is None and rig.journal.active_halt() is None, after.halted
        assert not after.reports, "every asset in band after the withdrawal: nothing to trade"
        (flow,) = rig.journal.flows()
        assert (flow.kind, flow.asset, flow.amount, flow.fee, flow.status) == (
            FlowKind.WITHDRAWAL,
            "USDT",
            D(100_000),
            D(1),
            FlowStatus.OK,
        )
        assert after.last is not None and not after.last.needs_rebalance
        for p in after.last.positions:
            assert abs(p.weight - p.target) <= D("0.03"), (p.asset, p.weight)


async def test_a_targets_file_change_during_a_rebalance_applies_after_it_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "targets.toml").write_text(toml_targets(OLD))
    source = 'targets_file = "targets.toml"'
    async with over_http(tmp_path, monkeypatch, scenario(), portfolio=source) as rig:
        journal = rig.journal
        running: list[int] = []

        def change_during_the_rebalance(leg: LegReport) -> None:
            if not running:  # a child order of the first rebalance has filled
                running.append(journal.rebalances(1)[0].id)
                assert journal.rebalances(1)[0].finished_at is None
                (tmp_path / "targets.toml").write_text(toml_targets(NEW))

        rig.daemon.executor.progress = change_during_the_rebalance
        task = asyncio.create_task(rig.daemon.run())
        start = rig.clock.time()
        while rig.clock.time() < start + 4 * 3600 and not task.done():  # virtual time
            if len([r for r in journal.rebalances() if r.finished_at is not None]) >= 2:
                break
            await asyncio.sleep(0.001)
        rig.daemon.request_stop("test")
        result = await task
        check_the_change_applied_after_the_rebalance(tmp_path, journal, result, running)


def check_the_change_applied_after_the_rebalance(
    tmp_path: Path, journal: Journal, result: RunResult, running: list[int]
) -> None:
    traded = [r for r in result.reports if r.legs]
    assert len(traded) >= 2 and running == [traded[0].rebalance_id]
    first, second = traded[0], traded[1]
    assert {p.asset: p.target for p in first.plan.valuation.positions} == OLD
    assert first.after is not None and not first.after.needs_rebalance  # finished on OLD
    assert {p.asset: p.target for p in second.plan.valuation.positions} == NEW
    changes = journal.target_changes()
    assert [(c.source, c.weights) for c in changes] == [("file", NEW), ("file", OLD)]
    assert changes[0].origin == str(tmp_path / "targets.toml")
    first_row = journal.rebalance(first.rebalance_id or 0)
    assert first_row is not None and first_row.finished_at is not None
    assert changes[0].at >= first_row.finished_at


# BTC at ~20 % of ~1,000,000 USDT, its target 60 %: a 40-point change, at 10 % a day four days.
# Five-minute market steps and steady books of fewer levels keep days of virtual time cheap; a calmer market
# keeps the cross rates (ETH/BTC against ETH/USDT and BTC/USDT) within the price checks.
GLIDE_BALANCES = {"BTC": "2.1053", "ETH": "48.5714", "SOL": "291.667", "LINK": "2727.27"}
FINAL = {"BTC": D("0.60"), "ETH": D("0.17"), "SOL": D("0.07"), "LINK": D("0.06"), "USDT": D("0.10")}
GLIDE = """
[rebalance]
glide_max_share_per_day = 0.10
[loop]
poll_interval = 900
cooldown = 900
"""


async def test_a_40pct_change_glides_within_the_cap_shown_by_status_and_plan_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = scenario(
        step_seconds=300.0,
        balances={**GLIDE_BALANCES, "USDT": "500000"},
        regime={"volatility": 0.00002, "levels": 8, "depth_noise": 0.0},  # calm, cheap to draw
    )
    async with over_http(
        tmp_path, monkeypatch, sc, portfolio=toml_targets(FINAL), extra=GLIDE
    ) as rig:
        journal, settings = rig.journal, rig.settings
        shown: list[dict[str, Any]] = []
        planned: list[tuple[Any, dict[str, Any], Any]] = []
        task = asyncio.create_task(rig.daemon.run())
        start = rig.clock.time()
        seen = start
        while rig.clock.time() < start + 7 * DAY and not task.done():  # virtual time
            await asyncio.sleep(0.001)
            if rig.clock.time() < seen + 300:
                continue  # a look every five minutes of virtual time at most
            seen = rig.clock.time()
            glide = status_dict(settings.portfolio_spec(), journal)["glide"]
            if glide and not planned and journal.rebalances(1)[0].finished_at:
                # the first day's rebalance done: what `plan` shows now, from the journal
                gw = rig.daemon.gateway
                spec = settings.portfolio_spec()
                snap = await take_snapshot(gw, spec.managed, spec.quote, rig.clock)
                unglided = plan_from_snapshot(spec, settings.rebalance.policy(), snap)
                plan, extra = await with_glide(settings, snap, unglided, False)
                planned.append((unglided, extra, plan))
            if glide and (not shown or shown[-1] != glide):
                shown.append(glide)
            last = journal.rebalances(1)
            if shown and not glide and last and last[0].finished_at:
                break  # the path ran out and its last rebalance ended: at the final targets
        rig.daemon.request_stop("test")
        result = await task
        fills = sorted(journal.fills_since(0), key=lambda f: f.timestamp_ms or 0)
        final_status = status_dict(settings.portfolio_spec(), journal)

    btc = [f for f in fills if f.symbol.split("/")[0] == "BTC"]
    assert btc, "nothing traded"
    values = [r.plan.valuation.total for r in result.reports]
    cap = max(values) * D("0.10")
    largest = max(f.amount * f.price for f in btc)
    for first in btc:  # every rolling 24 h window, by the journal's fills
        t0 = first.timestamp_ms or 0
        window = [f for f in btc if t0 <= (f.timestamp_ms or 0) < t0 + DAY * 1000]
        assert sum((f.amount * f.price for f in window), D(0)) <= cap + largest
    span = ((btc[-1].timestamp_ms or 0) - (btc[0].timestamp_ms or 0)) / 1000
    assert span >= 2.5 * DAY, f"traded over {span / 3600:.1f} hours only"
    # `status` showed the path while it lasted: BTC from ~20 % toward 60 %, 10 %/day, a date
    step = next(s for s in shown[0]["steps"] if s["asset"] == "BTC")
    assert D(step["now"]) < D("0.3") and D(step["final"]) == D("0.60")
    assert D(step["cap_share"]) == D("0.10") and step["done_by"] and step["days"] >= 3
    # `plan` after the first day's trades: the day's allowance counted, from the journal
    assert planned, "no plan taken while the path lasted"
    unglided, extra, plan = planned[0]
    btc_buy = sum((leg.value for leg in unglided.legs if leg.symbol == "BTC/USDT"), D(0))
    assert btc_buy > D(250_000)  # without the caps: the whole change at once
    glided_btc = sum((leg.value for leg in plan.legs if leg.symbol == "BTC/USDT"), D(0))
    assert glided_btc < cap / 4, "the plan spends what is left of the day's allowance only"
    path = extra["glide"]
    assert path["gliding"] and any("glide path: BTC at" in n for n in plan.notes)
    btc_step = next(s for s in path["steps"] if s["asset"] == "BTC")
    assert D(btc_step["traded_24h"]) > cap / 2 and D(btc_step["final"]) == D("0.60")
    # reached in the end, and nothing held back any more
    assert result.last is not None
    assert abs(result.last.position("BTC").weight - D("0.60")) <= D("0.03")
    assert final_status["glide"] is None
