"""The aiohttp server: `BinanceFront` routes Binance's paths to the endpoints of `market` and
`orders` (with perpetuals in the scenario, USD-M's /fapi paths too: `fapi_routes`), checks what
every request shares (transport faults, signature, unknown parameters, the weight of a refused
request) and answers; `start_server` and `serve` run it for one scenario.

A request refused (4xx) before its handler charged it is charged its endpoint's weight, as Binance
charges it; charging is where the simulator's maintenance windows and weight budget answer, so in
a maintenance window (`[faults] maintenance`) every request but /sapi/v1/system/status is answered
503 {"code": 1, "msg": "System is under maintenance."} (ccxt: `OnMaintenance`), whatever its
parameters. Order replies carry `X-MBX-ORDER-COUNT-10S` and `-1D`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import structlog
from aiohttp import web

from bot.clock import Clock, RealClock
from bot.sim.binance import capital, keys, market, orders
from bot.sim.binance.auth import SIGNING, Keys
from bot.sim.binance.errors import translate
from bot.sim.binance.fapi_routes import FAPI_ROUTES
from bot.sim.binance.fapi_venue import Futures
from bot.sim.binance.limits import HttpFaults, TransportFaults, endpoint_weight
from bot.sim.binance.params import Params, parse
from bot.sim.binance.replies import Drop, Reply, error, json_response, unknown_error
from bot.sim.binance.venue import Venue
from bot.sim.binance.wire import NotionalFilter
from bot.sim.exchange import SimExchange
from bot.sim.perp import PerpEngine
from bot.sim.scenario import Scenario, load_scenario

log = structlog.get_logger("bot.sim.binance")

# Local test keys: what the server accepts unless it is given others (the `sim-server` command
# passes the bot's own REBALANCE_EXCHANGE__API_KEY / __SECRET when they are set). They protect
# nothing (the server holds simulated money on 127.0.0.1); they exist so that the client signs its
# requests exactly as it does against Binance.
LOCAL_TEST_API_KEY = "rebalance-bot-local-test-key"
LOCAL_TEST_SECRET = "rebalance-bot-local-test-secret"
DEFAULT_PORT = 8765

SHUTDOWN_TIMEOUT = 5.0  # seconds cleanup() waits for replies in flight (slow ones included)

Handler = Callable[[Venue, Params], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Endpoint:
    name: str
    handler: Handler
    signed: bool
    params: frozenset[str]


def _route_table() -> dict[tuple[str, str], _Endpoint]:
    """(method, path) to endpoint: its name (for `requests` and logs), handler, whether it is
    signed, and the parameters it reads (any other is refused, -1104)."""
    sym = frozenset({"symbol", "symbols", "symbolStatus"})
    order = frozenset(
        {
            "symbol",
            "side",
            "type",
            "timeInForce",
            "quantity",
            "quoteOrderQty",
            "price",
            "newClientOrderId",
            "newOrderRespType",
            "selfTradePreventionMode",
            "strategyId",
            "strategyType",
            *orders.UNSUPPORTED_ORDER_PARAMS,
        }
    )
    table: list[tuple[str, str, str, Handler, bool, Iterable[str]]] = [
        ("GET", "/api/v3/ping", "ping", market.ping, False, ()),
        ("GET", "/api/v3/time", "time", market.server_time, False, ()),
        ("GET", "/api/v3/exchangeInfo", "exchangeInfo", market.exchange_info, False, sym),
        ("GET", "/api/v3/depth", "depth", market.depth, False, {"symbol", "limit"}),
        ("GET", "/api/v3/ticker/24hr", "ticker24hr", market.ticker_24hr, False, {*sym, "type"}),
        ("GET", "/api/v3/ticker/bookTicker", "bookTicker", market.book_ticker, False, sym),
        ("GET", "/api/v3/ticker/price", "tickerPrice", market.ticker_price, False, sym),
        ("GET", "/api/v3/account", "account", orders.account, True, {"omitZeroBalances"}),
        ("POST", "/api/v3/order", "newOrder", orders.new_order, True, order),
        (
            "POST",
            "/api/v3/order/cancelReplace",
            "cancelReplace",
            orders.cancel_replace,
            True,
            {
                *order,
                "cancelReplaceMode",
                "cancelOrderId",
                "cancelOrigClientOrderId",
                "cancelNewClientOrderId",
                "cancelRestrictions",
                "orderRateLimitExceededMode",
            },
        ),
        (
            "DELETE",
            "/api/v3/order",
            "cancelOrder",
            orders.cancel_order,
            True,
            {
                "symbol",
                "orderId",
                "origClientOrderId",
                "newClientOrderId",
                "cancelRestrictions",
            },
        ),
        (
            "GET",
            "/api/v3/order",
            "queryOrder",
            orders.query_order,
            True,
            {"symbol", "orderId", "origClientOrderId"},
        ),
        ("GET", "/api/v3/openOrders", "openOrders", orders.open_orders, True, {"symbol"}),
        ("DELETE", "/api/v3/openOrders", "cancelAll", orders.cancel_all, True, {"symbol"}),
        (
            "GET",
            "/api/v3/allOrders",
            "allOrders",
            orders.all_orders,
            True,
            {"symbol", "orderId", "startTime", "endTime", "limit"},
        ),
        (
            "GET",
            "/api/v3/myTrades",
            "myTrades",
            orders.my_trades,
            True,
            {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
        ),
        ("GET", "/sapi/v1/system/status", "systemStatus", market.system_status, False, ()),
        ("GET", "/sapi/v1/asset/tradeFee", "tradeFee", orders.trade_fee, True, {"symbol"}),
        (
            "GET",
            "/sapi/v1/capital/deposit/hisrec",
            "depositHistory",
            capital.deposit_history,
            True,
            {*capital.HISTORY, "txId", "includeSource"},
        ),
        (
            "GET",
            "/sapi/v1/capital/withdraw/history",
            "withdrawHistory",
            capital.withdraw_history,
            True,
            {*capital.HISTORY, "withdrawOrderId", "idList"},
        ),
        (
            "GET",
            "/sapi/v1/account/apiRestrictions",
            "apiRestrictions",
            keys.api_restrictions,
            True,
            (),
        ),
    ]
    routes = _endpoints(table)
    # ccxt's `v1` API and Binance's older paths answer the same as v3 where they exist.
    for (method, path), endpoint in list(routes.items()):
        if path in ("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"):
            routes[(method, path.replace("/api/v3/", "/api/v1/"))] = endpoint
    return routes


def _endpoints(
    table: Iterable[tuple[str, str, str, Handler, bool, Iterable[str]]],
) -> dict[tuple[str, str], _Endpoint]:
    routes = {}
    for method, path, name, handler, signed, params in table:
        allowed = frozenset(params) | (SIGNING if signed else frozenset())
        routes[(method, path)] = _Endpoint(name, handler, signed, allowed)
    return routes


ROUTES = _route_table()
# With perpetuals: Binance USD-M's /fapi and the spot <-> futures transfers too (`fapi_routes`).
ROUTES_WITH_FUTURES = {**ROUTES, **_endpoints(FAPI_ROUTES)}


class BinanceFront(Venue):
    """The HTTP front of one `SimExchange`; `app()` is the aiohttp application."""

    def __init__(
        self,
        exchange: SimExchange,
        *,
        api_key: str = LOCAL_TEST_API_KEY,
        secret: str = LOCAL_TEST_SECRET,
        faults: HttpFaults | None = None,
        notional_filter: NotionalFilter = "NOTIONAL",
        seed: int = 0,
        futures: PerpEngine | None = None,
    ) -> None:
        if not api_key or not secret:
            raise ValueError("the Binance front needs a non-empty API key and secret")
        super().__init__(exchange, notional_filter, seed)
        self.keys = Keys(api_key, secret)
        self.faults = faults or HttpFaults()
        self.requests: Counter[str] = Counter()  # by endpoint name, every answer counted
        self.slow_replies: Counter[str] = Counter()  # by endpoint name, replies held back
        self._transport = TransportFaults(self.faults, exchange)
        if futures is not None:
            self.futures = Futures(futures)
        self.routes = ROUTES if futures is None else ROUTES_WITH_FUTURES

    def app(self) -> web.Application:
        app = web.Application()
        app[FRONT] = self
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    @property
    def transport_faults(self) -> Counter[str]:
        """The `HttpFaults` injected so far, by kind (see `TransportFaults.injected`)."""
        return self._transport.injected

    def rate_limit_burst(self, seconds: float) -> None:
        """Answer every request 429 for the next `seconds` (clock time), as a burst would."""
        self._transport.burst(seconds)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = self.routes.get((request.method, request.path))
        if endpoint is None:
            known = any(path == request.path for _, path in self.routes)
            log.warning("binance_front_no_route", method=request.method, path=request.path)
            self.requests["unknown"] += 1
            return web.Response(
                status=405 if known else 404, text="Method Not Allowed" if known else "Not Found"
            )
        self.requests[endpoint.name] += 1
        slow = False
        charges = self.exchange.faults.charges
        params: Params = {}
        try:
            slow = self._transport.draw()
            raw_query = request.rel_url.raw_query_string
            raw_body = await request.text() if request.can_read_body else ""
            params = parse(raw_query, raw_body)
            if endpoint.signed:
                self.keys.authenticate(request, params, raw_query, raw_body, self.now_ms)
            unknown = [k for k in params if k not in endpoint.params]
            if unknown:
                raise error(
                    400,
                    -1104,
                    f"Not all sent parameters were read; read '{len(params) - len(unknown)}'"
                    f" parameter(s) but was sent '{len(params)}'.",
                )
            if self.futures is not None:  # the perps follow the spot market they index
                self.futures.engine.advance_to(self.clock.time())
            try:
                body = await endpoint.handler(self, params)
            except ccxt.BaseError as exc:
                raise translate(exc, endpoint.name, self) from None
            response: web.StreamResponse = json_response(body)
        except Reply as reply:
            if self.exchange.faults.charges == charges:
                reply = await self._charge_refused(endpoint, params, reply)
            response = reply.response()
        except Drop:
            log.debug("binance_front_dropped", endpoint=endpoint.name)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        except Exception:
            log.exception("binance_front_error", endpoint=endpoint.name)
            response = unknown_error().response()
        if slow:
            self.slow_replies[endpoint.name] += 1
            await asyncio.sleep(self.faults.slow_seconds)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(self.exchange.faults.weight_used)
        if endpoint.name in ("newOrder", "cancelReplace"):
            response.headers.update(self.exchange.faults.order_counts())
        log.debug(
            "binance_front_request",
            endpoint=endpoint.name,
            method=request.method,
            status=response.status,
        )
        return response

    async def _charge_refused(self, endpoint: _Endpoint, params: Params, reply: Reply) -> Reply:
        """Charge a request refused for its parameters, signature or filters before anything
        charged it, as Binance does; an exhausted weight budget answers (429) instead."""
        if not 400 <= reply.status < 500 or reply.status == 429:
            return reply
        try:
            await self.exchange.charge_refused(
                endpoint.name, endpoint_weight(endpoint.name, params)
            )
        except ccxt.BaseError as exc:
            instead = translate(exc, endpoint.name, self)
            return instead if isinstance(instead, Reply) else reply
        return reply


FRONT = web.AppKey("binance_front", BinanceFront)


# ---- starting, serving, pointing ccxt at it --------------------------------------------------


def front_of(runner: web.AppRunner) -> BinanceFront:
    """The `BinanceFront` (and through it the `SimExchange`) behind a runner from start_server."""
    app = runner.app
    assert isinstance(app, web.Application)
    return app[FRONT]


async def start_server(
    scenario: Scenario,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str = LOCAL_TEST_API_KEY,
    secret: str = LOCAL_TEST_SECRET,
    clock: Clock | None = None,
    faults: HttpFaults | None = None,
    notional_filter: NotionalFilter = "NOTIONAL",
) -> tuple[web.AppRunner, int]:
    """Serve `scenario` as Binance spot on `host:port` (0: a free port) in the running loop, and
    as Binance USD-M futures (/fapi) on the same port when it has perpetuals (`perps`).

    The market runs on `clock` (default: wall time); a `VirtualClock` only moves when told, and a
    client then needs `adjustForTimeDifference` to sign with the server's time. Returns the runner
    (`await runner.cleanup()` stops it; `front_of(runner)` reaches the simulator) and the port.
    """
    clock = clock or RealClock()
    if not _is_loopback(host):
        log.warning("binance_front_not_loopback", host=host)
    exchange = SimExchange.from_scenario(scenario, clock)
    front = BinanceFront(
        exchange,
        api_key=api_key,
        secret=secret,
        faults=faults,
        notional_filter=notional_filter,
        seed=scenario.seed,
        futures=PerpEngine.from_scenario(scenario, exchange.engine) if scenario.perps else None,
    )
    runner = web.AppRunner(
        front.app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual = int(runner.addresses[0][1])
    log.info("binance_front_started", host=host, port=actual, scenario=scenario.name)
    return runner, actual


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    scenario_path: str | Path,
    port: int = DEFAULT_PORT,
    api_key: str = LOCAL_TEST_API_KEY,
    secret: str = LOCAL_TEST_SECRET,
    *,
    host: str = "127.0.0.1",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a scenario file until SIGINT or SIGTERM (the `sim-server` command).

    Raises `ScenarioError` (a `ConfigError`) for a bad file and `OSError` when the port is taken.
    `on_ready` receives the base URL (for `exchange.api_url`) once the server listens.
    """
    scenario = load_scenario(scenario_path)
    asyncio.run(_serve_until_stopped(scenario, host, port, api_key, secret, on_ready))


async def _serve_until_stopped(
    scenario: Scenario,
    host: str,
    port: int,
    api_key: str,
    secret: str,
    on_ready: Callable[[str], None] | None,
) -> None:
    runner, actual = await start_server(scenario, host, port, api_key=api_key, secret=secret)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if on_ready is not None:
            on_ready(f"http://{host}:{actual}")
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("binance_front_stopped", port=actual)
