"""Binance spot."""

from bot.exchange.permissions import Grant, KeyPermissionsCall
from bot.exchange.profile import ApiUrlLayout, ClientIdRules, ExchangeProfile, ReplaceFacts

PROFILE = ExchangeProfile(
    id="binance",
    # Spot markets only, and none of the margin or currency endpoints that load_markets would
    # otherwise call (they need extra permissions and weight).
    ccxt_options={
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "adjustForTimeDifference": True,
    },
    # A signed request older than recvWindow is refused: it bounds how long a lost order request
    # may still arrive (the gateway waits that long, plus the margin, before sending it again).
    receive_window=5.0,
    receive_window_option="recvWindow",
    # Network errors, and the "execution status unknown" replies (-1006, -1007, -1000, -1001,
    # any 5xx), which ccxt raises as OperationFailed subclasses: the order may exist.
    ambiguous_errors=("OperationFailed",),
    # 429 / 418 (-1003, -1015: DDoSProtection, RateLimitExceeded) and -1021 (InvalidNonce): the
    # request was refused and did not execute.
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce"),
    # After one successful private call, ccxt's binance maps -2015 (invalid key, IP or
    # permissions) to DDoSProtection: the text, not the class, tells.
    auth_error_markers=(
        '"code":-2015',
        '"code":-2014',
        "Invalid API-key",
        "API-key format invalid",
    ),
    # newClientOrderId: ^[.A-Z:/a-z0-9_-]{1,36}$, looked up with origClientOrderId. A cancel reply
    # names the cancel request in clientOrderId and the order itself in origClientOrderId.
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param="clientOrderId",
        reply_keys=("origClientOrderId",),
        max_length=36,
        charset=".A-Za-z0-9:/_-",
    ),
    cancel_reply_final=True,
    # ccxt's spot-only error codes are keyed by the host api.binance.com.
    api_url=ApiUrlLayout(exception_tables=("spot",)),
    # GET /api/v3/myTrades: 500 unless asked, at most 1000; fromId pages by trade id.
    trades_page=500,
    trades_from_id="fromId",
    # GET /api/v3/klines: 500 unless asked, at most 1000.
    ohlcv_page=1000,
    # Markets carry the base tier; GET /sapi/v1/asset/tradeFee has the account's rates.
    account_fees=True,
    # GET /sapi/v1/capital/deposit/hisrec and /sapi/v1/capital/withdraw/history: at most 1000 a
    # page (the default), paged by offset within a window of at most 90 days.
    flows=True,
    flows_page=1000,
    flows_offset_param="offset",
    # GET /sapi/v1/account/apiRestrictions (weight 1): what the key may do. Binance's spot
    # testnet has no /sapi: there, the permissions are not told.
    key_permissions=KeyPermissionsCall(
        "sapiGetAccountApiRestrictions",
        trade=(Grant(("enableSpotAndMarginTrading",)),),
        withdraw=(Grant(("enableWithdrawals",)),),
    ),
    # POST /api/v3/order/cancelReplace (weight 1): ccxt builds it (edit_spot_order_request: the
    # old order by cancelOrderId, or cancelOrigClientOrderId; type LIMIT_MAKER for post-only) and
    # the implicit method sends it. STOP_ON_FAILURE: no new order unless the cancel succeeded.
    # 200: both halves; 400 -2022: the cancel failed (its -2011: the order is final or unknown),
    # nothing placed; 409 -2021: cancelled, the new order refused (-2010: post-only would take).
    # ccxt raises both as BadResponse, the body in the message.
    cancel_replace=ReplaceFacts(
        build="edit_spot_order_request",
        send="privatePostOrderCancelReplace",
        old_client_id_param="cancelOrigClientOrderId",
        mode={"cancelReplaceMode": "STOP_ON_FAILURE"},
        cancel_half="cancelResponse",
        new_half="newOrderResponse",
        failed_codes=("-2021", "-2022"),
        failed_data="data",
        cancel_final_codes=("-2011",),
        half_errors={
            "Order would immediately match and take.": "OrderImmediatelyFillable",
            "Account has insufficient balance for requested action.": "InsufficientFunds",
            "Duplicate order sent.": "DuplicateOrderId",
            "-2011": "OrderNotFound",
            "-2010": "InvalidOrder",
            "-1013": "InvalidOrder",
            "-1015": "RateLimitExceeded",
        },
    ),
)
