"""Gate spot, classic (non-unified) account, through ccxt's `gate` class (API v4)."""

from bot.exchange.profile import ClientIdRules, ExchangeProfile

PROFILE = ExchangeProfile(
    id="gate",
    ccxt_options={
        # Spot markets only (ccxt's fetchMarkets otherwise loads swaps, futures and options).
        # load_markets also reads the margin pair list (public) and the currencies (public;
        # fetchCurrencies is always on in ccxt's gate).
        "fetchMarkets": {"types": ["spot"]},
        # The classic spot account: ccxt would otherwise ask the account mode once
        # (privateAccountGetDetail, GET /account/detail). A unified account must set
        # `unifiedAccount: true` in exchange.options (not covered by the native tests).
        "unifiedAccount": False,
        # Gate refuses a request whose Timestamp header is more than 60 s from its clock: ccxt
        # measures the difference at load_markets (GET /spot/time) and signs with it.
        "adjustForTimeDifference": True,
    },
    # Gate API v4 docs, Authentication: the Timestamp (seconds) may differ from the server's time
    # by at most 60 seconds, else REQUEST_EXPIRED. Fixed: no option sets it.
    receive_window=60.0,
    receive_window_option=None,
    # The Timestamp header is whole seconds (ccxt's sign truncates), so the exchange may read a
    # request as up to a second older than it is: the window ends no later than 60 s after the
    # send, and the default margin covers transit.
    ambiguity_margin=1.0,
    # INTERNAL / SERVER_ERROR / TOO_BUSY are ExchangeNotAvailable in ccxt's gate table, and
    # network errors: the order may exist.
    ambiguous_errors=("OperationFailed",),
    # TOO_MANY_REQUESTS / TOO_FAST (HTTP 429) are RateLimitExceeded; REQUEST_EXPIRED (the
    # Timestamp outside the window), InvalidNonce as mapped below: refused, not executed.
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce"),
    # ccxt's gate table calls REQUEST_EXPIRED an AuthenticationError: the bot would stop as if
    # the key were refused. It is a timestamp refusal (the request did not execute; the clock is
    # measured again): InvalidNonce, as ccxt names Binance's -1021 and KuCoin's 400002.
    error_classes={"REQUEST_EXPIRED": "InvalidNonce"},
    auth_error_markers=(),
    # `text` (ccxt's create_order_request maps clientOrderId to it and puts "t-" in front unless
    # it starts with "t"; the bot's ids start with the instance tag "rb"). Gate API v4 docs, spot
    # order `text`: "prefixed with t-", "no longer than 28 bytes without t- prefix", "can only
    # include 0-9, A-Z, a-z, underscore(_), hyphen(-) or dot(.)". ccxt refuses more than 28
    # before prefixing. fetch_order takes the text in place of the order id (GET
    # /spot/orders/{order_id}); orders report it as `text`, with the prefix.
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param="clientOrderId",
        reply_keys=("text",),
        max_length=30,
        charset="A-Za-z0-9_.-",
        prefix="t-",
    ),
    # Gate API v4 docs, get a single order: "Operations based on custom ID can only be checked
    # when the order is in orderbook. When the order is finished, it can be checked within 1
    # hour after the end of the order. After that, only order ID is accepted." A miss is checked
    # in the open and finished order listings.
    scan_after_lookup_miss=True,
    # GET /spot/orders (status=finished) takes `limit` up to 1000; the scan asks for 100.
    orders_page=100,
    # DELETE /spot/orders/{order_id} answers the order itself, cancelled, with left and
    # filled_total: final.
    cancel_reply_final=True,
    # A cancel of an order already finished: ORDER_CLOSED / ORDER_CANCELLED (InvalidOrder in
    # ccxt's gate table) or ORDER_NOT_FOUND (OrderNotFound, an InvalidOrder).
    cancel_final_errors=("InvalidOrder",),
    # GET /spot/my_trades takes order_id (currency_pair required with it): per order is exact;
    # by time it takes whole seconds (`from`) and pages by `page`. At most 1000 a page.
    trades_by_order=True,
    trades_page=1000,
    trades_from_id=None,
    # ccxt's create_order_request: postOnly -> time_in_force "poc" (refused with
    # POC_FILL_IMMEDIATELY, OrderImmediatelyFillable, if it would take); "IOC" -> "ioc".
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Fees are taken from what the fill delivers (fee_currency: the base on a buy, the quote on
    # a sell), unless GT deduction is on (then gt_fee, in GT).
    fees_in="received",
    # GET /spot/tickers carries highest_bid / lowest_ask and their sizes.
    tickers_bid_ask=True,
    # GET /spot/order_book takes any limit (ccxt caps spot at 1000).
    book_depths=(),
    # Gate's testnet is ccxt's sandbox; there is no separate demo trading.
    demo_via_sandbox=False,
)
