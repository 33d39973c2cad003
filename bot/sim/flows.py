"""Deposits and withdrawals of the simulated account, scheduled in time: `FlowBook`.

A flow is made at `at` (the exchange's clock, seconds) and is pending for `confirm` seconds:

- a deposit is listed as pending from `at` and credited (free balance) at `at + confirm`;
- a withdrawal takes its amount and fee from the free balance at `at` (refused, `failed`, when
  the free balance cannot pay it) and is complete (`ok`) at `at + confirm`.

As on Binance, a withdrawal's `amount` is what leaves for the address; its `fee` is taken on
top. `transaction_dict` is ccxt's transaction structure of a flow (fetch_deposits,
fetch_withdrawals); `select` is the page an exchange lists for one request: within the time
window, newest first, from `offset`, at most `limit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.domain.market import ZERO
from bot.sim.account import Account
from bot.sim.structures import Number, iso8601

MAX_PAGE = 1000  # Binance's deposit and withdrawal history: 1000 a page, the default too


class FlowKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class FlowState(StrEnum):
    SCHEDULED = "scheduled"  # not made yet: not listed
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


@dataclass(slots=True)
class SimFlow:
    id: str
    kind: FlowKind
    asset: str
    amount: Decimal
    fee: Decimal
    at: float
    confirm: float
    txid: str
    seq: int
    state: FlowState = FlowState.SCHEDULED

    @property
    def done_at(self) -> float:
        return self.at + self.confirm


class FlowBook:
    """The account's scheduled and past flows, applied to its balances as time passes."""

    def __init__(self) -> None:
        self.flows: list[SimFlow] = []

    def schedule(
        self,
        kind: FlowKind | str,
        asset: str,
        amount: Decimal,
        at: float,
        *,
        fee: Decimal = ZERO,
        confirm: float = 0.0,
    ) -> SimFlow:
        kind = FlowKind(kind)
        if amount <= 0 or fee < 0 or confirm < 0:
            raise ValueError(f"a {kind} needs an amount > 0, a fee >= 0 and a confirm >= 0")
        if kind is FlowKind.DEPOSIT and fee:
            raise ValueError("a deposit has no fee")
        n = len(self.flows) + 1
        flow_id = str(9_000_000 + n) if kind is FlowKind.DEPOSIT else f"{n:032x}"
        flow = SimFlow(flow_id, kind, asset, amount, fee, at, confirm, f"{n:064x}", n)
        self.flows.append(flow)
        return flow

    def advance(self, account: Account, t: float) -> None:
        """Make and complete every flow due by `t`, in time order."""
        for f in sorted(self.flows, key=lambda f: (f.at, f.seq)):
            if f.state is FlowState.SCHEDULED and t >= f.at:
                f.state = FlowState.PENDING
                if f.kind is FlowKind.WITHDRAWAL:
                    if account.free.get(f.asset, ZERO) < f.amount + f.fee:
                        f.state = FlowState.FAILED
                    else:
                        account.credit(f.asset, -(f.amount + f.fee))
            if f.state is FlowState.PENDING and t >= f.done_at:
                f.state = FlowState.OK
                if f.kind is FlowKind.DEPOSIT:
                    account.credit(f.asset, f.amount)

    def select(
        self,
        kind: FlowKind,
        asset: str | None,
        start_ms: int | None,
        end_ms: int | None,
        offset: int,
        limit: int,
        offset_s: float = 0.0,
    ) -> list[SimFlow]:
        """The listed flows of `kind` (of `asset`) made within [start_ms, end_ms] on the
        exchange's clock (`offset_s` ahead of the flows' own), newest first, from `offset`."""
        listed = [
            f
            for f in self.flows
            if f.kind is kind
            and f.state is not FlowState.SCHEDULED
            and (asset is None or f.asset == asset)
            and (start_ms is None or ms(f.at, offset_s) >= start_ms)
            and (end_ms is None or ms(f.at, offset_s) <= end_ms)
        ]
        listed.sort(key=lambda f: (f.at, f.seq), reverse=True)
        return listed[offset : offset + limit]


def ms(seconds: float, offset_s: float = 0.0) -> int:
    return round((seconds + offset_s) * 1000)


def transaction_dict(flow: SimFlow, number: Number, offset_s: float = 0.0) -> dict[str, Any]:
    """ccxt's transaction structure of `flow` (as ccxt's binance.parse_transaction fills it)."""
    stamp = ms(flow.at, offset_s)
    done = flow.state is FlowState.OK
    fee = None
    if flow.kind is FlowKind.WITHDRAWAL:
        fee = {"currency": flow.asset, "cost": number(flow.fee)}
    return {
        "info": {},
        "id": flow.id,
        "txid": flow.txid,
        "timestamp": stamp,
        "datetime": iso8601(stamp),
        "network": flow.asset,
        "address": "sim-address",
        "addressTo": "sim-address",
        "addressFrom": None,
        "tag": None,
        "tagTo": None,
        "tagFrom": None,
        "type": flow.kind.value,
        "amount": number(flow.amount),
        "currency": flow.asset,
        "status": flow.state.value,
        "updated": ms(flow.done_at, offset_s) if done else None,
        "internal": False,
        "comment": None,
        "fee": fee,
    }
