"""The `schedule` style's step, and the resting child it may keep from one step to the next.

Each step the executor looks at the book and asks `scheduled_step` what the trajectory wants
(`bot/domain/trajectory.py`): a rest at the touch, a take, or nothing yet. A resting child that is
still at its side's best price when the next step wants a rest is kept, not cancelled and placed
again: it keeps its place in the queue, and the step costs one request (the book). When the touch
has moved away from it, or the step wants a take, it is replaced: in one request where the
exchange can cancel and place together (`Gateway.replace_order`), else a cancel, then the new
child. While it rests, the step plans as though it will fill whole, so no new child and no budget
ever counts on its quantity twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.domain.lifecycle import ChildOrder
from bot.domain.market import ZERO, Market, OrderBook
from bot.domain.orders import OrderReport
from bot.domain.planner import Leg
from bot.domain.slicing import Child, ExecutionPolicy, LegState, Phase
from bot.domain.trajectory import (
    ADVERSE_SIGMAS,
    Refill,
    Volatility,
    plan_step,
    remaining_share,
    urgency,
)


@dataclass(slots=True)
class Resting:
    """A child resting on the book across steps: what was asked, its life, the exchange's last
    report of it, and when the exchange took it (its trades are all later)."""

    child: Child
    order: ChildOrder
    placed: OrderReport
    placed_ms: int | None

    @property
    def pending(self) -> Decimal:
        """Its whole amount: nothing of it joins the leg's fills before it ends."""
        return self.placed.amount

    def committed_cost(self, market: Market) -> Decimal:
        """What it would spend if it filled whole, fees included at the market's higher rate."""
        return self.pending * self.child.price * (1 + market.max_fee)


def horizon(policy: ExecutionPolicy) -> float:
    """The schedule's span: `horizon`, within `take_after` of the leg's deadline so that the
    catch-up has time before the deadline gives the leg up."""
    return min(policy.horizon, policy.leg_deadline * float(policy.take_after))


def scheduled_step(
    policy: ExecutionPolicy,
    market: Market,
    book: OrderBook,
    leg: Leg,
    volatility: Volatility,
    state: LegState,
    refill: Refill | None = None,
) -> tuple[Phase, Decimal | None]:
    """This step's phase and amount (None: nothing due this step). `state.remaining` is what is
    left once a resting child fills whole. Before the horizon, a take is at most what the book
    refills over a step (`refill`, once measured), and never less than the trajectory's own pace
    over the step: a lag is made up without draining a book that refills slowly."""
    step_s = policy.child_timeout
    depth = book.quantity_within_bps(leg.side, policy.band_bps)
    kappa = urgency(
        volatility.variance,
        float(depth / leg.amount) if leg.amount > 0 else 0.0,
        float(policy.band_bps),
        step_s,
        policy.risk_aversion,
    )
    spread = book.spread_bps or ZERO
    span = horizon(policy)
    remaining = state.remaining
    step = plan_step(
        total=leg.amount,
        remaining=remaining,
        elapsed=state.elapsed,
        horizon=span,
        step=step_s,
        kappa=kappa,
        half_spread_bps=float(spread) / 2,
        fee_saving_bps=float((market.taker_fee - market.maker_fee) * 10_000),
        adverse_bps=ADVERSE_SIGMAS * volatility.sigma_bps(step_s),
        patience=policy.patience,
    )
    amount = step.amount
    refilled = refill.over(step_s) if refill is not None else None
    if step.take and refilled is not None and state.elapsed < span:
        pace = leg.amount * Decimal(
            repr(
                remaining_share(state.elapsed, span, kappa)
                - remaining_share(state.elapsed + step_s, span, kappa)
            )
        )
        amount = min(amount, max(refilled, pace))
    mid = book.mid or state.arrival_mid
    if amount <= 0 or market.round_amount(amount) < market.min_tradable(mid):
        if remaining >= market.min_tradable(mid) and state.elapsed < span:
            return Phase.PASSIVE, None
        return Phase.TAKE, remaining  # the last of it: next_child says dust or takes it
    return (Phase.TAKE if step.take else Phase.PASSIVE), amount
