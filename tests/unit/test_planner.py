"""The planner, one rule per test, on small books whose numbers can be checked by hand.

Books used throughout (mid in brackets): BTC/USDT 49990/50010 (50000), ETH/USDT 2499/2501 (2500),
SOL/USDT 99.9/100.1 (100), X/BTC 0.000999/0.001001 (0.001 BTC = 50 USDT).
"""

from __future__ import annotations

from decimal import Decimal

from bot.domain.market import Market, OrderBook, Side
from bot.domain.planner import (
    Dust,
    Leg,
    Plan,
    PlannerPolicy,
    RebalanceTo,
    plan_rebalance,
)
from bot.domain.portfolio import Band, BandKind, Bands, PriceMap, value_portfolio
from tests.unit.strategies import book, d, market

BANDS = Bands(Band(BandKind.ABSOLUTE, d("0.05")), {})
BAND_EDGE = PlannerPolicy(rebalance_to=RebalanceTo.BAND_EDGE)
NO_DIRECT = PlannerPolicy(direct_pairs=False)


def venue(
    fee: str = "0.001", *, eth_btc: tuple[str, str] | None = None, **min_costs: str
) -> tuple[dict[str, Market], dict[str, OrderBook]]:
    """The standard markets and books; `eth_btc=(bid, ask)` adds a direct ETH/BTC pair."""
    specs = {
        "BTC/USDT": ("0.0001", "0.01", "49990", "50010"),
        "ETH/USDT": ("0.001", "0.01", "2499", "2501"),
        "SOL/USDT": ("0.01", "0.001", "99.9", "100.1"),
        "X/BTC": ("0.01", "0.000001", "0.000999", "0.001001"),
        "DOGE/USDT": ("1", "0.00001", "0.0999", "0.1001"),
    }
    if eth_btc is not None:
        specs["ETH/BTC"] = ("0.001", "0.00001", *eth_btc)
    markets, books = {}, {}
    for symbol, (step, tick, bid, ask) in specs.items():
        min_cost = min_costs.get(symbol.replace("/", "_"), "0")
        markets[symbol] = market(symbol, step, tick, min_cost=min_cost, fee=fee)
        books[symbol] = book(symbol, bids=[(bid, "1000000")], asks=[(ask, "1000000")])
    return markets, books


def plan(
    balances: dict[str, str],
    targets: dict[str, str],
    policy: PlannerPolicy | None = None,
    *,
    reserve: str = "0",
    bands: Bands = BANDS,
    venue_: tuple[dict[str, Market], dict[str, OrderBook]] | None = None,
) -> Plan:
    markets, books = venue_ or venue()
    valuation = value_portfolio(
        {a: d(q) for a, q in balances.items()},
        {a: d(t) for a, t in targets.items()},
        "USDT",
        bands,
        PriceMap("USDT", markets, books),
        reserve=d(reserve),
    )
    return plan_rebalance(valuation, markets, books, policy)


def summary(p: Plan) -> list[tuple[str, Side, Decimal]]:
    return [(leg.symbol, leg.side, leg.amount) for leg in p.legs]


# ------------------------------------------------------------------------------ nothing to do


def test_nothing_is_planned_when_every_asset_is_in_band() -> None:
    # BTC 0.44 vs 0.4, ETH 0.27 vs 0.3, USDT 0.29 vs 0.3: all within +/- 0.05.
    p = plan(
        {"BTC": "0.88", "ETH": "10.8", "USDT": "29000"},
        {"BTC": "0.4", "ETH": "0.3", "USDT": "0.3"},
    )
    assert p.legs == ()
    assert p.dust == ()
    assert p.est_cost == 0
    assert p.turnover == 0
    assert p.est_cost_bps == 0
    assert p.projected_weights == {"BTC": d("0.44"), "ETH": d("0.27"), "USDT": d("0.29")}


def test_nothing_is_planned_for_an_empty_portfolio() -> None:
    p = plan({}, {"BTC": "0.5", "USDT": "0.5"})
    assert p.legs == ()
    assert p.notes == ("portfolio has no value",)


# ---------------------------------------------------------------------- sells first, no overspend


def test_sells_go_before_buys_and_buys_never_spend_more_than_the_sells_bring() -> None:
    # BTC 1.2 * 50000 = 60000 (0.6), ETH 16 * 2500 = 40000 (0.4); targets 0.5 / 0.5.
    p = plan({"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"})
    sell, buy = p.legs
    # Sell 10000 of BTC: 0.2 BTC at the bid 49990 -> 9998 USDT, 9988.002 after the 0.1 % fee.
    assert (sell.symbol, sell.side, sell.amount, sell.price) == (
        "BTC/USDT",
        Side.SELL,
        d("0.2"),
        d("49990"),
    )
    assert (sell.spends, sell.receives) == ("BTC", "USDT")
    assert sell.notional == d("9998")
    assert sell.value == d("10000")
    # Buying 4 ETH at the ask with the fee would need 4 * 2501 * 1.001 = 10014.004 > 9988.002:
    # the budget buys 9988.002 / (2501 * 1.001) = 3.9896.. ETH, 3.989 on the 0.001 grid
    # (3.989 * 2501 * 1.001 = 9986.465489; 3.990 would cost 9988.968990).
    assert (buy.symbol, buy.side, buy.amount, buy.price) == (
        "ETH/USDT",
        Side.BUY,
        d("3.989"),
        d("2501"),
    )
    assert (buy.spends, buy.receives) == ("USDT", "ETH")
    assert buy.notional * d("1.001") == d("9986.465489")
    assert buy.notional * d("1.001") <= sell.notional * d("0.999")


def test_leg_cost_estimates() -> None:
    p = plan({"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"})
    sell, buy = p.legs
    # BTC/USDT: half spread 10 / 50000 = 2 bps + 10 bps fee; ETH/USDT: 1 / 2500 = 4 bps + 10.
    assert sell.est_cost_bps == d("12")
    assert sell.est_cost == d("12")  # 10000 * 0.0012
    assert buy.est_cost_bps == d("14")
    assert buy.value == d("9972.5")  # 3.989 * 2500
    assert buy.est_cost == d("13.9615")
    # Taking 0.2 BTC at the touch of a deep book: 2 bps of impact + 10 bps of fee.
    assert sell.take_now_bps == d("12")
    assert p.est_cost == d("25.9615")
    assert p.turnover == d("19972.5")


def test_projected_weights_follow_the_legs() -> None:
    p = plan({"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"})
    # After: BTC 1.0 (50000), ETH 16 + 3.989 * 0.999 = 19.985011 (49962.5275),
    # USDT 9988.002 - 9986.465489 = 1.536511.
    total = d("50000") + d("49962.5275") + d("1.536511")
    assert p.projected_weights["BTC"] == d("50000") / total
    assert p.projected_weights["ETH"] == d("49962.5275") / total
    assert p.projected_weights["USDT"] == d("1.536511") / total


def test_a_leg_spending_an_asset_comes_after_every_leg_delivering_it() -> None:
    # Two sells fund a buy; the bigger sell goes first.
    p = plan(
        {"BTC": "1", "ETH": "13.6", "SOL": "160"},
        {"BTC": "0.4", "ETH": "0.3", "SOL": "0.3"},
    )
    assert [(leg.symbol, leg.side) for leg in p.legs] == [
        ("BTC/USDT", Side.SELL),
        ("ETH/USDT", Side.SELL),
        ("SOL/USDT", Side.BUY),
    ]


# ---------------------------------------------------------------------------- steps and dust


def test_amounts_are_rounded_down_to_the_step() -> None:
    # SOL 100 * 100 = 10000, target 0.4533: sell 5467 of value = 54.67 SOL -> 54.6 on a 0.1 grid
    # (down, not to the nearest).
    markets, books = venue()
    markets["SOL/USDT"] = market("SOL/USDT", "0.1", "0.001", fee="0.001")
    p = plan(
        {"SOL": "100"},
        {"SOL": "0.4533", "USDT": "0.5467"},
        venue_=(markets, books),
    )
    assert summary(p) == [("SOL/USDT", Side.SELL, d("54.6"))]


def test_a_leg_below_the_market_minimum_is_dust_and_skipped() -> None:
    # A 100 USDT portfolio: SOL 0.6 vs 0.5 needs a 10 USDT sell = 0.1 SOL, but at the bid 99.9 the
    # notional is 9.99 < the 10 USDT minimum.
    p = plan(
        {"SOL": "0.6", "USDT": "40"},
        {"SOL": "0.5", "USDT": "0.5"},
        venue_=venue(SOL_USDT="10"),
    )
    assert p.legs == ()
    (dust,) = p.dust
    assert isinstance(dust, Dust)
    assert (dust.symbol, dust.side, dust.amount, dust.value) == (
        "SOL/USDT",
        Side.SELL,
        d("0.10"),
        d("10.0"),
    )
    assert "below the minimum 10 USDT" in dust.reason
    assert p.projected_weights == {"SOL": d("0.6"), "USDT": d("0.4")}


def test_dust_on_one_leg_does_not_stop_the_others() -> None:
    # 100000 USDT: BTC 0.6 -> 0.5 sells 0.2 BTC for 9998 (9988.002 after the fee). SOL wants
    # 9950 (99.5 SOL) and ETH 50 (0.02 ETH); at the ask with the fee they need 9969.90995 and
    # 50.07002, more than there is, so both are scaled by 9988.002 / 10019.97997 = 0.99680..:
    # 99.18 SOL, and 0.0199.. -> 0.019 ETH, a 47.519 USDT notional below ETH/USDT's 100 minimum.
    p = plan(
        {"BTC": "1.2", "ETH": "4", "SOL": "300"},
        {"BTC": "0.5", "ETH": "0.1005", "SOL": "0.3995"},
        venue_=venue(ETH_USDT="100"),
    )
    assert summary(p) == [
        ("BTC/USDT", Side.SELL, d("0.2")),
        ("SOL/USDT", Side.BUY, d("99.18")),
    ]
    (dust,) = p.dust
    assert (dust.symbol, dust.side, dust.amount) == ("ETH/USDT", Side.BUY, d("0.019"))
    assert "notional 47.51900000 is below the minimum 100 USDT" in dust.reason


# ------------------------------------------------------------------------------------ reserve


def test_quote_reserve_is_kept() -> None:
    # 15000 USDT held, 10000 reserved: 5000 may buy BTC (target 100 %).
    # 5000 / (50010 * 1.001) = 0.09988.. -> 0.0998 BTC for 4995.988998 USDT with the fee.
    p = plan({"USDT": "15000"}, {"BTC": "1"}, reserve="10000")
    (buy,) = p.legs
    assert (buy.symbol, buy.side, buy.amount) == ("BTC/USDT", Side.BUY, d("0.0998"))
    assert buy.notional * d("1.001") == d("4995.988998")
    assert d("15000") - buy.notional * d("1.001") >= d("10000")
    assert p.valuation.reserve == d("10000")


def test_reserve_larger_than_the_quote_means_no_buy() -> None:
    p = plan({"USDT": "5000"}, {"BTC": "1"}, reserve="10000")
    assert p.legs == ()
    assert p.notes == ("portfolio has no value",)


def test_unmanaged_assets_are_never_traded() -> None:
    # DOGE is held and has a market but no target: BTC is bought with USDT only.
    p = plan({"USDT": "10000", "DOGE": "1000000"}, {"BTC": "0.5", "USDT": "0.5"})
    assert [leg.symbol for leg in p.legs] == ["BTC/USDT"]
    assert dict(p.valuation.unmanaged) == {"DOGE": d("100000")}
    assert "DOGE" not in p.projected_weights


# ------------------------------------------------------------------------------- direct pairs


def test_direct_pair_is_used_when_cheaper_than_two_hops() -> None:
    # ETH/BTC 0.04999/0.05001: 2 bps half spread + 10 bps fee = 12 bps, against 12 (BTC/USDT)
    # + 14 (ETH/USDT) through the quote: BTC buys the 4 missing ETH directly.
    venue_ = venue(eth_btc=("0.04999", "0.05001"))
    p = plan({"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"}, venue_=venue_)
    (leg,) = p.legs
    assert (leg.symbol, leg.side, leg.amount, leg.price) == (
        "ETH/BTC",
        Side.BUY,
        d("4.000"),
        d("0.05001"),
    )
    assert (leg.spends, leg.receives) == ("BTC", "ETH")
    assert leg.notional == d("0.20004")
    assert leg.value == d("10000")
    assert leg.est_cost_bps == d("12")
    assert p.est_cost == d("12")

    via_quote = plan(
        {"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"}, NO_DIRECT, venue_=venue_
    )
    assert summary(via_quote) == [
        ("BTC/USDT", Side.SELL, d("0.2")),
        ("ETH/USDT", Side.BUY, d("3.989")),
    ]
    assert via_quote.est_cost == d("25.9615")
    assert p.est_cost < via_quote.est_cost


def test_direct_pair_is_not_used_when_dearer_than_two_hops() -> None:
    # ETH/BTC 0.0495/0.0505: 100 bps half spread + 10 bps fee > 26 bps through the quote.
    venue_ = venue(eth_btc=("0.0495", "0.0505"))
    p = plan({"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"}, venue_=venue_)
    assert summary(p) == [
        ("BTC/USDT", Side.SELL, d("0.2")),
        ("ETH/USDT", Side.BUY, d("3.989")),
    ]


def test_direct_pair_is_not_used_for_a_flow_below_its_minimum_order() -> None:
    # The cheap ETH/BTC pair refuses orders under 1 BTC (50000 USDT); the 10000 flow goes through
    # USDT, where it passes, instead of becoming dust on the pair.
    venue_ = venue(eth_btc=("0.04999", "0.05001"), ETH_BTC="1")
    p = plan({"BTC": "1.2", "ETH": "16"}, {"BTC": "0.5", "ETH": "0.5"}, venue_=venue_)
    assert p.dust == ()
    assert summary(p) == [
        ("BTC/USDT", Side.SELL, d("0.2")),
        ("ETH/USDT", Side.BUY, d("3.989")),
    ]


def test_direct_pair_carries_only_the_overlap_of_seller_and_buyer() -> None:
    # BTC 0.6 must shed 10000; ETH 0.3 wants 5000 and SOL 0.1 wants 5000 (targets .5/.35/.15):
    # 5000 goes BTC -> ETH directly, the other 5000 through USDT to SOL.
    venue_ = venue("0", eth_btc=("0.04999", "0.05001"))
    p = plan(
        {"BTC": "1.2", "ETH": "12", "SOL": "100"},
        {"BTC": "0.5", "ETH": "0.35", "SOL": "0.15"},
        venue_=venue_,
    )
    # Both BTC legs spend BTC and move 5000: ties go by symbol. The SOL buy waits for the USDT.
    assert [(leg.symbol, leg.side) for leg in p.legs] == [
        ("BTC/USDT", Side.SELL),
        ("ETH/BTC", Side.BUY),
        ("SOL/USDT", Side.BUY),
    ]
    btc_usdt, eth_btc, sol = p.legs
    assert eth_btc.amount == d("2.000")  # 5000 / 2500
    assert btc_usdt.amount == d("0.1")  # 5000 / 50000
    # 0.1 * 49990 = 4999 USDT buys 4999 / 100.1 = 49.94.. SOL -> 49.94.
    assert sol.amount == d("49.94")


def test_several_cheap_direct_pairs_never_make_the_plan_dearer() -> None:
    """Greedy matching alone would cost 0.0162 here; the planner keeps the cheaper plan."""
    # Every price is 1. Cost (half spread + fee): BTC/USDT 7.5 bps, ETH/USDT 7, SOL/USDT 9,
    # LINK/USDT 8.5; the cross pairs LINK/ETH, LINK/SOL and SOL/BTC 0.5 each.
    # Total 80: LINK +6.4, BTC +15.2, ETH -7.2, SOL -7.2, USDT -7.2.
    # Greedy: LINK/SOL (saving 15) first takes SOL -> LINK 6.4; then SOL/BTC carries only 0.8
    # and ETH 7.2 out / BTC 14.4 in go through USDT: cost 0.0162.
    # With direct_pairs=False the routes (SOL via SOL/BTC, LINK via LINK/ETH) net on BTC/USDT and
    # ETH/USDT: SOL/BTC 7.2, LINK/ETH 6.4, ETH/USDT 0.8, BTC/USDT 8.0: cost 0.00724.
    specs = {
        "BTC/USDT": ("0.0007", "0.99995", "1.00005"),
        "ETH/USDT": ("0.0006", "0.9999", "1.0001"),
        "SOL/USDT": ("0.0008", "0.9999", "1.0001"),
        "LINK/USDT": ("0.0005", "0.99965", "1.00035"),
        "LINK/ETH": ("0", "0.99995", "1.00005"),
        "LINK/SOL": ("0", "0.99995", "1.00005"),
        "SOL/BTC": ("0", "0.99995", "1.00005"),
    }
    markets = {s: market(s, "0.1", "0.000001", fee=f) for s, (f, _, _) in specs.items()}
    books = {s: book(s, bids=[(b, "100")], asks=[(a, "100")]) for s, (_, b, a) in specs.items()}
    balances = {"ETH": "20", "SOL": "20", "LINK": "20", "USDT": "20"}
    targets = {"BTC": "0.19", "ETH": "0.16", "SOL": "0.16", "LINK": "0.33", "USDT": "0.16"}
    direct = plan(balances, targets, venue_=(markets, books))
    via_quote = plan(balances, targets, NO_DIRECT, venue_=(markets, books))
    assert via_quote.est_cost == d("0.00724")
    assert direct.est_cost <= via_quote.est_cost


# ------------------------------------------------------------------------------------ bridges


def test_bridged_asset_is_bought_through_the_bridge() -> None:
    # X trades only against BTC. X 0 vs 0.1 of 100000: buy BTC for 10000 then X with that BTC.
    p = plan(
        {"BTC": "1", "USDT": "50000"},
        {"X": "0.1", "BTC": "0.5", "USDT": "0.4"},
    )
    assert summary(p) == [
        ("BTC/USDT", Side.BUY, d("0.2")),  # 10000 / 50000
        ("X/BTC", Side.BUY, d("200")),  # 10000 / 50
    ]
    btc, x = p.legs
    assert (btc.spends, btc.receives, x.spends, x.receives) == ("USDT", "BTC", "BTC", "X")
    assert p.valuation.position("X").route.symbols == ("X/BTC", "BTC/USDT")


def test_bridged_asset_is_sold_through_the_bridge() -> None:
    # X 400 * 50 = 20000 (0.2) vs 0.1: sell 200 X for BTC, then 0.2 BTC for USDT.
    p = plan(
        {"X": "400", "BTC": "1", "USDT": "30000"},
        {"X": "0.1", "BTC": "0.5", "USDT": "0.4"},
    )
    assert summary(p) == [
        ("X/BTC", Side.SELL, d("200")),
        ("BTC/USDT", Side.SELL, d("0.2")),
    ]


def test_an_unmanaged_bridge_only_spends_what_the_plan_delivered_to_it() -> None:
    # BTC is held (1) but not managed. Selling 100 X at 0.000999 brings
    # 0.0999 * 0.999 = 0.0998001 BTC; only that may be sold: 0.0998 on the grid, not 0.1.
    p = plan(
        {"X": "200", "BTC": "1", "USDT": "40000"},
        {"X": "0.1", "USDT": "0.9"},
    )
    assert summary(p) == [
        ("X/BTC", Side.SELL, d("100")),
        ("BTC/USDT", Side.SELL, d("0.0998")),
    ]
    assert dict(p.valuation.unmanaged) == {"BTC": d("50000")}


def test_flows_on_one_market_are_netted_into_one_leg() -> None:
    # X (bridged) sells 10000 of value through BTC/USDT while BTC itself wants 6000 more:
    # BTC/USDT carries one net sell of 4000 (0.08 BTC), not a sell of 10000 and a buy of 6000.
    for policy in (NO_DIRECT, None):
        p = plan(
            {"X": "400", "BTC": "0.88", "USDT": "36000"},
            {"X": "0.1", "BTC": "0.5", "USDT": "0.4"},
            policy,
        )
        assert summary(p) == [
            ("X/BTC", Side.SELL, d("200")),
            ("BTC/USDT", Side.SELL, d("0.08")),
        ]


# ---------------------------------------------------------------------------------- band edge


def test_band_edge_moves_out_of_band_assets_just_inside_the_edge() -> None:
    # No fees. BTC 0.5 (band 0.35-0.45), ETH 0.26 (in), SOL 0.24 (band 0.25-0.35).
    # Edge margin is a quarter of the 0.05 half width: BTC to 0.4375 (sell 6250 = 0.125 BTC),
    # SOL to 0.2625 (buy 2250 = 22.5 SOL); ETH stays; USDT ends at 0.04, inside [0, 0.05].
    balances = {"BTC": "1", "ETH": "10.4", "SOL": "240"}
    targets = {"BTC": "0.4", "ETH": "0.3", "SOL": "0.3"}
    p = plan(balances, targets, BAND_EDGE, venue_=venue("0"))
    assert summary(p) == [
        ("BTC/USDT", Side.SELL, d("0.125")),
        ("SOL/USDT", Side.BUY, d("22.50")),
    ]
    assert p.notes == ()
    # The same portfolio rebalanced to target trades all three (the bigger buy first).
    to_target = plan(balances, targets, venue_=venue("0"))
    assert [leg.symbol for leg in to_target.legs] == ["BTC/USDT", "SOL/USDT", "ETH/USDT"]
    assert to_target.legs[0].amount == d("0.2")


def test_band_edge_falls_back_to_target_when_the_quote_cannot_absorb() -> None:
    # BTC 0.5 -> 0.4375 frees 6250; SOL 0.16 -> 0.2625 needs 10250: USDT would end at -0.04.
    # So everything goes to target: sell 0.2 BTC and 1.6 ETH (in band, but above target).
    p = plan(
        {"BTC": "1", "ETH": "13.6", "SOL": "160"},
        {"BTC": "0.4", "ETH": "0.3", "SOL": "0.3"},
        BAND_EDGE,
        venue_=venue("0"),
    )
    assert p.notes == (
        "band_edge: USDT would leave its band (-4.00%); rebalancing to target instead",
    )
    # Proceeds 0.2 * 49990 + 1.6 * 2499 = 13996.4 buy 13996.4 / 100.1 = 139.82.. SOL.
    assert summary(p) == [
        ("BTC/USDT", Side.SELL, d("0.2")),
        ("ETH/USDT", Side.SELL, d("1.6")),
        ("SOL/USDT", Side.BUY, d("139.82")),
    ]


def test_band_edge_with_relative_bands() -> None:
    # BTC 0.5 vs 0.4 with a relative band of 0.2: half width 0.08, edge 0.48, aim 0.48 - 0.02 =
    # 0.46: sell 4000 of value = 0.08 BTC. USDT 0.5 -> 0.54, inside 0.6 +/- 0.12.
    bands = Bands(Band(BandKind.RELATIVE, d("0.2")), {})
    p = plan(
        {"BTC": "1", "USDT": "50000"},
        {"BTC": "0.4", "USDT": "0.6"},
        BAND_EDGE,
        bands=bands,
        venue_=venue("0"),
    )
    assert summary(p) == [("BTC/USDT", Side.SELL, d("0.08"))]


# -------------------------------------------------------------------------------- determinism


def test_same_inputs_give_the_same_plan_whatever_the_mapping_order() -> None:
    balances = {"BTC": d("1.2"), "ETH": d("12"), "SOL": d("50"), "X": d("100"), "USDT": d("100")}
    targets = {"BTC": d("0.3"), "ETH": d("0.3"), "SOL": d("0.2"), "X": d("0.1"), "USDT": d("0.1")}

    def run(reverse: bool) -> Plan:
        markets, books = venue(eth_btc=("0.04999", "0.05001"))

        def order(m: dict[str, object]) -> dict[str, object]:
            return dict(reversed(list(m.items()))) if reverse else dict(m)

        m = order(markets)  # type: ignore[arg-type]
        b = order(books)  # type: ignore[arg-type]
        valuation = value_portfolio(
            order(balances),  # type: ignore[arg-type]
            order(targets),  # type: ignore[arg-type]
            "USDT",
            BANDS,
            PriceMap("USDT", m, b),  # type: ignore[arg-type]
        )
        return plan_rebalance(valuation, m, b)  # type: ignore[arg-type]

    first, again, reordered = run(False), run(False), run(True)
    assert first.legs
    assert first.legs == again.legs == reordered.legs
    assert first.dust == again.dust == reordered.dust
    assert first.projected_weights == reordered.projected_weights
    assert all(isinstance(leg, Leg) for leg in first.legs)
