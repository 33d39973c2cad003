"""Injected faults: errors at the configured rates, lost replies, the request-weight budget, and
Binance's server errors (-1001, -1007, executed or not), -1021, the server's clock and maintenance
windows, in process and over HTTP through the real ccxt client, with the same ccxt class both ways.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import aiohttp
import ccxt
import pytest

from bot.sim.account import OrderStatus
from bot.sim.faults import FaultConfig, Maintenance
from bot.sim.scenario import ScenarioError

from .conftest import (
    SYMBOL,
    Act,
    MakeSim,
    Serve,
    binance_client,
    refusal_in_process,
    refusal_over_http,
    scenario,
)


async def get(port: int, path: str) -> tuple[int, Any]:
    """A raw GET to the server: (HTTP status, JSON body)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, await resp.json()


async def outcomes(make_sim: MakeSim, calls: int, **faults: float) -> list[str]:
    ex, _ = make_sim(faults={"weight_per_minute": 0, **faults})
    seen = []
    for _ in range(calls):
        try:
            await ex.fetch_ticker(SYMBOL)
            seen.append("ok")
        except ccxt.OperationFailed as exc:  # NetworkError and the "status unknown" replies
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
    with pytest.raises(ValueError, match="network_error must be a fraction"):
        FaultConfig(network_error=1.5)
    with pytest.raises(ValueError, match="must be <= 1"):
        FaultConfig(network_error=0.6, request_timeout=0.6)
    with pytest.raises(ValueError, match="must be <= 1"):
        FaultConfig(internal_error=0.5, backend_timeout=0.3, invalid_timestamp=0.3)
    with pytest.raises(ValueError, match="internal_error_executed must be a fraction"):
        FaultConfig(internal_error_executed=2)
    with pytest.raises(ValueError, match="orders_per_10s must be >= 0"):
        FaultConfig(orders_per_10s=-1)
    with pytest.raises(ScenarioError, match="maintenance: need 0 <= start < end"):
        scenario(faults={"maintenance": [{"start": 5, "end": 5}]})


# ---- Binance's server errors: -1001 (500) and -1007 (503), executed or not -----------------


async def test_server_errors_are_injected_at_their_rates(make_sim: MakeSim) -> None:
    seen = Counter(await outcomes(make_sim, 4000, internal_error=0.10, backend_timeout=0.05))
    assert seen["OperationFailed"] == pytest.approx(400, rel=0.2)
    assert seen["RequestTimeout"] == pytest.approx(200, rel=0.25)
    assert seen["ok"] == pytest.approx(3400, rel=0.03)


async def test_a_server_error_on_create_or_cancel_may_have_executed(make_sim: MakeSim) -> None:
    ex, _ = make_sim(faults={"weight_per_minute": 0, "internal_error": 1.0})
    with pytest.raises(ccxt.OperationFailed, match="-1001 Internal error") as failed:
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99, {"clientOrderId": "a"})
    assert type(failed.value) is ccxt.OperationFailed
    assert ex.engine.orders == {}  # not executed
    with pytest.raises(ccxt.OperationFailed, match="-1001"):
        await ex.fetch_balance()

    done, _ = make_sim(
        faults={"weight_per_minute": 0, "internal_error": 1.0, "internal_error_executed": 1.0}
    )
    with pytest.raises(ccxt.OperationFailed):
        await done.create_order(SYMBOL, "limit", "buy", 1, 99, {"clientOrderId": "b"})
    order = done.engine.find(client_order_id="b")
    assert order.is_open and done.engine.account.used["USDT"] == 99  # placed nonetheless
    with pytest.raises(ccxt.OperationFailed):
        await done.cancel_order(order.id, SYMBOL)
    assert order.status is OrderStatus.CANCELED  # cancelled nonetheless
    with pytest.raises(ccxt.OperationFailed):  # a query has nothing to execute
        await done.fetch_order(order.id, SYMBOL)
    assert done.faults.injected == {"internal_error_executed": 2, "internal_error": 1}

    late, _ = make_sim(
        faults={"weight_per_minute": 0, "backend_timeout": 1.0, "backend_timeout_executed": 1.0}
    )
    with pytest.raises(ccxt.RequestTimeout, match="-1007 Timeout waiting for response"):
        await late.create_order(SYMBOL, "limit", "sell", 1, 101, {"clientOrderId": "c"})
    assert late.engine.find(client_order_id="c").is_open


async def test_the_executed_share_of_server_errors(make_sim: MakeSim) -> None:
    ex, _ = make_sim(
        faults={
            "weight_per_minute": 0,
            "orders_per_10s": 0,
            "backend_timeout": 1.0,
            "backend_timeout_executed": 0.25,
        }
    )
    for _ in range(800):  # far from the book, an IOC expires at once
        with pytest.raises(ccxt.RequestTimeout):
            await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90, {"timeInForce": "IOC"})
    assert len(ex.engine.orders) == pytest.approx(200, rel=0.2)
    assert ex.faults.injected["backend_timeout_executed"] == len(ex.engine.orders)


async def test_server_errors_over_http(serve: Serve) -> None:
    ex, front, port = await serve()
    await ex.load_markets()
    faults = front.exchange.faults
    faults.config = replace(faults.config, internal_error=1.0, internal_error_executed=1.0)
    with pytest.raises(ccxt.OperationFailed) as failed:
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90, {"clientOrderId": "x-1"})
    assert type(failed.value) is ccxt.OperationFailed
    assert (
        '{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}'
        in str(failed.value)
    )
    order = front.engine.find(client_order_id="x-1")  # placed nonetheless
    with pytest.raises(ccxt.OperationFailed):
        await ex.cancel_order(order.id, SYMBOL)
    assert order.status is OrderStatus.CANCELED
    status, body = await get(port, "/api/v3/ping")
    assert (status, body["code"]) == (500, -1001)

    faults.config = replace(faults.config, internal_error=0.0, backend_timeout=1.0)
    faults.config = replace(faults.config, backend_timeout_executed=0.0)
    with pytest.raises(ccxt.RequestTimeout, match='"code":-1007'):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90, {"clientOrderId": "x-2"})
    with pytest.raises(ccxt.OrderNotFound):
        front.engine.find(client_order_id="x-2")  # not executed
    status, body = await get(port, "/api/v3/time")
    assert (status, body["code"]) == (503, -1007)


# ---- -1021 at a share of signed requests ----------------------------------------------------


async def test_invalid_timestamp_refuses_signed_calls_unexecuted(make_sim: MakeSim) -> None:
    ex, _ = make_sim(faults={"weight_per_minute": 0, "invalid_timestamp": 1.0})
    await ex.fetch_ticker(SYMBOL)  # public: never
    await ex.fetch_order_book(SYMBOL)
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        await ex.fetch_balance()
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99)
    assert ex.engine.orders == {}

    some, _ = make_sim(faults={"weight_per_minute": 0, "invalid_timestamp": 0.2})
    refused = 0
    for _ in range(2000):
        try:
            await some.fetch_balance()
        except ccxt.InvalidNonce:
            refused += 1
    assert refused == pytest.approx(400, rel=0.2)


async def test_invalid_timestamp_over_http(serve: Serve) -> None:
    ex, front, _ = await serve(faults={"weight_per_minute": 0, "invalid_timestamp": 1.0})
    await ex.load_markets()  # public
    await ex.fetch_order_book(SYMBOL)
    with pytest.raises(ccxt.InvalidNonce, match='"code":-1021'):
        await ex.fetch_balance()
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
    assert front.engine.orders == {}


# ---- the server's clock ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "refusal"),
    [(-3600.0, "ahead of the server's time"), (3600.0, "outside of the recvWindow")],
)
async def test_the_servers_clock_offset_is_its_time_and_signing_time(
    serve: Serve, offset: float, refusal: str
) -> None:
    ex, front, port = await serve(clock_offset=offset)
    server_ms = await ex.fetch_time()
    assert server_ms == pytest.approx((front.clock.time() + offset) * 1000, abs=2000)
    assert front.exchange.milliseconds() == pytest.approx(server_ms, abs=2000)
    await ex.load_markets()  # adjustForTimeDifference, as the bot's binance options set
    assert ex.options["timeDifference"] == pytest.approx(-offset * 1000, abs=61_000)
    assert (await ex.fetch_balance())["BTC"]["free"] == 10.0
    naive = binance_client(port, options={"adjustForTimeDifference": False})
    try:
        with pytest.raises(ccxt.InvalidNonce, match=refusal):
            await naive.fetch_balance()
    finally:
        await naive.close()


# ---- maintenance ----------------------------------------------------------------------------


async def test_maintenance_window_in_process(make_sim: MakeSim) -> None:
    ex, clock = make_sim(
        faults={"weight_per_minute": 100, "maintenance": [{"start": 60, "end": 120}]}
    )
    assert ex.has["fetchStatus"] is True
    assert await ex.fetch_status() == {
        "status": "ok",
        "updated": ex.milliseconds(),
        "eta": None,
        "url": None,
        "info": {"status": 0, "msg": "normal"},
    }
    clock.advance(60)
    status = await ex.fetch_status()
    assert (status["status"], status["info"]) == (
        "maintenance",
        {"status": 1, "msg": "system_maintenance"},
    )
    calls: list[Act] = [
        lambda e: e.fetch_balance(),
        lambda e: e.fetch_order_book(SYMBOL),
        lambda e: e.create_order(SYMBOL, "limit", "buy", 1, 99),
        lambda e: e.create_order(SYMBOL, "stop", "buy", 1, 99),  # a bad one too
    ]
    for call in calls:
        with pytest.raises(ccxt.OnMaintenance, match="System is under maintenance"):
            await call(ex)
    assert ex.faults.weight_used == 1  # the status only: nothing else charged
    assert ex.engine.orders == {}
    clock.advance(60)
    assert (await ex.fetch_status())["status"] == "ok"
    assert (await ex.fetch_balance())["BTC"]["free"] == 10.0


async def test_maintenance_window_over_http(serve: Serve) -> None:
    ex, front, port = await serve(faults={"maintenance": [{"start": 0, "end": 3600}]})
    status = await ex.fetch_status()  # GET /sapi/v1/system/status
    assert (status["status"], status["info"]) == (
        "maintenance",
        {"status": 1, "msg": "system_maintenance"},
    )
    with pytest.raises(ccxt.OnMaintenance):
        await ex.load_markets()
    assert await get(port, "/api/v3/ping") == (
        503,
        {"code": 1, "msg": "System is under maintenance."},
    )
    assert await get(port, "/sapi/v1/system/status") == (
        200,
        {"status": 1, "msg": "system_maintenance"},
    )
    front.exchange.faults.started -= 3600  # the window is over
    await ex.load_markets()
    assert (await ex.fetch_status())["status"] == "ok"
    assert (await ex.fetch_balance())["USDT"]["free"] == 100000.0


# ---- the same ccxt class both ways ----------------------------------------------------------

DOWN = {"maintenance": (Maintenance(0, 1e9),)}


async def _create(ex: Any) -> None:
    await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)


async def _balance(ex: Any) -> None:
    await ex.fetch_balance()


async def _book(ex: Any) -> None:
    await ex.fetch_order_book(SYMBOL)


FAULTS: list[tuple[str, Act, dict[str, Any], type[Exception]]] = [
    ("internal_error", _create, {"internal_error": 1.0}, ccxt.OperationFailed),
    ("internal_error", _balance, {"internal_error": 1.0}, ccxt.OperationFailed),
    ("internal_error_executed", _create,
     {"internal_error": 1.0, "internal_error_executed": 1.0}, ccxt.OperationFailed),
    ("backend_timeout", _book, {"backend_timeout": 1.0}, ccxt.RequestTimeout),
    ("backend_timeout_executed", _create,
     {"backend_timeout": 1.0, "backend_timeout_executed": 1.0}, ccxt.RequestTimeout),
    ("invalid_timestamp", _balance, {"invalid_timestamp": 1.0}, ccxt.InvalidNonce),
    ("invalid_timestamp", _create, {"invalid_timestamp": 1.0}, ccxt.InvalidNonce),
    ("maintenance", _book, DOWN, ccxt.OnMaintenance),
    ("maintenance", _create, DOWN, ccxt.OnMaintenance),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "act", "faults", "error"), FAULTS, ids=[f"{f[0]}-{f[1].__name__}" for f in FAULTS]
)
async def test_each_fault_is_the_same_ccxt_class_in_process_and_over_http(
    serve: Serve, name: str, act: Act, faults: dict[str, Any], error: type[Exception]
) -> None:
    inside = await refusal_in_process(act, faults_after=faults)
    outside = await refusal_over_http(serve, act, faults_after=faults)
    assert type(inside) is type(outside) is error
