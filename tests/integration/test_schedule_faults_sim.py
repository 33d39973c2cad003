"""Adversarial tests of the `schedule` style's resting child (kept across steps, replaced in one
request, looked up when its level is gone) on the in-process simulator: faults on the replace
request, a fill at the moment of the replace, a stop or an outage while a child rests, partial
fills across kept steps, a buy's budget, the jump re-anchor; with the replace on and off.

Every test checks the money invariants on the simulator's own order log and a recorder spy (the
journal's view): one live child of a leg at a time, never more than the leg, report.filled equal
to the leg's trades, every child on record before it is sent and every transition legal."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from bot.domain.lifecycle import TRANSITIONS, ChildOrder, ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderReport, OrderRequest
from bot.domain.planner import Leg
from bot.domain.slicing import ExecutionPolicy, Phase, Style
from bot.exchange.gateway import Gateway
from bot.execution.executor import Executor, LegOutcome, LegReport
from bot.sim.account import OrderStatus
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.fills import FillSource
from tests.integration.test_executor_sim import (
    assert_one_live_order_at_a_time,
    leg,
    scenario,
    setup,
)

D = Decimal
KEY = "t-1-0"
SYMBOL = "BTC/USDT"
STEP = 10.0

# A busy tape and a 4 bps spread: the schedule rests, keeps, replaces (about a dozen
# cancel-replace requests a leg) and takes.
BUSY = {"trade_rate": 1.0, "trade_size": 0.3, "spread_bps": 4}


def policy(**over: Any) -> ExecutionPolicy:
    base: dict[str, Any] = {
        "style": Style.SCHEDULE,
        "child_timeout": STEP,
        "horizon": 300,
        "leg_deadline": 900,
        "risk_aversion": 0.0,
    }
    base.update(over)
    return ExecutionPolicy(**base)


# ---- the journal's view --------------------------------------------------------------------


@dataclass
class Spy:
    """A Recorder that keeps every call and checks each child's transitions as recorded."""

    intents: dict[str, OrderRequest] = field(default_factory=dict)
    phases: dict[str, Phase] = field(default_factory=dict)
    sent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    states: dict[str, list[ChildState]] = field(default_factory=lambda: defaultdict(list))
    filled: dict[str, Decimal] = field(default_factory=dict)
    fill_reports: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def child_intent(self, leg_key: str, request: OrderRequest, phase: Phase) -> None:
        if request.client_id in self.intents:
            self.problems.append(f"{request.client_id}: a second intent")
        self.intents[request.client_id] = request
        self.phases[request.client_id] = phase

    def child_sent(self, client_id: str, at: float) -> None:
        if client_id not in self.intents:
            self.problems.append(f"{client_id}: sent with no intent on record")
        self._step(client_id, ChildState.SENT)
        self.sent[client_id].append(at)

    def child_state(self, child: ChildOrder, report: OrderReport | None = None) -> None:
        self._step(child.client_id, child.state)
        self.filled[child.client_id] = child.filled

    def fills(self, leg_key: str, fills: list[Any]) -> None:
        self.fill_reports.extend(fills)

    def _step(self, client_id: str, state: ChildState) -> None:
        seen = self.states[client_id]
        prev = seen[-1] if seen else ChildState.INTENT
        if state not in TRANSITIONS[prev] and not (state is prev and prev.is_final):
            self.problems.append(f"{client_id}: {prev.value} -> {state.value}")
        seen.append(state)

    def last(self, client_id: str) -> ChildState | None:
        seen = self.states.get(client_id)
        return seen[-1] if seen else None


EXPECTED_STATE = {
    OrderStatus.CLOSED: ChildState.FILLED,
    OrderStatus.CANCELED: ChildState.CANCELLED,
    OrderStatus.EXPIRED: ChildState.EXPIRED,
}


# ---- running a leg -------------------------------------------------------------------------


@dataclass
class Run:
    ex: SimExchange
    gw: Gateway
    clock: VirtualClock
    executor: Executor
    spy: Spy
    leg: Leg
    replaces: list[str] = field(default_factory=list)  # what each replace request met


def prepare(
    spec: dict[str, Any], pol: ExecutionPolicy, the_leg: Leg, *, replace: bool = True
) -> Run:
    ex, gw, clock = setup(spec)
    if not replace:
        gw.can_replace = lambda: False  # type: ignore[method-assign]
    spy = Spy()
    return Run(ex, gw, clock, Executor(gw, pol, clock, recorder=spy), spy, the_leg)


async def go(run: Run, budget: Decimal | None = None) -> LegReport:
    await run.gw.load_markets()
    book = await run.gw.fetch_order_book(SYMBOL, 50)
    assert book.mid is not None
    return await run.executor.run_leg(run.leg, book.mid, KEY, budget=budget)


def leg_orders(ex: SimExchange) -> list[Any]:
    return [o for o in ex.engine.all_orders() if o.client_order_id.startswith(KEY + "c")]


def traded(ex: SimExchange) -> Decimal:
    return sum((t.amount for o in leg_orders(ex) for t in o.trades), D(0))


def check_money(run: Run, report: LegReport) -> None:
    """What must hold whatever happened: one live child at a time, never more than the leg,
    the report's fills the exchange's, every child on record before it was sent, and legal
    transitions only."""
    ex, spy = run.ex, run.spy
    assert not spy.problems, spy.problems
    orders = leg_orders(ex)
    ids = [o.client_order_id for o in orders]
    assert len(ids) == len(set(ids)), "a client id placed twice"
    assert_one_live_order_at_a_time(ex)
    for o in orders:
        assert o.client_order_id in spy.intents, f"{o.client_order_id}: not on record"
        assert spy.sent.get(o.client_order_id), f"{o.client_order_id}: placed, never 'sent'"
    assert traded(ex) <= run.leg.amount, "traded more than the leg"


def check_clean(run: Run, report: LegReport) -> None:
    """And for a leg that ended cleanly: nothing left open, every child's end on record and the
    exchange's, fills exact and fees settled."""
    check_money(run, report)
    ex, spy = run.ex, run.spy
    assert not ex.engine.open_orders(), [o.client_order_id for o in ex.engine.open_orders()]
    assert report.filled == traded(ex), (report.filled, traded(ex))
    assert sum(report.order_filled.values(), D(0)) == report.filled
    for o in leg_orders(ex):
        cid = o.client_order_id
        assert spy.last(cid) is EXPECTED_STATE[o.status], (cid, spy.states[cid], o.status)
        assert spy.filled[cid] == o.filled, (cid, spy.filled[cid], o.filled)
    for cid in spy.sent:  # a child sent and not on the exchange was refused or never arrived
        last = spy.last(cid)
        assert last is not None and last.is_final, (cid, spy.states[cid])
    if report.filled > 0:
        assert report.fees_settled
        assert sum((f.amount for f in spy.fill_reports), D(0)) == report.filled


# ---- faults on the replace request ---------------------------------------------------------

Fault = str  # what one replace request meets (see `inject_replace`)


def _old_order(ex: SimExchange, request: dict[str, Any]) -> Any:
    params = request.get("params") or {}
    return ex.engine.find(request.get("id"), params.get("origClientOrderId"), request["symbol"])


def fill_old(ex: SimExchange, request: dict[str, Any], share: Decimal) -> None:
    """A background trade fills `share` of the order the request replaces, now."""
    old = _old_order(ex, request)
    ex.engine.advance_to(ex.clock.time())
    if not old.is_open:
        return
    qty = ex.engine.markets[SYMBOL].round_amount(old.remaining * share) if share < 1 else None
    ex.engine._fill(old, qty or old.remaining, old.price, taker=False, source=FillSource.TRADE)


def inject_replace(run: Run, plan: dict[int, Fault]) -> None:
    """The n-th cancel-replace request (from 1) meets `plan[n]`:
    - network: a network error, not executed;
    - refused: a 429, not executed (Retry-After: 1);
    - unknown: Binance's -1007 "status unknown", not executed;
    - lost: executed, its reply lost (a timeout);
    - unknown_executed: executed, answered -1007;
    - internal_executed: executed, answered 500 -1001;
    - filled: the old order fills whole just before the request reaches the market;
    - partial: half of what the old order has left fills just before;
    - partial_lost, filled_lost: so, and the reply is lost."""
    ex = run.ex
    original = ex.cancel_replace

    async def faulty(request: dict[str, Any]) -> dict[str, Any]:
        n = len(run.replaces) + 1
        kind = plan.get(n, "ok")
        run.replaces.append(kind)
        if kind == "network":
            raise ccxt.NetworkError("sim cancel_replace: simulated network error")
        if kind == "refused":
            ex.last_response_headers = {"Retry-After": "1"}
            raise ccxt.DDoSProtection("sim 429 Too Many Requests: cancel_replace")
        if kind == "unknown":
            raise ccxt.RequestTimeout("sim cancel_replace: -1007 execution status unknown.")
        if kind == "filled":
            fill_old(ex, request, D(1))
        if kind in ("partial", "partial_lost"):
            fill_old(ex, request, D("0.5"))
        if kind == "filled_lost":
            fill_old(ex, request, D(1))
        if kind in ("lost", "unknown_executed", "internal_executed", "partial_lost", "filled_lost"):
            with contextlib.suppress(ccxt.BaseError):  # whatever it answered: never seen
                await original(request)
            if kind == "internal_executed":
                raise ccxt.OperationFailed("sim cancel_replace: -1001 Internal error")
            raise ccxt.RequestTimeout(f"sim cancel_replace: {kind}")
        return await original(request)

    ex.cancel_replace = faulty  # type: ignore[method-assign]


def on_book(run: Run, hook: Callable[[int], Awaitable[None] | None]) -> None:
    """`hook(n)` after the n-th order book the executor fetches (from 1; the setup's is 0)."""
    ex = run.ex
    original = ex.fetch_order_book
    count = [-1]

    async def spying(*args: Any, **kwargs: Any) -> Any:
        book = await original(*args, **kwargs)
        count[0] += 1
        result = hook(count[0])
        if result is not None:
            await result
        return book

    ex.fetch_order_book = spying  # type: ignore[method-assign]


def resting(ex: SimExchange) -> list[Any]:
    return [o for o in ex.engine.open_orders() if o.post_only]


# ---- 1 and 9: the baseline, both ways ------------------------------------------------------


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
async def test_clean_schedule_leg_keeps_every_invariant(replace: bool, side: Side) -> None:
    run = prepare(scenario(regime=BUSY), policy(), leg(side, "1"), replace=replace)
    report = await go(run)
    assert report.outcome is LegOutcome.DONE, report.reason
    assert report.filled == D(1)
    check_clean(run, report)
    calls = run.ex.calls
    if replace:
        assert calls["cancel_replace"] >= 5, dict(calls)
    else:
        assert calls["cancel_replace"] == 0, dict(calls)


# ---- 2: a buy's budget ---------------------------------------------------------------------


def watch_budget(run: Run, budget: Decimal) -> list[str]:
    """After every request that can place an order: the leg's spend so far plus what its open
    orders could still spend, fees at the higher rate, within the budget."""
    ex, problems = run.ex, []

    def committed() -> Decimal:
        fee = 1 + run.gw.markets[SYMBOL].max_fee
        spent = sum((t.amount * t.price for o in leg_orders(ex) for t in o.trades), D(0))
        open_ = sum((o.remaining * o.price for o in ex.engine.open_orders()), D(0))
        return (spent + open_) * fee

    for name in ("create_order", "cancel_replace", "fetch_order_book"):
        original = getattr(ex, name)

        def wrap(original: Any = original, name: str = name) -> Any:
            async def watched(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await original(*args, **kwargs)
                finally:
                    if committed() > budget:
                        problems.append(f"after {name} at {ex.clock.time()}: {committed()}")

            return watched

        setattr(ex, name, wrap())
    return problems


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
@pytest.mark.parametrize("faults", [{}, {"lost_create_reply": 0.2}], ids=["clean", "lost"])
async def test_a_buy_never_commits_more_than_its_budget(
    replace: bool, faults: dict[str, Any]
) -> None:
    budget = D(40000)  # about 0.42 BTC of a 1 BTC leg
    run = prepare(
        scenario(regime=BUSY, faults=faults), policy(), leg(Side.BUY, "1"), replace=replace
    )
    problems = watch_budget(run, budget)
    report = await go(run, budget=budget)
    assert report.outcome is LegOutcome.DONE, report.reason
    assert "budget spent" in report.reason
    check_clean(run, report)
    assert not problems, problems[:5]
    market = run.gw.markets[SYMBOL]
    spent = sum((t.amount * t.price for o in leg_orders(run.ex) for t in o.trades), D(0))
    assert spent * (1 + market.max_fee) <= budget
    assert spent > budget / 2  # it did spend it, resting and replacing on the way
    if replace:
        assert run.ex.calls["cancel_replace"] > 0


# ---- 3 and 4: faults on the replace request ------------------------------------------------

FAULTS = [
    "network",
    "refused",
    "unknown",
    "lost",
    "unknown_executed",
    "internal_executed",
    "filled",
    "partial",
    "filled_lost",
    "partial_lost",
]


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
async def test_a_fault_on_the_replace_loses_no_fill_and_duplicates_no_order(
    kind: Fault, side: Side
) -> None:
    run = prepare(scenario(regime=BUSY), policy(), leg(side, "1"))
    inject_replace(run, dict.fromkeys((1, 2, 4, 7), kind))
    report = await go(run)
    assert run.replaces[:2] == [kind, kind], run.replaces  # the faults did meet replaces
    assert report.outcome is LegOutcome.DONE, report.reason
    assert report.filled == D(1)
    check_clean(run, report)


async def test_a_child_filled_at_the_moment_of_its_replace_is_counted_once() -> None:
    """The resting child fills whole as the replace arrives: the cancel half fails (-2011), no
    new order is placed with it; the old child's fill is counted once and the step's child is
    then placed alone (a fresh client id)."""
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"))
    inject_replace(run, {1: "filled"})
    report = await go(run)
    check_clean(run, report)
    # The child the failed replace carried was refused, never placed; the one after it was.
    refused = [c for c in run.spy.sent if run.spy.last(c) is ChildState.REJECTED]
    assert refused, run.spy.states
    placed = {o.client_order_id for o in leg_orders(run.ex)}
    assert not set(refused) & placed
    old = [o for o in leg_orders(run.ex) if o.status is OrderStatus.CLOSED and o.post_only]
    assert old, "the resting child filled whole"
    assert report.filled == D(1)


# ---- 5: a stop while a child rests ---------------------------------------------------------


def stop_when_resting(run: Run, partial: bool, stopped: list[str]) -> Callable[[], None]:
    """Stop the executor once a child has rested a while (half of it filled first if
    `partial`)."""

    def maybe_stop() -> None:
        rest = resting(run.ex)
        if rest and not stopped and run.clock.time() - rest[0].timestamp / 1000 >= 3:
            if partial and rest[0].filled == 0:
                run.ex.engine._fill(
                    rest[0], rest[0].remaining / 2, rest[0].price, taker=False,
                    source=FillSource.TRADE,
                )  # fmt: skip
            stopped.append(rest[0].client_order_id)
            run.executor.stop()

    return maybe_stop


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
@pytest.mark.parametrize("partial", [False, True], ids=["unfilled", "part-filled"])
async def test_stop_while_a_child_rests_cancels_it_and_accounts_its_fills(
    replace: bool, partial: bool
) -> None:
    """The stop arrives while the executor sleeps out a step with a child resting (a signal,
    the control surface): the child is cancelled, its fills counted, no child placed after."""
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"), replace=replace)
    stopped: list[str] = []
    maybe_stop = stop_when_resting(run, partial, stopped)
    sleep = run.clock.sleep

    async def sleeping(seconds: float) -> None:
        await sleep(seconds)
        maybe_stop()

    run.clock.sleep = sleeping  # type: ignore[method-assign]
    report = await go(run)
    assert stopped, "no child ever rested"
    assert report.outcome is LegOutcome.HALTED
    assert report.reason == "stopping"
    check_clean(run, report)
    assert leg_orders(run.ex)[-1].client_order_id == stopped[0]  # none placed after the stop
    if partial:
        assert report.filled > 0


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_stop_during_a_book_fetch_with_a_child_resting_ends_clean(replace: bool) -> None:
    """The stop arrives while the step waits for its book: whatever the step then does, the leg
    ends HALTED with nothing open and every fill counted."""
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"), replace=replace)
    stopped: list[str] = []
    maybe_stop = stop_when_resting(run, True, stopped)
    on_book(run, lambda n: maybe_stop())
    report = await go(run)
    assert stopped
    assert report.outcome is LegOutcome.HALTED
    check_clean(run, report)
    assert report.filled > 0


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_no_child_is_placed_after_a_stop_during_a_book_fetch(replace: bool) -> None:
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"), replace=replace)
    stopped: list[str] = []
    maybe_stop = stop_when_resting(run, False, stopped)
    on_book(run, lambda n: maybe_stop())
    await go(run)
    assert stopped
    assert leg_orders(run.ex)[-1].client_order_id == stopped[0]


# ---- 6: an exception mid-leg ----------------------------------------------------------------


def check_journal_view(run: Run) -> None:
    """After a leg that failed: every order of the leg on the exchange is on record; one still
    open there is not final in the journal (reconciliation will look for it), and one the
    journal holds final is final there with the same fills. A child whose outcome the bot could
    not learn stays 'sent' or 'cancelling' (never guessed final)."""
    spy = run.spy
    on_exchange = {o.client_order_id: o for o in leg_orders(run.ex)}
    for cid, o in on_exchange.items():
        last = spy.last(cid)
        assert last is not None, cid
        if o.is_open:
            assert not last.is_final, (cid, spy.states[cid])
        elif last.is_final:
            assert last is EXPECTED_STATE[o.status], (cid, spy.states[cid], o.status)
            assert spy.filled[cid] == o.filled
    for cid in spy.sent:
        last = spy.last(cid)
        assert last is not None
        if cid not in on_exchange:  # never placed: refused, never arrived, or not known yet
            assert last in (ChildState.REJECTED, ChildState.NEVER_ARRIVED, ChildState.SENT), (
                cid, spy.states[cid],
            )  # fmt: skip


def exchange_down(ex: SimExchange, methods: tuple[str, ...]) -> None:
    for name in methods:

        async def down(*args: Any, name: str = name, **kwargs: Any) -> Any:
            ex.calls[name] += 1
            raise ccxt.ExchangeNotAvailable(f"sim {name}: 503 (simulated outage)")

        setattr(ex, name, down)


ALL = (
    "fetch_order_book",
    "create_order",
    "cancel_order",
    "fetch_order",
    "cancel_replace",
    "fetch_open_orders",
    "fetch_closed_orders",
    "fetch_orders",
    "fetch_my_trades",
)


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_exchange_down_while_a_child_rests_fails_the_leg_in_the_journals_view(
    replace: bool,
) -> None:
    """The exchange goes down for good after a child rests: the leg FAILS; the child left open
    on the exchange is the one the journal holds as not final, and it is the only one."""
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"), replace=replace)
    down: list[str] = []

    def hook(n: int) -> None:
        if n >= 4 and resting(run.ex) and not down:
            down.append(resting(run.ex)[0].client_order_id)
            exchange_down(run.ex, ALL)

    on_book(run, hook)
    report = await go(run)
    assert down
    assert report.outcome is LegOutcome.FAILED
    check_money(run, report)
    still_open = {o.client_order_id for o in run.ex.engine.open_orders()}
    assert still_open == set(down)
    check_journal_view(run)
    # What the report counts is what the finished children traded: no fill of them is lost.
    finished = sum((t.amount for o in leg_orders(run.ex) if not o.is_open for t in o.trades), D(0))
    assert report.filled == finished


@pytest.mark.parametrize("lookups", [("fetch_order",), ("fetch_order", "cancel_order")])
async def test_replace_reply_lost_and_lookups_down_leaves_one_order_in_the_journals_view(
    lookups: tuple[str, ...],
) -> None:
    """The replace executes but its reply is lost, and the order lookups then fail: the leg
    FAILS (AmbiguousOrder). What it leaves on the exchange (the new child) is the journal's
    'sent' child, and nothing else is live."""
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"))
    inject_replace(run, {1: "lost"})
    original = run.ex.cancel_replace

    async def then_down(request: dict[str, Any]) -> Any:
        try:
            return await original(request)
        finally:
            exchange_down(run.ex, lookups)

    run.ex.cancel_replace = then_down  # type: ignore[method-assign]
    report = await go(run)
    assert run.replaces == ["lost"]
    assert report.outcome is LegOutcome.FAILED, report.reason
    check_money(run, report)
    assert len(run.ex.engine.open_orders()) <= 1
    check_journal_view(run)


# ---- 7: partial fills across kept steps, then a take ---------------------------------------


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_partial_fills_across_kept_steps_then_a_take_add_up(replace: bool) -> None:
    """A quiet tape (children are kept), and a tenth of the resting child filled at each step
    it rests: the fills of a child kept over several steps, then replaced by a take, add up
    exactly."""
    calm = {"trade_rate": 0.05, "trade_size": 0.1, "spread_bps": 4, "volatility": 0.0}
    run = prepare(
        scenario(regime=calm), policy(patience=20.0), leg(Side.SELL, "1"), replace=replace
    )

    def hook(n: int) -> None:
        for o in resting(run.ex):
            qty = run.gw.markets[SYMBOL].round_amount(o.amount / 10)
            if 0 < qty < o.remaining:
                run.ex.engine._fill(o, qty, o.price, taker=False, source=FillSource.TRADE)

    on_book(run, hook)
    report = await go(run)
    assert report.outcome is LegOutcome.DONE, report.reason
    assert report.filled == D(1)
    check_clean(run, report)
    orders = leg_orders(run.ex)
    multi = [o for o in orders if o.post_only and len({t.timestamp for t in o.trades}) >= 3]
    assert multi, "no child filled in part over several kept steps"
    assert any(not o.post_only and o.filled > 0 for o in orders), "no take"


# ---- 8: the jump re-anchor -----------------------------------------------------------------


def jump_policy(**over: Any) -> ExecutionPolicy:
    base: dict[str, Any] = {
        "max_deviation_bps": D(150),
        "deviation_timeout": 120,
        "jump_settle": 30,
    }
    base.update(over)
    return policy(**base)


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_no_trade_in_the_settle_window_after_an_adverse_jump(
    replace: bool, side: Side
) -> None:
    at, settle = 25, 30
    size = 0.04 if side is Side.BUY else -0.04
    spec = scenario(
        regime=BUSY, events=[{"kind": "jump", "symbol": SYMBOL, "at": at, "size": size}]
    )
    run = prepare(spec, jump_policy(jump_settle=settle), leg(side, "1"), replace=replace)
    start = run.clock.time()
    report = await go(run)
    assert report.outcome is LegOutcome.DONE, report.reason
    check_clean(run, report)
    orders = leg_orders(run.ex)
    jump_ms = (start + at) * 1000
    window = (jump_ms, jump_ms + settle * 1000)
    placed = [o.client_order_id for o in orders if window[0] <= o.timestamp < window[1]]
    assert not placed, f"children placed in the settle window: {placed}"
    late = [
        (o.client_order_id, (t.timestamp - jump_ms) / 1000)
        for o in orders
        for t in o.trades
        if window[0] <= t.timestamp < window[1]
    ]
    assert not late, f"traded in the settle window: {late}"
    assert any(o.timestamp >= window[1] for o in orders)


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_a_crash_in_progress_still_gives_the_schedule_leg_up(replace: bool) -> None:
    events = [
        {"kind": "jump", "symbol": SYMBOL, "at": 25 + 20 * i, "size": 0.01} for i in range(12)
    ]
    run = prepare(
        scenario(regime=BUSY, events=events), jump_policy(), leg(Side.BUY, "1"), replace=replace
    )
    report = await go(run)
    assert report.outcome is LegOutcome.HALTED, report.reason
    assert "against the leg" in report.reason
    assert report.filled < D(1)
    check_clean(run, report)


# ---- everything at once: the scenario's own faults -------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_scenario_faults_on_every_request(seed: int, replace: bool) -> None:
    faults = {
        "network_error": 0.04,
        "request_timeout": 0.03,
        "backend_timeout": 0.03,
        "backend_timeout_executed": 0.5,
        "internal_error": 0.02,
        "internal_error_executed": 0.5,
        "invalid_timestamp": 0.02,
        "lost_create_reply": 0.1,
        "weight_per_minute": 120,
        "latency": 0.05,
    }
    side = Side.BUY if seed % 2 else Side.SELL
    run = prepare(
        scenario(seed=seed, regime=BUSY, faults=faults), policy(), leg(side, "1"), replace=replace
    )
    report = await go(run)
    check_money(run, report)
    assert report.outcome is LegOutcome.DONE, report.reason
    assert report.filled == D(1)
    check_clean(run, report)


async def test_a_climb_in_small_steps_is_a_fall_in_progress_not_a_new_level() -> None:
    events = [
        {"kind": "jump", "symbol": SYMBOL, "at": 25 + 35 * i, "size": 0.0045} for i in range(15)
    ]
    pol = policy(
        max_deviation_bps=D(150), deviation_timeout=300, jump_settle=60, horizon=900,
        leg_deadline=1800,
    )  # fmt: skip
    run = prepare(scenario(regime=BUSY, events=events), pol, leg(Side.BUY, "1"))
    start = run.clock.time()
    report = await go(run)
    check_clean(run, report)
    climbing = (start + 25) * 1000, (start + 25 + 35 * 14) * 1000
    arrival = D(95000)
    far = [
        (round(t.timestamp / 1000 - start), f"{(t.price / arrival - 1) * 100:.2f}%")
        for o in leg_orders(run.ex)
        for t in o.trades
        if climbing[0] <= t.timestamp < climbing[1] and t.price > arrival * D("1.03")
    ]
    # The leg goes on from a new level once: the climb, still going on, gets it given up, and
    # it bought nothing more than max_deviation_bps above the level it re-anchored at (at most
    # max_deviation_bps, a settle band and a step above arrival: 2.45%), so nothing above 3.95%.
    assert report.outcome is LegOutcome.HALTED, report.reason
    assert not [f for f in far if float(f[1][:-1]) > 3.95], f"bought high: {far[:5]}"


class FailingJournal(Spy):
    """A journal that fails (raises) at its `fail_at`-th child_state write."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at, self.writes = fail_at, 0

    def child_state(self, child: ChildOrder, report: OrderReport | None = None) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError("journal: disk full (simulated)")
        super().child_state(child, report)


@pytest.mark.parametrize("fail_at", [6, 12, 20, 27])
@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_a_journal_failure_mid_leg_leaves_nothing_live_it_does_not_know(
    fail_at: int, replace: bool
) -> None:
    """The journal fails at some write mid-leg (the daemon then stops): the error propagates;
    every order of the leg on the exchange had its intent and its send on record first, and
    at most one is still live."""
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"), replace=replace)
    journal = FailingJournal(fail_at)
    run.spy = journal
    run.executor.recorder = journal
    with pytest.raises(OSError, match="disk full"):
        await go(run)
    assert_one_live_order_at_a_time(run.ex)
    assert len(run.ex.engine.open_orders()) <= 1
    for o in leg_orders(run.ex):
        assert o.client_order_id in journal.intents
        assert journal.sent.get(o.client_order_id)
    assert traded(run.ex) <= run.leg.amount


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "cancel-then-place"])
async def test_a_journal_failure_while_a_filled_child_is_looked_up_propagates_as_itself(
    replace: bool,
) -> None:
    run = prepare(scenario(regime=BUSY), policy(), leg(Side.SELL, "1"), replace=replace)
    journal = FailingJournal(fail_at=0)
    run.spy = journal
    run.executor.recorder = journal
    fetch = run.gw.fetch_order

    async def armed(symbol: str, client_id: str) -> OrderReport | None:
        found = await fetch(symbol, client_id)
        if found is not None and found.status.is_final and journal.fail_at == 0:
            journal.fail_at = journal.writes + 1  # the write that records what was found
        return found

    run.gw.fetch_order = armed  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        await go(run)
    assert journal.fail_at > 0
    assert not run.ex.engine.open_orders()


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
async def test_an_outage_of_the_replace_endpoint_alone_still_completes_the_leg(side: Side) -> None:
    """cancel_replace answers 503 for two minutes (the rest works): each replace is a lost
    request, settled as never arrived, its old child read and cancelled; the leg completes."""
    faults = {"outages": [{"method": "cancel_replace", "start": 20, "end": 140}]}
    run = prepare(scenario(regime=BUSY, faults=faults), policy(), leg(side, "1"))
    report = await go(run)
    assert run.ex.faults.injected["outage"] >= 2
    assert report.outcome is LegOutcome.DONE, report.reason
    # All of it, or all but dust (below the 5 USDT minimum notional).
    assert report.filled == D(1) or "dust" in report.reason, report.reason
    assert D(1) - report.filled < D(5) / D(95000)
    check_clean(run, report)
    assert any(s[-1] is ChildState.NEVER_ARRIVED for s in run.spy.states.values())
