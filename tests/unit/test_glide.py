"""Glide paths (bot.domain.glide): hand-computed effective targets and days at the cap."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.domain.glide import (
    GlideLimits,
    daily_caps,
    glide_path,
    glided,
    traded_by_asset,
)
from bot.domain.market import Side
from bot.domain.orders import FillReport
from bot.domain.portfolio import Band, BandKind, Bands, PriceMap, Valuation, value_portfolio
from bot.errors import DomainError
from bot.settings.models import RebalanceSettings
from tests.unit.strategies import book, d, market

BANDS = Bands(Band(BandKind.ABSOLUTE, d("0.05")), {})
SYMBOLS = ("BTC/USDT", "ETH/BTC")
MARKETS = {s: market(s) for s in SYMBOLS}
BOOKS = {
    "BTC/USDT": book("BTC/USDT", [("49990", "10")], [("50010", "10")]),  # 50000
    "ETH/BTC": book("ETH/BTC", [("0.0499", "10")], [("0.0501", "10")]),  # 0.05 BTC = 2500
}


def valuation(balances: dict[str, str], targets: dict[str, str]) -> Valuation:
    prices = PriceMap("USDT", MARKETS, BOOKS)
    return value_portfolio(
        {a: d(q) for a, q in balances.items()},
        {a: d(w) for a, w in targets.items()},
        "USDT",
        BANDS,
        prices,
    )


# All cash (100000 USDT), the targets now 40 % BTC: a 40 % change.
ALL_CASH = {"USDT": "100000"}
FORTY = {"BTC": "0.4", "USDT": "0.6"}
TEN_PCT = GlideLimits(max_share_per_day=d("0.1"))


def test_a_40pct_change_at_10pct_a_day_takes_4_days() -> None:
    v = valuation(ALL_CASH, FORTY)
    caps, notes = daily_caps(v, TEN_PCT, MARKETS, {})
    assert caps == {"BTC": d("10000")} and notes == ()
    path = glide_path(v, caps, {})
    (btc,) = path.steps
    assert (btc.now, btc.final, btc.effective, btc.days) == (0, d("0.4"), d("0.1"), 4)
    assert path.targets == {"BTC": d("0.1"), "USDT": d("0.9")}
    assert sum(path.targets.values()) == 1
    assert path.gliding and not path.waiting and path.days == 4
    assert path.reason() == "glide path: BTC at 0.00 of 0.40, 4 more days at 10%/day"


def test_what_was_traded_today_counts_against_the_cap() -> None:
    v = valuation(ALL_CASH, FORTY)
    path = glide_path(v, {"BTC": d("10000")}, {"BTC": d("4000")})
    (btc,) = path.steps
    # 6000 left today: 0.06 of 100000; then 34000 at 10000 a day: 4 more windows.
    assert (btc.effective, btc.allowance, btc.days) == (d("0.06"), d("6000"), 5)
    assert path.targets["USDT"] == d("0.94")


def test_the_allowance_spent_means_waiting() -> None:
    # 31 % BTC of a 40 % target, today's 10 % traded: BTC stays where it is, 2 more days.
    v = valuation({"BTC": "0.62", "USDT": "69000"}, FORTY)
    path = glide_path(v, {"BTC": d("10000")}, {"BTC": d("10000")})
    (btc,) = path.steps
    assert (btc.now, btc.effective, btc.days) == (d("0.31"), d("0.31"), 2)
    assert path.waiting
    assert path.reason() == "glide path: BTC at 0.31 of 0.40, 2 more days at 10%/day"


def test_the_volume_cap_binds_when_smaller() -> None:
    v = valuation(ALL_CASH, FORTY)
    limits = GlideLimits(max_share_per_day=d("0.1"), max_volume_share=d("0.1"))
    caps, notes = daily_caps(v, limits, MARKETS, {"BTC/USDT": d("50000")})
    assert caps == {"BTC": d("5000")} and notes == ()  # 10 % of 50000 < 10 % of 100000
    path = glide_path(v, caps, {})
    assert (path.steps[0].effective, path.steps[0].days) == (d("0.05"), 8)


def test_a_bridged_assets_volume_is_valued_in_the_quote() -> None:
    v = valuation(ALL_CASH, {"ETH": "0.5", "USDT": "0.5"})
    limits = GlideLimits(max_volume_share=d("0.5"))
    # ETH/BTC traded 2 BTC in 24 h = 100000 USDT: half of it a day.
    caps, _ = daily_caps(v, limits, MARKETS, {"ETH/BTC": d("2")})
    assert caps == {"ETH": d("50000")}


def test_no_volume_skips_that_cap_and_says_so() -> None:
    v = valuation(ALL_CASH, FORTY)
    limits = GlideLimits(max_share_per_day=d("0.1"), max_volume_share=d("0.1"))
    caps, notes = daily_caps(v, limits, MARKETS, {"BTC/USDT": None})
    assert caps == {"BTC": d("10000")}
    assert notes == ("BTC: no 24 h volume in the tickers; its volume cap skipped",)
    caps, notes = daily_caps(v, GlideLimits(max_volume_share=d("0.1")), MARKETS, {})
    assert caps == {"BTC": None} and len(notes) == 1


def test_no_cap_leaves_the_final_targets() -> None:
    v = valuation(ALL_CASH, FORTY)
    caps, _ = daily_caps(v, GlideLimits(), MARKETS, {})
    path = glide_path(v, caps, {"BTC": d("99999")})
    assert path.targets == {"BTC": d("0.4"), "USDT": d("0.6")}
    assert not path.gliding and path.steps[0].days == 1
    assert glided(v, path).position("BTC").target == d("0.4")


def test_a_cap_that_covers_the_change_leaves_the_final_targets() -> None:
    v = valuation(ALL_CASH, FORTY)
    path = glide_path(v, {"BTC": d("40000")}, {})
    assert path.targets == {"BTC": d("0.4"), "USDT": d("0.6")} and not path.gliding
    assert path.days == 1


def test_a_sell_glides_down_and_the_quote_takes_the_difference() -> None:
    # 1 BTC (50000) and 50000 USDT; BTC's target 10 %: 40 points down at 10 % a day.
    v = valuation({"BTC": "1", "USDT": "50000"}, {"BTC": "0.1", "USDT": "0.9"})
    path = glide_path(v, {"BTC": d("10000")}, {})
    assert path.targets == {"BTC": d("0.4"), "USDT": d("0.6")}
    assert path.steps[0].days == 4
    moved = glided(v, path)
    assert [p.target for p in moved.positions] == [d("0.4"), d("0.6")]
    assert [p.weight for p in moved.positions] == [p.weight for p in v.positions]


def test_a_move_is_rounded_toward_the_weight_now() -> None:
    v = valuation({"USDT": "30000"}, {"BTC": "0.5", "USDT": "0.5"})
    path = glide_path(v, {"BTC": d("10000")}, {})
    effective = path.steps[0].effective
    assert effective * v.total <= d("10000")  # 1/3 rounded down, never up
    assert d("10000") - effective * v.total < d("1e-20")
    assert sum(path.targets.values()) == 1


def test_a_zero_volume_cap_never_finishes() -> None:
    v = valuation(ALL_CASH, FORTY)
    path = glide_path(v, {"BTC": Decimal(0)}, {})
    assert path.steps[0].days is None and path.days is None and path.waiting
    assert "never at this cap" in path.reason()


def test_fills_count_for_both_assets_of_their_market() -> None:
    def fill(symbol: str, amount: str, price: str) -> FillReport:
        return FillReport(
            "t", "o", None, symbol, Side.BUY, d(amount), d(price), d(0), None, None, 0
        )

    prices = PriceMap("USDT", MARKETS, BOOKS)
    fills = [fill("BTC/USDT", "0.1", "50000"), fill("ETH/BTC", "2", "0.05")]
    traded = traded_by_asset(fills, MARKETS, prices)
    # 5000 USDT of BTC; 0.1 BTC of ETH = 5000 USDT, for ETH and for BTC.
    assert traded == {"BTC": d("10000"), "USDT": d("5000"), "ETH": d("5000")}


def test_limits_are_validated() -> None:
    with pytest.raises(DomainError):
        GlideLimits(max_share_per_day=d("0"))
    with pytest.raises(DomainError):
        GlideLimits(max_volume_share=d("1.5"))
    assert not GlideLimits().active
    assert RebalanceSettings().glide() is None
    limits = RebalanceSettings(glide_max_share_per_day=d("0.1")).glide()
    assert limits == GlideLimits(max_share_per_day=d("0.1"))
    for bad in ("0", "1.5", "-0.1"):
        with pytest.raises(ValidationError):
            RebalanceSettings(glide_max_volume_share=d(bad))
        with pytest.raises(ValidationError):
            RebalanceSettings(glide_max_share_per_day=d(bad))
