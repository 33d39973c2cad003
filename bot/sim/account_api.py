"""`SimAccountApi`: ccxt's unified account and order methods over one simulated account.

The part every simulated account shares (balances, orders, trades, over a `matching.Matcher`):
`exchange.SimExchange` adds the synthetic market, latency and faults; `paper.PaperExchange` a
real exchange's public market data. Replies are ccxt-shaped dicts (`structures`) and errors
ccxt's own classes; where exchanges differ it behaves like Binance spot through ccxt (see
`exchange`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import ccxt
import structlog
from ccxt.base.decimal_to_precision import (
    TICK_SIZE,
)

from bot.domain.market import Side
from bot.sim import structures
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from bot.sim.clock import Clock
from bot.sim.faults import WEIGHTS
from bot.sim.flows import MAX_PAGE, FlowBook, FlowKind, transaction_dict
from bot.sim.matching import Matcher
from bot.sim.replace import SimReplace

log = structlog.get_logger("bot.sim.exchange")

Params = Mapping[str, Any] | None
DEFAULT_TRADES_PAGE = 500  # Binance's myTrades page when no limit is asked
MAX_TRADES_PAGE = 1000  # and the most it returns
FLOW_WINDOW_MS = 90 * 86_400_000  # ccxt's binance: a flow query's window from `since`

HAS: dict[str, bool | str] = {
    "spot": True,
    "margin": False,
    "swap": False,
    "future": False,
    "option": False,
    "cancelOrder": True,
    "createOrder": True,
    "createMarketOrder": True,
    "createLimitOrder": True,
    "createPostOnlyOrder": True,
    "fetchBalance": True,
    "fetchClosedOrders": True,
    "fetchCanceledOrders": True,
    "fetchCurrencies": False,
    "fetchDeposits": True,
    "fetchWithdrawals": True,
    "fetchMarkets": True,
    "fetchMyTrades": True,
    "fetchOpenOrders": True,
    "fetchOrder": True,
    "fetchOrderBook": True,
    "fetchOrders": True,
    "fetchTicker": True,
    "fetchTickers": True,
    "fetchTime": False,
    "fetchTradingFees": True,
    "sandbox": False,
    "ws": False,
}


def _decimal(value: Any, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ccxt.InvalidOrder(f"sim: {name} {value!r} is not a number") from None
    if not result.is_finite():
        raise ccxt.InvalidOrder(f"sim: {name} {value!r} is not a finite number")
    return result


def _since_limit(
    items: Sequence[dict[str, Any]], since: int | None, limit: int | None
) -> list[dict[str, Any]]:
    out = [i for i in items if since is None or (i["timestamp"] or 0) >= since]
    if limit is not None:
        out = out[:limit] if since is not None else out[-limit:]
    return out


E = TypeVar("E", bound=Matcher[Any])


class SimAccountApi(SimReplace[E], Generic[E]):
    """ccxt's unified account and order methods for one simulated account (an `engine`).

    Cancel-and-replace in one request: `replace.SimReplace`. A subclass supplies the market:
    `market()` (a ccxt market dict, or `ccxt.BadSymbol`), `_call()`
    (what every request does first: count it, bring the market up to now) and `close()`.
    """

    precisionMode = TICK_SIZE  # noqa: N815 - ccxt's attribute names
    rateLimit = 50  # noqa: N815
    enableRateLimit = False  # noqa: N815
    # As in ccxt: `float` (the default) or `str`, the type the reply's numbers come in.
    number: type[float] | type[str] = float
    _event = "sim"  # prefix of the log events

    def __init__(self, engine: E, clock: Clock, *, exchange_id: str, name: str) -> None:
        self.id = exchange_id
        self.name = name
        self.engine = engine
        self.clock = clock
        self.has = dict(HAS)
        self.options: dict[str, Any] = {}
        self.urls: dict[str, Any] = {}
        self.fees: dict[str, Any] = {"trading": {"percentage": True, "tierBased": False}}
        self.last_response_headers: dict[str, str] = {}
        # Most trades one trade query returns; without a limit, Binance's default page.
        self.max_trades_page = MAX_TRADES_PAGE
        self.markets: dict[str, dict[str, Any]] | None = None
        self.markets_by_id: dict[str, list[dict[str, Any]]] | None = None
        self.symbols: list[str] = []
        self.currencies: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.flow_book = FlowBook()  # deposits and withdrawals (`flows`)

    # ---- what a subclass supplies -----------------------------------------------------------

    def market(self, symbol: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        """Before `method` acts on the account (about `symbol`, or all symbols when None)."""
        raise NotImplementedError

    async def _symbol(self, symbol: str) -> None:
        """Check that `symbol` can be traded here (`ccxt.BadSymbol` otherwise)."""
        self.market(symbol)

    async def _refused(self, method: str, weight: int) -> None:
        """A request of `method` is refused for a bad parameter before `_call`: charge it, as
        Binance does (nothing here)."""

    def _late_error(self, method: str) -> ccxt.BaseError | None:
        """The error to raise after `method` (create_order, cancel_order) executed: its reply
        lost or answered with a server error (none here)."""
        return None

    async def close(self) -> None:
        raise NotImplementedError

    # ---- plumbing ---------------------------------------------------------------------------

    def _number(self) -> structures.Number:
        return structures.text if self.number is str else float

    def milliseconds(self) -> int:
        """Now on the exchange's clock (which may be off the caller's: `time_offset`)."""
        return round((self.clock.time() + self.engine.time_offset) * 1000)

    async def _require_symbol(self, method: str, symbol: str | None) -> str:
        if symbol is None:
            raise ccxt.ArgumentsRequired(f"{self.id} {method}() requires a symbol argument")
        await self._symbol(symbol)
        return symbol

    # ---- account ----------------------------------------------------------------------------

    async def fetch_balance(self, params: Params = None) -> dict[str, Any]:
        await self._call("fetch_balance", WEIGHTS["fetch_balance"])
        return structures.balance_dict(
            self.engine.account, self.milliseconds(), number=self._number()
        )

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float | str | Decimal,
        price: float | str | Decimal | None = None,
        params: Params = None,
    ) -> dict[str, Any]:
        params = params or {}
        await self._symbol(symbol)
        try:
            order_type, order_side, tif, qty, limit = self._order_args(
                symbol, type, side, amount, price, params
            )
        except ccxt.InvalidOrder:
            await self._refused("create_order", WEIGHTS["create_order"])
            raise
        client_id = params.get("clientOrderId", params.get("newClientOrderId"))
        await self._call("create_order", WEIGHTS["create_order"], symbol)
        order = self.engine.place(
            symbol,
            order_type,
            order_side,
            qty,
            limit,
            time_in_force=tif,
            client_order_id=None if client_id is None else str(client_id),
        )
        log.debug(
            f"{self._event}_order_placed",
            symbol=symbol,
            side=side,
            type=type,
            amount=str(qty),
            price=None if limit is None else str(limit),
            status=order.status.value,
            filled=str(order.filled),
            client_order_id=order.client_order_id,
        )
        late = self._late_error("create_order")
        if late is not None:
            raise late
        return structures.order_dict(order, number=self._number())

    def _order_args(
        self, symbol: str, type: str, side: str, amount: Any, price: Any, params: Mapping[str, Any]
    ) -> tuple[OrderType, Side, TimeInForce, Decimal, Decimal | None]:
        """An order's kind, amount and limit price, checked (`ccxt.InvalidOrder`)."""
        order_type, order_side, tif = self._order_kind(symbol, type, side, params)
        limit = _decimal(price, "price") if price is not None else None
        qty = _decimal(amount, "amount")
        return order_type, order_side, tif, qty, limit if order_type is OrderType.LIMIT else None

    def _order_kind(
        self, symbol: str, type: str, side: str, params: Mapping[str, Any]
    ) -> tuple[OrderType, Side, TimeInForce]:
        try:
            order_type = OrderType(type.lower())
        except ValueError:
            raise ccxt.InvalidOrder(
                f"{self.id} {symbol}: order type {type!r} is not supported (limit, market)"
            ) from None
        try:
            order_side = Side(side.lower())
        except ValueError:
            raise ccxt.InvalidOrder(
                f"{self.id} {symbol}: side {side!r} is not buy or sell"
            ) from None
        raw_tif = params.get("timeInForce")
        post_only = bool(params.get("postOnly", False))
        try:
            tif = TimeInForce(str(raw_tif).upper()) if raw_tif is not None else TimeInForce.GTC
        except ValueError:
            raise ccxt.InvalidOrder(
                f"{self.id} {symbol}: timeInForce {raw_tif!r} is not one of GTC, IOC, FOK, PO"
            ) from None
        if post_only:
            if tif not in (TimeInForce.GTC, TimeInForce.PO):
                raise ccxt.InvalidOrder(
                    f"{self.id} {symbol}: postOnly cannot be combined with timeInForce {tif}"
                )
            tif = TimeInForce.PO
        if order_type is OrderType.MARKET and tif is TimeInForce.PO:
            raise ccxt.InvalidOrder(f"{self.id} {symbol}: a market order cannot be post-only")
        if order_type is OrderType.MARKET:
            tif = TimeInForce.GTC
        return order_type, order_side, tif

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("cancel_order", symbol)
        await self._call("cancel_order", WEIGHTS["cancel_order"], symbol)
        order = self.engine.cancel(id, self._client_id(params), symbol)
        log.debug(
            f"{self._event}_order_canceled", symbol=symbol, id=order.id, filled=str(order.filled)
        )
        late = self._late_error("cancel_order")
        if late is not None:
            raise late
        # As ccxt reads Binance's cancel reply: it has no `time`, so the order's timestamp is the
        # cancel's `transactTime`, not when the order was placed.
        reply = structures.order_dict(order, number=self._number())
        reply["timestamp"] = self.engine.now_ms
        reply["datetime"] = structures.iso8601(self.engine.now_ms)
        return reply

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("fetch_order", symbol)
        await self._call("fetch_order", WEIGHTS["fetch_order"], symbol)
        order = self.engine.find(id, self._client_id(params), symbol)
        return structures.order_dict(order, number=self._number())

    @staticmethod
    def _client_id(params: Params) -> str | None:
        params = params or {}
        value = params.get("origClientOrderId", params.get("clientOrderId"))
        return None if value is None else str(value)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        if symbol is not None:
            await self._symbol(symbol)
        weight = WEIGHTS["fetch_open_orders" if symbol else "fetch_open_orders_all"]
        await self._call("fetch_open_orders", weight, symbol)
        return self._orders(self.engine.open_orders(symbol), since, limit)

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol("fetch_orders", symbol)
        await self._call("fetch_orders", WEIGHTS["fetch_orders"], symbol)
        return self._orders(self.engine.all_orders(symbol), since, limit)

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        return await self._with_status(
            "fetch_closed_orders", OrderStatus.CLOSED, symbol, since, limit
        )

    async def fetch_canceled_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        return await self._with_status(
            "fetch_canceled_orders", OrderStatus.CANCELED, symbol, since, limit
        )

    async def _with_status(
        self,
        method: str,
        status: OrderStatus,
        symbol: str | None,
        since: int | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol(method, symbol)
        await self._call(method, WEIGHTS["fetch_orders"], symbol)
        orders = [o for o in self.engine.all_orders(symbol) if o.status is status]
        return self._orders(orders, since, limit)

    def _orders(
        self, orders: Sequence[SimOrder], since: int | None, limit: int | None
    ) -> list[dict[str, Any]]:
        return _since_limit(
            [structures.order_dict(o, number=self._number()) for o in orders], since, limit
        )

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol("fetch_my_trades", symbol)
        await self._call("fetch_my_trades", WEIGHTS["fetch_my_trades"], symbol)
        trades = [
            structures.trade_dict(
                t, self.engine.orders[t.order_id].client_order_id, number=self._number()
            )
            for t in self.engine.my_trades(symbol)
        ]
        page = min(limit if limit is not None else DEFAULT_TRADES_PAGE, self.max_trades_page)
        from_id = (params or {}).get("fromId")
        if from_id is not None:  # Binance: the oldest `limit` trades from that trade id on
            if since is not None:
                raise ccxt.BadRequest(f"{self.id} fetch_my_trades: fromId and since together")
            return [t for t in trades if int(t["id"]) >= int(from_id)][:page]
        return _since_limit(trades, since, page)

    async def fetch_deposits(
        self,
        code: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        return await self._flows(FlowKind.DEPOSIT, "fetch_deposits", code, since, limit, params)

    async def fetch_withdrawals(
        self,
        code: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        return await self._flows(
            FlowKind.WITHDRAWAL, "fetch_withdrawals", code, since, limit, params
        )

    async def _flows(
        self,
        kind: FlowKind,
        method: str,
        code: str | None,
        since: int | None,
        limit: int | None,
        params: Params,
    ) -> list[dict[str, Any]]:
        """As ccxt's binance: a window of 90 days from `since`, the exchange's page (newest
        first, from params `offset`), returned oldest first."""
        await self._call(method, 1)
        offset = int((params or {}).get("offset", 0))
        end = None if since is None else since + FLOW_WINDOW_MS
        page = min(limit or MAX_PAGE, MAX_PAGE)
        shift = self.engine.time_offset
        flows = self.flow_book.select(kind, code, since, end, offset, page, shift)
        out = [transaction_dict(f, self._number(), shift) for f in flows]
        return sorted(out, key=lambda t: int(t["timestamp"]))
