"""Glide paths at run time: the daily caps' inputs (the last 24 h's fills from the journal, the
markets' 24 h volumes from the tickers) and the plan toward the effective targets.

The daemon decides on the final targets' bands; the plan then trades toward the effective
targets (`bot.domain.glide`), so a large change is spread over days. The path is kept in the
journal's meta (`glide_path`) for `status`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.domain.glide import (
    DAY,
    GlideLimits,
    GlidePath,
    daily_caps,
    glide_path,
    glided,
    traded_by_asset,
)
from bot.domain.orders import FillReport
from bot.domain.planner import Plan, PlannerPolicy, RebalanceTo, plan_rebalance
from bot.domain.portfolio import PortfolioSpec
from bot.exchange.gateway import Gateway
from bot.journal import Journal
from bot.runtime.planning import value_snapshot
from bot.snapshot import Snapshot

META_KEY = "glide_path"


async def glide_inputs(
    gateway: Gateway, journal: Journal, limits: GlideLimits, symbols: list[str], now: float
) -> tuple[list[FillReport], dict[str, Decimal | None]]:
    """The fills of the last 24 h and, when a volume cap is set, each market's 24 h volume."""
    volumes = await gateway.fetch_volumes(symbols) if limits.max_volume_share is not None else {}
    return journal.fills_since(now - DAY), volumes


def plan_gliding(
    portfolio: PortfolioSpec,
    policy: PlannerPolicy,
    snap: Snapshot,
    limits: GlideLimits,
    fills: list[FillReport],
    volumes: dict[str, Decimal | None],
    *,
    force: bool = False,
) -> tuple[Plan, GlidePath]:
    """The plan and the path: toward the effective targets when the caps hold an asset back and
    the final targets' bands (or a schedule, `force`) call for a rebalance; else the plan as
    without caps. The plan keeps the final valuation, with the path's reason in its notes."""
    valuation = value_snapshot(portfolio, snap)
    caps, notes = daily_caps(valuation, limits, snap.markets, volumes)
    path = glide_path(
        valuation, caps, traded_by_asset(fills, snap.markets, valuation.prices), notes
    )
    if not path.gliding or not (valuation.needs_rebalance or force):
        return plan_rebalance(
            valuation, snap.markets, snap.books, replace(policy, force=force)
        ), path
    toward = replace(policy, force=True, rebalance_to=RebalanceTo.TARGET)
    plan = plan_rebalance(glided(valuation, path), snap.markets, snap.books, toward)
    return replace(plan, valuation=valuation, notes=(*plan.notes, path.reason(), *notes)), path


def path_dict(path: GlidePath, at: float) -> dict[str, Any]:
    """The path as `plan --json` and `status` show it: per asset its weight now, its final and
    effective targets, its cap per day (quote and share of the portfolio) and when it is done."""

    def done_by(days: int | None) -> str | None:
        if days is None:
            return None
        when = at + max(0, days - 1) * DAY
        return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")

    return {
        "gliding": path.gliding,
        "reason": path.reason() if path.gliding else None,
        "at": datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds"),
        "notes": list(path.notes),
        "steps": [
            {
                "asset": s.asset,
                "now": str(s.now),
                "final": str(s.final),
                "effective": str(s.effective),
                "cap_per_day": None if s.cap is None else str(s.cap),
                "cap_share": None if s.cap is None or not path.total else str(s.cap / path.total),
                "traded_24h": str(s.traded),
                "days": s.days,
                "done_by": done_by(s.days),
            }
            for s in path.steps
        ],
    }


def record_path(journal: Journal, path: GlidePath, at: float) -> None:
    """Keep the path for `status` while the caps hold an asset back; clear it once they do not."""
    journal.set_meta(META_KEY, json.dumps(path_dict(path, at)) if path.gliding else "")


def recorded_path(journal: Journal) -> dict[str, Any] | None:
    """The path `status` shows: the last one recorded, until a rebalance made on it ends with
    every asset inside its final band (the daemon trades no more then: the path is over, even
    when its last plan was still held short of the final targets)."""
    text = journal.get_meta(META_KEY)
    if not text:
        return None
    data: dict[str, Any] = json.loads(text)
    last = journal.rebalances(1)
    ended_in_band = bool(last and last[0].finished_at and last[0].report.get("in_band_after"))
    if ended_in_band and last[0].started_at >= datetime.fromisoformat(data["at"]).timestamp():
        return None
    return data
