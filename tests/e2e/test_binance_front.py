"""The simulator served as Binance spot over HTTP, driven by the real `ccxt.async_support.binance`.

Every test starts a server on a free 127.0.0.1 port in its own event loop, with the market on the
wall clock, and points an unmodified ccxt binance client at it with `bot.exchange.connect.api_url_config`. The
market is still (no volatility, no background trading): BTC/USDT best bid 99.99, best ask 100.01,
levels one tick apart holding 1, 2, 3, ... BTC; ETH/BTC around 0.05.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest
from aiohttp import web

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import ConfigError, WouldCross
from bot.exchange.connect import api_url_config
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.exchange.transport import RetryPolicy
from bot.settings import sim_server_credentials
from bot.sim.binance import (
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    HttpFaults,
    front_of,
    start_server,
)
from bot.sim.binance.wire import fmt
from bot.sim.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
BTC = "BTC/USDT"
ETHBTC = "ETH/BTC"
D = Decimal

BASE: dict[str, Any] = {
    "name": "front",
    "seed": 3,
    "balances": {"BTC": "10", "USDT": "100000", "ETH": "5"},
    "regime": {
        "volatility": 0.0,
        "spread_bps": 2.0,
        "levels": 5,
        "depth_growth": 1.0,
        "depth_noise": 0.0,
        "resilience_half_life": 10.0,
        "trade_rate": 0.0,
    },
    "markets": {
        BTC: {
            "price": "100",
            "tick": "0.01",
            "step": "0.001",
            "min_amount": "0.01",
            "min_cost": "1",
            "maker_fee": "0.001",
            "taker_fee": "0.002",
            "top_depth": "1",
        },
        ETHBTC: {
            "price": "0.05",
            "tick": "0.00001",
            "step": "0.0001",
            "min_cost": "0.0001",
            "top_depth": "10",
        },
    },
    "faults": {"weight_per_minute": 0},
}


def make_scenario(**overrides: Any) -> Scenario:
    data = json.loads(json.dumps(BASE))
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_scenario(data)


def client(port: int, **config: Any) -> Any:
    options = {**profile_for("binance").options(), **config.pop("options", {})}
    return ccxt.binance(
        {
            **api_url_config("binance", f"http://127.0.0.1:{port}"),
            "apiKey": LOCAL_TEST_API_KEY,
            "secret": LOCAL_TEST_SECRET,
            "enableRateLimit": False,
            "timeout": 5000,
            "options": options,
            **config,
        }
    )


Served = tuple[Any, BinanceFront, int]
Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a server (scenario overrides and start_server keywords) and a client for it."""
    runners: list[web.AppRunner] = []
    clients: list[Any] = []

    async def start(
        scenario: dict[str, Any] | None = None,
        client_config: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Served:
        runner, port = await start_server(make_scenario(**(scenario or {})), **kw)
        runners.append(runner)
        ex = client(port, **(client_config or {}))
        clients.append(ex)
        return ex, front_of(runner), port

    yield start
    for ex in clients:
        await ex.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def binance(serve: Serve) -> Served:
    return await serve()


# ---- public data ----------------------------------------------------------------------------


async def test_load_markets_gives_the_scenarios_precision_and_limits(binance: Served) -> None:
    ex, front, _ = binance
    markets = await ex.load_markets()
    assert sorted(markets) == [BTC, ETHBTC]
    scenario = make_scenario()
    for symbol, spec in scenario.markets.items():
        m = markets[symbol]
        assert (m["id"], m["spot"], m["active"], m["type"]) == (
            symbol.replace("/", ""),
            True,
            True,
            "spot",
        )
        assert m["precision"]["amount"] == float(spec.step)
        assert m["precision"]["price"] == float(spec.tick)
        assert m["limits"]["amount"]["min"] == float(spec.min_amount or spec.step)
        assert m["limits"]["price"]["min"] == float(spec.tick)
        assert m["limits"]["cost"]["min"] == float(spec.min_cost)
        assert m["info"]["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET"]
    filters = {f["filterType"]: f for f in markets[ETHBTC]["info"]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.00001000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00010000"
    assert filters["NOTIONAL"]["minNotional"] == "0.00010000"
    # load_markets asked for exchange info and the server time (adjustForTimeDifference), no more
    assert set(front.requests) == {"exchangeInfo", "time"}
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "21"  # Binance's weights: 20 + 1


async def test_min_notional_filter_is_read_too(serve: Serve) -> None:
    ex, _, _ = await serve(notional_filter="MIN_NOTIONAL")
    markets = await ex.load_markets()
    assert markets[BTC]["limits"]["cost"]["min"] == 1.0
    with pytest.raises(ccxt.BadRequest, match="Filter failure: MIN_NOTIONAL"):
        await ex.create_order(BTC, "limit", "buy", 0.01, 50.0)


async def test_balance_book_and_tickers_are_the_simulators_exact_state(binance: Served) -> None:
    ex, front, _ = binance
    balance = await ex.fetch_balance()
    assert balance["BTC"] == {"free": 10.0, "used": 0.0, "total": 10.0}
    assert balance["USDT"]["free"] == 100000.0
    assert {b["asset"]: b["free"] for b in balance["info"]["balances"]}["ETH"] == "5.00000000"

    book = await ex.fetch_order_book(BTC, 3)
    assert book["bids"] == [[99.99, 1.0], [99.98, 2.0], [99.97, 3.0]]
    assert book["asks"] == [[100.01, 1.0], [100.02, 2.0], [100.03, 3.0]]
    assert book["nonce"] == 1
    bids, asks = front.engine.book(BTC)
    assert [[float(lv.price), float(lv.amount)] for lv in bids] == (await ex.fetch_order_book(BTC))[
        "bids"
    ]
    assert len(asks) == 5

    ticker = await ex.fetch_ticker(BTC)
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (99.99, 100.01, 100.0)
    tickers = await ex.fetch_tickers([BTC, ETHBTC])
    assert sorted(tickers) == [BTC, ETHBTC]
    bids_asks = await ex.fetch_bids_asks()
    assert bids_asks[ETHBTC]["bid"] < bids_asks[ETHBTC]["ask"]
    fees = await ex.fetch_trading_fees()
    assert (fees[BTC]["maker"], fees[BTC]["taker"]) == (0.001, 0.002)
    assert (await ex.fetch_status())["status"] == "ok"
    assert await ex.fetch_time() == pytest.approx(ex.milliseconds(), abs=2000)


# ---- orders ---------------------------------------------------------------------------------


async def test_limit_order_by_client_id_fetched_and_cancelled(binance: Served) -> None:
    ex, front, _ = binance
    await ex.load_markets()
    placed = await ex.create_order(BTC, "limit", "buy", 0.5, 99.5, {"clientOrderId": "leg1c1"})
    assert (placed["clientOrderId"], placed["status"], placed["type"]) == (
        "leg1c1",
        "open",
        "limit",
    )
    assert (placed["amount"], placed["price"], placed["filled"]) == (0.5, 99.5, 0.0)
    assert placed["info"]["status"] == "NEW"
    assert placed["info"]["type"] == "LIMIT"
    assert placed["info"]["origQty"] == "0.50000000"

    found = await ex.fetch_order(placed["id"], BTC, {"clientOrderId": "leg1c1"})
    assert (found["id"], found["status"], found["timeInForce"]) == (placed["id"], "open", "GTC")
    assert [o["id"] for o in await ex.fetch_open_orders(BTC)] == [placed["id"]]
    balance = await ex.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(49.75)

    cancelled = await ex.cancel_order(placed["id"], BTC)
    assert cancelled["status"] == "canceled"
    assert cancelled["id"] == placed["id"]
    # as on Binance, the cancel reply's clientOrderId is the cancel request's own id;
    # the order's client id is in info.origClientOrderId
    assert cancelled["info"]["origClientOrderId"] == "leg1c1"
    assert cancelled["clientOrderId"] != "leg1c1"
    after = await ex.fetch_order(placed["id"], BTC, {"clientOrderId": "leg1c1"})
    assert (after["status"], after["clientOrderId"]) == ("canceled", "leg1c1")
    assert (await ex.fetch_balance())["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}

    with pytest.raises(ccxt.OrderNotFound, match="Unknown order sent"):
        await ex.cancel_order(placed["id"], BTC)
    with pytest.raises(ccxt.OrderNotFound, match="Order does not exist"):
        await ex.fetch_order("424242", BTC)
    with pytest.raises(ccxt.OrderNotFound, match="Order does not exist"):
        await ex.fetch_order("x", BTC, {"clientOrderId": "never-sent"})
    assert front.requests["cancelOrder"] == 2


async def test_taker_orders_fill_with_fees_and_trades(binance: Served) -> None:
    ex, _, _ = binance
    await ex.load_markets()
    ioc = await ex.create_order(
        BTC, "limit", "buy", 1.5, 100.02, {"timeInForce": "IOC", "clientOrderId": "ioc-1"}
    )
    assert (ioc["status"], ioc["filled"], ioc["average"]) == (
        "closed",
        1.5,
        pytest.approx(100.01333333),
    )
    assert len(ioc["trades"]) == 2
    assert ioc["fee"] == {"currency": "BTC", "cost": pytest.approx(0.003)}  # 0.2% taker, in base

    # a market buy with a price is sent as quoteOrderQty (cost) by ccxt
    market = await ex.create_order(BTC, "market", "buy", 0.5, 100.0)
    assert market["info"]["origQuoteOrderQty"] == "50.00000000"
    assert market["status"] == "closed"
    assert 0.49 <= market["filled"] <= 0.5

    sell = await ex.create_order(BTC, "market", "sell", 0.25)
    assert (sell["filled"], sell["price"], sell["status"]) == (0.25, 99.99, "closed")

    trades = await ex.fetch_my_trades(BTC)
    orders = [t["order"] for t in trades]  # the market buy may walk into a refilling level
    assert orders == sorted(orders, key=int)
    assert (orders.count(ioc["id"]), orders[-1], set(orders)) == (
        2,
        sell["id"],
        {ioc["id"], market["id"], sell["id"]},
    )
    assert trades[0]["takerOrMaker"] == "taker"
    assert trades[-1]["side"] == "sell"
    assert trades[-1]["fee"]["currency"] == "USDT"
    assert await ex.fetch_my_trades(BTC, trades[-1]["timestamp"] + 60_000) == []
    assert len(await ex.fetch_my_trades(BTC, None, 2)) == 2
    orders = await ex.fetch_orders(BTC)
    assert orders[0]["clientOrderId"] == "ioc-1"
    assert all(o["status"] == "closed" for o in orders)


async def test_post_only_rests_as_limit_maker_and_refuses_to_take(binance: Served) -> None:
    ex, _, _ = binance
    await ex.load_markets()
    maker = await ex.create_order(BTC, "limit", "sell", 0.1, 100.05, {"postOnly": True})
    assert maker["postOnly"] is True
    assert maker["info"]["type"] == "LIMIT_MAKER"
    assert maker["type"] == "limit"
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await ex.create_order(BTC, "limit", "buy", 0.1, 100.01, {"postOnly": True})
    cancelled = await ex.cancel_all_orders(BTC)
    assert [o["status"] for o in cancelled] == ["canceled"]
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_all_orders(BTC)


async def test_refusals_raise_what_ccxt_raises_against_binance(binance: Served) -> None:
    ex, _, _ = binance
    await ex.load_markets()
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        await ex.create_order(BTC, "limit", "buy", 2000, 99.0)
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(ETHBTC, "limit", "sell", 6, 0.06)
    # ccxt maps LOT_SIZE and PRICE_FILTER failures to InvalidOrder by their text...
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
        await ex.create_order(BTC, "limit", "buy", 0.005, 99.0)
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: PRICE_FILTER"):
        # ccxt rounds prices to the tick, so send the raw request
        await ex.private_post_order(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.5", "price": "99.995"}
        )  # fmt: skip
    # ...but has no rule for NOTIONAL: -1013 is a BadRequest, not an InvalidOrder (the GUIDE's
    # "check minimums yourself"; the gateway does)
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL") as refused:
        await ex.create_order(BTC, "limit", "buy", 0.01, 50.0)
    assert not isinstance(refused.value, ccxt.InvalidOrder)
    await ex.create_order(BTC, "limit", "buy", 0.1, 90.0, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await ex.create_order(BTC, "limit", "buy", 0.1, 90.0, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.BadSymbol, match="Invalid symbol"):
        await ex.public_get_depth({"symbol": "DOGEUSDT"})
    with pytest.raises(ccxt.BadRequest, match="-1104"):
        await ex.create_order(BTC, "limit", "buy", 0.1, 90.0, {"leverage": "3"})
    with pytest.raises(ccxt.BadRequest, match="-1106"):
        await ex.private_post_order(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1",
             "timeInForce": "GTC"}
        )  # fmt: skip


# ---- authentication -------------------------------------------------------------------------


async def test_wrong_secret_wrong_key_and_skewed_clock_are_refused(binance: Served) -> None:
    _, _, port = binance
    wrong_secret = client(port, secret="not-the-secret")
    wrong_key = client(port, apiKey="not-the-key")
    no_key = client(port, apiKey="")
    try:
        await wrong_secret.load_markets()  # public: fine
        with pytest.raises(ccxt.AuthenticationError, match="Signature for this request"):
            await wrong_secret.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await wrong_key.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError):  # ccxt refuses to sign without a key
            await no_key.fetch_balance()
        wrong_secret.secret = LOCAL_TEST_SECRET
        wrong_secret.options["timeDifference"] = -10_000  # our clock 10 s ahead of the server's
        with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
            await wrong_secret.fetch_balance()
        wrong_secret.options["timeDifference"] = 10_000  # 10 s behind: outside recvWindow
        with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
            await wrong_secret.fetch_balance()
        wrong_secret.options["timeDifference"] = 0
        assert (await wrong_secret.fetch_balance())["BTC"]["free"] == 10.0
    finally:
        for ex in (wrong_secret, wrong_key, no_key):
            await ex.close()


async def test_raw_http_headers_and_unsigned_private_calls(binance: Served) -> None:
    _, _, port = binance
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/v3/ping") as resp:
            assert (resp.status, await resp.json()) == (200, {})
            assert resp.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        async with http.get(f"{base}/api/v3/account") as resp:
            assert (resp.status, await resp.json()) == (
                401,
                {"code": -2014, "msg": "API-key format invalid."},
            )
        headers = {"X-MBX-APIKEY": LOCAL_TEST_API_KEY}
        async with http.get(f"{base}/api/v3/account?timestamp=1", headers=headers) as resp:
            assert (await resp.json())["code"] == -1102  # no signature
        async with http.get(f"{base}/api/v3/klines?symbol=BTCUSDT") as resp:
            assert resp.status == 404


def test_numbers_are_printed_like_binance_and_stay_exact() -> None:
    assert fmt(D("0.5")) == "0.50000000"
    assert fmt(D(100)) == "100.00000000"
    assert fmt(D("0.0000000123")) == "0.0000000123"
    assert fmt(D("-1.5")) == "-1.50000000"


def test_client_config_points_every_binance_api_at_the_server() -> None:
    config = api_url_config("binance", "http://127.0.0.1:9999/")
    api = config["urls"]["api"]
    assert api["public"] == api["private"] == "http://127.0.0.1:9999/api/v3"
    assert api["v1"] == "http://127.0.0.1:9999/api/v1"
    assert api["sapi"] == "http://127.0.0.1:9999/sapi/v1"
    assert all(url.startswith("http://127.0.0.1:9999/") for url in api.values())
    assert "-1131" in config["exceptions"]["exact"]  # spot-only codes apply at any address
    with pytest.raises(ConfigError, match="http"):
        api_url_config("binance", "127.0.0.1:9999")
    with pytest.raises(ConfigError, match="not supported for 'kraken'"):
        api_url_config("kraken", "http://127.0.0.1:9999")


def test_server_keys_come_from_the_environment_or_are_local_test_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REBALANCE_EXCHANGE__API_KEY", raising=False)
    monkeypatch.delenv("REBALANCE_EXCHANGE__SECRET", raising=False)
    local = (LOCAL_TEST_API_KEY, LOCAL_TEST_SECRET)
    assert sim_server_credentials(*local) == local
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "k")
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", "s")
    assert sim_server_credentials(*local) == ("k", "s")


# ---- rate limits and faults -----------------------------------------------------------------


async def test_weight_budget_answers_429_with_retry_after(serve: Serve) -> None:
    ex, front, _ = await serve({"faults": {"weight_per_minute": 45}})
    await ex.load_markets()  # exchangeInfo 20 + time 1
    await ex.fetch_balance()  # account 20
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "41"
    with pytest.raises(ccxt.DDoSProtection, match="429") as refused:
        await ex.fetch_balance()
    assert "-1003" in str(refused.value)
    retry_after = int(ex.last_response_headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert front.exchange.faults.injected["rate_limited"] == 1


async def test_injected_429_burst_503_and_slow_reply(serve: Serve) -> None:
    ex, front, _ = await serve()
    await ex.load_markets()
    front.rate_limit_burst(2.0)
    with pytest.raises(ccxt.DDoSProtection):
        await ex.fetch_order_book(BTC)
    assert ex.last_response_headers["Retry-After"] == "2"

    down, _, _ = await serve(faults=HttpFaults(server_error=1.0))
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await down.fetch_time()

    slow, slow_front, _ = await serve(
        faults=HttpFaults(slow=1.0, slow_seconds=0.6), client_config={"timeout": 250}
    )
    with pytest.raises(ccxt.RequestTimeout):
        await slow.fetch_time()
    assert slow_front.requests["time"] == 1


async def test_lost_reply_to_an_order_is_unknown_status(serve: Serve) -> None:
    ex, front, _ = await serve({"faults": {"weight_per_minute": 0, "lost_create_reply": 1.0}})
    await ex.load_markets()
    with pytest.raises(ccxt.RequestTimeout, match="-1007"):
        await ex.create_order(BTC, "limit", "buy", 0.1, 99.0, {"clientOrderId": "lost-1"})
    found = await ex.fetch_order("lost-1", BTC, {"clientOrderId": "lost-1"})
    assert found["status"] == "open"  # it was placed
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order(BTC, "market", "buy", 0.5, 100.0, {"clientOrderId": "lost-2"})
    found = await ex.fetch_order("lost-2", BTC, {"clientOrderId": "lost-2"})
    assert (found["status"], found["info"]["origQuoteOrderQty"]) == ("closed", "50.00000000")
    assert front.exchange.faults.injected["lost_create_reply"] == 2


# ---- the project's gateway over HTTP --------------------------------------------------------


async def test_gateway_places_finds_and_cancels_over_http(serve: Serve) -> None:
    ex, front, _ = await serve({"faults": {"weight_per_minute": 0, "lost_create_reply": 0.5}})
    gw = Gateway(
        ex,
        requests_per_second=1000,
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
        rng=random.Random(1),
    )
    markets = await gw.load_markets()
    btc = markets[BTC]
    assert (btc.amount_step, btc.price_tick, btc.min_amount, btc.min_cost) == (
        D("0.001"),
        D("0.01"),
        D("0.01"),
        D(1),
    )
    balances = await gw.fetch_balances()
    assert balances.free["USDT"] == D(100000)
    book = await gw.fetch_order_book(BTC, 5)
    assert (book.best_bid, book.best_ask) == (D("99.99"), D("100.01"))

    placed = []
    for i in range(4):  # about half the replies are lost: the gateway finds those by client id
        request = OrderRequest(
            client_id=f"gw-{i}",
            symbol=BTC,
            side=Side.BUY,
            amount=D("0.2"),
            price=D("99.9") - i * D("0.01"),
            post_only=True,
        )
        report = await gw.place_order(request)
        assert (report.client_id, report.status) == (f"gw-{i}", OrderStatus.OPEN)
        placed.append(report)
    assert front.exchange.faults.injected["lost_create_reply"] >= 1
    assert len(front.engine.open_orders(BTC)) == 4  # one order each, whatever the network did
    assert {o.client_id for o in await gw.fetch_open_orders(BTC)} == {f"gw-{i}" for i in range(4)}

    with pytest.raises(WouldCross):
        await gw.place_order(
            OrderRequest("gw-x", BTC, Side.BUY, D("0.2"), D("100.01"), post_only=True)
        )
    for report in placed:
        final = await gw.cancel_order(BTC, report.exchange_id)
        assert final is not None
        assert final.status is OrderStatus.CANCELED
    assert await gw.cancel_order(BTC, placed[0].exchange_id) is not None  # final via a query
    fetched = await gw.fetch_order(BTC, "gw-0")
    assert fetched is not None
    assert fetched.status is OrderStatus.CANCELED
    assert await gw.fetch_order(BTC, "never-sent") is None

    taken = await gw.place_order(
        OrderRequest("gw-take", BTC, Side.SELL, D("0.5"), D("99.99"), TimeInForce.IOC)
    )
    assert (taken.status, taken.filled, taken.fee_currency) == (
        OrderStatus.CLOSED,
        D("0.5"),
        "USDT",
    )
    fills = await gw.fetch_my_trades(BTC)
    assert [(f.exchange_order_id, f.amount, f.price, f.maker) for f in fills] == [
        (taken.exchange_id, D("0.5"), D("99.99"), False)
    ]
    assert fills[0].fee == D("0.09999")  # 0.5 * 99.99 * 0.2%, exact


# ---- the sim-server entry point -------------------------------------------------------------


async def test_serve_runs_a_scenario_file_until_sigterm() -> None:
    code = (
        "import sys; from bot.sim.binance import serve;"
        " serve('config/scenarios/demo.toml', 0,"
        " on_ready=lambda url: print(url, flush=True))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        url = ""
        while not url.startswith("http"):  # log lines (stdout when logging is not set up) first
            url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        ex = ccxt.binance(
            {
                **api_url_config("binance", url),
                "apiKey": LOCAL_TEST_API_KEY,
                "secret": LOCAL_TEST_SECRET,
                "options": profile_for("binance").options(),
            }
        )
        try:
            markets = await ex.load_markets()
            assert "LINK/USDT" in markets
            assert (await ex.fetch_balance())["BTC"]["free"] == pytest.approx(6.3158)
        finally:
            await ex.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
