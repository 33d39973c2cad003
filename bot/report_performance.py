"""Deposits, withdrawals and performance for people and scripts: `flows`, the flows section of
`history`, and `performance` (the time-weighted return net of flows against buy-and-hold).

Decimals go to JSON as strings; times are UTC ISO 8601.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.domain.flows import Flow
from bot.domain.performance import ValuationPoint
from bot.domain.schedule import UNITS
from bot.errors import DomainError
from bot.journal import Journal
from bot.report import history_rows, print_fitted, render_history
from bot.runtime.performance import PerformanceReport, performance_report

_AGO = re.compile(r"^(\d+)\s*([mhd])$")


def _when(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _money(x: Decimal) -> str:
    return f"{x:,.2f}"


def _pct(x: Decimal) -> str:
    return f"{x * 100:+.2f}%"


def parse_since(text: str, end: float) -> float:
    """`--since`: an ISO date or time (UTC unless it says otherwise), or `30d`, `12h`, `90m`
    before `end` (the journal's latest record)."""
    given = text.strip()
    if m := _AGO.match(given.lower()):
        return end - int(m[1]) * UNITS[m[2]]
    try:
        when = datetime.fromisoformat(given)
    except ValueError:
        raise DomainError(
            f"--since {text!r}: expected a date or time (2026-01-31, 2026-01-31T08:00) or a"
            " span back from the last record (30d, 12h, 90m)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


# -- flows ---------------------------------------------------------------------------------------


def _price_at(points: Sequence[ValuationPoint], asset: str, ts: float | None) -> Decimal | None:
    """The asset's price at the first valuation point from `ts` that has one (else the last
    before it); None when the journal has none."""
    if ts is None:
        return None
    before = None
    for p in points:
        if asset not in p.prices:
            continue
        if p.at >= ts:
            return p.prices[asset]
        before = p.prices[asset]
    return before


def flow_dict(flow: Flow, points: Sequence[ValuationPoint], quote: str) -> dict[str, Any]:
    ts = None if flow.timestamp_ms is None else flow.timestamp_ms / 1000
    price = _price_at(points, flow.asset, ts)
    return {
        "type": "flow",
        "time": _when(ts),
        "kind": flow.kind.value,
        "id": flow.id,
        "asset": flow.asset,
        "amount": str(flow.amount),
        "fee": str(flow.fee),
        "status": flow.status.value,
        "value": None if price is None else str(flow.amount * price),
        "quote": quote,
    }


def flows_rows(journal: Journal, quote: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The journaled deposits and withdrawals, newest first, each valued in `quote` at the
    prices the bot recorded when it was made (None when it recorded none)."""
    points = journal.valuations(quote)
    return [flow_dict(f, points, quote) for f in journal.flows(limit=limit)]


def flows_table(rows: list[dict[str, Any]], title: str) -> Table:
    quote = rows[0]["quote"] if rows else ""
    table = Table(title=title, title_justify="left")
    for col in ("time", "kind", "asset", "amount", "fee", "status", f"value {quote}"):
        table.add_column(col, justify="left" if col in ("time", "kind", "asset") else "right")
    for r in rows:
        table.add_row(
            r["time"] or "-",
            r["kind"],
            r["asset"],
            f"{Decimal(r['amount']).normalize():f}",
            f"{Decimal(r['fee']).normalize():f}",
            r["status"],
            "-" if r["value"] is None else _money(Decimal(r["value"])),
        )
    return table


def render_flows(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("No deposit or withdrawal recorded.")
        return
    table = flows_table(rows, "Deposits and withdrawals, newest first")
    print_fitted(console, table, ("fee", f"value {rows[0]['quote']}", "status"))


# -- history: rebalances and, apart, flows --------------------------------------------------------


def history_with_flows(journal: Journal, quote: str, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` rebalances (`type` "rebalance") and flows (`type` "flow"), newest
    first, in one list."""
    rebalances = [{"type": "rebalance", **r} for r in history_rows(journal, limit)]
    flows = flows_rows(journal, quote, limit)
    rows = [(r["started"] or "", r) for r in rebalances] + [(f["time"] or "", f) for f in flows]
    return [r for _, r in sorted(rows, key=lambda t: t[0], reverse=True)]


def render_history_with_flows(rows: list[dict[str, Any]], console: Console) -> None:
    render_history([r for r in rows if r["type"] == "rebalance"], console)
    flows = [r for r in rows if r["type"] == "flow"]
    if flows:
        table = flows_table(flows, "Deposits and withdrawals (not trading), newest first")
        print_fitted(console, table, ("fee", f"value {flows[0]['quote']}", "status"))


# -- performance ----------------------------------------------------------------------------------


def performance_dict(journal: Journal, quote: str, since: str | None) -> dict[str, Any]:
    end = journal.last_valuation_at()
    start = None if since is None else parse_since(since, end if end is not None else 0.0)
    return _performance_dict(performance_report(journal, quote, start), start)


def _performance_dict(report: PerformanceReport, since: float | None) -> dict[str, Any]:
    p = report.performance
    data: dict[str, Any] = {
        "quote": report.quote,
        "since": _when(since),
        "fees": str(report.fees),
        "rebalances": report.rebalances,
    }
    if p is None:
        return {**data, "start": None, "end": None}
    return {
        **data,
        "start": _when(p.start),
        "end": _when(p.end),
        "start_value": str(p.start_value),
        "end_value": str(p.end_value),
        "net_flows": str(p.net_flows),
        "twr": str(p.twr),
        "hold_return": str(p.hold_return),
        "difference": str(p.difference),
        "hold_value": str(p.hold_value),
        "periods": p.periods,
    }


def render_performance(data: dict[str, Any], console: Console) -> None:
    quote = data["quote"]
    if data["start"] is None:
        console.print("No valuation recorded yet: the bot records one as it polls.")
        return
    d = {k: Decimal(data[k]) for k in ("start_value", "end_value", "net_flows", "fees")}
    twr, hold = Decimal(data["twr"]), Decimal(data["hold_return"])
    table = Table(title="Performance, net of deposits and withdrawals", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("from", data["start"])
    table.add_row("to", data["end"])
    table.add_row(f"value at start, {quote}", _money(d["start_value"]))
    table.add_row(f"value at end, {quote}", _money(d["end_value"]))
    table.add_row(f"deposits less withdrawals, {quote}", _money(d["net_flows"]))
    table.add_row("time-weighted return", _pct(twr))
    table.add_row("buy-and-hold return", _pct(hold))
    table.add_row("difference", f"{(twr - hold) * 100:+.2f} pp")
    table.add_row(f"fees paid, {quote}", _money(d["fees"]))
    table.add_row("rebalances", str(data["rebalances"]))
    table.add_row("sub-periods (split at flows)", str(data["periods"]))
    print_fitted(console, table)
