"""OKX spot (API v5), through ccxt's okx class.

Sources: ccxt 4.5 `ccxt/async_support/okx.py` (named methods) and OKX's API docs
(https://www.okx.com/docs-v5/en/, the anchors named below).
"""

from bot.exchange.permissions import Grant, KeyPermissionsCall
from bot.exchange.profile import ClientIdRules, ExchangeProfile

PROFILE = ExchangeProfile(
    id="okx",
    ccxt_options={
        # Spot only: fetch_markets otherwise loads SPOT, FUTURES, SWAP and OPTION instruments
        # (okx.fetch_markets, options.fetchMarkets.types).
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        # okx.create_order defaults to POST /api/v5/trade/batch-orders with a one-order array;
        # the single-order endpoint (#order-book-trading-trade-post-place-order) answers for
        # that one order (its sCode) with no batch semantics ("2": partially succeeded).
        "createOrder": "privatePostTradeOrder",
        # OK-ACCESS-TIMESTAMP must be close to OKX's clock (50102 "Timestamp request expired");
        # okx.fetch_markets measures the offset (GET /api/v5/public/time) when this is set, and
        # the gateway re-measures it after a 50102.
        "adjustForTimeDifference": True,
    },
    # OKX refuses a request whose OK-ACCESS-TIMESTAMP has expired (50102, HTTP 401, #error-code-
    # rest-api-public) but its docs do not say how old is too old; 30 seconds is the figure that
    # third-party guides give (an assumption to confirm). OKX's own per-request deadline (the
    # expTime header, #overview-transaction-timeouts) is not sent by ccxt (okx.sign), so no
    # ccxt option sets the window: the gateway waits 30 s (plus the margin) before it believes
    # a lost order request dropped.
    receive_window=30.0,
    receive_window_option=None,
    # okx.describe exceptions: 50004 "API endpoint request timeout (does not mean that the request
    # was successful or failed)" -> RequestTimeout; 50001 -> OnMaintenance; 50013 (HTTP 429
    # "Systems are busy"), 50026 (HTTP 500) and an HTTP 429 without a code
    # (httpExceptions) -> ExchangeNotAvailable; network failures: all OperationFailed.
    # 51149 / 51054 ("Order timed out", HTTP 500) are added below (error_classes).
    ambiguous_errors=("OperationFailed",),
    # 50011 (HTTP 429 or 200, "Rate limit reached") -> RateLimitExceeded and 50102 (expired
    # timestamp) -> InvalidNonce: refused, not executed.
    refused_errors=("RateLimitExceeded", "InvalidNonce"),
    # ccxt maps OKX's key errors itself: 50101-50107 and 50111-50114 -> AuthenticationError,
    # 50110 (IP not whitelisted) -> PermissionDenied.
    auth_error_markers=(),
    # Codes OKX documents (#error-code-rest-api-public) that okx.describe leaves unmapped (a bare
    # ExchangeError): the order timeouts whose outcome is unknown, the key's missing rights, and
    # the account's order-rate limit (a refusal).
    error_classes={
        "51149": "RequestTimeout",  # HTTP 500 "Order timed out ... please check the result"
        "51054": "RequestTimeout",  # HTTP 500 "Request timed out. Please try again."
        "50119": "AuthenticationError",  # "API key doesn't exist"
        "50120": "PermissionDenied",  # "This API key doesn't have permission to use this function"
        "50030": "PermissionDenied",  # "You don't have permission to use this API endpoint"
        "50061": "RateLimitExceeded",  # "You've reached the maximum order rate limit"
    },
    # clOrdId (#order-book-trading-trade-post-place-order): "a combination of case-sensitive
    # alphanumerics, all numbers, or all letters of up to 32 characters". ccxt maps the unified
    # clientOrderId to clOrdId in create_order_request and fetch_order (GET /api/v5/trade/order
    # ?clOrdId=..., "only the latest one will be returned" when reused), and reads it back as
    # clientOrderId (okx.parse_order).
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param="clientOrderId",
        max_length=32,
        charset="A-Za-z0-9",
    ),
    # POST /api/v5/trade/cancel-order answers {ordId, clOrdId, sCode} only, and "sCode 0 ... only
    # means that your cancellation request has been accepted" (#order-book-trading-trade-post-
    # cancel-order): the final state is always asked for.
    cancel_reply_final=False,
    # 51400 "Order cancellation failed as the order has been filled, canceled or does not exist"
    # (and 51401/51402) -> OrderNotFound (okx.describe exceptions).
    cancel_final_errors=("OrderNotFound",),
    # GET /api/v5/trade/fills-history (okx.fetch_my_trades): at most 100 a page, newest first,
    # and ccxt sends `limit` only without `since` (with `begin`, OKX returns the newest 100 after
    # it, not the first 100): a leg's trades are read order by order (fetch_order_trades sends
    # ordId to the same endpoint).
    trades_page=100,
    trades_by_order=True,
    # ccxt's unified postOnly -> ordType post_only (okx.create_order_request, handle_post_only);
    # timeInForce IOC -> ordType ioc. A post-only order that would take is accepted, then
    # cancelled by OKX (cancelSource 31, #order-book-trading-trade-ws-order-channel).
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Spot fees come out of the asset received: a BTC-USDT buy pays in BTC (fills-history
    # feeCcy, #order-book-trading-trade-get-transaction-details-last-3-months).
    fees_in="received",
    # GET /api/v5/market/tickers carries bidPx/bidSz/askPx/askSz (okx.parse_ticker).
    tickers_bid_ask=True,
    # GET /api/v5/market/books takes any sz up to 400 (okx.fetch_order_book; larger asks go to
    # books-full).
    book_depths=(),
    # Demo trading is the live host with the header x-simulated-trading: 1, which ccxt sets in
    # okx.set_sandbox_mode (#overview-demo-trading-services).
    demo_via_sandbox=True,
    # Deposits land in the funding account and withdrawals leave from it (#funding-account-rest-
    # api-get-deposit-history: "the funding account"); the bot trades from the trading account
    # (GET /api/v5/account/balance), which only a transfer moves: okx.fetch_transfers reads them
    # from GET /api/v5/account/bills-archive?type=1 (#trading-account-rest-api-get-bills-details-
    # last-3-months: from / to "6" funding, "18" trading, okx options accountsById; begin; at
    # most 100 a page, newest first, `after` a billId for the older ones). A deposit then
    # transferred counts once, by its transfer (tested in tests/venues/test_flows_ledger.py).
    flows=True,
    flows_source="none",
    transfers="fetch_transfers",
    trading_accounts=("trading",),
    flows_page=100,
    flows_cursor=("after", "billId"),
    # GET /api/v5/account/config (#trading-account-rest-api-get-account-configuration):
    # data[0].perm is "read_only", "trade" and "withdraw", comma-separated.
    key_permissions=KeyPermissionsCall(
        "privateGetAccountConfig",
        trade=(Grant(("data", 0, "perm"), token="trade"),),
        withdraw=(Grant(("data", 0, "perm"), token="withdraw"),),
    ),
)
