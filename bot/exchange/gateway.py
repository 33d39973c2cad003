"""The gateway: typed access to one exchange account, on the transport (`transport.py`: pacing,
retries, error translation, the one call to ccxt). Replies become domain values once (`codec.py`);
what differs between exchanges comes from the exchange's profile (`profile.py`).

Placement never yields two orders. Every order carries a client order id, and its request is
sent once: the moment it leaves (after the pacer) is reported to the caller, to be on record
first. A reply the profile calls ambiguous (a timeout, a dropped connection, a 5xx "status
unknown") leaves the order's fate unknown: it is looked up by its client id, and concluded
`NeverArrived` only once the exchange can no longer accept the lost request (its receive window
from the real send) or, without a window, once listing its orders proves it absent. A reply the
profile calls refused (a rate limit, a timestamp refusal) did not execute: `RequestRefused`,
after the backoff. The caller replaces either with a new order from a fresh book.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt

from bot.domain.market import ONE, Market, OrderBook
from bot.domain.orders import FillReport, OrderReport, OrderRequest
from bot.errors import (
    AmbiguousOrder,
    ExchangeUnavailable,
    GatewayError,
    MalformedReply,
    NeverArrived,
    OrderUnknown,
    RequestRefused,
)
from bot.exchange.codec import (
    FINAL_STATUSES,
    Balances,
    balances_from_ccxt,
    book_from_ccxt,
    fill_from_ccxt,
    market_from_ccxt,
    market_wanted,
    opt_dec,
    order_from_ccxt,
    to_text,
    top_from_ticker,
)
from bot.exchange.derivatives import DerivativesApi
from bot.exchange.flows import FlowsApi
from bot.exchange.ohlcv import OhlcvApi
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles import profile_for
from bot.exchange.replace import ReplaceApi, checked_params, completed
from bot.exchange.transport import RetryPolicy, Sleep
from bot.observability import get_logger

log = get_logger("bot.exchange")

# Levels read when a market's price must come from its book (a ticker without bid or ask).
TOP_DEPTH = 5
# Recent closed orders scanned for a client id on an exchange that cannot be asked by it.
SCAN_CLOSED = 100


class Gateway(FlowsApi, DerivativesApi, OhlcvApi, ReplaceApi):
    """Typed, paced, retried access to one exchange account: its markets, balances, books,
    orders (cancel-and-replace in one request: `replace.ReplaceApi`), external flows
    (`flows.FlowsApi`) and perpetuals (`derivatives.DerivativesApi`)."""

    def __init__(
        self,
        exchange: Any,
        *,
        requests_per_second: float | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        now: Callable[[], float] = time.monotonic,
        profile: ExchangeProfile | None = None,
        ambiguity_window: float | None = None,
        fee_rates: Mapping[str, Decimal] | None = None,
    ) -> None:
        super().__init__(
            exchange,
            requests_per_second=requests_per_second,
            retry=retry,
            sleep=sleep,
            rng=rng,
            now=now,
            profile=profile or profile_for(str(getattr(exchange, "id", ""))),
        )
        # Fee rates (maker, taker) the user pays, for markets whose rates the exchange and the
        # account do not report.
        self.fee_rates = dict(fee_rates or {})
        self.ambiguity_window = (
            self.profile.ambiguity_window if ambiguity_window is None else ambiguity_window
        )
        self._ambiguous = tuple(getattr(ccxt, name) for name in self.profile.ambiguous_errors)
        self._refused = tuple(getattr(ccxt, name) for name in self.profile.refused_errors)
        self._refusals = 0  # order requests refused in a row (their backoff grows)
        self.markets: dict[str, Market] = {}

    # -- reading --------------------------------------------------------------------------------

    async def load_markets(self) -> dict[str, Market]:
        """The active spot markets (a perp client's: its linear perpetuals). Where ccxt reports
        no fee rates for a market, or only the exchange's base tier (the profile's
        `account_fees`), the account's are read (`fetch_trading_fees`, where the exchange has
        it), else the configured ones (`fee_rates`); still unknown, the market is marked so and
        no plan trades on it."""
        raw = await self._call("load_markets")
        mode = int(getattr(self.exchange, "precisionMode", ccxt.TICK_SIZE))
        defaults = (getattr(self.exchange, "fees", None) or {}).get("trading", {})
        wanted = {s: m for s, m in raw.items() if market_wanted(m, self.profile.contracts)}
        unknown = [
            s for s, m in wanted.items() if m.get("maker", 0) is None or m.get("taker", 0) is None
        ]
        account: Mapping[str, Any] = {}
        wants_account = bool(unknown) or self.profile.account_fees
        if wants_account and (getattr(self.exchange, "has", None) or {}).get("fetchTradingFees"):
            try:
                account = await self._call("fetch_trading_fees")
            except GatewayError as exc:
                log.warning("trading_fees_unavailable", error=str(exc), markets=unknown[:10])
        markets = {}
        for symbol, m in wanted.items():
            own = account.get(symbol)
            if own and self.profile.account_fees:  # the account's tier over ccxt's base tier
                m = {**m, "maker": own.get("maker"), "taker": own.get("taker")}
            rates = own or self.fee_rates or None
            markets[symbol] = self._decode(
                "load_markets", market_from_ccxt, m, mode, defaults, rates
            )
        self.markets = markets
        return markets

    async def fetch_balances(self) -> Balances:
        return self._decode("fetch_balance", balances_from_ccxt, await self._call("fetch_balance"))

    async def fetch_order_book(self, symbol: str, depth: int | None = None) -> OrderBook:
        asked = self.profile.book_depth(depth)
        raw = await self._call("fetch_order_book", symbol, asked)
        book = self._decode("fetch_order_book", book_from_ccxt, symbol, raw)
        if depth is None or asked == depth:
            return book
        return OrderBook(symbol, book.bids[:depth], book.asks[:depth])

    async def fetch_order_books(
        self, symbols: Iterable[str], depth: int | None = None
    ) -> dict[str, OrderBook]:
        wanted = sorted(set(symbols))
        books = await asyncio.gather(*(self.fetch_order_book(s, depth) for s in wanted))
        return dict(zip(wanted, books, strict=True))

    async def fetch_tops(self, symbols: Iterable[str]) -> dict[str, OrderBook]:
        """Best bid and ask of many markets in one request (tickers), as one-level books: enough
        to value a portfolio at mid. A market whose ticker has no bid or ask (some exchanges'
        tickers carry none) is read from its order book instead; one still without both sides is
        left out."""
        wanted = sorted(set(symbols))
        raw = await self._call("fetch_tickers", wanted) if self.profile.tickers_bid_ask else {}
        tops: dict[str, OrderBook] = {}
        for symbol in wanted:
            top = self._decode("fetch_tickers", top_from_ticker, symbol, raw.get(symbol) or {})
            if top is not None:
                tops[symbol] = top
        missing = [s for s in wanted if s not in tops]
        if missing:
            books = await self.fetch_order_books(missing, TOP_DEPTH)
            tops.update({s: b for s, b in books.items() if b.is_two_sided})
        return tops

    async def fetch_volumes(self, symbols: Iterable[str]) -> dict[str, Decimal | None]:
        """Each market's 24 h volume in its quote, from one tickers request (None: not given)."""
        wanted = sorted(set(symbols))
        raw = await self._call("fetch_tickers", wanted)
        return {
            s: self._decode("fetch_tickers", opt_dec, (raw.get(s) or {}).get("quoteVolume"))
            for s in wanted
        }

    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        """Look an order up by our client id; None when the exchange does not know it. Where
        the exchange cannot be asked by client id (the profile's `lookup_param` is None), its
        open and recent closed orders are scanned for it; so too after a miss where lookups forget
        finished orders (`scan_after_lookup_miss`)."""
        param = self.profile.client_id.lookup_param
        if param is None:
            return await self._scan(symbol, client_id)
        try:
            sent = self.sent_client_id(client_id)
            raw = await self._call("fetch_order", sent, symbol, {param: sent})
        except OrderUnknown:
            if self.profile.scan_after_lookup_miss:
                return await self._scan(symbol, client_id)
            return None
        return self._order(raw)

    async def _scan(self, symbol: str, client_id: str) -> OrderReport | None:
        """The order among the exchange's open, then recent finished orders, asked for by client
        id where the listings filter by it (the profile's `scan_filter`)."""
        key = self.profile.scan_filter
        params: dict[str, Any] = {} if key is None else {key: self.sent_client_id(client_id)}
        for found in await self.fetch_open_orders(symbol, params):
            if found.client_id == client_id:
                return found
        for found in await self._finished_orders(symbol, params):
            if found.client_id == client_id:
                return found
        return None

    async def _finished_orders(
        self, symbol: str, params: Mapping[str, Any] | None = None
    ) -> list[OrderReport]:
        """Recent filled and cancelled orders on `symbol`, by the profile's listing."""
        method = self.profile.closed_orders_method
        extra = (dict(params),) if params else ()
        limit = min(SCAN_CLOSED, self.profile.orders_page)  # no more than the exchange serves
        raw = await self._call(method, symbol, None, limit, *extra)
        return [self._order(r, method) for r in raw]

    def sent_client_id(self, client_id: str) -> str:
        """A client id as the exchange holds it (with the prefix ccxt adds, Gate's `t-`)."""
        return self.profile.client_id.prefix + client_id

    async def fetch_open_orders(
        self, symbol: str | None = None, params: Mapping[str, Any] | None = None
    ) -> list[OrderReport]:
        if params:
            raw = await self._call("fetch_open_orders", symbol, None, None, dict(params))
        else:
            raw = await self._call("fetch_open_orders", symbol)
        return [self._order(o) for o in raw]

    def _order(self, raw: Mapping[str, Any], method: str = "order") -> OrderReport:
        rules = self.profile.client_id
        report = self._decode(method, order_from_ccxt, raw, rules.reply_keys)
        if rules.prefix and report.client_id:
            return replace(report, client_id=rules.ours(report.client_id))
        return report

    async def fetch_my_trades(
        self,
        symbol: str,
        since_ms: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[FillReport]:
        raw = await self._call("fetch_my_trades", symbol, since_ms, limit, dict(params or {}))
        return [self._fill("fetch_my_trades", t) for t in raw]

    async def fetch_order_trades(self, symbol: str, exchange_id: str) -> list[FillReport]:
        """One order's trades: ccxt's fetch_order_trades, given the order's trade ids where it
        needs them (the profile's `order_trade_ids_param`), or the account's trades filtered by
        order where ccxt has no such call (`order_trades_filter`)."""
        by_order, ids_key = self.profile.order_trades_filter, self.profile.order_trade_ids_param
        if by_order is not None:
            one: Any = [exchange_id] if self.profile.order_trades_filter_list else exchange_id
            raw = await self._call("fetch_my_trades", symbol, None, None, {by_order: one})
        elif ids_key is not None:
            order = await self._call("fetch_order", exchange_id, symbol)
            ids = [t["id"] for t in order.get("trades") or () if t.get("id")]
            raw = []
            if ids:
                args = (exchange_id, symbol, None, None, {ids_key: ids})
                raw = await self._call("fetch_order_trades", *args)
        else:
            raw = await self._call("fetch_order_trades", exchange_id, symbol)
        return [self._fill("fetch_order_trades", t) for t in raw]

    def _fill(self, method: str, raw: Mapping[str, Any]) -> FillReport:
        fill = self._decode(method, fill_from_ccxt, raw)
        if self.profile.client_id.prefix and fill.client_id:
            return replace(fill, client_id=self.profile.client_id.ours(fill.client_id))
        return fill

    async def exchange_status(self) -> str | None:
        """What the exchange says of itself ('ok', 'maintenance', ...), or None when it has no
        status endpoint (ccxt's fetch_status)."""
        if not (getattr(self.exchange, "has", None) or {}).get("fetchStatus"):
            return None
        raw = await self._call("fetch_status")
        status = raw.get("status") if isinstance(raw, Mapping) else None
        return None if status is None else str(status)

    async def mid_price(self, asset: str, quote: str) -> Decimal | None:
        """The mid of `asset` in `quote` from one market between them (either way round), or
        None when there is no such market with a two-sided book."""
        if asset == quote:
            return ONE
        for symbol, invert in ((f"{asset}/{quote}", False), (f"{quote}/{asset}", True)):
            market = self.markets.get(symbol)
            if market is None or {market.base, market.quote} != {asset, quote}:
                continue
            mid = (await self.fetch_tops([symbol])).get(symbol)
            if mid is not None and mid.mid:
                return ONE / mid.mid if invert else mid.mid
        return None

    # -- trading --------------------------------------------------------------------------------

    async def place_order(
        self, request: OrderRequest, on_sent: Callable[[float], None] | None = None
    ) -> OrderReport:
        """Place a limit order exactly once, whatever the network does (checked first:
        `replace.checked_params`)."""
        params = checked_params(self.profile, self.markets, request)
        # Exact text, never a float: ccxt rounds a string amount (to the step, toward zero) and a
        # string price (to the tick) in decimal, and both are on their grids already.
        args = (request.symbol, "limit", request.side.value, to_text(request.amount))
        sent_at: float | None = None

        def sending() -> None:  # inside the pacer, just before the request leaves
            nonlocal sent_at
            sent_at = self._now()
            if on_sent is not None:
                on_sent(sent_at)

        try:
            raw = await self._send(
                "create_order", *args, to_text(request.price), params, before=sending
            )
            reply = completed(raw, request)
        except self._refused as exc:
            raise await self._refusal("create_order", request.client_id, exc) from exc
        except self._ambiguous as exc:
            # A network error, or an "execution status unknown" reply (the profile's ambiguous
            # errors): the order may exist, and the request may still arrive.
            if self.profile.is_auth_failure(exc):
                raise self._translate("create_order", ccxt.AuthenticationError(str(exc))) from exc
            log.warning(
                "order_reply_lost",
                client_id=request.client_id,
                symbol=request.symbol,
                error=type(exc).__name__,
            )
            return await self._settle_ambiguous(request, sent_at or self._now())
        except ccxt.BaseError as exc:
            raise self._translate("create_order", exc) from exc
        self._refusals = 0
        return await self._accepted(reply, request, "create_order")

    async def _refusal(self, method: str, client_id: str, exc: Exception) -> GatewayError:
        """An order request refused unexecuted (a rate limit, a timestamp outside the receive
        window): nothing to look for, nothing to wait out; `RequestRefused` after the backoff."""
        if self.profile.is_auth_failure(exc):
            return self._translate(method, ccxt.AuthenticationError(str(exc)))
        self._refusals += 1
        log.warning("order_refused", client_id=client_id, error=type(exc).__name__)
        if isinstance(exc, ccxt.InvalidNonce):
            await self._resync_time()
        delay = await self._backoff(method, self._refusals, exc)
        return RequestRefused(
            f"{self.id} {method} {client_id}: refused, not executed: {type(exc).__name__}: {exc}",
            retry_after=delay,
        )

    async def _accepted(
        self, reply: dict[str, Any], request: OrderRequest, method: str
    ) -> OrderReport:
        """A new order's reply as its report. A short reply (an id, no status): the order's
        state is asked for, never assumed."""
        if reply.get("status") is None:
            found = await self._find_after_failure(request)
            if found is not None:
                return found
            reply["status"] = "open"  # acknowledged: worked, then cancelled to learn its end
        try:
            return self._order(reply, method)
        except MalformedReply as exc:
            # The exchange took the order; its reply cannot be read: ask by client id.
            found = await self._find_after_failure(request)
            if found is not None:
                return found
            raise AmbiguousOrder(
                f"{request.client_id} on {request.symbol}: placed, but {exc}, and the order"
                " cannot be found by its client id"
            ) from exc

    async def _settle_ambiguous(self, request: OrderRequest, sent_at: float) -> OrderReport:
        """After an ambiguous send: the order as the exchange has it, or `NeverArrived` once it
        is proven absent: looked up by its client id, then again once the exchange would refuse
        the lost request as too old (the profile's receive window and a margin, counted from the
        real send). On an exchange with no receive window, absence is proven by listing its open
        and recent orders; one lookup that misses never is. `AmbiguousOrder` when the exchange
        cannot be asked."""
        found = await self._find_after_failure(request)
        if found is None:
            wait = sent_at + self.ambiguity_window - self._now()
            if wait > 0:
                await self._sleep(wait)
            found = await self._find_after_failure(request)
        if found is not None:
            log.info("order_found_after_failure", client_id=request.client_id, id=found.exchange_id)
            return found
        if self.profile.receive_window is None and not await self.proven_absent(
            request.symbol, request.client_id
        ):
            raise AmbiguousOrder(
                f"{request.client_id} on {request.symbol}: the reply was lost, the order is not"
                f" found, and {self.id} has no receive window and no order listing to prove it"
                " absent"
            )
        log.info("order_never_arrived", client_id=request.client_id)
        raise NeverArrived(
            f"{request.client_id} on {request.symbol}: the request was lost and the exchange can"
            " no longer accept it"
        )

    async def proven_absent(self, symbol: str, client_id: str) -> bool:
        """Whether listing the exchange's open and recent closed orders proves the order absent
        (False when the exchange cannot list them)."""
        has = getattr(self.exchange, "has", None) or {}
        if not has.get("fetchOpenOrders") or not (
            has.get("fetchClosedOrders") or has.get("fetchOrders")
        ):
            return False
        try:
            listed = await self.fetch_open_orders(symbol)
            if has.get("fetchClosedOrders"):
                listed += await self._finished_orders(symbol)
            else:
                listed += [self._order(r) for r in await self._call("fetch_orders", symbol)]
        except GatewayError as exc:
            raise AmbiguousOrder(f"{client_id} on {symbol}: cannot list the orders: {exc}") from exc
        return client_id not in {o.client_id for o in listed}

    @property
    def receive_window(self) -> float | None:
        """Seconds from a request's send until the exchange would refuse it as too old (its
        window and a margin), or None when the exchange has no such window."""
        return None if self.profile.receive_window is None else self.ambiguity_window

    async def _find_after_failure(self, request: OrderRequest) -> OrderReport | None:
        try:
            return await self.fetch_order(request.symbol, request.client_id)
        except ExchangeUnavailable as exc:
            raise AmbiguousOrder(
                f"{request.client_id} on {request.symbol}: the exchange may hold this order and"
                f" cannot be asked: {exc}"
            ) from exc

    async def cancel_order(
        self, symbol: str, exchange_id: str, client_id: str | None = None
    ) -> OrderReport | None:
        """Cancel; returns the final report, or None when the exchange does not know the order.

        The cancel reply is used when the profile says cancel replies are final and this one is a
        complete, final order; otherwise one more query asks for the order's final state (by
        client id where the exchange cannot be asked by order id). A refusal the profile says
        means "already final" (`cancel_final_errors`) leads to that query too.
        """
        raw: Any = None
        try:
            raw = await self._call("cancel_order", exchange_id, symbol)
        except GatewayError as exc:  # already filled or cancelled: query below
            final = self.profile.cancel_final_errors
            if not any(c.__name__ in final for c in type(exc.__cause__).__mro__):
                raise
        if (
            self.profile.cancel_reply_final
            and isinstance(raw, dict)
            and raw.get("status") in FINAL_STATUSES
            and raw.get("filled") is not None
        ):
            return self._order(raw, "cancel_order")
        if self.profile.client_id.lookup_param is None and client_id is not None:
            return await self._scan(symbol, client_id)
        try:
            raw = await self._call("fetch_order", exchange_id, symbol)
        except OrderUnknown:
            return None
        return self._order(raw, "fetch_order")
