"""The account's deposits and withdrawals, read through ccxt's unified `fetch_deposits` and
`fetch_withdrawals`, paged, as `Flow`s: `FlowsApi.fetch_flows`, part of the gateway.

Pages follow the exchange's profile: `flows_page` a request; within one time window by offset
where the exchange pages so (`flows_offset_param`, Binance: `offset`, whatever order the
exchange lists them in), else on by time from the newest flow of a full page. A flow seen on two
pages is kept once (by kind and id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.flows import Flow, FlowKind
from bot.exchange.codec import flow_from_ccxt
from bot.exchange.transport import Transport

# Pages read per kind and call at most: a bound, never reached by an account the bot polls.
MAX_FLOW_PAGES = 50

_METHODS = ((FlowKind.DEPOSIT, "fetch_deposits", "fetchDeposits"),
            (FlowKind.WITHDRAWAL, "fetch_withdrawals", "fetchWithdrawals"))  # fmt: skip


class FlowsApi(Transport):
    """Reading the account's external flows (the gateway's share of it)."""

    @property
    def reads_flows(self) -> bool:
        """Whether this exchange reports deposits and withdrawals the bot can read."""
        has: Mapping[str, Any] = getattr(self.exchange, "has", None) or {}
        return self.profile.flows and all(has.get(cap) for _, _, cap in _METHODS)

    async def fetch_flows(self, since_ms: int) -> list[Flow]:
        """Every deposit and withdrawal made since `since_ms` (the exchange's clock), oldest
        first."""
        found: dict[str, Flow] = {}
        for kind, method, _ in _METHODS:
            for flow in await self._flows(kind, method, since_ms):
                found[flow.key] = flow
        return sorted(found.values(), key=lambda f: (f.timestamp_ms or 0, f.key))

    async def _flows(self, kind: FlowKind, method: str, since_ms: int) -> list[Flow]:
        page, offset_key = self.profile.flows_page, self.profile.flows_offset_param
        out: list[Flow] = []
        since, offset = since_ms, 0
        for _ in range(MAX_FLOW_PAGES):
            params = {offset_key: offset} if offset_key is not None and offset else {}
            raw = await self._call(method, None, since, page, params)
            flows = [self._decode(method, flow_from_ccxt, r, kind) for r in raw]
            out.extend(flows)
            if len(raw) < page:
                break
            if offset_key is not None:
                offset += len(raw)
                continue
            newest = max((f.timestamp_ms or 0 for f in flows), default=since)
            if newest <= since:  # a full page of one millisecond: nothing newer to ask for
                break
            since = newest
        return out
