"""Perpetual futures at run time (`[derivatives]`): the margin guard first, then exposures.

At every poll, `Perps.after_poll` reads the positions, the futures wallet and the funding rates,
and judges the margin (`bot.domain.margin`). A breach is acted on before anything else is
traded: collateral moved from spot to the futures wallet where the venue allows it, then
reduce-only cuts, worked at once (marketable limits within the band) and journaled as a
rebalance of kind `delever`. Funding paid and received is journaled once per settlement. The
portfolio is then judged as net exposures (`bot.domain.exposure`): what decides a rebalance.

A rebalance (`Perps.plan`, called by the `Rebalancer`) splits each asset's change between spot
and its perpetual, moves the collateral the new positions need first, and returns the spot
targets for the spot planner and the perpetual legs: reduce-only legs run before the spot legs,
opening legs after them, each opening refused that would breach the margin limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bot.clock import Clock
from bot.domain.exposure import (
    Allocation,
    ExposurePolicy,
    PerpOrder,
    allocate,
    perp_orders,
    spot_targets,
    value_exposures,
)
from bot.domain.margin import (
    DeleverPlan,
    MarginLimits,
    delever,
    health,
    opening_allowed,
    realised_move,
)
from bot.domain.market import ONE, ZERO
from bot.domain.planner import Leg, Plan
from bot.domain.portfolio import PortfolioSpec, Valuation
from bot.domain.positions import (
    MarginMode,
    PositionMode,
)
from bot.domain.status import LegOutcome, RebalanceStatus
from bot.errors import GatewayError
from bot.exchange.gateway import Gateway
from bot.execution.executor import Executor
from bot.execution.reports import RebalanceReport
from bot.journal import Journal
from bot.metrics import Metrics
from bot.notify import Notifier
from bot.observability import get_logger
from bot.runtime.perps_view import (
    STATE_KEY,
    ExposurePlan,
    PerpsLook,
    exposure_valuation,
    mark_of,
    state,
)

log = get_logger("bot.perps")

DAY = 86_400.0
# Funding is read again this long after a settlement the rates announced (the exchange books it
# a little after the hour), and at least this often.
FUNDING_LAG = 120.0
FUNDING_EVERY = 3_600.0
# Collateral moved for new positions: what target_leverage needs, and this much more (fees and
# the mark moving while they open).
COLLATERAL_MARGIN = Decimal("0.05")
CENT = Decimal("0.01")  # transfers in the quote's cents


@dataclass
class Perps:
    """One account's perpetuals, beside its spot account (see the module docstring)."""

    gateway: Gateway  # the perpetuals' venue
    executor: Executor  # exposure legs, in the configured style
    urgent: Executor  # the guard's cuts: marketable limits within the band
    spot: Gateway  # the spot account: its free quote backs the transfers
    journal: Journal
    clock: Clock
    quote: str
    policy: ExposurePolicy
    limits: MarginLimits
    margin_mode: MarginMode
    position_mode: PositionMode
    transfer: bool  # move collateral from spot when the venue allows it
    mode: str  # where it trades (journaled with each rebalance)
    reserve: Decimal = ZERO  # of the quote on spot, never moved
    watch_every: float = 10.0  # seconds between margin checks while a rebalance works
    notifier: Notifier | None = None
    metrics: Metrics | None = None
    last: PerpsLook | None = None
    acted_at: float | None = None  # when the guard last moved collateral or cut a position
    _marks: dict[str, deque[tuple[float, Decimal]]] = field(default_factory=dict)
    _funding_at: float | None = None  # the next time funding is read
    _breached: bool = False
    _checked: bool = False

    @property
    def symbols(self) -> list[str]:
        return sorted(set(self.policy.perp_symbols.values()))

    async def start(self) -> str | None:
        """Markets loaded; the account's modes checked against the configuration. Returns why
        trading must not start (None: it may)."""
        if not self.gateway.markets:
            await self.gateway.load_markets()
        missing = [s for s in self.symbols if s not in self.gateway.markets]
        if missing:
            return f"derivatives: {', '.join(missing)} not listed by {self.gateway.id}"
        mode = await self.gateway.position_mode(self.symbols[0])
        if mode is not self.position_mode:
            return (
                f"derivatives: the account is in {mode.value} position mode, the configuration"
                f" says {self.position_mode.value}; change one (the bot never switches it)"
            )
        self._checked = True
        return None

    async def observe(self, spot: Valuation) -> PerpsLook:
        """Positions, the futures wallet, funding rates; margin health; exposures."""
        if not self.gateway.markets:
            await self.gateway.load_markets()
        positions = tuple(await self.gateway.fetch_positions(self.symbols))
        account = await self.gateway.fetch_futures_account(self.quote)
        rates = await self.gateway.fetch_funding_rates(self.symbols)
        now = self.clock.time()
        marks = {s: r.mark_price for s, r in rates.items()}
        marks.update({p.symbol: p.mark_price for p in positions})
        for symbol, mark in marks.items():
            seen = self._marks.setdefault(symbol, deque())
            seen.append((now, mark))
            while seen and seen[0][0] < now - DAY:
                seen.popleft()
        moves = {s: realised_move(list(m)) for s, m in self._marks.items()}
        values = {p.asset: p.value for p in spot.positions}
        view = value_exposures(values, positions, account, self.quote)
        judged = health(positions, account, moves, self.limits)
        look = PerpsLook(
            spot,
            positions,
            account,
            rates,
            moves,
            view,
            judged,
            exposure_valuation(spot, view),
        )
        self.last = look
        self.journal.set_meta(STATE_KEY, json.dumps(state(look, now), sort_keys=True))
        if self.metrics is not None:
            self.metrics.observe_margin(judged, view, account)
        return look

    async def after_poll(self, spot: Valuation) -> tuple[Valuation, str | None]:
        """The margin guard, then funding: returns the exposures' valuation and why the bot
        must halt (None: it need not)."""
        if not self._checked:
            refusal = await self.start()
            if refusal is not None:
                return spot, refusal
        look = await self.observe(spot)
        mismatch = [p for p in look.positions if p.margin_mode is not self.margin_mode]
        if mismatch:
            which = ", ".join(sorted({f"{p.symbol} in {p.margin_mode.value}" for p in mismatch}))
            return look.valuation, (
                f"derivatives: {which} margin, the configuration says"
                f" {self.margin_mode.value}; change one (the bot never switches it)"
            )
        if await self.guard(look):
            look = await self.observe(spot)  # what the guard left; spot is read at the next poll
        await self.read_funding(look)
        exposures = look.valuation
        log.info(  # what decides a rebalance (the `poll` line before it shows spot alone)
            "exposures",
            equity=f"{exposures.total:.2f}",
            out_of_band=[p.asset for p in exposures.out_of_band],
            leverage=f"{look.view.leverage:.2f}",
            futures_leverage=f"{look.view.futures_leverage:.2f}",
        )
        return exposures, None

    async def guard(self, look: PerpsLook) -> bool:
        """Act on a breach before anything else: returns whether it moved or cut anything."""
        if look.health.ok:
            if self._breached:
                self._breached = False
                self.journal.record_margin_event("clear", "", {"leverage": look.health.leverage})
                log.info("margin_clear", leverage=str(look.health.leverage))
            return False
        reasons = [b.describe() for b in look.health.breaches]
        log.warning("margin_breach", breaches=reasons)
        self.journal.record_margin_event("breach", "", {"breaches": reasons})
        if not self._breached and self.notifier is not None:
            await self.notifier.error("margin", "margin guard: " + "; ".join(reasons))
        self._breached = True
        free = await self._spot_free()
        plan = delever(
            look.health,
            list(look.positions),
            look.account,
            self.gateway.markets,
            self.limits,
            free,
            self.transfer and self.gateway.can_transfer,
        )
        acted = await self._act(plan, look)
        if acted:
            self.acted_at = self.clock.time()
        return acted

    async def _act(self, plan: DeleverPlan, look: PerpsLook) -> bool:
        acted = False
        if plan.transfer > 0:
            # Up to the cent, within what spot has free (the plan capped it there already).
            amount = min(plan.transfer.quantize(CENT, ROUND_CEILING), await self._spot_free())
            amount = amount.quantize(CENT, ROUND_FLOOR)
            try:
                await self.gateway.transfer_collateral(self.quote, amount, to_futures=True)
                acted = True
                self.journal.record_margin_event("transfer", "", {"amount": str(amount)})
                log.warning("margin_transfer", amount=str(amount), asset=self.quote)
                if self.metrics is not None:
                    self.metrics.margin_action("transfer")
            except GatewayError as exc:  # cut instead: the positions must not wait
                log.error("margin_transfer_failed", error=str(exc))
                plan = delever(
                    look.health,
                    list(look.positions),
                    look.account,
                    self.gateway.markets,
                    self.limits,
                    ZERO,
                    False,
                )
        for top in plan.top_ups:
            await self.gateway.add_margin(top.symbol, top.amount, top.side)
            self.journal.record_margin_event(
                "transfer", top.symbol, {"add_margin": str(top.amount)}
            )
        if plan.orders:
            legs = [self._leg(o, look) for o in plan.orders]
            report = await self.run_alone(legs, look, "delever", "; ".join(plan.reasons))
            for leg in report.legs:
                self.journal.record_margin_event(
                    "reduce", leg.symbol, {"side": leg.side.value, "filled": str(leg.filled)}
                )
            cut = [leg for leg in report.legs if leg.filled > 0]
            if cut and self.metrics is not None:
                self.metrics.margin_action("reduce")
            if cut and self.notifier is not None:
                what = ", ".join(f"{leg.side.value} {leg.filled} {leg.symbol}" for leg in cut)
                await self.notifier.error("margin", f"margin guard cut: {what}")
            acted = acted or bool(cut)
        return acted

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """While a rebalance works its legs (the daemon does not poll then), the margin is
        checked every `watch_every` seconds all the same: on a breach the rebalance's perpetual
        legs stop (an opening leg must not add to the risk) and the guard acts at once."""
        stopped = False

        async def watch() -> None:
            nonlocal stopped
            while True:
                await self.clock.sleep(self.watch_every)
                if self.last is None:
                    continue
                try:
                    look = await self.observe(self.last.spot)
                    if look.health.ok:
                        continue
                    stopped = True
                    self.executor.stop("margin guard: " + look.health.breaches[0].describe())
                    await self.guard(look)
                except GatewayError as exc:  # the next look tries again
                    log.warning("margin_watch_failed", error=str(exc))

        task = asyncio.ensure_future(watch())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if stopped:
                self.executor.resume()

    async def read_funding(self, look: PerpsLook) -> None:
        """Funding settled since the last read, journaled once each (by the exchange's id)."""
        now = self.clock.time()
        if self._funding_at is not None and now < self._funding_at:
            return
        since = self.journal.last_funding_ms()
        since_ms = int((now - 7 * DAY) * 1000) if since is None else since
        try:
            payments = await self.gateway.fetch_funding_payments(since_ms)
        except GatewayError as exc:
            log.warning("funding_unread", error=str(exc))
            return
        new = self.journal.record_funding(payments)
        if new:
            total = sum((p.amount for p in payments), ZERO)
            log.info("funding", payments=new, total=str(total))
            if self.metrics is not None:
                self.metrics.funding(payments[-new:])
        upcoming = [r.next_funding / 1000 for r in look.rates.values() if r.next_funding]
        nearest = min(upcoming, default=now + FUNDING_EVERY) + FUNDING_LAG
        self._funding_at = min(nearest, now + FUNDING_EVERY)

    async def _spot_free(self) -> Decimal:
        balances = await self.spot.fetch_balances()
        return max(ZERO, balances.free.get(self.quote, ZERO) - self.reserve)

    # ---- a rebalance's share --------------------------------------------------------------

    async def plan(
        self,
        spot: Valuation,
        portfolio: PortfolioSpec,
        respot: Callable[[], Awaitable[Valuation]],
    ) -> ExposurePlan:
        """The split of every asset's change, with the collateral the new positions need moved
        first (then the spot account is read again, `respot`): spot targets for the spot
        planner and the perpetual legs, reducing ones apart from opening ones."""
        look = await self.observe(spot)
        allocation = allocate(look.view, portfolio.targets, self.policy, look.rates)
        moved = await self._collateral(look, allocation)
        if moved:
            spot = await respot()
            look = await self.observe(spot)
            allocation = allocate(look.view, portfolio.targets, self.policy, look.rates)
        reducing: list[Leg] = []
        opening: list[Leg] = []
        held: list[str] = [f"{c.asset}: {c.why}" for c in allocation.clipped]
        desired = allocation.perp_bases()
        for symbol in self.symbols:
            market = self.gateway.markets[symbol]
            mine = [p for p in look.positions if p.symbol == symbol]
            want = desired.get(symbol, ZERO)
            rate = look.rates.get(symbol)
            mark = rate.mark_price if rate is not None else None
            if mark is None and mine:
                mark = mine[0].mark_price
            if mark is None:
                continue
            why = opening_allowed(
                symbol, want, list(look.positions), look.account, market, mark, look.moves,
                self.limits,
            )  # fmt: skip
            if why:
                held.append(f"{symbol}: opening held back: {'; '.join(why)}")
                log.warning("perp_opening_held_back", symbol=symbol, why=why)
            for order in perp_orders(mine, want, self.position_mode, market, mark):
                if order.reduce_only:
                    reducing.append(self._leg(order, look, mark))
                elif not why:
                    opening.append(self._leg(order, look, mark))
        targets = spot_targets(allocation, spot.total)
        return ExposurePlan(
            allocation, targets, tuple(reducing), tuple(opening), tuple(held), look.valuation
        )

    async def _collateral(self, look: PerpsLook, allocation: Allocation) -> bool:
        """Move to the futures wallet what the wanted positions (as they were before the
        leverage cap clipped them to the collateral there now) need at target_leverage, and a
        margin, from the spot account's free quote. Whether anything moved."""
        wanted = {a.asset: a.perp for a in allocation.assets}
        for clip in allocation.clipped:
            if clip.perp:
                wanted[clip.asset] = clip.wanted
        need = sum((abs(v) for v in wanted.values()), ZERO) / self.limits.target_leverage
        short = need * (ONE + COLLATERAL_MARGIN) - look.account.equity
        if short <= 0 or not (self.transfer and self.gateway.can_transfer):
            return False
        amount = min(short, await self._spot_free()).quantize(CENT, ROUND_FLOOR)
        if amount <= 0:
            return False
        await self.gateway.transfer_collateral(self.quote, amount, to_futures=True)
        self.journal.record_margin_event("transfer", "", {"amount": str(amount), "for": "open"})
        log.info("collateral_transfer", amount=str(amount), asset=self.quote)
        return True

    def _leg(self, order: PerpOrder, look: PerpsLook, mark: Decimal | None = None) -> Leg:
        market = self.gateway.markets[order.symbol]
        price = mark or mark_of(order.symbol, look)
        notional = order.amount * market.contract_size * price
        return Leg(
            symbol=order.symbol,
            side=order.side,
            amount=order.amount,
            price=price,
            notional=notional,
            value=notional,
            spends=self.quote,
            receives=self.quote,
            est_cost_bps=market.taker_fee * 10_000,
            est_cost=notional * market.taker_fee,
            take_now_bps=None,
            reduce_only=order.reduce_only,
            position_side=order.position_side,
        )

    async def run_legs(
        self,
        legs: Sequence[Leg],
        report: RebalanceReport,
        prefix: str,
        first_seq: int,
        executor: Executor | None = None,
    ) -> None:
        """Work `legs` one after another (a reduce-only leg never waits on another's fills),
        journaled under `report`'s rebalance; their reports appended to it."""
        rid = report.rebalance_id
        assert rid is not None
        ids = self.gateway.profile.client_id
        for i, leg in enumerate(legs):
            if (executor or self.executor).stopping:
                return
            seq = first_seq + i
            key = ids.leg_key(prefix, seq)
            book = await self.gateway.fetch_order_book(leg.symbol, 5)
            arrival = book.mid or leg.price
            self.journal.start_leg(
                key, rid, seq, leg.symbol, leg.side, leg.amount, arrival, leg.value
            )
            result = await (executor or self.executor).run_leg(leg, arrival, key)
            report.legs.append(result)
            self.journal.finish_leg(
                result.key,
                result.outcome,
                result.reason,
                result.filled,
                result.cost,
                result.fees,
                report.leg_value(result),
                fees_settled=result.fees_settled,
            )
            if result.outcome is not LegOutcome.DONE and report.status is RebalanceStatus.DONE:
                report.status = RebalanceStatus.HALTED
                report.reason = f"{result.symbol}: {result.reason}"

    async def run_alone(
        self, legs: Sequence[Leg], look: PerpsLook, kind: str, reason: str
    ) -> RebalanceReport:
        """The guard's cuts as a rebalance of their own (kind `delever`), journaled."""
        started = self.clock.time()
        plan = Plan(look.valuation, tuple(legs), (), {})
        rid = self.journal.start_rebalance(self.mode, look.valuation.total, plan.est_cost)
        report = RebalanceReport(rid, RebalanceStatus.DONE, reason, plan, started)
        report.kind = kind
        tag = self.journal.get_meta("instance_tag") or "rb"
        ids = self.gateway.profile.client_id
        prefix = ids.rebalance_prefix(tag, rid, f"{int(started) % 65536:04x}")
        log.warning("delever_started", id=rid, legs=len(legs), reason=reason)
        try:
            await self.run_legs(legs, report, prefix, 0, self.urgent)
        finally:
            report.finished = self.clock.time()
            self.journal.finish_rebalance(rid, report.status, report.reason, report.to_dict())
        return report
