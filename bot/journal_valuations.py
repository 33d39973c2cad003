"""The portfolio over time, journaled: the weights each poll saw (`snapshots`, for `status`), and
valuation points (`valuations`: balances, prices and the flows since the point before, from which
`bot.domain.performance` computes the return net of deposits and withdrawals).

`Journal` inherits these methods (its module holds the rest of the SQL); they run on the
journal's own connection, and a database error leaves them as a `JournalError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain.performance import ValuationPoint
from bot.domain.status import SnapshotKind
from bot.errors import JournalError
from bot.journal_rows import RebalanceRow, SnapshotRow, rebalance_row


def _amounts(text: str) -> dict[str, Decimal]:
    return {a: Decimal(x) for a, x in json.loads(text).items()}


def _text(amounts: Mapping[str, Decimal]) -> str:
    return json.dumps({a: str(x) for a, x in amounts.items()}, separators=(",", ":"))


class ValuationsJournal:
    """Snapshots and valuation points, mixed into `bot.journal.Journal`."""

    path: Path
    _db: Any
    _now: Callable[[], float]

    @contextmanager
    def _valuations_guard(self) -> Iterator[None]:
        """A database error leaves as one `JournalError` naming the file."""
        try:
            yield
        except self._db.Error as exc:  # the connection's own error class
            raise JournalError(f"journal {self.path}: {exc}") from None

    def snapshot(self, kind: SnapshotKind, total: Decimal, weights: Mapping[str, Decimal]) -> None:
        with self._valuations_guard():
            self._db.execute(
                "INSERT INTO snapshots (taken_at, kind, total, weights) VALUES (?, ?, ?, ?)",
                (
                    self._now(),
                    SnapshotKind(kind).value,
                    str(total),
                    json.dumps({a: str(w) for a, w in weights.items()}),
                ),
            )

    def last_snapshot(self) -> SnapshotRow | None:
        with self._valuations_guard():
            row = self._db.execute("SELECT * FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            weights = {a: Decimal(w) for a, w in json.loads(row["weights"]).items()}
            kind = SnapshotKind(row["kind"])
            return SnapshotRow(float(row["taken_at"]), kind, Decimal(row["total"]), weights)

    def record_valuation(self, quote: str, point: ValuationPoint) -> None:
        with self._valuations_guard():
            self._db.execute(
                "INSERT INTO valuations (taken_at, quote, balances, prices, flows)"
                " VALUES (?, ?, ?, ?, ?)",
                (point.at, quote, _text(point.balances), _text(point.prices), _text(point.flows)),
            )

    def valuations(self, quote: str, since: float | None = None) -> list[ValuationPoint]:
        """The valuation points in `quote` (from `since`), oldest first."""
        with self._valuations_guard():
            rows = self._db.execute(
                "SELECT * FROM valuations WHERE quote = ? AND taken_at >= ? ORDER BY taken_at, id",
                (quote, float("-inf") if since is None else since),
            )
            return [
                ValuationPoint(
                    float(r["taken_at"]),
                    _amounts(r["balances"]),
                    _amounts(r["prices"]),
                    _amounts(r["flows"]),
                )
                for r in rows
            ]

    def last_valuation_at(self) -> float | None:
        with self._valuations_guard():
            row = self._db.execute("SELECT max(taken_at) FROM valuations").fetchone()
            return None if row is None or row[0] is None else float(row[0])

    def rebalances_since(self, since: float | None = None) -> list[RebalanceRow]:
        """The rebalances started from `since`, oldest first."""
        with self._valuations_guard():
            rows = self._db.execute(
                "SELECT * FROM rebalances WHERE started_at >= ? ORDER BY id",
                (float("-inf") if since is None else since,),
            )
            return [rebalance_row(r) for r in rows]
