"""The USD-M futures routes (/fapi, and the /sapi wallet transfers), served beside the spot ones
when the scenario has perpetuals, and the futures engine's errors as Binance USD-M answers them.

`FAPI_ROUTES` rows are (method, path, name, handler, signed, parameters read), as `server`'s
route table takes them. Every handler is wrapped by `fapi_errors`: a refusal of the futures
engine carries its Binance code (`perp_errors.binance_code`: -2019, -2022, -1106, -4061, -5022,
-4028, -4046/-4047/-4048, -4059/-4067/-4068, -5013, ...), answered as is; the simulator's other
refusals get USD-M's codes:

    InsufficientFunds                  -> -2019 'Margin is insufficient.'
    OrderImmediatelyFillable           -> -5022 (post-only, GTX, would take)
    DuplicateOrderId                   -> -4116 'ClientOrderId is duplicated.'
    amount not on the step             -> -1111 'Precision is over the maximum defined ...'
    price not on the tick              -> -4014 'Price not increased by tick size.'
    notional below the minimum         -> -4164 "Order's notional must be no smaller than ..."
    too many open orders               -> -2025 'Reach max open order limit.'
    other LOT_SIZE / PRICE_FILTER      -> -1013 'Filter failure: <filter>'
    OrderNotFound                      -> -2011 (cancel), -2013 (query)

Anything else (network trouble, maintenance, rate limits, bad symbols) is answered as the spot
front answers it (`errors.translate`). ccxt's binanceusdm maps the USD-M codes by host name
(`exceptions['linear']`): a client of this server merges that table into its `exact` one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import ccxt

from bot.sim.binance import fapi_account, fapi_market, fapi_orders
from bot.sim.binance.params import Params
from bot.sim.binance.replies import Reply, error
from bot.sim.binance.venue import Venue
from bot.sim.perp_errors import MARGIN_INSUFFICIENT, POST_ONLY_REJECTED, binance_code

Handler = Callable[[Venue, Params], Awaitable[Any]]
Route = tuple[str, str, str, Handler, bool, Iterable[str]]

_MIN_NOTIONAL = re.compile(r"below the minimum ([0-9.]+) \w+ \(NOTIONAL\)")
_FILTER = re.compile(r"\((LOT_SIZE|MARKET_LOT_SIZE|PRICE_FILTER|NOTIONAL|MAX_NUM_ORDERS)\)")


def fapi_reply(exc: ccxt.BaseError, endpoint: str) -> Reply | None:
    """USD-M's reply to a refusal of the futures simulator; None: answer as spot does."""
    if isinstance(exc, ccxt.NetworkError) or type(exc) is ccxt.OperationFailed:
        return None  # transport trouble and "status unknown": as spot answers them
    code = binance_code(exc)
    if code is not None:
        return error(400, *code)
    text = str(exc)
    if isinstance(exc, ccxt.InsufficientFunds):
        return error(400, *MARGIN_INSUFFICIENT)
    if isinstance(exc, ccxt.OrderImmediatelyFillable):
        return error(400, *POST_ONLY_REJECTED)
    if isinstance(exc, ccxt.DuplicateOrderId):
        return error(400, -4116, "ClientOrderId is duplicated.")
    if isinstance(exc, ccxt.OrderNotFound):
        if endpoint == "fapiCancelOrder":
            return error(400, -2011, "Unknown order sent.")
        return error(400, -2013, "Order does not exist.")
    found = _FILTER.search(text)
    if found is None or not isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
        return None
    name = found.group(1)
    if "not a multiple of the step" in text or "not a multiple of the market step" in text:
        return error(400, -1111, "Precision is over the maximum defined for this asset.")
    if "not a multiple of the tick" in text:
        return error(400, -4014, "Price not increased by tick size.")
    if name == "NOTIONAL":
        minimum = _MIN_NOTIONAL.search(text)
        if minimum is None:
            return error(400, -1013, "Filter failure: MAX_NOTIONAL")
        return error(
            400,
            -4164,
            f"Order's notional must be no smaller than {minimum.group(1)} (unless you choose"
            " reduce only).",
        )
    if name == "MAX_NUM_ORDERS":
        return error(400, -2025, "Reach max open order limit.")
    return error(400, -1013, f"Filter failure: {name}")


def fapi_errors(name: str, handler: Handler) -> Handler:
    """`handler` with the futures simulator's refusals answered as USD-M answers them."""

    @functools.wraps(handler)
    async def wrapped(venue: Venue, params: Params) -> Any:
        try:
            return await handler(venue, params)
        except ccxt.BaseError as exc:
            reply = fapi_reply(exc, name)
            if reply is None:
                raise
            raise reply from None

    return wrapped


def _routes() -> list[Route]:
    sym = ("symbol",)
    m, o, a = fapi_market, fapi_orders, fapi_account
    order_ref = ("symbol", "orderId", "origClientOrderId")
    history = ("symbol", "orderId", "startTime", "endTime", "limit")
    table: list[Route] = [
        ("GET", "/fapi/v1/ping", "fapiPing", m.ping, False, ()),
        ("GET", "/fapi/v1/time", "fapiTime", m.server_time, False, ()),
        ("GET", "/fapi/v1/exchangeInfo", "fapiExchangeInfo", m.exchange_info, False, ()),
        ("GET", "/fapi/v1/depth", "fapiDepth", m.depth, False, ("symbol", "limit")),
        ("GET", "/fapi/v1/ticker/24hr", "fapiTicker24hr", m.ticker_24hr, False, sym),
        ("GET", "/fapi/v1/ticker/bookTicker", "fapiBookTicker", m.book_ticker, False, sym),
        ("GET", "/fapi/v1/ticker/price", "fapiTickerPrice", m.ticker_price, False, sym),
        ("GET", "/fapi/v2/ticker/price", "fapiTickerPrice", m.ticker_price, False, sym),
        ("GET", "/fapi/v1/premiumIndex", "fapiPremiumIndex", m.premium_index, False, sym),
        (
            "GET",
            "/fapi/v1/fundingRate",
            "fapiFundingRate",
            m.funding_rate_history,
            False,
            ("symbol", "startTime", "endTime", "limit"),
        ),
        ("POST", "/fapi/v1/order", "fapiNewOrder", o.new_order, True, o.ORDER_PARAMS),
        ("DELETE", "/fapi/v1/order", "fapiCancelOrder", o.cancel_order, True, order_ref),
        ("GET", "/fapi/v1/order", "fapiQueryOrder", o.query_order, True, order_ref),
        ("DELETE", "/fapi/v1/allOpenOrders", "fapiCancelAll", o.cancel_all, True, sym),
        ("GET", "/fapi/v1/openOrders", "fapiOpenOrders", o.open_orders, True, sym),
        ("GET", "/fapi/v1/allOrders", "fapiAllOrders", o.all_orders, True, history),
        (
            "GET",
            "/fapi/v1/userTrades",
            "fapiUserTrades",
            o.user_trades,
            True,
            (*history, "fromId"),
        ),
        ("GET", "/fapi/v2/account", "fapiAccount", a.account_v2, True, ()),
        ("GET", "/fapi/v3/account", "fapiAccount", a.account_v3, True, ()),
        ("GET", "/fapi/v2/balance", "fapiBalance", a.balance, True, ()),
        ("GET", "/fapi/v3/balance", "fapiBalance", a.balance, True, ()),
        ("GET", "/fapi/v2/positionRisk", "fapiPositionRisk", a.position_risk_v2, True, sym),
        ("GET", "/fapi/v3/positionRisk", "fapiPositionRisk", a.position_risk_v3, True, sym),
        (
            "GET",
            "/fapi/v1/income",
            "fapiIncome",
            a.income,
            True,
            ("symbol", "incomeType", "startTime", "endTime", "page", "limit"),
        ),
        ("GET", "/fapi/v1/commissionRate", "fapiCommissionRate", a.commission_rate, True, sym),
        ("GET", "/fapi/v1/leverageBracket", "fapiLeverageBracket", a.leverage_bracket, True, sym),
        ("GET", "/fapi/v1/symbolConfig", "fapiSymbolConfig", a.symbol_config, True, sym),
        (
            "POST",
            "/fapi/v1/leverage",
            "fapiLeverage",
            a.set_leverage,
            True,
            ("symbol", "leverage"),
        ),
        (
            "POST",
            "/fapi/v1/marginType",
            "fapiMarginType",
            a.set_margin_type,
            True,
            ("symbol", "marginType"),
        ),
        ("GET", "/fapi/v1/positionSide/dual", "fapiPositionMode", a.position_mode, True, ()),
        (
            "POST",
            "/fapi/v1/positionSide/dual",
            "fapiSetPositionMode",
            a.set_position_mode,
            True,
            ("dualSidePosition",),
        ),
        (
            "POST",
            "/fapi/v1/positionMargin",
            "fapiPositionMargin",
            a.position_margin,
            True,
            ("symbol", "positionSide", "amount", "type"),
        ),
        (
            "POST",
            "/sapi/v1/asset/transfer",
            "assetTransfer",
            a.asset_transfer,
            True,
            a.TRANSFER_PARAMS,
        ),
        (
            "GET",
            "/sapi/v1/asset/transfer",
            "transferHistory",
            a.transfer_history,
            True,
            a.HISTORY_PARAMS,
        ),
        (
            "POST",
            "/sapi/v1/futures/transfer",
            "futuresTransfer",
            a.futures_transfer,
            True,
            ("asset", "amount", "type"),
        ),
    ]
    return [
        (method, path, name, fapi_errors(name, handler), signed, params)
        for method, path, name, handler, signed, params in table
    ]


FAPI_ROUTES = _routes()
