"""Binance's trading rules in the simulator, in process and over HTTP through the real ccxt client:
the filters (MAX_NUM_ORDERS, MARKET_LOT_SIZE, the maximums), the order-rate limit, weight charged
to refused requests and commissions rounded to eight decimals. Both paths raise the same ccxt
class for each refusal, so the gateway sees the same thing on either.
"""

from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from bot.domain.market import Side
from bot.exchange.gateway import Gateway
from bot.sim.exchange import SimExchange

from .conftest import SYMBOL, Act, MakeSim, Serve, refusal_in_process, refusal_over_http, scenario

D = Decimal


async def buys(ex: Any, n: int) -> None:
    for i in range(n):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, round(99.0 - i / 10, 1))


async def too_many_open(ex: Any) -> None:
    await buys(ex, 3)


async def market_too_big(ex: Any) -> None:
    await ex.create_order(SYMBOL, "market", "sell", 2)


async def price_too_high(ex: Any) -> None:
    await ex.create_order(SYMBOL, "limit", "sell", 1, 151)


async def amount_too_big(ex: Any) -> None:
    await ex.create_order(SYMBOL, "limit", "buy", 6, 90)


async def notional_too_big(ex: Any) -> None:
    await ex.create_order(SYMBOL, "limit", "buy", 2, 90)


async def notional_too_small(ex: Any) -> None:
    await ex.create_order(SYMBOL, "limit", "buy", 0.01, 50)


PARITY: list[tuple[str, Act, dict[str, Any], type[Exception], str]] = [
    ("MAX_NUM_ORDERS", too_many_open, {"max_open_orders": 2}, ccxt.InvalidOrder, "-2010"),
    ("MARKET_LOT_SIZE", market_too_big, {"market_max_amount": "1"}, ccxt.InvalidOrder, "-1013"),
    ("PRICE_FILTER", price_too_high, {"max_price": "150"}, ccxt.InvalidOrder, "-1013"),
    ("LOT_SIZE", amount_too_big, {"max_amount": "5"}, ccxt.InvalidOrder, "-1013"),
    ("NOTIONAL", notional_too_big, {"max_cost": "100"}, ccxt.BadRequest, "-1013"),
    ("NOTIONAL", notional_too_small, {}, ccxt.BadRequest, "-1013"),
]


@pytest.mark.parametrize(
    ("name", "act", "spec", "error", "code"),
    PARITY,
    ids=[f"{p[0]}-{p[1].__name__}" for p in PARITY],
)
async def test_each_filter_is_the_same_ccxt_class_in_process_and_over_http(
    serve: Serve, name: str, act: Act, spec: dict[str, Any], error: type[Exception], code: str
) -> None:
    overrides = {"markets": {SYMBOL: spec}}
    inside = await refusal_in_process(act, **overrides)
    outside = await refusal_over_http(serve, act, **overrides)
    assert type(inside) is type(outside) is error
    assert f"({name})" in str(inside)
    assert f'"code":{code},"msg":"Filter failure: {name}"' in str(outside)


# ---- filters ------------------------------------------------------------------------------


async def test_max_num_orders_refuses_one_more_open_order_on_the_symbol(make_sim: MakeSim) -> None:
    ex, _ = make_sim(markets={SYMBOL: {"max_open_orders": 2}})
    await buys(ex, 2)
    with pytest.raises(ccxt.InvalidOrder, match="MAX_NUM_ORDERS"):
        await ex.create_order(SYMBOL, "limit", "sell", 0.1, 101)
    with pytest.raises(ccxt.InvalidOrder, match="MAX_NUM_ORDERS"):  # even one that would not rest
        await ex.create_order(SYMBOL, "market", "sell", 0.1)
    assert len(ex.engine.orders) == 2
    await ex.cancel_order(ex.engine.open_orders(SYMBOL)[0].id, SYMBOL)
    await ex.create_order(SYMBOL, "limit", "sell", 0.1, 101)
    assert len(ex.engine.open_orders(SYMBOL)) == 2


async def test_binance_defaults_allow_200_open_orders(make_sim: MakeSim) -> None:
    ex, clock = make_sim()
    for _ in range(2):  # 100 orders per ten seconds, Binance's default
        await buys(ex, 100)
        clock.advance(10)
    with pytest.raises(ccxt.InvalidOrder, match="MAX_NUM_ORDERS"):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
    assert len(ex.engine.open_orders(SYMBOL)) == 200


async def test_market_lot_size_applies_to_market_orders_only(make_sim: MakeSim) -> None:
    ex, _ = make_sim(
        markets={
            SYMBOL: {"market_min_amount": "0.5", "market_max_amount": "2", "market_step": "0.1"}
        }
    )
    for amount, why in ((0.3, "below the market minimum 0.5"), (2.5, "above the market maximum 2"),
                        (0.55, "not a multiple of the market step 0.1")):  # fmt: skip
        with pytest.raises(ccxt.InvalidOrder, match=f"{why} \\(MARKET_LOT_SIZE\\)"):
            await ex.create_order(SYMBOL, "market", "sell", amount)
    assert (await ex.create_order(SYMBOL, "market", "sell", 0.6))["filled"] == 0.6
    assert (await ex.create_order(SYMBOL, "limit", "sell", 0.33, 101))["status"] == "open"


async def test_maximum_price_amount_and_notional_are_enforced(make_sim: MakeSim) -> None:
    ex, _ = make_sim(markets={SYMBOL: {"max_price": "150", "max_amount": "5", "max_cost": "300"}})
    with pytest.raises(ccxt.InvalidOrder, match="above the maximum 150 \\(PRICE_FILTER\\)"):
        await ex.create_order(SYMBOL, "limit", "sell", 1, 150.01)
    with pytest.raises(ccxt.InvalidOrder, match="above the maximum 5 \\(LOT_SIZE\\)"):
        await ex.create_order(SYMBOL, "limit", "buy", 5.001, 10)
    with pytest.raises(ccxt.BadRequest, match="above the maximum 300 USDT \\(NOTIONAL\\)"):
        await ex.create_order(SYMBOL, "limit", "buy", 4, 99)
    assert ex.engine.orders == {}
    await ex.create_order(SYMBOL, "limit", "sell", 1, 150)  # at the limits: accepted
    await ex.create_order(SYMBOL, "limit", "buy", 3, 99.99)
    # Binance's applyMaxToMarket is false: a market order may be worth more than maxNotional
    assert (await ex.create_order(SYMBOL, "market", "sell", 4))["status"] == "closed"


def test_filter_limits_are_validated_and_zero_turns_one_off() -> None:
    from bot.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"max_amount 0\.001 is below min_amount 0\.01"):
        scenario(markets={SYMBOL: {"max_amount": "0.001"}})
    with pytest.raises(ScenarioError, match="max_open_orders"):
        scenario(markets={SYMBOL: {"max_open_orders": -1}})
    off = scenario(markets={SYMBOL: {"max_price": "0", "max_open_orders": 0}}).filters()[SYMBOL]
    assert (off.max_price, off.max_open_orders) == (0, 0)


async def test_filters_are_published_and_enforced_over_http(serve: Serve) -> None:
    spec = {"max_price": "150", "max_amount": "5", "max_cost": "300", "max_open_orders": 3,
            "market_min_amount": "0.5", "market_max_amount": "2", "market_step": "0.1"}  # fmt: skip
    ex, front, _ = await serve(markets={SYMBOL: spec})
    market = (await ex.load_markets())[SYMBOL]
    filters = {f["filterType"]: f for f in market["info"]["filters"]}
    assert filters["PRICE_FILTER"]["maxPrice"] == "150.00000000"
    assert filters["LOT_SIZE"]["maxQty"] == "5.00000000"
    assert filters["NOTIONAL"]["maxNotional"] == "300.00000000"
    assert filters["MARKET_LOT_SIZE"] == {
        "filterType": "MARKET_LOT_SIZE",
        "minQty": "0.50000000",
        "maxQty": "2.00000000",
        "stepSize": "0.10000000",
    }
    assert filters["MAX_NUM_ORDERS"] == {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 3}
    limits = market["limits"]
    assert (limits["amount"]["max"], limits["price"]["max"], limits["cost"]["max"]) == (5, 150, 300)
    assert limits["market"] == {"min": 0.5, "max": 2.0}
    inside = await SimExchange.from_scenario(scenario(markets={SYMBOL: spec})).load_markets()
    assert inside[SYMBOL]["limits"] == limits  # the same limits in process

    with pytest.raises(
        ccxt.InvalidOrder, match='"code":-1013,"msg":"Filter failure: MARKET_LOT_SIZE"'
    ):
        await ex.create_order(SYMBOL, "market", "sell", 0.55)
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: PRICE_FILTER"):
        await ex.create_order(SYMBOL, "limit", "sell", 1, 150.01)
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
        await ex.create_order(SYMBOL, "limit", "buy", 5.001, 10)
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        await ex.create_order(SYMBOL, "limit", "buy", 4, 99)
    await buys(ex, 3)
    with pytest.raises(
        ccxt.InvalidOrder, match='"code":-2010,"msg":"Filter failure: MAX_NUM_ORDERS"'
    ):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
    assert len(front.engine.orders) == 3


# ---- the order rate -----------------------------------------------------------------------


async def test_order_rate_limit_answers_1015_until_the_window_ends(make_sim: MakeSim) -> None:
    ex, clock = make_sim(faults={"weight_per_minute": 0, "orders_per_10s": 3})
    for n in range(1, 4):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
        counts = {k: v for k, v in ex.last_response_headers.items() if "ORDER-COUNT" in k}
        assert counts == {"X-MBX-ORDER-COUNT-10S": str(n), "X-MBX-ORDER-COUNT-1D": str(n)}
    with pytest.raises(ccxt.DDoSProtection) as refused:
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
    assert "-1015 Too many new orders; current limit is 3 orders per 10 SECOND." in str(
        refused.value
    )
    assert ex.last_response_headers == {"Retry-After": str(math.ceil(10 - clock.time() % 10))}
    assert len(ex.engine.orders) == 3  # not placed
    clock.advance(10 - clock.time() % 10)
    await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "4"


async def test_daily_order_limit_and_binances_default(make_sim: MakeSim) -> None:
    ex, clock = make_sim(faults={"weight_per_minute": 0, "orders_per_day": 4})
    for _ in range(4):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
        clock.advance(10)
    with pytest.raises(ccxt.DDoSProtection, match="current limit is 4 orders per 1 DAY"):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)

    default, _ = make_sim()
    await buys(default, 100)
    with pytest.raises(ccxt.DDoSProtection, match="current limit is 100 orders per 10 SECOND"):
        await default.create_order(SYMBOL, "limit", "buy", 0.1, 90)


async def test_order_rate_over_http_is_429_1015_with_order_counts(serve: Serve) -> None:
    ex, front, _ = await serve(faults={"weight_per_minute": 0, "orders_per_10s": 2})
    info = await ex.public_get_exchangeinfo()
    assert {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 2} in info[
        "rateLimits"
    ]
    for n in (1, 2):
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == str(n)
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == str(n)
    with pytest.raises(ccxt.DDoSProtection) as refused:
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90)
    assert (
        '{"code":-1015,"msg":"Too many new orders; current limit is 2 orders per 10 SECOND."}'
        in str(refused.value)
    )
    assert 1 <= int(ex.last_response_headers["Retry-After"]) <= 10
    assert len(front.engine.orders) == 2
    parity = await refusal_in_process(
        lambda sim: buys(sim, 3), faults={"weight_per_minute": 0, "orders_per_10s": 2}
    )
    assert type(parity) is type(refused.value) is ccxt.DDoSProtection


# ---- weight of refused requests -----------------------------------------------------------


async def test_requests_refused_for_a_parameter_or_filter_are_charged(make_sim: MakeSim) -> None:
    ex, clock = make_sim(faults={"weight_per_minute": 3})
    with pytest.raises(ccxt.InvalidOrder, match="order type"):
        await ex.create_order(SYMBOL, "stop", "buy", 1, 90)
    with pytest.raises(ccxt.InvalidOrder, match="not a number"):
        await ex.create_order(SYMBOL, "limit", "buy", "lots", 90)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # refused by the engine: once
        await ex.create_order(SYMBOL, "limit", "buy", 0.0005, 90)
    assert ex.faults.weight_used == 3
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "3"
    # the budget is spent: the next request, bad or not, is refused by it and not charged
    with pytest.raises(ccxt.DDoSProtection):
        await ex.create_order(SYMBOL, "stop", "buy", 1, 90)
    assert ex.faults.weight_used == 3
    clock.advance(60)
    with pytest.raises(ccxt.BadSymbol):  # ccxt refuses an unknown symbol before sending
        await ex.create_order("DOGE/USDT", "limit", "buy", 1, 1)
    assert ex.faults.weight_used == 0


async def test_refused_requests_are_charged_over_http(serve: Serve) -> None:
    ex, front, port = await serve(faults={"weight_per_minute": 100})
    await ex.load_markets()  # exchangeInfo 20, time 1
    faults = front.exchange.faults
    assert faults.weight_used == 21
    with pytest.raises(ccxt.BadRequest, match="-1104"):  # an unknown parameter
        await ex.create_order(SYMBOL, "limit", "buy", 0.1, 90, {"leverage": "3"})
    assert faults.weight_used == 22
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "22"
    with pytest.raises(ccxt.BadSymbol):  # -1121: depth weighs 5 at the default limit
        await ex.public_get_depth({"symbol": "DOGEUSDT"})
    assert faults.weight_used == 27
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # refused by the engine: once
        await ex.create_order(SYMBOL, "limit", "buy", 0.005, 90)
    assert faults.weight_used == 28
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):  # quoteOrderQty < min
        await ex.private_post_order(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "0.5"}
        )
    assert faults.weight_used == 29
    async with aiohttp.ClientSession() as http:  # a bad key: account weighs 20
        url = f"http://127.0.0.1:{port}/api/v3/account?timestamp=1&signature=x"
        async with http.get(url, headers={"X-MBX-APIKEY": "nope"}) as resp:
            assert resp.status == 401
            assert resp.headers["X-MBX-USED-WEIGHT-1M"] == "49"
        faults.charge("test", 100 - 49 - 1)  # one left
        async with http.get(f"{url}&limit=5", headers={"X-MBX-APIKEY": "nope"}) as resp:
            assert resp.status == 429  # the budget answers first, and charges nothing
            assert json.loads(await resp.text())["code"] == -1003
    assert faults.weight_used == 99


# ---- commissions --------------------------------------------------------------------------

BNB_MARKET = {
    "price": "300",
    "tick": "0.1",
    "step": "0.001",
    "top_depth": "100",
}


async def test_commissions_are_rounded_half_up_to_eight_decimals(make_sim: MakeSim) -> None:
    fees = {"markets": {SYMBOL: {"taker_fee": "0.00075"}}}
    ex, _ = make_sim(**fees)
    order = await ex.create_order(SYMBOL, "market", "sell", 0.111)  # 11.09889 USDT at 99.99
    trade = ex.engine.orders[order["id"]].trades[0]
    assert trade.fee == D("0.00832417")  # 0.0083241675 exact: half up, not truncated
    assert ex.engine.account.free["USDT"] == D(100000) + D("11.09889") - D("0.00832417")
    exact, _ = make_sim(round_commissions=False, **fees)
    order = await exact.create_order(SYMBOL, "market", "sell", 0.111)
    assert exact.engine.orders[order["id"]].trades[0].fee == D("0.0083241675")

    bnb, _ = make_sim(
        balances={"BTC": "10", "USDT": "100000", "BNB": "1"},
        markets={"BNB/USDT": BNB_MARKET, SYMBOL: {"taker_fee": "0.00075"}},
        fee_asset="BNB",
    )
    book = bnb.engine.books["BNB/USDT"]
    mid = (book.best(Side.BUY) + book.best(Side.SELL)) / 2  # type: ignore[operator]
    order = await bnb.create_order(SYMBOL, "market", "sell", 0.111)
    trade = bnb.engine.orders[order["id"]].trades[0]
    # 0.0083241675 USDT less 25%, in BNB at its mid: many decimals, charged with eight
    exact_bnb = D("0.0083241675") * D("0.75") / mid
    assert exact_bnb.as_tuple().exponent < -8  # type: ignore[operator]
    charged = exact_bnb.quantize(D("1e-8"), ROUND_HALF_UP)
    assert (trade.fee_currency, trade.fee) == ("BNB", charged)
    assert bnb.engine.account.free["BNB"] == D(1) - charged


async def test_commissions_over_http_are_binances_eight_decimals(serve: Serve) -> None:
    ex, _, _ = await serve(markets={SYMBOL: {"taker_fee": "0.00075"}})
    await ex.load_markets()
    order = await ex.create_order(SYMBOL, "market", "sell", 0.111)
    assert order["info"]["fills"][0]["commission"] == "0.00832417"
    trades = await ex.fetch_my_trades(SYMBOL)
    assert trades[0]["info"]["commission"] == "0.00832417"
    balance = await ex.fetch_balance()
    usdt = {b["asset"]: b["free"] for b in balance["info"]["balances"]}["USDT"]
    assert usdt == "100011.09056583"  # 100000 + 11.09889 - 0.00832417, eight decimals


async def test_the_accounts_fee_tier_over_http_not_ccxts_base_tier(serve: Serve) -> None:
    """ccxt's binance markets carry the base tier (0.1%/0.1%) whatever the account pays: the
    gateway reads the account's own rates (GET /sapi/v1/asset/tradeFee) and trades on those."""
    ex, front, _ = await serve(markets={SYMBOL: {"maker_fee": "0", "taker_fee": "0.00055"}})
    raw = await ex.load_markets()
    assert (raw[SYMBOL]["maker"], raw[SYMBOL]["taker"]) == (0.001, 0.001)  # ccxt's base tier
    gateway = Gateway(ex, requests_per_second=1e6)
    markets = await gateway.load_markets()
    assert (markets[SYMBOL].maker_fee, markets[SYMBOL].taker_fee) == (D(0), D("0.00055"))
    assert front.requests["tradeFee"] == 1
