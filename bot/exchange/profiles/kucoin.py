"""KuCoin spot, classic (non-UTA) account, through ccxt's `kucoin` class.

ccxt picks the spot endpoints by account type: the high-frequency ("HF", `/api/v1/hf/...`,
KuCoin's current spot API) or the old low-frequency one (`/api/v1/orders`, "Add Order - Old" in
KuCoin's docs, which recommend the HF endpoint). ccxt asks which once per process
(`GET /api/v1/hf/accounts/opened`, in load_markets when keys are set; option `hf`), and the bot
lets it: an account is one or the other. The facts below hold for both; the native tests run HF.
"""

from bot.exchange.profile import ClientIdRules, ExchangeProfile

PROFILE = ExchangeProfile(
    id="kucoin",
    ccxt_options={
        # Spot markets only (ccxt's fetchMarkets otherwise loads futures too). load_markets also
        # reads allTickers for the maker/taker rates (fetchTickersFees), the margin symbol lists
        # (privateGetMarginSymbols, privateGetIsolatedSymbols: "General" permission; ccxt asks
        # whenever keys are set) and the currencies (fetchCurrencies is always on in ccxt).
        "fetchMarkets": {"types": ["spot"]},
        # The classic account, not the unified trading account: ccxt would otherwise ask the
        # account mode (utaPrivateGetAccountMode) before nearly every call. A UTA account must
        # set `uta: true` in exchange.options (not covered by the native tests).
        "uta": False,
        # KuCoin refuses a signed request whose KC-API-TIMESTAMP is more than 5 s from its clock:
        # ccxt measures the difference (GET /api/v1/timestamp) at the end of load_markets and
        # signs with it. Its private calls in load_markets come first: a host already more than
        # 5 s off is refused there (400002), and the gateway measures the clock then.
        "adjustForTimeDifference": True,
    },
    # KuCoin docs, Authentication: "The difference between your timestamp and the API server time
    # must be less than 5 seconds, otherwise your request will be considered expired and
    # rejected" (400002). The window is fixed: there is no recvWindow option to set.
    receive_window=5.0,
    receive_window_option=None,
    # 5xx and network errors (500000 "Internal Server Error" is ExchangeNotAvailable in ccxt's
    # kucoin exceptions table): the order may exist.
    ambiguous_errors=("OperationFailed",),
    # 429000 / HTTP 429 and "Exceeded the access frequency" are RateLimitExceeded; 400002 (the
    # timestamp outside the 5 s window) is InvalidNonce (ccxt kucoin exceptions, exact/broad).
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce"),
    # Bad key, passphrase or signature (400003..400007, HTTP 401) are AuthenticationError in ccxt.
    auth_error_markers=(),
    # clientOid (ccxt maps the unified clientOrderId to it; it looks orders up with it too, GET
    # /api/v1/hf/orders/client-order/{clientOid}). KuCoin's OpenAPI spec, Add Order: "can only
    # contain numbers, letters, underscores (_), and hyphens (-) ... The maximum length for the
    # ClientOid is 40 characters". Orders report it as `clientOid` (ccxt: clientOrderId).
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param="clientOrderId",
        reply_keys=("clientOid",),
        max_length=40,
        charset="A-Za-z0-9_-",
    ),
    # The cancel reply is an acknowledgement ({"orderId"} on HF, {"cancelledOrderIds"} on the old
    # endpoint; ccxt's cancel_spot_order parses neither into a status): "This endpoint only sends
    # cancellation requests. The results of the requests must be obtained by checking the order
    # status". The order is read again.
    cancel_reply_final=False,
    # A cancel of an order already filled or cancelled: 400100 "Order not exist or not allow to
    # be cancelled" (older: "order_not_exist_or_not_allow_to_cancel"), OrderNotFound in ccxt's
    # exact table by message. ccxt before the fix for issue #27240 raised InsufficientFunds for
    # the newer text: a cancel never fails for funds, so that class means "already final" too.
    cancel_final_errors=("OrderNotFound", "InsufficientFunds"),
    # GET /api/v1/hf/orders/done: `limit`, default 20, at most 100; ccxt sends `pageSize`, which
    # the HF list ignores, so a listing holds the 20 latest finished orders.
    orders_page=20,
    # GET /api/v1/hf/fills pages newest first by `lastId` (and limits a query to 7 days): per
    # order (orderId, "other parameters are ignored") is exact. Page: at most 100.
    trades_by_order=True,
    trades_page=100,
    trades_from_id=None,
    # ccxt's create_spot_order_request: postOnly -> "postOnly": true; timeInForce is sent as
    # given ("IOC" is KuCoin's own value).
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Spot fees are charged in the quote currency, a buy's on top of its cost (symbols'
    # `feeCurrency`; fills report feeCurrency USDT on BTC-USDT buys and sells alike).
    fees_in="quote",
    # GET /api/v1/market/allTickers carries buy (best bid), sell (best ask) and their sizes.
    tickers_bid_ask=True,
    # The public order book serves 20 or 100 levels only (level2_20, level2_100); ccxt raises
    # for any other limit.
    book_depths=(20, 100),
    # ccxt's kucoin has no sandbox URLs and no demo trading.
    demo_via_sandbox=False,
)
