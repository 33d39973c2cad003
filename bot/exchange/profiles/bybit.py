"""Bybit spot (API v5, unified trading account), through ccxt's bybit class.

Sources: ccxt 4.5 `ccxt/async_support/bybit.py` (named methods) and Bybit's API docs
(https://bybit-exchange.github.io/docs/v5/, the pages named below).
"""

from decimal import Decimal

from bot.exchange.permissions import Grant, KeyPermissionsCall
from bot.exchange.profile import AccountFields, ClientIdRules, ExchangeProfile, PerpFacts

PROFILE = ExchangeProfile(
    id="bybit",
    ccxt_options={
        # Spot only (bybit.fetch_markets loads spot, linear, inverse and option otherwise), and
        # spot the default type of calls without a symbol (bybit.get_bybit_type: 'swap').
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        # A unified trading account (every account since Bybit's UTA upgrade): without these,
        # bybit.is_unified_enabled asks /v5/user/query-api and /v5/account/info before the first
        # balance or order call (the first needs extra key permissions, ccxt's handle_errors
        # says so for 10005).
        "enableUnifiedAccount": True,
        "enableUnifiedMargin": False,
        # The timestamp must lie in [server_time - recv_window, server_time + 1000) (#guide):
        # bybit.fetch_markets measures the clock offset (GET /v5/market/time) when this is set.
        "adjustForTimeDifference": True,
    },
    # X-BAPI-RECV-WINDOW, 5000 ms unless set (#guide; ccxt's option recvWindow, sent by
    # bybit.sign): a request older than that is refused (10002), so a lost order request cannot
    # execute after it.
    receive_window=5.0,
    receive_window_option="recvWindow",
    # Network failures, and the codes below that error_classes makes RequestTimeout /
    # ExchangeNotAvailable: the order may exist.
    ambiguous_errors=("OperationFailed",),
    # 10006 "Too many visits", 10018, 170222 and HTTP 403 (IP limit) -> RateLimitExceeded;
    # 10002 (outside the receive window) -> InvalidNonce (bybit.describe): not executed.
    refused_errors=("RateLimitExceeded", "InvalidNonce"),
    # ccxt maps 10003/10004 -> AuthenticationError and 10005/10010/10027 -> PermissionDenied.
    auth_error_markers=(),
    # Codes Bybit documents (#error) that bybit.describe leaves unmapped or maps to a class that
    # would end the order's story too early.
    error_classes={
        "10000": "RequestTimeout",  # "Server Timeout": the order's fate is unknown
        "10016": "ExchangeNotAvailable",  # "internal server error; Service is restarting"
        "429": "ExchangeNotAvailable",  # "The trading service is experiencing a high server load"
        "170146": "RequestTimeout",  # "Order creation timeout" (ccxt: InvalidOrder)
        "170147": "RequestTimeout",  # "Order cancellation timeout" (ccxt: InvalidOrder)
    },
    # orderLinkId (#order/create-order): "A max of 36 characters. Combinations of numbers,
    # letters (upper and lower cases), dashes, and underscores"; bybit.create_order_request maps
    # the unified clientOrderId to it. ccxt's fetch_order cannot ask by it: on a unified account
    # it raises unless params["acknowledged"], sends the id as orderId and sees only the last
    # 500 orders (bybit.fetch_order) - so orders are found in the listings instead.
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param=None,
        max_length=36,
        charset="A-Za-z0-9_-",
    ),
    # GET /v5/order/realtime and /v5/order/history both filter by orderLinkId (and realtime
    # then ignores openOnly: any status of the recent 500, #order/open-order).
    scan_filter="orderLinkId",
    # bybit.fetch_closed_orders asks for orderStatus Filled only; cancelled orders (and spot's
    # PartiallyFilledCanceled) come with fetch_canceled_and_closed_orders (no status filter).
    closed_orders_method="fetch_canceled_and_closed_orders",
    # Both order listings serve "limit [1, 50]" (#order/order-list, #order/open-order).
    orders_page=50,
    # POST /v5/order/cancel answers {orderId, orderLinkId}: "order creation/cancellation is
    # asynchronous" (#order/cancel-order); the state is always asked for.
    cancel_reply_final=False,
    # A cancel of a finished spot order: 170213 "Order does not exist." / 110001 -> OrderNotFound,
    # 170139 "Order has been filled.", 170142 "Order has been cancelled" and 170190 "Cancel order
    # has been finished" -> InvalidOrder (bybit.describe): the order's state is read either way.
    cancel_final_errors=("OrderNotFound", "InvalidOrder"),
    # GET /v5/execution/list (bybit.fetch_my_trades): [1, 100] a page, newest first, paged by
    # cursor (with startTime, the newest of the 7 days after it): read order by order
    # (fetch_order_trades sends orderId).
    trades_page=100,
    trades_by_order=True,
    # Unified postOnly -> timeInForce PostOnly, timeInForce IOC -> IOC
    # (bybit.create_order_request). A post-only order that would take is accepted, then
    # Cancelled with rejectReason EC_PostOnlyWillTakeLiquidity (#order/order-list example).
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Spot fees come out of what the fill delivers: a buy pays in the base (bybit.parse_trade
    # reads execFee that way; execution feeCurrency).
    fees_in="received",
    # GET /v5/market/tickers?category=spot carries bid1Price/ask1Price (bybit.parse_ticker).
    tickers_bid_ask=True,
    # GET /v5/market/orderbook, spot: any limit in [1, 200] (#market/orderbook).
    book_depths=(),
    # Demo trading is its own host (api-demo.bybit.com): ccxt's enable_demo_trading.
    demo_via_sandbox=False,
    # GET /v5/user/query-api (#user/apikey-info): result.readOnly 0 (read and write) or 1, and
    # result.permissions by product: Spot ["SpotTrade"], Wallet [..., "Withdraw"].
    key_permissions=KeyPermissionsCall(
        "privateGetV5UserQueryApi",
        trade=(
            Grant(("result", "readOnly"), equals="0"),
            Grant(("result", "permissions", "Spot"), token="SpotTrade"),
        ),
        withdraw=(Grant(("result", "permissions", "Wallet"), token="Withdraw"),),
    ),
    # Linear perpetuals (USDT-settled), on a client made with `PROFILE.for_perps()`.
    perps=PerpFacts(
        # category linear for calls without a symbol (bybit.get_bybit_type: swap + linear), and
        # only the linear instruments loaded (GET /v5/market/instruments-info?category=linear).
        ccxt_options={
            "defaultType": "swap",
            "defaultSubType": "linear",
            "defaultSettle": "USDT",
            "fetchMarkets": {"types": ["linear"]},
        },
        # GET /v5/account/wallet-balance?accountType=UNIFIED (#account/wallet-balance):
        # result.list[0].coin[] with walletBalance and equity (wallet + unrealised profit) per
        # coin; availableToWithdraw is deprecated (empty) for UNIFIED, so free is ccxt's:
        # walletBalance less locked, totalPositionIM and totalOrderIM (bybit.parse_balance).
        account=AccountFields(("result", "list", 0, "coin"), "coin", "walletBalance", "equity"),
        # POST /v5/order/create (#order/create-order): reduceOnly true; positionIdx 0 one-way,
        # 1 the long and 2 the short of hedge mode, which reduceOnly may accompany.
        reduce_only_params={"reduceOnly": True},
        position_side_param="positionIdx",
        position_side_values={"long": 1, "short": 2},
        reduce_only_in_hedge=True,
        # GET /v5/position/list (#position): positionIM (the position's initial margin) and
        # positionMM (its maintenance margin); positionBalance is deprecated.
        position_fields={"collateral": "positionIM", "maintenance_margin": "positionMM"},
        # GET /v5/execution/list?execType=Funding (bybit.fetch_funding_history): execFee is
        # positive when paid, negative when received; newest first, paged by cursor
        # (nextPageCursor), and with startTime alone it covers 7 days from it.
        funding_page=100,
        funding_window_ms=7 * 24 * 3600 * 1000,
        # Executions are kept 2 years (ccxt bybit features fetchMyTrades: daysBack 730,
        # untilDays 7: the same /v5/execution/list).
        funding_history_ms=730 * 24 * 3600 * 1000,
        funding_cursor=("cursor", "nextPageCursor"),
        funding_paid_positive=True,
        # The interval comes from instruments-info fundingInterval (minutes, bybit.
        # parse_funding_rate); 8 hours where it is missing.
        funding_hours=Decimal(8),
        # ccxt's bybit has no fetch_position_mode and Bybit no query for it: a symbol's
        # position entries tell it (positionIdx 0 one-way, 1 and 2 hedge).
        position_mode_call=None,
        # A unified trading account holds spot and perpetuals in one wallet (UNIFIED): nothing
        # moves between them. (A classic account would move SPOT <-> CONTRACT by POST
        # /v5/asset/transfer/inter-transfer: transfer_accounts ("spot", "contract").)
        transfer_accounts=None,
        transfer_refused=(
            "bybit: a unified trading account holds spot and perpetuals in one wallet;"
            " there is nothing to transfer"
        ),
        transfers_in_demo=False,
    ),
)
