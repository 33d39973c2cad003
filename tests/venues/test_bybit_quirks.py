"""Bybit's own rules, each through ccxt's bybit class and the fake in Bybit's JSON (`bybit.py`):
every test here fails when the profile fact it names is wrong (see
bot/exchange/profiles/bybit.py)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import ccxt
import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import NeverArrived, OrderRejected, RequestRefused
from bot.exchange.connect import ccxt_client, enable_demo
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles.bybit import PROFILE
from bot.execution.fills import fetch_fills
from tests.venues.bybit import CREDENTIALS, ORDER_LINK_ID, Fake
from tests.venues.venue import Answer

D = Decimal
SYMBOL = "BTC/USDT"


def gateway(
    venue: Fake, profile: ExchangeProfile = PROFILE, sleeps: list[float] | None = None
) -> Gateway:
    client = ccxt_client(
        "bybit", profile, timeout=5.0, options={}, credentials=lambda: dict(CREDENTIALS)
    )
    venue.install(client)

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return Gateway(client, profile=profile, requests_per_second=1000, sleep=sleep)


def order(cid: str, side: Side, amount: str, price: Decimal, **kw: object) -> OrderRequest:
    return OrderRequest(cid, SYMBOL, side, D(amount), price, **kw)  # type: ignore[arg-type]


def a_client_id(n: int = 12) -> str:
    rules = PROFILE.client_id
    leg = rules.leg_key(rules.rebalance_prefix("rb1a2b", 123456, "ab12"), 7)
    return rules.child_id(leg, n)


def paths(venue: Fake) -> list[str]:
    return [target.split("?")[0] for _, _, target, _ in venue.sent]


async def test_client_ids_are_bybit_order_link_ids() -> None:
    """orderLinkId: letters, digits, '-' and '_', at most 36; an id Bybit would refuse is not
    sent."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    cid = a_client_id()
    assert ORDER_LINK_ID.fullmatch(cid) and "-" in cid, cid
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_bid is not None
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", book.best_bid))
    assert placed.client_id == cid and placed.status is OrderStatus.OPEN
    for refused in ("a" * 37, "rb1a2b.1c1"):
        with pytest.raises(OrderRejected, match="not sent"):
            await gw.place_order(order(refused, Side.BUY, "0.01", book.best_bid))
    await gw.close()


async def test_an_order_is_found_by_its_order_link_id_in_the_listings() -> None:
    """ccxt's fetch_order cannot ask by orderLinkId on a unified account: the order is found
    through GET /v5/order/realtime filtered by it (any status of the recent ones)."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    cid = a_client_id()
    req = order(cid, Side.BUY, "0.01", book.best_ask, time_in_force=TimeInForce.IOC)
    placed = await gw.place_order(req)
    found = await gw.fetch_order(SYMBOL, cid)
    assert found is not None
    assert (found.exchange_id, found.status, found.filled) == (
        placed.exchange_id,
        OrderStatus.CLOSED,
        D("0.01"),
    )
    asked = [t for _, _, t, _ in venue.sent if t.startswith("/v5/order/realtime")]
    assert asked and all(f"orderLinkId={cid}" in t for t in asked)
    await gw.close()


async def test_a_cancelled_order_is_found_in_the_order_history_after_a_bybit_restart() -> None:
    """After a Bybit release, finished orders are only in /v5/order/history; fetch_closed_orders
    would ask for Filled ones only, so a cancelled order is looked for among cancelled and
    closed orders, by orderLinkId."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_bid is not None
    cid = a_client_id()
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", book.best_bid, post_only=True))
    venue.engine.cancel(next(o.id for o in venue.engine.open_orders()))
    venue.realtime_forgets_finished = True
    found = await gw.fetch_order(SYMBOL, cid)
    assert found is not None and found.exchange_id == placed.exchange_id
    assert found.status is OrderStatus.CANCELED
    await gw.close()


async def test_a_post_only_order_that_would_take_is_cancelled_by_bybit_not_filled() -> None:
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    placed = await gw.place_order(
        order(a_client_id(), Side.BUY, "0.01", book.best_ask, post_only=True)
    )
    assert (placed.status, placed.filled) == (OrderStatus.CANCELED, D(0))
    assert not venue.engine.trades
    await gw.close()


async def test_an_ioc_order_leaves_no_rest_on_the_book() -> None:
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    req = order(a_client_id(), Side.BUY, "0.55", book.best_ask, time_in_force=TimeInForce.IOC)
    placed = await gw.place_order(req)
    # Spot's PartiallyFilledCanceled: ccxt calls it closed; the filled amount tells.
    assert placed.status.is_final and placed.filled == D("0.5")
    assert not venue.engine.open_orders()
    await gw.close()


@pytest.mark.parametrize("code", [170213, 170139])
async def test_cancelling_a_filled_order_reads_its_final_state(code: int) -> None:
    """Bybit answers a cancel of a finished spot order with 170213 (OrderNotFound in ccxt) or
    170139 "Order has been filled." (InvalidOrder in ccxt): either way the state is read."""
    venue = Fake(final_cancel_code=code)
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    cid = a_client_id()
    placed = await gw.place_order(
        order(cid, Side.BUY, "0.01", book.best_ask, time_in_force=TimeInForce.IOC)
    )
    final = await gw.cancel_order(SYMBOL, placed.exchange_id, cid)
    assert final is not None and (final.status, final.filled) == (OrderStatus.CLOSED, D("0.01"))
    await gw.close()


async def test_fills_of_a_leg_with_more_trades_than_a_page_are_read_order_by_order() -> None:
    """GET /v5/execution/list gives the newest page after startTime: read by time, a leg of
    101 trades comes back incomplete; order by order, whole."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    start = venue.engine.now_ms
    filled = {}
    for _ in range(101):
        o = venue.place(SYMBOL, "buy", D("0.001"), D("50050"), ioc=True)
        filled[venue.order_id(o)] = o.filled
    fills, complete = await fetch_fills(gw, SYMBOL, filled, start - 1000)
    assert complete and len(fills) == 101
    await gw.close()


async def test_trade_fees_are_charged_in_the_asset_received() -> None:
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    buy = venue.place(SYMBOL, "buy", D("0.01"), D("50050"), ioc=True)
    sell = venue.place(SYMBOL, "sell", D("0.01"), D("49950"), ioc=True)
    fees = set()
    for o in (buy, sell):
        for fill in await gw.fetch_order_trades(SYMBOL, venue.order_id(o)):
            fees.add((fill.side, fill.fee_currency))
    in_quote = PROFILE.fees_in == "quote"
    assert fees == {(Side.BUY, "USDT" if in_quote else "BTC"), (Side.SELL, "USDT")}
    await gw.close()


async def test_markets_tops_and_balances_without_account_mode_calls() -> None:
    """Spot instruments only; tops from one tickers call (category spot) with bid and ask; the
    account is a unified one without asking /v5/user/query-api or /v5/account/info."""
    venue = Fake()
    gw = gateway(venue)
    markets = await gw.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    asked = [t for _, _, t, _ in venue.sent if t.startswith("/v5/market/instruments-info")]
    assert asked == ["/v5/market/instruments-info?category=spot"]
    tops = await gw.fetch_tops(["BTC/USDT", "ETH/USDT"])
    assert set(tops) == {"BTC/USDT", "ETH/USDT"}
    assert "/v5/market/orderbook" not in paths(venue)
    balances = await gw.fetch_balances()
    assert balances.free["BTC"] == D("1.2") and balances.free["USDT"] == D(30000)
    assert {"/v5/user/query-api", "/v5/account/info"}.isdisjoint(paths(venue))
    await gw.close()


async def test_a_rate_limit_refusal_is_not_an_ambiguous_send() -> None:
    """10006 "Too many visits": refused unexecuted, so the order is not looked for."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.RateLimitExceeded)
    with pytest.raises(RequestRefused):
        await gw.place_order(order(a_client_id(), Side.BUY, "0.01", D("49000")))
    assert "/v5/order/realtime" not in paths(venue)
    await gw.close()


async def test_a_timed_out_order_request_is_waited_out_for_the_receive_window() -> None:
    """10000 "Server Timeout" leaves the order's fate unknown: it is looked for by orderLinkId,
    and believed never to have arrived only once Bybit would refuse the request as older than
    X-BAPI-RECV-WINDOW (5000 ms, Bybit's default) and the margin."""
    venue = Fake()
    sleeps: list[float] = []
    gw = gateway(venue, sleeps=sleeps)
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.RequestTimeout)
    with pytest.raises(NeverArrived):
        await gw.place_order(order(a_client_id(), Side.BUY, "0.01", D("49000")))
    windows = {h.get("X-BAPI-RECV-WINDOW") for _, _, _, h in venue.sent if "X-BAPI-SIGN" in h}
    assert windows == {"5000"}
    assert sleeps and 5 < max(sleeps) <= 6
    await gw.close()


async def test_an_order_creation_timeout_that_executed_is_found_not_duplicated() -> None:
    """170146 "Order creation timeout" (ccxt: InvalidOrder) may have executed: the profile makes
    it ambiguous, and the order is found by orderLinkId."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    venue.executed_then[venue.create_path] = Answer(
        200, {"retCode": 170146, "retMsg": "Order creation timeout", "result": {}, "time": 0}
    )
    cid = a_client_id()
    found = await gw.place_order(
        order(cid, Side.BUY, "0.01", book.best_ask, time_in_force=TimeInForce.IOC)
    )
    assert (found.client_id, found.filled) == (cid, D("0.01"))
    assert [o.client_order_id for o in venue.engine.all_orders()] == [cid]
    await gw.close()


async def test_demo_trading_is_bybits_demo_host() -> None:
    venue = Fake()
    client = ccxt_client(
        "bybit", PROFILE, timeout=5.0, options={}, credentials=lambda: dict(CREDENTIALS)
    )
    venue.install(client)
    enable_demo(client, PROFILE)
    gw = Gateway(client, profile=PROFILE, requests_per_second=1000)
    await gw.fetch_balances()
    assert {host for _, host, _, _ in venue.sent} == {"api-demo.bybit.com"}
    await gw.close()


def test_the_profile_is_what_ccxt_is_given() -> None:
    client = ccxt_client("bybit", PROFILE, timeout=5.0, options={})
    assert client.options["recvWindow"] == 5000
    assert replace(PROFILE, receive_window=10.0).options()["recvWindow"] == 10000
