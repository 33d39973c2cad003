"""What the bot traded recently: its fills in a time window (glide paths' daily caps).

`Journal` inherits these methods (its module holds the rest of the SQL); they run on the
journal's own connection, and a database error leaves them as a `JournalError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.orders import FillReport
from bot.errors import JournalError
from bot.journal_rows import fill_report


class TradedJournal:
    """Recent fills, mixed into `bot.journal.Journal`."""

    path: Path
    _db: Any

    def fills_since(self, since: float) -> list[FillReport]:
        """The fills at or after `since` (seconds): by the exchange's time of the trade, else
        (a trade without one) by when its order was last updated in the journal."""
        try:
            rows = self._db.execute(
                "SELECT f.* FROM fills f WHERE COALESCE(f.ts_ms, (SELECT"
                " CAST(o.updated_at * 1000 AS INTEGER) FROM orders o"
                " WHERE o.client_id = f.client_id)) >= ?",
                (int(since * 1000),),
            ).fetchall()
        except self._db.Error as exc:  # the connection's own error class
            raise JournalError(f"journal {self.path}: {exc}") from None
        return [fill_report(r) for r in rows]
