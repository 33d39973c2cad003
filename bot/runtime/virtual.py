"""Where virtual time starts for the simulated exchange: reproducible for a scenario that sets
its `start`, else today's time, after the last time the journal recorded."""

from __future__ import annotations

import math
from pathlib import Path

from bot.clock import RealClock
from bot.errors import BotError
from bot.journal import Journal
from bot.sim.scenario import Scenario


def virtual_start(scenario: Scenario, journal: Path) -> float:
    """Where virtual time starts: at the scenario's `start` when the file sets one (tests and
    benchmarks, reproducible); else now (a whole second), and after the last time the journal
    recorded (virtual time runs ahead of the wall clock), so a restart's timestamps follow the
    last run's."""
    if "start" in scenario.model_fields_set:
        return scenario.start
    now = float(int(RealClock().time()))
    last = last_recorded(journal)
    return now if last is None else max(now, float(math.floor(last) + 1))


# Orders read, newest first, for the journal's last recorded time (a run cut short mid-rebalance
# leaves its latest times on its orders).
RECENT_ORDERS = 200


def last_recorded(path: Path) -> float | None:
    """The latest time the journal at `path` holds (its last poll, rebalance, recent orders), or
    None without a journal (or one that cannot be read: the run that opens it says why)."""
    if not path.exists():
        return None
    try:
        journal = Journal(path)
    except BotError:
        return None
    try:
        times = [s.taken_at for s in (journal.last_snapshot(),) if s is not None]
        for r in journal.rebalances(limit=1):
            times += [r.started_at, r.finished_at or 0.0]
        recent = [journal.order(c) for c in journal.client_ids()[-RECENT_ORDERS:]]
        for o in [*recent, *journal.unsettled_orders()]:
            if o is not None:
                times += [o.created_at, o.sent_at or 0.0]
        return max(times, default=None)
    except BotError:
        return None
    finally:
        journal.close()
