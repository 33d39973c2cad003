"""Commands from the control surface, journaled: pause, resume, rebalance now, cancel; who sent
them (api, telegram, cli) and what they did.

`Journal` inherits these methods (its module holds the rest of the SQL); they run on the
journal's own connection, and a database error leaves them as a `JournalError` naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import JournalError


@dataclass(frozen=True, slots=True)
class CommandRow:
    at: float
    command: str  # pause | resume | rebalance_now | cancel
    source: str  # api | telegram | cli
    detail: str


class ControlJournal:
    """The commands' history, mixed into `bot.journal.Journal`."""

    path: Path
    _db: Any
    _now: Callable[[], float]

    def record_command(self, command: str, source: str, detail: str = "") -> None:
        try:
            self._db.execute(
                "INSERT INTO commands (at, command, source, detail) VALUES (?, ?, ?, ?)",
                (self._now(), command, source, detail),
            )
        except self._db.Error as exc:  # the connection's own error class
            raise JournalError(f"journal {self.path}: {exc}") from None

    def commands(self, limit: int = 50) -> list[CommandRow]:
        """The latest commands, newest first."""
        try:
            rows = self._db.execute(
                "SELECT at, command, source, detail FROM commands ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        except self._db.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from None
        return [CommandRow(float(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]
