"""Bitget spot (API v2, classic spot account), through ccxt's bitget class.

Sources: ccxt 4.5 `ccxt/async_support/bitget.py` (named methods) and Bitget's API docs
(https://www.bitget.com/api-doc/, the pages named below).
"""

from bot.exchange.profile import ClientIdRules, ExchangeProfile

PROFILE = ExchangeProfile(
    id="bitget",
    ccxt_options={
        # Spot only: bitget.fetch_default_markets also loads six futures product types.
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        # The classic spot account and its v2 endpoints. Without it, bitget.handle_uta_and_params
        # probes /api/v3/account/settings before the first private call and switches every call
        # to the unified-account API when that answers (a unified account sets it to True).
        "uta": False,
        # ACCESS-TIMESTAMP is checked against Bitget's clock (40004/40008 "Request timestamp
        # expired"): bitget.fetch_markets measures the offset (GET /api/v2/public/time).
        "adjustForTimeDifference": True,
    },
    # A signed request whose ACCESS-TIMESTAMP is too old is refused (40008), but Bitget's docs
    # (#common/signature) do not say how old is too old; 30 seconds is the figure third-party
    # guides give (an assumption to confirm). Place-order's own receiveWindow/requestTime
    # (#spot/trade/Place-Order) is not sent by ccxt (bitget.create_order_request), so no ccxt
    # option sets the window.
    receive_window=30.0,
    receive_window_option=None,
    # Network failures; HTTP/code 500 "System busy" -> ExchangeNotAvailable (bitget.describe);
    # 40015 is added below.
    ambiguous_errors=("OperationFailed",),
    # code 429 "Too Many Requests" -> DDoSProtection (bitget.describe exact), an HTTP 429
    # without a code -> RateLimitExceeded (ccxt's httpExceptions), 1001 -> RateLimitExceeded;
    # 40004/40005/40008 (timestamp) -> InvalidNonce: refused, not executed.
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce"),
    # ccxt maps 40001-40003, 40006, 40009-40012, 40037 -> AuthenticationError and 40014/40018 ->
    # PermissionDenied itself.
    auth_error_markers=(),
    # 40015 "System is abnormal, please try again later" is a bare ExchangeError in ccxt: an
    # order request answered so may have executed.
    error_classes={"40015": "ExchangeNotAvailable"},
    # clientOid (#spot/trade/Place-Order; ccxt maps the unified clientOrderId to it in
    # bitget.create_order_request and asks GET /api/v2/spot/trade/orderInfo?clientOid= in
    # bitget.fetch_order). 40305: "Client_oid length is not greater than 50, and cannot be
    # Martian characters"; letters, digits and '-' (Bitget's own ids are UUIDs) are what the
    # bot uses. bitget.fetch_order needs an id even when asking by clientOid (its not-found
    # message concatenates it): the gateway always passes one.
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param="clientOrderId",
        max_length=50,
        charset="A-Za-z0-9-",
    ),
    # POST /api/v2/spot/trade/cancel-order answers {orderId, clientOid} only: the state is
    # asked for.
    cancel_reply_final=False,
    # A cancel of an order that is no longer open: 43001 "The order does not exist" ->
    # OrderNotFound (bitget.describe).
    cancel_final_errors=("OrderNotFound",),
    # bitget.fetch_closed_orders is the history filtered to 'closed' (filled): cancelled ones
    # come with fetch_canceled_and_closed_orders (GET /api/v2/spot/trade/history-orders).
    closed_orders_method="fetch_canceled_and_closed_orders",
    # GET /api/v2/spot/trade/fills (#spot/trade/Get-Fills): at most 100 a page, paged towards
    # older trades (idLessThan): read order by order. ccxt's bitget has no fetch_order_trades
    # (has['fetchOrderTrades'] False); fetch_my_trades takes orderId, one id.
    trades_page=100,
    trades_by_order=True,
    order_trades_filter="orderId",
    order_trades_filter_list=False,
    # Unified postOnly -> force post_only; timeInForce IOC -> force IOC
    # (bitget.create_order_request).
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Spot fees come out of what the fill delivers: a buy pays in the base (#spot/trade/Get-Fills
    # feeDetail.feeCoin).
    fees_in="received",
    # GET /api/v2/spot/market/tickers carries bidPr/askPr (bitget.parse_ticker).
    tickers_bid_ask=True,
    # GET /api/v2/spot/market/orderbook: any limit up to 150.
    book_depths=(),
    # Demo trading is the live host with the header PAPTRADING: 1, which ccxt's
    # bitget.enable_demo_trading (= set_sandbox_mode) turns on.
    demo_via_sandbox=False,
)
