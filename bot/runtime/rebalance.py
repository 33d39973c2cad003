"""One rebalance, end to end: snapshot -> plan -> execute every leg -> snapshot -> report.

Each rebalance, leg and child order is journaled as it happens; client order ids are built from
the journal's ids and the instance tag, so they never repeat, across restarts too.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.clock import Clock
from bot.domain.market import ZERO, Side
from bot.domain.planner import Leg, Plan
from bot.domain.portfolio import Valuation, relevant_symbols
from bot.exchange.gateway import Gateway
from bot.execution.executor import Executor, LegOutcome, LegReport
from bot.journal import Journal
from bot.observability import get_logger
from bot.runtime.planning import plan_from_snapshot, valuation_from_snapshot
from bot.settings import Settings
from bot.snapshot import Snapshot

log = get_logger("bot.rebalance")


@dataclass
class RebalanceReport:
    rebalance_id: int | None
    status: str  # nothing | refused | done | stopped | halted | failed
    reason: str
    plan: Plan
    started: float
    finished: float = 0.0
    legs: list[LegReport] = field(default_factory=list)
    after: Valuation | None = None

    @property
    def before(self) -> Valuation:
        return self.plan.valuation

    def leg_value(self, leg: LegReport) -> Decimal:
        """A leg's traded value in the portfolio quote, at the arrival prices."""
        market_quote = leg.symbol.split("/")[1]
        prices = self.before.prices
        return leg.cost * prices.price(market_quote) if market_quote in prices else ZERO

    @property
    def traded_value(self) -> Decimal:
        return sum((self.leg_value(leg) for leg in self.legs), ZERO)

    @property
    def shortfall_bps(self) -> Decimal:
        """Value-weighted implementation shortfall over all legs, fees included."""
        total = self.traded_value
        if not total:
            return ZERO
        return sum((leg.shortfall_bps * self.leg_value(leg) for leg in self.legs), ZERO) / total

    @property
    def fees_value(self) -> Decimal:
        return sum(
            (leg.fees / leg.cost * self.leg_value(leg) for leg in self.legs if leg.cost), ZERO
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rebalance_id": self.rebalance_id,
            "status": self.status,
            "reason": self.reason,
            "duration_s": round(self.finished - self.started, 3),
            "value_before": str(self.before.total),
            "value_after": None if self.after is None else str(self.after.total),
            "traded_value": str(self.traded_value),
            "shortfall_bps": f"{self.shortfall_bps:.2f}",
            "fees": str(self.fees_value),
            "legs": [
                {
                    "key": leg.key,
                    "symbol": leg.symbol,
                    "side": leg.side.value,
                    "planned": str(leg.planned),
                    "filled": str(leg.filled),
                    "average": None if leg.average is None else str(leg.average),
                    "arrival_mid": str(leg.arrival_mid),
                    "price_bps": f"{leg.price_bps:.2f}",
                    "fee_bps": f"{leg.fee_bps:.2f}",
                    "shortfall_bps": f"{leg.shortfall_bps:.2f}",
                    "children": leg.children,
                    "requests": leg.requests,
                    "outcome": leg.outcome.value,
                    "reason": leg.reason,
                    "duration_s": round(leg.duration, 3),
                }
                for leg in self.legs
            ],
            "weights_after": None
            if self.after is None
            else {p.asset: str(p.weight) for p in self.after.positions},
            "in_band_after": None if self.after is None else not self.after.needs_rebalance,
        }


async def take_snapshot(
    gateway: Gateway, settings: Settings, clock: Clock, *, depth: bool = True
) -> Snapshot:
    """Balances, markets and the books of every market a plan may use. With `depth=False`, the
    best bid and ask of each from one tickers request: enough to value the portfolio (a poll)."""
    if not gateway.markets:
        await gateway.load_markets()
    balances = await gateway.fetch_balances()
    quote = settings.portfolio.quote
    managed = set(settings.portfolio.targets) | {quote}
    symbols = relevant_symbols(gateway.markets, managed, quote)
    if depth:
        books = await gateway.fetch_order_books(symbols, settings.execution.book_depth)
    else:
        books = await gateway.fetch_tops(symbols)
    taken_at = datetime.fromtimestamp(clock.time(), UTC).isoformat(timespec="seconds")
    markets = {s: gateway.markets[s] for s in symbols}
    return Snapshot(balances.free, markets, books, taken_at)


def instance_tag(journal: Journal, prefix: str = "rb") -> str:
    """A short tag, fixed for the life of the journal, that starts every client order id."""
    tag = journal.get_meta("instance_tag")
    if tag is None:
        tag = f"{prefix}{secrets.token_hex(2)}"
        journal.set_meta("instance_tag", tag)
    return tag


async def rebalance_once(
    gateway: Gateway,
    settings: Settings,
    clock: Clock,
    journal: Journal,
    executor: Executor | None = None,
    veto: Callable[[Plan], str | None] | None = None,
    scheduled: bool = False,
) -> RebalanceReport:
    """Plan from a fresh snapshot and execute it. `veto` may refuse the plan (risk limits)."""
    started = clock.time()
    snap = await take_snapshot(gateway, settings, clock)
    plan = plan_from_snapshot(settings, snap, force=scheduled)
    if not plan.legs:
        reason = (
            "every asset inside its band" if not plan.valuation.needs_rebalance else "dust only"
        )
        return RebalanceReport(None, "nothing", reason, plan, started, clock.time())
    refused = veto(plan) if veto else None
    if refused is not None:
        log.warning("plan_refused", reason=refused)
        return RebalanceReport(None, "refused", refused, plan, started, clock.time())

    executor = executor or Executor(
        gateway,
        settings.execution.policy(),
        clock,
        recorder=journal,
        book_depth=settings.execution.book_depth,
    )
    rid = journal.start_rebalance(settings.exchange.mode.value, plan.valuation.total, plan.est_cost)
    journal.snapshot(
        "before", plan.valuation.total, {p.asset: p.weight for p in plan.valuation.positions}
    )
    report = RebalanceReport(rid, "done", "", plan, started)
    tag = instance_tag(journal)
    log.info(
        "rebalance_started",
        id=rid,
        legs=len(plan.legs),
        value=f"{plan.valuation.total:.2f}",
        est_cost_bps=f"{plan.est_cost_bps:.1f}",
    )
    seqs = {id(leg): i for i, leg in enumerate(plan.legs)}
    # A fresh nonce per rebalance: client ids stay unique even if the journal is restored from a
    # backup and its rebalance ids start again.
    prefix = f"{tag}-{rid}{secrets.token_hex(2)}"
    reserve = settings.portfolio.quote_reserve
    try:
        for wave in waves(plan.legs):
            # Legs in one wave spend assets no pending leg delivers: they run side by side, each
            # buy with its share of what is free now (the quote reserve excepted).
            fitted, budgets = await _fit_wave(gateway, wave, plan.valuation.quote, reserve)
            tasks = []
            for original, leg, budget in zip(wave, fitted, budgets, strict=True):
                seq = seqs[id(original)]
                key = f"{prefix}-{seq}"
                arrival = snap.books[leg.symbol].mid
                assert arrival is not None
                journal.start_leg(
                    key, rid, seq, leg.symbol, leg.side.value, leg.amount, arrival, leg.value
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
                    result.outcome.value,
                    result.reason,
                    result.filled,
                    result.cost,
                    result.fees,
                    report.leg_value(result),
                )
                if executor.stopping and report.status == "done":
                    report.status, report.reason = "stopped", "the bot was asked to stop"
                elif result.outcome is not LegOutcome.DONE and report.status == "done":
                    report.status = "halted" if result.outcome is LegOutcome.HALTED else "failed"
                    report.reason = f"{result.symbol}: {result.reason}"
            if failure is not None:
                raise failure
            if report.status != "done":
                break  # the next legs were funded by this wave
        after = await take_snapshot(gateway, settings, clock)
        report.after = valuation_from_snapshot(settings, after)
        journal.snapshot(
            "after", report.after.total, {p.asset: p.weight for p in report.after.positions}
        )
    except BaseException as exc:
        # Whatever stopped it, the journal says so: never a rebalance left "running".
        report.status, report.reason = "failed", f"{type(exc).__name__}: {exc}"
        report.finished = clock.time()
        journal.finish_rebalance(rid, report.status, report.reason, report.to_dict())
        raise
    report.finished = clock.time()
    journal.finish_rebalance(rid, report.status, report.reason, report.to_dict())
    log.info(
        "rebalance_finished",
        id=rid,
        status=report.status,
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
    gateway: Gateway, wave: list[Leg], quote: str, reserve: Decimal
) -> tuple[list[Leg], list[Decimal | None]]:
    """Fit a wave's legs to what is free now: a sell never asks for more than is free (earlier
    fees may have taken a little); the buys spending one asset share what is free of it (the
    portfolio quote less its reserve) in proportion to their planned spend."""
    balances = await gateway.fetch_balances()
    fitted: list[Leg] = []
    for leg in wave:
        free = balances.free.get(leg.spends, ZERO)
        if leg.side is Side.SELL and free < leg.amount:
            amount = gateway.markets[leg.symbol].round_amount(free)
            log.info("leg_resized", symbol=leg.symbol, planned=str(leg.amount), free=str(free))
            leg = replace(
                leg,
                amount=amount,
                notional=amount * leg.price,
                value=leg.value * amount / leg.amount,
            )
        fitted.append(leg)
    planned: dict[str, Decimal] = {}
    sold: dict[str, Decimal] = {}  # what the wave's sells of the same asset will take
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
        free = balances.free.get(leg.spends, ZERO) - sold.get(leg.spends, ZERO)
        if leg.spends == quote:
            free -= reserve
        budgets.append(max(ZERO, free) * leg.notional / planned[leg.spends])
    return fitted, budgets
