"""The built-in simulated exchange and paper trading: in-process, with Binance spot's order
semantics (client ids, lookups by client id, final cancel replies) and, for the sim's lost-reply
faults, Binance's receive window."""

from bot.exchange.profile import ClientIdRules, ExchangeProfile

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
)
