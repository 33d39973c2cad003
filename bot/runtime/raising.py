"""`rebalance-bot raise AMOUNT ASSET`: the sells that free an amount of the quote for a
withdrawal, with every asset in band once it is gone (`bot.domain.raising`).

Without `--execute` the plan is made from what the exchange shows, read-only, as `plan` does.
With it, the amount is checked first on a fresh snapshot (an amount the portfolio cannot free is
refused before the journal is opened or anything sent), then the daemon runs one round exactly as
`run --once` does (journal lock, reconciliation, poll and risk checks, the executor, the journal),
its rebalancer planning the raise instead of a rebalance: journaled as a rebalance of kind
"raise", reason `raise AMOUNT ASSET`.
"""

from __future__ import annotations

from decimal import Decimal

from bot.domain.raising import RaisePlan
from bot.errors import ConfigError
from bot.journal_lock import JournalLock
from bot.runtime.daemon import RunResult
from bot.runtime.planning import raise_from_snapshot
from bot.runtime.rebalance import take_snapshot
from bot.runtime.targets import with_url_targets
from bot.runtime.wiring import (
    Progress,
    build_backend,
    build_daemon,
    journal_path,
    open_journal,
    read_snapshot,
)
from bot.settings import Settings


async def plan_raise_now(
    settings: Settings, asset: str, amount: Decimal
) -> tuple[RaisePlan, str | None]:
    """The raise planned on what the configured exchange shows now (read-only), and when."""
    _spot_only(settings)
    settings = await with_url_targets(settings)
    snap = await read_snapshot(settings)
    spec, policy = settings.portfolio_spec(), settings.rebalance.policy()
    return raise_from_snapshot(spec, policy, snap, asset, amount), snap.taken_at


async def execute_raise(
    settings: Settings,
    asset: str,
    amount: Decimal,
    *,
    live: bool = False,
    progress: Progress | None = None,
) -> tuple[RaisePlan, RunResult]:
    """Plan the raise (CannotRaise: nothing opened, nothing sent), then trade it through the
    daemon's one round. Returns the plan as first made and the round's result."""
    _spot_only(settings)
    lock = JournalLock(journal_path(settings)).acquire()
    try:
        settings = await with_url_targets(settings)
        backend = build_backend(settings, live_confirmed=live)
        try:
            spec = settings.portfolio_spec()
            snap = await take_snapshot(
                backend.gateway,
                spec.managed,
                spec.quote,
                backend.clock,
                book_depth=settings.execution.book_depth,
            )
            planned = raise_from_snapshot(spec, settings.rebalance.policy(), snap, asset, amount)
            journal = open_journal(settings, backend.clock)
            try:
                daemon = build_daemon(settings, backend, journal, progress=progress)
                daemon.rebalancer.raising = (asset, amount)
                daemon.install_signal_handlers()
                return planned, await daemon.run(once=True)
            finally:
                journal.close()
        finally:
            await backend.close()
    finally:
        lock.release()


def _spot_only(settings: Settings) -> None:
    if settings.derivatives.enabled:
        raise ConfigError(
            [
                "raise: not with [derivatives] on yet (the sells would leave the exposures"
                " unjudged); withdraw from spot by hand, the next rebalance restores them"
            ]
        )
