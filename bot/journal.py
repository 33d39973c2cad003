"""The journal: a SQLite file (WAL) that remembers every rebalance, leg, child order and fill.

The rule that makes restarts safe: an order's intent (its client id, market, side, price,
amount) is written and committed before the order is sent. After a crash, every order the bot may
have sent is in the journal, so start-up reconciliation can ask the exchange about each one and
nothing is ever placed twice.

Money is stored as decimal text. The schema is versioned with `PRAGMA user_version`; `MIGRATIONS`
holds one script per version, applied in order inside a transaction.

This module owns the SQL: every other module calls its methods and gets typed rows back
(`RebalanceRow`, `JournalOrder`, `FillRow`, `SnapshotRow`). A database error never leaves it as
sqlite3's own: it becomes a `JournalError` naming the file.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from bot.domain.flows import Flow, FlowStatus
from bot.domain.lifecycle import ChildOrder, ChildState
from bot.domain.market import Side
from bot.domain.orders import FillReport, OrderReport, OrderRequest
from bot.domain.slicing import Phase
from bot.domain.status import LegOutcome, LegStatus, RebalanceStatus
from bot.errors import JournalError
from bot.journal_control import ControlJournal
from bot.journal_derivatives import DerivativesJournal
from bot.journal_rows import (
    FillRow,
    JournalOrder,
    LegRow,
    RebalanceRow,
    fill_report,
    fill_row,
    flow_row,
    flow_values,
    leg_row,
    order_row,
    rebalance_row,
)
from bot.journal_schema import MIGRATIONS
from bot.journal_snapshots import SnapshotsJournal
from bot.journal_targets import TargetsJournal
from bot.journal_traded import TradedJournal
from bot.journal_valuations import ValuationsJournal

P = ParamSpec("P")
R = TypeVar("R")


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """A database error inside `method` leaves as one `JournalError` naming the file."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            journal = args[0]
            assert isinstance(journal, Journal)
            raise JournalError(f"journal {journal.path}: {exc}") from None

    return wrapper


class Journal(
    TargetsJournal,
    ValuationsJournal,
    TradedJournal,
    ControlJournal,
    SnapshotsJournal,
    DerivativesJournal,
):
    """One SQLite file; every write is its own committed transaction."""

    _db: sqlite3.Connection  # the mixins' methods run on it too

    def __init__(self, path: Path | str, now: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._now = now
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {path}: {exc}") from None
        except OSError as exc:
            raise JournalError(f"journal {path}: cannot create its folder: {exc}") from None

    def close(self) -> None:
        self._db.close()

    @property
    @_guarded
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise JournalError(
                f"journal {self.path} has schema v{current}, newer than this bot knows"
                f" (v{len(MIGRATIONS)}): upgrade the bot"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._tx():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------------

    @_guarded
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_guarded
    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- rebalances and legs ----------------------------------------------------------------------

    @_guarded
    def start_rebalance(self, mode: str, value_before: Decimal, est_cost: Decimal) -> int:
        cur = self._db.execute(
            "INSERT INTO rebalances (started_at, status, mode, value_before, est_cost)"
            " VALUES (?, ?, ?, ?, ?)",
            (self._now(), RebalanceStatus.RUNNING.value, mode, str(value_before), str(est_cost)),
        )
        return int(cur.lastrowid or 0)

    @_guarded
    def finish_rebalance(
        self, rebalance_id: int, status: RebalanceStatus, reason: str, report: Mapping[str, Any]
    ) -> None:
        self._db.execute(
            "UPDATE rebalances SET finished_at = ?, status = ?, reason = ?, report = ?"
            " WHERE id = ?",
            (
                self._now(),
                RebalanceStatus(status).value,
                reason,
                json.dumps(report, default=str),
                rebalance_id,
            ),
        )

    @_guarded
    def start_leg(
        self,
        key: str,
        rebalance_id: int,
        seq: int,
        symbol: str,
        side: Side,
        planned: Decimal,
        arrival_mid: Decimal,
        planned_value: Decimal = Decimal(0),
    ) -> None:
        self._db.execute(
            "INSERT INTO legs (key, rebalance_id, seq, symbol, side, planned, arrival_mid, status,"
            " started_at, planned_value, fees_settled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                key,
                rebalance_id,
                seq,
                symbol,
                Side(side).value,
                str(planned),
                str(arrival_mid),
                LegStatus.RUNNING.value,
                self._now(),
                str(planned_value),
            ),
        )

    @_guarded
    def finish_leg(
        self,
        key: str,
        outcome: LegOutcome,
        reason: str,
        filled: Decimal,
        cost: Decimal,
        fees: Decimal,
        value: Decimal,
        fees_settled: bool = True,
    ) -> None:
        self._db.execute(
            "UPDATE legs SET status = ?, reason = ?, filled = ?, cost = ?, fees = ?, value = ?,"
            " finished_at = ?, fees_settled = ? WHERE key = ?",
            (
                LegStatus.of(outcome).value,
                reason,
                str(filled),
                str(cost),
                str(fees),
                str(value),
                self._now(),
                int(fees_settled),
                key,
            ),
        )

    @_guarded
    def legs_with_estimated_fees(self) -> list[LegRow]:
        """Legs whose fees are still an estimate: their trades were not all read (or a crash
        cut them short), oldest first."""
        rows = self._db.execute("SELECT * FROM legs WHERE fees_settled = 0 ORDER BY started_at")
        return [leg_row(r) for r in rows]

    @_guarded
    def settle_leg_fees(self, key: str, fees: Decimal) -> None:
        """The leg's fees as recorded from its trades, no longer an estimate."""
        self._db.execute(
            "UPDATE legs SET fees = ?, fees_settled = 1 WHERE key = ?", (str(fees), key)
        )

    @_guarded
    def legs_of(self, rebalance_id: int) -> list[LegRow]:
        rows = self._db.execute(
            "SELECT * FROM legs WHERE rebalance_id = ? ORDER BY seq", (rebalance_id,)
        )
        return [leg_row(r) for r in rows]

    @_guarded
    def rebalance(self, rebalance_id: int) -> RebalanceRow | None:
        row = self._db.execute("SELECT * FROM rebalances WHERE id = ?", (rebalance_id,)).fetchone()
        return None if row is None else rebalance_row(row)

    @_guarded
    def replace_report(self, rebalance_id: int, report: Mapping[str, Any]) -> None:
        """A finished rebalance's summary, corrected (its fees, once its trades are read)."""
        self._db.execute(
            "UPDATE rebalances SET report = ? WHERE id = ?",
            (json.dumps(report, default=str), rebalance_id),
        )

    @_guarded
    def interrupted(self) -> list[RebalanceRow]:
        """Rebalances a crash left running."""
        rows = self._db.execute(
            "SELECT * FROM rebalances WHERE status = ? ORDER BY id",
            (RebalanceStatus.RUNNING.value,),
        )
        return [rebalance_row(r) for r in rows]

    @_guarded
    def mark_interrupted(self, rebalance_id: int, reason: str) -> None:
        with self._tx():
            self._db.execute(
                "UPDATE legs SET status = ?, reason = ?, finished_at = ?"
                " WHERE rebalance_id = ? AND status = ?",
                (
                    LegStatus.INTERRUPTED.value,
                    reason,
                    self._now(),
                    rebalance_id,
                    LegStatus.RUNNING.value,
                ),
            )
            self._db.execute(
                "UPDATE rebalances SET status = ?, reason = ?, finished_at = ? WHERE id = ?",
                (RebalanceStatus.INTERRUPTED.value, reason, self._now(), rebalance_id),
            )

    @_guarded
    def rebalances(self, limit: int = 20) -> list[RebalanceRow]:
        """The latest rebalances, newest first."""
        rows = self._db.execute("SELECT * FROM rebalances ORDER BY id DESC LIMIT ?", (limit,))
        return [rebalance_row(r) for r in rows]

    @_guarded
    def turnover_since(self, since: float) -> Decimal:
        """Value traded (portfolio quote) by legs started since `since` (daily turnover limit).

        A finished leg counts its recorded value; a leg a crash cut short (its value never
        written) counts its planned value in proportion to what its orders filled."""
        rows = self._db.execute(
            "SELECT l.value, l.planned, l.planned_value,"
            " (SELECT group_concat(o.filled, ' ') FROM orders o WHERE o.leg_key = l.key)"
            " FROM legs l WHERE l.started_at >= ?",
            (since,),
        ).fetchall()
        total = Decimal(0)
        for value, planned, planned_value, fills in rows:
            filled = sum((Decimal(f) for f in (fills or "").split()), Decimal(0))
            estimate = Decimal(planned_value) * filled / Decimal(planned) if Decimal(planned) else 0
            total += max(Decimal(value), Decimal(estimate))
        return total

    # -- orders (the Recorder protocol of the executor) --------------------------------------------

    @_guarded
    def child_intent(self, leg_key: str, request: OrderRequest, phase: Phase) -> None:
        """Committed before the order is sent."""
        now = self._now()
        self._db.execute(
            "INSERT INTO orders (client_id, leg_key, symbol, side, price, amount, phase,"
            " time_in_force, post_only, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.client_id,
                leg_key,
                request.symbol,
                request.side.value,
                str(request.price),
                str(request.amount),
                phase.value,
                request.time_in_force.value,
                int(request.post_only),
                ChildState.INTENT.value,
                now,
                now,
            ),
        )

    @_guarded
    def child_sent(self, client_id: str, at: float) -> None:
        """The request is leaving now (after the pacer): committed before it does."""
        self._db.execute(
            "UPDATE orders SET status = ?, sent_at = ?, updated_at = ? WHERE client_id = ?",
            (ChildState.SENT.value, at, self._now(), client_id),
        )

    @_guarded
    def child_state(self, child: ChildOrder, report: OrderReport | None = None) -> None:
        """A child's new state (`bot.domain.lifecycle`), with the exchange's report that moved
        it there, when there is one."""
        if report is None:
            self._db.execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE client_id = ?",
                (child.state.value, self._now(), child.client_id),
            )
            return
        self._db.execute(
            "UPDATE orders SET exchange_id = ?, status = ?, filled = ?, average = ?, fee = ?,"
            " fee_currency = ?, updated_at = ?, exchange_ts = COALESCE(exchange_ts, ?)"
            " WHERE client_id = ?",
            (
                report.exchange_id,
                child.state.value,
                str(max(child.filled, report.filled)),
                None if report.average is None else str(report.average),
                str(report.fee),
                report.fee_currency,
                self._now(),
                report.timestamp_ms,
                child.client_id,
            ),
        )

    @_guarded
    def fills(self, leg_key: str | None, fills: list[FillReport]) -> None:
        if not fills:
            return
        with self._tx():
            for f in fills:
                self._db.execute(
                    "INSERT OR IGNORE INTO fills (trade_id, symbol, exchange_order_id, client_id,"
                    " leg_key, side, amount, price, fee, fee_currency, maker, ts_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        f.trade_id,
                        f.symbol,
                        f.exchange_order_id,
                        f.client_id,
                        leg_key,
                        f.side.value,
                        str(f.amount),
                        str(f.price),
                        str(f.fee),
                        f.fee_currency,
                        None if f.maker is None else int(f.maker),
                        f.timestamp_ms,
                    ),
                )

    @_guarded
    def order(self, client_id: str) -> JournalOrder | None:
        row = self._db.execute("SELECT * FROM orders WHERE client_id = ?", (client_id,)).fetchone()
        return None if row is None else order_row(row)

    @_guarded
    def unsettled_orders(self) -> list[JournalOrder]:
        """Orders that may still be live on the exchange, or may yet become so: every order not
        in a final state (an intent, a request sent, an order open or being cancelled)."""
        unsettled = [s.value for s in ChildState if s.live]
        rows = self._db.execute(
            f"SELECT * FROM orders WHERE status IN ({', '.join('?' * len(unsettled))})"
            " ORDER BY created_at",
            unsettled,
        ).fetchall()
        return [order_row(r) for r in rows]

    @_guarded
    def orders_missing_fills(self) -> list[JournalOrder]:
        """Orders the exchange knows whose recorded fills fall short of their filled amount (the
        process died between the order's last report and the leg's trade query)."""
        recorded: dict[tuple[str, str], Decimal] = {}
        for f in self.recorded_fills():
            key = (f.symbol, f.exchange_order_id)
            recorded[key] = recorded.get(key, Decimal(0)) + f.amount
        rows = self._db.execute(
            "SELECT * FROM orders WHERE exchange_id IS NOT NULL AND exchange_id != ''"
            " ORDER BY created_at"
        )
        orders = [order_row(r) for r in rows]
        return [
            o
            for o in orders
            if recorded.get((o.symbol, o.exchange_id or ""), Decimal(0)) < o.filled
        ]

    @_guarded
    def client_ids(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT client_id FROM orders")]

    @_guarded
    def recorded_fills(self) -> list[FillRow]:
        return [fill_row(r) for r in self._db.execute("SELECT * FROM fills ORDER BY rowid")]

    @_guarded
    def leg_fills(self, leg_key: str) -> list[FillReport]:
        """The recorded trades of one leg, as the exchange reported them."""
        rows = self._db.execute(
            "SELECT * FROM fills WHERE leg_key = ? ORDER BY ts_ms, trade_id", (leg_key,)
        )
        return [fill_report(r) for r in rows]

    @_guarded
    def fill_ids(self) -> set[tuple[str, str]]:
        return {
            (str(r[0]), str(r[1])) for r in self._db.execute("SELECT trade_id, symbol FROM fills")
        }

    # -- external flows ---------------------------------------------------------------------------

    @_guarded
    def record_flows(self, flows: list[Flow]) -> list[tuple[Flow, FlowStatus | None]]:
        """Record deposits and withdrawals as reported. Returns the new and changed ones, each
        with the status recorded before (None: new): a flow read twice is counted once."""
        changed: list[tuple[Flow, FlowStatus | None]] = []
        with self._tx():
            for f in flows:
                row = self._db.execute("SELECT status FROM flows WHERE key = ?", (f.key,))
                before = next((FlowStatus(r[0]) for r in row), None)
                if before is not f.status:
                    self._db.execute(
                        "INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT"
                        " (key) DO UPDATE SET status = excluded.status, updated_at = ?",
                        (*flow_values(f), self._now(), self._now(), self._now()),
                    )
                    changed.append((f, before))
        return changed

    @_guarded
    def flows(self, status: FlowStatus | None = None, limit: int = 1000) -> list[Flow]:
        """Recorded flows (of one status), newest first."""
        where, args = ("", ()) if status is None else (" WHERE status = ?", (status.value,))
        rows = self._db.execute(
            f"SELECT * FROM flows{where} ORDER BY ts_ms DESC, key LIMIT ?", (*args, limit)
        )
        return [flow_row(r) for r in rows]

    # -- halts ------------------------------------------------------------------------------------

    @_guarded
    def halt(self, reason: str) -> None:
        if self.active_halt() is None:
            self._db.execute("INSERT INTO halts (at, reason) VALUES (?, ?)", (self._now(), reason))

    @_guarded
    def active_halt(self) -> str | None:
        row = self._db.execute(
            "SELECT reason FROM halts WHERE cleared_at IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    @_guarded
    def clear_halt(self, by: str) -> bool:
        cur = self._db.execute(
            "UPDATE halts SET cleared_at = ?, cleared_by = ? WHERE cleared_at IS NULL",
            (self._now(), by),
        )
        return cur.rowcount > 0
