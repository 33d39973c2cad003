"""Cancel-and-replace in one request on Binance spot, through ccxt's real binance class: Binance's
own replies to POST /api/v3/order/cancelReplace (formats from its spot REST docs, `binance.py`)
read by `Gateway.replace_order`, and the exact request Binance receives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderStatus, TimeInForce
from bot.errors import GatewayError, NeverArrived, RequestRefused, WouldCross
from bot.exchange.gateway import Gateway
from tests.venues import binance
from tests.venues.binance import REPLACE, order_json
from tests.venues.harness import connect, order

D = Decimal
OLD, NEW = "rb1a2b-1ab34-0c1", "rb1a2b-1ab34-0c2"
PRICE = D("49990.0")


def cancelled(executed: str = "0.00400000") -> dict[str, Any]:
    """The cancel half: the old order, cancelled, with what it had filled."""
    return {
        "symbol": "BTCUSDT",
        "origClientOrderId": OLD,
        "orderId": 28,
        "orderListId": -1,
        "clientOrderId": "osxN3JXAtJvKvCqGeMWMVR",
        "transactTime": 1684804350068,
        "price": "50000.00000000",
        "origQty": "0.01000000",
        "executedQty": executed,
        "origQuoteOrderQty": "0.000000",
        "cummulativeQuoteQty": str(float(executed) * 50000),
        "status": "CANCELED",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "BUY",
        "selfTradePreventionMode": "NONE",
    }


def placed(kind: str = "LIMIT_MAKER", status: str = "NEW") -> dict[str, Any]:
    """The new-order half (newOrderRespType RESULT, as ccxt asks)."""
    return {
        "symbol": "BTCUSDT",
        "orderId": 29,
        "orderListId": -1,
        "clientOrderId": NEW,
        "transactTime": 1684804350070,
        "price": "49990.00000000",
        "origQty": "0.00600000",
        "executedQty": "0.00000000",
        "origQuoteOrderQty": "0.000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": status,
        "timeInForce": "GTC",
        "type": kind,
        "side": "BUY",
        "workingTime": 1684804350070,
        "selfTradePreventionMode": "NONE",
    }


SUCCESS = {
    "cancelResult": "SUCCESS",
    "newOrderResult": "SUCCESS",
    "cancelResponse": cancelled(),
    "newOrderResponse": placed(),
}
CANCEL_FAILED = {  # STOP_ON_FAILURE, the cancel failed: the old order is final or unknown
    "code": -2022,
    "msg": "Order cancel-replace failed.",
    "data": {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None,
    },
}
NEW_FAILED = {  # cancelled; the post-only order would have taken
    "code": -2021,
    "msg": "Order cancel-replace partially failed.",
    "data": {
        "cancelResult": "SUCCESS",
        "newOrderResult": "FAILURE",
        "cancelResponse": cancelled(),
        "newOrderResponse": {"code": -2010, "msg": "Order would immediately match and take."},
    },
}


async def replacer(*replies: tuple[int, dict[str, Any]]) -> tuple[binance.Fake, Gateway]:
    venue, gw = await connect("binance")
    venue.replies.extend(replies)
    assert isinstance(venue, binance.Fake)
    return venue, gw


def post_only() -> Any:
    return order(NEW, Side.BUY, "0.006", PRICE, post_only=True)


async def test_success_gives_both_halves_from_one_request() -> None:
    venue, gw = await replacer((200, SUCCESS))
    assert gw.can_replace()
    sent: list[float] = []
    done = await gw.replace_order("BTC/USDT", "28", OLD, post_only(), sent.append)
    assert len(sent) == 1 and venue.requests.count(("POST", REPLACE)) == 1
    assert done.refused is None
    assert done.old is not None and done.old.client_id == OLD and done.old.exchange_id == "28"
    assert done.old.status is OrderStatus.CANCELED and done.old.filled == D("0.004")
    assert done.new is not None and done.new.client_id == NEW and done.new.exchange_id == "29"
    assert done.new.status is OrderStatus.OPEN and done.new.amount == D("0.006")
    params = venue.sent[0]
    assert params["symbol"] == "BTCUSDT" and params["side"] == "BUY"
    assert params["type"] == "LIMIT_MAKER" and "timeInForce" not in params
    assert params["cancelOrderId"] == "28" and "cancelOrigClientOrderId" not in params
    assert params["newClientOrderId"] == NEW
    assert params["cancelReplaceMode"] == "STOP_ON_FAILURE"
    assert (params["quantity"], params["price"]) == ("0.006", "49990")


async def test_ioc_by_client_id_reaches_binance_as_such() -> None:
    reply = {**SUCCESS, "newOrderResponse": placed("LIMIT", "EXPIRED")}
    venue, gw = await replacer((200, reply))
    ioc = order(NEW, Side.BUY, "0.006", PRICE, TimeInForce.IOC)
    done = await gw.replace_order("BTC/USDT", "", OLD, ioc)
    assert done.new is not None and done.new.status is OrderStatus.EXPIRED
    params = venue.sent[0]
    assert params["type"] == "LIMIT" and params["timeInForce"] == "IOC"
    assert params["cancelOrigClientOrderId"] == OLD and "cancelOrderId" not in params
    assert params["newClientOrderId"] == NEW
    assert params["cancelReplaceMode"] == "STOP_ON_FAILURE"


async def test_cancel_failed_as_already_final_places_nothing_and_raises_nothing() -> None:
    venue, gw = await replacer((400, CANCEL_FAILED))
    done = await gw.replace_order("BTC/USDT", "28", OLD, post_only())
    assert (done.old, done.new, done.refused) == (None, None, None)
    assert venue.requests.count(("POST", REPLACE)) == 1
    assert ("GET", "/api/v3/order") not in venue.requests  # the caller asks, if it wants


async def test_cancel_failed_otherwise_raises() -> None:
    refused = {"code": -2010, "msg": "This action is disabled on this account."}
    other = {**CANCEL_FAILED, "data": {**CANCEL_FAILED["data"], "cancelResponse": refused}}
    venue, gw = await replacer((400, other))
    with pytest.raises(GatewayError, match="disabled"):
        await gw.replace_order("BTC/USDT", "28", OLD, post_only())
    assert venue.requests.count(("POST", REPLACE)) == 1


async def test_new_order_refused_after_the_cancel() -> None:
    _, gw = await replacer((409, NEW_FAILED))
    done = await gw.replace_order("BTC/USDT", "28", OLD, post_only())
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.old.filled == D("0.004")
    assert done.new is None and isinstance(done.refused, WouldCross)


async def test_lost_reply_that_executed_is_settled_by_lookups() -> None:
    venue, gw = await replacer((200, SUCCESS))
    venue.orders[OLD] = order_json(28, OLD, "CANCELED", "0.00400000", price="50000.00000000")
    venue.orders[NEW] = order_json(29, NEW, "NEW", "0", qty="0.00600000", kind="LIMIT_MAKER")
    venue.lose_reply(REPLACE)
    sent: list[float] = []
    done = await gw.replace_order("BTC/USDT", "28", OLD, post_only(), sent.append)
    assert len(sent) == 1 and venue.requests.count(("POST", REPLACE)) == 1  # never sent again
    assert done.new is not None and done.new.client_id == NEW
    assert done.new.status is OrderStatus.OPEN
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.old.filled == D("0.004") and done.refused is None


async def test_lost_request_that_never_arrived_cancels_the_old_order() -> None:
    unknown = {"code": -1007, "msg": "Timeout waiting for response from backend server."}
    venue, gw = await replacer((503, unknown))  # execution status unknown
    venue.orders[OLD] = order_json(28, OLD, "NEW", "0.00100000", price="50000.00000000")
    done = await gw.replace_order("BTC/USDT", "28", OLD, post_only())
    assert done.new is None and isinstance(done.refused, NeverArrived)
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.old.filled == D("0.001")
    assert ("DELETE", "/api/v3/order") in venue.requests
    assert venue.requests.count(("POST", REPLACE)) == 1


async def test_rate_limit_is_refused_with_the_backoff() -> None:
    venue, gw = await replacer()
    venue.fail(REPLACE, ccxt.RateLimitExceeded)  # 429 -1015, Retry-After 7
    with pytest.raises(RequestRefused) as refused:
        await gw.replace_order("BTC/USDT", "28", OLD, post_only())
    assert refused.value.retry_after >= 7  # Retry-After honoured
    assert venue.requests.count(("POST", REPLACE)) == 1
    assert ("GET", "/api/v3/order") not in venue.requests
