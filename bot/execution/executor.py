"""The executor: works each leg of a plan as a series of child limit orders.

For one leg it repeats { book -> slicer -> place -> wait -> cancel the rest -> account the fills }
until the slicer says done (or dust), or halt. Every child carries a client order id that the
recorder sees before the order is sent, so a crash or a lost reply never yields a duplicate.
Each leg ends with one trade query, so fees are the exchange's, not estimates.

Every fill is judged against the leg's arrival mid (the mid when the rebalance started):
implementation shortfall in bps, price and fees apart and together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from bot.clock import Clock
from bot.domain.lifecycle import ChildOrder
from bot.domain.market import ONE, ZERO, Market, OrderBook, Side
from bot.domain.orders import FillReport, OrderReport, OrderRequest
from bot.domain.planner import Leg
from bot.domain.prices import BookWatch
from bot.domain.progress import LegProgress
from bot.domain.slicing import (
    Child,
    Done,
    ExecutionPolicy,
    Halt,
    JumpWatch,
    LegState,
    Phase,
    Style,
    Wait,
    next_child,
)
from bot.domain.status import ChildOutcome, LegOutcome
from bot.domain.trajectory import Refill, Volatility, at_touch
from bot.errors import (
    AmbiguousOrder,
    AuthFailed,
    GatewayError,
    InsufficientBalance,
    NeverArrived,
    OrderRejected,
    RequestRefused,
    WouldCross,
)
from bot.exchange.derivatives import order_market
from bot.exchange.gateway import Gateway
from bot.exchange.transport import request_counter
from bot.execution.fills import estimated_fees, read_fills, since_ms
from bot.execution.reports import LegReport
from bot.execution.scheduled import Resting, horizon, scheduled_step
from bot.observability import get_logger

log = get_logger("bot.execution")


# Why a rebalance stopped when the daemon itself is stopping (a signal, a journal failure).
STOP_REASON = "the bot was asked to stop"
CANCEL_ATTEMPTS = 5


class Recorder(Protocol):
    """Where the executor reports what it does (the journal): the intent before the request is
    sent, the send before it leaves, then every transition of the child's life."""

    def child_intent(self, leg_key: str, request: OrderRequest, phase: Phase) -> None: ...

    def child_sent(self, client_id: str, at: float) -> None: ...

    def child_state(self, child: ChildOrder, report: OrderReport | None = None) -> None: ...

    def fills(self, leg_key: str, fills: list[FillReport]) -> None: ...


class NullRecorder:
    def child_intent(self, leg_key: str, request: OrderRequest, phase: Phase) -> None:
        pass

    def child_sent(self, client_id: str, at: float) -> None:
        pass

    def child_state(self, child: ChildOrder, report: OrderReport | None = None) -> None:
        pass

    def fills(self, leg_key: str, fills: list[FillReport]) -> None:
        pass


class Executor:
    def __init__(
        self,
        gateway: Gateway,
        policy: ExecutionPolicy,
        clock: Clock,
        *,
        recorder: Recorder | None = None,
        book_depth: int = 50,
        progress: Callable[[LegReport], None] | None = None,
        frozen_book_after: float = 60.0,
    ) -> None:
        self.gateway = gateway
        self.frozen_book_after = frozen_book_after  # seconds; see `BookWatch`
        self.policy = policy
        self.clock = clock
        self.recorder: Recorder = recorder or NullRecorder()
        self.book_depth = book_depth
        self.progress = progress
        self._stopping = False
        self.stop_reason = STOP_REASON

    def stop(self, reason: str = "") -> None:
        """Place no new child; the current one is cancelled at its next check. `reason`: why
        (a cancel from the control surface, say); the daemon stopping gives none."""
        self._stopping = True
        self.stop_reason = reason or STOP_REASON

    def resume(self) -> None:
        """After a cancelled rebalance: children may be placed again."""
        self._stopping = False
        self.stop_reason = STOP_REASON

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run_leg(
        self, leg: Leg, arrival_mid: Decimal, key: str, budget: Decimal | None = None
    ) -> LegReport:
        """Work one leg. A buy spends at most `budget` of the asset it spends, fees included
        (the quote the plan gave it: never the reserve, never another leg's share)."""
        # A cut of a perpetual may be smaller than the minimum notional where it is waived.
        market = order_market(
            self.gateway.profile, self.gateway.markets[leg.symbol], leg.reduce_only
        )
        report = LegReport(key, leg.symbol, leg.side, leg.amount, arrival_mid, market.quote)
        report.budget = budget
        report.started = self.clock.time()
        counter = [0]
        request_counter.set(counter)
        log.info(
            "leg_started", leg=key, symbol=leg.symbol, side=leg.side.value, amount=str(leg.amount)
        )
        try:
            await self._work(leg, market, report)
        except AuthFailed:
            raise  # the daemon halts at once: the exchange refuses the key or its permissions
        except GatewayError as exc:
            report.outcome, report.reason = LegOutcome.FAILED, str(exc)
            log.error("leg_failed", leg=key, error=str(exc))
        report.finished = self.clock.time()
        await self._settle_fees(market, report)
        report.requests = counter[0]
        log.info(
            "leg_finished",
            leg=key,
            outcome=report.outcome.value,
            reason=report.reason,
            filled=str(report.filled),
            children=report.children,
            shortfall_bps=f"{report.shortfall_bps:.2f}",
        )
        return report

    async def _work(self, leg: Leg, market: Market, report: LegReport) -> None:
        held: list[Resting] = []  # the `schedule` style's resting child, kept across steps
        try:
            await self._steps(leg, market, report, held)
        except BaseException:
            if held:  # settled if it can be; else the journal and reconciliation hold it
                with contextlib.suppress(GatewayError):
                    await self._retire(market, held.pop(), report)
            raise
        if held:
            await self._retire(market, held.pop(), report)

    async def _steps(
        self, leg: Leg, market: Market, report: LegReport, held: list[Resting]
    ) -> None:
        policy = self.policy
        progress = LegProgress()
        watch = BookWatch()  # a frozen book stops the leg: no child is placed into it forever
        volatility = Volatility()  # the schedule style's estimate, from the mids the leg sees
        again: OrderBook | None = None  # a book to plan on once more (a resting child settled)
        anchor: Decimal | None = None  # where a jump settled: the guard measures from there
        jumps = JumpWatch()
        refill, took = Refill(), ZERO  # how fast the book refills after the leg's takes
        while True:
            if self._stopping:
                report.outcome, report.reason = LegOutcome.HALTED, "stopping"
                return
            now = self.clock.time()
            resting = held[0] if held else None
            committed = resting.pending if resting is not None else ZERO
            remaining = leg.amount - report.filled
            if remaining <= 0:  # filled: no need to look at the book again
                report.reason = "filled"
                return
            if again is not None:
                book, again = again, None
            else:
                book = await self.gateway.fetch_order_book(leg.symbol, self.book_depth)
                watch = watch.look(book, now)
                depth = book.quantity_within_bps(leg.side, policy.band_bps)
                refill, took = refill.observe(depth, now, took), ZERO
                frozen = watch.frozen(now, self.frozen_book_after)
                if frozen is not None:
                    report.outcome, report.reason = LegOutcome.HALTED, frozen
                    log.warning("leg_book_frozen", leg=report.key, reason=frozen)
                    return
            where = None if resting is None else at_touch(leg.side, resting.child.price, book)
            if resting is not None and where is None:
                # Its level is gone from the book: it most likely filled. Ask, then plan again.
                if await self._look_up(market, resting, report, held):
                    again = book
                    continue
                where = False
            state = LegState(
                side=leg.side,
                remaining=remaining - committed,  # as though a resting child fills whole
                arrival_mid=report.arrival_mid,
                elapsed=now - report.started,
                paused_for=progress.paused_for(now),
                anchor_mid=anchor,
            )
            left: Decimal | None = None
            if report.budget is not None and leg.side is Side.BUY:
                # What this buy may still spend: its fills so far count at the higher fee rate.
                left = max(ZERO, report.budget - report.cost * (ONE + market.max_fee))
                if resting is not None:
                    left = max(ZERO, left - resting.committed_cost(market))
                ask = book.best_ask
                if (
                    resting is None
                    and ask is not None
                    and market.round_amount(left / (ask * (ONE + market.max_fee)))
                    < market.min_tradable(ask)
                ):
                    report.reason = f"budget spent: {report.budget:.8f} {leg.spends}"
                    log.info("leg_budget_spent", leg=report.key, budget=str(report.budget))
                    return
            phase, cap = progress.forced_phase, progress.take_cap
            if policy.style is Style.SCHEDULE:
                volatility = volatility.observe(book.mid or report.arrival_mid, now)
                phase, cap = scheduled_step(policy, market, book, leg, volatility, state, refill)
                if resting is not None and where and state.elapsed < horizon(policy):
                    small = cap is not None and cap < market.min_tradable(book.mid or ONE)
                    if phase is Phase.PASSIVE or cap is None or small:
                        await self._sleep_unless_stopping(policy.child_timeout)  # keep its place
                        continue
                if cap is None and resting is not None:  # the touch moved away: re-peg it
                    phase, cap = Phase.PASSIVE, resting.placed.remaining
                elif cap is None:  # this step's slice is below the market's minimum: on schedule
                    await self.clock.sleep(policy.child_timeout)
                    continue
            decision = next_child(market, book, state, policy, phase, cap, left)
            if resting is not None and not isinstance(decision, Child):
                await self._retire(market, held.pop(), report)  # then plan on what it left
                again = book
                continue
            if isinstance(decision, Done):
                report.reason = decision.reason if remaining > 0 else "filled"
                return
            if isinstance(decision, Halt):
                report.outcome, report.reason = LegOutcome.HALTED, decision.reason
                log.warning("leg_halted", leg=report.key, reason=decision.reason)
                return
            if isinstance(decision, Wait):
                mid = book.mid if decision.deviation else None
                jumps = jumps.look(mid, now, policy) if mid is not None else JumpWatch()
                if mid is not None and anchor is None and jumps.settled(now, policy):
                    # The price holds at a new level: go on from there, not give the leg up
                    # (once: a leg that moves against the new level too is given up as before).
                    anchor, jumps, progress, again = mid, JumpWatch(), LegProgress(), book
                    log.info("leg_reanchored", leg=report.key, mid=str(anchor))
                    continue
                progress = progress.waited(decision, now)
                log.info("leg_waiting", leg=report.key, reason=decision.reason)
                await self.clock.sleep(policy.child_timeout)
                continue
            if self._stopping:  # asked to stop while it looked at the book: no new child
                continue
            jumps = JumpWatch()
            filled_before = report.filled
            outcome = await self._child(market, decision, report, leg, held)
            if outcome is ChildOutcome.REFUSED:
                return
            filled = report.filled - filled_before
            if outcome is not ChildOutcome.RETRY:  # it met the book: filled, or did not
                watch = watch.child_settled(filled > 0, self.clock.time())
            if outcome is not ChildOutcome.SETTLED:  # it never executed: anew, from a fresh book
                progress = LegProgress()
                continue
            progress = progress.child_settled(decision, filled, policy.style)
            took += filled if decision.phase is Phase.TAKE else ZERO
            if held and held[0].child is decision:  # left resting: look again after a step
                await self._sleep_unless_stopping(policy.child_timeout)
            elif decision.phase is Phase.TAKE and filled > 0:
                await self.clock.sleep(policy.child_timeout)  # let the book refill

    async def _child(
        self, market: Market, child: Child, report: LegReport, leg: Leg, held: list[Resting]
    ) -> ChildOutcome:
        """Place one child and see it to a final state, each step a transition of its life
        (`bot.domain.lifecycle`) recorded as it happens. Returns how it ended. A `schedule`
        child that rests is left in `held` (settled at a later step); one that replaces a
        resting child is sent with its cancel in one request where the exchange allows it."""
        old = held[0] if held else None  # it stays held until its end is known
        if old is not None and not self.gateway.can_replace():
            await self._retire(market, held.pop(), report)  # a cancel, then the new child
            old = None
        report.children += 1
        client_id = self.gateway.profile.client_id.child_id(report.key, report.children)
        request = OrderRequest(
            client_id=client_id,
            symbol=market.symbol,
            side=child.side,
            amount=child.amount,
            price=child.price,
            time_in_force=child.time_in_force,
            post_only=child.post_only,
            reduce_only=leg.reduce_only,
            position_side=leg.position_side,
        )
        order = ChildOrder(client_id)
        self.recorder.child_intent(report.key, request, child.phase)
        report.client_ids.append(client_id)

        def sent(at: float) -> None:  # the request is leaving: on record before it does
            nonlocal order
            order = order.sent(at)
            self.recorder.child_sent(client_id, at)

        try:
            if old is None:
                placed = await self.gateway.place_order(request, on_sent=sent)
            else:
                old.order = old.order.cancelling()
                self.recorder.child_state(old.order)
                replaced = await self.gateway.replace_order(
                    market.symbol, old.placed.exchange_id, old.order.client_id, request, sent
                )
                held.remove(old)  # its end is in the reply, or asked for now
                await self._settle_replaced(market, old, replaced.old, report)
                if replaced.refused is not None:
                    raise replaced.refused
                if replaced.new is None:  # not placed: the old child had already ended, so
                    self.recorder.child_state(order.refused())  # the step's child goes alone
                    return await self._child(market, child, report, leg, held)
                placed = replaced.new
        except (WouldCross, RequestRefused) as exc:
            # Refused unexecuted: a post-only child that would have crossed, or a rate-limit or
            # timestamp refusal (the gateway has backed off): try anew from a fresh book.
            report.children_rejected += 1
            self.recorder.child_state(order.refused())
            if isinstance(exc, WouldCross):
                await self.clock.sleep(min(1.0, self.policy.child_timeout))
                return ChildOutcome.CROSSED
            log.warning("child_refused", leg=report.key, client_id=client_id, error=str(exc))
            return ChildOutcome.RETRY
        except NeverArrived:
            # Its reply was lost and the exchange can no longer accept it: a new child, from a
            # fresh book and at a fresh price, replaces it (never a resend of the old one).
            self.recorder.child_state(order.absent(self.clock.time(), None, proven=True))
            log.warning("child_never_arrived", leg=report.key, client_id=client_id)
            return ChildOutcome.RETRY
        except (InsufficientBalance, OrderRejected) as exc:
            report.children_rejected += 1
            self.recorder.child_state(order.refused())
            if isinstance(exc, InsufficientBalance):
                report.outcome, report.reason = LegOutcome.HALTED, f"insufficient balance: {exc}"
                log.warning("child_unfunded", leg=report.key, client_id=client_id)
            else:
                report.outcome, report.reason = LegOutcome.HALTED, str(exc)
            return ChildOutcome.REFUSED
        order = order.reported(placed)
        self.recorder.child_state(order, placed)
        report.order_ids.add(placed.exchange_id)
        live = Resting(child, order, placed, placed.timestamp_ms)
        if not order.state.is_final:
            if self.policy.style is Style.SCHEDULE and child.phase is Phase.PASSIVE:
                held.append(live)  # it rests; the next steps keep it, replace it or end it
                return ChildOutcome.SETTLED
            await self._wait(market, live)
        self._account(live, report)
        return ChildOutcome.SETTLED

    async def _settle_replaced(
        self, market: Market, old: Resting, final: OrderReport | None, report: LegReport
    ) -> None:
        """The replaced child's end, from the replace reply, else asked for (or cancelled again
        while the exchange still has it open): it is accounted before the leg goes on."""
        if final is not None:
            old.order = old.order.reported(final)
            self.recorder.child_state(old.order, final)
            old.placed = final
        if not old.order.state.is_final:
            await self._retire(market, old, report)
            return
        self._account(old, report)

    async def _look_up(
        self, market: Market, resting: Resting, report: LegReport, held: list[Resting]
    ) -> bool:
        """Ask for a resting child whose level left the book; True when it has ended (accounted
        and let go), False when it still rests (its report is brought up to date)."""
        found = await self.gateway.fetch_order(market.symbol, resting.order.client_id)
        if found is None:
            return False
        resting.order = resting.order.reported(found)
        resting.placed = found
        if resting.order.state.is_final:
            held.remove(resting)  # ended: never cancelled again, whatever the journal does
            self._account(resting, report)
        self.recorder.child_state(resting.order, found)
        return resting.order.state.is_final

    async def _retire(self, market: Market, resting: Resting, report: LegReport) -> None:
        """Cancel a child that rests (unless it has ended already), and account what it
        filled."""
        if not resting.order.state.is_final:
            resting.order, resting.placed = await self._cancel(
                market, resting.order, resting.placed
            )
        self._account(resting, report)

    def _account(self, child: Resting, report: LegReport) -> None:
        """A child has reached its final state: its fills join the leg's."""
        placed = child.placed
        report.order_filled[placed.exchange_id] = placed.filled
        # The placing reply's time, not the last one's: a cancel reply is stamped with the
        # cancel (Binance's transactTime), after trades the leg's read must still find.
        stamps = [t for t in (child.placed_ms, placed.timestamp_ms) if t is not None]
        report.order_times.append(min(stamps) if stamps else None)
        report.filled += placed.filled
        report.cost += placed.cost
        report.children_filled += placed.filled > 0
        report.children_cancelled += placed.remaining > 0
        log.info(
            "child_done",
            leg=report.key,
            client_id=child.order.client_id,
            phase=child.child.phase.value,
            price=str(child.child.price),
            amount=str(child.child.amount),
            filled=str(placed.filled),
            status=child.order.state.value,
        )
        if self.progress is not None:
            self.progress(report)

    async def _wait(self, market: Market, live: Resting) -> None:
        """Let a resting child work for its life, then cancel what is left. The cancel reply
        carries the final state, so a child costs three requests (book, place, cancel). A
        `passive` leg re-pegs at each new child, placed at the touch of that moment."""
        policy = self.policy
        life = (
            policy.passive_timeout
            if policy.style is Style.PASSIVE_THEN_TAKE
            else policy.child_timeout
        )
        await self._sleep_unless_stopping(life)
        live.order, live.placed = await self._cancel(market, live.order, live.placed)

    async def _cancel(
        self, market: Market, order: ChildOrder, placed: OrderReport
    ) -> tuple[ChildOrder, OrderReport]:
        """Cancel a child and return its final state. "Already filled" is a normal answer. A child
        that is still open after the cancel is cancelled again: no new child is ever placed while
        an earlier one may still be live."""
        order = order.cancelling()
        self.recorder.child_state(order)
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            final = await self.gateway.cancel_order(
                market.symbol, placed.exchange_id, order.client_id
            )
            if final is None:  # unknown by its id: ask by our client id
                final = await self.gateway.fetch_order(market.symbol, order.client_id)
            if final is not None:
                order = order.reported(final)
                self.recorder.child_state(order, final)
                if order.state.is_final:
                    return order, final
            log.warning("cancel_not_final", client_id=order.client_id, attempt=attempt)
            await self.clock.sleep(1.0)
        raise AmbiguousOrder(
            f"{order.client_id} on {market.symbol} is still open after {CANCEL_ATTEMPTS} cancels"
        )

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        """Sleep in small steps so a stop request is seen within a second of clock time."""
        end = self.clock.time() + seconds
        while not self._stopping and self.clock.time() < end:
            await self.clock.sleep(min(1.0, end - self.clock.time()))

    async def _settle_fees(self, market: Market, report: LegReport) -> None:
        """Fills and fees from the exchange's own trade records for this leg's children. Trades
        that cannot all be read now leave the leg unsettled, with estimated fees: the next
        reconciliation reads them."""
        if report.filled <= 0:
            return
        since = since_ms(report.order_times, report.started)
        read = await read_fills(self.gateway, market, report.order_filled, since)
        self.recorder.fills(report.key, read.fills)
        report.fees_settled = read.complete
        report.fees_paid = dict(read.paid)
        report.fees = read.fees if read.complete else estimated_fees(market, report.cost)
        if not read.complete:
            log.warning("fees_estimated", leg=report.key, fills_read=len(read.fills))
