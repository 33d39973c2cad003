"""Reconciliation: make the journal and the exchange agree before anything is placed. It runs at
start-up and at every poll (and before every rebalance); with nothing to settle it costs no
request.

Every order whose life is not over in the journal (`bot.domain.lifecycle`) is asked about by its
client id (the identity the bot chose before sending):
- found final: its final state is recorded;
- found live: cancelled, or adopted (left to work for one child timeout, then cancelled), per
  `journal.on_restart`;
- not found: an intent never sent never arrived; a request sent is "never arrived" only once the
  exchange can no longer accept it (its receive window, from the real send, has passed) or, on an
  exchange without one, once its open and recent orders were listed without it. Until then it is
  unconfirmed: asked again at the next poll, and nothing is traded meanwhile.
Then the fills the journal misses are read and recorded (a failed trade query, a crash), the fees
of legs that were estimates are settled, and interrupted rebalances are closed as `interrupted`.
The next rebalance plans afresh from the real balances, with new client ids: nothing is placed
twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.clock import Clock
from bot.domain.lifecycle import ChildOrder, ChildState
from bot.domain.orders import OrderReport
from bot.exchange.gateway import Gateway
from bot.execution.fills import read_fills, since_ms, value_fees
from bot.execution.reports import with_recorded_fees
from bot.journal import Journal
from bot.journal_rows import JournalOrder
from bot.observability import get_logger

log = get_logger("bot.reconcile")


@dataclass
class ReconcileReport:
    checked: int = 0
    never_arrived: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    fills_recorded: int = 0
    # Sent, not found, and the exchange may still accept them: asked again at the next poll,
    # and nothing is traded meanwhile.
    unconfirmed: list[str] = field(default_factory=list)
    fees_settled: list[str] = field(default_factory=list)  # legs whose fees are now recorded
    interrupted_rebalances: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.checked or self.interrupted_rebalances)

    @property
    def all_known(self) -> bool:
        """Every order the journal knows of has a known fate: trading may go on."""
        return not self.unconfirmed


async def reconcile(
    gateway: Gateway,
    journal: Journal,
    clock: Clock,
    *,
    adopt: bool = False,
    adopt_for: float = 10.0,
    markets: Callable[[str], bool] = lambda symbol: True,
) -> ReconcileReport:
    """`markets`: which of the journal's markets this gateway answers for (the spot account's,
    or the perpetuals'); the others' orders are left to the other gateway's reconciliation."""
    report = ReconcileReport()
    interrupted = journal.interrupted()
    unsettled = [o for o in journal.unsettled_orders() if markets(o.symbol)]
    if not (
        unsettled
        or interrupted
        or journal.orders_missing_fills()
        or journal.legs_with_estimated_fees()
    ):
        return report
    if not gateway.markets:
        await gateway.load_markets()
    log.info("reconcile_started", orders=len(unsettled), rebalances=len(interrupted))
    still_open: list[tuple[ChildOrder, OrderReport]] = []
    for order in unsettled:
        report.checked += 1
        child = order.child()
        found = await gateway.fetch_order(order.symbol, order.client_id)
        if found is None:
            proven = gateway.receive_window is None and await gateway.proven_absent(
                order.symbol, order.client_id
            )
            child = child.absent(clock.time(), gateway.receive_window, proven=proven)
            if child.state is ChildState.NEVER_ARRIVED:
                journal.child_state(child)
                report.never_arrived.append(order.client_id)
            else:  # sent, not found, and the exchange may still accept it: ask again later
                report.unconfirmed.append(order.client_id)
            continue
        child = child.reported(found)
        journal.child_state(child, found)
        if child.state.is_final:
            report.settled.append(order.client_id)
        else:
            still_open.append((child, found))
    if still_open and adopt:
        report.adopted = [c.client_id for c, _ in still_open]
        log.info("orders_adopted", client_ids=report.adopted, for_s=adopt_for)
        await clock.sleep(adopt_for)
    for child, live in still_open:
        child = child.cancelling()
        journal.child_state(child)
        final = await gateway.cancel_order(live.symbol, live.exchange_id, child.client_id)
        if final is None:
            final = await gateway.fetch_order(live.symbol, child.client_id)
        if final is not None:
            journal.child_state(child.reported(final), final)
        if not adopt:
            report.cancelled.append(child.client_id)
    report.fills_recorded = await _missed_fills(gateway, journal)
    report.fees_settled = await _settle_fees(gateway, journal)
    for row in interrupted:
        journal.mark_interrupted(row.id, "the bot stopped mid-rebalance; reconciled at start-up")
        report.interrupted_rebalances.append(row.id)
    log.info(
        "reconcile_finished",
        checked=report.checked,
        never_arrived=len(report.never_arrived),
        cancelled=len(report.cancelled),
        adopted=len(report.adopted),
        fills_recorded=report.fills_recorded,
        interrupted=report.interrupted_rebalances,
    )
    return report


async def _missed_fills(gateway: Gateway, journal: Journal) -> int:
    """Record the trades of every journal order whose recorded fills fall short of its filled
    amount: the leg's trade query failed (an outage, a maintenance window), or the process died
    before it ran. Read from the orders' times on the exchange's clock, page after page."""
    short: dict[str, list[JournalOrder]] = {}
    for o in journal.orders_missing_fills():
        short.setdefault(o.symbol, []).append(o)
    known = journal.fill_ids()
    recorded = 0
    for symbol, orders in sorted(short.items()):
        market = gateway.markets.get(symbol)
        if market is None:
            continue
        ours = {o.exchange_id or "": o for o in orders}
        since = since_ms([o.exchange_ts for o in orders], min(o.created_at for o in orders))
        read = await read_fills(gateway, market, {k: o.filled for k, o in ours.items()}, since)
        for t in read.fills:
            if (t.trade_id, t.symbol) not in known:
                order = ours[t.exchange_order_id]
                journal.fills(order.leg_key, [replace(t, client_id=order.client_id)])
                recorded += 1
    return recorded


async def _settle_fees(gateway: Gateway, journal: Journal) -> list[str]:
    """Legs whose fees were an estimate and whose trades are now all recorded: their fees become
    the recorded ones, and their rebalance's summary says so."""
    incomplete = {o.leg_key for o in journal.orders_missing_fills()}
    settled: list[str] = []
    rebalances: set[int] = set()
    for leg in journal.legs_with_estimated_fees():
        market = gateway.markets.get(leg.symbol)
        if leg.key in incomplete or market is None:
            continue
        fees, _ = await value_fees(gateway, market, journal.leg_fills(leg.key))
        journal.settle_leg_fees(leg.key, fees)
        settled.append(leg.key)
        rebalances.add(leg.rebalance_id)
    for rid in sorted(rebalances):
        row = journal.rebalance(rid)
        if row is not None and row.report:
            journal.replace_report(rid, with_recorded_fees(row.report, journal.legs_of(rid)))
    if settled:
        log.info("fees_settled", legs=settled)
    return settled
