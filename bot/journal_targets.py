"""The targets in force, journaled: one row per accepted change, with where it came from.

`Journal` inherits these methods (its module holds the rest of the SQL); they run on the
journal's own connection, and a database error leaves them as a `JournalError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.errors import JournalError

SOURCES = ("config", "file", "url", "sighup")


@dataclass(frozen=True, slots=True)
class TargetsRow:
    at: float
    source: str  # config | file | url | sighup
    origin: str  # the file or URL they came from ('' for the config)
    weights: dict[str, Decimal]


class TargetsJournal:
    """The targets' history, mixed into `bot.journal.Journal`."""

    path: Path
    _db: Any
    _now: Callable[[], float]

    @contextmanager
    def _targets_guard(self) -> Iterator[None]:
        """A database error leaves as one `JournalError` naming the file."""
        try:
            yield
        except self._db.Error as exc:  # the connection's own error class
            raise JournalError(f"journal {self.path}: {exc}") from None

    def record_targets(self, source: str, origin: str, weights: Mapping[str, Decimal]) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown targets source {source!r}")
        weights_json = json.dumps({a: str(w) for a, w in weights.items()})
        with self._targets_guard():
            self._db.execute(
                "INSERT INTO targets (at, source, origin, weights) VALUES (?, ?, ?, ?)",
                (self._now(), source, origin, weights_json),
            )

    def target_changes(self, limit: int = 20) -> list[TargetsRow]:
        """The accepted changes of targets, newest first; the first is the set in force."""
        with self._targets_guard():
            rows = self._db.execute(
                "SELECT * FROM targets ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            TargetsRow(
                float(r["at"]),
                str(r["source"]),
                str(r["origin"]),
                {a: Decimal(w) for a, w in json.loads(r["weights"]).items()},
            )
            for r in rows
        ]

    def targets_in_force(self) -> TargetsRow | None:
        changes = self.target_changes(1)
        return changes[0] if changes else None
