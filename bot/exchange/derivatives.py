"""A linear-perpetuals account through ccxt, as domain values: `DerivativesApi`, part of the
gateway; and `order_params`, what a perp order adds to ccxt's create_order params.

What differs between exchanges is the profile's `PerpFacts`: where the futures balance holds its
figures, the raw position fields read, how hedge-mode orders name their position, how funding is
signed and paged, how the position mode is told and between which accounts collateral moves.

    positions = await gateway.fetch_positions()        # open positions only, one-way or hedge
    account = await gateway.fetch_futures_account()    # wallet, equity, free in USDT
    await gateway.transfer_collateral("USDT", Decimal(500), to_futures=True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt

from bot.domain.market import ZERO, Market, Side
from bot.domain.orders import OrderRequest
from bot.domain.positions import (
    FundingPayment,
    FundingRate,
    FuturesAccount,
    Position,
    PositionMode,
    PositionSide,
)
from bot.errors import GatewayError, MalformedReply, OrderRejected, RequestRefused
from bot.exchange.codec import (
    funding_payment_from_ccxt,
    funding_rate_from_ccxt,
    futures_account_from_ccxt,
    position_from_ccxt,
    to_text,
)
from bot.exchange.profile import ExchangeProfile, PerpFacts
from bot.exchange.transport import Transport

# Funding pages read per window at most: a bound an account polled daily never reaches.
MAX_FUNDING_PAGES = 50


def order_market(profile: ExchangeProfile, market: Market, reduce_only: bool) -> Market:
    """The market whose filters an order must meet: one that only reduces, where the exchange
    waives the minimum notional for it (`reduce_only_waives_min_cost`), needs only the step and
    the minimum amount, so a position smaller than the minimum can still be cut."""
    facts = profile.perps
    if reduce_only and facts is not None and facts.reduce_only_waives_min_cost:
        return replace(market, min_cost=ZERO)
    return market


def order_params(profile: ExchangeProfile, request: OrderRequest) -> dict[str, Any]:
    """The create_order params of a reduce-only or hedge-mode order, as the profile names them
    (none for a plain order). Refused, unsent, where the exchange cannot take them or where a
    reduce-only order's side would grow its hedge-mode position."""
    if not request.reduce_only and request.position_side is None:
        return {}
    facts = profile.perps
    where = f"{request.symbol} {request.client_id}"
    if facts is None or not profile.contracts:
        raise OrderRejected(f"{where}: {profile.id} trades no perpetuals here; not sent")
    params: dict[str, Any] = {}
    hedge = request.position_side is not None
    if request.position_side is not None:
        if facts.position_side_param is None:
            raise OrderRejected(f"{where}: {profile.id} has no hedge mode; not sent")
        closing = Side.SELL if request.position_side is PositionSide.LONG else Side.BUY
        if request.reduce_only and request.side is not closing:
            raise OrderRejected(
                f"{where}: a reduce-only {request.side.value} cannot reduce the"
                f" {request.position_side.value} position; not sent"
            )
        value = facts.position_side_values[request.position_side.value]
        params[facts.position_side_param] = value
    if request.reduce_only and (not hedge or facts.reduce_only_in_hedge):
        params.update(facts.reduce_only_params)
    return params


class DerivativesApi(Transport):
    """Positions, the futures wallet, funding and collateral transfers (the gateway's share)."""

    @property
    def perps(self) -> PerpFacts:
        facts = self.profile.perps
        if facts is None or not self.profile.contracts:
            raise GatewayError(f"{self.id}: this client trades no perpetuals (profile.for_perps)")
        return facts

    def _market(self, symbol: str) -> Mapping[str, Any]:
        markets = getattr(self.exchange, "markets", None) or {}
        market = markets.get(symbol)
        if market is None:
            raise MalformedReply(f"{self.id}: a position on {symbol}, a market not loaded")
        return market  # type: ignore[no-any-return]

    def _position(self, raw: Mapping[str, Any]) -> Position | None:
        market = self._market(str(raw.get("symbol")))
        fields = self.perps.position_fields
        return self._decode("fetch_positions", position_from_ccxt, raw, market, fields)

    async def fetch_positions(self, symbols: Iterable[str] | None = None) -> list[Position]:
        """The open positions (on `symbols`, else all): one per symbol in one-way mode, a long
        and a short in hedge mode; entries with no contracts are left out."""
        wanted = None if symbols is None else set(symbols)
        raw = await self._call("fetch_positions")
        found = [p for r in raw if (p := self._position(r)) is not None]
        return [p for p in found if wanted is None or p.symbol in wanted]

    async def fetch_futures_account(self, asset: str = "USDT") -> FuturesAccount:
        """The futures wallet in `asset`: wallet, equity (margin balance), free."""
        fields = self.perps.account
        raw = await self._call("fetch_balance")
        names = (fields.wallet, fields.equity, fields.free)
        return self._decode(
            "fetch_balance",
            futures_account_from_ccxt,
            raw,
            asset,
            fields.entries,
            fields.asset_key,
            names,
        )

    async def fetch_funding_rates(self, symbols: Iterable[str]) -> dict[str, FundingRate]:
        """The current funding rate of each of `symbols` the exchange reports."""
        wanted = sorted(set(symbols))
        hours = self.perps.funding_hours
        raw = await self._call("fetch_funding_rates", wanted)
        return {
            s: self._decode("fetch_funding_rates", funding_rate_from_ccxt, raw[s], hours)
            for s in wanted
            if raw.get(s)
        }

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Every funding payment since `since_ms` (the exchange's clock), oldest first: received
        +, paid -. Read page by page, within the exchange's longest window at a time."""
        facts = self.perps
        now = int(self.exchange.milliseconds())
        found: dict[str, FundingPayment] = {}
        kept = facts.funding_history_ms
        start = since_ms if kept is None else max(since_ms, now - kept)
        while True:
            end = None if facts.funding_window_ms is None else start + facts.funding_window_ms
            until = None if end is None or end >= now else end
            for payment in await self._funding_window(start, until):
                found[payment.id] = payment
            if end is None or end >= now:
                break
            start = end
        return sorted(found.values(), key=lambda p: (p.timestamp, p.id))

    async def _funding_window(self, since: int, until: int | None) -> list[FundingPayment]:
        facts = self.perps
        page, cursor_key = facts.funding_page, facts.funding_cursor
        extra: dict[str, Any] = {} if until is None else {"until": until}
        out: list[FundingPayment] = []
        cursor: str | None = None
        for _ in range(MAX_FUNDING_PAGES):
            params = dict(extra)
            if cursor_key is not None and cursor is not None:
                params[cursor_key[0]] = cursor
            raw = await self._call("fetch_funding_history", None, since, page, params)
            decode = funding_payment_from_ccxt
            paid = facts.funding_paid_positive
            out += [self._decode("fetch_funding_history", decode, r, paid) for r in raw]
            if cursor_key is not None:
                following = _cursor(raw, cursor_key[1])
                if not raw or following is None or following == cursor:
                    break
                cursor = following
                continue
            newest = max((p.timestamp for p in out), default=since)
            if len(raw) < page or newest <= since:
                break
            since = newest
        return out

    async def position_mode(self, symbol: str | None = None) -> PositionMode:
        """One-way or hedge, as the exchange says: its position-mode call where it has one,
        else the position entries of `symbol` (hedge-mode entries name their side)."""
        call = self.perps.position_mode_call
        if call is not None:
            raw = await self._call(call)
            hedged = self._decode(call, _hedged, raw)
            return PositionMode.HEDGE if hedged else PositionMode.ONE_WAY
        if symbol is None:
            raise GatewayError(f"{self.id}: the position mode is read per symbol; name one")
        entries = await self._call("fetch_positions", [symbol])
        flags = {e.get("hedged") for e in entries if e.get("symbol") == symbol}
        if not flags or None in flags:
            raise MalformedReply(f"{self.id}: the positions of {symbol} do not tell the mode")
        return PositionMode.HEDGE if True in flags else PositionMode.ONE_WAY

    @property
    def can_transfer(self) -> bool:
        """Whether collateral may be moved between spot and futures here (the profile; not in
        a demo without the transfer API)."""
        return self._transfer_refusal() is None

    def _transfer_refusal(self) -> str | None:
        facts = self.profile.perps
        if facts is None:
            return f"{self.id} trades no perpetuals"
        if facts.transfer_accounts is None:
            return facts.transfer_refused or f"{self.id}: no transfer between spot and futures"
        demo = bool((getattr(self.exchange, "options", None) or {}).get("enableDemoTrading"))
        if demo and not facts.transfers_in_demo:
            return f"{self.id}: demo trading has no transfer API; move demo funds on the website"
        return None

    async def transfer_collateral(
        self, asset: str, amount: Decimal, to_futures: bool
    ) -> str | None:
        """Move `amount` of `asset` from spot to futures (or back); returns the exchange's
        transfer id. Sent once, never retried: a reply lost in transit leaves the transfer's
        outcome unknown (a GatewayError saying so), to be read from the balances."""
        refusal = self._transfer_refusal()
        if refusal is not None:
            raise GatewayError(f"transfer refused: {refusal}")
        if amount <= 0:
            raise GatewayError(f"transfer refused: amount must be > 0, got {amount}")
        spot, futures = self.perps.transfer_accounts or ("", "")
        route = (spot, futures) if to_futures else (futures, spot)
        try:
            raw = await self._send("transfer", asset, to_text(amount), *route)
        except ccxt.BaseError as exc:
            raise self._transfer_error(exc) from exc
        return self._decode("transfer", _transfer_id, raw)

    async def add_margin(self, symbol: str, amount: Decimal, side: PositionSide) -> None:
        """Add `amount` of collateral to an isolated position (ccxt's add_margin; hedge mode
        names the position). Sent once, never retried, like a transfer."""
        if amount <= 0:
            raise GatewayError(f"add margin refused: amount must be > 0, got {amount}")
        params: dict[str, Any] = {}
        facts = self.perps
        if facts.position_side_param is not None and side.value in facts.position_side_values:
            hedged = await self.position_mode(symbol) is PositionMode.HEDGE
            if hedged:
                params[facts.position_side_param] = facts.position_side_values[side.value]
        try:
            await self._send("add_margin", symbol, to_text(amount), params)
        except ccxt.BaseError as exc:
            raise self._transfer_error(exc) from exc

    def _transfer_error(self, exc: ccxt.BaseError) -> GatewayError:
        if self.profile.is_auth_failure(exc):
            return self._translate("transfer", ccxt.AuthenticationError(str(exc)))
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded | ccxt.InvalidNonce):
            return RequestRefused(f"{self.id} transfer: refused, not executed: {exc}")
        if isinstance(exc, ccxt.OperationFailed):
            return GatewayError(
                f"{self.id} transfer: {type(exc).__name__}, the transfer may have happened;"
                f" read the balances before sending another: {exc}"
            )
        return self._translate("transfer", exc)


def _transfer_id(raw: Mapping[str, Any]) -> str | None:
    return None if raw.get("id") is None else str(raw["id"])


def _hedged(raw: Mapping[str, Any]) -> bool:
    hedged = raw["hedged"]
    if not isinstance(hedged, bool):
        raise ValueError(f"position mode {hedged!r}")
    return hedged


def _cursor(raw: list[Mapping[str, Any]], field: str) -> str | None:
    """The next page's cursor: `field` of an entry's raw record (ccxt puts it on the first)."""
    for entry in raw:
        value = (entry.get("info") or {}).get(field)
        if value not in (None, ""):
            return str(value)
    return None
