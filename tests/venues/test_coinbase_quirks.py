"""Coinbase Advanced Trade's own rules, each through ccxt's coinbase class and the fake in
Coinbase's JSON (`coinbase.py`): each test fails when the profile fact it names is wrong (see
bot/exchange/profiles/coinbase.py)."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import AuthFailed, ConfigError, NeverArrived, RequestRefused, WouldCross
from bot.exchange.connect import ccxt_client, enable_demo, enable_sandbox
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles.coinbase import PROFILE
from bot.execution.fills import fetch_fills
from tests.venues.coinbase import BROKERAGE, CREDENTIALS, Fake

D = Decimal
SYMBOL = "BTC/USDT"
ASK, BID = D("50000.1"), D("49999.9")  # the fake's best ask and bid on BTC/USDT


def gateway(
    venue: Fake,
    profile: ExchangeProfile = PROFILE,
    sleeps: list[float] | None = None,
    credentials: dict[str, str] = CREDENTIALS,
) -> Gateway:
    client = ccxt_client(
        "coinbase", profile, timeout=5.0, options={}, credentials=lambda: dict(credentials)
    )
    venue.install(client)

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return Gateway(client, profile=profile, requests_per_second=1000, sleep=sleep)


def client_id(n: int = 12, profile: ExchangeProfile = PROFILE) -> str:
    """A child id as a rebalance builds it: instance tag, rebalance 123456, leg 7, child n."""
    rules = profile.client_id
    leg = rules.leg_key(rules.rebalance_prefix("rb1a2b", 123456, "ab12"), 7)
    return rules.child_id(leg, n)


def order(
    cid: str, side: Side, amount: str, price: Decimal, tif: TimeInForce = TimeInForce.GTC
) -> OrderRequest:
    return OrderRequest(cid, SYMBOL, side, D(amount), price, tif, tif is TimeInForce.GTC)


async def test_the_client_id_is_sent_as_client_order_id() -> None:
    """ccxt's coinbase ignores the unified clientOrderId (it sends ccxt-<uuid>): the bot's id
    goes in client_order_id, and the order carries it."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    cid = client_id()
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", D("49000")))
    assert (placed.client_id, placed.status) == (cid, OrderStatus.OPEN)
    assert [o.client_order_id for o in venue.engine.open_orders()] == [cid]
    await gw.close()


async def test_a_client_order_id_sent_again_returns_the_first_order() -> None:
    """Create Order: a client_order_id already used creates nothing and returns that order."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    req = order(client_id(), Side.BUY, "0.01", D("49000"))
    first = await gw.place_order(req)
    again = await gw.place_order(req)
    assert again.exchange_id == first.exchange_id and len(venue.engine.all_orders()) == 1
    await gw.close()


async def test_a_lost_reply_is_found_by_reading_the_listings_whole() -> None:
    """Get Order takes Coinbase's order id only and List Orders has no client-id filter: the
    open, then all recent orders are read and searched for the client id."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    cid = client_id()
    venue.lose_reply(venue.create_path)
    found = await gw.place_order(order(cid, Side.BUY, "0.01", ASK, TimeInForce.IOC))
    assert (found.client_id, found.status, found.filled) == (cid, OrderStatus.CLOSED, D("0.01"))
    assert [o.client_order_id for o in venue.engine.all_orders()] == [cid]
    await gw.close()


async def test_a_post_only_order_that_would_take_is_refused_as_crossing() -> None:
    """A post-only order that would take fails (200, success false,
    PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY), which ccxt leaves a bare ExchangeError: mapped, it
    is a crossing refusal the executor retries from a fresh book."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    with pytest.raises(WouldCross):
        await gw.place_order(order(client_id(), Side.BUY, "0.01", ASK))
    assert not venue.engine.all_orders()
    await gw.close()


async def test_a_5xx_on_create_is_ambiguous_and_waits_out_the_jwt() -> None:
    """500 {"error": "INTERNAL"} may have executed (ccxt maps it to nothing): the order is looked
    for, and believed absent only once the request's JWT (120 s) has expired."""
    venue = Fake()
    sleeps: list[float] = []
    gw = gateway(venue, sleeps=sleeps)
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.ExchangeNotAvailable)
    with pytest.raises(NeverArrived):
        await gw.place_order(order(client_id(), Side.BUY, "0.01", ASK, TimeInForce.IOC))
    assert sum(sleeps) >= 120
    await gw.close()


async def test_a_429_html_page_is_a_refusal() -> None:
    """A rate-limited request answers 429 with an HTML page: refused, not executed."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.RateLimitExceeded)
    with pytest.raises(RequestRefused):
        await gw.place_order(order(client_id(), Side.BUY, "0.01", ASK, TimeInForce.IOC))
    assert not venue.engine.all_orders()
    await gw.close()


async def test_a_cancelled_order_is_read_from_the_listing_of_every_status() -> None:
    """batch_cancel's reply has no state, and ccxt's fetch_closed_orders lists FILLED orders
    only: the final state of a cancelled order comes from List Orders of every status."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    cid = client_id()
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", D("49000")))
    final = await gw.cancel_order(SYMBOL, placed.exchange_id, cid)
    assert final is not None and (final.status, final.filled) == (OrderStatus.CANCELED, D(0))
    await gw.close()


async def test_a_cancel_of_a_filled_order_fails_and_its_final_state_is_read() -> None:
    """UNKNOWN_CANCEL_ORDER (ccxt: BadRequest) for an order no longer open."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    cid = client_id()
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", ASK, TimeInForce.IOC))
    final = await gw.cancel_order(SYMBOL, placed.exchange_id, cid)
    assert final is not None and (final.status, final.filled) == (OrderStatus.CLOSED, D("0.01"))
    await gw.close()


async def test_prices_come_from_the_books_not_the_tickers() -> None:
    """List Products gives a last price, no bid or ask: tops are read from product_book."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    before = len(venue.requests)
    tops = await gw.fetch_tops([SYMBOL, "ETH/USDT"])
    assert (tops[SYMBOL].best_bid, tops[SYMBOL].best_ask) == (BID, ASK)
    asked = {path for _, path in venue.requests[before:]}
    assert asked == {f"{BROKERAGE}/market/product_book"}
    await gw.close()


async def test_balances_are_advanced_trade_accounts_with_holds() -> None:
    """Advanced Trade accounts give available_balance and hold apart (v2 wallets give totals:
    held funds would look free)."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    await gw.place_order(order(client_id(), Side.SELL, "0.2", D("51000")))
    balances = await gw.fetch_balances()
    assert (balances.free["BTC"], balances.used["BTC"]) == (D("1.0"), D("0.2"))
    await gw.close()


async def test_a_leg_with_more_fills_than_a_page_is_read_order_by_order() -> None:
    """List Fills pages newest first: read by time, a leg's fills behind 105 newer ones are
    missed; by order_ids, each order's fills are all read."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    placed = await gw.place_order(
        order(client_id(1), Side.BUY, "0.55", D("50000.2"), TimeInForce.IOC)
    )
    assert placed.filled == D("0.55")
    for n in range(2, 2 + 105):
        venue.place(SYMBOL, "sell", D("0.001"), BID, ioc=True, client_id=client_id(n))
    since = (placed.timestamp_ms or 0) - 1000
    fills, complete = await fetch_fills(gw, SYMBOL, {placed.exchange_id: placed.filled}, since)
    assert complete and len(fills) == 2
    await gw.close()


async def test_fees_are_charged_in_the_quote_on_both_sides() -> None:
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    buy = await gw.place_order(order(client_id(1), Side.BUY, "0.01", ASK, TimeInForce.IOC))
    sell = await gw.place_order(order(client_id(2), Side.SELL, "0.01", BID, TimeInForce.IOC))
    fills = [f for o in (buy, sell) for f in await gw.fetch_order_trades(SYMBOL, o.exchange_id)]
    expected = {"USDT"} if PROFILE.fees_in == "quote" else {"BTC", "USDT"}
    assert {f.fee_currency for f in fills} == expected
    assert all(f.fee == f.price * f.amount * D("0.001") for f in fills)
    await gw.close()


async def test_private_requests_carry_a_jwt_for_their_method_and_path() -> None:
    """Each private call is signed by an ES256 JWT of the CDP key, bound to its method and path,
    valid 120 s; another key's JWT answers 401."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    await gw.fetch_balances()
    token = venue.tokens[-1]
    assert token["uri"] == f"GET api.coinbase.com{BROKERAGE}/accounts"
    assert token["exp"] - token["nbf"] == PROFILE.receive_window == 120
    await gw.close()
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    stranger = gateway(Fake(), credentials={**CREDENTIALS, "secret": pem})
    with pytest.raises(AuthFailed):
        await stranger.fetch_balances()
    await stranger.close()


async def test_coinbase_has_no_sandbox_and_no_demo() -> None:
    client = ccxt_client("coinbase", PROFILE, timeout=5.0, options={})
    with pytest.raises(ConfigError, match="no testnet"):
        enable_sandbox(client)
    with pytest.raises(ConfigError, match="no demo"):
        enable_demo(client, PROFILE)
    await client.close()
