"""Cash flows: which way a rebalance may trade (`[rebalance] mode`).

Modes (`[rebalance] mode`), applied to the value each asset should gain or lose (its *delta*):
- `full`: every asset to its aim (its target, or its band edge), sells and buys;
- `buy-only`: cash is put into the underweight assets, never a non-quote asset sold. The cash is
  the quote's value above its own target. When it covers what the underweight assets lack, each
  gets all of it; when it does not, each gets the same share of what it lacks (pro rata toward
  its aim), and the assets still out of band after the plan are named in its notes;
- `sell-only`: the overweight assets are sold down to their aim, the proceeds kept in the quote;
  nothing is bought.

A deposit of the quote that covers every underweight asset leaves no non-quote asset overweight
(the weights add up to one), so no mode sells: the cash is used first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO
from bot.domain.portfolio import Valuation


class RebalanceMode(StrEnum):
    FULL = "full"
    BUY_ONLY = "buy-only"
    SELL_ONLY = "sell-only"


def apply_mode(
    deltas: Mapping[str, Decimal], valuation: Valuation, mode: RebalanceMode
) -> tuple[dict[str, Decimal], list[str]]:
    """The deltas (value to add, + , or remove, -, per non-quote asset) a mode allows, and why
    some were cut."""
    if mode is RebalanceMode.FULL:
        return dict(deltas), []
    if mode is RebalanceMode.SELL_ONLY:
        return {a: d for a, d in deltas.items() if d < 0}, []
    buys = {a: d for a, d in deltas.items() if d > 0}
    quote = valuation.position(valuation.quote)
    cash = max(ZERO, quote.value - quote.target * valuation.total)
    need = sum(buys.values(), ZERO)
    if need <= cash:
        return buys, []
    share = cash / need
    note = (
        f"buy-only: {cash:.2f} {valuation.quote} of cash above its target covers {share:.0%}"
        f" of the {need:.2f} the underweight assets lack; each gets that share"
    )
    return {a: d * share for a, d in buys.items() if d * share > 0}, [note]


def still_out(valuation: Valuation, weights: Mapping[str, Decimal]) -> list[str]:
    """The managed assets whose `weights` fall outside their bands: `ETH 31.20% (35.00-45.00%)`."""
    out = []
    for p in valuation.positions:
        lo, hi = p.bounds
        w = weights.get(p.asset, ZERO)
        if not lo <= w <= hi:
            out.append(f"{p.asset} {w:.2%} ({lo:.2%}-{hi:.2%})")
    return out
