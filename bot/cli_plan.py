"""The `plan` command's glide path (`bot/cli.py` declares the command): when `[rebalance]
glide_*` caps are set, the plan is the one the daemon would make now, toward the effective
targets, and the path (per asset now, final, cap per day, done by) is shown with it.

The fills of the last 24 h before the snapshot count against each asset's cap: they are read
from the journal when there is one (only read; no journal: nothing traded yet). A volume cap
reads the markets' 24 h volumes from the configured exchange's tickers; a snapshot file has
none, so that cap is skipped there and a note says so.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

from bot.domain.glide import DAY
from bot.domain.orders import FillReport
from bot.domain.planner import Plan
from bot.report_glide import render_glide
from bot.runtime.glide import path_dict, plan_gliding
from bot.runtime.wiring import build_backend, journal_path, open_journal
from bot.settings import Settings
from bot.snapshot import Snapshot


async def with_glide(
    settings: Settings, snap: Snapshot, plan: Plan, read_volumes: bool
) -> tuple[Plan, dict[str, Any]]:
    """`plan` as it is without caps; with caps, the plan along the glide path and `{"glide":
    path}` (`path_dict`'s document) to add to `plan --json`'s. `read_volumes`: the snapshot is
    the exchange's, whose tickers give the volumes a volume cap needs."""
    limits = settings.rebalance.glide()
    if limits is None:
        return plan, {}
    volumes: dict[str, Decimal | None] = {}
    if read_volumes and limits.max_volume_share is not None:
        backend = build_backend(settings, live_confirmed=True)  # reads only: nothing is sent
        try:
            volumes = await backend.gateway.fetch_volumes(sorted(snap.markets))
        finally:
            await backend.close()
    at = snapshot_time(snap)
    fills = recent_fills(settings, at)
    policy = settings.rebalance.policy()
    glided, path = plan_gliding(settings.portfolio_spec(), policy, snap, limits, fills, volumes)
    return glided, {"glide": path_dict(path, at)}


def render_path(extra: dict[str, Any], console: Console) -> None:
    """The path's table under the plan (nothing when no cap holds an asset back)."""
    render_glide(extra.get("glide"), console, reason=False)


def snapshot_time(snap: Snapshot) -> float:
    """When the snapshot was taken (epoch seconds; a time without a zone is UTC), else now."""
    if snap.taken_at:
        try:
            when = datetime.fromisoformat(snap.taken_at.replace("Z", "+00:00"))
        except ValueError:
            return time.time()
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return time.time()


def recent_fills(settings: Settings, at: float) -> list[FillReport]:
    """The journal's fills of the 24 h before `at` (by the exchange's time of each trade); none
    when there is no journal yet."""
    if not journal_path(settings).exists():
        return []
    journal = open_journal(settings)
    try:
        return [
            f
            for f in journal.fills_since(at - DAY)
            if f.timestamp_ms is None or f.timestamp_ms <= at * 1000
        ]
    finally:
        journal.close()
