"""Simulated time has today's dates: the bot in virtual time starts at the wall clock's current
second, a restart continues after the last time its journal recorded (virtual time runs ahead of
the wall clock, so "now" alone could go back), and a scenario that sets `start` keeps it (tests
and benchmarks stay reproducible)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.runtime.wiring import build_backend
from bot.settings import Settings
from bot.sim.clock import DEFAULT_START
from tests.integration.helpers import ROOT, daemon_for, settings_for

# Every timestamp the journal writes on the bot's clock.
TIMES = """
SELECT started_at FROM rebalances UNION ALL SELECT finished_at FROM rebalances
UNION ALL SELECT taken_at FROM snapshots UNION ALL SELECT created_at FROM orders
UNION ALL SELECT sent_at FROM orders
"""


def journal_times(path: Path) -> list[float]:
    db = sqlite3.connect(path)
    try:
        return [float(t) for (t,) in db.execute(TIMES) if t is not None]
    finally:
        db.close()


async def start_of(settings: Settings) -> float:
    backend = build_backend(settings)
    try:
        return backend.clock.time()
    finally:
        await backend.close()


async def test_virtual_time_starts_now_and_a_restart_after_the_journal(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = await start_of(settings)
    assert first == int(first) and abs(first - time.time()) < 5  # today, a whole second

    daemon, _, journal = daemon_for(settings)
    try:
        await daemon.run(once=True)
    finally:
        await daemon.rebalancer.gateway.close()
        journal.close()
    path = tmp_path / "journal.sqlite"
    before = journal_times(path)
    assert min(before) >= first
    assert max(before) > time.time() + 60  # the rebalance ran minutes ahead of the wall clock

    restart = await start_of(settings)
    assert restart > max(before)  # never before what the journal holds

    daemon, _, journal = daemon_for(settings)
    try:
        await daemon.run(once=True)
    finally:
        await daemon.rebalancer.gateway.close()
        journal.close()
    after = journal_times(path)
    assert len(after) > len(before)
    assert min(t for t in after if t not in before) > max(before)  # monotonic across runs


async def test_a_scenario_that_sets_its_start_keeps_it(tmp_path: Path) -> None:
    scenario = tmp_path / "fixed.toml"
    demo = ROOT / "config" / "scenarios" / "demo.toml"
    scenario.write_text(f'start = {DEFAULT_START}\nextends = "{demo}"\n')
    settings = settings_for(tmp_path)
    settings = settings.model_copy(
        update={"sim": settings.sim.model_copy(update={"scenario": scenario})}
    )
    assert await start_of(settings) == DEFAULT_START
