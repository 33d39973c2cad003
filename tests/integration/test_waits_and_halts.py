"""Trouble that passes makes the bot wait, say why and try again; halts are for what needs a
person. On the simulated exchange, in virtual time, through the real daemon."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from structlog.testing import capture_logs

from bot.domain.status import RebalanceStatus
from tests.integration.helpers import ROOT, daemon_for, settings_for

D = Decimal


def scenario(tmp_path: Path, extra: str, base: str = "demo.toml") -> str:
    path = tmp_path / "scenario.toml"
    path.write_text(f'extends = "{ROOT / "config" / "scenarios" / base}"\n{extra}\n')
    return str(path)


async def test_a_book_one_sided_at_poll_time_waits_not_halts(tmp_path: Path) -> None:
    """SOL/USDT's bids vanish for two minutes: SOL cannot be valued, so the bot waits, says why,
    and rebalances once the book is back (seen before: "implausible snapshot", halted)."""
    extra = (
        '[[events]]\nkind = "one_sided"\nsymbol = "SOL/USDT"\nside = "bids"\nat = 0\nduration = 120'
    )
    settings = settings_for(
        tmp_path, "[loop]\npoll_interval = 30", scenario=scenario(tmp_path, extra)
    )
    daemon, ex, journal = daemon_for(settings)
    first = await daemon.run(once=True)
    assert first.halted is None
    assert first.waiting is not None and "no price" in first.waiting
    assert not ex.engine.all_orders()
    later = await daemon.run(until_balanced=True, max_rounds=8)
    assert later.halted is None
    assert later.balanced
    assert journal.active_halt() is None


async def test_an_outage_of_minutes_waits_it_out(tmp_path: Path) -> None:
    """The balance endpoint answers 503 for ten minutes: ten polls fail (three used to halt);
    the bot waits, doubling its wait, then rebalances when the exchange is back."""
    extra = '[[faults.outages]]\nmethod = "fetch_balance"\nstart = 0\nend = 600'
    settings = settings_for(
        tmp_path,
        "[loop]\npoll_interval = 20\n[risk]\nmax_wait = 120",
        scenario=scenario(tmp_path, extra),
    )
    daemon, ex, journal = daemon_for(settings)
    result = await daemon.run(until_balanced=True, max_rounds=12)
    assert result.halted is None
    assert result.balanced
    assert ex.faults.injected["outage"] >= 4
    assert journal.active_halt() is None


async def test_a_given_up_leg_neither_halts_nor_strands_the_later_waves(tmp_path: Path) -> None:
    """BTC drops 6 % while it is being sold: the sell is given up after its pause. The buys the
    plan funds with USDT still run, from what is free; the daemon does not halt, and the next
    round replans from the real balances."""
    settings = settings_for(
        tmp_path,
        "[execution]\ndeviation_timeout = 60\n[loop]\ncooldown = 60",
        scenario=scenario(
            tmp_path, '[[events]]\nkind = "jump"\nsymbol = "BTC/USDT"\nat = 20\nsize = -0.06'
        ),
    )
    daemon, _, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    report = result.reports[0]
    assert report.status is RebalanceStatus.HALTED
    assert "BTC/USDT" in report.reason
    bought = {leg.symbol for leg in report.legs if leg.side.value == "buy" and leg.filled > 0}
    assert {"SOL/USDT", "LINK/USDT"} <= bought  # the wave after the given-up sell still ran
    assert result.halted is None
    assert journal.active_halt() is None


async def test_rounds_that_keep_giving_up_halt_after_the_limit(tmp_path: Path) -> None:
    """A leg deadline too short to ever finish: each round gives a leg up; the second in a row
    halts (max_consecutive_failures = 2), the first does not."""
    settings = settings_for(
        tmp_path,
        '[execution]\nleg_deadline = 5\nstyle = "passive"\n'
        "[loop]\ncooldown = 1\npoll_interval = 1\n[risk]\nmax_consecutive_failures = 2",
    )
    daemon, _, journal = daemon_for(settings)
    first = await daemon.run(once=True)
    assert first.reports[0].status is RebalanceStatus.HALTED
    assert first.halted is None
    second = await daemon.run(until_balanced=True, max_rounds=3)
    assert second.halted is not None
    assert "2 rebalances in a row gave up a leg or failed" in second.halted
    assert journal.active_halt() == second.halted


async def test_a_maintenance_window_waits_it_out_then_rebalances(tmp_path: Path) -> None:
    """The exchange is in maintenance for its first ten minutes: fetch_status says so and every
    other call is refused (ccxt's OnMaintenance). The bot waits, says the exchange reports
    maintenance, never halts, and rebalances once the window is over."""
    extra = "[[faults.maintenance]]\nstart = 0\nend = 600"
    settings = settings_for(
        tmp_path,
        "[loop]\npoll_interval = 20\n[risk]\nmax_wait = 120",
        scenario=scenario(tmp_path, extra),
    )
    daemon, ex, journal = daemon_for(settings)
    with capture_logs() as logs:
        first = await daemon.run(once=True)
        assert first.halted is None
        assert first.waiting is not None and "reports maintenance" in first.waiting
        assert not ex.engine.all_orders()
        later = await daemon.run(until_balanced=True, max_rounds=12)
    assert later.halted is None
    assert later.balanced
    assert journal.active_halt() is None
    assert not any(e["event"] == "halt" for e in logs)
    # until the first poll that could read the exchange, a wait at each poll, saying why
    window = [e["event"] for e in logs].index("poll")
    waits = [e for e in logs[:window] if e["event"] == "waiting"]
    assert len(waits) >= 3
    assert all("the exchange reports maintenance" in e["reason"] for e in waits)
    assert ex.faults.injected["maintenance"] > 0
    window_end_ms = (ex.faults.started + 600) * 1000
    assert min(o.timestamp for o in ex.engine.all_orders()) >= window_end_ms
