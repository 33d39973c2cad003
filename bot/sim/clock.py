"""Virtual time for the simulator, tests and benchmarks (`bot.clock`: the protocol, wall time).

A clock tells the time in epoch seconds (`time()`) and waits (`await sleep(seconds)`). Code that
must wait in simulated time (the executor waiting for a child order) sleeps on the clock, never on
`asyncio.sleep` directly, so the same code runs against a `VirtualClock` in tests and benchmarks
and a `RealClock` in the demo and in production.

`VirtualClock` time moves only when told (`advance`) or when tasks sleep on it: sleepers are woken
in order of their wake time, and the clock jumps to each wake time once the event loop has had a
few turns to let other tasks run and register their own sleeps. A ten-minute rebalance therefore
takes milliseconds. Time does not wait for work that is blocked on something else than the clock
(a real socket, a rate limiter sleeping with `asyncio.sleep`): such work sees simulated time run
ahead.
"""

from __future__ import annotations

import asyncio
import heapq

from bot.clock import Clock, RealClock

__all__ = ["DEFAULT_START", "Clock", "RealClock", "VirtualClock"]

# 2023-11-14T22:13:20Z: a fixed, recognisable start for reproducible timestamps.
DEFAULT_START = 1_700_000_000.0
# Loop turns the virtual clock lets pass before it jumps to the next wake time, so tasks that were
# just woken (or just created) can run until they sleep again.
SETTLE_TURNS = 8


class VirtualClock:
    """Simulated time: moves only with `advance` or when every busy task sleeps on the clock."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._driver: asyncio.Task[None] | None = None

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` now, waking every sleeper that falls due."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, self._seq, fut))
        self._seq += 1
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="virtual-clock")
        await fut

    async def _drive(self) -> None:
        while self._sleepers:
            for _ in range(SETTLE_TURNS):
                await asyncio.sleep(0)
            while self._sleepers and self._sleepers[0][2].done():  # cancelled sleepers
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                return
            wake = self._sleepers[0][0]
            self._now = max(self._now, wake)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
