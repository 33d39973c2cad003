"""The journal's rows as typed values: what `bot.journal` returns, never a database row."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from bot.domain.flows import Flow, FlowKind, FlowStatus
from bot.domain.lifecycle import ChildOrder, ChildState
from bot.domain.market import Side
from bot.domain.orders import FillReport
from bot.domain.status import LegStatus, RebalanceStatus, SnapshotKind


class Row(Protocol):
    """A database row read by column name."""

    def __getitem__(self, key: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class RebalanceRow:
    id: int
    started_at: float
    finished_at: float | None
    status: RebalanceStatus
    reason: str
    mode: str
    value_before: str | None
    report: Mapping[str, Any]  # the JSON summary written when it finished ({} before)


@dataclass(frozen=True, slots=True)
class JournalOrder:
    client_id: str
    leg_key: str | None
    exchange_id: str | None
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    status: ChildState
    filled: Decimal
    created_at: float
    exchange_ts: int | None  # the order's time on the exchange's clock (ms), once known
    sent_at: float | None  # when the request last left, on the bot's clock

    def child(self) -> ChildOrder:
        """The order's life as the journal left it, to move on from."""
        return ChildOrder(self.client_id, self.status, self.sent_at, self.exchange_id, self.filled)


@dataclass(frozen=True, slots=True)
class FillRow:
    trade_id: str
    symbol: str
    exchange_order_id: str
    client_id: str | None
    leg_key: str | None
    amount: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class LegRow:
    key: str
    rebalance_id: int
    symbol: str
    side: Side
    status: LegStatus
    filled: Decimal
    cost: Decimal  # in the market's quote
    fees: Decimal  # in the market's quote; an estimate while not `fees_settled`
    value: Decimal  # traded value in the portfolio quote
    fees_settled: bool


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    taken_at: float
    kind: SnapshotKind
    total: Decimal
    weights: Mapping[str, Decimal]


def rebalance_row(row: Row) -> RebalanceRow:
    return RebalanceRow(
        id=int(row["id"]),
        started_at=float(row["started_at"]),
        finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
        status=RebalanceStatus(row["status"]),
        reason=str(row["reason"]),
        mode=str(row["mode"]),
        value_before=row["value_before"],
        report=json.loads(row["report"]) if row["report"] else {},
    )


def order_row(row: Row) -> JournalOrder:
    return JournalOrder(
        client_id=row["client_id"],
        leg_key=row["leg_key"],
        exchange_id=row["exchange_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        price=Decimal(row["price"]),
        amount=Decimal(row["amount"]),
        status=ChildState(row["status"]),
        filled=Decimal(row["filled"]),
        created_at=float(row["created_at"]),
        exchange_ts=row["exchange_ts"],
        sent_at=row["sent_at"],
    )


def leg_row(row: Row) -> LegRow:
    return LegRow(
        key=str(row["key"]),
        rebalance_id=int(row["rebalance_id"]),
        symbol=str(row["symbol"]),
        side=Side(row["side"]),
        status=LegStatus(row["status"]),
        filled=Decimal(row["filled"]),
        cost=Decimal(row["cost"]),
        fees=Decimal(row["fees"]),
        value=Decimal(row["value"]),
        fees_settled=bool(row["fees_settled"]),
    )


def fill_row(row: Row) -> FillRow:
    return FillRow(
        trade_id=str(row["trade_id"]),
        symbol=str(row["symbol"]),
        exchange_order_id=str(row["exchange_order_id"]),
        client_id=row["client_id"],
        leg_key=row["leg_key"],
        amount=Decimal(row["amount"]),
        price=Decimal(row["price"]),
        fee=Decimal(row["fee"]),
    )


def fill_report(row: Row) -> FillReport:
    """A recorded trade as the exchange reported it."""
    return FillReport(
        trade_id=str(row["trade_id"]),
        exchange_order_id=str(row["exchange_order_id"]),
        client_id=row["client_id"],
        symbol=str(row["symbol"]),
        side=Side(row["side"]),
        amount=Decimal(row["amount"]),
        price=Decimal(row["price"]),
        fee=Decimal(row["fee"]),
        fee_currency=row["fee_currency"],
        maker=None if row["maker"] is None else bool(row["maker"]),
        timestamp_ms=row["ts_ms"],
    )


def flow_row(row: Row) -> Flow:
    return Flow(
        id=str(row["exchange_id"]),
        kind=FlowKind(row["kind"]),
        asset=str(row["asset"]),
        amount=Decimal(row["amount"]),
        status=FlowStatus(row["status"]),
        fee=Decimal(row["fee"]),
        timestamp_ms=row["ts_ms"],
        txid=row["txid"],
    )


def flow_values(flow: Flow) -> tuple[str, str, str, str, str, str, str, int | None, str | None]:
    """A flow's columns in the table's order, up to its timestamps."""
    f = flow
    return (f.key, f.kind.value, f.id, f.asset, str(f.amount), str(f.fee), f.status.value,
            f.timestamp_ms, f.txid)  # fmt: skip
