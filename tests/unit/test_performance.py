"""The return net of deposits and withdrawals (time-weighted), against holding the start: hand-
computed cases, exact in Decimal."""

from __future__ import annotations

from decimal import Decimal

from bot.domain.performance import ValuationPoint, performance

D = Decimal


def point(at: float, btc: str, usdt: str, price: str, **flows: str) -> ValuationPoint:
    return ValuationPoint(
        at,
        {"BTC": D(btc), "USDT": D(usdt)},
        {"BTC": D(price), "USDT": D(1)},
        {a: D(x) for a, x in flows.items()},
    )


def test_a_deposit_in_the_middle_is_not_a_return() -> None:
    """1 BTC at 100 and 100 USDT (200). BTC rises to 120 while 100 USDT arrive: 320, of which 100
    deposited: r1 = 220 / 200 - 1 = 0.1. BTC falls to 90: 290, r2 = 290 / 320 - 1 = -0.09375.
    TWR = 1.1 * 0.90625 - 1 = -0.003125 (the value rose by 90, the deposit being 100)."""
    result = performance(
        [
            point(0, "1", "100", "100"),
            point(60, "1", "200", "120", USDT="100"),
            point(120, "1", "200", "90"),
        ]
    )
    assert result is not None
    assert result.twr == D("-0.003125")
    assert result.net_flows == D(100)
    assert (result.start_value, result.end_value) == (D(200), D(290))
    assert result.periods == 2
    # nothing traded: holding the start, with the same deposit, did exactly the same
    assert result.hold_return == D("-0.003125")
    assert result.difference == 0
    assert result.hold_value == D(290)


def test_a_withdrawal_is_not_a_loss() -> None:
    """200, then 50 USDT withdrawn while BTC stays at 100: 150 and no return at all."""
    result = performance([point(0, "1", "100", "100"), point(60, "1", "50", "100", USDT="-50")])
    assert result is not None
    assert result.twr == 0
    assert result.net_flows == D(-50)


def test_rebalancing_against_holding_on_a_known_price_path() -> None:
    """50/50 at 100 (1 BTC, 100 USDT). BTC doubles: held 300, +50%. The bot rebalances at 200 to
    0.75 BTC and 150 USDT; BTC falls back to 100: the bot has 225 (+12.5%), holding 200 (0%)."""
    result = performance(
        [
            point(0, "1", "100", "100"),
            point(60, "1", "100", "200"),
            point(61, "0.75", "150", "200"),  # after the rebalance: no flow, no cost
            point(120, "0.75", "150", "100"),
        ]
    )
    assert result is not None
    assert result.twr == D("0.125")
    assert result.hold_return == 0
    assert result.difference == D("0.125")
    assert result.periods == 1


def test_buy_and_hold_receives_the_same_flows() -> None:
    """The known path above, with 1 BTC deposited when BTC is at 200 (after the rebalance): the
    held portfolio holds 2 BTC and 100 USDT from then on, and falls to 300 from 500: -40% on that
    sub-period, 1.5 * 0.6 - 1 = -10% in all; the bot, 1.75 BTC and 150 USDT (500 -> 325):
    1.5 * 0.65 - 1 = -2.5%."""
    result = performance(
        [
            point(0, "1", "100", "100"),
            point(60, "1", "100", "200"),
            point(61, "1.75", "150", "200", BTC="1"),
            point(120, "1.75", "150", "100"),
        ]
    )
    assert result is not None
    assert result.twr == D("-0.025")
    assert result.hold_return == D("-0.1")
    assert result.hold_value == D(300)
    assert result.net_flows == D(200)


def test_a_withdrawal_the_held_portfolio_cannot_pay_is_taken_in_proportion() -> None:
    """Held: 1 BTC at 100 and 100 USDT. 150 USDT withdrawn (the bot had sold BTC for it): the
    held portfolio pays 100 in USDT, the 50 short from its BTC (half of it), so holds 0.5 BTC."""
    result = performance(
        [
            point(0, "1", "100", "100"),
            point(60, "0.25", "25", "100", USDT="-150"),
            point(120, "0.25", "25", "200"),
        ]
    )
    assert result is not None
    assert result.hold_value == D(100)  # 0.5 BTC at 200
    assert result.hold_return == D(1)  # flat, then the held BTC doubles: 50 -> 100
    assert result.twr == D("0.5")  # flat (200 -> 50 + 150 out), then 50 -> 0.25 * 200 + 25


def test_no_point_no_performance_and_one_point_nothing_yet() -> None:
    assert performance([]) is None
    only = performance([point(0, "1", "100", "100")])
    assert only is not None and only.twr == 0 and only.hold_return == 0
