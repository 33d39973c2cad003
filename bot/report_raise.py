"""`raise`: the sells that free cash for a withdrawal, as tables for people and a dict for
`--json` (the plan in `plan`'s own format, with what is left once the amount is gone)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console

from bot.domain.raising import RaisePlan
from bot.report import plan_to_dict, render_plan


def _money(x: Decimal) -> str:
    return f"{x:,.2f}"


def _pct(x: Decimal) -> str:
    return f"{x * 100:.2f}%"


def raise_dict(raised: RaisePlan, taken_at: str | None = None) -> dict[str, Any]:
    """`plan_to_dict` of the sells, and under "raise" what the withdrawal leaves."""
    return {
        **plan_to_dict(raised.plan, taken_at),
        "raise": {
            "asset": raised.asset,
            "amount": str(raised.amount),
            "free_after_sells": str(raised.free_after),
            "weights_after_withdrawal": {a: str(w) for a, w in raised.weights_after.items()},
            "in_band_after_withdrawal": not raised.out_of_band,
            "out_of_band_after_withdrawal": list(raised.out_of_band),
        },
    }


def render_raise(raised: RaisePlan, console: Console, taken_at: str | None = None) -> None:
    """The plan as `plan` shows it, then the amount, the quote free once the sells are done and
    the weights once the amount is withdrawn."""
    render_plan(raised.plan, console, taken_at)
    quote = raised.asset
    when = "once the sells are done (estimated)" if raised.plan.legs else "now: no sell needed"
    console.print(
        f"Raise {_money(raised.amount)} {quote}: {_money(raised.free_after)} {quote} free {when}."
    )
    after = ", ".join(f"{a} {_pct(w)}" for a, w in raised.weights_after.items())
    console.print(f"After the withdrawal: {after}")
    if raised.out_of_band:
        console.print(f"[yellow]Outside their bands after it:[/] {', '.join(raised.out_of_band)}")
    else:
        console.print("[green]Every asset inside its band after the withdrawal.[/]")
