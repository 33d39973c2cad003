"""KuCoin's quirks through ccxt's `kucoin` and the native-format fake: each test holds one fact of
the KuCoin profile (bot/exchange/profiles/kucoin.py) to what the venue does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderStatus, TimeInForce
from bot.errors import OrderRejected, RequestRefused
from bot.execution.fills import fetch_fills
from tests.venues.harness import connect, full_session, order, unrouted
from tests.venues.kucoin import CLIENT_OID

D = Decimal
NAME = "kucoin"


async def test_every_call_is_answered_and_none_needs_the_uta_or_futures_api() -> None:
    """ccxt_options: spot markets only, the classic account (no UTA account-mode calls)."""
    venue, gateway = await connect(NAME)
    await full_session(venue, gateway)
    await gateway.close()
    assert not unrouted(venue)
    paths = {path for _, path in venue.requests}
    assert not [p for p in paths if p.startswith("/api/ua/") or "contracts" in p]
    assert ("GET", "/api/v1/hf/accounts/opened") in venue.requests  # ccxt's HF detection


@pytest.mark.parametrize(
    "client_id",
    ["rb1a2b-1ab34-0c1", "rb_1a2b_0c1", "a" * 40, "a" * 41, "rb.1a2b", "rb:1a2b", "rb 1a2b", ""],
)
async def test_client_ids_follow_the_clientoid_rule(client_id: str) -> None:
    """client_id.max_length / charset: KuCoin's clientOid rule, no more, no less."""
    venue, gateway = await connect(NAME)
    rules = gateway.profile.client_id
    assert rules.accepts(client_id) == bool(CLIENT_OID.fullmatch(client_id))
    if client_id and not rules.accepts(client_id):
        book = await gateway.fetch_order_book("BTC/USDT", 5)
        assert book.best_bid is not None
        with pytest.raises(OrderRejected, match="not sent"):
            await gateway.place_order(order(client_id, Side.BUY, "0.01", book.best_bid))
        assert ("POST", venue.create_path) not in venue.requests
    await gateway.close()


async def test_a_timestamp_outside_the_window_is_refused_not_ambiguous() -> None:
    """receive_window (5 s, fixed) and refused_errors (400002 is InvalidNonce): a request KuCoin
    refused as too old did not execute; the clock is measured again and the next one goes."""
    venue, gateway = await connect(NAME)
    window = gateway.profile.receive_window
    assert window is not None
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    venue.skew = window - 1.0  # the host's clock is behind, within the window
    await gateway.place_order(order("rb1a2b-1ab34-0c1", Side.BUY, "0.01", book.best_bid))
    venue.skew = window + 1.0  # now outside it
    with pytest.raises(RequestRefused):
        await gateway.place_order(order("rb1a2b-1ab34-0c2", Side.BUY, "0.01", book.best_bid))
    assert [o.client_order_id for o in venue.engine.all_orders()] == ["rb1a2b-1ab34-0c1"]
    assert venue.requests[-1] == ("GET", "/api/v1/timestamp")  # resynchronised
    placed = await gateway.place_order(order("rb1a2b-1ab34-0c3", Side.BUY, "0.01", book.best_bid))
    assert placed.status is OrderStatus.OPEN
    await gateway.close()


async def test_a_host_clock_off_by_more_than_the_window_still_starts() -> None:
    """A host 30 s behind: ccxt's load_markets calls private endpoints before it measures
    KuCoin's clock (adjustForTimeDifference), so the first is refused (400002, InvalidNonce);
    the gateway measures the clock on that refusal and the retry goes through."""
    _venue, gateway = await connect(NAME, skew=30.0)
    balances = await gateway.fetch_balances()
    assert balances.total("USDT") == D(30000)
    await gateway.close()


async def test_a_lost_order_is_looked_up_by_its_clientoid() -> None:
    """client_id.lookup_param and reply_keys: GET /api/v1/hf/orders/client-order/{clientOid}."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    venue.lose_reply(venue.create_path)
    cid = "rb1a2b-1ab34-0c1"
    found = await gateway.place_order(order(cid, Side.BUY, "0.01", book.best_bid))
    assert (found.client_id, found.status) == (cid, OrderStatus.OPEN)
    lookups = [p for _, p in venue.requests if p.startswith("/api/v1/hf/orders/client-order/")]
    assert lookups == [f"/api/v1/hf/orders/client-order/{cid}"]
    await gateway.close()


async def test_a_post_only_order_that_would_take_is_taken_then_cancelled() -> None:
    """post_only_params: KuCoin accepts the order and its engine cancels it, nothing filled."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    report = await gateway.place_order(
        order("rb1a2b-1ab34-0c1", Side.BUY, "0.01", book.best_ask, post_only=True)
    )
    assert (report.status, report.filled) == (OrderStatus.CANCELED, D(0))
    assert not venue.engine.my_trades()
    await gateway.close()


async def test_an_ioc_order_fills_what_it_can_and_cancels_the_rest() -> None:
    """ioc_params: timeInForce IOC; the best level holds 0.5, the rest is cancelled."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    report = await gateway.place_order(
        order("rb1a2b-1ab34-0c1", Side.BUY, "0.55", book.best_ask, TimeInForce.IOC)
    )
    assert (report.status, report.filled) == (OrderStatus.CANCELED, D("0.5"))
    assert not venue.engine.open_orders()
    await gateway.close()


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_fees_are_charged_where_the_profile_says(side: Side) -> None:
    """fees_in: KuCoin charges spot fees in the quote, buys and sells alike."""
    _venue, gateway = await connect(NAME)
    market = gateway.markets["BTC/USDT"]
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    price = book.best_ask if side is Side.BUY else book.best_bid
    assert price is not None
    placed = await gateway.place_order(
        order("rb1a2b-1ab34-0c1", side, "0.01", price, TimeInForce.IOC)
    )
    fills = await gateway.fetch_order_trades("BTC/USDT", placed.exchange_id)
    received = market.base if side is Side.BUY else market.quote
    expected = market.quote if gateway.profile.fees_in == "quote" else received
    assert [f.fee_currency for f in fills] == [expected]
    assert fills[0].fee == D("0.01") * price * market.taker_fee
    await gateway.close()


@pytest.mark.parametrize(
    ("depth", "asked"), [(5, "level2_20"), (20, "level2_20"), (50, "level2_100")]
)
async def test_books_are_asked_at_the_depths_kucoin_serves(depth: int, asked: str) -> None:
    """book_depths (20, 100): ccxt refuses any other limit for KuCoin's public book."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", depth)
    assert len(book.bids) == len(book.asks) == min(depth, 20)  # the fake's ladder is 20 deep
    assert venue.requests[-1] == ("GET", f"/api/v1/market/orderbook/{asked}")
    await gateway.close()


async def test_fills_are_read_order_by_order_past_a_page() -> None:
    """trades_by_order: /api/v1/hf/fills pages newest first, 100 at most; the trades of an order
    older than the newest 100 are still read whole."""
    _venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("ETH/USDT", 5)
    assert book.best_ask is not None
    first = None
    for n in range(gateway.profile.trades_page + 1):
        placed = await gateway.place_order(
            order(
                f"rb1a2b-1ab34-0c{n}",
                Side.BUY,
                "0.0021",
                book.best_ask,
                TimeInForce.IOC,
                "ETH/USDT",
            )
        )
        first = first or placed
    assert first is not None and first.timestamp_ms is not None
    fills, complete = await fetch_fills(
        gateway, "ETH/USDT", {first.exchange_id: first.filled}, first.timestamp_ms - 1000
    )
    assert complete and [f.exchange_order_id for f in fills] == [first.exchange_id]
    await gateway.close()


@pytest.mark.parametrize(
    "refusal",
    [
        ("400100", "Order not exist or not allow to be cancelled"),  # KuCoin today
        ("400100", "order_not_exist_or_not_allow_to_cancel"),  # KuCoin before
        ("200004", "Balance insufficient!"),  # a class ccxt gave the newer text before #27240
    ],
)
async def test_a_cancel_of_a_filled_order_reads_its_final_state(refusal: tuple[str, str]) -> None:
    """cancel_final_errors: whatever class ccxt gives KuCoin's "not allowed to cancel", the
    order's final state is read."""
    venue, gateway = await connect(NAME)
    venue.cancel_refusal = refusal
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    placed = await gateway.place_order(
        order("rb1a2b-1ab34-0c1", Side.BUY, "0.01", book.best_ask, TimeInForce.IOC)
    )
    final = await gateway.cancel_order("BTC/USDT", placed.exchange_id, placed.client_id)
    assert final is not None
    assert (final.status, final.filled) == (OrderStatus.CLOSED, D("0.01"))
    await gateway.close()


async def test_a_cancel_is_an_acknowledgement_the_order_is_read_again() -> None:
    """cancel_reply_final False: the cancel reply holds an id only (ccxt parses no status from
    it); the order is read again, and while KuCoin still shows it active it is reported open,
    never assumed cancelled. The next cancel finds it done and reads its end."""
    venue, gateway = await connect(NAME)
    venue.cancel_lag = 1
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    placed = await gateway.place_order(order("rb1a2b-1ab34-0c1", Side.BUY, "0.01", book.best_bid))
    first = await gateway.cancel_order("BTC/USDT", placed.exchange_id, placed.client_id)
    assert first is not None and first.status is OrderStatus.OPEN
    assert venue.requests[-2][0] == "DELETE" and venue.requests[-1][0] == "GET"
    second = await gateway.cancel_order("BTC/USDT", placed.exchange_id, placed.client_id)
    assert second is not None and second.status is OrderStatus.CANCELED
    await gateway.close()


async def test_tops_come_from_one_tickers_request() -> None:
    """tickers_bid_ask: the tickers carry the best bid and ask: no book is read for a mid."""
    venue, gateway = await connect(NAME)
    before = len(venue.requests)
    tops = await gateway.fetch_tops(["BTC/USDT", "ETH/USDT"])
    assert venue.requests[before:] == [("GET", "/api/v1/market/allTickers")]
    for symbol, top in tops.items():
        bids, asks = venue.engine.book(symbol)
        assert (top.best_bid, top.best_ask) == (bids[0].price, asks[0].price)
    await gateway.close()
