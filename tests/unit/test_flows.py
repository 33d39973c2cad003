"""External flows: what a deposit or withdrawal does to a balance by its status, how ccxt's
transaction structure is read, and the journal keeping each flow once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.flows import Flow, FlowKind, FlowStatus, explained_change, unexplained
from bot.errors import DomainError
from bot.exchange.codec import flow_from_ccxt
from bot.journal import Journal

D = Decimal


def deposit(status: FlowStatus = FlowStatus.OK, amount: str = "100") -> Flow:
    return Flow("7", FlowKind.DEPOSIT, "USDT", D(amount), status, timestamp_ms=1000)


def withdrawal(status: FlowStatus = FlowStatus.OK) -> Flow:
    return Flow("w1", FlowKind.WITHDRAWAL, "BTC", D(1), status, fee=D("0.0005"))


def test_a_deposit_counts_once_credited_a_withdrawal_from_its_request() -> None:
    assert deposit(FlowStatus.PENDING).effect() == 0
    assert deposit().effect() == 100
    assert withdrawal(FlowStatus.PENDING).effect() == D("-1.0005")
    assert withdrawal().effect() == D("-1.0005")
    assert withdrawal(FlowStatus.FAILED).effect() == 0
    assert deposit(FlowStatus.OTHER).effect() == withdrawal(FlowStatus.OTHER).effect() == 0


def test_a_flow_explains_the_change_of_its_effect_since_the_last_report() -> None:
    assert explained_change(deposit(FlowStatus.PENDING), None) == 0
    assert explained_change(deposit(), FlowStatus.PENDING) == 100
    assert explained_change(deposit(), FlowStatus.OK) == 0
    assert explained_change(withdrawal(), FlowStatus.PENDING) == 0
    assert explained_change(withdrawal(FlowStatus.CANCELED), FlowStatus.PENDING) == D("1.0005")
    assert unexplained({"USDT": D(10)}, {"USDT": D(115)}, {"USDT": D(100)}) == {"USDT": D(5)}


def test_a_flow_refuses_bad_values() -> None:
    with pytest.raises(DomainError):
        deposit(amount="-1")
    with pytest.raises(DomainError):
        Flow("", FlowKind.DEPOSIT, "USDT", D(1), FlowStatus.OK)


def test_ccxt_transactions_are_read_exactly() -> None:
    raw = {
        "id": "abc",
        "txid": "0x1",
        "timestamp": 1_700_000_000_000,
        "type": "withdrawal",
        "amount": "0.1",
        "currency": "BTC",
        "status": "pending",
        "fee": {"currency": "BTC", "cost": "0.0002"},
    }
    flow = flow_from_ccxt(raw, FlowKind.WITHDRAWAL)
    assert (flow.key, flow.amount, flow.fee, flow.status) == (
        "withdrawal:abc",
        D("0.1"),
        D("0.0002"),
        FlowStatus.PENDING,
    )
    other = flow_from_ccxt({**raw, "status": "7", "fee": None}, FlowKind.WITHDRAWAL)
    assert (other.status, other.fee) == (FlowStatus.OTHER, 0)
    in_bnb = flow_from_ccxt({**raw, "fee": {"currency": "BNB", "cost": "1"}}, FlowKind.WITHDRAWAL)
    assert in_bnb.fee == 0  # a fee in another asset does not change this balance


def test_the_journal_keeps_each_flow_once_with_its_last_status(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.version >= 5  # v5 holds the flows table
    first = journal.record_flows([deposit(FlowStatus.PENDING), withdrawal()])
    assert [(f.kind, before) for f, before in first] == [
        (FlowKind.DEPOSIT, None),
        (FlowKind.WITHDRAWAL, None),
    ]
    assert journal.record_flows([deposit(FlowStatus.PENDING), withdrawal()]) == []
    credited = journal.record_flows([deposit(), withdrawal()])
    assert credited == [(deposit(), FlowStatus.PENDING)]
    assert journal.record_flows([deposit(), withdrawal()]) == []
    assert {f.key: f.status for f in journal.flows()} == {
        "deposit:7": FlowStatus.OK,
        "withdrawal:w1": FlowStatus.OK,
    }
    assert journal.flows(FlowStatus.PENDING) == []
    journal.close()
    reopened = Journal(tmp_path / "j.sqlite")
    assert reopened.record_flows([deposit()]) == []  # a restart reads them again: counted once
