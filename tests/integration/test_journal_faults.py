"""A journal that stops taking writes mid-rebalance (a full disk, a file system gone read-only):
trading stops with one clear error, the bot's open orders are cancelled, nothing is sent that
was not recorded first, and the next start, with the journal writable again, reconciles it all."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.errors import JournalError
from bot.journal import Journal
from bot.runtime.reconcile import reconcile
from bot.runtime.wiring import build_backend, build_daemon
from tests.integration.helpers import assert_fills_are_the_exchanges_trades, settings_for

WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN", "REPLACE")


class Disk:
    """The journal's connection, through a disk that can fill up: then every write fails as
    SQLite reports it, and reads still work."""

    def __init__(self, db: sqlite3.Connection, error: str) -> None:
        self.db, self.error, self.full = db, error, False

    def execute(self, sql: str, *args: Any) -> Any:
        if self.full and sql.lstrip().upper().startswith(WRITES):
            raise sqlite3.OperationalError(self.error)
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


@pytest.mark.parametrize(
    "error", ["database or disk is full", "attempt to write a readonly database"]
)
async def test_a_journal_that_stops_taking_writes_stops_trading_and_cancels(
    tmp_path: Path, error: str
) -> None:
    settings = settings_for(tmp_path, '[execution]\nstyle = "passive"\nchild_timeout = 30')
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    disk = Disk(journal._db, error)
    journal._db = disk  # type: ignore[assignment]
    sends = 0
    child_sent = journal.child_sent

    def sent_then_fill_up(client_id: str, at: float) -> None:
        nonlocal sends
        child_sent(client_id, at)
        sends += 1
        if sends == 3:
            disk.full = True  # the third order leaves; then the disk is full

    journal.child_sent = sent_then_fill_up  # type: ignore[method-assign]
    daemon = build_daemon(settings, backend, journal)
    exchange = backend.exchange
    with pytest.raises(JournalError, match="trading stopped and the bot's open orders cancelled"):
        await daemon.run(once=True)
    assert len(exchange.engine.all_orders()) == 3, "no order after the journal failed"
    assert any(o.status == "canceled" for o in exchange.engine.all_orders()), "they rested"
    assert not exchange.engine.open_orders(), "the bot's orders were cancelled"

    # the disk has room again: the next start settles what could not be recorded
    disk.full = False
    report = await reconcile(backend.gateway, journal, backend.clock)
    assert report is not None
    assert {o.client_order_id for o in exchange.engine.all_orders()} <= set(journal.client_ids())
    assert journal.unsettled_orders() == []
    assert_fills_are_the_exchanges_trades(journal, exchange)
    assert "running" not in {r.status.value for r in journal.rebalances(10)}
    await backend.close()
