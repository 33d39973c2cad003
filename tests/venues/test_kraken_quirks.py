"""Kraken's own rules, each through ccxt's kraken class and the fake in Kraken's JSON
(`kraken.py`): each test fails when the profile fact it names is wrong (see
bot/exchange/profiles/kraken.py)."""

from __future__ import annotations

import base64
from decimal import ROUND_HALF_UP, Decimal

import ccxt
import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import AuthFailed, ConfigError, NeverArrived, RequestRefused
from bot.exchange.connect import ccxt_client, enable_demo, enable_sandbox
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles.kraken import PROFILE
from bot.execution.fills import fetch_fills
from tests.venues.kraken import CL_ORD_ID, CREDENTIALS, Fake

D = Decimal
SYMBOL = "BTC/USDT"
ASK = D("50000.1")  # the fake's best ask on BTC/USDT (50000 + one 0.1 spacing)


def gateway(
    venue: Fake,
    profile: ExchangeProfile = PROFILE,
    sleeps: list[float] | None = None,
    credentials: dict[str, str] = CREDENTIALS,
) -> Gateway:
    client = ccxt_client(
        "kraken", profile, timeout=5.0, options={}, credentials=lambda: dict(credentials)
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
    post_only = tif is TimeInForce.GTC
    return OrderRequest(cid, SYMBOL, side, D(amount), price, tif, post_only)


async def test_client_ids_are_compact_free_text_of_at_most_18_characters() -> None:
    """cl_ord_id free text is at most 18 characters: the bot's ids are compact (base 36), and
    Kraken keeps them on the order."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    cid = client_id()
    assert PROFILE.client_id.compact and len(cid) <= 18 and CL_ORD_ID.fullmatch(cid), cid
    placed = await gw.place_order(order(cid, Side.BUY, "0.01", D("49000")))
    assert (placed.client_id, placed.status) == (cid, OrderStatus.OPEN)
    assert [o.client_order_id for o in venue.engine.open_orders()] == [cid]
    await gw.close()


async def test_a_lost_reply_is_settled_from_the_listings_filtered_by_cl_ord_id() -> None:
    """fetch_order cannot ask by cl_ord_id (ccxt sends a clientOrderId as Kraken's integer
    userref): the order is looked for in OpenOrders and ClosedOrders, asked for by cl_ord_id,
    which finds it even behind a full page (50) of newer closed orders."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    first = client_id(1)
    venue.lose_reply(venue.create_path)
    found = await gw.place_order(order(first, Side.BUY, "0.01", ASK, TimeInForce.IOC))
    assert (found.client_id, found.status, found.filled) == (first, OrderStatus.CLOSED, D("0.01"))
    assert ("POST", "/0/private/QueryOrders") not in venue.requests
    for n in range(2, 2 + 55):  # newer closed orders push it off ClosedOrders' first page
        venue.place(SYMBOL, "buy", D("0.001"), ASK, ioc=True, client_id=client_id(n))
    again = await gw.fetch_order(SYMBOL, first)
    assert again is not None and again.exchange_id == found.exchange_id
    await gw.close()


async def test_a_post_only_order_that_would_take_is_accepted_then_cancelled() -> None:
    """oflags=post: Kraken takes the order, then cancels it ("Post only order"); it never fills
    as a taker. (timeInForce "PO" would reach AddOrder as timeinforce=PO, which it refuses.)"""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    placed = await gw.place_order(order(client_id(), Side.BUY, "0.01", ASK))
    assert (placed.status, placed.filled) == (OrderStatus.CANCELED, D(0))
    assert not venue.engine.trades and not venue.engine.open_orders()
    await gw.close()


@pytest.mark.parametrize(
    "error", [ccxt.DDoSProtection, ccxt.InvalidNonce, ccxt.OnMaintenance], ids=lambda e: e.__name__
)
async def test_rate_limits_bad_nonces_and_cancel_only_markets_are_refusals(
    error: type[Exception],
) -> None:
    """ "EAPI:Rate limit exceeded", "EAPI:Invalid nonce", "EService:Market in cancel_only mode":
    Kraken did not take the order; nothing to look for."""
    venue = Fake()
    gw = gateway(venue, sleeps=[])
    await gw.load_markets()
    venue.fail(venue.create_path, error)
    with pytest.raises(RequestRefused):
        await gw.place_order(order(client_id(), Side.BUY, "0.01", ASK, TimeInForce.IOC))
    assert not venue.engine.all_orders()
    await gw.close()


async def test_a_request_lost_before_kraken_took_it_is_proven_absent_by_the_listings() -> None:
    """No receive window (a nonce, not a timestamp): a create lost unexecuted is concluded
    absent once the open and closed orders do not show it."""
    venue = Fake()
    sleeps: list[float] = []
    gw = gateway(venue, sleeps=sleeps)
    await gw.load_markets()
    venue.fail(venue.create_path, ccxt.ExchangeNotAvailable)  # "EService:Unavailable"
    with pytest.raises(NeverArrived):
        await gw.place_order(order(client_id(), Side.BUY, "0.01", ASK, TimeInForce.IOC))
    assert PROFILE.receive_window is None and sleeps and not venue.engine.all_orders()
    await gw.close()


async def test_a_wrong_secret_is_an_authentication_failure() -> None:
    """A wrong secret answers "EAPI:Invalid signature" (ccxt leaves it a bare ExchangeError); a
    wrong key "EAPI:Invalid key"."""
    venue = Fake()
    wrong = {**CREDENTIALS, "secret": base64.b64encode(b"not the key's secret").decode()}
    gw = gateway(venue, credentials=wrong)
    await gw.load_markets()
    with pytest.raises(AuthFailed):
        await gw.fetch_balances()
    assert venue.requests[-1] == ("POST", "/0/private/BalanceEx")
    await gw.close()
    other = gateway(Fake(), credentials={**CREDENTIALS, "apiKey": "someone-else"})
    with pytest.raises(AuthFailed):
        await other.fetch_balances()
    await other.close()


async def test_a_leg_with_more_trades_than_a_page_is_read_order_by_order() -> None:
    """TradesHistory gives the newest 50 trades of every pair: read by time, a leg's trades
    behind 55 newer ones are missed; order by order (QueryOrders' trade ids, then
    QueryTrades), they are all read."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    # 0.55 takes the whole best level and part of the next: two trades.
    placed = await gw.place_order(
        order(client_id(1), Side.BUY, "0.55", D("50000.2"), TimeInForce.IOC)
    )
    assert placed.filled == D("0.55")
    for n in range(2, 2 + 55):
        venue.place(SYMBOL, "sell", D("0.001"), D("49999.9"), ioc=True, client_id=client_id(n))
    since = (placed.timestamp_ms or 0) - 1000
    fills, complete = await fetch_fills(gw, SYMBOL, {placed.exchange_id: placed.filled}, since)
    assert complete and len(fills) == 2
    first = venue.engine.all_orders()[0]
    ours = {t.id for t in venue.engine.my_trades() if t.order_id == first.id}
    assert {f.trade_id for f in fills} == ours
    assert ("POST", "/0/private/QueryTrades") in venue.requests
    await gw.close()


async def test_fees_are_charged_in_the_quote_on_both_sides() -> None:
    """Kraken takes spot fees in the quote (oflags fciq), buying and selling."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    buy = await gw.place_order(order(client_id(1), Side.BUY, "0.01", ASK, TimeInForce.IOC))
    sell = await gw.place_order(
        order(client_id(2), Side.SELL, "0.01", D("49999.9"), TimeInForce.IOC)
    )
    fills = [f for o in (buy, sell) for f in await gw.fetch_order_trades(SYMBOL, o.exchange_id)]
    expected = {"USDT"} if PROFILE.fees_in == "quote" else {"BTC", "USDT"}
    assert {f.fee_currency for f in fills} == expected
    for f in fills:
        assert f.fee == (f.price * f.amount * D("0.001")).quantize(D("1e-8"), ROUND_HALF_UP)
    await gw.close()


async def test_balances_come_from_kraken_asset_codes() -> None:
    """BalanceEx names XXBT, XETH, USDT; ccxt gives them their common codes, funds on hold for
    open orders apart."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    await gw.place_order(order(client_id(), Side.SELL, "0.2", D("51000")))
    balances = await gw.fetch_balances()
    assert (balances.free["BTC"], balances.used["BTC"]) == (D("1.0"), D("0.2"))
    assert balances.total("ETH") == D(4) and balances.total("USDT") == D(30000)
    await gw.close()


async def test_kraken_has_no_sandbox_and_no_demo() -> None:
    client = ccxt_client("kraken", PROFILE, timeout=5.0, options={})
    with pytest.raises(ConfigError, match="no testnet"):
        enable_sandbox(client)
    with pytest.raises(ConfigError, match="no demo"):
        enable_demo(client, PROFILE)
    await client.close()


async def test_tops_come_from_one_ticker_request() -> None:
    """Ticker's "a" and "b" are the best ask and bid: one request values every market."""
    venue = Fake()
    gw = gateway(venue)
    await gw.load_markets()
    before = len(venue.requests)
    tops = await gw.fetch_tops([SYMBOL, "ETH/USDT"])
    assert (tops[SYMBOL].best_bid, tops[SYMBOL].best_ask) == (D("49999.9"), ASK)
    assert venue.requests[before:] == [("GET", "/0/public/Ticker")]
    await gw.close()
