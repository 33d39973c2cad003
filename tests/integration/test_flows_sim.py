"""Deposits and withdrawals on the simulator: read, journaled once, never a halt when the exchange
reports them; a balance change nobody reports still halts, with its asset and amount in `status`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.flows import FlowKind, FlowStatus
from bot.errors import ScenarioError
from bot.report import status_dict
from bot.runtime.daemon import Daemon, RunResult
from bot.sim.exchange import SimExchange
from bot.sim.scenario import load_scenario
from tests.integration.helpers import ROOT, daemon_for, settings_for

D = Decimal


async def balanced(daemon: Daemon) -> RunResult:
    """Rebalanced, then one quiet poll: the risk checks' last look is after the bot's trades."""
    result = await daemon.run(until_balanced=True)
    assert result.balanced and result.halted is None
    await daemon.clock.sleep(60)  # virtual time: a poll after the trades, not at their moment
    quiet = await daemon.run(once=True)
    assert quiet.halted is None and not quiet.reports
    await daemon.clock.sleep(60)
    return result


def usdt_weight(ex: SimExchange, result: RunResult) -> Decimal:
    assert result.last is not None
    return next(p.weight for p in result.last.positions if p.asset == "USDT")


async def test_a_deposit_mid_run_is_journaled_once_and_rebalanced_not_halted(
    tmp_path: Path,
) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    traded_before = len(ex.engine.my_trades())
    # 200,000 USDT arrive: USDT goes from its 10% target to about 25%, far out of its band
    ex.flow_book.schedule("deposit", "USDT", D(200_000), at=ex.clock.time())
    result = await daemon.run(until_balanced=True)
    assert result.halted is None, result.halted
    assert journal.active_halt() is None
    recorded = journal.flows()
    assert [(f.kind, f.asset, f.amount, f.status) for f in recorded] == [
        (FlowKind.DEPOSIT, "USDT", D(200_000), FlowStatus.OK)
    ]
    # the new cash was put to work: the bot bought, and every asset is back in its band
    assert result.reports and len(ex.engine.my_trades()) > traded_before
    assert result.balanced
    assert usdt_weight(ex, result) < D("0.13")
    # reading the same flows again records nothing new and explains nothing twice
    an_hour_ago = round(ex.clock.time() * 1000) - 3_600_000
    assert len(await daemon.gateway.fetch_flows(an_hour_ago)) == 1
    assert journal.record_flows(await daemon.gateway.fetch_flows(an_hour_ago)) == []
    again = await daemon.run(once=True)
    assert again.halted is None
    assert len(journal.flows()) == 1


async def test_a_withdrawal_with_its_fee_is_no_halt(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    btc = ex.engine.account.total("BTC")
    # 5% of the BTC: five times the limit on an unexplained change, BTC still in its band
    ex.flow_book.schedule("withdrawal", "BTC", btc / 20, at=ex.clock.time(), fee=D("0.0005"))
    result = await daemon.run(once=True)
    assert result.halted is None, result.halted
    assert not result.reports  # nothing to trade
    assert ex.engine.account.total("BTC") == btc - btc / 20 - D("0.0005")
    (flow,) = journal.flows()
    assert (flow.kind, flow.amount, flow.fee, flow.status) == (
        FlowKind.WITHDRAWAL,
        btc / 20,
        D("0.0005"),
        FlowStatus.OK,
    )


async def test_an_unexplained_balance_change_halts_with_asset_and_amount_in_status(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    daemon, ex, journal = daemon_for(settings)
    await balanced(daemon)
    # a reported deposit of ETH and, at the same time, BTC that nobody reports
    ex.flow_book.schedule("deposit", "ETH", D(10), at=ex.clock.time())
    ex.engine.account.credit("BTC", D("0.75"))
    result = await daemon.run(once=True)
    assert result.halted is not None
    assert "balance of BTC" in result.halted and "+0.75 BTC unexplained" in result.halted
    assert "ETH" not in result.halted.split(":")[0]
    shown = status_dict(settings.portfolio_spec(), journal)["halted"]
    assert shown == result.halted
    assert "max_balance_jump_pct 1%" in shown
    assert not ex.engine.open_orders()


async def test_a_change_within_the_limit_is_no_halt_and_the_limit_is_a_setting(
    tmp_path: Path,
) -> None:
    daemon, ex, _ = daemon_for(settings_for(tmp_path, "[risk]\nmax_balance_jump_pct = 20"))
    await balanced(daemon)
    ex.engine.account.credit("BTC", ex.engine.account.total("BTC") / 10)  # +10%, unreported
    assert (await daemon.run(once=True)).halted is None


async def test_a_pending_deposit_counts_only_once_credited(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    now = ex.clock.time()
    # a USDT deposit pending for ten minutes, and a BTC withdrawal processing as long (its
    # amount leaves the balance at once): the withdrawal makes the bot read the flows while the
    # deposit is pending, and USDT has not moved
    ex.flow_book.schedule("deposit", "USDT", D(20_000), at=now, confirm=600)
    ex.flow_book.schedule("withdrawal", "BTC", D("0.1"), at=now, confirm=600)
    result = await daemon.run(once=True)
    assert result.halted is None, result.halted
    pending = journal.flows(FlowStatus.PENDING)
    assert sorted((f.asset, f.amount) for f in pending) == [("BTC", D("0.1")), ("USDT", D(20_000))]
    usdt = ex.engine.account.total("USDT")
    await ex.clock.sleep(601)  # credited now
    result = await daemon.run(once=True)
    assert result.halted is None, result.halted
    assert ex.engine.account.total("USDT") == usdt + 20_000
    assert journal.flows(FlowStatus.PENDING) == []
    assert {f.asset: f.status for f in journal.flows()} == {
        "USDT": FlowStatus.OK,
        "BTC": FlowStatus.OK,
    }
    await ex.clock.sleep(60)  # and no poll after counts either flow again
    assert (await daemon.run(once=True)).halted is None


async def test_a_pending_deposit_explains_no_change(tmp_path: Path) -> None:
    daemon, ex, _ = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    # 20,000 USDT pending, and as much credited that nobody reports: the pending deposit is
    # not what moved the balance
    ex.flow_book.schedule("deposit", "USDT", D(20_000), at=ex.clock.time(), confirm=600)
    ex.engine.account.credit("USDT", D(20_000))
    result = await daemon.run(once=True)
    assert result.halted is not None
    assert "+20000 USDT unexplained" in result.halted


async def test_a_flow_reported_before_its_balance_shows_it_is_expected_next_poll(
    tmp_path: Path,
) -> None:
    """The exchange may list a deposit as credited a moment before its balance shows it: the
    bot expects it at the next poll, and halts only if it never comes."""
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    await balanced(daemon)
    ex.flow_book.schedule("withdrawal", "BTC", D("0.1"), at=ex.clock.time())  # moves BTC
    deposit = ex.flow_book.schedule("deposit", "ETH", D(20), at=ex.clock.time())
    balance = ex.engine.account.free["ETH"]
    real_advance = ex.flow_book.advance

    def listed_before_credited(account: object, t: float) -> None:
        real_advance(ex.engine.account, t)
        ex.engine.account.free["ETH"] = balance  # listed as ok, not yet in the balance

    ex.flow_book.advance = listed_before_credited  # type: ignore[method-assign]
    assert (await daemon.run(once=True)).halted is None
    ex.flow_book.advance = real_advance  # type: ignore[method-assign]
    ex.engine.account.credit("ETH", deposit.amount)  # the balance shows it now
    assert (await daemon.run(once=True)).halted is None
    assert len(journal.flows()) == 2


def test_a_scenario_schedules_flows(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text(
        f'extends = "{ROOT / "config/scenarios/demo.toml"}"\n'
        '[[flows]]\nkind = "deposit"\nasset = "USDT"\namount = 1000\nat = 60\nconfirm = 30\n'
        '[[flows]]\nkind = "withdrawal"\nasset = "BTC"\namount = 0.5\nat = 90\nfee = 0.0001\n'
    )
    scenario = load_scenario(path)
    ex = SimExchange.from_scenario(scenario)
    start = ex.clock.time()
    usdt = ex.engine.account.total("USDT")
    ex.flow_book.advance(ex.engine.account, start + 60)
    assert ex.engine.account.total("USDT") == usdt  # pending
    ex.flow_book.advance(ex.engine.account, start + 95)
    assert ex.engine.account.total("USDT") == usdt + 1000
    assert [f.state.value for f in ex.flow_book.flows] == ["ok", "ok"]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'extends = "{ROOT / "config/scenarios/demo.toml"}"\n'
        '[[flows]]\nkind = "deposit"\nasset = "usdt"\namount = 1\nat = 0\nfee = 1\n'
    )
    with pytest.raises(ScenarioError) as refused:
        load_scenario(bad)
    assert "flows.0" in str(refused.value) and "deposit has no fee" in str(refused.value)
