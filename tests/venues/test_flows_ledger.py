"""Transfers and ledgers as flows, through ccxt's real okx class: where deposits land in a funding
account, only a transfer into the trading account changes the bot's balance, and that transfer
explains it (no halt); a deposit into funding is never counted against the trading balance; a
ledger's trades and fees are not flows; pages are followed by cursor, and a flow read twice is
kept once.

OKX's formats (https://www.okx.com/docs-v5/en/): GET /api/v5/account/bills-archive and
/api/v5/account/bills (#trading-account-rest-api-get-bills-details-last-3-months, -last-7-days)
answer trading-account bills newest first, at most `limit` (100), `after` a billId for older
ones, `begin` a time; a transfer is type "1" with `from` / `to` "6" (funding) or "18" (trading),
subType "11" in, "12" out; a trade is type "2" with its fee in `fee`. GET
/api/v5/asset/deposit-history lists deposits into the funding account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.flows import Flow, FlowKind, FlowStatus, unexplained
from bot.exchange.codec import flow_from_ledger, flow_from_transfer
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles import profile_for
from bot.journal import Journal
from bot.runtime.flows import FlowWatch
from tests.venues import okx
from tests.venues.venue import Handler, Request

D = Decimal
FUNDING, TRADING = "6", "18"


def bill(n: int, ccy: str, change: str, ts: int, kind: str = "1", **fields: str) -> dict[str, str]:
    """One OKX bill as GET /api/v5/account/bills(-archive) lists it (numbers as strings)."""
    row = {
        "bal": "0",
        "balChg": change,
        "billId": str(okx.BILL_IDS + n),
        "ccy": ccy,
        "execType": "",
        "fee": "",
        "from": "",
        "instId": "",
        "instType": "",
        "mgnMode": "",
        "notes": "",
        "ordId": "",
        "pnl": "",
        "posBal": "",
        "posBalChg": "",
        "subType": "",
        "sz": change,
        "to": "",
        "ts": str(ts),
        "type": kind,
    }
    row.update(fields)
    return row


def transfer(n: int, ccy: str, amount: str, ts: int, into: bool = True) -> dict[str, str]:
    """A transfer between funding and trading, as the trading account's bill."""
    source, target = (FUNDING, TRADING) if into else (TRADING, FUNDING)
    return bill(
        n,
        ccy,
        amount if into else f"-{amount}",
        ts,
        "1",
        **{"from": source, "to": target, "subType": "11" if into else "12"},
        notes="From Funding Account" if into else "To Funding Account",
    )


@dataclass
class Fake(okx.Fake):
    """OKX with the trading account's bills and the funding account's deposits."""

    bills: list[dict[str, str]] = field(default_factory=list)
    deposits: list[dict[str, str]] = field(default_factory=list)
    # bills repeated at the head of every older page (a bill listed late, seen twice)
    repeat: int = 0

    def routes(self) -> dict[tuple[str, str], Handler]:
        v5 = "/api/v5"
        return {
            **super().routes(),
            ("GET", f"{v5}/account/bills-archive"): self._private(self.list_bills),
            ("GET", f"{v5}/account/bills"): self._private(self.list_bills),
            ("GET", f"{v5}/asset/deposit-history"): self._private(self.deposit_history),
            ("GET", f"{v5}/asset/withdrawal-history"): self._private(self.no_withdrawals),
        }

    def move(self, row: dict[str, str]) -> None:
        """A bill made: the trading balance changes by its balChg."""
        self.bills.append(row)
        self.engine.account.credit(row["ccy"], D(row["balChg"]))

    async def list_bills(self, request: Request) -> Any:
        rows = sorted(self.bills, key=lambda b: int(b["billId"]), reverse=True)
        if request.param("type"):
            rows = [b for b in rows if b["type"] == request.param("type")]
        if request.param("begin"):
            rows = [b for b in rows if int(b["ts"]) >= int(request.param("begin"))]
        head: list[dict[str, str]] = []
        if request.param("after"):
            after = int(request.param("after"))
            newer = [b for b in rows if int(b["billId"]) >= after]
            head = newer[-self.repeat :] if self.repeat else []
            rows = [b for b in rows if int(b["billId"]) < after]
        limit = int(request.param("limit", "100"))
        return okx.ok((head + rows)[:limit])

    async def deposit_history(self, request: Request) -> Any:
        return okx.ok(self.deposits)

    async def no_withdrawals(self, request: Request) -> Any:
        return okx.ok([])


class Clock:
    def __init__(self, venue: Fake) -> None:
        self.venue = venue

    def time(self) -> float:
        return self.venue.engine.now

    async def sleep(self, seconds: float) -> None:
        self.venue.engine.now += seconds


async def _no_sleep(seconds: float) -> None:
    return None


# OKX's profile with its flows read (the profile ships them off until tests/venues/okx.py
# answers bills-archive, which the daemon tests there would otherwise wait on).
OKX = profile_for("okx")
_OPEN: list[Gateway] = []


@pytest.fixture(autouse=True)
async def _closed() -> AsyncIterator[None]:
    """Every gateway a test opened is closed after it."""
    yield
    while _OPEN:
        await _OPEN.pop().close()


async def connect(profile: ExchangeProfile | None = None, **fields: Any) -> tuple[Fake, Gateway]:
    venue = Fake(**fields)
    profile = profile or OKX
    client = ccxt_client(
        "okx", profile, timeout=5.0, options={}, credentials=lambda: dict(okx.CREDENTIALS)
    )
    venue.install(client)
    gateway = Gateway(client, profile=profile, requests_per_second=1000, sleep=_no_sleep)
    _OPEN.append(gateway)
    await gateway.load_markets()
    return venue, gateway


async def balances(gateway: Gateway) -> dict[str, Decimal]:
    got = await gateway.fetch_balances()
    return {a: got.total(a) for a in ("BTC", "ETH", "USDT")}


def now_ms(venue: Fake) -> int:
    return venue.engine.now_ms


async def test_a_transfer_from_funding_explains_the_trading_balance_change(
    tmp_path: Path,
) -> None:
    venue, gateway = await connect()
    assert gateway.reads_flows
    watch = FlowWatch(gateway, Journal(tmp_path / "j.sqlite"), Clock(venue))
    before = await balances(gateway)
    assert await watch.explained(before) == {}  # the first read: nothing moved yet
    # 5,000 USDT deposited on chain into funding, then moved to trading
    venue.deposits.append(
        {
            "ccy": "USDT",
            "amt": "5000",
            "state": "2",
            "depId": "7001",
            "txId": "0xabc",
            "ts": str(now_ms(venue)),
            "chain": "USDT-TRC20",
            "to": "TXaddr",
        }
    )
    venue.move(transfer(1, "USDT", "5000", now_ms(venue)))
    after = await balances(gateway)
    assert after["USDT"] - before["USDT"] == D(5000)
    explained = await watch.explained(after)
    assert explained == {"USDT": D(5000)}  # once: by the transfer, not by the deposit too
    assert unexplained(before, after, explained) == {}  # so the daemon does not halt
    assert ("GET", "/api/v5/asset/deposit-history") not in venue.requests
    (flow,) = watch.journal.flows()
    assert (flow.kind, flow.id, flow.asset, flow.amount, flow.status) == (
        FlowKind.DEPOSIT,
        f"transfer:{okx.BILL_IDS + 1}",
        "USDT",
        D(5000),
        FlowStatus.OK,
    )
    # read again at the next move: the same transfer explains nothing twice
    venue.engine.account.credit("BTC", D("0.1"))  # a move nobody reports
    moved = await balances(gateway)
    assert await watch.explained(moved) == {}
    assert unexplained(after, moved, {}) == {"BTC": D("0.1")}


async def test_a_transfer_to_funding_is_a_withdrawal_of_the_trading_account(
    tmp_path: Path,
) -> None:
    venue, gateway = await connect()
    watch = FlowWatch(gateway, Journal(tmp_path / "j.sqlite"), Clock(venue))
    before = await balances(gateway)
    await watch.explained(before)
    venue.move(transfer(2, "BTC", "0.25", now_ms(venue), into=False))
    after = await balances(gateway)
    explained = await watch.explained(after)
    assert explained == {"BTC": D("-0.25")}
    assert unexplained(before, after, explained) == {}
    (flow,) = watch.journal.flows()
    assert flow.kind is FlowKind.WITHDRAWAL and flow.fee == 0


async def test_without_transfers_the_same_move_is_unexplained(tmp_path: Path) -> None:
    """The profile is what makes the transfer count: without it, the move would halt."""
    profile = replace(OKX, transfers=None)
    venue, gateway = await connect(profile)
    assert not gateway.reads_flows
    watch = FlowWatch(gateway, Journal(tmp_path / "j.sqlite"), Clock(venue))
    before = await balances(gateway)
    await watch.explained(before)
    venue.move(transfer(3, "USDT", "5000", now_ms(venue)))
    after = await balances(gateway)
    explained = await watch.explained(after)
    assert unexplained(before, after, explained) == {"USDT": D(5000)}


async def test_a_deposit_into_funding_alone_is_not_a_trading_flow() -> None:
    venue, gateway = await connect()
    venue.deposits.append(
        {
            "ccy": "USDT",
            "amt": "5000",
            "state": "2",
            "depId": "7002",
            "txId": "0xdef",
            "ts": str(now_ms(venue)),
            "chain": "USDT-TRC20",
            "to": "TXaddr",
        }
    )
    assert await gateway.fetch_flows(now_ms(venue) - 60_000) == []
    # and a deposit-kind read (a profile that reads deposits) would have seen it
    reading = replace(OKX, flows_source="deposits", transfers=None)
    venue2, gateway2 = await connect(reading, deposits=venue.deposits)
    await gateway2.fetch_flows(now_ms(venue2) - 60_000)
    assert ("GET", "/api/v5/asset/deposit-history") in venue2.requests


async def test_transfers_are_paged_by_bill_id_and_kept_once() -> None:
    venue, gateway = await connect(repeat=3)  # every older page repeats 3 newer bills
    start = now_ms(venue)
    for n in range(250):
        venue.move(transfer(10 + n, "USDT", "1", start + n))
    venue.move(transfer(500, "ETH", "2", start + 300, into=False))
    flows = await gateway.fetch_flows(start - 60_000)
    calls = [q for m, q in venue.sent if q.startswith("/api/v5/account/bills-archive")]
    assert len(calls) == 3
    assert "after=" not in calls[0]
    assert f"after={okx.BILL_IDS + 161}" in calls[1]  # the oldest bill of the first page
    assert f"after={okx.BILL_IDS + 64}" in calls[2]
    assert all("type=1" in q for q in calls)
    deposits = [f for f in flows if f.kind is FlowKind.DEPOSIT]
    assert len(deposits) == 250 and len({f.key for f in flows}) == len(flows) == 251
    assert sum(f.amount for f in deposits) == D(250)
    assert flows == sorted(flows, key=lambda f: (f.timestamp_ms or 0, f.key))


async def test_a_ledger_reads_transfers_and_never_trades_or_fees() -> None:
    """Transfers read from the trading account's ledger (GET /api/v5/account/bills)."""
    profile = replace(OKX, transfers="fetch_ledger")
    venue, gateway = await connect(profile)
    assert gateway.reads_flows
    t = now_ms(venue)
    venue.move(transfer(1, "USDT", "1200.5", t))
    # a buy of 0.01 BTC: USDT out, BTC in less the fee; and a funding fee
    venue.move(bill(2, "USDT", "-500", t + 1, "2", instId="BTC-USDT", subType="1"))
    venue.move(
        bill(3, "BTC", "0.00999", t + 2, "2", instId="BTC-USDT", subType="1", fee="-0.00001")
    )
    venue.move(bill(4, "USDT", "-0.3", t + 3, "8", subType="173"))
    venue.move(transfer(5, "ETH", "1.5", t + 4, into=False))
    flows = await gateway.fetch_flows(t - 60_000)
    assert [(f.kind, f.asset, f.amount, f.id) for f in flows] == [
        (FlowKind.DEPOSIT, "USDT", D("1200.5"), f"transfer:{okx.BILL_IDS + 1}"),
        (FlowKind.WITHDRAWAL, "ETH", D("1.5"), f"transfer:{okx.BILL_IDS + 5}"),
    ]
    assert any(q.startswith("/api/v5/account/bills?") for _, q in venue.sent)


T = 1_700_000_000_000


def ledger_entry(kind: str, amount: str, direction: str | None, **extra: Any) -> dict[str, Any]:
    """A ccxt ledger structure (what fetch_ledger returns)."""
    return {
        "id": "L1",
        "type": kind,
        "currency": "BTC",
        "amount": amount,
        "direction": direction,
        "status": "ok",
        "timestamp": 1_700_000_000_000,
        "fee": None,
        **extra,
    }


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            ledger_entry("deposit", "0.5", "in"),
            Flow(
                "ledger:L1",
                FlowKind.DEPOSIT,
                "BTC",
                D("0.5"),
                FlowStatus.OK,
                timestamp_ms=1_700_000_000_000,
            ),
        ),
        (
            ledger_entry("withdrawal", "0.5", "out", fee={"cost": "0.0005", "currency": "BTC"}),
            Flow(
                "ledger:L1",
                FlowKind.WITHDRAWAL,
                "BTC",
                D("0.5"),
                FlowStatus.OK,
                D("0.0005"),
                1_700_000_000_000,
            ),
        ),
        (
            ledger_entry("withdrawal", "-0.5", None, status="pending"),
            Flow(
                "ledger:L1",
                FlowKind.WITHDRAWAL,
                "BTC",
                D("0.5"),
                FlowStatus.PENDING,
                timestamp_ms=1_700_000_000_000,
            ),
        ),
        (
            ledger_entry("transfer", "0.5", None),
            Flow("transfer:L1", FlowKind.DEPOSIT, "BTC", D("0.5"), FlowStatus.OK, timestamp_ms=T),
        ),
        (ledger_entry("trade", "0.5", "in"), None),
        (ledger_entry("fee", "0.001", "out"), None),
        (ledger_entry("deposit", "0.5", "in", account="funding"), None),
        (
            ledger_entry("transfer", "0.5", "in"),
            Flow(
                "transfer:L1",
                FlowKind.DEPOSIT,
                "BTC",
                D("0.5"),
                FlowStatus.OK,
                timestamp_ms=1_700_000_000_000,
            ),
        ),
    ],
)
def test_ledger_entries_as_flows(entry: dict[str, Any], expected: Flow | None) -> None:
    """flows_source "ledger" (an exchange without fetch_deposits): deposit and withdrawal
    entries are flows of the trading account; trades, fees, other accounts' entries are not."""
    got = flow_from_ledger(entry, deposits=True, transfers=True, trading_accounts=("spot",))
    assert got == expected


@pytest.mark.parametrize(
    ("source", "target", "kind"),
    [
        ("funding", "trading", FlowKind.DEPOSIT),
        ("trading", "funding", FlowKind.WITHDRAWAL),
        ("funding", "earn", None),
        ("trading", "trading", None),
    ],
)
def test_only_transfers_into_or_out_of_the_trading_account_are_flows(
    source: str, target: str, kind: FlowKind | None
) -> None:
    raw = {
        "id": "9",
        "currency": "USDT",
        "amount": 12.5,
        "fromAccount": source,
        "toAccount": target,
        "status": None,
        "timestamp": 1_700_000_000_000,
    }
    flow = flow_from_transfer(raw, ("trading",))
    assert (flow and flow.kind) == kind
    if flow is not None:
        assert (flow.key, flow.amount, flow.status) == (
            f"{kind}:transfer:9",
            D("12.5"),
            FlowStatus.OK,
        )


def test_okx_reads_transfers_of_its_trading_account_only() -> None:
    profile = profile_for("okx")
    assert (profile.flows_source, profile.transfers) == ("none", "fetch_transfers")
    assert profile.trading_accounts == ("trading",)
    assert profile.flows_cursor == ("after", "billId") and profile.flows_page == 100


def test_a_profile_refuses_an_unknown_source() -> None:
    with pytest.raises(ValueError, match="flows_source"):
        ExchangeProfile(id="x", flows_source="ledgers")
    with pytest.raises(ValueError, match="transfers"):
        ExchangeProfile(id="x", transfers="fetch_ledgers")
