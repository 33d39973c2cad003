"""Virtual time: moves when told or when tasks sleep on it; a long simulated run costs no waiting."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.sim.clock import RealClock, VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import load_scenario


def test_advance_moves_time_forward_only() -> None:
    clock = VirtualClock(1000.0)
    clock.advance(2.5)
    assert clock.time() == 1002.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_sleep_advances_virtual_time_exactly() -> None:
    clock = VirtualClock(0.0)
    await clock.sleep(60)
    assert clock.time() == 60.0
    await clock.sleep(0)
    assert clock.time() == 60.0


async def test_concurrent_sleepers_wake_in_order_at_their_times() -> None:
    clock = VirtualClock(0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.time()))

    await asyncio.gather(sleeper("c", 3), sleeper("a", 1), sleeper("b", 2))
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]


async def test_tasks_that_keep_sleeping_interleave_in_virtual_time() -> None:
    clock = VirtualClock(0.0)
    ticks: list[tuple[str, float]] = []

    async def every(name: str, period: float, until: float) -> None:
        while clock.time() + period <= until:
            await clock.sleep(period)
            ticks.append((name, clock.time()))

    await asyncio.gather(every("fast", 1.0, 4.0), every("slow", 2.0, 4.0))
    assert [t for _, t in ticks] == sorted(t for _, t in ticks)
    assert ticks.count(("slow", 4.0)) == 1 and ticks.count(("fast", 4.0)) == 1


async def test_cancelled_sleeper_does_not_block_the_clock() -> None:
    clock = VirtualClock(0.0)
    doomed = asyncio.create_task(clock.sleep(100))
    await asyncio.sleep(0)
    doomed.cancel()
    await clock.sleep(5)
    assert clock.time() == 5.0


async def test_ten_minute_rebalance_simulates_in_well_under_a_second() -> None:
    scenario = load_scenario("config/scenarios/demo.toml")
    clock = VirtualClock(scenario.start)
    ex = SimExchange.from_scenario(scenario, clock=clock)
    started = time.process_time()
    for symbol in ["BTC/USDT", "ETH/USDT", "SOL/USDT", "LINK/USDT", "ETH/BTC"]:
        book = await ex.fetch_order_book(symbol)
        bid = book["bids"][3][0]  # resting orders make every book step at 1 s resolution
        await ex.create_order(symbol, "limit", "buy", 0.01 if "BTC/" in symbol else 1, bid)
    for _ in range(120):  # a child order every 5 s for 10 minutes on one market
        book = await ex.fetch_order_book("BTC/USDT", 20)
        order = await ex.create_order("BTC/USDT", "limit", "sell", 0.01, book["bids"][0][0])
        await clock.sleep(5)
        if order["status"] == "open":
            await ex.cancel_order(order["id"], "BTC/USDT")
    assert clock.time() == scenario.start + 600
    assert time.process_time() - started < 1.0


async def test_real_clock_tells_wall_time_and_really_sleeps() -> None:
    clock = RealClock()
    assert abs(clock.time() - time.time()) < 1
    before = time.monotonic()
    await clock.sleep(0.02)
    assert time.monotonic() - before >= 0.015
