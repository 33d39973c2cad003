"""Fixtures for the simulator tests: a small, exactly predictable market unless told otherwise.

The default market BTC/USDT has a still mid at 100, a 2 bps spread (best bid 99.99, best ask
100.01), five levels one tick apart holding 1, 2, 3, 4, 5 BTC, no noise and no background trading,
so every fill can be computed by hand. Maker fee 0.1%, taker fee 0.2%.

`make_sim` builds it in process (on a `VirtualClock`); `serve` serves it as Binance spot over HTTP
(`bot.sim.binance`) on the wall clock and points the real `ccxt.async_support.binance` at it,
configured as the bot configures it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from aiohttp import web

from bot.clock import RealClock
from bot.exchange.connect import api_url_config
from bot.exchange.profiles import profile_for
from bot.sim.binance import (
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    front_of,
    start_server,
)
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import Scenario, parse_scenario

SYMBOL = "BTC/USDT"

BASE: dict[str, Any] = {
    "seed": 1,
    "balances": {"BTC": "10", "USDT": "100000"},
    "regime": {
        "volatility": 0.0,
        "spread_bps": 2.0,
        "levels": 5,
        "depth_growth": 1.0,
        "depth_noise": 0.0,
        "resilience_half_life": 10.0,
        "trade_rate": 0.0,
    },
    "markets": {
        SYMBOL: {
            "price": "100",
            "tick": "0.01",
            "step": "0.001",
            "min_amount": "0.01",
            "min_cost": "1",
            "maker_fee": "0.001",
            "taker_fee": "0.002",
            "top_depth": "1",
        }
    },
    "faults": {"weight_per_minute": 0},
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def scenario(**overrides: Any) -> Scenario:
    return parse_scenario(merge(BASE, overrides))


MakeSim = Callable[..., tuple[SimExchange, VirtualClock]]


@pytest.fixture
def make_sim() -> MakeSim:
    def make(**overrides: Any) -> tuple[SimExchange, VirtualClock]:
        s = scenario(**overrides)
        clock = VirtualClock(s.start)
        return SimExchange.from_scenario(s, clock=clock), clock

    return make


@pytest.fixture
def sim(make_sim: MakeSim) -> tuple[SimExchange, VirtualClock]:
    return make_sim()


# ---- over HTTP ------------------------------------------------------------------------------


class AlignedClock(RealClock):
    """Wall time shifted to just after the start of a minute, so that a test has a whole minute
    (the weight budget's) and ten seconds (the order rate's) before the next window starts."""

    def __init__(self) -> None:
        self.shift = 0.001 - time.time() % 60

    def time(self) -> float:
        return super().time() + self.shift


def binance_client(port: int, **config: Any) -> Any:
    """The real ccxt binance client, with the bot's options, pointed at the server on `port`."""
    options = {**profile_for("binance").options(), **config.pop("options", {})}
    return ccxt_async.binance(
        {
            **api_url_config("binance", f"http://127.0.0.1:{port}"),
            "apiKey": LOCAL_TEST_API_KEY,
            "secret": LOCAL_TEST_SECRET,
            "enableRateLimit": False,
            "timeout": 5000,
            "options": options,
            **config,
        }
    )


Served = tuple[Any, BinanceFront, int]
Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a server for `scenario(**overrides)` (on an `AlignedClock`) and a client for it."""
    runners: list[web.AppRunner] = []
    clients: list[Any] = []

    async def start(client_config: dict[str, Any] | None = None, **overrides: Any) -> Served:
        runner, port = await start_server(scenario(**overrides), clock=AlignedClock())
        runners.append(runner)
        ex = binance_client(port, **(client_config or {}))
        clients.append(ex)
        return ex, front_of(runner), port

    yield start
    for ex in clients:
        await ex.close()
    for runner in runners:
        await runner.cleanup()


# ---- the same refusal both ways -------------------------------------------------------------

Act = Callable[[Any], Awaitable[Any]]


async def refusal_in_process(
    act: Act, faults_after: dict[str, Any] | None = None, **overrides: Any
) -> BaseException:
    """What `act(exchange)` raises in process (markets loaded, then `faults_after` set)."""
    s = scenario(**overrides)
    ex = SimExchange.from_scenario(s, VirtualClock(s.start))
    await ex.load_markets()
    if faults_after:
        ex.faults.config = replace(ex.faults.config, **faults_after)
    try:
        await act(ex)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError("in process: nothing was refused")


async def refusal_over_http(
    serve: Serve, act: Act, faults_after: dict[str, Any] | None = None, **overrides: Any
) -> BaseException:
    """What `act(client)` raises through the real ccxt binance client and the HTTP front."""
    ex, front, _ = await serve(**overrides)
    await ex.load_markets()
    if faults_after:
        front.exchange.faults.config = replace(front.exchange.faults.config, **faults_after)
    try:
        await act(ex)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError("over HTTP: nothing was refused")
