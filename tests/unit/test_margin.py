"""Margin safety (bot.domain.margin): liquidation prices by hand, the realised move, health and its
breaches, the de-levering plan, and what may open.

`apply_plan` carries a plan out the way an exchange would, at the mark: the transfer raises the
futures wallet and equity, a top-up raises an isolated position's collateral, a reduce-only order
cuts its position (maintenance and isolated collateral in proportion; the exchange's liquidation
price is then unknown and recomputed)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.domain.exposure import PerpOrder
from bot.domain.margin import (
    DeleverPlan,
    MarginLimits,
    Rule,
    delever,
    funding_totals,
    health,
    liquidation_price,
    opening_allowed,
    realised_move,
)
from bot.domain.market import Market, Side
from bot.domain.positions import (
    FundingPayment,
    FuturesAccount,
    MarginMode,
    Position,
    PositionSide,
)
from bot.errors import DomainError
from tests.unit.strategies import PROPERTY_SETTINGS, d

ZERO = Decimal(0)
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
CROSS, ISOLATED = MarginMode.CROSS, MarginMode.ISOLATED
BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
MARKETS = {s: Market(s, s.split("/")[0], "USDT", d("0.001"), d("0.01")) for s in (BTC, ETH, SOL)}


def position(
    symbol: str = BTC,
    side: PositionSide = LONG,
    contracts: str = "1",
    mark: str = "50000",
    mode: MarginMode = CROSS,
    **kw: object,
) -> Position:
    base = symbol.split("/")[0]
    fields = {"maintenance_margin_rate": d("0.005"), **kw}
    return Position(symbol, base, side, d(contracts), d(1), d(mark), d(mark), mode, **fields)  # type: ignore[arg-type]


def account(equity: str | int | Decimal) -> FuturesAccount:
    e = Decimal(equity)
    return FuturesAccount("USDT", max(e, ZERO), e, max(e, ZERO))


def apply_plan(
    positions: list[Position], acc: FuturesAccount, plan: DeleverPlan
) -> tuple[list[Position], FuturesAccount]:
    acc = replace(acc, wallet=acc.wallet + plan.transfer, equity=acc.equity + plan.transfer)
    now = {(p.symbol, p.side): p for p in positions}
    for t in plan.top_ups:
        p = now[t.symbol, t.side]
        assert p.margin_mode is ISOLATED and p.collateral is not None
        now[t.symbol, t.side] = replace(p, collateral=p.collateral + t.amount)
    for o in plan.orders:
        assert o.reduce_only
        side = o.position_side or next(s for (sym, s) in now if sym == o.symbol)
        p = now[o.symbol, side]
        assert o.side is (Side.SELL if p.side is LONG else Side.BUY), "the order would grow it"
        assert o.amount <= p.contracts, "a reduce-only order larger than its position"
        left = p.contracts - o.amount
        scale = left / p.contracts
        now[o.symbol, side] = replace(
            p,
            contracts=left,
            collateral=None if p.collateral is None else p.collateral * scale,
            maintenance_margin=None
            if p.maintenance_margin is None
            else p.maintenance_margin * scale,
        )
    after = [replace(p, liquidation_price=None) for p in now.values() if p.contracts > 0]
    return after, acc


# ---------------------------------------------------------------------------------------------
# Liquidation prices by hand


def test_isolated_liquidation_by_hand() -> None:
    # Long 1 BTC at 50000, collateral 10000 (its margin balance), maintenance rate 0.5 %.
    # At L the balance 10000 + 1 x (L - 50000) equals the maintenance 0.005 x L:
    # L (1 - 0.005) = 50000 - 10000 -> L = 40000 / 0.995 = 40201.005...
    p = position(mode=ISOLATED, collateral=d(10000))
    liq = liquidation_price(p, account(99999), [p])
    assert liq.recomputed and liq.price == d(40000) / d("0.995")
    # Short: 10000 - (L - 50000) = 0.005 L -> L = 60000 / 1.005 = 59701.49...
    s = position(side=SHORT, mode=ISOLATED, collateral=d(10000))
    assert liquidation_price(s, account(99999), [s]).price == d(60000) / d("1.005")
    # Health: distance (50000 - 40201.005) / 50000 = 0.19598 >= 0.15; ratio 250 / 10000.
    h = health([p], account(20000), {}, MarginLimits()).positions[0]
    assert h.distance == (d(50000) - d(40000) / d("0.995")) / d(50000)
    assert h.margin_ratio == d("0.025")


def test_cross_liquidation_by_hand() -> None:
    # Equity 20000; long 1 BTC at 50000 (rate 0.5 %); short 10 ETH at 3000, maintenance 300.
    # BTC moves, ETH held at its mark: 20000 + (L - 50000) = 300 + 0.005 L
    #   -> 0.995 L = 30300 -> L = 30452.26...
    btc = position()
    eth = position(
        ETH, SHORT, "10", "3000", maintenance_margin=d(300), maintenance_margin_rate=None
    )
    both = [btc, eth]
    assert liquidation_price(btc, account(20000), both).price == d(30300) / d("0.995")
    # ETH moves (its rate 300 / 30000 = 1 %), BTC held (maintenance 250):
    # 20000 - 10 (L - 3000) = 250 + 0.1 L -> 10.1 L = 49750 -> L = 4925.74...
    assert liquidation_price(eth, account(20000), both).price == d(49750) / d("10.1")


def test_the_exchange_liquidation_price_is_taken_when_given() -> None:
    p = position(liquidation_price=d(42000))
    liq = liquidation_price(p, account(20000), [p])
    assert (liq.price, liq.recomputed) == (d(42000), False)
    h = health([p], account(20000), {}, MarginLimits()).positions[0]
    assert h.distance == d("0.16")


def test_a_hedged_pair_net_long_is_hurt_by_a_fall_on_both_sides() -> None:
    long = position(contracts="2", hedged=True)
    short = position(side=SHORT, contracts="1", hedged=True)
    # Group: q = 1, m = 0.015 (3 BTC of maintenance), B = 10000:
    # L = (50000 - 10000) / 0.985 = 40609.1...; both sides report the same distance.
    h = health([long, short], account(10000), {}, MarginLimits(max_leverage=d(20)))
    hand = (d(50000) - d(40000) / d("0.985")) / d(50000)  # 0.18782
    assert h.positions[0].distance == h.positions[1].distance == hand


def test_a_fully_collateralised_long_has_no_liquidation_price() -> None:
    p = position(contracts="0.1")  # 5000 of notional against 20000
    assert liquidation_price(p, account(20000), [p]).price is None


# ---------------------------------------------------------------------------------------------
# Limits and the realised move


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(DomainError, match="liquidation_floor"):
        MarginLimits(liquidation_floor=d(0))
    with pytest.raises(DomainError, match="0 < target_leverage <= max_leverage"):
        MarginLimits(target_leverage=d(4), max_leverage=d(3))
    assert MarginLimits().floor(d("0.02")) == d("0.15")
    assert MarginLimits().floor(d("0.07")) == d("0.21")


def test_realised_move_is_the_range_over_its_low_in_the_window() -> None:
    mids = [(0.0, d(50)), (100_000.0, d(100)), (110_000.0, d(120)), (120_000.0, d(90))]
    assert realised_move(mids) == d(30) / d(90)  # (120 - 90) / 90; the 50 is too old
    assert realised_move([]) == 0 and realised_move([(0.0, d(1))]) == 0
    with pytest.raises(DomainError, match="mid must be > 0"):
        realised_move([(0.0, d(0))])


# ---------------------------------------------------------------------------------------------
# health


def test_health_names_each_breach() -> None:
    limits = MarginLimits()
    p = position(mode=ISOLATED, collateral=d(5000))  # L = 45000 / 0.995: distance 9.5 %
    h = health([p], account(20000), {}, limits)
    assert [(b.rule, b.symbol) for b in h.breaches] == [(Rule.DISTANCE, BTC)]
    # With a 6 % move the floor is 18 %.
    assert health([p], account(20000), {BTC: d("0.06")}, limits).positions[0].floor == d("0.18")
    c = position()  # cross, equity 10000: leverage 5
    h = health([c], account(10000), {}, limits)
    assert [b.rule for b in h.breaches] == [Rule.LEVERAGE] and h.leverage == 5
    h = health([c], account(400), {}, limits)  # 250 / 400 > 0.5
    assert Rule.MARGIN_RATIO in [b.rule for b in h.breaches]
    assert "account: margin_ratio 0.6250 breaks the limit 0.5" in [b.describe() for b in h.breaches]


def test_no_equity_is_a_leverage_breach_without_a_figure() -> None:
    h = health([position()], account(-5), {}, MarginLimits())
    assert any(b.rule is Rule.LEVERAGE and b.value is None for b in h.breaches)


# ---------------------------------------------------------------------------------------------
# delever

LOOSE = MarginLimits(max_leverage=d(10), target_leverage=d(5))


def test_a_healthy_account_needs_nothing() -> None:
    p = position(contracts="0.2")
    plan = delever(
        health([p], account(20000), {}, MarginLimits()),
        [p],
        account(20000),
        MARKETS,
        MarginLimits(),
        d(10**6),
        True,
    )
    assert plan.empty and plan.reasons == ()


def test_delever_needs_the_market_of_every_position() -> None:
    p, acc = position(), account(10000)
    with pytest.raises(DomainError, match="no market for BTC/USDT:USDT"):
        delever(health([p], acc, {}, MarginLimits()), [p], acc, {}, MarginLimits(), ZERO, False)


def test_leverage_is_restored_by_a_transfer_first() -> None:
    p, acc = position(), account(10000)  # leverage 5 > 3; target 2 needs 25000 of equity
    plan = delever(
        health([p], acc, {}, MarginLimits()), [p], acc, MARKETS, MarginLimits(), d(10**6), True
    )
    assert plan.transfer == 15000 and plan.orders == ()
    assert "move 15000 USDT from spot to the futures wallet" in plan.reasons


def test_without_a_transfer_the_position_is_cut_to_the_target_leverage() -> None:
    p, acc = position(), account(10000)
    h = health([p], acc, {}, MarginLimits())
    plan = delever(h, [p], acc, MARKETS, MarginLimits(), d(10**6), can_transfer=False)
    # 50000 of notional to 2 x 10000: 0.6 of it cut.
    assert plan.transfer == 0 and plan.orders == (PerpOrder(BTC, Side.SELL, d("0.6"), True),)
    partial = delever(h, [p], acc, MARKETS, MarginLimits(), d(5000), can_transfer=True)
    # 5000 moved: 2 x 15000 = 30000 allowed, 0.4 cut.
    assert partial.transfer == 5000
    assert partial.orders == (PerpOrder(BTC, Side.SELL, d("0.4"), True),)


def test_a_distance_breach_is_cut_to_the_floor_with_its_margin() -> None:
    # Equity 6000: L = 44000 / 0.995, distance 11.6 % < 15 %. Aim: 16.5 %, price 41750, where
    # the headroom is 6000 + k (41750 - 50000 - 0.005 x 41750) = 6000 - 8458.75 k >= 0:
    # k <= 0.70932..., so 0.291 is cut (rounded up); then leverage 0.709 x 50000 = 35450 > 5 x
    # 6000: 0.109 more. One reduce-only order of 0.4.
    p, acc = position(), account(6000)
    h = health([p], acc, {}, LOOSE)
    assert [b.rule for b in h.breaches] == [Rule.DISTANCE]
    plan = delever(h, [p], acc, MARKETS, LOOSE, ZERO, can_transfer=False)
    assert plan.orders == (PerpOrder(BTC, Side.SELL, d("0.4"), True),)
    with_transfer = delever(h, [p], acc, MARKETS, LOOSE, d(10**6), can_transfer=True)
    assert with_transfer.transfer == 4000 and with_transfer.orders == ()  # 50000 / 5 - 6000


def test_the_exchange_nearer_liquidation_is_believed() -> None:
    # The model puts L at 30000 / 0.995 (39.7 % away); the exchange says 45000 (10 %): breach.
    # Its figure implies a balance of 0.005 x 45000 - (45000 - 50000) = 5225; at the aim
    # 50000 x 0.835 = 41750 the headroom is 5225 - 8250 - 208.75 = -3233.75: moved.
    p, acc = position(liquidation_price=d(45000)), account(20000)
    h = health([p], acc, {}, LOOSE)
    assert [b.rule for b in h.breaches] == [Rule.DISTANCE]
    plan = delever(h, [p], acc, MARKETS, LOOSE, d(10**6), True)
    assert plan.transfer == d("3233.75") and plan.orders == ()
    cut = delever(h, [p], acc, MARKETS, LOOSE, ZERO, False)
    # keep 5225 / 8458.75 = 0.6177...: 0.383 cut (rounded up to the step).
    assert cut.orders == (PerpOrder(BTC, Side.SELL, d("0.383"), True),)


def test_an_isolated_breach_is_topped_up_or_closed() -> None:
    p = position(mode=ISOLATED, collateral=d(5000))
    acc = account(30000)  # leverage 1.67, under the target 2: only the distance is short
    h = health([p], acc, {}, MarginLimits())
    topped = delever(h, [p], acc, MARKETS, MarginLimits(), d(10**6), True)
    # At 50000 x 0.835 = 41750: 5000 - 8250 - 208.75 = -3458.75: that much is added.
    assert [(t.symbol, t.amount) for t in topped.top_ups] == [(BTC, d("3458.75"))]
    assert topped.transfer == d("3458.75") and topped.orders == ()
    closed = delever(h, [p], acc, MARKETS, MarginLimits(), d(100), True)
    assert closed.top_ups == () and closed.orders == (PerpOrder(BTC, Side.SELL, d(1), True),)


def test_hedged_positions_are_cut_by_their_own_side() -> None:
    long = position(contracts="3", hedged=True)
    short = position(side=SHORT, contracts="1", hedged=True)
    acc = account(20000)  # leverage 200000 / 20000 = 10
    h = health([long, short], acc, {}, MarginLimits())
    plan = delever(h, [long, short], acc, MARKETS, MarginLimits(), ZERO, False)
    assert {(o.side, o.position_side) for o in plan.orders} <= {
        (Side.SELL, LONG),
        (Side.BUY, SHORT),
    }
    after, acc2 = apply_plan([long, short], acc, plan)
    assert sum(abs(p.notional) for p in after) <= 2 * acc2.equity


@st.composite
def accounts(draw: st.DrawFn) -> tuple[list[Position], FuturesAccount, dict[str, Decimal]]:
    positions = []
    hedge = draw(st.booleans())
    for symbol in draw(
        st.lists(st.sampled_from([BTC, ETH, SOL]), min_size=1, max_size=3, unique=True)
    ):
        mark = Decimal(draw(st.integers(1, 100_000)))
        mode = draw(st.sampled_from([CROSS, ISOLATED])) if not hedge else CROSS
        sides = [LONG, SHORT] if hedge else [draw(st.sampled_from([LONG, SHORT]))]
        for side in sides:
            notional = Decimal(draw(st.integers(100, 1_000_000)))
            contracts = max(d("0.001"), (notional / mark).quantize(d("0.001")))
            kw: dict[str, object] = {
                "maintenance_margin_rate": Decimal(draw(st.integers(4, 50))) / 1000,
                "hedged": hedge,
            }
            if mode is ISOLATED:
                kw["collateral"] = contracts * mark * Decimal(draw(st.integers(5, 100))) / 100
            positions.append(position(symbol, side, str(contracts), str(mark), mode, **kw))
    equity = Decimal(draw(st.integers(1, 2_000_000)))
    given = []
    for p in positions:  # some with the exchange's figure: the model's, nearer or farther
        liq = liquidation_price(p, account(equity), positions).price
        if liq is not None and draw(st.booleans()):
            toward = Decimal(draw(st.integers(-50, 50))) / 100
            p = replace(p, liquidation_price=max(d("0.01"), liq + (p.mark_price - liq) * toward))
        given.append(p)
    positions = given
    moves = {s: Decimal(draw(st.integers(0, 100))) / 1000 for s in (BTC, ETH, SOL)}
    return positions, account(equity), moves


@PROPERTY_SETTINGS
@given(
    accounts(),
    st.integers(0, 2_000_000).map(Decimal),
    st.booleans(),
    st.sampled_from([MarginLimits(), LOOSE, MarginLimits(target_leverage=d(1), max_leverage=d(1))]),
)
def test_after_a_delever_plan_every_position_is_safe_or_closed(
    case: tuple[list[Position], FuturesAccount, dict[str, Decimal]],
    spot_free: Decimal,
    can_transfer: bool,
    limits: MarginLimits,
) -> None:
    positions, acc, moves = case
    h = health(positions, acc, moves, limits)
    assume(not h.ok)
    plan = delever(h, positions, acc, MARKETS, limits, spot_free, can_transfer)
    assert plan.transfer <= (spot_free if can_transfer else 0)
    assert plan.orders or plan.transfer or plan.top_ups
    after, acc2 = apply_plan(positions, acc, plan)  # asserts: reduce-only, never grows
    for p in after:  # never larger than it was, never turned around
        (was,) = [o for o in positions if (o.symbol, o.side) == (p.symbol, p.side)]
        assert p.contracts <= was.contracts
    floors = {ph.symbol: ph.floor for ph in h.positions}
    again = health(after, acc2, moves, limits)
    for ph in again.positions:
        assert ph.distance is None or ph.distance >= floors[ph.symbol], (ph, plan)
    gross = sum((abs(p.notional) for p in after), ZERO)
    assert gross <= limits.target_leverage * acc2.equity
    assert not [b for b in again.breaches if b.rule is Rule.MARGIN_RATIO]


# ---------------------------------------------------------------------------------------------
# opening_allowed and funding


def test_nothing_opens_past_the_cap_and_reducing_is_always_allowed() -> None:
    acc = account(10000)
    m = MARKETS[BTC]
    assert opening_allowed(BTC, d(1), [], acc, m, d(50000), {}, MarginLimits()) == [
        "account: leverage 5.0000 breaks the limit 3"
    ]
    assert opening_allowed(BTC, d("0.5"), [], acc, m, d(50000), {}, MarginLimits()) == []
    big = position(contracts="2")  # already 10x: reducing it is still allowed
    assert opening_allowed(BTC, d(1), [big], acc, m, d(50000), {}, MarginLimits()) == []
    assert opening_allowed(BTC, d("2.1"), [big], acc, m, d(50000), {}, MarginLimits()) != []


def test_opening_refuses_a_position_nearer_liquidation_than_the_floor() -> None:
    # Isolated at 10x: growing 0.001 to 1 BTC adds 49950 / 10 = 4995 to its 50 of collateral:
    # L = (50000 - 5045) / 0.995 = 45180.9..., 9.64 % away < 15 %.
    p = position(contracts="0.001", mode=ISOLATED, collateral=d(50), leverage=d(10))
    reasons = opening_allowed(
        BTC, d(1), [p], account(10**6), MARKETS[BTC], d(50000), {}, MarginLimits()
    )
    assert len(reasons) == 1 and reasons[0].startswith(f"{BTC}: distance 0.0964")


def test_funding_totals_by_symbol() -> None:
    pays = [
        FundingPayment("1", BTC, "USDT", d("-1.5"), 1),
        FundingPayment("2", BTC, "USDT", d("0.5"), 2),
        FundingPayment("3", ETH, "USDT", d("2"), 3),
    ]
    assert funding_totals(pays) == {BTC: d(-1), ETH: d(2)}
