"""Time as the bot sees it: `time()` and `await sleep()`.

Everything that waits (the executor between children, the daemon between polls, the gateway's
backoff) waits on a clock, so the same code runs in real time against an exchange and in virtual
time against the simulator (`bot.sim.clock.VirtualClock`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Now, in seconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time: `sleep` really waits."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))
