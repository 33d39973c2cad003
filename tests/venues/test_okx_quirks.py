"""OKX's own rules, each through ccxt's okx class and the fake in OKX's JSON (`okx.py`): every
test here fails when the profile fact it names is wrong (see bot/exchange/profiles/okx.py)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import ccxt
import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import ConfigError, NeverArrived, OrderRejected, RequestRefused
from bot.exchange.connect import ccxt_client, enable_demo
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles.okx import PROFILE
from bot.execution.fills import fetch_fills
from tests.venues.okx import CLORDID, CREDENTIALS, Fake
from tests.venues.venue import Answer

D = Decimal
SYMBOL = "BTC/USDT"


def gateway(
    venue: Fake, profile: ExchangeProfile = PROFILE, sleeps: list[float] | None = None
) -> Gateway:
    client = ccxt_client(
        "okx", profile, timeout=5.0, options={}, credentials=lambda: dict(CREDENTIALS)
    )
    venue.install(client)

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return Gateway(client, profile=profile, requests_per_second=1000, sleep=sleep)


def order(cid: str, side: Side, amount: str, price: Decimal, **kw: object) -> OrderRequest:
    return OrderRequest(cid, SYMBOL, side, D(amount), price, **kw)  # type: ignore[arg-type]


def a_client_id(profile: ExchangeProfile = PROFILE) -> str:
    rules = profile.client_id
    leg = rules.leg_key(rules.rebalance_prefix("rb1a2b", 123456, "ab12"), 7)
    return rules.child_id(leg, 12)


async def test_client_ids_are_okx_clordids_letters_and_digits_up_to_32() -> None:
    """OKX takes clOrdId of letters and digits only, at most 32: the bot's ids (parts joined by
    'z', not '-') are accepted and found again by clOrdId."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    cid = a_client_id()
    assert CLORDID.fullmatch(cid), cid
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_bid is not None
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", book.best_bid))
    assert placed.client_id == cid and placed.status is OrderStatus.OPEN
    found = await gw.fetch_order(SYMBOL, cid)
    assert found is not None and found.exchange_id == placed.exchange_id
    with pytest.raises(OrderRejected, match="not sent"):  # 33 characters: OKX would refuse it
        await gw.place_order(order("a" * 33, Side.BUY, "0.01", book.best_bid))
    await gw.close()


async def test_a_post_only_order_that_would_take_is_cancelled_by_okx_not_filled() -> None:
    """ordType post_only: OKX accepts an order that would take, then cancels it (cancelSource
    31); it must never fill as a taker."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    req = order(a_client_id(), Side.BUY, "0.01", book.best_ask, post_only=True)
    placed = await gw.place_order(req)
    assert (placed.status, placed.filled) == (OrderStatus.CANCELED, D(0))
    assert not venue.engine.trades
    await gw.close()


async def test_an_ioc_order_leaves_no_rest_on_the_book() -> None:
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    # More than the best level holds at a price that reaches only that level.
    req = order(a_client_id(), Side.BUY, "0.55", book.best_ask, time_in_force=TimeInForce.IOC)
    placed = await gw.place_order(req)
    assert placed.status is OrderStatus.CANCELED and placed.filled == D("0.5")
    assert not venue.engine.open_orders()
    await gw.close()


async def test_cancelling_a_filled_order_reads_its_final_state_after_51400() -> None:
    venue = Fake()
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
    """GET /api/v5/trade/fills-history gives the newest 100 after `begin`: read by time, a leg
    of 101 trades comes back incomplete; order by order, whole."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    start = venue.engine.now_ms
    filled = {}
    for _ in range(101):
        o = venue.place(SYMBOL, "buy", D("0.001"), D("50050"), ioc=True)
        filled[venue.ord_id(o)] = o.filled
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
        for fill in await gw.fetch_order_trades(SYMBOL, venue.ord_id(o)):
            fees.add((fill.side, fill.fee_currency))
    in_quote = PROFILE.fees_in == "quote"
    assert fees == {(Side.BUY, "USDT" if in_quote else "BTC"), (Side.SELL, "USDT")}
    await gw.close()


async def test_markets_are_loaded_for_spot_only() -> None:
    venue = Fake()
    gw = gateway(venue)
    markets = await gw.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    asked = [q for _, q in venue.sent if q.startswith("/api/v5/public/instruments")]
    assert asked == ["/api/v5/public/instruments?instType=SPOT"]
    await gw.close()


async def test_tops_come_from_one_tickers_call_with_bid_and_ask() -> None:
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    tops = await gw.fetch_tops(["BTC/USDT", "ETH/USDT"])
    assert set(tops) == {"BTC/USDT", "ETH/USDT"}
    paths = [p for _, p in venue.requests]
    assert "/api/v5/market/tickers" in paths and "/api/v5/market/books" not in paths
    await gw.close()


async def test_a_rate_limit_refusal_is_not_an_ambiguous_send() -> None:
    """50011 (HTTP 429): refused unexecuted, so the order is not looked for."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.RateLimitExceeded)
    with pytest.raises(RequestRefused):
        await gw.place_order(order(a_client_id(), Side.BUY, "0.01", D("49000")))
    assert ("GET", "/api/v5/trade/order") not in venue.requests
    await gw.close()


async def test_a_timed_out_order_request_is_waited_out_for_okxs_timestamp_window() -> None:
    """50004 "does not mean that the request was successful or failed": the order is looked up
    by clOrdId, and believed never to have arrived only once OKX would refuse the request's
    timestamp (30 s and the margin)."""
    venue = Fake()
    sleeps: list[float] = []
    gw = gateway(venue, sleeps=sleeps)
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.RequestTimeout)
    with pytest.raises(NeverArrived):
        await gw.place_order(order(a_client_id(), Side.BUY, "0.01", D("49000")))
    assert sleeps and max(sleeps) > 30
    await gw.close()


async def test_an_order_that_timed_out_at_okx_is_looked_up_not_failed() -> None:
    """51149 (HTTP 500) "Order timed out ... does not mean that the request was successful or
    failed": ccxt has no class for it; the profile makes it ambiguous, so an order that did
    execute is found by clOrdId, never sent twice."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    book = await gw.fetch_order_book(SYMBOL, 5)
    assert book.best_ask is not None
    timed_out = {"code": "51149", "msg": "Order timed out. Please try again.", "data": []}
    venue.executed_then[venue.create_path] = Answer(500, timed_out)
    cid = a_client_id()
    found = await gw.place_order(
        order(cid, Side.BUY, "0.01", book.best_ask, time_in_force=TimeInForce.IOC)
    )
    assert (found.client_id, found.filled) == (cid, D("0.01"))
    assert [o.client_order_id for o in venue.engine.all_orders()] == [cid]
    await gw.close()


async def test_demo_trading_is_the_sandbox_switch_with_okxs_header() -> None:
    """A demo key works only with x-simulated-trading: 1 (else 50101), which ccxt's
    set_sandbox_mode adds; enable_demo must take that road for OKX."""
    venue = Fake(demo=True)
    client = ccxt_client(
        "okx", PROFILE, timeout=5.0, options={}, credentials=lambda: dict(CREDENTIALS)
    )
    venue.install(client)
    enable_demo(client, PROFILE)
    gw = Gateway(client, profile=PROFILE, requests_per_second=1000)
    balances = await gw.fetch_balances()
    assert balances.total("BTC") == D("1.2")
    await gw.close()


def test_without_the_sandbox_road_okx_has_no_demo_in_ccxt() -> None:
    client = ccxt_client(
        "okx", PROFILE, timeout=5.0, options={}, credentials=lambda: dict(CREDENTIALS)
    )
    with pytest.raises(ConfigError, match="no demo trading"):
        enable_demo(client, replace(PROFILE, demo_via_sandbox=False))
