"""What the control surface shows, as JSON-ready dicts: read from the daemon and its journal, never
changing either. The REST API (`bot.api.app`) and Telegram commands share these functions.

Amounts, prices and weights are exact Decimals as strings; times are ISO 8601 in UTC (seconds),
None when unknown. Lists of rebalances, flows and commands are newest first; snapshots oldest
first (drift over time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.domain.status import RebalanceStatus
from bot.execution.reports import LegReport
from bot.journal_rows import JournalOrder, LegRow
from bot.report import history_row, history_rows, plan_to_dict, status_dict
from bot.report_performance import flows_rows
from bot.runtime.daemon import Daemon


def when(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC, to the second (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def status_view(daemon: Daemon, *, writes: bool = False) -> dict[str, Any]:
    """The last snapshot against the targets, with what the daemon is doing now. `writes`: the
    API takes commands (a token is configured)."""
    control = daemon.control
    return {
        **status_dict(daemon.rebalancer.portfolio, daemon.journal),
        "paused": control.paused,
        "running": control.running is not None,
        "rebalance_asked": control.asked,
        "mode": daemon.rebalancer.mode.value,
        "last_poll": when(daemon.last_poll),
        "api": {"writes": writes},
    }


def plan_view(daemon: Daemon) -> dict[str, Any]:
    """The last plan the daemon made (the last rebalance's), or None before any."""
    control = daemon.control
    report = control.last_report
    at = when(control.last_report_at)
    return {"at": at, "plan": None if report is None else plan_to_dict(report.plan, at)}


def leg_dict(leg: LegReport) -> dict[str, Any]:
    """One leg at work, as its progress last reported it."""
    return {
        "key": leg.key,
        "symbol": leg.symbol,
        "side": leg.side.value,
        "planned": str(leg.planned),
        "filled": str(leg.filled),
        "average": None if leg.average is None else str(leg.average),
        "arrival_mid": str(leg.arrival_mid),
        "price_bps": f"{leg.price_bps:.2f}",
        "fee_bps": f"{leg.fee_bps:.2f}",
        "shortfall_bps": f"{leg.shortfall_bps:.2f}",
        "children": leg.children,
        "outcome": leg.outcome.value,
        "reason": leg.reason,
    }


def running_view(daemon: Daemon) -> dict[str, Any]:
    """The rebalance working now: its legs' progress (empty when none is running)."""
    running = daemon.control.running
    if running is None:
        return {"running": False, "started": None, "legs": []}
    legs = [leg_dict(leg) for leg in list(running.legs.values())]
    return {"running": True, "started": when(running.started), "legs": legs}


def history_view(daemon: Daemon, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` rebalances, newest first."""
    return history_rows(daemon.journal, limit)


def _leg_row(leg: LegRow) -> dict[str, Any]:
    return {
        "key": leg.key,
        "symbol": leg.symbol,
        "side": leg.side.value,
        "status": leg.status.value,
        "filled": str(leg.filled),
        "cost": str(leg.cost),
        "fees": str(leg.fees),
        "value": str(leg.value),
        "fees_settled": leg.fees_settled,
    }


def _order(order: JournalOrder) -> dict[str, Any]:
    return {
        "client_id": order.client_id,
        "exchange_id": order.exchange_id,
        "leg_key": order.leg_key,
        "symbol": order.symbol,
        "side": order.side.value,
        "price": str(order.price),
        "amount": str(order.amount),
        "filled": str(order.filled),
        "status": order.status.value,
        "created": when(order.created_at),
    }


def rebalance_view(daemon: Daemon, rid: int) -> dict[str, Any] | None:
    """One rebalance: its history row, its legs, orders and fills (None: no such rebalance)."""
    journal = daemon.journal
    row = journal.rebalance(rid)
    if row is None:
        return None
    legs = journal.legs_of(rid)
    fills = [
        {
            "trade_id": f.trade_id,
            "leg_key": leg.key,
            "order_id": f.exchange_order_id,
            "client_id": f.client_id,
            "symbol": f.symbol,
            "side": f.side.value,
            "amount": str(f.amount),
            "price": str(f.price),
            "fee": str(f.fee),
            "fee_currency": f.fee_currency,
            "time": None if f.timestamp_ms is None else when(f.timestamp_ms / 1000),
        }
        for leg in legs
        for f in journal.leg_fills(leg.key)
    ]
    return {
        **history_row(row),  # the same row as `history`'s
        "legs": [_leg_row(leg) for leg in legs],
        "orders": [_order(o) for o in journal.orders_of(rid)],
        "fills": fills,
    }


def flows_view(daemon: Daemon, limit: int) -> list[dict[str, Any]]:
    """The journaled deposits and withdrawals, newest first, valued in the portfolio's quote."""
    return flows_rows(daemon.journal, daemon.rebalancer.portfolio.quote, limit)


def snapshots_view(daemon: Daemon, since: float | None, limit: int) -> list[dict[str, Any]]:
    """The weights the polls saw from `since`, oldest first (the latest `limit` of them)."""
    return [
        {
            "at": when(s.taken_at),
            "kind": s.kind.value,
            "total": str(s.total),
            "weights": {a: str(w) for a, w in s.weights.items()},
        }
        for s in daemon.journal.snapshots_since(since, limit)
    ]


def balance_view(daemon: Daemon) -> dict[str, Any]:
    """Each managed asset's balance, price and value in the quote at the last valuation point
    (recorded at the first poll, then every quarter of an hour, after each rebalance), with the
    weights of the last poll."""
    journal, quote = daemon.journal, daemon.rebalancer.portfolio.quote
    at = journal.last_valuation_at()
    points = [] if at is None else journal.valuations(quote, since=at)
    snapshot = journal.last_snapshot()
    weights = {} if snapshot is None else dict(snapshot.weights)
    assets: list[dict[str, Any]] = []
    total = Decimal(0)
    if points:
        point = points[-1]
        for asset, balance in point.balances.items():
            price = point.prices.get(asset)
            value = None if price is None else balance * price
            total += value or 0
            weight = weights.get(asset)
            assets.append(
                {
                    "asset": asset,
                    "balance": str(balance),
                    "price": None if price is None else str(price),
                    "value": None if value is None else str(value),
                    "weight": None if weight is None else str(weight),
                }
            )
    return {
        "at": when(points[-1].at) if points else None,
        "quote": quote,
        "total": str(total) if points else None,
        "weights_at": None if snapshot is None else when(snapshot.taken_at),
        "assets": assets,
    }


def _decimal(x: object) -> Decimal | None:
    try:
        return None if x is None else Decimal(str(x))
    except InvalidOperation:
        return None


def metrics_view(daemon: Daemon) -> dict[str, Any]:
    """A summary for people: rebalances by status, the last one's shortfall, the fees of all,
    the halt, and how long ago the last poll was."""
    journal = daemon.journal
    rows = journal.rebalances_since(None)
    by_status = {s.value: 0 for s in RebalanceStatus}
    fees = Decimal(0)
    for row in rows:
        by_status[row.status.value] += 1
        fees += _decimal(row.report.get("fees")) or 0
    last = rows[-1] if rows else None
    now = daemon.clock.time()
    health = None if daemon.metrics is None else daemon.metrics.health(now).to_dict()
    return {
        "rebalances": {"total": len(rows), "by_status": by_status},
        "last_rebalance_at": None if last is None else when(last.started_at),
        "last_shortfall_bps": None if last is None else last.report.get("shortfall_bps"),
        "fees": str(fees),
        "quote": daemon.rebalancer.portfolio.quote,
        "halted": journal.active_halt(),
        "paused": daemon.control.paused,
        "last_poll": when(daemon.last_poll),
        "last_poll_age_s": None
        if daemon.last_poll is None
        else round(max(now - daemon.last_poll, 0.0), 3),
        "health": health,
    }


def commands_view(daemon: Daemon, limit: int) -> list[dict[str, Any]]:
    """The latest commands (pause, resume, rebalance now, cancel), newest first."""
    return [
        {"at": when(c.at), "command": c.command, "source": c.source, "detail": c.detail}
        for c in daemon.journal.commands(limit)
    ]
