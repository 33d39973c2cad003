"""Valuation at mid: prices and routes, weights, the quote reserve, unmanaged assets, bands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.domain.market import Market, OrderBook
from bot.domain.portfolio import (
    Band,
    BandKind,
    Bands,
    PriceMap,
    Route,
    relevant_symbols,
    value_portfolio,
)
from bot.errors import DomainError, NoPriceError
from tests.unit.strategies import book, d, market

ABS5 = Band(BandKind.ABSOLUTE, d("0.05"))
BANDS = Bands(ABS5, {})


def two_sided(symbol: str, bid: str, ask: str) -> OrderBook:
    return book(symbol, bids=[(bid, "10")], asks=[(ask, "10")])


def markets_of(*symbols: str) -> dict[str, Market]:
    return {s: market(s) for s in symbols}


# ------------------------------------------------------------------------------------- bands


def test_absolute_band_bounds() -> None:
    assert ABS5.bounds(d("0.4")) == (d("0.35"), d("0.45"))
    assert ABS5.half_width(d("0.4")) == d("0.05")


def test_relative_band_bounds() -> None:
    band = Band(BandKind.RELATIVE, d("0.2"))
    assert band.half_width(d("0.4")) == d("0.08")
    assert band.bounds(d("0.4")) == (d("0.32"), d("0.48"))


def test_band_bounds_are_clipped_to_zero_and_one() -> None:
    assert ABS5.bounds(d("0.02")) == (d("0"), d("0.07"))
    assert ABS5.bounds(d("0.98")) == (d("0.93"), d("1"))


@pytest.mark.parametrize("width", ["0", "1", "-0.1", "1.5"])
def test_band_refuses_width_outside_zero_one(width: str) -> None:
    with pytest.raises(DomainError, match="band width"):
        Band(BandKind.ABSOLUTE, d(width))


def test_per_asset_band_override() -> None:
    wide = Band(BandKind.RELATIVE, d("0.5"))
    bands = Bands(ABS5, {"SOL": wide})
    assert bands.for_asset("SOL") is wide
    assert bands.for_asset("BTC") is ABS5


# -------------------------------------------------------------------------------- price map


def test_direct_price_is_the_mid() -> None:
    prices = PriceMap(
        "USDT", markets_of("BTC/USDT"), {"BTC/USDT": two_sided("BTC/USDT", "49990", "50010")}
    )
    assert prices.price("BTC") == d("50000")
    assert prices.price("USDT") == d("1")
    assert prices.route("BTC") == Route("BTC", ("BTC/USDT",))
    assert not prices.route("BTC").is_bridged
    assert prices.route("USDT").symbols == ()


def test_inverse_market_prices_the_quote_side() -> None:
    # USDT/BRL at 5: one BRL is worth 1/5 USDT.
    prices = PriceMap(
        "USDT", markets_of("USDT/BRL"), {"USDT/BRL": two_sided("USDT/BRL", "4.99", "5.01")}
    )
    assert prices.price("BRL") == d("0.2")
    assert prices.route("BRL").symbols == ("USDT/BRL",)


def test_bridge_through_btc() -> None:
    # X/BTC mid 0.001, BTC/USDT mid 50000: X = 50 USDT.
    prices = PriceMap(
        "USDT",
        markets_of("X/BTC", "BTC/USDT"),
        {
            "X/BTC": two_sided("X/BTC", "0.00099", "0.00101"),
            "BTC/USDT": two_sided("BTC/USDT", "49990", "50010"),
        },
    )
    assert prices.price("X") == d("50")
    route = prices.route("X")
    assert route.symbols == ("X/BTC", "BTC/USDT")
    assert route.is_bridged


def test_direct_market_is_preferred_over_a_bridge() -> None:
    prices = PriceMap(
        "USDT",
        markets_of("ETH/BTC", "BTC/USDT", "ETH/USDT"),
        {
            "ETH/BTC": two_sided("ETH/BTC", "0.049", "0.051"),
            "BTC/USDT": two_sided("BTC/USDT", "49990", "50010"),
            "ETH/USDT": two_sided("ETH/USDT", "2499", "2501"),
        },
    )
    assert prices.price("ETH") == d("2500")
    assert prices.route("ETH").symbols == ("ETH/USDT",)


def test_no_route_raises_no_price_error() -> None:
    prices = PriceMap(
        "USDT", markets_of("BTC/USDT"), {"BTC/USDT": two_sided("BTC/USDT", "49990", "50010")}
    )
    assert "DOGE" not in prices
    assert "BTC" in prices
    with pytest.raises(NoPriceError, match="DOGE"):
        prices.price("DOGE")
    with pytest.raises(NoPriceError):
        prices.route("DOGE")


def test_market_without_a_book_is_ignored() -> None:
    prices = PriceMap("USDT", markets_of("BTC/USDT"), {})
    assert "BTC" not in prices


def test_crossed_book_is_ignored_and_the_bridge_used_instead() -> None:
    prices = PriceMap(
        "USDT",
        markets_of("X/USDT", "X/BTC", "BTC/USDT"),
        {
            "X/USDT": two_sided("X/USDT", "60", "40"),  # crossed
            "X/BTC": two_sided("X/BTC", "0.00099", "0.00101"),
            "BTC/USDT": two_sided("BTC/USDT", "49990", "50010"),
        },
    )
    assert prices.price("X") == d("50")
    assert prices.route("X").symbols == ("X/BTC", "BTC/USDT")


def test_one_sided_book_is_ignored() -> None:
    prices = PriceMap(
        "USDT",
        markets_of("X/USDT"),
        {"X/USDT": book("X/USDT", bids=[("50", "1")], asks=[])},
    )
    with pytest.raises(NoPriceError):
        prices.price("X")


def test_price_map_is_deterministic_whatever_the_input_order() -> None:
    # X is two hops away through BTC and through ETH, at different prices: the route through the
    # symbol that sorts first (BTC/USDT) wins, however the inputs are ordered.
    books = {
        "X/ETH": two_sided("X/ETH", "0.0199", "0.0201"),  # 0.02 * 2500 = 50
        "ETH/USDT": two_sided("ETH/USDT", "2499", "2501"),
        "X/BTC": two_sided("X/BTC", "0.00103", "0.00105"),  # 0.00104 * 50000 = 52
        "BTC/USDT": two_sided("BTC/USDT", "49990", "50010"),
    }
    forward = PriceMap("USDT", markets_of(*books), books)
    backward = PriceMap(
        "USDT",
        markets_of(*reversed(list(books))),
        dict(reversed(list(books.items()))),
    )
    for prices in (forward, backward):
        assert prices.price("X") == d("52")
        assert prices.route("X").symbols == ("X/BTC", "BTC/USDT")


# ----------------------------------------------------------------------------- valuation


def _prices() -> PriceMap:
    books = {
        "BTC/USDT": two_sided("BTC/USDT", "49990", "50010"),  # 50000
        "ETH/USDT": two_sided("ETH/USDT", "2499", "2501"),  # 2500
        "DOGE/USDT": two_sided("DOGE/USDT", "0.099", "0.101"),  # 0.1
    }
    return PriceMap("USDT", markets_of(*books), books)


def test_weights_drift_and_bands() -> None:
    # BTC 1 * 50000, ETH 10 * 2500 = 25000, USDT 25000 (+5000 reserved): total 100000.
    v = value_portfolio(
        {"BTC": d("1"), "ETH": d("10"), "USDT": d("30000")},
        {"BTC": d("0.4"), "ETH": d("0.3"), "USDT": d("0.3")},
        "USDT",
        BANDS,
        _prices(),
        reserve=d("5000"),
    )
    assert v.total == d("100000")
    assert [p.asset for p in v.positions] == ["BTC", "ETH", "USDT"]
    btc, eth, usdt = v.positions
    assert (btc.value, btc.weight, btc.drift) == (d("50000"), d("0.5"), d("0.1"))
    assert (eth.value, eth.weight, eth.drift) == (d("25000"), d("0.25"), d("-0.05"))
    assert (usdt.balance, usdt.value, usdt.weight) == (d("25000"), d("25000"), d("0.25"))
    assert not btc.in_band  # 0.5 > 0.45
    assert eth.in_band  # 0.25 is exactly the lower edge: inclusive
    assert usdt.in_band
    assert v.out_of_band == (btc,)
    assert v.needs_rebalance
    assert v.reserve == d("5000")
    assert v.position("ETH") is eth
    with pytest.raises(KeyError):
        v.position("SOL")


def test_reserve_larger_than_the_quote_held() -> None:
    v = value_portfolio(
        {"BTC": d("1"), "USDT": d("3000")},
        {"BTC": d("1")},
        "USDT",
        BANDS,
        _prices(),
        reserve=d("5000"),
    )
    assert v.position("USDT").balance == 0
    assert v.reserve == d("3000")
    assert v.total == d("50000")


def test_negative_reserve_is_refused() -> None:
    with pytest.raises(DomainError, match="reserve"):
        value_portfolio({}, {"BTC": d("1")}, "USDT", BANDS, _prices(), reserve=d("-1"))


def test_quote_is_managed_even_without_a_target() -> None:
    v = value_portfolio(
        {"BTC": d("1"), "USDT": d("50000")}, {"BTC": d("1")}, "USDT", BANDS, _prices()
    )
    usdt = v.position("USDT")
    assert usdt.target == 0
    assert usdt.weight == d("0.5")
    assert not usdt.in_band  # absolute band around 0: [0, 0.05]


def test_unmanaged_assets_are_reported_not_counted() -> None:
    v = value_portfolio(
        {"BTC": d("1"), "USDT": d("50000"), "DOGE": d("1000"), "XYZ": d("5"), "ZERO": d("0")},
        {"BTC": d("0.5"), "USDT": d("0.5")},
        "USDT",
        BANDS,
        _prices(),
    )
    assert v.total == d("100000")
    assert dict(v.unmanaged) == {"DOGE": d("100.0"), "XYZ": None}
    assert {p.asset for p in v.positions} == {"BTC", "USDT"}


def test_relative_band_and_per_asset_override() -> None:
    bands = Bands(Band(BandKind.RELATIVE, d("0.2")), {"ETH": Band(BandKind.ABSOLUTE, d("0.1"))})
    # BTC 0.5 vs 0.4 +/- 0.08 -> out; ETH 0.25 vs 0.3 +/- 0.1 -> in; USDT 0.25 vs 0.3 +/- 0.06.
    v = value_portfolio(
        {"BTC": d("1"), "ETH": d("10"), "USDT": d("25000")},
        {"BTC": d("0.4"), "ETH": d("0.3"), "USDT": d("0.3")},
        "USDT",
        bands,
        _prices(),
    )
    assert v.position("BTC").bounds == (d("0.32"), d("0.48"))
    assert not v.position("BTC").in_band
    assert v.position("ETH").bounds == (d("0.2"), d("0.4"))
    assert v.position("ETH").in_band
    assert v.position("USDT").bounds == (d("0.24"), d("0.36"))
    assert v.position("USDT").in_band


def test_managed_asset_without_a_price_raises() -> None:
    with pytest.raises(NoPriceError, match="SOL"):
        value_portfolio({"SOL": d("1")}, {"SOL": d("1")}, "USDT", BANDS, _prices())


def test_empty_portfolio_has_zero_weights() -> None:
    v = value_portfolio({}, {"BTC": d("0.5"), "USDT": d("0.5")}, "USDT", BANDS, _prices())
    assert v.total == 0
    assert all(p.weight == 0 for p in v.positions)


def test_positions_are_ordered_largest_target_first_quote_last() -> None:
    v = value_portfolio(
        {},
        {"USDT": d("0.5"), "ETH": d("0.2"), "BTC": d("0.2"), "DOGE": d("0.1")},
        "USDT",
        BANDS,
        _prices(),
    )
    assert [p.asset for p in v.positions] == ["BTC", "ETH", "DOGE", "USDT"]


def test_position_prices_and_routes_come_from_the_price_map() -> None:
    v = value_portfolio({"ETH": d("2")}, {"ETH": d("1")}, "USDT", BANDS, _prices())
    eth = v.position("ETH")
    assert eth.price == Decimal("2500")
    assert eth.route.symbols == ("ETH/USDT",)


# ------------------------------------------------------------------------ relevant symbols

EXCHANGE = markets_of(
    "BTC/USDT",
    "ETH/USDT",
    "ETH/BTC",
    "DOGE/USDT",
    "X/BTC",
    "Y/ETH",
    "Z/ETH",
    "Z/BTC",
    "W/EUR",
)


def test_relevant_symbols_are_the_markets_between_managed_assets() -> None:
    managed = {"BTC", "ETH", "X", "USDT"}
    assert relevant_symbols(EXCHANGE, managed, "USDT") == {
        "BTC/USDT",
        "ETH/USDT",
        "ETH/BTC",
        "X/BTC",
    }


def test_relevant_symbols_add_one_bridge_for_an_asset_with_no_route() -> None:
    # Y trades only against ETH, which is not managed: Y/ETH and ETH/USDT are both needed.
    assert relevant_symbols(EXCHANGE, {"Y", "USDT"}, "USDT") == {"Y/ETH", "ETH/USDT"}


def test_relevant_symbols_choose_the_bridge_deterministically() -> None:
    # Z trades against BTC and ETH, neither managed: the first symbol in order wins.
    assert relevant_symbols(EXCHANGE, {"Z", "USDT"}, "USDT") == {"Z/BTC", "BTC/USDT"}


def test_relevant_symbols_skip_an_asset_with_no_bridge_to_the_quote() -> None:
    assert relevant_symbols(EXCHANGE, {"W", "USDT"}, "USDT") == set()
