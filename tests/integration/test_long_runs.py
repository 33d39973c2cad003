"""A daemon that runs for months: a bounded number of reports in memory, a wait that can go on
for ever without overflowing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime import daemon as daemon_module
from tests.integration.helpers import daemon_for, settings_for


async def test_a_run_keeps_a_bounded_number_of_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "KEPT_REPORTS", 2)
    settings = settings_for(tmp_path, "[loop]\ncooldown = 0.01\npoll_interval = 1")
    daemon, _, journal = daemon_for(settings)
    valuation = await daemon.poll()
    result = daemon_module.RunResult()
    for _ in range(4):
        await daemon._rebalance(result, valuation)
    assert len(result.reports) == 2
    # the first (the one that traded) left memory; it is in the journal
    assert all(r.rebalance_id != 1 for r in result.reports)
    assert journal.rebalances(10)[-1].id == 1


def test_a_wait_that_goes_on_for_ever_stays_at_max_wait(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "[loop]\npoll_interval = 5\n[risk]\nmax_wait = 600")
    daemon, _, _ = daemon_for(settings)
    assert [daemon._next_poll(n) for n in (0, 1, 2, 3)] == [5, 5, 10, 20]
    assert daemon._next_poll(2000) == 600  # after days of waiting: no OverflowError
