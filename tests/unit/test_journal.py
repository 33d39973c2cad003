"""The journal: migrations, intent committed before a send, turnover of legs cut short."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.lifecycle import ChildOrder, ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderReport, OrderRequest, OrderStatus
from bot.domain.slicing import Phase
from bot.errors import JournalError
from bot.journal import Journal
from bot.journal_schema import MIGRATIONS

D = Decimal


def test_an_older_journal_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO rebalances (started_at, status, mode) VALUES (1, 'done', 'sim')")
    db.commit()
    db.close()
    journal = Journal(path)
    assert journal.version == len(MIGRATIONS)
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(legs)")}
    assert "planned_value" in columns
    assert journal.rebalances()[0].status == "done"  # data kept


def test_a_newer_journal_is_refused_with_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(JournalError, match="newer than this bot knows"):
        Journal(path)


def test_intent_is_committed_before_the_order_is_sent(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    rid = journal.start_rebalance("sim", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", "buy", D("0.5"), D(100))
    journal.child_intent(
        "L", OrderRequest("c1", "BTC/USDT", Side.BUY, D("0.5"), D(100)), Phase.TAKE
    )
    # another connection (another process after a crash) already sees it
    other = sqlite3.connect(tmp_path / "j.sqlite")
    assert other.execute("SELECT status FROM orders WHERE client_id = 'c1'").fetchone() == (
        "intent",
    )
    assert [o.client_id for o in journal.unsettled_orders()] == ["c1"]


def test_a_leg_cut_short_counts_toward_turnover_by_what_it_filled(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", now=lambda: 1000.0)
    rid = journal.start_rebalance("sim", D(100000), D(10))
    journal.start_leg("A", rid, 0, "BTC/USDT", "sell", D(2), D(50000), D(100000))
    journal.finish_leg("A", "done", "filled", D(2), D(99990), D(100), D(99990))
    journal.start_leg("B", rid, 1, "ETH/USDT", "buy", D(10), D(3000), D(30000))
    journal.child_intent("B", OrderRequest("b1", "ETH/USDT", Side.BUY, D(4), D(3000)), Phase.TAKE)
    filled = OrderReport(
        "b1",
        "9",
        "ETH/USDT",
        Side.BUY,
        D(4),
        D(3000),
        OrderStatus.CLOSED,
        D(4),
        D(3000),
        D(0),
        None,
    )
    journal.child_state(ChildOrder("b1", ChildState.SENT).reported(filled), filled)
    # leg B never finished (the process died): 4 of 10 filled -> 12000 of its 30000
    assert journal.turnover_since(0) == D(99990) + D(12000)
    assert journal.turnover_since(2000) == 0
