"""Where each of our fills came from, for a benchmark that must tell luck from adverse selection.

Every trade the matcher records is a `SimFill`: an `account.SimTrade` with a `source`:
- `FillSource.TAKER` ("taker"): our own order took resting liquidity;
- `FillSource.TRADE` ("trade"): a background market order reached our resting order (through
  the queue ahead of it, on a queue book);
- `FillSource.BOOK` ("book"): the other side of the book moved onto our resting order's price
  (the market went through it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.sim.account import SimTrade


class FillSource(StrEnum):
    TAKER = "taker"
    TRADE = "trade"
    BOOK = "book"


@dataclass(frozen=True, slots=True)
class SimFill(SimTrade):
    """A trade of ours with how it happened (see the module docstring)."""

    source: FillSource = FillSource.TAKER
