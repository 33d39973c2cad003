"""How the bot shows what it thinks: plan tables for people, plain dicts for `--json`.

Decimals go to JSON as strings, so a script reads exactly what the bot computed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bot.domain.planner import Plan
from bot.domain.portfolio import PortfolioSpec, Position, Valuation
from bot.execution.reports import LegReport, RebalanceReport
from bot.journal import Journal
from bot.journal_rows import RebalanceRow
from bot.report_glide import render_glide
from bot.report_perps import derivatives_dict, render_derivatives
from bot.runtime.control import PAUSE_KEY
from bot.runtime.glide import recorded_path


def _pct(x: Decimal) -> str:
    return f"{x * 100:.2f}%"


def _pp(x: Decimal) -> str:
    return f"{x * 100:+.2f}pp"


def _money(x: Decimal) -> str:
    return f"{x:,.2f}"


def _opt_money(x: object) -> str:
    """A journal figure (exact text) as money with 2 decimals, or '-' when there is none."""
    return "-" if x is None or x == "" else _money(Decimal(str(x)))


def _opt_bps(x: object) -> str:
    return "-" if x is None or x == "" else f"{Decimal(str(x)):.2f}"


def _band(p: Position) -> str:
    lo, hi = p.bounds
    return f"{lo * 100:.2f}-{hi * 100:.2f}%"


def _status(p: Position) -> str:
    if p.in_band:
        return "[green]in band[/]"
    return "[bold red]OUT: sell[/]" if p.drift > 0 else "[bold red]OUT: buy[/]"


def fit(table: Table, console: Console, optional: tuple[str, ...] = ()) -> Table:
    """`table` as it fits `console`: framed when there is room, else a compact frame and, while
    a cell would still be cut ("..."), the `optional` columns dropped, first named first. Text
    columns (reasons, outcomes) wrap; numbers are never cut."""
    for column in table.columns:
        column.no_wrap = column.header not in ("status", "outcome", "reason")

    def cut() -> bool:
        with console.capture() as captured:
            console.print(table)
        return "\u2026" in captured.get()

    if not cut():
        return table
    table.box, table.pad_edge, table.show_edge = box.SIMPLE_HEAD, False, False
    table.collapse_padding = True
    for name in optional:
        if not cut():
            break
        table.columns[:] = [c for c in table.columns if c.header != name]
        for index, column in enumerate(table.columns):
            column._index = index  # rich numbers its columns: first and last pad differently
    return table


def print_fitted(console: Console, table: Table, optional: tuple[str, ...] = ()) -> None:
    console.print(fit(table, console, optional))


# Columns a narrow terminal drops first (`--wide` or a wider window shows them all).
VALUATION_OPTIONAL = ("balance", "band", "target")


def valuation_table(v: Valuation, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("asset", "balance", f"value {v.quote}", "weight", "target", "drift", "band"):
        table.add_column(col, justify="left" if col == "asset" else "right")
    table.add_column("status")
    for p in v.positions:
        via = f" (via {' -> '.join(p.route.symbols)})" if p.route.is_bridged else ""
        table.add_row(
            p.asset + via,
            f"{p.balance.normalize():f}",
            _money(p.value),
            _pct(p.weight),
            _pct(p.target),
            _pp(p.drift),
            _band(p),
            _status(p),
        )
    return table


def render_plan(plan: Plan, console: Console, taken_at: str | None = None) -> None:
    v = plan.valuation
    when = f", snapshot {taken_at}" if taken_at else ""
    title = f"Portfolio: {_money(v.total)} {v.quote} at mid{when}"
    print_fitted(console, valuation_table(v, title), VALUATION_OPTIONAL)
    if v.reserve:
        console.print(f"Reserve: {_money(v.reserve)} {v.quote} set aside, never traded.")
    for asset, value in v.unmanaged.items():
        worth = "no price" if value is None else f"~{_money(value)} {v.quote}"
        console.print(f"Unmanaged: {asset} ({worth}): not in targets, never traded.")
    for note in plan.notes:
        console.print(f"Note: {note}")
    if not plan.legs and not plan.dust:
        if not v.needs_rebalance:
            console.print("[green]Every asset is inside its band: nothing to trade.[/]")
        return

    legs = Table(
        title=(
            f"Plan: {len(plan.legs)} legs, turnover {_money(plan.turnover)} {v.quote}, "
            f"estimated cost {_money(plan.est_cost)} {v.quote} ({plan.est_cost_bps:.1f} bps)"
        ),
        title_justify="left",
    )
    for col in ("#", "market", "side", "amount", "price", "notional", f"value {v.quote}"):
        legs.add_column(col, justify="right" if col not in ("market", "side") else "left")
    legs.add_column("est. cost bps", justify="right")
    legs.add_column("1 market order bps", justify="right")
    for i, leg in enumerate(plan.legs, 1):
        legs.add_row(
            str(i),
            leg.symbol,
            leg.side.value,
            f"{leg.amount:f}",
            f"{leg.price:f}",
            f"{leg.notional:,.8f}".rstrip("0").rstrip("."),
            _money(leg.value),
            f"{leg.est_cost_bps:.1f}",
            "book too thin" if leg.take_now_bps is None else f"{leg.take_now_bps:.1f}",
        )
    print_fitted(console, legs, ("notional", "1 market order bps", "price", f"value {v.quote}"))
    for d in plan.dust:
        console.print(f"Dust, skipped: {d.side.value} {d.amount:f} on {d.symbol}: {d.reason}")
    after = ", ".join(f"{a} {_pct(w)}" for a, w in plan.projected_weights.items())
    console.print(f"After the plan (estimated, at the touch with taker fees): {after}")


def valuation_dict(v: Valuation) -> dict[str, Any]:
    """A valuation for scripts: total, reserve, and each position against its target and band."""
    return {
        "quote": v.quote,
        "total_value": str(v.total),
        "reserve": str(v.reserve),
        "needs_rebalance": v.needs_rebalance,
        "positions": [
            {
                "asset": p.asset,
                "balance": str(p.balance),
                "price": str(p.price),
                "value": str(p.value),
                "weight": str(p.weight),
                "target": str(p.target),
                "drift": str(p.drift),
                "band": [str(b) for b in p.bounds],
                "in_band": p.in_band,
                "priced_via": list(p.route.symbols),
            }
            for p in v.positions
        ],
        "unmanaged": {a: None if x is None else str(x) for a, x in v.unmanaged.items()},
    }


def plan_to_dict(plan: Plan, taken_at: str | None = None) -> dict[str, Any]:
    return {
        "taken_at": taken_at,
        **valuation_dict(plan.valuation),
        "legs": [
            {
                "symbol": leg.symbol,
                "side": leg.side.value,
                "amount": str(leg.amount),
                "price": str(leg.price),
                "notional": str(leg.notional),
                "value": str(leg.value),
                "spends": leg.spends,
                "receives": leg.receives,
                "est_cost_bps": str(leg.est_cost_bps),
                "est_cost": str(leg.est_cost),
                "take_now_bps": None if leg.take_now_bps is None else str(leg.take_now_bps),
            }
            for leg in plan.legs
        ],
        "dust": [
            {
                "symbol": d.symbol,
                "side": d.side.value,
                "amount": str(d.amount),
                "value": str(d.value),
                "reason": d.reason,
            }
            for d in plan.dust
        ],
        "est_cost": str(plan.est_cost),
        "est_cost_bps": str(plan.est_cost_bps.quantize(Decimal("0.01")) if plan.turnover else 0),
        "turnover": str(plan.turnover),
        "projected_weights": {a: str(w) for a, w in plan.projected_weights.items()},
        "notes": list(plan.notes),
    }


def render_run_report(report: RebalanceReport, console: Console) -> None:
    """A finished rebalance: each leg with what it filled and what it cost vs arrival."""
    quote = report.before.quote
    table = Table(
        title=(
            f"Rebalance {report.rebalance_id}: {report.status}"
            f"{' (' + report.reason + ')' if report.reason else ''}, "
            f"{report.finished - report.started:.0f}s,"
            f" traded {_money(report.traded_value)} {quote},"
            f" shortfall {report.shortfall_bps:.2f} bps (fees included)"
        ),
        title_justify="left",
    )
    for col in ("market", "side", "planned", "filled", "avg price", "arrival mid"):
        table.add_column(col, justify="left" if col in ("market", "side") else "right")
    for col in ("price bps", "fee bps", "total bps", "children", "requests", "outcome"):
        table.add_column(col, justify="right")
    for leg in report.legs:
        table.add_row(
            leg.symbol,
            leg.side.value,
            f"{leg.planned:f}",
            f"{leg.filled:f}",
            "-" if leg.average is None else f"{leg.average:.8g}",
            f"{leg.arrival_mid:.8g}",
            f"{leg.price_bps:.2f}",
            f"{leg.fee_bps:.2f}" if leg.fees_settled else f"~{leg.fee_bps:.2f}",
            f"{leg.shortfall_bps:.2f}",
            str(leg.children),
            str(leg.requests),
            leg.outcome.value if not leg.reason else f"{leg.outcome.value}: {leg.reason}",
        )
    optional = ("arrival mid", "requests", "planned", "children", "price bps", "fee bps")
    print_fitted(console, table, optional)
    if not all(leg.fees_settled for leg in report.legs):
        console.print(
            "~ fees estimated at the market's higher rate: the trades could not all be read yet;"
            " the next reconciliation records them (see `history`)."
        )


def status_dict(portfolio: PortfolioSpec, journal: Journal) -> dict[str, Any]:
    """What the bot last saw (its latest snapshot in the journal) against the targets in force:
    the last set the journal accepted (with its source), else the configuration's."""
    in_force = journal.targets_in_force()
    if in_force is not None:
        portfolio = replace(portfolio, targets=in_force.weights)
    targets = {
        "source": "config" if in_force is None else in_force.source,
        "origin": "" if in_force is None else in_force.origin,
        "since": None if in_force is None else _when(in_force.at),
        "weights": {a: str(w) for a, w in portfolio.targets.items()},
    }
    row = journal.last_snapshot()
    positions = []
    if row is not None:
        for asset, weight in row.weights.items():
            target = portfolio.targets.get(asset, Decimal(0))
            lo, hi = portfolio.bands.for_asset(asset).bounds(target)
            positions.append(
                {
                    "asset": asset,
                    "weight": str(weight),
                    "target": str(target),
                    "drift": str(weight - target),
                    "band": [str(lo), str(hi)],
                    "in_band": lo <= weight <= hi,
                }
            )
    last = journal.rebalances(1)
    return {
        "seen_at": None if row is None else _when(row.taken_at),
        "value": None if row is None else str(row.total),
        "quote": portfolio.quote,
        "targets": targets,
        "positions": positions,
        "halted": journal.active_halt(),
        "paused": journal.get_meta(PAUSE_KEY) or None,
        "last_rebalance": None if not last else history_row(last[0]),
        "glide": recorded_path(journal),
        "derivatives": derivatives_dict(journal),
    }


def history_rows(journal: Journal, limit: int) -> list[dict[str, Any]]:
    return [history_row(r) for r in journal.rebalances(limit)]


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def history_row(row: RebalanceRow) -> dict[str, Any]:
    report = row.report
    return {
        "id": row.id,
        "started": _when(row.started_at),
        "finished": _when(row.finished_at),
        "status": row.status.value,
        "reason": row.reason,
        "mode": row.mode,
        "value_before": row.value_before,
        "traded_value": report.get("traded_value"),
        "shortfall_bps": report.get("shortfall_bps"),
        "fees": report.get("fees"),
        "legs": len(report.get("legs", [])),
        "duration_s": report.get("duration_s"),
        "in_band_after": report.get("in_band_after"),
    }


def render_status(data: dict[str, Any], console: Console) -> None:
    halted = data["halted"]
    console.print(
        "[bold red]HALTED[/]: " + halted + "  (rebalance-bot resume clears it)"
        if halted
        else "[green]Trading enabled[/] (not halted)"
    )
    if data.get("paused"):
        console.print(f"[bold yellow]PAUSED[/]: {data['paused']}  (rebalance-bot resume ends it)")
    render_glide(data.get("glide"), console)
    render_derivatives(data.get("derivatives"), console)
    targets = data["targets"]
    where = " ".join(x for x in (targets["source"], targets["origin"]) if x)
    since = f" since {targets['since']}" if targets["since"] else ""
    weights = ", ".join(f"{a} {_pct(Decimal(w))}" for a, w in targets["weights"].items())
    console.print(f"Targets ({where}{since}): {weights or 'none yet'}")
    if data["seen_at"] is None:
        console.print("No snapshot in the journal yet.")
    else:
        table = Table(
            title=f"Last seen {data['seen_at']}: {_money(Decimal(data['value']))} {data['quote']}",
            title_justify="left",
        )
        for col in ("asset", "weight", "target", "drift", "band", "status"):
            table.add_column(col, justify="left" if col in ("asset", "status") else "right")
        for p in data["positions"]:
            lo, hi = (Decimal(b) for b in p["band"])
            table.add_row(
                p["asset"],
                _pct(Decimal(p["weight"])),
                _pct(Decimal(p["target"])),
                _pp(Decimal(p["drift"])),
                f"{lo * 100:.2f}-{hi * 100:.2f}%",
                "[green]in band[/]" if p["in_band"] else "[bold red]OUT[/]",
            )
        print_fitted(console, table, ("band",))
    last = data["last_rebalance"]
    if last:
        console.print(
            f"Last rebalance #{last['id']} {last['status']} at {last['started']}:"
            f" traded {_opt_money(last['traded_value'])},"
            f" shortfall {_opt_bps(last['shortfall_bps'])} bps"
            + (f" ({last['reason']})" if last["reason"] else "")
        )


def render_history(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("No rebalance yet.")
        return
    table = Table(title="Rebalances, newest first", title_justify="left")
    for col in ("#", "started", "status", "legs", "traded", "shortfall bps", "fees", "duration s"):
        table.add_column(col, justify="right" if col not in ("started", "status") else "left")
    table.add_column("reason")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["started"] or "",
            r["status"],
            str(r["legs"]),
            "-" if r["traded_value"] is None else _money(Decimal(r["traded_value"])),
            r["shortfall_bps"] or "-",
            "-" if r["fees"] is None else _money(Decimal(r["fees"])),
            "-" if r["duration_s"] is None else f"{r['duration_s']:.0f}",
            r["reason"] or "",
        )
    print_fitted(console, table, ("fees", "legs", "duration s"))


class ProgressView:
    """A rebalance as it runs. On a terminal: the whole (legs done, share of the value filled)
    and one bar per leg (share filled, average vs arrival, children, elapsed, time left),
    redrawn in place. Elsewhere: one line per finished child."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._legs: dict[str, LegReport] = {}

    def __call__(self, leg: LegReport) -> None:
        done = leg.filled / leg.planned * 100 if leg.planned else Decimal(100)
        if not self.console.is_terminal:
            avg = "-" if leg.average is None else f"{leg.average:.8g}"
            self.console.print(
                f"  {leg.symbol:<10} {leg.side.value:<4} {done:6.1f}% filled  avg {avg:<12}"
                f" vs arrival {leg.price_bps:+7.2f} bps  children: {leg.children}",
                highlight=False,
            )
            return
        if self._bars is None:
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=16),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._tasks["*"] = self._bars.add_task("all legs", total=1.0, detail="")
            self._bars.start()
        self._legs[leg.key] = leg
        detail = f"{leg.price_bps:+.1f} bps, {leg.children} ch."
        task = self._tasks.get(leg.key)
        if task is None:
            name = f"{leg.symbol} {leg.side.value}"
            task = self._tasks[leg.key] = self._bars.add_task(name, total=1.0, detail=detail)
        share = float(leg.filled / leg.planned) if leg.planned else 1.0
        self._bars.update(task, completed=min(share, 1.0), detail=detail)
        finished = sum(1 for x in self._legs.values() if x.filled >= x.planned)
        shares = [float(x.filled / x.planned) if x.planned else 1.0 for x in self._legs.values()]
        self._bars.update(
            self._tasks["*"],
            completed=min(sum(shares) / len(shares), 1.0),
            detail=f"{finished}/{len(self._legs)} legs done",
        )

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


class JsonLinesView:
    """The rebalance as it runs, for a log collector: one JSON object per line on `out`, a leg's
    progress after each child (`leg_progress`, with the whole: legs done of those seen), then what
    `emit` is given (the run's reports, the portfolio). Decimals as strings."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._legs: dict[str, LegReport] = {}

    def __call__(self, leg: LegReport) -> None:
        self._legs[leg.key] = leg
        done = leg.filled / leg.planned * 100 if leg.planned else Decimal(100)
        self.emit(
            "leg_progress",
            leg=leg.key,
            symbol=leg.symbol,
            side=leg.side.value,
            planned=str(leg.planned),
            filled=str(leg.filled),
            filled_pct=f"{done:.1f}",
            average=None if leg.average is None else str(leg.average),
            price_bps=f"{leg.price_bps:.2f}",
            children=leg.children,
            legs_done=sum(1 for x in self._legs.values() if x.filled >= x.planned),
            legs_seen=len(self._legs),
        )

    def emit(self, event: str, **fields: Any) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = {"event": event, "level": "info", "timestamp": now, **fields}
        print(json.dumps(line), file=self.out, flush=True)

    def close(self) -> None:
        return None
