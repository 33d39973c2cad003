"""Issue #19 on the simulator in-process (virtual time), where the older tests stop short: a
covering deposit is only bought (the simulator's orders and the journal's fills), a withdrawal
after a raise leaves every asset in band, and `plan` shows the glide path with the last 24 h's
fills from the journal counted (the command line, on a snapshot file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from bot.domain.flows import FlowKind, FlowStatus
from bot.domain.market import Side
from bot.domain.orders import FillReport
from bot.journal import Journal
from bot.runtime.daemon import Daemon, RunResult

from .helpers import ROOT, daemon_for, settings_for

D = Decimal
SNAPSHOT = ROOT / "config/snapshots/demo.json"  # taken 2026-11-25T12:00:00Z, BTC at 55 %
AT_MS = 1_795_608_000_000  # 2026-11-25T12:00:00Z


async def balanced(daemon: Daemon) -> RunResult:
    """Rebalanced, then a quiet poll (the risk checks' last look is after the bot's trades)."""
    result = await daemon.run(until_balanced=True)
    assert result.balanced and result.halted is None
    await daemon.clock.sleep(60)
    assert not (await daemon.run(once=True)).reports
    await daemon.clock.sleep(60)
    return result


async def test_a_covering_deposit_is_only_bought(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    orders_before = len(ex.engine.all_orders())
    at = ex.clock.time()
    ex.flow_book.schedule("deposit", "USDT", D(200_000), at=at)  # USDT ~25 %: covers the rest
    result = await daemon.run(until_balanced=True)
    assert result.halted is None and result.balanced and result.reports
    assert [(f.kind, f.amount, f.status) for f in journal.flows()] == [
        (FlowKind.DEPOSIT, D(200_000), FlowStatus.OK)
    ]
    orders = ex.engine.all_orders()[orders_before:]
    assert orders and {o.side for o in orders} == {Side.BUY}
    fills = journal.fills_since(at)
    assert fills and {f.side for f in fills} == {Side.BUY}


async def test_a_withdrawal_after_a_raise_leaves_every_asset_in_band(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    daemon.rebalancer.raising = ("USDT", D(100_000))  # what `raise --execute` runs, one round
    raised = await daemon.run(once=True)
    daemon.rebalancer.raising = None
    assert raised.halted is None and raised.reports[0].legs
    assert {leg.side for leg in raised.reports[0].plan.legs} == {Side.SELL}
    await daemon.clock.sleep(60)
    ex.flow_book.schedule("withdrawal", "USDT", D(100_000), at=ex.clock.time(), fee=D(1))
    after = await daemon.run(once=True)
    assert after.halted is None and journal.active_halt() is None, after.halted
    assert not after.reports  # in band: nothing to trade
    (flow,) = journal.flows()
    assert (flow.kind, flow.amount, flow.fee) == (FlowKind.WITHDRAWAL, D(100_000), D(1))
    assert after.last is not None and not after.last.needs_rebalance


GLIDE = """
[rebalance]
glide_max_share_per_day = 0.05
"""


def plan_cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "plan",
            "--config",
            str(cfg),
            "--snapshot",
            str(SNAPSHOT),
            *args,
        ],
        cwd=ROOT,
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def btc_traded(doc: dict[str, object]) -> Decimal:
    """The value of the plan's legs in a BTC market (BTC sold for USDT or ETH, say)."""
    legs = doc["legs"]
    assert isinstance(legs, list)
    return sum((D(leg["value"]) for leg in legs if "BTC" in leg["symbol"].split("/")), D(0))


def test_plan_shows_the_glide_path_and_counts_the_journals_fills(tmp_path: Path) -> None:
    settings_for(tmp_path, GLIDE)
    cfg = tmp_path / "bot.toml"
    # no journal yet: nothing traded, BTC (55 % of ~1,000,000, target 40 %) may move 5 % today
    res = plan_cli(cfg, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    fresh = json.loads(res.stdout)
    glide = fresh["glide"]
    assert glide["gliding"] and glide["at"] == "2026-11-25T12:00:00+00:00"
    btc = next(s for s in glide["steps"] if s["asset"] == "BTC")
    assert (D(btc["final"]), D(btc["cap_share"]), D(btc["traded_24h"])) == (
        D("0.40"),
        D("0.05"),
        D(0),
    )
    assert btc["done_by"] == "2026-11-28T12:00:00+00:00" and btc["days"] == 4
    assert (
        D(45_000) < btc_traded(fresh) <= D(50_100)
    )  # one day's 5 %, not the 150,000 of the change
    assert not (tmp_path / "journal.sqlite").exists()  # `plan` writes nothing

    # 30,000 USDT of BTC sold 2 h before the snapshot, and 40,000 two days before: only the
    # first counts against today's cap
    journal = Journal(tmp_path / "journal.sqlite")
    journal.fills(None, [fill("t1", AT_MS - 2 * 3_600_000), fill("t2", AT_MS - 2 * 86_400_000)])
    journal.close()
    counted = json.loads(plan_cli(cfg, "--json").stdout)
    btc = next(s for s in counted["glide"]["steps"] if s["asset"] == "BTC")
    assert D(btc["traded_24h"]) == D(30_000)
    assert btc_traded(counted) <= D(20_100)  # what is left of today's allowance

    text = plan_cli(cfg)
    assert text.returncode == 0, text.stderr[-2000:]
    out = text.stdout
    assert "Glide path (as of 2026-11-25T12:00:00+00:00)" in out
    assert "glide path: BTC at 0.55 of 0.40" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("BTC ") and "%" in line)
    assert "40.00%" in row and "5.0%" in row and "2026-11-28" in row, row


def test_plan_without_caps_has_no_path(tmp_path: Path) -> None:
    settings_for(tmp_path)
    res = plan_cli(tmp_path / "bot.toml", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout)
    assert "glide" not in doc and btc_traded(doc) > D(140_000)


def fill(trade_id: str, ts_ms: int) -> FillReport:
    return FillReport(
        trade_id=trade_id,
        exchange_order_id=trade_id,
        client_id=None,
        symbol="BTC/USDT",
        side=Side.SELL,
        amount=D("0.3"),
        price=D(100_000) if trade_id == "t1" else D("133333.33333333"),
        fee=D(0),
        fee_currency="USDT",
        maker=None,
        timestamp_ms=ts_ms,
    )
