"""The price checks (`bot.domain.prices`) on exact books: what is refused and why, which asset
waits, when two looks agree, and when a leg's book is frozen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.domain.market import Level, Market, OrderBook
from bot.domain.prices import (
    BookWatch,
    PriceCheck,
    PriceLimits,
    Review,
    Seen,
    disagreements,
    market_problem,
    review,
)
from bot.errors import DomainError
from bot.exchange.codec import book_from_ccxt, top_from_ticker

D = Decimal
LIMITS = PriceLimits(tolerance_pct=D(5), max_spread_bps=D(500), max_age=300.0, max_unchanged=900.0)


def market(symbol: str) -> Market:
    base, _, quote = symbol.partition("/")
    return Market(symbol, base, quote, amount_step=D("0.0001"), price_tick=D("0.00001"))


def top(symbol: str, bid: str, ask: str, stamp: int | None = None) -> OrderBook:
    return OrderBook(symbol, (Level(D(bid), D(1)),), (Level(D(ask), D(1)),), stamp)


MARKETS = {s: market(s) for s in ("BTC/USDT", "ETH/USDT", "ETH/BTC", "SOL/USDT")}


def books(eth_usdt: tuple[str, str] = ("3499", "3501")) -> dict[str, OrderBook]:
    return {
        "BTC/USDT": top("BTC/USDT", "94990", "95010"),
        "ETH/USDT": top("ETH/USDT", *eth_usdt),
        "ETH/BTC": top("ETH/BTC", "0.03683", "0.03685"),
        "SOL/USDT": top("SOL/USDT", "239.9", "240.1"),
    }


def look(
    check: PriceCheck, shown: dict[str, OrderBook], now: float = 1000.0, kind: str = "top"
) -> Review:
    return review(
        check,
        quote="USDT",
        managed={"BTC", "ETH", "SOL", "USDT"},
        markets=MARKETS,
        books=shown,
        now=now,
        limits=LIMITS,
        kind=kind,
    )


# -- one market ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("book", "why"),
    [
        (top("X/USDT", "10", "10.01"), None),
        (OrderBook("X/USDT", (Level(D(10), D(1)),), ()), None),  # one-sided: no price, not refused
        (top("X/USDT", "10.02", "10.01"), "X/USDT is crossed (bid 10.02 >= ask 10.01)"),
        (top("X/USDT", "10", "10.6"), "X/USDT has a spread of 583 bps, above 500"),
        (
            top("X/USDT", "10", "10.01", 600_000),
            "X/USDT is stale: the exchange stamped it 400 s ago",
        ),
        (top("X/USDT", "10", "10.01", 800_000), None),
        (
            OrderBook("X/USDT", (), (), defect="the book shows a bid price of NaN"),
            "X/USDT: the book shows a bid price of NaN",
        ),
    ],
)
def test_a_market_is_refused_with_the_reason(book: OrderBook, why: str | None) -> None:
    assert market_problem("X/USDT", book, Seen.first(book, 1000.0), 1000.0, LIMITS) == why


def test_a_book_unchanged_for_too_long_is_stale() -> None:
    book = top("X/USDT", "10", "10.01")
    seen = Seen.first(book, 0.0)
    assert seen.then(book, 900.0) is seen
    assert market_problem("X/USDT", book, seen.then(book, 900.0), 900.0, LIMITS) is None
    assert (
        market_problem("X/USDT", book, seen.then(book, 901.0), 901.0, LIMITS)
        == "X/USDT is stale: unchanged for 901 s"
    )
    # a new stamp (or update id, or level) is a change: the clock starts again
    moved = OrderBook(book.symbol, book.bids, book.asks, timestamp_ms=901_000)
    assert seen.then(moved, 901.0) == Seen((book.bids, book.asks, 901_000, None, None), 901.0)


# -- markets that imply each other ---------------------------------------------------------------


def test_markets_that_agree_are_all_kept() -> None:
    assert disagreements("USDT", MARKETS, books(), D(5)) == {}


def test_a_tick_30_percent_low_refuses_the_whole_triangle() -> None:
    """One triangle cannot tell which market lies: all three are refused."""
    why = "ETH/USDT shows 2450 but ETH/BTC x BTC/USDT imply 3499.8 (30.0% apart, more than 5%)"
    assert disagreements("USDT", MARKETS, books(("2449", "2451")), D(5)) == {
        "BTC/USDT": why,
        "ETH/BTC": why,
        "ETH/USDT": why,
    }


def test_with_more_triangles_the_market_that_lies_is_found() -> None:
    """X/USDT disagrees with both X/BTC x BTC/USDT and X/ETH x ETH/USDT; every other market is
    in as many agreeing triangles as disagreeing ones: only X/USDT is refused."""
    symbols = ("BTC/USDT", "ETH/USDT", "ETH/BTC", "X/USDT", "X/BTC", "X/ETH")
    markets = {s: market(s) for s in symbols}
    shown = {
        "BTC/USDT": top("BTC/USDT", "99990", "100010"),
        "ETH/USDT": top("ETH/USDT", "3999", "4001"),
        "ETH/BTC": top("ETH/BTC", "0.03999", "0.04001"),
        "X/USDT": top("X/USDT", "13.99", "14.01"),  # 20 shown 30% low
        "X/BTC": top("X/BTC", "0.00019", "0.00021"),
        "X/ETH": top("X/ETH", "0.00499", "0.00501"),
    }
    assert disagreements("USDT", markets, shown, D(5)) == {
        "X/USDT": "X/USDT shows 14 but X/BTC x BTC/USDT imply 20 (30.0% apart, more than 5%)"
    }


# -- one look: what is trusted, who waits --------------------------------------------------------


def test_a_garbage_price_makes_its_asset_wait_never_a_detour() -> None:
    """ETH/USDT's reply was unusable: ETH waits, although ETH/BTC x BTC/USDT could price it."""
    shown = books()
    shown["ETH/USDT"] = OrderBook("ETH/USDT", (), (), defect="the ticker shows a bid price of 0")
    seen = look(PriceCheck(), shown)
    assert seen.refused == {"ETH/USDT": "ETH/USDT: the ticker shows a bid price of 0"}
    assert seen.waiting == {"ETH": "ETH/USDT: the ticker shows a bid price of 0"}
    assert seen.reason == "no trusted price for ETH (ETH/USDT: the ticker shows a bid price of 0)"
    assert "ETH/USDT" not in seen.books


def test_a_refused_market_on_no_asset_s_route_makes_nobody_wait() -> None:
    shown = books()
    shown["ETH/BTC"] = OrderBook("ETH/BTC", (), (), defect="the book shows an ask price of -1")
    seen = look(PriceCheck(), shown)
    assert seen.waiting == {}
    assert set(seen.books) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    assert seen.prices.price("ETH") == D(3500)


def test_a_bad_tick_found_by_the_cross_market_makes_both_assets_wait() -> None:
    seen = look(PriceCheck(), books(("2449", "2451")))
    why = "ETH/USDT shows 2450 but ETH/BTC x BTC/USDT imply 3499.8 (30.0% apart, more than 5%)"
    assert seen.waiting == {"BTC": why, "ETH": why}
    assert seen.reason == f"no trusted price for BTC, ETH ({why})"
    assert seen.prices.price("SOL") == D(240)


def test_an_asset_without_a_two_sided_market_waits() -> None:
    shown = books()
    shown["SOL/USDT"] = OrderBook("SOL/USDT", (Level(D(240), D(1)),), ())
    assert look(PriceCheck(), shown).waiting == {"SOL": "no two-sided market prices it"}


# -- two looks in a row --------------------------------------------------------------------------


def test_the_first_look_since_the_start_is_never_enough() -> None:
    first = look(PriceCheck(), books())
    assert first.waiting == {}
    assert first.unconfirmed == (
        "the first look since the start: a second one must agree before any plan"
    )
    assert first.reason == first.unconfirmed
    second = look(first.check, books(), now=1005.0)
    assert second.unconfirmed is None
    assert second.reason is None


def test_a_single_bad_tick_with_no_cross_market_is_not_confirmed() -> None:
    """ETH/USDT 30% low in one look, with no ETH/BTC to expose it: the next look disagrees, and
    only the one after that, agreeing with it, is confirmed."""
    markets = {s: MARKETS[s] for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")}

    def one(check: PriceCheck, eth: tuple[str, str], now: float) -> Review:
        shown = {s: b for s, b in books(eth).items() if s in markets}
        return review(
            check,
            quote="USDT",
            managed={"BTC", "ETH", "SOL", "USDT"},
            markets=markets,
            books=shown,
            now=now,
            limits=LIMITS,
        )

    bad = one(PriceCheck(), ("2449", "2451"), 1000.0)
    assert bad.waiting == {}  # nothing to compare it with but the next look
    good = one(bad.check, ("3499", "3501"), 1005.0)
    assert good.unconfirmed == (
        "prices moved more than 5% since the look before: ETH moved 42.9% (2450 -> 3500);"
        " a second look must agree before any plan"
    )
    again = one(good.check, ("3500", "3502"), 1065.0)
    assert again.unconfirmed is None


def test_looks_of_tops_and_of_books_are_watched_apart() -> None:
    first = look(PriceCheck(), books(), kind="top")
    second = look(first.check, books(), now=1001.0, kind="book")
    assert set(second.check.seen) == {f"{k} {s}" for k in ("top", "book") for s in books()}


def test_limits_must_be_finite_and_positive() -> None:
    with pytest.raises(DomainError, match="tolerance_pct must be finite and > 0"):
        PriceLimits(tolerance_pct=D("NaN"))
    with pytest.raises(DomainError, match="max_age must be finite and > 0"):
        PriceLimits(max_age=float("inf"))
    with pytest.raises(DomainError, match="max_unchanged must be finite and > 0"):
        PriceLimits(max_unchanged=0.0)


# -- a leg's book --------------------------------------------------------------------------------


def test_a_book_that_never_changes_while_children_go_unfilled_is_frozen() -> None:
    book = OrderBook("X/USDT", (Level(D(10), D(5)),), (Level(D("10.01"), D(5)),), 1_000, 7)
    watch = BookWatch().look(book, 0.0)
    assert watch.frozen(1000.0, 60.0) is None  # no child has gone unfilled in it
    watch = watch.child_settled(False, 20.0).look(book, 20.0)
    assert watch.frozen(60.0, 60.0) is None
    assert watch.frozen(61.0, 60.0) == (
        "book frozen: unchanged for 61 s (same levels, stamp and update id)"
        " while 1 child order(s) went unfilled in it"
    )


def test_five_unfilled_children_in_an_unchanged_book_are_enough_however_fast() -> None:
    book = top("X/USDT", "10", "10.01")
    watch = BookWatch().look(book, 0.0)
    for _ in range(4):
        watch = watch.child_settled(False, 0.0).look(book, 0.0)
    assert watch.frozen(0.0, 60.0) is None
    watch = watch.child_settled(False, 0.0).look(book, 0.0)
    assert watch.frozen(0.0, 60.0) is not None


def test_a_change_or_a_fill_starts_the_watch_again() -> None:
    book = top("X/USDT", "10", "10.01", 1_000)
    watch = BookWatch().look(book, 0.0).child_settled(False, 30.0)
    changed = watch.look(top("X/USDT", "10", "10.01", 2_000), 70.0)  # a new stamp
    assert changed.unfilled == 0 and changed.frozen(200.0, 60.0) is None
    filled = watch.child_settled(True, 70.0)
    assert filled.unfilled == 0 and filled.frozen(200.0, 60.0) is None


# -- the codec: garbage in a reply is a defect, never an exception --------------------------------


@pytest.mark.parametrize(
    ("level", "defect"),
    [
        ([0.0, 1.0], "the book shows a bid price of 0"),
        ([-3500.5, 1.0], "the book shows a bid price of -3500.5"),
        ([float("nan"), 1.0], "the book shows a bid price of NaN"),
        ([float("inf"), 1.0], "the book shows a bid price of Infinity"),
        ([3500.0, float("nan")], "the book shows a bid amount of NaN"),
    ],
)
def test_a_book_with_a_garbage_level_is_empty_and_says_why(level: list[float], defect: str) -> None:
    raw = {"bids": [level], "asks": [[3501.0, 2.0]], "timestamp": 1_700_000_000_000, "nonce": 9}
    book = book_from_ccxt("ETH/USDT", raw)
    assert (book.bids, book.asks, book.mid, book.defect) == ((), (), None, defect)
    assert (book.timestamp_ms, book.nonce) == (1_700_000_000_000, 9)


def test_a_good_book_keeps_the_exchange_s_stamp_and_update_id() -> None:
    raw = {"bids": [[3500.0, 1.0]], "asks": [[3501.0, 2.0]], "timestamp": 1_700_000_000_123}
    book = book_from_ccxt("ETH/USDT", {**raw, "nonce": "42"})
    assert (book.mid, book.timestamp_ms, book.nonce, book.defect) == (
        D("3500.5"),
        1_700_000_000_123,
        42,
        None,
    )


@pytest.mark.parametrize(
    ("bid", "volume", "defect"),
    [
        ("0", "3.5", "the ticker shows a bid price of 0"),
        ("-1", "3.5", "the ticker shows a bid price of -1"),
        ("NaN", "3.5", "the ticker shows a bid price of NaN"),
        ("3500", "NaN", "the ticker shows a bid amount of NaN"),
    ],
)
def test_a_ticker_with_a_garbage_price_is_an_empty_book_that_says_why(
    bid: str, volume: str, defect: str
) -> None:
    ticker = {"bid": bid, "bidVolume": volume, "ask": "3501", "askVolume": "1", "timestamp": 5}
    book = top_from_ticker("ETH/USDT", ticker)
    assert book is not None
    assert (book.bids, book.asks, book.defect, book.timestamp_ms) == ((), (), defect, 5)


def test_a_ticker_side_of_0_with_nothing_on_it_is_an_empty_side() -> None:
    """Binance shows an empty side as price 0, quantity 0: no price, read from the book instead."""
    ticker = {"bid": "0", "bidVolume": "0", "ask": "3501", "askVolume": "1"}
    assert top_from_ticker("ETH/USDT", ticker) is None
    assert top_from_ticker("ETH/USDT", {"bid": None, "ask": "3501"}) is None
