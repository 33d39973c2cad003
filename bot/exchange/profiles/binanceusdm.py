"""Binance USDⓈ-M futures: linear perpetuals settled in USDT (API fapi), through ccxt's
binanceusdm class.

Sources: ccxt 4.5 `ccxt/async_support/binance.py` and `binanceusdm.py` (named methods) and
Binance's derivatives docs (https://developers.binance.com/docs/derivatives/usds-margined-futures/,
the pages named below).
"""

from decimal import Decimal

from bot.exchange.permissions import Grant, KeyPermissionsCall
from bot.exchange.profile import (
    AccountFields,
    ApiUrlLayout,
    ClientIdRules,
    ExchangeProfile,
    PerpFacts,
)

PROFILE = ExchangeProfile(
    id="binanceusdm",
    ccxt_options={
        # Linear contracts only (binanceusdm's default), calls without a symbol to fapi (type
        # swap, subtype linear: binance.is_linear), and none of the spot currency or margin
        # endpoints that load_markets would otherwise call.
        "defaultType": "swap",
        "defaultSubType": "linear",
        "fetchMarkets": {"types": ["linear"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        # GET /fapi/v1/time on load_markets: signed requests carry Binance's clock.
        "adjustForTimeDifference": True,
    },
    # recvWindow (5000 ms unless set, "Timing security"): a signed order request older than
    # that is refused (-1021), so a lost one cannot execute after it.
    receive_window=5.0,
    receive_window_option="recvWindow",
    # Network errors and fapi's "status unknown" replies (-1000, -1001, -1007 "Timeout waiting
    # for response from backend server. Send status unknown; execution status unknown."; 5xx):
    # OperationFailed subclasses in ccxt. The order may exist.
    ambiguous_errors=("OperationFailed",),
    # 429 / 418 and -1003 / -1015 (rate limits), -1021 (outside recvWindow): not executed.
    refused_errors=("DDoSProtection", "RateLimitExceeded", "InvalidNonce"),
    # After one successful private call ccxt's binance maps -2015 to DDoSProtection.
    auth_error_markers=(
        '"code":-2015',
        '"code":-2014',
        "Invalid API-key",
        "API-key format invalid",
    ),
    # -4061 "Order's position side does not match user's setting" (a hedge-mode order in
    # one-way mode, or the reverse): a rule broken, not a server fault (ccxt's linear table
    # leaves it to its general table's OperationRejected). -2022 "ReduceOnly Order is rejected"
    # is InvalidOrder in ccxt's linear table already.
    error_classes={"-4061": "InvalidOrder"},
    # POST /fapi/v1/order newClientOrderId: ^[\.A-Z\:/a-z0-9_-]{1,36}$; GET /fapi/v1/order by
    # origClientOrderId (ccxt maps the unified clientOrderId to both). A cancel reply names the
    # order's own id in clientOrderId (no origClientOrderId there): the key is harmless.
    client_id=ClientIdRules(
        param="clientOrderId",
        lookup_param="clientOrderId",
        reply_keys=("origClientOrderId",),
        max_length=36,
        charset=".A-Za-z0-9:/_-",
    ),
    cancel_reply_final=True,
    # fapi's error codes are keyed by the host fapi.binance.com (binance.get_exceptions_by_url).
    api_url=ApiUrlLayout(exception_tables=("linear",)),
    # GET /fapi/v1/userTrades: 500 unless asked, at most 1000; fromId pages by trade id.
    trades_page=500,
    trades_from_id="fromId",
    # Markets carry the base tier (the highest rates, so costs are never under-estimated); the
    # account's tier (GET /fapi/v1/accountConfig) is not read.
    account_fees=False,
    # Futures collateral arrives by transfer from spot, not by deposit.
    flows=False,
    # GET /fapi/v1/depth: limit 5, 10, 20, 50, 100, 500 or 1000.
    book_depths=(5, 10, 20, 50, 100, 500, 1000),
    # GET /fapi/v1/ticker/24hr (binance.fetch_tickers, linear) has no bid or ask: prices come
    # from order books.
    tickers_bid_ask=False,
    # The futures testnet (testnet.binancefuture.com) is deprecated: ccxt's binance.sign raises
    # NotSupported on it ("testnet/sandbox mode is not supported for futures anymore").
    sandbox_refused=(
        "binanceusdm: Binance's futures testnet is deprecated in ccxt;"
        ' use mode = "demo" (demo-fapi.binance.com, demo trading keys)'
    ),
    # GET /sapi/v1/account/apiRestrictions: enableFutures lets the key trade futures.
    key_permissions=KeyPermissionsCall(
        "sapiGetAccountApiRestrictions",
        trade=(Grant(("enableFutures",)),),
        withdraw=(Grant(("enableWithdrawals",)),),
    ),
    contracts=True,
    perps=PerpFacts(
        # GET /fapi/v3/account (binance.fetch_balance, linear): assets[] with walletBalance,
        # marginBalance (wallet + unrealised profit) and availableBalance, per asset.
        account=AccountFields(
            ("assets",), "asset", "walletBalance", "marginBalance", "availableBalance"
        ),
        # POST /fapi/v1/order: reduceOnly "true" (binance.create_order_request passes it on);
        # hedge mode: positionSide LONG / SHORT, and reduceOnly must not be sent ("-1106
        # Parameter 'reduceonly' sent when not required"): closing a LONG is a SELL on LONG.
        position_side_param="positionSide",
        position_side_values={"long": "LONG", "short": "SHORT"},
        reduce_only_in_hedge=False,
        # GET /fapi/v3/positionRisk: isolatedMargin (0 under cross margin) and maintMargin.
        position_fields={"collateral": "isolatedMargin", "maintenance_margin": "maintMargin"},
        # GET /fapi/v1/income?incomeType=FUNDING_FEE: income signed (+ received), oldest first
        # from startTime, 100 a page unless asked, at most 1000.
        funding_page=1000,
        # premiumIndex carries no interval; a symbol absent from GET /fapi/v1/fundingInfo
        # settles every 8 hours.
        funding_hours=Decimal(8),
        # GET /fapi/v1/positionSide/dual: dualSidePosition true is hedge mode.
        position_mode_call="fetch_position_mode",
        # POST /sapi/v1/asset/transfer type MAIN_UMFUTURE / UMFUTURE_MAIN (binance.transfer:
        # accountsByType spot -> MAIN, linear -> UMFUTURE). Demo trading has no sapi.
        transfer_accounts=("spot", "linear"),
        transfers_in_demo=False,
        # -4164 "Order's notional must be no smaller than 100 (unless you choose reduce only)".
        reduce_only_waives_min_cost=True,
    ),
)
