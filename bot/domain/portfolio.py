"""Portfolio valuation in the quote currency, weights, drift and tolerance bands.

Prices are mids. An asset with no market against the quote is valued through a bridge (X/BTC then
BTC/USDT): the shortest chain of two-sided markets, ties broken by symbol so valuation is
deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain.market import ZERO, Market, OrderBook
from bot.errors import DomainError, NoPriceError


class BandKind(StrEnum):
    ABSOLUTE = "absolute"  # width in weight units: 0.05 = +/- 5 percentage points
    RELATIVE = "relative"  # width as a fraction of the target: 0.2 of a 10 % target = +/- 2 pp


@dataclass(frozen=True, slots=True)
class Band:
    kind: BandKind
    width: Decimal

    def __post_init__(self) -> None:
        if not (ZERO < self.width < 1):
            raise DomainError(f"band width must be in (0, 1), got {self.width}")

    def half_width(self, target: Decimal) -> Decimal:
        return self.width if self.kind is BandKind.ABSOLUTE else self.width * target

    def bounds(self, target: Decimal) -> tuple[Decimal, Decimal]:
        hw = self.half_width(target)
        return max(ZERO, target - hw), min(Decimal(1), target + hw)


@dataclass(frozen=True, slots=True)
class Bands:
    """The default band and per-asset overrides."""

    default: Band
    overrides: Mapping[str, Band]

    def for_asset(self, asset: str) -> Band:
        return self.overrides.get(asset, self.default)


@dataclass(frozen=True, slots=True)
class Route:
    """How an asset is priced: the chain of markets from the asset to the quote."""

    asset: str
    symbols: tuple[str, ...]

    @property
    def is_bridged(self) -> bool:
        return len(self.symbols) > 1


class PriceMap:
    """Mid prices of every reachable asset in one quote currency, with the route used."""

    def __init__(self, quote: str, markets: Mapping[str, Market], books: Mapping[str, OrderBook]):
        self.quote = quote
        self._prices: dict[str, Decimal] = {quote: Decimal(1)}
        self._routes: dict[str, tuple[str, ...]] = {quote: ()}
        adjacency: dict[str, list[tuple[str, str]]] = {}
        for symbol in sorted(markets):
            book = books.get(symbol)
            if book is None or book.mid is None or book.is_crossed:
                continue
            m = markets[symbol]
            adjacency.setdefault(m.base, []).append((symbol, m.quote))
            adjacency.setdefault(m.quote, []).append((symbol, m.base))
        mids = {s: b.mid for s, b in books.items() if b.mid is not None}
        frontier = deque([quote])
        while frontier:
            known = frontier.popleft()
            for symbol, other in adjacency.get(known, ()):
                if other in self._prices:
                    continue
                m = markets[symbol]
                mid = mids[symbol]
                # known is priced; `other` is on the far side of `symbol`.
                if m.quote == known:  # other/known: 1 other = mid known
                    self._prices[other] = mid * self._prices[known]
                else:  # known/other: 1 known = mid other
                    self._prices[other] = self._prices[known] / mid
                self._routes[other] = (symbol, *self._routes[known])
                frontier.append(other)

    def __contains__(self, asset: object) -> bool:
        return asset in self._prices

    def price(self, asset: str) -> Decimal:
        try:
            return self._prices[asset]
        except KeyError:
            raise NoPriceError(
                f"no two-sided market prices {asset} in {self.quote}, directly or through a bridge"
            ) from None

    def route(self, asset: str) -> Route:
        self.price(asset)
        return Route(asset, self._routes[asset])


@dataclass(frozen=True, slots=True)
class Position:
    """One managed asset as the portfolio sees it now."""

    asset: str
    balance: Decimal
    price: Decimal
    value: Decimal
    weight: Decimal
    target: Decimal
    band: Band
    route: Route

    @property
    def drift(self) -> Decimal:
        return self.weight - self.target

    @property
    def bounds(self) -> tuple[Decimal, Decimal]:
        return self.band.bounds(self.target)

    @property
    def in_band(self) -> bool:
        lo, hi = self.bounds
        return lo <= self.weight <= hi


@dataclass(frozen=True, slots=True)
class Valuation:
    """The managed portfolio valued at mid in `quote`.

    `reserve` quote units are set aside: not counted, never traded. Assets held but absent from the
    targets are `unmanaged`: shown, never traded.
    """

    quote: str
    total: Decimal
    positions: tuple[Position, ...]
    reserve: Decimal
    unmanaged: Mapping[str, Decimal | None]  # value in the quote, None when it has no price
    prices: PriceMap

    def position(self, asset: str) -> Position:
        for p in self.positions:
            if p.asset == asset:
                return p
        raise KeyError(asset)

    @property
    def weights(self) -> dict[str, Decimal]:
        return {p.asset: p.weight for p in self.positions}

    @property
    def out_of_band(self) -> tuple[Position, ...]:
        return tuple(p for p in self.positions if not p.in_band)

    @property
    def needs_rebalance(self) -> bool:
        return bool(self.out_of_band)


def value_portfolio(
    balances: Mapping[str, Decimal],
    targets: Mapping[str, Decimal],
    quote: str,
    bands: Bands,
    prices: PriceMap,
    reserve: Decimal = ZERO,
) -> Valuation:
    """Value the managed assets (the targets, plus the quote even when it has no target)."""
    if reserve < 0:
        raise DomainError(f"reserve must be >= 0, got {reserve}")
    # Largest target first, the quote last: the order a person reads a portfolio in.
    managed = sorted(set(targets) | {quote}, key=lambda a: (a == quote, -targets.get(a, ZERO), a))
    amounts: dict[str, Decimal] = {}
    values: dict[str, Decimal] = {}
    for asset in managed:
        held = balances.get(asset, ZERO)
        if asset == quote:
            held = max(ZERO, held - reserve)
        amounts[asset] = held
        values[asset] = held * prices.price(asset)
    total = sum(values.values(), ZERO)
    positions = tuple(
        Position(
            asset=a,
            balance=amounts[a],
            price=prices.price(a),
            value=values[a],
            weight=values[a] / total if total > 0 else ZERO,
            target=targets.get(a, ZERO),
            band=bands.for_asset(a),
            route=prices.route(a),
        )
        for a in managed
    )
    unmanaged = {
        a: q * prices.price(a) if a in prices else None
        for a, q in sorted(balances.items())
        if a not in targets and a != quote and q > 0
    }
    return Valuation(
        quote, total, positions, min(reserve, balances.get(quote, ZERO)), unmanaged, prices
    )


@dataclass(frozen=True, slots=True)
class PortfolioSpec:
    """What the user asks of the portfolio: target weights in one quote currency, the tolerance
    bands, and a reserve of the quote that is never traded."""

    quote: str
    targets: Mapping[str, Decimal]
    bands: Bands
    reserve: Decimal = ZERO

    @property
    def managed(self) -> frozenset[str]:
        """The assets the bot trades: the targets and the quote."""
        return frozenset(self.targets) | {self.quote}

    def value(
        self,
        balances: Mapping[str, Decimal],
        markets: Mapping[str, Market],
        books: Mapping[str, OrderBook],
    ) -> Valuation:
        """The managed portfolio valued at mid. Raises NoPriceError for an asset with no price."""
        prices = PriceMap(self.quote, markets, books)
        return value_portfolio(
            balances, self.targets, self.quote, self.bands, prices, reserve=self.reserve
        )


def relevant_symbols(markets: Mapping[str, Market], managed: set[str], quote: str) -> set[str]:
    """The markets a plan may need: every market between two managed assets, plus one bridge
    (asset/X and X/quote) for a managed asset that has no route to the quote among those."""
    chosen = {s for s, m in markets.items() if m.base in managed and m.quote in managed}
    reachable = {quote}
    grew = True
    while grew:
        grew = False
        for s in chosen:
            m = markets[s]
            for a, b in ((m.base, m.quote), (m.quote, m.base)):
                if b in reachable and a not in reachable:
                    reachable.add(a)
                    grew = True
    to_quote = {
        (m.quote if m.base == quote else m.base): s
        for s, m in sorted(markets.items())
        if quote in (m.base, m.quote)
    }
    for asset in sorted(managed - reachable):
        for s, m in sorted(markets.items()):
            if asset not in (m.base, m.quote):
                continue
            other = m.quote if m.base == asset else m.base
            if other in to_quote:
                chosen.update({s, to_quote[other]})
                break
    return chosen
