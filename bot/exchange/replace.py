"""Cancel an order and place its successor in one request: `ReplaceApi.replace_order`, part of
the gateway; and what placing and replacing share: `checked_params` (the checks an order passes
before it is sent, and its ccxt params) and `completed` (a short create reply made whole).

The exchange's profile says how (`ReplaceFacts`): the client's method that builds the request,
the one that sends it, the reply's keys of its two halves (each parsed by the client's own
`parse_order`), the codes of a reply whose halves failed. The exchange places the new order only
once the old one is cancelled (Binance: cancelReplaceMode STOP_ON_FAILURE, always sent), so one
request never leaves two orders working. Per reply:

- both halves: `Replaced(old=<cancelled, with its fills>, new=<placed>)`;
- the cancel failed as the order is final or unknown (Binance -2022 with -2011): `Replaced(None,
  None)`, nothing placed; the caller reads the old order (`fetch_order`);
- cancelled, the new order refused (Binance -2021, -2010 inside): `Replaced(old, None,
  refused=WouldCross(...))` (or the refusal's class);
- the cancel failed otherwise: that error raised (the old order may still work; nothing placed);
- refused unexecuted (a rate limit): `RequestRefused` after the backoff, as for `place_order`;
- a lost reply, a network error, "status unknown": the new order settled as a lost create (found,
  or `NeverArrived` once the exchange can no longer accept the request: then `refused`), the old
  one read by its client id and, if it still works (the request never executed), cancelled;
- any other error: raised, nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ccxt.async_support as ccxt

from bot.domain.market import Market
from bot.domain.orders import OrderReport, OrderRequest, TimeInForce
from bot.errors import (
    AmbiguousOrder,
    ExchangeUnavailable,
    GatewayError,
    MalformedReply,
    NeverArrived,
    OrderRejected,
)
from bot.exchange.codec import to_text
from bot.exchange.derivatives import order_market, order_params
from bot.exchange.profile import ExchangeProfile, ReplaceFacts
from bot.exchange.transport import Transport
from bot.observability import get_logger

log = get_logger("bot.exchange")

METHOD = "replace_order"  # what errors and logs name the request


@dataclass(frozen=True, slots=True)
class Replaced:
    """What one cancel-and-replace did. `old`: the cancelled order's final state (None: the
    exchange did not know it or it was already final: ask with `fetch_order`); `new`: the order
    placed (None: not placed); `refused`: why the new order was not placed, where one is known
    (`WouldCross` for a post-only order that would take, `NeverArrived` after a lost request)."""

    old: OrderReport | None
    new: OrderReport | None
    refused: GatewayError | None = None


def checked_params(
    profile: ExchangeProfile, markets: Mapping[str, Market], request: OrderRequest
) -> dict[str, Any]:
    """The ccxt params of a limit order (client id, post-only or IOC, reduce-only and position
    side), once the market's filters, the tick and the exchange's client id rules accept it:
    `OrderRejected`, not sent, otherwise. ccxt does not check minimum notional, and Binance
    answers a filter failure with a generic bad-request error."""
    market = markets.get(request.symbol)
    if market is None:
        raise OrderRejected(f"{request.symbol}: unknown market (load_markets first)")
    market = order_market(profile, market, request.reduce_only)
    reason = market.rejects(request.amount, request.price)
    if reason is None and market.round_price(request.price, request.side) != request.price:
        reason = f"price {request.price} is not on the tick {market.price_tick}"
    if reason is None and not profile.client_id.accepts(request.client_id):
        rules = profile.client_id
        reason = (
            f"client id {request.client_id!r} breaks {profile.id}'s rules"
            f" ([{rules.charset}], at most {rules.max_length})"
        )
    if reason is not None:
        raise OrderRejected(f"{request.symbol} {request.client_id}: {reason}; not sent")
    params: dict[str, Any] = {profile.client_id.param: request.client_id}
    if request.post_only:
        params.update(profile.post_only_params)
    elif request.time_in_force is TimeInForce.IOC:
        params.update(profile.ioc_params)
    elif request.time_in_force is not TimeInForce.GTC:
        params["timeInForce"] = request.time_in_force.value
    params.update(order_params(profile, request))  # reduce-only, hedge-mode side
    return params


def completed(raw: Mapping[str, Any], request: OrderRequest) -> dict[str, Any]:
    """A create reply with what a short one lacks (side, amount, price, market, client id) taken
    from the request that was sent; its status is left as the exchange gave it."""
    reply = dict(raw)
    for key, value in (
        ("clientOrderId", request.client_id),
        ("symbol", request.symbol),
        ("side", request.side.value),
        ("amount", to_text(request.amount)),
        ("price", to_text(request.price)),
    ):
        if reply.get(key) is None:
            reply[key] = value
    return reply


class ReplaceApi(Transport):
    """Cancel-and-replace in one request (the gateway's share of it; see the module)."""

    # What the gateway supplies.
    markets: dict[str, Market]
    _ambiguous: tuple[type[Exception], ...]
    _refused: tuple[type[Exception], ...]
    _refusals: int

    if TYPE_CHECKING:

        def sent_client_id(self, client_id: str) -> str: ...
        def _order(self, raw: Mapping[str, Any], method: str = "order") -> OrderReport: ...
        async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None: ...
        async def cancel_order(
            self, symbol: str, exchange_id: str, client_id: str | None = None
        ) -> OrderReport | None: ...
        async def _settle_ambiguous(self, request: OrderRequest, sent_at: float) -> OrderReport: ...
        async def _accepted(
            self, reply: dict[str, Any], request: OrderRequest, method: str
        ) -> OrderReport: ...
        async def _refusal(self, method: str, client_id: str, exc: Exception) -> GatewayError: ...

    def can_replace(self) -> bool:
        """Whether this exchange cancels and replaces in one request (its profile says how and
        the client has the methods named)."""
        facts = self.profile.cancel_replace
        if facts is None or self.profile.contracts:
            return False
        return all(
            callable(getattr(self.exchange, name, None))
            for name in (facts.build, facts.send, "parse_order", "market")
        )

    async def replace_order(
        self,
        symbol: str,
        old_exchange_id: str,
        old_client_id: str,
        request: OrderRequest,
        on_sent: Callable[[float], None] | None = None,
    ) -> Replaced:
        """Cancel the order (`old_exchange_id`, else by `old_client_id`) and place `request` in
        one request, the new order only once the old one is cancelled; `on_sent` gets the moment
        the request leaves (the new client id is to be on record first). See the module for what
        each reply gives."""
        facts = self.profile.cancel_replace
        if facts is None or not self.can_replace():
            raise OrderRejected(f"{self.id}: no cancel-and-replace in one request; not sent")
        if request.symbol != symbol:
            raise OrderRejected(f"{request.client_id}: replaces an order on {symbol}; not sent")
        params = checked_params(self.profile, self.markets, request)
        params.update(facts.mode)
        if not old_exchange_id:
            params[facts.old_client_id_param] = self.sent_client_id(old_client_id)
        args = (old_exchange_id or None, symbol, "limit", request.side.value)
        try:  # exact text, never a float (see place_order)
            built = getattr(self.exchange, facts.build)(
                *args, to_text(request.amount), to_text(request.price), params
            )
        except ccxt.BaseError as exc:
            raise self._translate(facts.build, exc) from exc
        sent_at: float | None = None

        def sending() -> None:  # inside the pacer, just before the request leaves
            nonlocal sent_at
            sent_at = self._now()
            if on_sent is not None:
                on_sent(sent_at)

        try:
            raw = await self._send(facts.send, built, before=sending)
        except ccxt.BaseError as exc:
            halves = _failed_halves(facts, exc)
            if halves is None:
                return await self._replace_failed(
                    exc, old_exchange_id, old_client_id, request, sent_at
                )
            raw = halves
        self._refusals = 0
        return await self._halves(facts, raw, request, old_client_id)

    async def _replace_failed(
        self,
        exc: ccxt.BaseError,
        old_exchange_id: str,
        old_client_id: str,
        request: OrderRequest,
        sent_at: float | None,
    ) -> Replaced:
        """An error reply that carries no halves: refused unexecuted, ambiguous, or plain."""
        if isinstance(exc, self._refused):
            raise await self._refusal(METHOD, request.client_id, exc) from exc
        if not isinstance(exc, self._ambiguous):
            raise self._translate(METHOD, exc) from exc
        if self.profile.is_auth_failure(exc):
            raise self._translate(METHOD, ccxt.AuthenticationError(str(exc))) from exc
        log.warning(
            "replace_reply_lost",
            client_id=request.client_id,
            old_client_id=old_client_id,
            symbol=request.symbol,
            error=type(exc).__name__,
        )
        refused: GatewayError | None = None
        try:
            new: OrderReport | None = await self._settle_ambiguous(request, sent_at or self._now())
        except NeverArrived as lost:
            new, refused = None, lost
        try:
            old = await self.fetch_order(request.symbol, old_client_id)
            if old is not None and not old.status.is_final:
                # The request never executed (or not its cancel): the old order still works.
                log.info("replace_old_still_open", client_id=old_client_id, new=new is not None)
                old = await self.cancel_order(
                    request.symbol, old.exchange_id or old_exchange_id, old_client_id
                )
        except ExchangeUnavailable as exc2:
            raise AmbiguousOrder(
                f"{old_client_id} on {request.symbol}: replaced by a request whose reply was"
                f" lost, and the order cannot be read: {exc2}"
            ) from exc2
        return Replaced(old, new, refused)

    async def _halves(
        self, facts: ReplaceFacts, raw: Any, request: OrderRequest, old_client_id: str
    ) -> Replaced:
        """The two halves of an answered request, each parsed by the client's parse_order."""
        if not isinstance(raw, Mapping):
            raise MalformedReply(f"{self.id} {METHOD}: a reply the bot cannot read: {raw!r}")
        market = self.exchange.market(request.symbol)
        cancel, new = raw.get(facts.cancel_half), raw.get(facts.new_half)
        cancel_error, new_error = _half_error(facts, cancel), _half_error(facts, new)
        old = placed = None
        refused: GatewayError | None = None
        if cancel_error is None and isinstance(cancel, Mapping) and cancel:
            old = self._order(self.exchange.parse_order(dict(cancel), market), METHOD)
        if new_error is not None:
            refused = self._translate(METHOD, new_error)
        elif isinstance(new, Mapping) and new:
            parsed = completed(self.exchange.parse_order(dict(new), market), request)
            placed = await self._accepted(parsed, request, METHOD)
        if cancel_error is not None and placed is None:
            if str(cancel.get("code")) not in facts.cancel_final_codes:  # type: ignore[union-attr]
                raise self._translate(METHOD, cancel_error)  # the old order may still work
            log.info("replace_old_final", client_id=old_client_id)
        elif placed is None and refused is None and old is not None:
            refused = OrderRejected(f"{self.id} {METHOD} {request.client_id}: not attempted")
        return Replaced(old, placed, refused)


def _failed_halves(facts: ReplaceFacts, exc: ccxt.BaseError) -> Mapping[str, Any] | None:
    """The halves of a reply whose code says a half failed (ccxt raises it, the body in its
    message), or None: another error, or a body that cannot be read."""
    text = str(exc)
    start = text.find("{")
    if start < 0 or not facts.failed_codes:
        return None
    try:
        body, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    if not isinstance(body, Mapping) or str(body.get("code")) not in facts.failed_codes:
        return None
    data = body.get(facts.failed_data)
    return data if isinstance(data, Mapping) else None


def _half_error(facts: ReplaceFacts, half: Any) -> ccxt.BaseError | None:
    """A failed half (`code`, `msg`) as the ccxt error the exchange's plain reply would raise."""
    if not isinstance(half, Mapping) or half.get("code") is None:
        return None
    code, msg = str(half["code"]), str(half.get("msg", ""))
    name = facts.half_errors.get(msg) or facts.half_errors.get(code) or "ExchangeError"
    error: type[ccxt.BaseError] = getattr(ccxt, name)
    return error(f"{code} {msg}")
