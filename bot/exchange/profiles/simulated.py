"""The built-in simulated exchange and paper trading: in-process, with Binance spot's order
semantics (client ids, lookups by client id, final cancel replies, cancel-and-replace in one
request with Binance's failure codes) and, for the sim's lost-reply faults, Binance's receive
window."""

from bot.exchange.profile import ClientIdRules, ExchangeProfile, ReplaceFacts

PROFILE = ExchangeProfile(
    id="sim",
    receive_window=5.0,
    client_id=ClientIdRules(max_length=36, charset=".A-Za-z0-9:/_-"),
    cancel_reply_final=True,
    trades_page=500,
    trades_from_id="fromId",
    flows=True,
    flows_page=1000,
    flows_offset_param="offset",
    # bot.sim.replace: the request built from ccxt's edit_order arguments, sent in one call; the
    # halves are ccxt orders, the failures Binance's (-2022 / -2021, raised as ccxt does).
    cancel_replace=ReplaceFacts(
        build="cancel_replace_request",
        send="cancel_replace",
        old_client_id_param="origClientOrderId",
        mode={"cancelReplaceMode": "STOP_ON_FAILURE"},
        failed_codes=("-2021", "-2022"),
        cancel_final_codes=("-2011",),
        half_errors={
            "Order would immediately match and take.": "OrderImmediatelyFillable",
            "Account has insufficient balance for requested action.": "InsufficientFunds",
            "Duplicate order sent.": "DuplicateOrderId",
            "-2011": "OrderNotFound",
            "-2010": "InvalidOrder",
            "-1013": "InvalidOrder",
        },
    ),
)
