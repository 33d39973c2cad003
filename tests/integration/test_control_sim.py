"""Steering the running daemon (`bot.runtime.control`): pause, resume, rebalance now and cancel,
acted on by the daemon's own loop against the simulated exchange in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bot.domain.status import RebalanceStatus
from bot.runtime.daemon import Daemon
from bot.settings import load_settings

from .helpers import daemon_for, settings_for


async def _until(predicate: Callable[[], bool], daemon: Daemon, limit: float = 3600.0) -> None:
    """Let the daemon run (virtual time) until `predicate()` holds, at most `limit` seconds."""
    end = daemon.clock.time() + limit
    while not predicate() and daemon.clock.time() < end:  # noqa: ASYNC110 - virtual time
        await asyncio.sleep(0)


async def test_a_paused_daemon_polls_but_never_rebalances_until_resumed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "[loop]\npoll_interval = 60\ncooldown = 60")
    daemon, ex, journal = daemon_for(settings)
    answer = daemon.control.pause("api", "maintenance window")
    assert answer.ok and daemon.control.paused == "paused by api: maintenance window"
    task = asyncio.create_task(daemon.run())
    start = daemon.clock.time()
    await _until(lambda: False, daemon, limit=1800)  # half an hour of polls, out of band
    assert journal.rebalances(5) == []
    assert not ex.engine.all_orders()
    assert daemon.last_poll is not None and daemon.last_poll > start + 600  # still polling
    resumed = daemon.control.resume("api")
    assert resumed.ok and daemon.control.paused is None
    await _until(lambda: bool(journal.rebalances(1)), daemon)
    daemon.request_stop("test")
    await asyncio.wait_for(task, timeout=60)
    assert journal.rebalances(1), "resumed: the out-of-band portfolio is rebalanced"
    commands = [(c.command, c.source) for c in journal.commands()]
    assert commands == [("resume", "api"), ("pause", "api")]


async def test_a_pause_survives_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    daemon, _, journal = daemon_for(settings)
    daemon.control.pause("telegram")
    journal.close()
    again, ex, journal2 = daemon_for(settings)
    assert again.control.paused == "paused by telegram"
    result = await again.run(once=True)
    assert result.reports == [] and not ex.engine.all_orders()
    journal2.close()


async def test_rebalance_now_trades_to_target_inside_the_bands(tmp_path: Path) -> None:
    """Bands wide enough that the demo portfolio is in band: only the request trades."""
    settings_for(tmp_path, "[loop]\npoll_interval = 600\ncooldown = 60")
    wide = (tmp_path / "bot.toml").read_text().replace("width = 0.03", "width = 0.3")
    (tmp_path / "bot.toml").write_text(wide)
    daemon, ex, journal = daemon_for(load_settings(tmp_path / "bot.toml"))
    task = asyncio.create_task(daemon.run())
    await _until(lambda: daemon.last_poll is not None, daemon)
    await daemon.clock.sleep(900)  # on the virtual clock: half way between two polls
    assert daemon.last_poll is not None and daemon.clock.time() - daemon.last_poll >= 250
    assert journal.rebalances(1) == [], "in band: nothing to do"
    asked_at = daemon.clock.time()
    assert daemon.control.rebalance_now("api").ok
    await _until(lambda: bool(journal.rebalances(1)), daemon)
    # the loop's 600 s sleep was cut short: it started at once, not at the next poll
    row = journal.rebalances(1)[0]
    assert row.started_at < asked_at + 60
    await _until(lambda: daemon.control.running is None, daemon)
    daemon.request_stop("test")
    result = await asyncio.wait_for(task, timeout=60)
    assert result.reports and result.reports[0].legs
    assert not result.reports[0].before.needs_rebalance  # it was in band: the request decided
    assert ex.engine.all_orders()


async def test_rebalance_now_is_refused_while_halted_or_paused(tmp_path: Path) -> None:
    daemon, _, journal = daemon_for(settings_for(tmp_path))
    journal.halt("test halt")
    refused = daemon.control.rebalance_now("api")
    assert not refused.ok and "halted" in refused.message
    assert not daemon.control.asked
    journal.clear_halt(by="test")
    daemon.control.pause("api")
    assert not daemon.control.rebalance_now("api").ok
    assert not daemon.control.asked
    assert [c.command for c in journal.commands()] == ["pause"]  # a refusal records nothing


async def test_cancel_stops_the_running_rebalance_and_the_daemon_goes_on(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        '[execution]\nstyle = "passive"\nchild_timeout = 30\n[loop]\npoll_interval = 60\n'
        "cooldown = 120",
    )
    daemon, ex, journal = daemon_for(settings)
    task = asyncio.create_task(daemon.run())
    await _until(lambda: bool(ex.engine.open_orders()), daemon)
    assert daemon.control.running is not None
    answer = daemon.control.cancel("api")
    assert answer.ok
    await _until(lambda: daemon.control.running is None, daemon)
    assert not ex.engine.open_orders()
    first = journal.rebalances(1)[0]
    assert first.status is RebalanceStatus.STOPPED
    assert first.reason == "cancelled by api"
    # not a stop of the daemon: after the cooldown it rebalances again and places orders
    orders = len(ex.engine.all_orders())
    await _until(lambda: len(journal.rebalances(5)) >= 2, daemon)
    await _until(lambda: len(ex.engine.all_orders()) > orders, daemon)
    daemon.request_stop("test")
    result = await asyncio.wait_for(task, timeout=60)
    assert len(journal.rebalances(5)) >= 2
    assert len(ex.engine.all_orders()) > orders
    assert result.halted is None
    assert journal.unsettled_orders() == []


async def test_cancel_with_no_rebalance_running_is_refused(tmp_path: Path) -> None:
    daemon, _, journal = daemon_for(settings_for(tmp_path))
    answer = daemon.control.cancel("api")
    assert not answer.ok
    assert not daemon.executor.stopping
    assert journal.commands() == []
