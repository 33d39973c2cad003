"""Gate's quirks through ccxt's `gate` and the native-format fake: each test holds one fact of the
Gate profile (bot/exchange/profiles/gate.py) to what the venue does."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import RealClock
from bot.domain.lifecycle import ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderStatus, TimeInForce
from bot.domain.slicing import Phase
from bot.errors import OrderRejected, RequestRefused, WouldCross
from bot.execution.fills import fetch_fills
from bot.journal import Journal
from bot.runtime.reconcile import reconcile
from tests.venues.gate import TEXT, TEXT_LOOKUP_MS
from tests.venues.harness import connect, full_session, order, unrouted

D = Decimal
NAME = "gate"
CID = "rb1a2b-1ab34-0c1"


async def test_every_call_is_answered_and_none_needs_the_unified_or_futures_api() -> None:
    """ccxt_options: spot markets only, the classic account (no account-mode call)."""
    venue, gateway = await connect(NAME)
    await full_session(venue, gateway)
    await gateway.close()
    assert not unrouted(venue)
    paths = {path for _, path in venue.requests}
    assert not [p for p in paths if p.startswith(("/api/v4/futures", "/api/v4/delivery"))]
    assert not [p for p in paths if p.startswith(("/api/v4/options", "/api/v4/account"))]


async def test_client_ids_go_out_with_t_dash_and_come_back_without() -> None:
    """client_id.prefix "t-": ccxt puts it before the id, Gate reports `text` with it, the bot
    reads its own id back (order replies, lookups by text, listings)."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    placed = await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_bid))
    assert placed.client_id == CID
    assert venue.engine.all_orders()[0].client_order_id == CID  # Gate's text: "t-" + CID
    found = await gateway.fetch_order("BTC/USDT", CID)
    assert found is not None and found.client_id == CID
    assert ("GET", f"/api/v4/spot/orders/t-{CID}") in venue.requests
    assert [o.client_id for o in await gateway.fetch_open_orders("BTC/USDT")] == [CID]
    await gateway.close()


@pytest.mark.parametrize(
    "client_id",
    ["rb1a2b-1ab34-0c1", "rb.1a2b_0c1", "r" * 28, "r" * 29, "rb:1a2b", "rb/1a2b", "rb 1a2b"],
)
async def test_client_ids_follow_the_text_rule(client_id: str) -> None:
    """client_id.max_length (30 with "t-") and charset: Gate's `text` rule, no more, no less."""
    venue, gateway = await connect(NAME)
    rules = gateway.profile.client_id
    assert rules.accepts(client_id) == bool(TEXT.fullmatch("t-" + client_id))
    if client_id and not rules.accepts(client_id):
        book = await gateway.fetch_order_book("BTC/USDT", 5)
        assert book.best_bid is not None
        with pytest.raises(OrderRejected, match="not sent"):
            await gateway.place_order(order(client_id, Side.BUY, "0.01", book.best_bid))
        assert ("POST", venue.create_path) not in venue.requests
    await gateway.close()


async def test_an_order_finished_over_an_hour_ago_is_still_found() -> None:
    """scan_after_lookup_miss: Gate finds a finished order by its text for an hour only; after,
    the order listings are searched."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_ask, TimeInForce.IOC))
    venue.engine.now += TEXT_LOOKUP_MS / 1000 + 60
    found = await gateway.fetch_order("BTC/USDT", CID)
    assert found is not None
    assert (found.client_id, found.status, found.filled) == (CID, OrderStatus.CLOSED, D("0.01"))
    assert ("GET", "/api/v4/spot/orders") in venue.requests  # found in the finished listing
    await gateway.close()


async def test_a_restart_long_after_a_fill_records_the_fill(tmp_path: Path) -> None:
    """scan_after_lookup_miss, in reconciliation: an order sent just before a crash and filled
    is recorded filled at a restart hours later, never "never arrived"."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    journal = Journal(tmp_path / "gate.sqlite")
    rid = journal.start_rebalance("live", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", Side.BUY, D("0.01"), book.best_ask)
    req = order(CID, Side.BUY, "0.01", book.best_ask, TimeInForce.IOC)
    journal.child_intent("L", req, Phase.TAKE)
    await gateway.place_order(req, on_sent=lambda at: journal.child_sent(CID, at))
    await gateway.close()  # the crash: the reply was never recorded
    venue.engine.now += 3 * 3600
    _, restarted = await connect(NAME)
    venue.install(restarted.exchange)
    await reconcile(restarted, journal, RealClock())
    recorded = journal.order(CID)
    assert recorded is not None and recorded.status is ChildState.FILLED
    await restarted.close()
    journal.close()


@pytest.mark.parametrize("first", ["fill", "cancel"])
async def test_a_cancel_of_a_finished_order_reads_its_final_state(first: str) -> None:
    """cancel_final_errors (InvalidOrder): Gate answers ORDER_CLOSED for a filled order and
    ORDER_CANCELLED for a cancelled one; the final state is read."""
    _venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None and book.best_bid is not None
    price, tif = (
        (book.best_ask, TimeInForce.IOC) if first == "fill" else (book.best_bid, TimeInForce.GTC)
    )
    placed = await gateway.place_order(order(CID, Side.BUY, "0.01", price, tif))
    if first == "cancel":
        await gateway.cancel_order("BTC/USDT", placed.exchange_id, CID)
    final = await gateway.cancel_order("BTC/USDT", placed.exchange_id, CID)
    assert final is not None
    expected = (OrderStatus.CLOSED, D("0.01")) if first == "fill" else (OrderStatus.CANCELED, D(0))
    assert (final.status, final.filled) == expected
    await gateway.close()


async def test_a_cancel_reply_is_the_final_order() -> None:
    """cancel_reply_final: the DELETE answers the cancelled order; nothing more is asked."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    placed = await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_bid))
    before = len(venue.requests)
    final = await gateway.cancel_order("BTC/USDT", placed.exchange_id, CID)
    assert final is not None and (final.status, final.client_id) == (OrderStatus.CANCELED, CID)
    assert venue.requests[before:] == [("DELETE", f"/api/v4/spot/orders/{placed.exchange_id}")]
    await gateway.close()


async def test_a_post_only_order_that_would_take_is_refused() -> None:
    """post_only_params: time_in_force poc; Gate refuses it with POC_FILL_IMMEDIATELY."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    with pytest.raises(WouldCross):
        await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_ask, post_only=True))
    assert not venue.engine.my_trades()
    await gateway.close()


async def test_an_ioc_order_fills_what_it_can_and_cancels_the_rest() -> None:
    """ioc_params: time_in_force ioc; the best level holds 0.5, the rest ends (finish_as ioc)."""
    venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    report = await gateway.place_order(order(CID, Side.BUY, "0.55", book.best_ask, TimeInForce.IOC))
    assert (report.status, report.filled) == (OrderStatus.CANCELED, D("0.5"))
    assert not venue.engine.open_orders()
    await gateway.close()


async def test_a_timestamp_outside_the_window_is_refused_not_an_auth_failure() -> None:
    """receive_window (60 s, fixed) and error_classes: within the window the request goes;
    outside, Gate answers REQUEST_EXPIRED (ccxt: AuthenticationError, the profile: InvalidNonce),
    a refusal: nothing placed, the clock measured again, the next order goes."""
    venue, gateway = await connect(NAME)
    window = gateway.profile.receive_window
    assert window is not None
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    venue.skew = window - 2.0
    await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_bid))
    venue.skew = window + 2.0
    with pytest.raises(RequestRefused, match="REQUEST_EXPIRED"):
        await gateway.place_order(order(CID + "2", Side.BUY, "0.01", book.best_bid))
    assert [o.client_order_id for o in venue.engine.all_orders()] == [CID]
    assert venue.requests[-1] == ("GET", "/api/v4/spot/time")  # measured again
    placed = await gateway.place_order(order(CID + "3", Side.BUY, "0.01", book.best_bid))
    assert placed.status is OrderStatus.OPEN
    await gateway.close()


async def test_a_host_clock_off_by_more_than_the_window_is_measured_at_start() -> None:
    """ccxt_options adjustForTimeDifference: ccxt measures Gate's clock in load_markets (before
    any private call), so the first order of a host 90 s behind goes through."""
    _venue, gateway = await connect(NAME, skew=90.0)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    placed = await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_bid))
    assert placed.status is OrderStatus.OPEN
    await gateway.close()


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_fees_are_charged_where_the_profile_says(side: Side) -> None:
    """fees_in "received": a buy pays in the base, a sell in the quote."""
    _venue, gateway = await connect(NAME)
    market = gateway.markets["BTC/USDT"]
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    price = book.best_ask if side is Side.BUY else book.best_bid
    assert price is not None
    placed = await gateway.place_order(order(CID, side, "0.01", price, TimeInForce.IOC))
    fills = await gateway.fetch_order_trades("BTC/USDT", placed.exchange_id)
    received = market.base if side is Side.BUY else market.quote
    expected = market.quote if gateway.profile.fees_in == "quote" else received
    assert [f.fee_currency for f in fills] == [expected]
    await gateway.close()


async def test_fills_are_read_order_by_order_past_a_page() -> None:
    """trades_by_order: /spot/my_trades pages newest first (1000 at most); the trades of an
    order older than the newest page are still read whole, by order_id."""
    _venue, gateway = await connect(NAME)
    book = await gateway.fetch_order_book("ETH/USDT", 5)
    assert book.best_ask is not None
    first = None
    for n in range(gateway.profile.trades_page + 1):
        req = order(
            f"rb1a2b-1ab34-0c{n}", Side.BUY, "0.0021", book.best_ask, TimeInForce.IOC, "ETH/USDT"
        )
        placed = await gateway.place_order(req)
        first = first or placed
    assert first is not None and first.timestamp_ms is not None
    fills, complete = await fetch_fills(
        gateway, "ETH/USDT", {first.exchange_id: first.filled}, first.timestamp_ms - 1000
    )
    assert complete and [f.exchange_order_id for f in fills] == [first.exchange_id]
    await gateway.close()


async def test_tops_come_from_one_tickers_request() -> None:
    """tickers_bid_ask: the tickers carry the best bid and ask: no book is read for a mid."""
    venue, gateway = await connect(NAME)
    before = len(venue.requests)
    tops = await gateway.fetch_tops(["BTC/USDT", "ETH/USDT"])
    assert venue.requests[before:] == [("GET", "/api/v4/spot/tickers")]
    for symbol, top in tops.items():
        bids, asks = venue.engine.book(symbol)
        assert (top.best_bid, top.best_ask) == (bids[0].price, asks[0].price)
    await gateway.close()
