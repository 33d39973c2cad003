"""Risk limits and the kill switch.

Each check returns the reason to halt, or None. A halt is written to the journal and stops all
trading until an operator runs `rebalance-bot resume`; the daemon keeps polling and logging.
Halts are for what needs a person; trouble that passes (an outage, a maintenance window, a book
that is one-sided for a moment, an unconfirmed order) makes the daemon wait instead (daemon.py).

- daily turnover: value traded in the last 24 h plus the plan's, against `max_turnover_per_day`;
- cost: a plan whose estimated cost, or a rebalance whose realised shortfall, exceeds
  `max_cost_bps` versus arrival;
- rounds: `max_consecutive_failures` rebalances in a row that gave up a leg or failed (one is
  not a halt: the next round replans from the real balances after the cooldown);
- implausible snapshot: a price that moved more than `max_price_move_pct` since the last poll,
  or a managed balance whose change since the last poll, less what the deposits and withdrawals
  the exchange reported explain (`runtime.flows`), is more than `max_balance_jump_pct` of it,
  without a trade by the bot (someone else trading the account, a flow the exchange does not
  report). A flow reported just after the balances were read may reach them a poll later: its
  part is then expected at the next poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.domain.market import ZERO
from bot.domain.planner import Plan
from bot.domain.portfolio import Valuation
from bot.domain.status import RebalanceStatus
from bot.execution.reports import RebalanceReport
from bot.journal import Journal
from bot.settings import RiskSettings

DAY = 86_400.0
HUNDRED = Decimal(100)


class RiskGuard:
    def __init__(self, limits: RiskSettings, journal: Journal) -> None:
        self.limits = limits
        self.journal = journal
        self.unsuccessful_rounds = 0  # rebalances in a row that gave up a leg or failed
        self._prices: dict[str, Decimal] | None = None
        self._balances: dict[str, Decimal] | None = None
        self._late: dict[str, Decimal] = {}  # flows reported before their balance showed them

    def check_poll(
        self,
        valuation: Valuation,
        traded_since_last: bool,
        flows: Mapping[str, Decimal] | None = None,
    ) -> str | None:
        """`flows`: the balance change, per asset, that deposits and withdrawals reported since
        the last poll explain."""
        prices = {p.asset: p.price for p in valuation.positions}
        balances = {p.asset: p.balance for p in valuation.positions}
        reason = None
        if self._prices is not None:
            reason = _moved(self._prices, prices, self.limits.max_price_move_pct, "price of")
        if reason is None and self._balances is not None and not traded_since_last:
            reason = self._unexplained(self._balances, balances, flows or {})
        elif traded_since_last:
            self._late = {}
        self._prices, self._balances = prices, balances
        return reason

    def _unexplained(
        self,
        before: Mapping[str, Decimal],
        after: Mapping[str, Decimal],
        flows: Mapping[str, Decimal],
    ) -> str | None:
        late: dict[str, Decimal] = {}
        for asset, old in sorted(before.items()):
            new = after.get(asset, ZERO)
            expected = self._late.get(asset, ZERO)  # reported a poll ago, after that read
            rest = new - old - expected - flows.get(asset, ZERO)
            if not self._over(rest, old):
                continue
            if asset in flows and not self._over(new - old - expected, old):
                late[asset] = flows[asset]  # reported now, not yet in this read's balance
                continue
            moved = f"moved {abs(new - old) / old * HUNDRED:.1f}%" if old > 0 else "appeared"
            limit, rest = self.limits.max_balance_jump_pct, rest.normalize()
            return (
                f"balance of {asset} {moved} since the last poll ({old} -> {new}):"
                f" {rest:+f} {asset} unexplained by a trade of the bot or a deposit or withdrawal"
                f" the exchange reported (max_balance_jump_pct {limit}%)"
            )
        self._late = late
        return None

    def _over(self, rest: Decimal, old: Decimal) -> bool:
        if old > 0:
            return abs(rest) / old * HUNDRED > self.limits.max_balance_jump_pct
        return rest > 0

    def check_plan(self, plan: Plan, now: float) -> str | None:
        limit = self.limits.max_turnover_per_day
        if limit is not None:
            today = self.journal.turnover_since(now - DAY)
            if today + plan.turnover > limit:
                return (
                    f"daily turnover limit: {today:.2f} traded in 24 h + {plan.turnover:.2f}"
                    f" planned > {limit} {plan.valuation.quote}"
                )
        if plan.turnover and plan.est_cost_bps > self.limits.max_cost_bps:
            return (
                f"estimated cost {plan.est_cost_bps:.1f} bps is above max_cost_bps"
                f" {self.limits.max_cost_bps}"
            )
        return None

    def after_rebalance(self, report: RebalanceReport) -> str | None:
        """The reason to halt after this rebalance, or None. A leg given up (a deadline, an
        adverse move) or failed is not a halt: the next round replans from the real balances,
        after the cooldown; only `max_consecutive_failures` such rounds in a row halt."""
        if report.status is RebalanceStatus.STOPPED:  # an operator's stop is not a fault
            return None
        if report.traded_value > 0 and report.shortfall_bps > self.limits.max_cost_bps:
            return (
                f"rebalance {report.rebalance_id} cost {report.shortfall_bps:.1f} bps vs arrival,"
                f" above max_cost_bps {self.limits.max_cost_bps}"
            )
        if report.status in (RebalanceStatus.HALTED, RebalanceStatus.FAILED):
            return self.round_unsuccessful(f"rebalance {report.rebalance_id}: {report.reason}")
        if report.status is RebalanceStatus.DONE:
            self.unsuccessful_rounds = 0
        return None

    def round_unsuccessful(self, what: str) -> str | None:
        self.unsuccessful_rounds += 1
        limit = self.limits.max_consecutive_failures
        if self.unsuccessful_rounds >= limit:
            return (
                f"{self.unsuccessful_rounds} rebalances in a row gave up a leg or failed"
                f" (limit {limit}), the last: {what}"
            )
        return None


def _moved(
    before: Mapping[str, Decimal], after: Mapping[str, Decimal], limit_pct: Decimal, what: str
) -> str | None:
    for asset, old in sorted(before.items()):
        new = after.get(asset, ZERO)
        if old > 0:
            change = abs(new - old) / old * HUNDRED
            if change > limit_pct:
                return f"{what} {asset} moved {change:.1f}% since the last poll ({old} -> {new})"
    return None
