"""The perpetuals in `status` (and the API): positions with their distance to liquidation
against the guard's floor, leverage, the margin guard's latest events, funding received and
paid. Read from the journal: what the daemon last saw, not a new request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.domain.margin import funding_totals
from bot.journal import Journal
from bot.runtime.perps_view import STATE_KEY


def derivatives_dict(journal: Journal) -> dict[str, Any] | None:
    """None when the bot never traded perpetuals with this journal."""
    raw = journal.get_meta(STATE_KEY)
    if raw is None:
        return None
    state: dict[str, Any] = json.loads(raw)
    payments = journal.funding()
    totals = funding_totals(payments)
    events = journal.margin_events(10)
    state["seen_at"] = _when(state.pop("at", None))
    state["funding"] = {
        "payments": len(payments),
        "net": str(sum(totals.values(), Decimal(0))),
        "by_symbol": {s: str(a) for s, a in sorted(totals.items())},
    }
    state["margin_events"] = [
        {"at": _when(e.at), "kind": e.kind, "symbol": e.symbol, "detail": e.detail} for e in events
    ]
    return state


def render_derivatives(data: dict[str, Any] | None, console: Console) -> None:
    if data is None:
        return
    breaches = data["breaches"]
    console.print(
        "[bold red]MARGIN GUARD ACTING[/]: " + "; ".join(breaches)
        if breaches
        else "[green]Margin within limits[/]"
    )
    table = Table(
        title=(
            f"Perpetuals, seen {data['seen_at']}: futures equity"
            f" {Decimal(data['futures_equity']):,.2f}, leverage"
            f" {Decimal(data['futures_leverage']):.2f}x (portfolio"
            f" {Decimal(data['leverage']):.2f}x)"
        ),
        title_justify="left",
    )
    for col in ("symbol", "side", "contracts", "notional", "liquidation", "distance", "floor"):
        table.add_column(col, justify="left" if col in ("symbol", "side") else "right")
    for p in data["positions"]:
        distance = p["distance"]
        near = distance is not None and Decimal(distance) < Decimal(p["floor"])
        shown = "none" if distance is None else f"{Decimal(distance) * 100:.1f}%"
        liq = p["liquidation"]
        table.add_row(
            p["symbol"],
            p["side"],
            p["contracts"],
            f"{Decimal(p['notional']):,.2f}",
            "none"
            if liq is None
            else f"{Decimal(liq):,.2f}" + ("*" if p["liquidation_recomputed"] else ""),
            f"[bold red]{shown}[/]" if near else shown,
            f"{Decimal(p['floor']) * 100:.1f}%",
        )
    console.print(table)
    funding = data["funding"]
    console.print(
        f"Funding: {funding['payments']} payments, net {Decimal(funding['net']):+,.4f}"
        " (received +, paid -); * liquidation price recomputed from the mark"
    )
    for e in data["margin_events"][:3]:
        console.print(f"Margin guard {e['at']}: {e['kind']} {e['symbol']} {e['detail']}")


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
