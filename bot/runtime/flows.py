"""Deposits and withdrawals, watched: read from the exchange when the balances move, recorded in
the journal, and turned into the balance change they explain (for the kill switch's check of
unexplained balance changes, `killswitch.RiskGuard.check_poll`).

The flows are read only when a managed balance differs from the last poll's (and once at start):
a quiet account costs no request, and every change is looked at. A read asks for what the
exchange reports since the last read, less `OVERLAP` (a flow may be listed late), or since the
oldest flow still pending; the journal keeps each flow once, with its last status, so a flow read
again is never counted again, and a pending deposit counts only once credited.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.clock import Clock
from bot.domain.flows import FlowStatus, explained_change, net_by_asset
from bot.errors import AuthFailed, ExchangeUnavailable, GatewayError
from bot.exchange.gateway import Gateway
from bot.journal import Journal
from bot.metrics import Metrics
from bot.observability import get_logger

log = get_logger("bot.flows")

OVERLAP_MS = 86_400_000  # a day: each read goes back this far before the last one
WINDOW_MS = 89 * OVERLAP_MS  # and never further back than this (Binance: a window < 90 days)
READ_AT = "flows_read_ms"  # journal meta: when the last read started (bot's clock, ms)


class FlowWatch:
    """The account's external flows, for one daemon."""

    def __init__(
        self, gateway: Gateway, journal: Journal, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.gateway = gateway
        self.journal = journal
        self.clock = clock
        self.metrics = metrics  # counts deposits and withdrawals per asset, apart from trading
        self._balances: dict[str, Decimal] | None = None

    async def explained(self, balances: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """The balance change, per asset, that deposits and withdrawals reported since the last
        read explain (none when the balances did not move, or the exchange reports none).

        A transient failure (`ExchangeUnavailable`) or a refused key goes to the caller, which
        waits or halts; another refusal (an exchange or testnet without these endpoints) is
        logged, and the change is then unexplained."""
        balances = dict(balances)  # the managed assets' balances of this poll
        moved = self._balances is None or balances != self._balances
        if not moved or not self.gateway.reads_flows:
            self._balances = balances
            return {}
        started = round(self.clock.time() * 1000)
        try:
            flows = await self.gateway.fetch_flows(self._since(started))
        except (ExchangeUnavailable, AuthFailed):
            raise
        except GatewayError as exc:
            log.warning("flows_unreadable", error=str(exc))
            self._balances = balances
            return {}
        changed = self.journal.record_flows(flows)
        self.journal.set_meta(READ_AT, str(started))
        self._balances = balances
        for flow, before in changed:
            if self.metrics is not None:
                self.metrics.flow(flow, before)
            log.info(
                "flow",
                kind=flow.kind.value,
                id=flow.id,
                asset=flow.asset,
                amount=str(flow.amount),
                fee=str(flow.fee),
                status=flow.status.value,
                was=None if before is None else before.value,
            )
        return net_by_asset((f.asset, explained_change(f, before)) for f, before in changed)

    def _since(self, now_ms: int) -> int:
        last = self.journal.get_meta(READ_AT)
        since = (int(last) if last else now_ms) - OVERLAP_MS
        pending = [f.timestamp_ms for f in self.journal.flows(FlowStatus.PENDING)]
        return max(min([since, *(t for t in pending if t is not None)]), now_ms - WINDOW_MS)
