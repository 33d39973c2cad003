"""Coinbase Advanced Trade spot (REST https://api.coinbase.com/api/v3/brokerage/...; ccxt's
`coinbase` class, authenticated with a CDP key: apiKey "organizations/{org}/apiKeys/{key}" and
its EC private key (PEM) as secret, each request signed by an ES256 JWT)."""

from bot.exchange.permissions import Grant, KeyPermissionsCall
from bot.exchange.profile import ClientIdRules, ExchangeProfile

PROFILE = ExchangeProfile(
    id="coinbase",
    ccxt_options={
        "defaultType": "spot",
        # ccxt's default balance is v2 wallets (GET /v2/accounts): totals only, funds on hold
        # for open orders counted as free. Advanced Trade accounts (GET
        # /api/v3/brokerage/accounts) give available_balance and hold apart.
        "fetchBalance": "v3PrivateGetBrokerageAccounts",
    },
    # Every private request carries a JWT valid for 120 s from its signing (ccxt's
    # coinbase.create_auth_token: nbf = now, exp = now + 120; Coinbase refuses an expired one).
    # A lost create request can therefore only execute within 120 s of its send: the gateway
    # waits that out before it believes the order never arrived. ccxt has no option for it.
    receive_window=120.0,
    receive_window_option=None,
    # exp is written on the host's clock: a clock ahead of Coinbase's stretches the window.
    ambiguity_margin=5.0,
    # Timeouts, and 5xx answers (ccxt's httpExceptions, or the mapped codes below).
    ambiguous_errors=("OperationFailed",),
    # 429 (an HTML page: ccxt's httpExceptions -> RateLimitExceeded), RESOURCE_EXHAUSTED.
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce"),
    # Coinbase's errors are gRPC status names ({"error": "INTERNAL", "code": 13, "message":
    # ...}); ccxt's table knows INVALID_ARGUMENT, PERMISSION_DENIED and INSUFFICIENT_FUND but
    # raises the others as a bare ExchangeError, before its own status check (handle_errors).
    # A failed create answers 200 {"success": false, "error_response": {...}}, which ccxt's
    # coinbase.handle_errors maps by error_response.preview_failure_reason only.
    error_classes={
        "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY": "OrderImmediatelyFillable",
        "INVALID_LIMIT_PRICE_POST_ONLY": "OrderImmediatelyFillable",
        "INTERNAL": "ExchangeNotAvailable",
        "UNAVAILABLE": "ExchangeNotAvailable",
        "DEADLINE_EXCEEDED": "RequestTimeout",
        "RESOURCE_EXHAUSTED": "RateLimitExceeded",
        "UNAUTHENTICATED": "AuthenticationError",
        "NOT_FOUND": "OrderNotFound",
    },
    # client_order_id (Create Order: "If the ID provided is not unique, the order will not be
    # created and the order corresponding with that ID will be returned instead"): ccxt's
    # coinbase.create_order ignores the unified clientOrderId and sends ccxt-<uuid> unless
    # params.client_order_id is given. No documented charset; SDKs warn past 128 characters;
    # letters, digits, '-' and '_' are what Coinbase's own examples use.
    # No lookup by it: Get Order takes the order id only, and List Orders has no client-id
    # filter, so the listings are read whole and searched (scan_filter None).
    client_id=ClientIdRules(
        param="client_order_id",
        lookup_param=None,
        max_length=128,
        charset="A-Za-z0-9_-",
    ),
    scan_filter=None,
    # ccxt's fetch_closed_orders asks for FILLED only (fetch_orders_by_status); cancelled and
    # expired ones come with fetch_orders (List Orders, every status).
    closed_orders_method="fetch_orders",
    # POST /orders/batch_cancel answers per order {"success", "failure_reason", "order_id"}:
    # no state. An order no longer open fails (UNKNOWN_CANCEL_ORDER), and ccxt's
    # coinbase.cancel_orders raises any failure as BadRequest: its final state is then read.
    cancel_reply_final=False,
    cancel_final_errors=("BadRequest", "OrderNotFound"),
    # List Fills pages by cursor, newest first: read each order's fills instead. ccxt's coinbase
    # has no fetch_order_trades; fetch_my_trades passes order_ids on to List Fills.
    trades_page=100,
    trades_by_order=True,
    order_trades_filter="order_ids",
    # ccxt's coinbase.create_order: postOnly -> limit_limit_gtc.post_only; timeInForce IOC ->
    # sor_limit_ioc.
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Fees are charged in the quote (fills' commission; ccxt's coinbase.parse_trade gives it the
    # market's quote): a buy pays price x size plus the fee.
    fees_in="quote",
    # Tickers (List Products) carry the last price, not the best bid and ask: prices come from
    # the order books (product_book).
    tickers_bid_ask=False,
    book_depths=(),
    # No testnet: ccxt's coinbase has no urls['test'] (features.default.sandbox False), and
    # Coinbase's Advanced Trade sandbox (api-sandbox.coinbase.com) answers static mock replies
    # for accounts and orders only; the bot refuses testnet and demo modes for it.
    demo_via_sandbox=False,
    # GET /api/v3/brokerage/key_permissions: {"can_view", "can_trade", "can_transfer", ...};
    # transfer is what sends funds off the platform.
    key_permissions=KeyPermissionsCall(
        "v3PrivateGetBrokerageKeyPermissions",
        trade=(Grant(("can_trade",)),),
        withdraw=(Grant(("can_transfer",)),),
    ),
)
