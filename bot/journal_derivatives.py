"""Perpetual futures, journaled: funding paid and received (each settlement once, by the
exchange's id), and what the margin guard saw and did (a breach, a collateral transfer, a
reduce-only cut, the all-clear).

`Journal` inherits these methods (its module holds the rest of the SQL); they run on the
journal's own connection, and a database error leaves them as a `JournalError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain.positions import FundingPayment
from bot.errors import JournalError


@dataclass(frozen=True, slots=True)
class MarginEvent:
    at: float
    kind: str  # breach | transfer | reduce | clear
    symbol: str
    detail: dict[str, Any]


class DerivativesJournal:
    """Funding and margin events, mixed into `bot.journal.Journal`."""

    path: Path
    _db: Any
    _now: Callable[[], float]

    def record_funding(self, payments: Iterable[FundingPayment]) -> int:
        """Journal the payments not yet known; returns how many were new."""
        new = 0
        try:
            for p in payments:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO funding (id, symbol, asset, amount, ts_ms, recorded_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (p.id, p.symbol, p.asset, str(p.amount), p.timestamp, self._now()),
                )
                new += cur.rowcount
        except self._db.Error as exc:  # the connection's own error class
            raise JournalError(f"journal {self.path}: {exc}") from None
        return new

    def funding(self, since_ms: int = 0) -> list[FundingPayment]:
        """The funding journaled from `since_ms` (exchange time), oldest first."""
        try:
            rows = self._db.execute(
                "SELECT id, symbol, asset, amount, ts_ms FROM funding WHERE ts_ms >= ?"
                " ORDER BY ts_ms, id",
                (since_ms,),
            ).fetchall()
        except self._db.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from None
        return [
            FundingPayment(str(r[0]), str(r[1]), str(r[2]), Decimal(r[3]), int(r[4])) for r in rows
        ]

    def last_funding_ms(self) -> int | None:
        """The latest settlement journaled (exchange time), None before the first."""
        try:
            row = self._db.execute("SELECT MAX(ts_ms) FROM funding").fetchone()
        except self._db.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from None
        return None if row is None or row[0] is None else int(row[0])

    def record_margin_event(self, kind: str, symbol: str, detail: dict[str, Any]) -> None:
        try:
            self._db.execute(
                "INSERT INTO margin_events (at, kind, symbol, detail) VALUES (?, ?, ?, ?)",
                (self._now(), kind, symbol, json.dumps(detail, sort_keys=True, default=str)),
            )
        except self._db.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from None

    def margin_events(self, limit: int = 50) -> list[MarginEvent]:
        """The latest margin events, newest first."""
        try:
            rows = self._db.execute(
                "SELECT at, kind, symbol, detail FROM margin_events ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        except self._db.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from None
        return [MarginEvent(float(r[0]), str(r[1]), str(r[2]), json.loads(r[3])) for r in rows]
