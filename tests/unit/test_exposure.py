"""Exposure targets (bot.domain.exposure): valuing net exposure, splitting a change between spot
and the perpetual, the leverage cap, and perpetual orders that never flip a position by accident.

`fill` replays perpetual orders on a symbol's positions, contract by contract, and refuses what an
exchange would do differently from the plan's intent: a reduce-only order larger than its position
or one that would cross zero."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.exposure import (
    Allocation,
    Carrier,
    ExposurePolicy,
    PerpOrder,
    allocate,
    perp_orders,
    spot_targets,
    value_exposures,
)
from bot.domain.market import Market, Side
from bot.domain.positions import (
    FundingRate,
    FuturesAccount,
    Position,
    PositionMode,
    PositionSide,
)
from bot.errors import DomainError, NoPriceError
from tests.unit.strategies import PROPERTY_SETTINGS, d

ZERO = Decimal(0)
SYM = "BTC/USDT:USDT"
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def perp_market(step: str = "0.001", min_amount: str = "0", min_cost: str = "0") -> Market:
    return Market(
        SYM, "BTC", "USDT", d(step), d("0.1"), min_amount=d(min_amount), min_cost=d(min_cost)
    )


def pos(side: PositionSide, contracts: str, mark: str = "50000", hedged: bool = False) -> Position:
    return Position(SYM, "BTC", side, d(contracts), d(1), d(mark), d(mark), hedged=hedged)


def account(equity: str) -> FuturesAccount:
    return FuturesAccount("USDT", d(equity), d(equity), d(equity))


def rate(per_8h: str, mark: str = "50000") -> dict[str, FundingRate]:
    return {SYM: FundingRate(SYM, d(per_8h), d(mark))}


def fill(positions: list[Position], orders: list[PerpOrder]) -> list[Decimal]:
    """The signed net contracts after each order; asserts reduce-only orders never exceed their
    position or cross zero, and one-way opening orders never cross zero either."""
    longs = sum((p.contracts for p in positions if p.side is LONG), ZERO)
    shorts = sum((p.contracts for p in positions if p.side is SHORT), ZERO)
    path = []
    for o in orders:
        assert o.amount > 0
        if o.position_side is None:  # one-way
            net = longs - shorts
            after = net + o.signed
            if o.reduce_only:
                assert abs(after) <= abs(net) and after * net >= 0, (o, net)
            else:
                assert net == 0 or after * net > 0 or net * o.signed > 0, ("flip", o, net)
            longs, shorts = max(after, ZERO), max(-after, ZERO)
        elif o.position_side is LONG:
            after = longs + o.signed
            assert after >= 0 and (not o.reduce_only or after <= longs), (o, longs)
            longs = after
        else:
            after = shorts - o.signed
            assert after >= 0 and (not o.reduce_only or after <= shorts), (o, shorts)
            shorts = after
        path.append(longs - shorts)
    return path


# ---------------------------------------------------------------------------------------------
# Policy and valuation


def test_a_perp_carrier_needs_a_symbol_and_limits_are_checked() -> None:
    with pytest.raises(DomainError, match="BTC: carried by perp but has no perpetual symbol"):
        ExposurePolicy({"BTC": Carrier.PERP})
    with pytest.raises(DomainError, match="max_leverage must be >= 1"):
        ExposurePolicy(max_leverage=d("0.5"))
    with pytest.raises(DomainError, match="carry_rate"):
        ExposurePolicy(carry_rate=d(2))
    assert ExposurePolicy().carrier("ETH") is Carrier.SPOT


def test_value_exposures_by_hand() -> None:
    # 5000 USDT + 3000 of BTC spot; a 0.1 BTC long at 50000 (5000); futures equity 2000.
    view = value_exposures(
        {"USDT": d(5000), "BTC": d(3000)}, [pos(LONG, "0.1")], account("2000"), "USDT"
    )
    btc = view.asset("BTC")
    assert (btc.spot, btc.perp, btc.net, btc.perp_base) == (3000, 5000, 8000, d("0.1"))
    assert view.equity == 10000 and btc.weight == d("0.8")
    assert view.gross == 8000 and view.leverage == d("0.8")
    assert view.futures_leverage == d("2.5")  # 5000 / 2000


def test_value_exposures_refuses_what_it_cannot_value() -> None:
    with pytest.raises(DomainError, match="without a futures account"):
        value_exposures({"USDT": d(1)}, [pos(LONG, "1")], None, "USDT")
    with pytest.raises(DomainError, match="spot values must be >= 0"):
        value_exposures({"USDT": d(-1)}, [], None, "USDT")


# ---------------------------------------------------------------------------------------------
# allocate

BOTH = ExposurePolicy({"BTC": Carrier.BOTH}, {"BTC": SYM}, carry_rate=d("0.05"))
PERP = ExposurePolicy({"BTC": Carrier.PERP}, {"BTC": SYM})


def cash_view(spot_cash: str = "10000", futures: str = "10000", btc_spot: str = "0"):  # type: ignore[no-untyped-def]
    return value_exposures({"USDT": d(spot_cash), "BTC": d(btc_spot)}, [], account(futures), "USDT")


def test_spot_only_moves_spot_and_closes_a_perp() -> None:
    view = value_exposures(
        {"USDT": d(8000), "BTC": d(2000)}, [pos(LONG, "0.02")], account("1000"), "USDT"
    )  # equity 11000, BTC net 3000
    a = allocate(view, {"BTC": d("0.5")}, ExposurePolicy(), {})
    btc = a.asset("BTC")
    assert (btc.spot, btc.perp) == (5500, 0)
    assert a.cash == 10000 - 5500


def test_perp_only_leaves_spot_alone() -> None:
    view = cash_view(btc_spot="2000")  # equity 22000
    a = allocate(view, {"BTC": d("0.5")}, PERP, rate("0.0001"))
    btc = a.asset("BTC")
    assert (btc.spot, btc.perp, btc.perp_base) == (2000, 9000, d("0.18"))
    assert a.perp_bases() == {SYM: d("0.18")}


def test_both_goes_to_the_perp_when_funding_is_cheaper_than_the_carry() -> None:
    # 0.00001 per 8 h = 1.095 % a year < 5 %: the perp; 0.0001 per 8 h = 10.95 % > 5 %: spot.
    cheap = allocate(cash_view(), {"BTC": d("0.2")}, BOTH, rate("0.00001")).asset("BTC")
    dear = allocate(cash_view(), {"BTC": d("0.2")}, BOTH, rate("0.0001")).asset("BTC")
    assert (cheap.spot, cheap.perp) == (0, 4000)
    assert (dear.spot, dear.perp) == (4000, 0)
    unknown = allocate(cash_view(), {"BTC": d("0.2")}, BOTH, {}).asset("BTC")
    assert (unknown.spot, unknown.perp) == (4000, 0)


def test_reducing_cuts_the_costlier_instrument_first_and_shorts_only_by_perp() -> None:
    # 3000 spot and 0.06 BTC long perp (3000); equity 20000, net 6000 -> target 0.1 (2000).
    view = value_exposures(
        {"USDT": d(7000), "BTC": d(3000)}, [pos(LONG, "0.06")], account("10000"), "USDT"
    )
    dear = allocate(view, {"BTC": d("0.1")}, BOTH, rate("0.0001")).asset("BTC")
    assert (dear.spot, dear.perp) == (2000, 0)  # funding 10.95 % > 5 %: the perp goes first
    cheap = allocate(view, {"BTC": d("0.1")}, BOTH, rate("0.00001")).asset("BTC")
    assert (cheap.spot, cheap.perp) == (0, 2000)  # spot goes first
    short = allocate(view, {"BTC": d("-0.1")}, BOTH, rate("0.00001")).asset("BTC")
    assert (short.spot, short.perp) == (0, -2000)  # spot to zero, the rest a short
    with pytest.raises(DomainError, match="short target"):
        allocate(view, {"BTC": d("-0.1")}, ExposurePolicy(), {})


def test_an_increase_first_covers_a_short_perp() -> None:
    view = value_exposures(
        {"USDT": d(10000)}, [pos(SHORT, "0.04")], account("10000"), "USDT"
    )  # net -2000 of 20000
    a = allocate(view, {"BTC": d("0.1")}, BOTH, rate("0.0001")).asset("BTC")
    assert (a.spot, a.perp) == (2000, 0)  # the short covered, then spot (funding dearer)


def test_the_leverage_cap_clips_perp_increases_and_says_so() -> None:
    # equity 20000; BTC 2.0 by perp wants 40000 of notional: gross cap 3 x 20000 = 60000, but
    # the futures account's own cap is 3 x 10000 = 30000: clipped there.
    a = allocate(cash_view(), {"BTC": d("2")}, PERP, rate("0.0001"))
    btc = a.asset("BTC")
    assert btc.perp == 30000
    (clip,) = a.clipped
    assert (clip.asset, clip.wanted, clip.allowed) == ("BTC", 40000, 30000)
    assert "leverage cap 3" in clip.why
    tight = ExposurePolicy({"BTC": Carrier.PERP}, {"BTC": SYM}, max_leverage=d("1.2"))
    a = allocate(cash_view(), {"BTC": d("2")}, tight, rate("0.0001"))
    # 1.2 x 10000 of futures equity (with one cap for both, the account's is the tighter: gross
    # = spot + perps <= spot total + cap x futures equity <= cap x equity when cap >= 1).
    assert a.asset("BTC").perp == 12000 and a.leverage == d("0.6")


def test_spot_buys_are_limited_to_the_spot_cash() -> None:
    view = cash_view(spot_cash="1000", futures="9000")
    a = allocate(view, {"BTC": d("0.5")}, ExposurePolicy(), {})
    assert a.asset("BTC").spot == 1000 and a.cash == 0
    assert a.clipped[0].why == "spot buys limited to the spot cash"


def test_a_perp_with_no_mark_cannot_be_sized() -> None:
    with pytest.raises(NoPriceError, match="no mark price"):
        allocate(cash_view(), {"BTC": d("0.2")}, PERP, {})


def test_spot_targets_are_weights_of_the_spot_total() -> None:
    view = value_exposures(
        {"USDT": d(6000), "BTC": d(4000)}, [pos(LONG, "0.1")], account("10000"), "USDT"
    )
    a = allocate(view, {"BTC": d("0.3")}, BOTH, rate("0.00001"))
    # equity 20000; net 9000 -> 6000: spot first (funding cheaper): spot 1000, perp 5000.
    assert (a.asset("BTC").spot, a.asset("BTC").perp) == (1000, 5000)
    assert spot_targets(a, view.spot_total) == {"BTC": d("0.1"), "USDT": d("0.9")}


@st.composite
def books(draw: st.DrawFn) -> tuple[Allocation, Decimal, Decimal, Decimal]:
    cash = Decimal(draw(st.integers(0, 10**6)))
    futures = Decimal(draw(st.integers(1, 10**6)))
    spot = Decimal(draw(st.integers(0, 10**6)))
    contracts = Decimal(draw(st.integers(0, 10**5))) / 1000
    side = draw(st.sampled_from([LONG, SHORT]))
    cap = Decimal(draw(st.integers(10, 50))) / 10
    target = Decimal(draw(st.integers(-300, 300))) / 100
    carrier = draw(st.sampled_from([Carrier.PERP, Carrier.BOTH]))
    policy = ExposurePolicy({"BTC": carrier}, {"BTC": SYM}, max_leverage=cap)
    positions = [pos(side, str(contracts), "30000")] if contracts else []
    view = value_exposures({"USDT": cash, "BTC": spot}, positions, account(str(futures)), "USDT")
    funding = rate(str(Decimal(draw(st.integers(-50, 50))) / 100000), "30000")
    a = allocate(view, {"BTC": target}, policy, funding)
    return a, cap, view.asset("BTC").perp, futures


@PROPERTY_SETTINGS
@given(books())
def test_allocate_meets_the_target_or_clips_and_never_passes_the_caps(
    case: tuple[Allocation, Decimal, Decimal, Decimal],
) -> None:
    a, cap, perp_now, futures = case
    btc = a.asset("BTC")
    assert btc.spot >= 0 and a.cash >= 0
    if not a.clipped:  # unclipped, the net exposure is the target exactly
        assert btc.spot + btc.perp == btc.target * a.equity
    if abs(btc.perp) > abs(perp_now):  # it grew: then it fits both caps
        assert a.leverage <= cap
        assert abs(btc.perp) <= cap * futures


# ---------------------------------------------------------------------------------------------
# perp_orders


def test_one_way_shrinking_is_one_reduce_only_order() -> None:
    orders = perp_orders([pos(LONG, "0.5")], d("0.2"), PositionMode.ONE_WAY, perp_market())
    assert orders == [PerpOrder(SYM, Side.SELL, d("0.3"), True)]


def test_one_way_growing_is_a_plain_order_rounded_down() -> None:
    orders = perp_orders([pos(SHORT, "0.5")], d("-0.70049"), PositionMode.ONE_WAY, perp_market())
    assert orders == [PerpOrder(SYM, Side.SELL, d("0.200"), False)]


def test_one_way_crossing_zero_closes_then_opens() -> None:
    orders = perp_orders([pos(LONG, "0.5")], d("-0.3"), PositionMode.ONE_WAY, perp_market())
    assert orders == [
        PerpOrder(SYM, Side.SELL, d("0.5"), True),
        PerpOrder(SYM, Side.SELL, d("0.3"), False),
    ]
    assert fill([pos(LONG, "0.5")], orders) == [0, d("-0.3")]


def test_hedge_mode_closes_the_opposite_side_first() -> None:
    held = [pos(LONG, "0.4", hedged=True), pos(SHORT, "0.1", hedged=True)]
    orders = perp_orders(held, d("-0.25"), PositionMode.HEDGE, perp_market())
    assert orders == [
        PerpOrder(SYM, Side.SELL, d("0.4"), True, LONG),
        PerpOrder(SYM, Side.SELL, d("0.15"), False, SHORT),
    ]
    orders = perp_orders(held, d("0.2"), PositionMode.HEDGE, perp_market())
    assert orders == [
        PerpOrder(SYM, Side.BUY, d("0.1"), True, SHORT),
        PerpOrder(SYM, Side.SELL, d("0.2"), True, LONG),
    ]


def test_an_opening_order_below_the_minimum_is_dropped_a_reduce_only_one_is_not() -> None:
    m = perp_market(min_cost="100")  # 100 USDT: 0.002 BTC at 50000
    assert perp_orders([pos(LONG, "0.5")], d("0.501"), PositionMode.ONE_WAY, m) == []
    assert perp_orders([pos(LONG, "0.5")], d("0.499"), PositionMode.ONE_WAY, m) == [
        PerpOrder(SYM, Side.SELL, d("0.001"), True)
    ]


def test_minimums_count_in_contracts() -> None:
    # 0.001 BTC a contract at 50000: 50 USDT each, so a 100 USDT minimum is 2 contracts.
    m = Market(SYM, "BTC", "USDT", d(1), d("0.1"), min_cost=d(100), contract_size=d("0.001"))
    assert perp_orders([], d("0.0015"), PositionMode.ONE_WAY, m, d(50000)) == []
    assert perp_orders([], d("0.0035"), PositionMode.ONE_WAY, m, d(50000)) == [
        PerpOrder(SYM, Side.BUY, d(3), False)
    ]


def test_one_way_refuses_hedged_positions() -> None:
    with pytest.raises(DomainError, match="hedge-mode positions in one-way mode"):
        perp_orders([pos(LONG, "1", hedged=True)], ZERO, PositionMode.ONE_WAY, perp_market())


SIZES = st.integers(-5000, 5000).map(lambda n: Decimal(n) / 1000)


@PROPERTY_SETTINGS
@given(SIZES, st.integers(-5_000_000, 5_000_000).map(lambda n: Decimal(n) / 10**6))
def test_one_way_orders_reach_the_target_within_a_step_and_never_flip_by_accident(
    now: Decimal, desired: Decimal
) -> None:
    held = [pos(LONG if now > 0 else SHORT, str(abs(now)))] if now else []
    orders = perp_orders(held, desired, PositionMode.ONE_WAY, perp_market())
    path = fill(held, orders)
    final = path[-1] if path else now
    assert abs(final - desired) < d("0.001")
    assert (now - desired) * (final - desired) >= 0  # rounding never carries it past the target
    assert sum(1 for o in orders if not o.reduce_only) <= 1 and len(orders) <= 2


@PROPERTY_SETTINGS
@given(
    st.integers(0, 3000).map(lambda n: Decimal(n) / 1000),
    st.integers(0, 3000).map(lambda n: Decimal(n) / 1000),
    st.integers(-5_000_000, 5_000_000).map(lambda n: Decimal(n) / 10**6),
)
def test_hedge_orders_reach_the_target_and_reduce_only_never_exceeds_a_side(
    longs: Decimal, shorts: Decimal, desired: Decimal
) -> None:
    held = [
        p for s, c in ((LONG, longs), (SHORT, shorts)) if c for p in [pos(s, str(c), hedged=True)]
    ]
    orders = perp_orders(held, desired, PositionMode.HEDGE, perp_market())
    assert all(o.position_side is not None for o in orders)
    path = fill(held, orders)
    final = path[-1] if path else longs - shorts
    assert abs(final - desired) < d("0.001")
