"""What an API key may do, read through each venue's real ccxt class from the venue's own reply
(the call its profile names, `key_permissions`): a key that trades and cannot withdraw passes, one
that may withdraw is a warning, one that cannot trade a problem (`check-config --online`, exit 5).
Binance's reply is served by sim-server (tests/e2e/test_key_permissions_cli.py)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from bot.errors import AuthFailed
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.runtime.online import key_permissions
from tests.venues.venue import Request


def okx(trade: bool, withdraw: bool) -> tuple[str, str, Any]:
    perm = ",".join(["read_only"] + ["trade"] * trade + ["withdraw"] * withdraw)
    # GET /api/v5/account/config, abridged from OKX's docs
    body = {
        "code": "0",
        "msg": "",
        "data": [
            {
                "acctLv": "1",
                "uid": "44705892343619584",
                "label": "rebalance",
                "ip": "",
                "perm": perm,
                "posMode": "net_mode",
            }
        ],
    }
    return "GET", "/api/v5/account/config", body


def bybit(trade: bool, withdraw: bool) -> tuple[str, str, Any]:
    wallet = ["AccountTransfer", *(["Withdraw"] if withdraw else [])]
    # GET /v5/user/query-api, abridged from Bybit's docs
    body = {
        "retCode": 0,
        "retMsg": "",
        "result": {
            "id": "13770661",
            "note": "rebalance",
            "apiKey": "bybit-test-key",
            "readOnly": 0 if trade else 1,
            "secret": "",
            "permissions": {
                "ContractTrade": [],
                "Spot": ["SpotTrade"] if trade else [],
                "Wallet": wallet,
                "Options": [],
                "Derivatives": [],
                "Exchange": ["ExchangeHistory"],
            },
            "ips": ["*"],
            "type": 1,
            "uta": 1,
            "isMaster": True,
        },
        "retExtInfo": {},
        "time": 1697525990798,
    }
    return "GET", "/v5/user/query-api", body


def coinbase(trade: bool, withdraw: bool) -> tuple[str, str, Any]:
    # GET /api/v3/brokerage/key_permissions
    body = {
        "can_view": True,
        "can_trade": trade,
        "can_transfer": withdraw,
        "portfolio_uuid": "8bd8cfd0-2b36-4b1b-bd8e-b2f9c2a1b9e4",
        "portfolio_type": "DEFAULT",
    }
    return "GET", "/api/v3/brokerage/key_permissions", body


REPLIES: dict[str, Callable[[bool, bool], tuple[str, str, Any]]] = {
    "okx": okx,
    "bybit": bybit,
    "coinbase": coinbase,
}


async def _no_sleep(seconds: float) -> None:
    return None


def gateway(name: str, reply: tuple[str, str, Any] | None = None) -> tuple[Any, Gateway]:
    """The venue's fake behind its real ccxt class, answering `reply` (method, path, body) as a
    private call."""
    module = importlib.import_module(f"tests.venues.{name}")
    venue = module.Fake()
    profile = profile_for(name)
    client = ccxt_client(
        name, profile, timeout=5.0, options={}, credentials=lambda: dict(module.CREDENTIALS)
    )
    venue.install(client)
    if reply is not None:
        method, path, body = reply

        async def answer(request: Request) -> Any:
            return body

        private = getattr(venue, "_private", None)  # Coinbase checks its JWT in handle()
        venue._routes[(method, path)] = private(answer) if private else answer
    return venue, Gateway(client, profile=profile, requests_per_second=1000, sleep=_no_sleep)


@pytest.mark.parametrize("name", sorted(REPLIES))
async def test_a_key_that_trades_and_cannot_withdraw_passes(name: str) -> None:
    venue, gw = gateway(name, REPLIES[name](True, False))
    try:
        problems, facts = await key_permissions(gw, name)
    finally:
        await gw.close()
    assert problems == [], facts
    assert facts == ["permissions: trading allowed, withdrawals not allowed"]
    method, path, _ = REPLIES[name](True, False)
    assert (method, path) in venue.requests  # asked where the venue tells, signed


@pytest.mark.parametrize("name", sorted(REPLIES))
async def test_a_key_that_may_withdraw_is_a_warning(name: str) -> None:
    _, gw = gateway(name, REPLIES[name](True, True))
    try:
        problems, facts = await key_permissions(gw, name)
    finally:
        await gw.close()
    assert problems == []
    warnings = [f for f in facts if f.startswith("warning:")]
    assert len(warnings) == 1 and "WITHDRAW" in warnings[0], facts


@pytest.mark.parametrize("name", sorted(REPLIES))
async def test_a_key_that_cannot_trade_is_a_key_problem(name: str) -> None:
    _, gw = gateway(name, REPLIES[name](False, False))
    try:
        problems, _ = await key_permissions(gw, name)
    finally:
        await gw.close()
    assert len(problems) == 1 and problems[0].startswith("key: "), problems  # exit 5
    assert "may not trade" in problems[0]


async def test_an_exchange_that_does_not_tell_says_so() -> None:
    venue, gw = gateway("kraken")
    try:
        problems, facts = await key_permissions(gw, "kraken")
    finally:
        await gw.close()
    assert problems == [] and facts == ["permissions: not told by kraken"]
    assert venue.requests == []


async def test_a_refused_key_on_the_permissions_call_is_a_key_error() -> None:
    """A key the venue refuses there is refused (AuthFailed, exit 5), not "not told"."""
    _, gw = gateway("okx")  # the fake has no such route: answer OKX's key error instead
    method, path, _ = okx(True, False)
    from tests.venues.okx import top_error

    async def refuse(request: Request) -> Any:
        raise top_error(401, "50113", "Invalid Sign")

    venue = gw.exchange.session.venue
    venue._routes[(method, path)] = refuse
    try:
        with pytest.raises(AuthFailed):
            await key_permissions(gw, "okx")
    finally:
        await gw.close()
