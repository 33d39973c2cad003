"""Shared builders and hypothesis strategies for the domain tests.

`market` and `book` build the small hand-written fixtures of the unit tests. `scenarios` draws a
realistic account: 2-8 assets against USDT, prices from 0.01 to 100000, spreads of 1-50 bps, taker
fees of 0-0.2 %, power-of-ten steps and ticks that are small next to the holdings, several book
levels with decent depth, absolute (2-10 %) or relative (20-50 %) bands, optional direct pairs
between non-quote assets and optional assets that only trade against BTC (valued and traded through
the bridge X/BTC then BTC/USDT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.domain.market import Market, OrderBook
from bot.domain.portfolio import Band, BandKind, Bands, PriceMap, Valuation, value_portfolio

QUOTE = "USDT"
BRIDGE = "BTC"
ASSETS = ("BTC", "ETH", "SOL", "LINK", "ADA", "DOT", "AVAX", "XRP")
UNMANAGED = "DOGE"

# Deterministic and fast enough for every CI run: the same examples on every run.
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def d(value: str | int) -> Decimal:
    return Decimal(value)


def market(
    symbol: str,
    step: str = "0.0001",
    tick: str = "0.01",
    *,
    min_amount: str = "0",
    min_cost: str = "0",
    fee: str = "0",
) -> Market:
    """A market from its symbol and filters given as strings (maker fee = taker fee)."""
    base, quote = symbol.split("/")
    return Market(
        symbol,
        base,
        quote,
        amount_step=d(step),
        price_tick=d(tick),
        min_amount=d(min_amount),
        min_cost=d(min_cost),
        maker_fee=d(fee),
        taker_fee=d(fee),
    )


def book(
    symbol: str,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
) -> OrderBook:
    """A book from `(price, amount)` string pairs."""
    return OrderBook.from_pairs(
        symbol,
        [(d(p), d(a)) for p, a in bids],
        [(d(p), d(a)) for p, a in asks],
    )


# --------------------------------------------------------------------------------------------
# Random scenarios


@dataclass(frozen=True)
class Scenario:
    quote: str
    markets: dict[str, Market]
    books: dict[str, OrderBook]
    balances: dict[str, Decimal]
    targets: dict[str, Decimal]
    bands: Bands
    reserve: Decimal
    unmanaged: tuple[str, ...]
    direct_pairs: tuple[str, ...]
    bridged: tuple[str, ...]

    @property
    def prices(self) -> PriceMap:
        return PriceMap(self.quote, self.markets, self.books)

    def valuation(self) -> Valuation:
        return value_portfolio(
            self.balances, self.targets, self.quote, self.bands, self.prices, self.reserve
        )


def _pow10(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


# Strategies built once: drawing from a shared instance is cheaper than building one per draw.
_MANTISSA = st.integers(100, 999)
_EXPONENT = st.integers(-2, 4)
_STEP_DIGITS = st.integers(1, 3)
_MIN_USD = st.sampled_from([0, 0, 1, 5, 10])
_MIN_AMOUNT_STEPS = st.sampled_from([0, 1, 10])
_FEE_BPS = st.integers(0, 20)
_SPREAD_BPS = st.integers(1, 50)
_LEVELS = st.integers(3, 6)
_GAP_BPS = st.integers(1, 20)
_DEPTH_PCT = st.integers(5, 100)
_BAND_KIND = st.sampled_from([BandKind.ABSOLUTE, BandKind.RELATIVE])
_ABSOLUTE_PCT = st.integers(2, 10)
_RELATIVE_PCT = st.integers(20, 50)
_RAW_WEIGHT = st.integers(1, 10)
_ONE_IN_4 = st.integers(0, 3)
_ONE_IN_5 = st.integers(0, 4)
_NUDGE_PCT = st.integers(-50, 50)
_OFF_TARGET_BPS = st.integers(-30, 30)


def _price_usd(draw: st.DrawFn) -> Decimal:
    """1.00 .. 9.99 times a power of ten, from 0.01 to 99900."""
    return Decimal(draw(_MANTISSA)).scaleb(draw(_EXPONENT) - 2)


def _band(draw: st.DrawFn) -> Band:
    kind = draw(_BAND_KIND)
    if kind is BandKind.ABSOLUTE:
        return Band(kind, Decimal(draw(_ABSOLUTE_PCT)) / 100)
    return Band(kind, Decimal(draw(_RELATIVE_PCT)) / 100)


def _market_and_book(
    draw: st.DrawFn,
    base: str,
    quote: str,
    base_usd: Decimal,
    quote_usd: Decimal,
    depth_usd: Decimal,
    cheap: bool = False,
) -> tuple[Market, OrderBook]:
    """A market with power-of-ten step and tick and a book of 3-6 levels a side around the mid
    `base_usd / quote_usd`; the touch holds `depth_usd * (5..100 %)`, deeper levels more."""
    symbol = f"{base}/{quote}"
    mid = base_usd / quote_usd
    tick = _pow10(mid.adjusted() - 6)
    step = _pow10(-base_usd.adjusted() - draw(_STEP_DIGITS))
    min_usd = draw(_MIN_USD)
    min_cost = _pow10((Decimal(min_usd) / quote_usd).adjusted()) if min_usd else Decimal(0)
    min_amount = step * draw(_MIN_AMOUNT_STEPS)
    if cheap:
        fee, spread_bps = Decimal(0), Decimal(1)
    else:
        fee = Decimal(draw(_FEE_BPS)) / 10_000
        spread_bps = Decimal(draw(_SPREAD_BPS))
    half = mid * spread_bps / 20_000
    bid = _floor(mid - half, tick)
    ask = _ceil(mid + half, tick)
    if ask <= bid:
        ask = bid + tick
    gap = max(_floor(mid * Decimal(draw(_GAP_BPS)) / 10_000, tick), tick)
    touch = max(_floor(depth_usd * Decimal(draw(_DEPTH_PCT)) / 100 / base_usd, step), step)
    bids, asks = [], []
    for i in range(draw(_LEVELS)):
        bids.append((bid - gap * i, touch * (i + 1)))
        asks.append((ask + gap * i, touch * (i + 1)))
    m = Market(symbol, base, quote, step, tick, min_amount, min_cost, fee, fee)
    return m, OrderBook.from_pairs(symbol, bids, asks)


def _composition(draw: st.DrawFn, names: Sequence[str], zero: frozenset[str]) -> dict[str, int]:
    """Whole percentage points summing to 100; names in `zero` get 0, the others at least 1."""
    raw = {n: 0 if n in zero else draw(_RAW_WEIGHT) for n in names}
    total = sum(raw.values())
    units = {n: r * 100 // total for n, r in raw.items()}
    first = next(n for n in names if n not in zero)
    units[first] += 100 - sum(units.values())
    return units


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    in_band: bool = False,
    cheap_direct: bool = False,
) -> Scenario:
    """A random account. `in_band`: every managed asset inside its band (nothing to do).
    `cheap_direct`: exactly one direct pair between non-quote assets, with 1 bp spread and no fee,
    and no bridged assets (the only market between two non-quote assets is that pair).
    """
    n = draw(st.integers(2, 8))
    assets = ASSETS[:n]
    usd = {QUOTE: Decimal(1), **{a: _price_usd(draw) for a in assets}}
    bridged = tuple(a for a in assets[1:] if not cheap_direct and draw(_ONE_IN_4) == 0)
    btc_managed = draw(st.booleans()) or len(assets) - 1 == 0 or not bridged
    managed = tuple(a for a in assets if a != BRIDGE or btc_managed)
    if not managed:
        managed = assets
    total_usd = Decimal(draw(st.integers(100, 999))).scaleb(draw(st.integers(0, 4)))
    depth_usd = total_usd * Decimal(draw(st.integers(1, 20))) / 10

    markets: dict[str, Market] = {}
    books: dict[str, OrderBook] = {}

    def add(base: str, quote: str, cheap: bool = False) -> None:
        m, b = _market_and_book(draw, base, quote, usd[base], usd[quote], depth_usd, cheap)
        markets[m.symbol] = m
        books[m.symbol] = b

    for a in assets:
        if a in bridged:
            add(a, BRIDGE)
        else:
            add(a, QUOTE)
    direct: list[str] = []
    listed = [a for a in assets if a not in bridged]
    pairs = [(q, b) for i, q in enumerate(listed) for b in listed[i + 1 :]]
    if pairs:
        chosen = draw(
            st.lists(
                st.sampled_from(pairs),
                min_size=int(cheap_direct),
                max_size=1 if cheap_direct else 3,
                unique=True,
            )
        )
        for q, b in chosen:
            add(b, q, cheap=cheap_direct)
            direct.append(f"{b}/{q}")

    unmanaged: list[str] = [a for a in assets if a not in managed]
    balances: dict[str, Decimal] = {}
    if draw(st.booleans()):
        usd[UNMANAGED] = _price_usd(draw)
        add(UNMANAGED, QUOTE)
        unmanaged.append(UNMANAGED)
        balances[UNMANAGED] = _floor(total_usd / 10 / usd[UNMANAGED], Decimal("1e-8"))
    for a in unmanaged:
        if a != UNMANAGED and draw(st.booleans()):
            balances[a] = _floor(total_usd / 20 / usd[a], Decimal("1e-8"))

    default_band = _band(draw)
    overrides = {a: _band(draw) for a in managed if draw(_ONE_IN_4) == 0}
    quote_band = overrides.get(QUOTE, default_band)
    quote_weighted = draw(st.booleans()) or quote_band.kind is BandKind.RELATIVE
    zero = frozenset() if quote_weighted else frozenset({QUOTE})
    names = (*managed, QUOTE)
    target_units = _composition(draw, names, zero)
    targets = {a: Decimal(u) / 100 for a, u in target_units.items() if u > 0}
    bands = Bands(default_band, overrides)
    prices = PriceMap(QUOTE, markets, books)

    if in_band:
        # Start exactly at target and nudge each asset by at most half its half width; the quote
        # takes the difference (or, if that would push it out, nobody moves).
        nudges = {}
        for a in managed:
            t = targets.get(a, Decimal(0))
            lo, hi = bands.for_asset(a).bounds(t)
            u = Decimal(draw(_NUDGE_PCT)) / 100
            nudges[a] = u * (hi - t) if u > 0 else u * (t - lo)
        q_target = targets.get(QUOTE, Decimal(0))
        lo, hi = bands.for_asset(QUOTE).bounds(q_target)
        if not (lo <= q_target - sum(nudges.values()) <= hi):
            nudges = dict.fromkeys(nudges, Decimal(0))
        weights = {a: targets.get(a, Decimal(0)) + nudges[a] for a in managed}
        weights[QUOTE] = 1 - sum(weights.values())
    else:
        weight_units = _composition(draw, names, frozenset())
        weights = {a: Decimal(u) / 100 for a, u in weight_units.items()}
        if draw(_ONE_IN_5) == 0:  # some accounts hold nothing of one asset
            weights[draw(st.sampled_from(names))] = Decimal(0)
        for a in managed:  # and some assets sit a few bps off target: small legs, dust
            if draw(_ONE_IN_4) == 0:
                weights[a] = max(Decimal(0), targets[a] + Decimal(draw(_OFF_TARGET_BPS)) / 10_000)

    for a in managed:
        balances[a] = _floor(total_usd * weights[a] / prices.price(a), Decimal("1e-8"))
    reserve = Decimal(0)
    if draw(st.booleans()):
        reserve = Decimal(draw(st.integers(1, 1000)))
    balances[QUOTE] = _floor(total_usd * max(weights[QUOTE], Decimal(0)), Decimal("0.01")) + reserve

    return Scenario(
        quote=QUOTE,
        markets=markets,
        books=books,
        balances=balances,
        targets=targets,
        bands=bands,
        reserve=reserve,
        unmanaged=tuple(unmanaged),
        direct_pairs=tuple(direct),
        bridged=bridged,
    )
