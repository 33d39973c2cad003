"""One rebalance, end to end: snapshot -> plan -> execute every leg -> snapshot -> report.

Each rebalance, leg and child order is journaled as it happens; client order ids are built from
the journal's ids and the instance tag, so they never repeat, across restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from bot.clock import Clock
from bot.domain.glide import GlideLimits
from bot.domain.market import ZERO, Side
from bot.domain.planner import Leg, Plan, PlannerPolicy
from bot.domain.portfolio import PortfolioSpec, Valuation, relevant_symbols
from bot.domain.prices import PriceCheck, PriceLimits, review
from bot.domain.status import LegOutcome, RebalanceStatus, SnapshotKind
from bot.errors import UntrustedPrice
from bot.exchange.gateway import Gateway
from bot.execution.executor import Executor
from bot.execution.reports import RebalanceReport
from bot.journal import Journal
from bot.observability import get_logger
from bot.runtime.glide import glide_inputs, plan_gliding, record_path
from bot.runtime.perps import Perps
from bot.runtime.perps_view import ExposurePlan
from bot.runtime.planning import plan_from_snapshot, raise_from_snapshot, value_snapshot
from bot.settings import Mode
from bot.snapshot import Snapshot

log = get_logger("bot.rebalance")


async def take_snapshot(
    gateway: Gateway,
    managed: Iterable[str],
    quote: str,
    clock: Clock,
    *,
    book_depth: int | None = None,
) -> Snapshot:
    """Balances, markets and the books of every market a plan between the `managed` assets may
    use, `book_depth` levels deep. Without `book_depth`, the best bid and ask of each from one
    tickers request: enough to value the portfolio (a poll)."""
    if not gateway.markets:
        await gateway.load_markets()
    balances = await gateway.fetch_balances()
    symbols = relevant_symbols(gateway.markets, set(managed), quote)
    if book_depth is not None:
        books = await gateway.fetch_order_books(symbols, book_depth)
    else:
        books = await gateway.fetch_tops(symbols)
    taken_at = datetime.fromtimestamp(clock.time(), UTC).isoformat(timespec="seconds")
    markets = {s: gateway.markets[s] for s in symbols}
    # Totals, free and locked: an order resting on the exchange (one a crash left, say) is still
    # the account's, so it is valued, and never traded twice.
    held = {a: balances.total(a) for a in set(balances.free) | set(balances.used)}
    return Snapshot(held, markets, books, taken_at)


def instance_tag(journal: Journal, prefix: str = "rb") -> str:
    """A short tag, fixed for the life of the journal, that starts every client order id."""
    tag = journal.get_meta("instance_tag")
    if tag is None:
        tag = f"{prefix}{secrets.token_hex(2)}"
        journal.set_meta("instance_tag", tag)
    return tag


@dataclass
class Rebalancer:
    """One account's rebalances: its snapshots, plans and legs, journaled.

    `mode`: where it trades (sim, paper, testnet, live), as the journal records it."""

    gateway: Gateway
    clock: Clock
    journal: Journal
    executor: Executor
    portfolio: PortfolioSpec
    planner: PlannerPolicy
    book_depth: int
    mode: Mode
    # The price checks (`bot.domain.prices`) and what they carry from one look to the next; with
    # no limits, prices are taken as the exchange shows them.
    prices: PriceLimits | None = None
    price_check: PriceCheck = field(default_factory=PriceCheck)
    glide: GlideLimits | None = None  # daily caps that spread a large change over days
    # `rebalance-bot raise AMOUNT ASSET --execute`: the next run plans the sells that free this
    # (asset, amount) instead of a rebalance, journaled as a rebalance of kind "raise".
    raising: tuple[str, Decimal] | None = None
    # [derivatives]: targets are net exposures; the perpetuals' share of each rebalance.
    perps: Perps | None = None

    async def snapshot(self, *, depth: bool = True) -> Snapshot:
        """With `depth`, the order books a plan needs; without, a poll's tickers."""
        return await take_snapshot(
            self.gateway,
            self.portfolio.managed,
            self.portfolio.quote,
            self.clock,
            book_depth=self.book_depth if depth else None,
        )

    async def symbols(self) -> list[str]:
        """The markets a plan between the managed assets may use."""
        if not self.gateway.markets:
            await self.gateway.load_markets()
        managed = set(self.portfolio.managed)
        return sorted(relevant_symbols(self.gateway.markets, managed, self.portfolio.quote))

    def value(self, snapshot: Snapshot) -> Valuation:
        return value_snapshot(self.portfolio, snapshot)

    def checked(self, snap: Snapshot, *, depth: bool) -> tuple[Snapshot, str | None]:
        """`snap` with only the books whose prices pass the checks, and why its prices do not
        yet agree with the look before (None: they do; the first look after a start never
        does). Raises UntrustedPrice, naming each asset and why, when a managed asset has no
        price that passes them."""
        if self.prices is None:
            return snap, None
        looked = review(
            self.price_check,
            quote=self.portfolio.quote,
            managed=self.portfolio.managed,
            markets=snap.markets,
            books=snap.books,
            now=self.clock.time(),
            limits=self.prices,
            kind="book" if depth else "top",
        )
        self.price_check = looked.check
        if looked.refused:
            log.warning("prices_refused", refused=dict(looked.refused))
        if looked.waiting:
            raise UntrustedPrice(looked.reason or "")
        return replace(snap, books=looked.books), looked.unconfirmed

    async def run(
        self, veto: Callable[[Plan], str | None] | None = None, *, scheduled: bool = False
    ) -> RebalanceReport:
        """Plan from a fresh snapshot and execute it. `veto` may refuse the plan (risk limits);
        `scheduled`: a periodic rebalance, to target even inside the bands."""
        clock, journal, executor = self.clock, self.journal, self.executor
        started = clock.time()
        snap, unconfirmed = self.checked(await self.snapshot(), depth=True)
        if unconfirmed is not None:  # the books disagree with the poll before them
            raise UntrustedPrice(f"the order books against the poll: {unconfirmed}")
        path = None
        exposure: ExposurePlan | None = None
        if self.perps is not None:

            async def respot() -> Valuation:  # after collateral moved to the futures wallet
                nonlocal snap
                snap, _ = self.checked(await self.snapshot(), depth=True)
                return self.value(snap)

            exposure = await self.perps.plan(self.value(snap), self.portfolio, respot)
            portfolio = replace(self.portfolio, targets=exposure.spot_targets)
            plan = plan_from_snapshot(portfolio, self.planner, snap, force=True)
            plan = replace(plan, valuation=exposure.valuation)  # judged, reported as exposures
        elif self.raising is not None:
            plan = raise_from_snapshot(self.portfolio, self.planner, snap, *self.raising).plan
        elif self.glide is None:
            plan = plan_from_snapshot(self.portfolio, self.planner, snap, force=scheduled)
        else:
            inputs = await glide_inputs(
                self.gateway, journal, self.glide, sorted(snap.markets), started
            )
            plan, path = plan_gliding(
                self.portfolio, self.planner, snap, self.glide, *inputs, force=scheduled
            )
            record_path(journal, path, started)
        perp_legs = () if exposure is None else exposure.reducing + exposure.opening
        if exposure is not None and not plan.legs and not perp_legs:
            reason = "; ".join(exposure.held_back) or "every exposure inside its band"
            return RebalanceReport(
                None, RebalanceStatus.NOTHING, reason, plan, started, clock.time()
            )
        if not plan.legs and not perp_legs:
            reason = (
                "every asset inside its band"
                if not plan.valuation.needs_rebalance
                else "; ".join(plan.notes) or "dust only"  # buy-only with no cash, say
            )
            if self.raising is not None:
                reason = "nothing to sell: {1:f} {0} is free with every asset in band".format(
                    *self.raising
                )
            if path is not None and path.gliding and plan.valuation.needs_rebalance:
                reason = path.reason()  # the day's allowance spent: the bot waits
            return RebalanceReport(
                None, RebalanceStatus.NOTHING, reason, plan, started, clock.time()
            )
        refused = veto(replace(plan, legs=plan.legs + perp_legs)) if veto else None
        if refused is not None:
            log.warning("plan_refused", reason=refused)
            return RebalanceReport(
                None, RebalanceStatus.REFUSED, refused, plan, started, clock.time()
            )

        rid = journal.start_rebalance(self.mode.value, plan.valuation.total, plan.est_cost)
        journal.snapshot(SnapshotKind.BEFORE, plan.valuation.total, plan.valuation.weights)
        report = RebalanceReport(rid, RebalanceStatus.DONE, "", plan, started)
        if self.raising is not None:
            report.kind, report.reason = "raise", "raise {1:f} {0}".format(*self.raising)
        tag = instance_tag(journal)
        log.info(
            "rebalance_started",
            id=rid,
            legs=len(plan.legs) + len(perp_legs),
            value=f"{plan.valuation.total:.2f}",
            est_cost_bps=f"{plan.est_cost_bps:.1f}",
        )
        seqs = {id(leg): i for i, leg in enumerate(plan.legs)}
        # A fresh nonce per rebalance: client ids stay unique even if the journal is restored from
        # a backup and its rebalance ids start again.
        ids = self.gateway.profile.client_id
        prefix = ids.rebalance_prefix(tag, rid, secrets.token_hex(2))
        start: Mapping[str, Decimal] | None = None  # free balances before the first wave
        # With perpetuals, the margin is watched while the legs work (`Perps.watching`).
        watch = contextlib.AsyncExitStack()
        if self.perps is not None:
            await watch.enter_async_context(self.perps.watching())
        try:
            if self.perps is not None and exposure is not None:  # cuts first: nothing waits
                await self.perps.run_legs(exposure.reducing, report, prefix, len(plan.legs))
            for wave in waves(plan.legs):
                # Legs in one wave spend assets no pending leg delivers: they run side by side,
                # each buy with its share of what is free now (the quote reserve excepted).
                fitted, budgets, start = await _fit_wave(self.gateway, wave, self.portfolio, start)
                tasks = []
                for original, leg, budget in zip(wave, fitted, budgets, strict=True):
                    seq = seqs[id(original)]
                    key = ids.leg_key(prefix, seq)
                    arrival = snap.books[leg.symbol].mid
                    assert arrival is not None
                    journal.start_leg(
                        key, rid, seq, leg.symbol, leg.side, leg.amount, arrival, leg.value
                    )
                    tasks.append(executor.run_leg(leg, arrival, key, budget))
                results = await asyncio.gather(*tasks, return_exceptions=True)
                failure: BaseException | None = None
                for result in results:
                    if isinstance(result, BaseException):
                        failure = failure or result
                        continue
                    report.legs.append(result)
                    journal.finish_leg(
                        result.key,
                        result.outcome,
                        result.reason,
                        result.filled,
                        result.cost,
                        result.fees,
                        report.leg_value(result),
                        fees_settled=result.fees_settled,
                    )
                    if executor.stopping and report.status is RebalanceStatus.DONE:
                        report.status = RebalanceStatus.STOPPED
                        report.reason = executor.stop_reason
                    elif (
                        result.outcome is not LegOutcome.DONE
                        and report.status is RebalanceStatus.DONE
                    ):
                        report.status = (
                            RebalanceStatus.HALTED
                            if result.outcome is LegOutcome.HALTED
                            else RebalanceStatus.FAILED
                        )
                        report.reason = f"{result.symbol}: {result.reason}"
                if failure is not None:
                    raise failure
                if report.status is RebalanceStatus.STOPPED:
                    break
                # A leg given up or failed does not strand the rest of the plan in cash: the next
                # waves are sized from what is free now, and the next round replans the rest.
            opens = self.perps is not None and exposure is not None and exposure.opening
            if opens and report.status is RebalanceStatus.DONE:  # new positions last
                assert self.perps is not None and exposure is not None
                first = len(plan.legs) + len(exposure.reducing)
                await self.perps.run_legs(exposure.opening, report, prefix, first)
            await watch.aclose()
            after = await self.snapshot()
            report.after = self.value(after)
            if self.perps is not None:
                report.after = (await self.perps.observe(report.after)).valuation
            journal.snapshot(SnapshotKind.AFTER, report.after.total, report.after.weights)
        except BaseException as exc:
            # Whatever stopped it, the journal says so: never a rebalance left "running".
            report.status, report.reason = RebalanceStatus.FAILED, f"{type(exc).__name__}: {exc}"
            report.finished = clock.time()
            journal.finish_rebalance(rid, report.status, report.reason, report.to_dict())
            await watch.aclose()
            raise
        report.finished = clock.time()
        journal.finish_rebalance(rid, report.status, report.reason, report.to_dict())
        log.info(
            "rebalance_finished",
            id=rid,
            status=report.status.value,
            shortfall_bps=f"{report.shortfall_bps:.2f}",
            in_band=not report.after.needs_rebalance,
            duration_s=round(report.finished - report.started, 1),
        )
        return report


def waves(legs: tuple[Leg, ...] | list[Leg]) -> list[list[Leg]]:
    """Legs grouped for concurrent execution, in plan order: a leg joins the first wave after
    every leg that delivers the asset it spends."""
    pending = list(legs)
    out: list[list[Leg]] = []
    while pending:
        delivering = {leg.receives for leg in pending}
        wave = [leg for leg in pending if leg.spends not in delivering] or pending[:1]
        out.append(wave)
        pending = [leg for leg in pending if all(leg is not w for w in wave)]
    return out


async def _fit_wave(
    gateway: Gateway,
    wave: list[Leg],
    portfolio: PortfolioSpec,
    start: Mapping[str, Decimal] | None,
) -> tuple[list[Leg], list[Decimal | None], Mapping[str, Decimal]]:
    """Fit a wave's legs to what they may spend now, and return the free balances read.

    What the legs spending one asset may use together: what is free of it, less the quote's
    reserve; of an asset the user does not manage (a bridge such as BTC between X/BTC and
    BTC/USDT), only what this rebalance delivered of it since `start` (the free balances when
    it began; None: this is the first wave), so the user's own holding is never spent. The sells
    spending an asset take first, cut together to what is there; the buys spending it share the
    rest in proportion to their planned spend (their budgets, fees included). A managed bridge
    asset stays on its plan: it is capped only by what is free."""
    balances = await gateway.fetch_balances()
    free = balances.free
    before = free if start is None else start

    def available(asset: str) -> Decimal:
        have = free.get(asset, ZERO)
        if asset == portfolio.quote:
            have -= portfolio.reserve
        if asset not in portfolio.managed:
            have = min(have, have - before.get(asset, ZERO))
        return max(ZERO, have)

    fitted = list(wave)
    for asset in {leg.spends for leg in wave}:
        sells = [i for i, leg in enumerate(wave) if leg.spends == asset and leg.side is Side.SELL]
        wanted = sum((wave[i].amount for i in sells), ZERO)
        have = available(asset)
        if wanted > have:
            for i in sells:
                leg = wave[i]
                amount = gateway.markets[leg.symbol].round_amount(leg.amount * have / wanted)
                log.info(
                    "leg_resized",
                    symbol=leg.symbol,
                    planned=str(leg.amount),
                    amount=str(amount),
                    available=str(have),
                )
                fitted[i] = replace(
                    leg,
                    amount=amount,
                    notional=amount * leg.price,
                    value=leg.value * amount / leg.amount,
                )
    sold: dict[str, Decimal] = {}  # what the wave's sells of each asset will take
    planned: dict[str, Decimal] = {}  # what its buys of each asset planned to spend
    for leg in fitted:
        if leg.side is Side.BUY:
            planned[leg.spends] = planned.get(leg.spends, ZERO) + leg.notional
        else:
            sold[leg.spends] = sold.get(leg.spends, ZERO) + leg.amount
    budgets: list[Decimal | None] = []
    for leg in fitted:
        if leg.side is not Side.BUY or not planned.get(leg.spends):
            budgets.append(None)
            continue
        rest = max(ZERO, available(leg.spends) - sold.get(leg.spends, ZERO))
        budgets.append(rest * leg.notional / planned[leg.spends])
    return fitted, budgets, before
