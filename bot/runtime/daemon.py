"""The daemon loop: reconcile -> poll -> decide -> rebalance -> cooldown -> sleep, until stopped.

Each poll first settles the journal with the exchange (`reconcile`), then reads balances and
prices (one snapshot); when an asset is out of its band, or a scheduled rebalance is due, it plans
and executes. Trouble that passes makes it wait, poll again later (the wait doubling up to
`risk.max_wait`) and say why, never halt: the exchange unreachable or in maintenance, a book empty
or one-sided for a moment, an order whose fate is not yet known, a rebalance cut short by an
outage. A halt (kill switch) is for what needs a person, and stops trading but not watching: the
loop keeps polling and logging until `rebalance-bot resume` clears it. On SIGTERM or SIGINT it
places no new order, cancels the bot's open orders, and ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.domain.portfolio import Valuation
from bot.domain.positions import is_contract
from bot.domain.status import RebalanceStatus, SnapshotKind
from bot.errors import (
    AuthFailed,
    GatewayError,
    JournalError,
    JournalIdentityError,
    NoPriceError,
    UnknownFeeError,
    UntrustedPrice,
)
from bot.execution.reports import RebalanceReport
from bot.metrics import Metrics
from bot.notify import (
    HALT,
    REBALANCE_FINISHED,
    REBALANCE_STARTED,
    Notifier,
    halt_summary,
    report_summary,
    started_summary,
)
from bot.observability import get_logger
from bot.runtime.control import Control
from bot.runtime.flows import FlowWatch
from bot.runtime.identity import check_new_journal, foreign_orders, is_new
from bot.runtime.killswitch import RiskGuard
from bot.runtime.performance import ValuationLog
from bot.runtime.perps import Perps
from bot.runtime.rebalance import Rebalancer, instance_tag
from bot.runtime.reconcile import ReconcileReport, reconcile
from bot.runtime.shutdown import cancel_ours
from bot.runtime.targets import TargetsWatch, apply_settings
from bot.settings import LoopSettings

log = get_logger("bot.daemon")

# Rebalance reports a run keeps in memory (and prints at its end); older ones are in the journal.
KEPT_REPORTS = 20


@dataclass
class RunResult:
    reports: list[RebalanceReport] = field(default_factory=list)
    last: Valuation | None = None
    halted: str | None = None
    waiting: str | None = None  # why the last poll had to wait (trouble that should pass)
    stopped_by: str | None = None  # the signal that stopped it (SIGINT, SIGTERM)
    # What kind of trouble stopped or held it, for the CLI's exit code: "auth" (the exchange
    # refused the key), "unreachable" (no answer, errors), "maintenance", "prices" or None.
    cause: str | None = None

    @property
    def balanced(self) -> bool:
        return self.last is not None and not self.last.needs_rebalance


class Daemon:
    """The loop around one account's `Rebalancer`. Built by `runtime.wiring.build_daemon`.

    `adopt_on_restart`: orders of an earlier run found open at start-up are left to work for
    `adopt_for` seconds before the rest is cancelled (else cancelled at once)."""

    def __init__(
        self,
        rebalancer: Rebalancer,
        guard: RiskGuard,
        loop: LoopSettings,
        *,
        adopt_on_restart: bool = False,
        adopt_for: float = 10.0,
        description: str = "",
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
        new_journal: bool = False,
        targets: TargetsWatch | None = None,
        on_report: Callable[[RebalanceReport], None] | None = None,
    ) -> None:
        self.rebalancer = rebalancer
        self.on_report = on_report  # each rebalance's report as it ends (JSON lines, say)
        self.targets = targets  # where the targets come from; SIGHUP reloads the configuration
        self.new_journal = new_journal
        self._identity_checked = False
        self._tag: str | None = rebalancer.journal.get_meta("instance_tag")
        self.guard = guard
        self.loop = loop
        self.adopt_on_restart = adopt_on_restart
        self.adopt_for = adopt_for
        self.description = description
        self.journal = rebalancer.journal
        self.clock = rebalancer.clock
        self.gateway = rebalancer.gateway
        self.executor = rebalancer.executor
        self.metrics = metrics
        self.notifier = notifier
        self.reconciled: ReconcileReport | None = None
        self.flows = FlowWatch(self.gateway, self.journal, self.clock, metrics)
        self.valuations = ValuationLog(self.journal)  # for the return net of flows
        self._notices: set[asyncio.Task[None]] = set()
        self.schedule = loop.schedule
        # A schedule counts from the bot's start: the first periodic rebalance is one period on.
        self._last_scheduled: float | None = self.clock.time()
        self._stop = asyncio.Event()
        self.stopped_by: str | None = None
        self.last_poll: float | None = None
        self.unconfirmed: str | None = None  # why the last poll's prices are not yet confirmed
        self._checked_at: float | None = None  # the last poll the risk checks saw
        self._last_rebalance: float | None = None
        self.control = Control(self.journal, self.clock, self.executor)  # API, Telegram
        self.perps: Perps | None = rebalancer.perps  # [derivatives]: bot/runtime/perps.py

    def request_stop(self, reason: str = "signal") -> None:
        """Place no new order, cancel ours, end the run: `reason` is kept (SIGINT, SIGTERM)."""
        if not self._stop.is_set():
            log.info("stopping", reason=reason)
            self.stopped_by = reason
            self._stop.set()
            self.executor.stop()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        if self.targets is not None:
            loop.add_signal_handler(signal.SIGHUP, self.targets.request_reload)

    async def poll(self) -> Valuation:
        # One balance request and one tickers request; order books only when it trades. Prices
        # that fail the checks are left out (UntrustedPrice when a managed asset has none left);
        # `unconfirmed` says why this look does not yet agree with the one before.
        snap, self.unconfirmed = self.rebalancer.checked(
            await self.rebalancer.snapshot(depth=False), depth=False
        )
        valuation = self.rebalancer.value(snap)
        self.last_poll = self.clock.time()
        if self.perps is None:  # with perpetuals, the exposures are recorded (`_watch`)
            self._record(valuation)
        log.info(
            "poll",
            value=f"{valuation.total:.2f}",
            out_of_band=[p.asset for p in valuation.out_of_band],
            max_drift_pp=f"{max(abs(p.drift) for p in valuation.positions) * 100:.2f}",
            confirmed=self.unconfirmed is None,
        )
        return valuation

    def _record(self, valuation: Valuation) -> None:
        if self.metrics is not None:
            self.metrics.observe_poll(valuation, self.last_poll)
        if self.unconfirmed is None:  # a bad tick is never recorded as the portfolio's weights
            self.journal.snapshot(SnapshotKind.POLL, valuation.total, valuation.weights)

    async def run(
        self, *, once: bool = False, until_balanced: bool = False, max_rounds: int = 5
    ) -> RunResult:
        """`once`: one poll and at most one rebalance. `until_balanced`: rebalance until every
        asset is inside its band (at most `max_rounds` rebalances, or polls that had to wait).
        Otherwise: until stopped."""
        result = RunResult()
        log.info(
            "started",
            backend=self.description,
            mode=self.rebalancer.mode.value,
            instance=self.journal.get_meta("instance_tag") or "new",
        )
        scripted = once or until_balanced
        rounds = waits = 0
        first = True
        journal_failure: JournalError | None = None
        try:
            while not self._stop.is_set():
                valuation = await self._round(result, adopt=first and self.adopt_on_restart)
                first = False
                waits = waits + 1 if result.waiting else 0
                scheduled = self._scheduled_due(scripted)
                asked = self.control.asked  # rebalance now, from the API or Telegram
                if (
                    valuation is not None
                    and result.halted is None
                    and (valuation.needs_rebalance or scheduled or asked or self.rebalancer.raising)
                    and self._unpaused()
                    and self._cooled_down(scripted)
                ):
                    rounds += 1
                    scheduled = scheduled or self.control.take_rebalance_request() is not None
                    if scheduled:
                        self._last_scheduled = self.clock.time()
                        log.info("scheduled_rebalance", schedule=str(self.schedule))
                    await self._rebalance(result, valuation, scheduled)
                if once or (scripted and result.halted) or self._stop.is_set():
                    break
                if until_balanced:
                    if result.balanced or rounds >= max_rounds or waits >= max_rounds:
                        break
                    if valuation is not None and not result.waiting:
                        continue
                await self._sleep(self._next_poll(waits))
        except AuthFailed as exc:
            self._halt(result, str(exc))
            result.cause = "auth"
            log.error("auth_failed", error=str(exc))
        except JournalIdentityError:
            raise  # refused before anything was traded: nothing to stop
        except JournalError as exc:
            # Read-only, full, gone: nothing more may be traded that cannot be recorded.
            log.error("journal_failed", error=str(exc), action="no new order; cancelling ours")
            self.executor.stop()
            journal_failure = exc
        finally:
            await self._cancel_open_orders()
            result.stopped_by = self.stopped_by
        if journal_failure is not None:
            raise JournalError(
                f"{journal_failure}: trading stopped and the bot's open orders cancelled; what"
                " could not be recorded is in the log (unrecorded); the next start reconciles"
                " it with the exchange"
            ) from None
        return result

    def _next_poll(self, waits: int) -> float:
        """The next poll: after the poll interval; while waiting on trouble, the interval doubled
        at each wait in a row, up to `max_wait`."""
        interval = self.loop.poll_interval
        if waits == 0:
            return interval
        longest = max(self.guard.limits.max_wait, interval)
        return float(min(interval * 2.0 ** min(waits - 1, 30), longest))  # 2**30: no overflow

    async def _round(self, result: RunResult, *, adopt: bool) -> Valuation | None:
        """One poll: settle the journal with the exchange, then value the portfolio. None, with
        `result.waiting` saying why, when trouble that should pass makes the bot wait."""
        result.waiting = result.cause = None
        try:
            if not self._identity_checked:  # once, before anything else is asked or traded
                if is_new(self.journal) or self.new_journal:
                    await check_new_journal(
                        self.gateway,
                        self.journal,
                        await self.rebalancer.symbols(),
                        new_journal=self.new_journal,
                        now=self.clock.time(),
                    )
                    # checked: from now on, this account's history
                    self._tag = instance_tag(self.journal)
                self._identity_checked = True
            await self._new_targets()  # between rebalances only: never mid-leg
            self.reconciled = await reconcile(
                self.gateway,
                self.journal,
                self.clock,
                adopt=adopt,
                adopt_for=self.adopt_for,
                markets=lambda symbol: not is_contract(symbol),
            )
            if self.perps is not None:  # the perpetuals' orders, on their own account
                perps = await reconcile(
                    self.perps.gateway, self.journal, self.clock, markets=is_contract
                )
                self.reconciled.unconfirmed += perps.unconfirmed
            if not self.reconciled.all_known:
                await self._wait(
                    result,
                    "unconfirmed",
                    f"order(s) {', '.join(self.reconciled.unconfirmed)} sent and not found yet:"
                    " the exchange may still accept them; nothing is traded until they are known",
                )
                return None
            return await self._watch(result)
        except AuthFailed:
            raise
        except (GatewayError, NoPriceError) as exc:
            cause, why = await self._why(exc)
            await self._wait(result, type(exc).__name__, why, cause)
            return None

    async def _new_targets(self) -> None:
        """A change of targets (or a reload) accepted since the last poll, put in force."""
        settings = None if self.targets is None else await self.targets.check()
        if settings is not None:
            apply_settings(settings, self.rebalancer, self.executor, self.guard)
            self.loop, self.schedule = settings.loop, settings.loop.schedule

    async def _why(self, exc: Exception) -> tuple[str, str]:
        """What a failed poll means, for a person (maintenance when the exchange says so), and
        its cause."""
        with contextlib.suppress(GatewayError):
            status = await self.gateway.exchange_status()
            if status not in (None, "ok"):
                return "maintenance", f"the exchange reports {status}: waiting ({exc})"
        if isinstance(exc, UntrustedPrice):
            return "prices", f"no price for an asset passes the price checks: waiting ({exc})"
        if isinstance(exc, NoPriceError):
            why = f"no price for an asset (a book empty or one-sided for now): waiting ({exc})"
            return "prices", why
        return "unreachable", f"the exchange cannot be read: waiting ({exc})"

    async def _wait(
        self, result: RunResult, kind: str, reason: str, cause: str | None = None
    ) -> None:
        result.waiting = reason
        result.cause = cause
        log.warning("waiting", kind=kind, reason=reason)
        if self.notifier is not None:
            await self.notifier.error(kind, reason)

    async def _watch(self, result: RunResult) -> Valuation | None:
        """One poll with its plausibility checks. Prices that do not agree with the look before
        (the first look after a start never does) are looked at again `price_confirm_after`
        later; still not in agreement, the bot waits (None)."""
        acted = [self._last_rebalance, None if self.perps is None else self.perps.acted_at]
        traded = any(
            t is not None and (self._checked_at is None or t >= self._checked_at) for t in acted
        )
        valuation = await self.poll()
        if self.unconfirmed is not None:
            log.info("prices_unconfirmed", reason=self.unconfirmed)
            await self._sleep(self.guard.limits.price_confirm_after)
            valuation = await self.poll()
        if self.unconfirmed is not None:
            why = f"prices unconfirmed: {self.unconfirmed}"
            await self._wait(result, "UntrustedPrice", why, "prices")
            return None
        # deposits and withdrawals, read when the balances moved
        flows = await self.flows.explained({p.asset: p.balance for p in valuation.positions})
        reason = self.guard.check_poll(valuation, traded, flows)
        if reason:
            self._halt(result, f"implausible snapshot: {reason}")
        if self.perps is not None:  # the margin guard, halted or paused too; then exposures
            valuation, refusal = await self.perps.after_poll(valuation)
            self._record(valuation)
            if refusal is not None:
                self._halt(result, refusal)
        self.valuations.observe(valuation, flows, self.clock.time())
        self._checked_at = self.last_poll  # the risk checks see confirmed prices only
        result.last = valuation
        result.halted = self.journal.active_halt()
        if self.metrics is not None:
            self.metrics.halted(result.halted is not None)
        if result.halted is not None:
            log.warning("halted", reason=result.halted, hint="rebalance-bot resume clears it")
        return valuation

    def _scheduled_due(self, scripted: bool) -> bool:
        if self.schedule is None or scripted:
            return False
        return self.schedule.due(self._last_scheduled, self.clock.time())

    async def _rebalance(
        self, result: RunResult, valuation: Valuation, scheduled: bool = False
    ) -> None:
        if self.metrics is not None:
            self.metrics.rebalance_started()
        if self.notifier is not None:
            await self.notifier.send(REBALANCE_STARTED, *started_summary(valuation))
        try:
            status = await self.gateway.exchange_status()
            if status not in (None, "ok"):
                why = f"the exchange reports {status}: waiting"
                await self._wait(result, "maintenance", why, "maintenance")
                return
            foreign = await foreign_orders(
                self.gateway,
                self.journal,
                await self.rebalancer.symbols(),
                instance_tag(self.journal),
            )
            if foreign is not None:
                self._halt(result, foreign)
                return
            async with self._heartbeat():
                self.control.started()
                report = None
                try:
                    report = await self.rebalancer.run(
                        veto=lambda plan: self.guard.check_plan(plan, self.clock.time()),
                        scheduled=scheduled,
                    )
                finally:
                    self.control.finished(report, resume=not self._stop.is_set())
        except AuthFailed:
            raise
        except UnknownFeeError as exc:  # needs a person: the fee rates to use
            self._halt(result, str(exc))
            return
        except UntrustedPrice as exc:  # nothing was traded: the next poll may plan again
            why = f"no plan on these prices: waiting ({exc})"
            await self._wait(result, "UntrustedPrice", why, "prices")
            return
        except (GatewayError, NoPriceError) as exc:
            # An outage or a lost reply mid-rebalance: the journal holds every order, the next
            # poll reconciles them, and the next round replans after the cooldown.
            self._last_rebalance = self.clock.time()
            log.error("rebalance_failed", error=str(exc))
            cause = "prices" if isinstance(exc, NoPriceError) else "unreachable"
            await self._wait(result, type(exc).__name__, f"rebalance failed: {exc}", cause)
            return
        result.reports.append(report)
        if self.on_report is not None:
            self.on_report(report)
        del result.reports[:-KEPT_REPORTS]  # the rest is in the journal: memory stays bounded
        self._last_rebalance = self.clock.time()
        result.last = report.after or valuation
        if report.after is not None:  # a point after every rebalance: its cost counts
            self.valuations.observe(report.after, {}, self.clock.time(), force=True)
        if report.rebalance_id is not None:
            if self.metrics is not None:
                self.metrics.rebalance_finished(report)
            if self.notifier is not None:
                await self.notifier.send(REBALANCE_FINISHED, *report_summary(report))
        reason = (
            report.reason
            if report.status is RebalanceStatus.REFUSED
            else self.guard.after_rebalance(report)
        )
        if reason:
            self._halt(result, reason)

    def _halt(self, result: RunResult, reason: str) -> None:
        self.journal.halt(reason)
        result.halted = self.journal.active_halt()
        log.error("halt", reason=result.halted)
        if self.metrics is not None:
            self.metrics.halted(True)
        if self.notifier is not None:
            # send() only queues the message; the task ends at once, trading never waits.
            task = asyncio.get_running_loop().create_task(
                self.notifier.send(HALT, *halt_summary(reason))
            )
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)

    def _unpaused(self) -> bool:
        if (paused := self.control.paused) is not None:
            log.info("paused", reason=paused, hint="resume (API, Telegram or the CLI) ends it")
        return paused is None

    def _cooled_down(self, scripted: bool) -> bool:
        if scripted or self._last_rebalance is None:
            return True
        return self.clock.time() - self._last_rebalance >= self.loop.cooldown

    @contextlib.asynccontextmanager
    async def _heartbeat(self) -> AsyncIterator[None]:
        """While a rebalance works, beat for the health check every third of a poll interval:
        the process is alive and trading, though it does not poll."""
        if self.metrics is None:
            yield
            return
        metrics, period = self.metrics, max(self.loop.poll_interval / 3, 0.01)

        async def beat() -> None:
            while True:
                metrics.heartbeat(self.clock.time())
                await self.clock.sleep(period)

        task = asyncio.ensure_future(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the backend's clock, waking early when a stop is requested."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        waker = asyncio.ensure_future(self.control.wake.wait())  # a command to act on now
        await asyncio.wait({sleeper, stopper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper, waker):
            task.cancel()
        self.control.wake.clear()

    async def _cancel_open_orders(self) -> None:
        """Cancel every open order of this bot instance, on each account it trades."""
        await cancel_ours(
            [self.gateway, *([] if self.perps is None else [self.perps.gateway])],
            self.journal,
            self._tag,
            self.rebalancer.symbols,
        )
