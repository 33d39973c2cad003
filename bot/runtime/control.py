"""Steering the running daemon from outside: pause, resume, rebalance now, cancel the running
rebalance; and what a reader may see of it (the last plan, the running rebalance's legs).

The REST API and Telegram commands (`bot/api/`) call these methods; the daemon's own loop acts
on them, so nothing a request does bypasses the risk checks: a rebalance asked for still waits
for a poll, passes the halt, the pause, the cooldown and the plan's veto like any other.

- `pause`: no new rebalance (polls, flows and the journal go on); a rebalance already working
  finishes unless cancelled. Kept in the journal's meta, so a restart stays paused.
- `resume`: ends a pause and clears a halt (as `rebalance-bot resume` does).
- `rebalance_now`: the next round rebalances to target even when every asset is in band, as a
  scheduled rebalance does; the loop's sleep is cut short.
- `cancel`: the running rebalance places no new child, cancels the one working, and ends as
  `stopped` with the reason given; the daemon then goes on polling.

Every command is journaled (`commands`: what, from where, when) and logged; none carries a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.execution.executor import Executor
from bot.execution.reports import LegReport, RebalanceReport
from bot.journal import Journal
from bot.observability import get_logger

log = get_logger("bot.control")

PAUSE_KEY = "paused"  # journal meta: the pause's reason and source; "" when not paused


@dataclass(frozen=True, slots=True)
class Answer:
    """What a command did: `ok` False when it was refused (nothing changed), and one line."""

    ok: bool
    message: str


@dataclass(slots=True)
class Running:
    """The rebalance working now: its legs as their progress last reported them."""

    started: float
    legs: dict[str, LegReport] = field(default_factory=dict)


class Control:
    """The daemon's command inbox and its readable state (one per daemon)."""

    def __init__(self, journal: Journal, clock: Clock, executor: Executor) -> None:
        self.journal = journal
        self.clock = clock
        self.executor = executor
        self.wake = asyncio.Event()  # set by a command the loop should act on without delay
        self.running: Running | None = None
        self.last_report: RebalanceReport | None = None  # the last rebalance's (its plan too)
        self.last_report_at: float | None = None
        self._rebalance_asked: str | None = None  # who asked (source)
        self._cancelled: str | None = None  # why the running rebalance was cancelled
        prior = executor.progress
        executor.progress = self._observer(prior)

    # -- commands -------------------------------------------------------------------------------

    @property
    def paused(self) -> str | None:
        """The pause's reason, or None."""
        return self.journal.get_meta(PAUSE_KEY) or None

    def pause(self, source: str, reason: str = "") -> Answer:
        if self.paused is not None:
            return Answer(True, f"already paused ({self.paused})")
        why = f"paused by {source}" + (f": {reason}" if reason else "")
        self.journal.set_meta(PAUSE_KEY, why)
        self._record("pause", source, why)
        tail = "; the running rebalance finishes (cancel stops it)" if self.running else ""
        return Answer(True, f"{why}: no new rebalance until resumed{tail}")

    def resume(self, source: str) -> Answer:
        answer = resume(self.journal, source)
        self.wake.set()
        return answer

    def rebalance_now(self, source: str) -> Answer:
        """Ask for a rebalance at the next round; refused (nothing changes) while paused, halted
        or already rebalancing."""
        if (halt := self.journal.active_halt()) is not None:
            return Answer(False, f"halted ({halt}): resume first")
        if self.paused is not None:
            return Answer(False, f"{self.paused}: resume first")
        if self.running is not None:
            return Answer(False, "a rebalance is working now")
        self._rebalance_asked = source
        self._record("rebalance_now", source, "")
        self.wake.set()
        return Answer(True, "rebalance asked: it starts at the next poll, after the cooldown")

    def cancel(self, source: str) -> Answer:
        """Stop the running rebalance: no new child, the working one cancelled."""
        if self.running is None:
            return Answer(False, "no rebalance is working")
        self._cancelled = f"cancelled by {source}"
        self.executor.stop(self._cancelled)
        self._record("cancel", source, "")
        return Answer(True, f"{self._cancelled}: its working order is being cancelled")

    # -- for the daemon -------------------------------------------------------------------------

    @property
    def asked(self) -> bool:
        return self._rebalance_asked is not None

    def take_rebalance_request(self) -> str | None:
        """Who asked for a rebalance now (consumed), or None."""
        asked, self._rebalance_asked = self._rebalance_asked, None
        return asked

    def started(self) -> None:
        self.running = Running(self.clock.time())

    def finished(self, report: RebalanceReport | None, *, resume: bool = True) -> None:
        """The rebalance ended (None: it failed without a report). A cancel is over: the
        executor may place orders again (`resume`: unless the daemon itself is stopping)."""
        self.running = None
        if report is not None:
            self.last_report, self.last_report_at = report, self.clock.time()
        if self._cancelled is not None:
            self._cancelled = None
            if resume:
                self.executor.resume()

    def _observer(self, prior: Callable[[LegReport], None] | None) -> Callable[[LegReport], None]:
        def observe(report: LegReport) -> None:
            if self.running is not None:
                self.running.legs[report.key] = report
            if prior is not None:
                prior(report)

        return observe

    def _record(self, command: str, source: str, detail: str) -> None:
        log.info("control", command=command, source=source, detail=detail)
        self.journal.record_command(command, source, detail)


def resume(journal: Journal, source: str) -> Answer:
    """End a pause and clear a halt (the daemon's `Control`, and `rebalance-bot resume`)."""
    paused, halt = journal.get_meta(PAUSE_KEY) or None, journal.active_halt()
    if paused is None and halt is None:
        return Answer(True, "not paused or halted: nothing to resume")
    journal.set_meta(PAUSE_KEY, "")
    if halt is not None:
        journal.clear_halt(by=source)
    was = "; ".join(x for x in (paused, None if halt is None else f"halt cleared: {halt}") if x)
    log.info("control", command="resume", source=source, detail=was)
    journal.record_command("resume", source, was)
    return Answer(True, f"resumed ({was}); the bot trades again at its next poll")
