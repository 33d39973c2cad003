"""Prices the bot may trust: checked before any plan, and while a leg trades. Pure and exact.

A market's prices are refused, with the reason, when
- its reply was unusable: a price not positive or not finite (the codec then leaves the book
  empty and says why in `OrderBook.defect`);
- its book is crossed, or its spread is wider than `max_spread_bps`;
- it is stale: stamped by the exchange more than `max_age` seconds ago, or unchanged (same
  levels, same stamp, same update id) for more than `max_unchanged` seconds;
- it disagrees with the markets that imply it: around a triangle of markets (X/USDT, X/BTC,
  BTC/USDT) the direct price and the implied one (X/BTC x BTC/USDT) must agree within
  `tolerance_pct`. A market in more disagreeing triangles than agreeing ones is refused: with
  one triangle, all three are (which one lies cannot be told).

Assets are then priced from the markets left (`PriceMap`). A managed asset with no price waits,
with its markets' reasons. And two looks in a row must agree, asset by asset, within
`tolerance_pct` before a plan: the first look after a start never suffices alone, so a single bad
tick, with no cross market to expose it, is never traded on.

While a leg trades, `BookWatch` follows its market's book: unchanged while the leg's children went
unfilled in it, for `frozen_after` seconds or `FROZEN_CHILDREN` children, the book is frozen and
the leg stops placing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations

from bot.domain.market import ONE, Market, OrderBook
from bot.domain.portfolio import PriceMap
from bot.errors import DomainError

HUNDRED = Decimal(100)
# Children that may go unfilled in one unchanged book before it is called frozen, however fast.
FROZEN_CHILDREN = 5


@dataclass(frozen=True, slots=True)
class PriceLimits:
    """How far the checks let prices go: `tolerance_pct` between markets that imply each other
    and between two looks in a row; `max_spread_bps`; `max_age` and `max_unchanged` in seconds."""

    tolerance_pct: Decimal = Decimal(5)
    max_spread_bps: Decimal = Decimal(500)
    max_age: float = 300.0
    max_unchanged: float = 900.0

    def __post_init__(self) -> None:
        for name in ("tolerance_pct", "max_spread_bps", "max_age", "max_unchanged"):
            value = getattr(self, name)
            finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
            if not finite or value <= 0:
                raise DomainError(f"price limits: {name} must be finite and > 0, got {value}")


def fingerprint(book: OrderBook) -> tuple[object, ...]:
    """What makes two looks at a book the same look."""
    return (book.bids, book.asks, book.timestamp_ms, book.nonce, book.defect)


@dataclass(frozen=True, slots=True)
class Seen:
    """A book as last seen: what identifies it, and since when it has not changed."""

    key: tuple[object, ...]
    since: float

    @classmethod
    def first(cls, book: OrderBook, now: float) -> Seen:
        return cls(fingerprint(book), now)

    def then(self, book: OrderBook, now: float) -> Seen:
        key = fingerprint(book)
        return self if key == self.key else Seen(key, now)


@dataclass(frozen=True, slots=True)
class PriceCheck:
    """What the checks carry from one look to the next: each market's book as last seen (per
    kind of look: tickers' tops or full books), and the last look's prices by asset (None: no
    look since the start)."""

    seen: Mapping[str, Seen] = field(default_factory=dict)
    last: Mapping[str, Decimal] | None = None


@dataclass(frozen=True, slots=True)
class Review:
    """One look, checked. `books`: the books that passed (plan and value on these only);
    `refused`: symbol -> why its prices are not trusted; `waiting`: managed asset -> why it has
    no trusted price; `unconfirmed`: why this look does not yet agree with the one before (None:
    it does); `check`: what the next look starts from."""

    books: Mapping[str, OrderBook]
    refused: Mapping[str, str]
    prices: PriceMap
    waiting: Mapping[str, str]
    unconfirmed: str | None
    check: PriceCheck

    @property
    def reason(self) -> str | None:
        """Why no plan may be made on this look, for a person; None when one may."""
        if self.waiting:
            by_why: dict[str, list[str]] = {}
            for asset, why in sorted(self.waiting.items()):
                by_why.setdefault(why, []).append(asset)
            return "no trusted price for " + "; ".join(
                f"{', '.join(assets)} ({why})" for why, assets in by_why.items()
            )
        return self.unconfirmed


def review(
    check: PriceCheck,
    *,
    quote: str,
    managed: Iterable[str],
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    now: float,
    limits: PriceLimits,
    kind: str = "top",
) -> Review:
    """Check one look (`books`, read at `now`, of `kind` "top" or "book") against the limits,
    against itself (markets that imply each other) and against the look before (`check`)."""
    seen = dict(check.seen)
    refused: dict[str, str] = {}
    for symbol, book in sorted(books.items()):
        key = f"{kind} {symbol}"
        before = check.seen.get(key)
        seen[key] = Seen.first(book, now) if before is None else before.then(book, now)
        why = market_problem(symbol, book, seen[key], now, limits)
        if why is not None:
            refused[symbol] = why
    healthy = {s: b for s, b in books.items() if s not in refused and b.mid is not None}
    refused.update(disagreements(quote, markets, healthy, limits.tolerance_pct))
    trusted = {s: b for s, b in books.items() if s not in refused}
    prices = PriceMap(quote, markets, trusted)
    wanted = sorted(set(managed) | {quote})
    # An asset is priced along its own route (its market to the quote, or the bridge it needs):
    # a market refused on that route makes it wait, never a quiet detour through another one.
    routes = _routes(quote, markets, books)
    waiting: dict[str, str] = {}
    for asset in wanted:
        bad = [refused[s] for s in routes.get(asset, ()) if s in refused]
        if bad or asset not in prices:
            waiting[asset] = "; ".join(dict.fromkeys(bad)) or _why_unpriced(asset, markets, refused)
    current = {a: prices.price(a) for a in wanted if a in prices}
    unconfirmed = None if waiting else _unconfirmed(check.last, current, limits.tolerance_pct)
    return Review(trusted, refused, prices, waiting, unconfirmed, PriceCheck(seen, current))


def market_problem(
    symbol: str, book: OrderBook, seen: Seen, now: float, limits: PriceLimits
) -> str | None:
    """Why this market's prices are not to be trusted, or None. An empty or one-sided book is not
    refused here: it simply gives no price."""
    if book.defect is not None:
        return f"{symbol}: {book.defect}"
    bid, ask, spread = book.best_bid, book.best_ask, book.spread_bps
    if bid is None or ask is None or spread is None:
        return None
    if bid >= ask:
        return f"{symbol} is crossed (bid {bid} >= ask {ask})"
    if spread > limits.max_spread_bps:
        return f"{symbol} has a spread of {spread:.0f} bps, above {limits.max_spread_bps}"
    if book.timestamp_ms is not None:
        age = now - book.timestamp_ms / 1000
        if age > limits.max_age:
            return f"{symbol} is stale: the exchange stamped it {age:.0f} s ago"
    unchanged = now - seen.since
    if unchanged > limits.max_unchanged:
        return f"{symbol} is stale: unchanged for {unchanged:.0f} s"
    return None


def disagreements(
    quote: str,
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    tolerance_pct: Decimal,
) -> dict[str, str]:
    """Markets refused for disagreeing with the markets that imply them: symbol -> why. Every
    triangle of markets between three assets is checked; a market in more disagreeing triangles
    than agreeing ones is refused, with its first disagreement."""
    between: dict[frozenset[str], str] = {}
    for symbol in sorted(books):
        m = markets[symbol]
        between.setdefault(frozenset((m.base, m.quote)), symbol)
    assets = sorted({a for pair in between for a in pair})
    good: dict[str, int] = {}
    bad: dict[str, list[str]] = {}
    for trio in combinations(assets, 3):
        pairs = [frozenset(p) for p in combinations(trio, 2)]
        if not all(p in between for p in pairs):
            continue
        symbols = [between[p] for p in pairs]
        message = _triangle(quote, markets, books, symbols, tolerance_pct)
        for symbol in symbols:
            if message is None:
                good[symbol] = good.get(symbol, 0) + 1
            else:
                bad.setdefault(symbol, []).append(message)
    return {s: why[0] for s, why in sorted(bad.items()) if len(why) > good.get(s, 0)}


def _triangle(
    quote: str,
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    symbols: list[str],
    tolerance_pct: Decimal,
) -> str | None:
    """None when the three markets agree; else what disagrees, read as a direct market against
    the two that imply it (X/USDT against X/BTC x BTC/USDT where the quote is among them)."""
    cross = [s for s in symbols if quote not in (markets[s].base, markets[s].quote)]
    if len(cross) == 1:
        x = markets[cross[0]].base
        direct = next(s for s in symbols if {markets[s].base, markets[s].quote} == {x, quote})
    else:
        direct = sorted(symbols)[0]
    d = markets[direct]
    one, two = sorted(s for s in symbols if s != direct)
    hop = one if d.base in (markets[one].base, markets[one].quote) else two
    other = two if hop == one else one
    middle = markets[hop].quote if markets[hop].base == d.base else markets[hop].base
    implied = _rate(markets[hop], books[hop], d.base, middle)
    implied *= _rate(markets[other], books[other], middle, d.quote)
    shown = books[direct].mid
    assert shown is not None  # only two-sided books are checked
    apart = abs(shown - implied) / implied * HUNDRED
    if apart <= tolerance_pct:
        return None
    return (
        f"{direct} shows {_num(shown)} but {hop} x {other} imply {_num(implied)}"
        f" ({apart:.1f}% apart, more than {tolerance_pct}%)"
    )


def _num(value: Decimal) -> str:
    """A price for a person: eight significant digits, no trailing zeros, no exponent."""
    text = f"{value:.8g}"
    if "e" in text.lower():
        return f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _rate(market: Market, book: OrderBook, have: str, want: str) -> Decimal:
    """The price of one `have` in `want` at the book's mid."""
    mid = book.mid
    assert mid is not None and {have, want} == {market.base, market.quote}
    return mid if market.base == have else ONE / mid


def _routes(
    quote: str, markets: Mapping[str, Market], books: Mapping[str, OrderBook]
) -> dict[str, tuple[str, ...]]:
    """The markets each asset is priced through when every market looked at counts, whatever its
    book shows: the shortest chain to the quote, ties broken by symbol (as `PriceMap` does)."""
    adjacency: dict[str, list[tuple[str, str]]] = {}
    for symbol in sorted(books):
        m = markets[symbol]
        adjacency.setdefault(m.base, []).append((symbol, m.quote))
        adjacency.setdefault(m.quote, []).append((symbol, m.base))
    routes: dict[str, tuple[str, ...]] = {quote: ()}
    frontier = [quote]
    while frontier:
        known = frontier.pop(0)
        for symbol, other in adjacency.get(known, ()):
            if other not in routes:
                routes[other] = (symbol, *routes[known])
                frontier.append(other)
    return routes


def _why_unpriced(asset: str, markets: Mapping[str, Market], refused: Mapping[str, str]) -> str:
    mine = [
        why for s, why in sorted(refused.items()) if asset in (markets[s].base, markets[s].quote)
    ]
    reasons = list(dict.fromkeys(mine or [why for _, why in sorted(refused.items())]))
    return "; ".join(reasons) if reasons else "no two-sided market prices it"


def _unconfirmed(
    last: Mapping[str, Decimal] | None, current: Mapping[str, Decimal], tolerance_pct: Decimal
) -> str | None:
    """Why this look does not yet agree with the one before, or None when it does."""
    if last is None:
        return "the first look since the start: a second one must agree before any plan"
    moved = []
    for asset, price in sorted(current.items()):
        before = last.get(asset)
        if before is None:
            moved.append(f"{asset} had no price in the look before")
            continue
        change = abs(price - before) / before * HUNDRED
        if change > tolerance_pct:
            moved.append(f"{asset} moved {change:.1f}% ({_num(before)} -> {_num(price)})")
    if not moved:
        return None
    return (
        f"prices moved more than {tolerance_pct}% since the look before: {', '.join(moved)};"
        " a second look must agree before any plan"
    )


@dataclass(frozen=True, slots=True)
class BookWatch:
    """A leg's view of its market's book between children: since when it has not changed (or
    the leg last had a fill), and how many children went unfilled in it since."""

    seen: Seen | None = None
    unfilled: int = 0

    def look(self, book: OrderBook, now: float) -> BookWatch:
        if self.seen is None:
            return BookWatch(Seen.first(book, now))
        seen = self.seen.then(book, now)
        return self if seen is self.seen else BookWatch(seen)

    def child_settled(self, filled: bool, now: float) -> BookWatch:
        """A child reached its final state: a fill shows the market is alive."""
        if self.seen is None:
            return self
        if filled:
            return BookWatch(Seen(self.seen.key, now))
        return BookWatch(self.seen, self.unfilled + 1)

    def frozen(self, now: float, frozen_after: float, most: int = FROZEN_CHILDREN) -> str | None:
        """Why the book is frozen, or None: unchanged while children went unfilled in it, for more
        than `frozen_after` seconds or for `most` children (taking children that find nothing
        follow each other at once: time alone would not bound them)."""
        if self.seen is None or self.unfilled == 0:
            return None
        unchanged = now - self.seen.since
        if unchanged <= frozen_after and self.unfilled < most:
            return None
        return (
            f"book frozen: unchanged for {unchanged:.0f} s (same levels, stamp and update id)"
            f" while {self.unfilled} child order(s) went unfilled in it"
        )
