"""Deposits and withdrawals over HTTP: sim-server answers Binance's wallet history endpoints
(GET /sapi/v1/capital/deposit/hisrec and /sapi/v1/capital/withdraw/history, signed), the real
`ccxt.async_support.binance` parses them, and the bot's gateway and flow watch journal them once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest
from aiohttp import web

from bot.domain.flows import FlowKind, FlowStatus
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.journal import Journal
from bot.runtime.flows import FlowWatch
from bot.sim.binance import BinanceFront, front_of, start_server
from bot.sim.clock import RealClock
from tests.e2e.test_binance_front import Serve, client, make_scenario

D = Decimal


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A server for scenario overrides (the still market of test_binance_front) and a ccxt
    binance client for it."""
    started: list[tuple[Any, web.AppRunner]] = []

    async def start(
        scenario: dict[str, Any], client_config: dict[str, Any] | None = None
    ) -> tuple[Any, BinanceFront, int]:
        runner, port = await start_server(make_scenario(**scenario))
        ex = client(port, **(client_config or {}))
        started.append((ex, runner))
        return ex, front_of(runner), port

    yield start
    for ex, runner in started:
        await ex.close()
        await runner.cleanup()


FLOWS: dict[str, Any] = {
    "flows": [
        {"kind": "deposit", "asset": "USDT", "amount": "5000", "at": 0},
        {"kind": "withdrawal", "asset": "BTC", "amount": "1", "fee": "0.0005", "at": 0},
        {"kind": "deposit", "asset": "ETH", "amount": "2", "at": 0, "confirm": 3600},
    ]
}


async def test_ccxt_binance_reads_deposits_and_withdrawals(serve: Serve) -> None:
    ex, front, _ = await serve(FLOWS)
    balance = await ex.fetch_balance()
    assert (balance["USDT"]["total"], balance["BTC"]["total"]) == (105_000, 8.9995)
    assert balance["ETH"]["total"] == 5  # the ETH deposit is pending: not credited
    deposits = {d["currency"]: d for d in await ex.fetch_deposits()}
    assert set(deposits) == {"USDT", "ETH"}
    usdt, eth = deposits["USDT"], deposits["ETH"]
    assert (usdt["type"], usdt["amount"], usdt["status"]) == ("deposit", 5000, "ok")
    assert (eth["amount"], eth["status"]) == (2, "pending")
    assert usdt["id"] and usdt["txid"] and abs(usdt["timestamp"] / 1000 - time.time()) < 60
    (btc,) = await ex.fetch_withdrawals()
    assert (btc["type"], btc["currency"], btc["amount"], btc["status"]) == (
        "withdrawal",
        "BTC",
        1,
        "ok",
    )
    assert btc["fee"] == {"currency": "BTC", "cost": 0.0005}
    assert btc["datetime"].endswith("Z")
    only_eth = await ex.fetch_deposits("ETH")
    assert [d["currency"] for d in only_eth] == ["ETH"]
    assert front.requests["depositHistory"] == 2 and front.requests["withdrawHistory"] == 1


async def test_the_bot_journals_flows_read_over_http_once(serve: Serve, tmp_path: Path) -> None:
    ex, front, _ = await serve(FLOWS, client_config={"number": str})
    gateway = Gateway(ex, profile=profile_for("binance"))
    assert gateway.reads_flows
    journal = Journal(tmp_path / "journal.sqlite")
    watch = FlowWatch(gateway, journal, RealClock())
    first = await watch.explained({"BTC": D("8.9995"), "USDT": D(105_000), "ETH": D(5)})
    assert first == {"USDT": D(5000), "BTC": D("-1.0005")}  # the pending ETH explains nothing
    recorded = {(f.kind, f.asset): f for f in journal.flows()}
    assert set(recorded) == {
        (FlowKind.DEPOSIT, "USDT"),
        (FlowKind.DEPOSIT, "ETH"),
        (FlowKind.WITHDRAWAL, "BTC"),
    }
    assert recorded[(FlowKind.WITHDRAWAL, "BTC")].fee == D("0.0005")
    assert recorded[(FlowKind.DEPOSIT, "ETH")].status is FlowStatus.PENDING
    # balances moved again: the flows are read again, and explain nothing twice
    assert await watch.explained({"BTC": D(9), "USDT": D(105_000), "ETH": D(5)}) == {}
    assert len(journal.flows()) == 3
    assert front.requests["depositHistory"] == 2 and front.requests["withdrawHistory"] == 2


async def test_many_flows_are_read_page_by_page(serve: Serve) -> None:
    many = [{"kind": "deposit", "asset": "USDT", "amount": str(n), "at": 0} for n in range(1, 8)]
    ex, front, _ = await serve({"flows": many})
    gateway = Gateway(ex, profile=replace(profile_for("binance"), flows_page=3))
    flows = await gateway.fetch_flows(round(time.time() * 1000) - 3_600_000)
    assert sorted(f.amount for f in flows) == [D(n) for n in range(1, 8)]
    assert front.requests["depositHistory"] == 3  # 3 + 3 + 1, by offset


async def test_history_parameters_are_checked_as_binance_checks_them(serve: Serve) -> None:
    ex, _, _ = await serve(FLOWS)
    since = round(time.time() * 1000) - 3_600_000
    with pytest.raises(ccxt.BadRequest, match="-1127"):  # more than 90 days apart
        await ex.fetch_deposits(None, since, None, {"endTime": since + 91 * 86_400_000})
    with pytest.raises(ccxt.BadRequest, match="-1104"):  # a parameter Binance does not read
        await ex.fetch_withdrawals(None, since, None, {"symbol": "BTCUSDT"})
    page = await ex.fetch_deposits(None, since, 1, {"offset": 1})  # newest first: the USDT one
    assert [d["currency"] for d in page] == ["USDT"]
    assert await ex.fetch_withdrawals(None, since, None, {"status": 4}) == []  # none processing
