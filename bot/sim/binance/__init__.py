"""The simulator behind Binance's spot REST API, on 127.0.0.1, for the unmodified ccxt client.

    runner, port = await start_server(load_scenario("config/scenarios/demo.toml"))
    exchange = ccxt.async_support.binance(
        {"urls": {"api": {"public": f"http://127.0.0.1:{port}/api/v3", ...}},
         "apiKey": LOCAL_TEST_API_KEY, "secret": LOCAL_TEST_SECRET,
         "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                     "fetchCurrencies": False, "fetchMargins": False}})
    await exchange.load_markets()
    ...
    await exchange.close(); await runner.cleanup()

One `SimExchange` does the work (matching, balances, weight budget and injected faults stay in
`bot.sim`); this package only speaks Binance: its paths, parameters and their checks, its JSON
(numbers as strings, integer order and trade ids, statuses NEW/PARTIALLY_FILLED/FILLED/CANCELED/
EXPIRED, LIMIT_MAKER for post-only), its signed-request rules (X-MBX-APIKEY, HMAC-SHA256 over the
query string followed by the body, `timestamp` within `recvWindow`) and its errors, with the codes,
messages and HTTP statuses that make ccxt raise what it raises against api.binance.com:

    -2014/-2015 (401) missing/unknown key  -> AuthenticationError
    -1022 bad signature                    -> AuthenticationError
    -1021 timestamp outside recvWindow     -> InvalidNonce
    -2010 'Account has insufficient balance for requested action.' -> InsufficientFunds
    -2010 'Order would immediately match and take.'               -> OrderImmediatelyFillable
    -2010 'Duplicate order sent.'          -> InvalidOrder
    -1013 'Filter failure: LOT_SIZE' / 'PRICE_FILTER' / 'MARKET_LOT_SIZE' -> InvalidOrder
    -1013 'Filter failure: NOTIONAL'       -> BadRequest (ccxt has no rule for it: check minimums)
    -2010 'Filter failure: MAX_NUM_ORDERS' -> InvalidOrder (too many open orders on the symbol)
    -2011 'Unknown order sent.' (cancel), -2013 'Order does not exist.' (query) -> OrderNotFound
    -1121 'Invalid symbol.'                -> BadSymbol; other parameter errors -> BadRequest
    429 + Retry-After, -1003 (weight) or -1015 (order rate) -> DDoSProtection (ccxt's rule for 429)
    500 -1001 'Internal error; ...'        -> OperationFailed (execution status unknown)
    503 -1007 (reply lost, execution status unknown) -> RequestTimeout
    503 {"code": 1, "msg": "System is under maintenance."} -> OnMaintenance
    503 'Service Unavailable'              -> ExchangeNotAvailable; dropped connection likewise

The in-process `SimExchange` raises the same classes, so a gateway sees the same on both.

Every response carries `X-MBX-USED-WEIGHT-1M`: the sim's weight budget (`[faults]
weight_per_minute`, Binance's endpoint weights, charged to refused requests too) is the one that
answers 429; order replies carry `X-MBX-ORDER-COUNT-10S` and `-1D` (`[faults] orders_per_10s`,
`orders_per_day`). The injected faults of `[faults]` (server errors, -1021, maintenance windows:
see `bot.sim.faults`) come out as the replies above; `HttpFaults` adds transport-level trouble:
429 bursts, 503s and late replies, by fraction of requests. /api/v3/time and the signature check
use the server's clock, `clock_offset` ahead of the caller's.

The JSON shapes are pure functions in `wire`; numbers keep the simulator's exact values (eight
decimals like Binance, more when the exact value has more: a fee when `round_commissions` is
off). As on Binance, a cancel reply's `clientOrderId` is the cancel request's own id; the order's
client id is its `origClientOrderId`.

A scenario with perpetuals (`perps`) is served as Binance USD-M futures on the same port too:
/fapi (exchangeInfo, depth, tickers, premiumIndex, orders, trades, account, positionRisk, income,
leverage, marginType, positionSide/dual) and the wallet transfers (/sapi/v1/asset/transfer,
MAIN_UMFUTURE and UMFUTURE_MAIN), over `bot.sim.perp.PerpEngine`, for ccxt's binanceusdm with
options {"defaultType": "swap", "fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False,
"fetchMargins": False} and `exceptions['linear']['exact']` merged into its `exact` table (ccxt
keys USD-M's codes by host name). See `fapi_routes` for the errors.

Modules, one job each: `server` (the aiohttp app, its route table, start_server, serve), `market`
(public endpoints), `orders` (order and account endpoints), `keys` (what the API key may do),
`capital` (deposit and withdrawal history), `venue` (what endpoints work on), `params`
(parameter parsing and checks), `auth` (key, signature, timestamp), `limits` (weights, 429,
`HttpFaults`), `errors` (the simulator's ccxt errors as Binance replies), `replies` (error
bodies, JSON responses), `wire` (the JSON shapes); for the futures, `fapi_routes` (routes,
errors), `fapi_market`, `fapi_orders`, `fapi_account` (endpoints), `fapi_venue` (the engine and
its symbols), `fapi_wire` and `fapi_positions` (the JSON shapes).
"""

from bot.sim.binance.limits import HttpFaults
from bot.sim.binance.server import (
    DEFAULT_PORT,
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    front_of,
    serve,
    start_server,
)

__all__ = [
    "DEFAULT_PORT",
    "LOCAL_TEST_API_KEY",
    "LOCAL_TEST_SECRET",
    "BinanceFront",
    "HttpFaults",
    "front_of",
    "serve",
    "start_server",
]
