"""Cancel an order and place another in one request, as Binance's POST /api/v3/order/cancelReplace
does, for the simulated accounts (`SimReplace`, part of `account_api.SimAccountApi`): what the
simulated profile's `cancel_replace` facts name.

`cancel_replace_request(id, symbol, type, side, amount, price, params)` takes ccxt's edit_order
arguments (the old order by `id`, else by params `origClientOrderId`; `cancelReplaceMode`
STOP_ON_FAILURE or ALLOW_FAILURE; the new order's params as create_order's) and returns the
request; `cancel_replace(request)` sends it: one request, charged and exposed to the faults like
create_order (it counts as a new order), then the cancel and the placement in one step, so nothing
trades between them. Its reply is Binance's, with ccxt orders as halves:

    {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
     "cancelResponse": <the old order, cancelled>, "newOrderResponse": <the new order>}

A failed half is `{"code": ..., "msg": ...}` as Binance answers it, and the reply then the error
ccxt's binance raises for it (`ccxt.BadResponse`, the body in the message): -2022 "Order
cancel-replace failed." when the cancel failed (-2011: the order is final or unknown) and, under
STOP_ON_FAILURE, nothing was attempted; -2021 "Order cancel-replace partially failed." when one
half failed (a post-only order that would take: -2010 "Order would immediately match and take.",
the old order cancelled all the same). Unlike Binance, which checks the new order's filters
before it cancels, a filter failure here is the new half's (-1013), after the cancel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import ccxt
import structlog

from bot.domain.market import Side
from bot.sim import structures
from bot.sim.account import OrderType, TimeInForce
from bot.sim.faults import WEIGHTS
from bot.sim.matching import Matcher

log = structlog.get_logger("bot.sim.exchange")

METHOD = "cancel_replace"  # the faults' and weights' name of the request
MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
UNKNOWN_ORDER = {"code": -2011, "msg": "Unknown order sent."}


def half_error(exc: ccxt.BaseError) -> dict[str, Any]:
    """The failed new-order half Binance answers for the simulator's error `exc`."""
    if isinstance(exc, ccxt.OrderImmediatelyFillable):
        return {"code": -2010, "msg": "Order would immediately match and take."}
    if isinstance(exc, ccxt.InsufficientFunds):
        return {"code": -2010, "msg": "Account has insufficient balance for requested action."}
    if isinstance(exc, ccxt.DuplicateOrderId):
        return {"code": -2010, "msg": "Duplicate order sent."}
    return {"code": -1013, "msg": str(exc)}


def failed(halves: Mapping[str, Any], exchange_id: str) -> ccxt.BadResponse:
    """What ccxt's binance raises for a reply with a failed half: -2022 when no half succeeded,
    else -2021; the body, as Binance sends it, in the message."""
    both = halves["cancelResult"] != "SUCCESS" and halves["newOrderResult"] != "SUCCESS"
    code, msg = (
        (-2022, "Order cancel-replace failed.")
        if both
        else (-2021, "Order cancel-replace partially failed.")
    )
    body = {"code": code, "msg": msg, "data": dict(halves)}
    return ccxt.BadResponse(f"{exchange_id} {json.dumps(body, separators=(',', ':'))}")


E = TypeVar("E", bound=Matcher[Any])


class SimReplace(Generic[E]):
    """Binance's cancel-replace over a simulated account (see the module)."""

    # What `account_api.SimAccountApi` supplies.
    id: str
    engine: E
    _event: str

    if TYPE_CHECKING:

        def _number(self) -> structures.Number: ...
        def _late_error(self, method: str) -> ccxt.BaseError | None: ...
        async def _require_symbol(self, method: str, symbol: str | None) -> str: ...
        async def _refused(self, method: str, weight: int) -> None: ...
        async def _call(self, method: str, weight: int, symbol: str | None = None) -> None: ...
        def _order_args(
            self,
            symbol: str,
            type: str,
            side: str,
            amount: Any,
            price: Any,
            params: Mapping[str, Any],
        ) -> tuple[OrderType, Side, TimeInForce, Decimal, Decimal | None]: ...

    def cancel_replace_request(
        self,
        id: str | None,
        symbol: str,
        type: str,
        side: str,
        amount: Any,
        price: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The request, from ccxt's edit_order arguments (as ccxt's binance builds its own)."""
        return {
            "id": id,
            "symbol": symbol,
            "type": type,
            "side": side,
            "amount": amount,
            "price": price,
            "params": dict(params or {}),
        }

    def parse_order(self, order: Mapping[str, Any], market: Any = None) -> dict[str, Any]:
        """A half of the reply as a ccxt order: it is one already."""
        return dict(order)

    async def cancel_replace(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Send one cancel-replace request (see the module)."""
        params = dict(request.get("params") or {})
        symbol = await self._require_symbol(METHOD, request.get("symbol"))
        mode = params.pop("cancelReplaceMode", None)
        old_id, old_client = request.get("id"), params.pop("origClientOrderId", None)
        try:
            if mode not in MODES:
                raise ccxt.BadRequest(f"{self.id} {METHOD}: cancelReplaceMode {mode!r}")
            if old_id is None and old_client is None:
                raise ccxt.ArgumentsRequired(f"{self.id} {METHOD}: which order to cancel")
            kind, side, tif, qty, limit = self._order_args(
                symbol, request["type"], request["side"], request["amount"],
                request.get("price"), params,
            )  # fmt: skip
        except ccxt.BaseError:
            await self._refused(METHOD, WEIGHTS[METHOD])
            raise
        client_id = params.get("clientOrderId", params.get("newClientOrderId"))
        await self._call(METHOD, WEIGHTS[METHOD], symbol)
        n = self._number()
        halves: dict[str, Any] = {"cancelResponse": UNKNOWN_ORDER, "newOrderResponse": None}
        try:
            old = self.engine.cancel(None if old_id is None else str(old_id), old_client, symbol)
        except ccxt.OrderNotFound:
            halves["cancelResult"] = "FAILURE"
        else:
            halves["cancelResult"] = "SUCCESS"
            halves["cancelResponse"] = reply = structures.order_dict(old, number=n)
            reply["timestamp"] = self.engine.now_ms  # as ccxt reads a cancel reply
        halves["newOrderResult"] = "NOT_ATTEMPTED"
        if halves["cancelResult"] == "SUCCESS" or mode == "ALLOW_FAILURE":
            try:
                new = self.engine.place(
                    symbol, kind, side, qty, limit, time_in_force=tif,
                    client_order_id=None if client_id is None else str(client_id),
                )  # fmt: skip
            except ccxt.BaseError as exc:
                halves.update(newOrderResult="FAILURE", newOrderResponse=half_error(exc))
            else:
                halves["newOrderResult"] = "SUCCESS"
                halves["newOrderResponse"] = structures.order_dict(new, number=n)
        log.debug(
            f"{self._event}_order_replaced",
            symbol=symbol,
            old=old_id or old_client,
            cancel=halves["cancelResult"],
            new=halves["newOrderResult"],
        )
        late = self._late_error(METHOD)
        if late is not None:
            raise late
        if halves["cancelResult"] != "SUCCESS" or halves["newOrderResult"] != "SUCCESS":
            raise failed(halves, self.id)
        return halves
