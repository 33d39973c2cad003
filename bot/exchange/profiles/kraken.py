"""Kraken spot (REST https://api.kraken.com/0/...; ccxt's `kraken` class)."""

from bot.exchange.profile import ClientIdRules, ExchangeProfile

PROFILE = ExchangeProfile(
    id="kraken",
    # ccxt's kraken is spot-only (margin rides on spot pairs; futures are `krakenfutures`) and
    # its load_markets reads the public Assets and AssetPairs only: nothing to switch off.
    # (fetch_currencies runs whenever has['fetchCurrencies'], which no option changes.)
    ccxt_options={},
    # No receive window: private calls carry an increasing nonce, not a timestamp (kraken.sign:
    # `nonce`, rejected only when not above the last one, "EAPI:Invalid nonce"). AddOrder's
    # optional `deadline` would bound a lost request, but it is a per-request time, not a
    # setting: a lost order request is proven absent by listing open and closed orders.
    receive_window=None,
    receive_window_option=None,
    # ccxt's kraken exceptions table: "EService:Unavailable", "EService:Busy",
    # "EGeneral:Internal error", "EDatabase:Internal error" -> ExchangeNotAvailable, and
    # timeouts: the order may exist.
    ambiguous_errors=("OperationFailed",),
    # "EAPI:Rate limit exceeded", "EOrder:Rate limit exceeded", "EGeneral:Too many requests",
    # "EGeneral:Temporary lockout" -> DDoSProtection; "EAPI:Invalid nonce" -> InvalidNonce;
    # "EService:Market in cancel_only mode" / "post_only mode" -> OnMaintenance (an
    # ExchangeNotAvailable, so checked here first): refused, not executed.
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce", "OnMaintenance"),
    # ccxt maps "EAPI:Invalid key" (AuthenticationError) and "EGeneral:Permission denied"
    # (PermissionDenied) but not a bad secret, "EAPI:Invalid signature" (a bare ExchangeError).
    error_classes={"EAPI:Invalid signature": "AuthenticationError"},
    # cl_ord_id (docs.kraken.com, "Spot Client Order Identifiers"): a long UUID, a short UUID
    # (32 hex) or free text of at most 18 characters; the bot's ids are free text, so compact
    # (base 36, ClientIdRules.compact). ccxt's kraken.order_request sends the unified
    # clientOrderId as cl_ord_id and parse_order reads it back as clientOrderId.
    # fetch_order cannot ask by it: ccxt's kraken.fetch_order sends a clientOrderId as `userref`
    # (Kraken's integer tag) next to the id as `txid`. Its fetch_open_orders and
    # fetch_closed_orders turn params.clientOrderId into cl_ord_id, which OpenOrders and
    # ClosedOrders filter by: the scan asks for the one order (scan_filter).
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param=None,
        max_length=18,
        charset="!-~",
    ),
    scan_filter="clientOrderId",
    # ClosedOrders holds closed, canceled and expired orders (ccxt's fetch_closed_orders).
    closed_orders_method="fetch_closed_orders",
    # CancelOrder answers {"count": 1} (ccxt's kraken.cancel_order returns no status): the
    # final state is read from the listings afterwards.
    cancel_reply_final=False,
    # A cancel of an order no longer open answers "EOrder:Unknown order", which ccxt's
    # kraken.cancel_order raises as OrderNotFound.
    cancel_final_errors=("OrderNotFound",),
    # TradesHistory gives 50 trades a page, newest first, for all pairs at once (and by default
    # consolidates a taker order's trades): read order by order instead. ccxt's
    # kraken.fetch_order_trades (QueryTrades) needs the order's trade ids in params.trades;
    # QueryOrders (fetch_order, trades=true) lists them.
    trades_page=50,
    trades_by_order=True,
    order_trade_ids_param="trades",
    # ccxt's kraken.order_request: postOnly -> oflags=post (timeInForce "PO" would also be sent
    # on as timeinforce=PO, which AddOrder does not take); timeInForce IOC -> timeinforce=IOC.
    post_only_params={"postOnly": True},
    ioc_params={"timeInForce": "IOC"},
    # Spot fees are charged in the quote (oflags fciq on the orders Kraken reports; ccxt's
    # kraken.parse_trade gives every trade's fee the market's quote).
    fees_in="quote",
    # Ticker "a" and "b" carry the best ask and bid (ccxt's kraken.parse_ticker).
    tickers_bid_ask=True,
    # Depth takes any count from 1 to 500.
    book_depths=(),
    # No sandbox: ccxt's kraken has no urls['test'] (features.spot.sandbox False); the bot
    # refuses testnet and demo modes for it.
    demo_via_sandbox=False,
)
