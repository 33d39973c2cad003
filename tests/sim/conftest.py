"""Fixtures for the simulator tests: a small, exactly predictable market unless told otherwise.

The default market BTC/USDT has a still mid at 100, a 2 bps spread (best bid 99.99, best ask
100.01), five levels one tick apart holding 1, 2, 3, 4, 5 BTC, no noise and no background trading,
so every fill can be computed by hand. Maker fee 0.1%, taker fee 0.2%.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

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
