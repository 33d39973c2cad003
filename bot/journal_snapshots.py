"""Reads for the control surface (`bot.api`): the weights the polls saw over time, and the child
orders of one rebalance.

`Journal` inherits these methods (its module holds the rest of the SQL); they run on the
journal's own connection, and a database error leaves them as a `JournalError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain.status import SnapshotKind
from bot.errors import JournalError
from bot.journal_rows import JournalOrder, SnapshotRow, order_row


class SnapshotsJournal:
    """Snapshots over time and a rebalance's orders, mixed into `bot.journal.Journal`."""

    path: Path
    _db: Any
    _now: Callable[[], float]

    @contextmanager
    def _reads_guard(self) -> Iterator[None]:
        """A database error leaves as one `JournalError` naming the file."""
        try:
            yield
        except self._db.Error as exc:  # the connection's own error class
            raise JournalError(f"journal {self.path}: {exc}") from None

    def snapshots_since(self, since: float | None = None, limit: int = 500) -> list[SnapshotRow]:
        """The latest `limit` snapshots taken from `since`, oldest first."""
        with self._reads_guard():
            rows = self._db.execute(
                "SELECT * FROM (SELECT * FROM snapshots WHERE taken_at >= ?"
                " ORDER BY id DESC LIMIT ?) ORDER BY id",
                (float("-inf") if since is None else since, limit),
            ).fetchall()
        return [
            SnapshotRow(
                float(r["taken_at"]),
                SnapshotKind(r["kind"]),
                Decimal(r["total"]),
                {a: Decimal(w) for a, w in json.loads(r["weights"]).items()},
            )
            for r in rows
        ]

    def orders_of(self, rebalance_id: int) -> list[JournalOrder]:
        """The child orders of one rebalance's legs, in the order they were made."""
        with self._reads_guard():
            rows = self._db.execute(
                "SELECT o.* FROM orders o JOIN legs l ON o.leg_key = l.key"
                " WHERE l.rebalance_id = ? ORDER BY o.created_at, o.rowid",
                (rebalance_id,),
            ).fetchall()
        return [order_row(r) for r in rows]
