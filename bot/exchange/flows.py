"""The trading account's external flows, read through ccxt, paged, as `Flow`s:
`FlowsApi.fetch_flows`, part of the gateway.

Where they come from is the exchange's profile: deposits and withdrawals from ccxt's unified
`fetch_deposits` and `fetch_withdrawals` (`flows_source` "deposits"), or from `fetch_ledger`'s
deposit and withdrawal entries ("ledger"), or not at all where they land in another account
("none": a funding account); and transfers between the account's own wallets (`transfers`:
`fetch_transfers` or the ledger's transfer entries), into the trading account a deposit, out of
it a withdrawal. So a deposit into a funding account, then moved to trading, counts once: by its
transfer, the only change of the trading balance. Trades and fees in a ledger are never flows.

Pages follow the profile: `flows_page` a request; by cursor where the exchange lists newest
first (`flows_cursor`, OKX: after=billId of the page's oldest), else within one time window by
offset where the exchange pages so (`flows_offset_param`, Binance: `offset`), else on by time
from the newest entry of a full page. A flow seen on two pages, or by two calls, is kept once
(by kind and id; transfers and ledger entries carry an id prefix of their own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from bot.domain.flows import Flow, FlowKind
from bot.exchange.codec import flow_from_ccxt, flow_from_ledger, flow_from_transfer
from bot.exchange.transport import Transport

# Pages read per kind and call at most: a bound, never reached by an account the bot polls.
MAX_FLOW_PAGES = 50

_METHODS = ((FlowKind.DEPOSIT, "fetch_deposits", "fetchDeposits"),
            (FlowKind.WITHDRAWAL, "fetch_withdrawals", "fetchWithdrawals"))  # fmt: skip
_CAPS = {"fetch_ledger": "fetchLedger", "fetch_transfers": "fetchTransfers"}

# One read: the ccxt method, its extra params, and the decoder of one entry (None: not a flow).
_Read = tuple[str, Mapping[str, Any], Callable[[Any], Flow | None]]


class FlowsApi(Transport):
    """Reading the account's external flows (the gateway's share of it)."""

    @property
    def reads_flows(self) -> bool:
        """Whether this exchange reports flows of the trading account the bot can read."""
        has: Mapping[str, Any] = getattr(self.exchange, "has", None) or {}
        reads = self._reads()
        return self.profile.flows and bool(reads) and all(has.get(_cap(m)) for m, _, _ in reads)

    async def fetch_flows(self, since_ms: int) -> list[Flow]:
        """Every flow of the trading account made since `since_ms` (the exchange's clock),
        oldest first."""
        found: dict[str, Flow] = {}
        for method, params, decode in self._reads():
            for flow in await self._flows(method, params, decode, since_ms):
                found[flow.key] = flow
        return sorted(found.values(), key=lambda f: (f.timestamp_ms or 0, f.key))

    def _reads(self) -> list[_Read]:
        """The calls the profile says the flows come from."""
        p = self.profile
        reads: list[_Read] = []
        if p.flows_source == "deposits":
            reads += [(m, {}, partial(flow_from_ccxt, kind=k)) for k, m, _ in _METHODS]
        ledger_transfers = p.transfers == "fetch_ledger"
        if p.flows_source == "ledger" or ledger_transfers:
            decode = partial(
                flow_from_ledger,
                deposits=p.flows_source == "ledger",
                transfers=ledger_transfers,
                trading_accounts=p.trading_accounts,
            )
            reads.append(("fetch_ledger", p.transfers_params if ledger_transfers else {}, decode))
        if p.transfers == "fetch_transfers":
            decode_transfer = partial(flow_from_transfer, trading_accounts=p.trading_accounts)
            reads.append(("fetch_transfers", p.transfers_params, decode_transfer))
        return reads

    async def _flows(
        self,
        method: str,
        extra: Mapping[str, Any],
        decode: Callable[[Any], Flow | None],
        since_ms: int,
    ) -> list[Flow]:
        page, offset_key = self.profile.flows_page, self.profile.flows_offset_param
        cursor_key = self.profile.flows_cursor
        out: list[Flow] = []
        since, offset, cursor = since_ms, 0, None
        for _ in range(MAX_FLOW_PAGES):
            params = dict(extra)
            if offset_key is not None and offset:
                params[offset_key] = offset
            if cursor_key is not None and cursor is not None:
                params[cursor_key[0]] = cursor
            raw = await self._call(method, None, since, page, params)
            out.extend(f for r in raw if (f := self._decode(method, decode, r)) is not None)
            if len(raw) < page:
                break
            if cursor_key is not None:
                following = _next_cursor(raw, cursor_key[1])
                if following is None or following == cursor:
                    break
                cursor = following
                continue
            if offset_key is not None:
                offset += len(raw)
                continue
            newest = max((_stamp(r) for r in raw), default=since)
            if newest <= since:  # a full page of one millisecond: nothing newer to ask for
                break
            since = newest
        return out


def _cap(method: str) -> str:
    return _CAPS.get(method) or next(cap for _, m, cap in _METHODS if m == method)


def _stamp(raw: Mapping[str, Any]) -> int:
    stamp = raw.get("timestamp")
    return int(stamp) if stamp is not None else 0


def _next_cursor(raw: list[Mapping[str, Any]], field: str) -> str | None:
    """The next page's cursor: `field` of the oldest entry of this page that carries it."""
    for entry in sorted(raw, key=_stamp):
        value = (entry.get("info") or {}).get(field)
        if value not in (None, ""):
            return str(value)
    return None
