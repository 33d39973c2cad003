"""Injected faults: errors at the configured rates, lost replies, the request-weight budget."""

from __future__ import annotations

from collections import Counter

import ccxt
import pytest

from .conftest import SYMBOL, MakeSim


async def outcomes(make_sim: MakeSim, calls: int, **faults: float) -> list[str]:
    ex, _ = make_sim(faults={"weight_per_minute": 0, **faults})
    seen = []
    for _ in range(calls):
        try:
            await ex.fetch_ticker(SYMBOL)
            seen.append("ok")
        except ccxt.NetworkError as exc:
            seen.append(type(exc).__name__)
    return seen


async def test_faults_are_injected_at_the_configured_rates(make_sim: MakeSim) -> None:
    seen = Counter(
        await outcomes(
            make_sim,
            4000,
            network_error=0.10,
            request_timeout=0.05,
            exchange_not_available=0.02,
        )
    )
    assert seen["NetworkError"] == pytest.approx(400, rel=0.2)
    assert seen["RequestTimeout"] == pytest.approx(200, rel=0.25)
    assert seen["ExchangeNotAvailable"] == pytest.approx(80, rel=0.35)
    assert seen["ok"] == pytest.approx(3320, rel=0.03)


async def test_faults_are_deterministic_from_the_seed(make_sim: MakeSim) -> None:
    first = await outcomes(make_sim, 300, network_error=0.2)
    assert first == await outcomes(make_sim, 300, network_error=0.2)
    ex, _ = make_sim(seed=2, faults={"network_error": 0.2, "weight_per_minute": 0})
    other = []
    for _ in range(300):
        try:
            await ex.fetch_ticker(SYMBOL)
            other.append("ok")
        except ccxt.NetworkError as exc:
            other.append(type(exc).__name__)
    assert other != first


async def test_no_faults_by_default(make_sim: MakeSim) -> None:
    assert set(await outcomes(make_sim, 200)) == {"ok"}


async def test_lost_reply_leaves_an_order_that_its_client_id_finds(make_sim: MakeSim) -> None:
    ex, _ = make_sim(faults={"lost_create_reply": 1.0})
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99.5, {"clientOrderId": "rb-7-1"})
    found = await ex.fetch_order(None, SYMBOL, {"clientOrderId": "rb-7-1"})
    assert (found["status"], found["amount"], found["price"]) == ("open", 1.0, 99.5)
    assert [o["clientOrderId"] for o in await ex.fetch_open_orders(SYMBOL)] == ["rb-7-1"]
    assert (await ex.fetch_balance())["used"]["USDT"] == 99.5
    with pytest.raises(ccxt.DuplicateOrderId):  # a blind retry is refused, not duplicated
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99.5, {"clientOrderId": "rb-7-1"})
    assert ex.faults.injected["lost_create_reply"] == 1  # the refused retry had no order


async def test_weight_budget_raises_ddos_protection_until_the_next_minute(
    make_sim: MakeSim,
) -> None:
    ex, clock = make_sim(faults={"weight_per_minute": 100})
    for _ in range(5):
        await ex.fetch_balance()  # weight 20 each
    assert ex.faults.weight_used == 100
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        await ex.fetch_ticker(SYMBOL)
    to_next_minute = 60 - clock.time() % 60
    assert ex.last_response_headers == {"Retry-After": f"{to_next_minute:.0f}"}
    clock.advance(60)
    await ex.fetch_balance()
    assert ex.faults.weight_used == 20
    assert ex.last_response_headers == {"X-MBX-USED-WEIGHT-1M": "20"}


async def test_order_book_weight_depends_on_the_limit(make_sim: MakeSim) -> None:
    ex, _ = make_sim(faults={"weight_per_minute": 6000})
    await ex.fetch_order_book(SYMBOL, 100)
    await ex.fetch_order_book(SYMBOL, 500)
    await ex.fetch_order_book(SYMBOL, 5000)
    assert ex.faults.weight_used == 5 + 25 + 250


async def test_latency_is_waited_on_the_clock(make_sim: MakeSim) -> None:
    ex, clock = make_sim(faults={"latency": 0.25, "weight_per_minute": 0})
    start = clock.time()
    await ex.fetch_balance()
    await ex.fetch_order_book(SYMBOL)
    assert clock.time() == start + 0.5


def test_fault_config_refuses_bad_rates() -> None:
    from bot.sim.faults import FaultConfig

    with pytest.raises(ValueError, match="network_error must be a fraction"):
        FaultConfig(network_error=1.5)
    with pytest.raises(ValueError, match="must be <= 1"):
        FaultConfig(network_error=0.6, request_timeout=0.6)
