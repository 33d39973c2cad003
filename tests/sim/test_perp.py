"""The futures engine (`bot.sim.perp`): fills and positions, reduce-only, hedge mode, margin.

The default market is conftest's: spot BTC/USDT still at 100, best bid 99.99 and best ask 100.01
holding 1, 2, 3, 4, 5 one tick apart; the perp BTC/USDT:USDT has no basis, so its book is the same
(maker fee 0.02%, taker 0.05%). Every figure below is computed by hand.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from bot.domain.market import Side
from bot.sim.account import OrderStatus, OrderType, TimeInForce
from bot.sim.engine import MatchingEngine
from bot.sim.perp import PerpEngine
from bot.sim.perp_account import IncomeType, MarginMode, PerpSide
from bot.sim.perp_errors import binance_code
from bot.sim.scenario import Scenario
from tests.sim.conftest import merge
from tests.sim.conftest import scenario as spot_scenario

PERP = "BTC/USDT:USDT"
D = Decimal
PERPS: dict[str, Any] = {
    "perps": {
        PERP: {
            "underlying": "BTC/USDT",
            "tick": "0.01",
            "step": "0.001",
            "min_amount": "0.001",
            "top_depth": "1",
            "maker_fee": "0.0002",
            "taker_fee": "0.0005",
            "basis": 0.0,
            "leverage": 10,
        }
    },
    "futures": {"wallet": "10000"},
}


def perp_scenario(**overrides: Any) -> Scenario:
    return spot_scenario(**merge(PERPS, overrides))


def make(**overrides: Any) -> PerpEngine:
    scenario = perp_scenario(**overrides)
    spot = MatchingEngine(scenario.build_books(scenario.start), scenario.balances)
    return PerpEngine.from_scenario(scenario, spot)


def limit(e: PerpEngine, side: Side, amount: str, price: str, **kw: Any) -> Any:
    return e.place(PERP, OrderType.LIMIT, side, D(amount), D(price), **kw)


def code(exc: pytest.ExceptionInfo[Any]) -> int | None:
    found = binance_code(exc.value)
    return None if found is None else found[0]


def test_the_perp_book_and_prices_follow_the_spot_index() -> None:
    e = make()
    bids, asks = e.book(PERP)
    assert (bids[0].price, asks[0].price) == (D("99.99"), D("100.01"))
    assert e.index_price(PERP) == e.mark_price(PERP) == D(100)


def test_fills_average_the_entry_and_realise_pnl_on_decrease() -> None:
    e = make()
    buy = limit(e, Side.BUY, "2", "100.02")  # 1 @ 100.01 + 1 @ 100.02
    assert buy.status is OrderStatus.CLOSED
    pos = e.position(PERP)
    assert (pos.amount, pos.entry_price) == (D(2), D("100.015"))
    sell = limit(e, Side.SELL, "3", "99.98")  # 1 @ 99.99 + 2 @ 99.98: closes 2, opens 1 short
    assert sell.filled == 3
    pos = e.position(PERP)
    assert (pos.amount, pos.entry_price) == (D(-1), D("99.98"))
    pnl = [e.trade_pnl(t.id) for t in sell.trades]
    assert pnl == [D("-0.025"), D("-0.035")]  # (99.99 - 100.015), (99.98 - 100.015) * 1 closed
    fees = (D("100.01") + D("100.02") + D("99.99") + 2 * D("99.98")) * D("0.0005")
    assert e.balance().wallet == D(10000) - D("0.06") - fees
    realised = [i.amount for i in e.incomes if i.type is IncomeType.REALIZED_PNL]
    commissions = [i.amount for i in e.incomes if i.type is IncomeType.COMMISSION]
    assert sum(realised) == D("-0.06")
    assert sum(commissions) == -fees
    assert e.balance().unrealized_pnl == -1 * (D(100) - D("99.98"))


def test_reduce_only_never_increases_nor_exceeds_the_position() -> None:
    e = make()
    with pytest.raises(ccxt.InvalidOrder) as flat:
        limit(e, Side.SELL, "1", "99.99", reduce_only=True)
    assert code(flat) == -2022
    limit(e, Side.BUY, "1", "100.01")
    with pytest.raises(ccxt.InvalidOrder) as more:
        limit(e, Side.BUY, "1", "100.01", reduce_only=True)
    assert code(more) == -2022
    with pytest.raises(ccxt.InvalidOrder) as beyond:
        limit(e, Side.SELL, "1.5", "99.99", reduce_only=True)
    assert code(beyond) == -2022
    resting = limit(e, Side.SELL, "1", "100.50", reduce_only=True)
    assert resting.is_open
    limit(e, Side.SELL, "1", "99.99")  # closes the position another way
    assert e.position(PERP).amount == 0
    assert resting.status is OrderStatus.EXPIRED  # nothing left to reduce


def test_hedge_mode_keeps_a_long_and_a_short_and_names_them() -> None:
    e = make()
    e.set_position_mode(True)
    with pytest.raises(ccxt.OperationRejected) as no_side:
        limit(e, Side.BUY, "1", "100.01")
    assert code(no_side) == -4061
    with pytest.raises(ccxt.BadRequest) as reduce:
        limit(e, Side.SELL, "1", "99.99", reduce_only=True, position_side="LONG")
    assert code(reduce) == -1106
    limit(e, Side.BUY, "2", "100.02", position_side="LONG")
    limit(e, Side.SELL, "1", "99.99", position_side="SHORT")
    assert e.position(PERP, PerpSide.LONG).amount == 2
    assert e.position(PERP, PerpSide.SHORT).amount == -1
    with pytest.raises(ccxt.InvalidOrder) as too_much:
        limit(e, Side.BUY, "2", "100.05", position_side="SHORT")  # closes SHORT, only 1 there
    assert code(too_much) == -2022
    close = limit(e, Side.SELL, "1", "99.98", position_side="LONG")  # reduces LONG, no short
    assert e.position(PERP, PerpSide.LONG).amount == 1
    assert e.position(PERP, PerpSide.SHORT).amount == -1
    assert e.trade_pnl(close.trades[0].id) == D("99.98") - D("100.015")
    with pytest.raises(ccxt.OperationRejected) as switch:
        e.set_position_mode(False)
    assert code(switch) == -4068
    with pytest.raises(ccxt.OperationRejected) as same:
        e.set_position_mode(True)
    assert code(same) == -4059


def test_position_mode_cannot_change_with_open_orders() -> None:
    e = make()
    limit(e, Side.BUY, "1", "99.00")
    with pytest.raises(ccxt.OperationRejected) as exc:
        e.set_position_mode(True)
    assert code(exc) == -4067
    with pytest.raises(ccxt.OperationRejected) as margin:
        e.set_margin_mode(PERP, "isolated")
    assert code(margin) == -4047


def test_an_order_needing_more_margin_than_available_is_refused() -> None:
    e = make(futures={"wallet": "100"}, perps={PERP: {"leverage": 1}})
    with pytest.raises(ccxt.InsufficientFunds) as exc:
        limit(e, Side.BUY, "2", "100.02")  # 200.04 of margin at 1x
    assert code(exc) == -2019
    assert not e.open_orders() and e.position(PERP).amount == 0
    e.set_leverage(PERP, 5)
    limit(e, Side.BUY, "2", "100.02")
    assert e.position(PERP).amount == 2
    resting = limit(e, Side.BUY, "1", "99.00")  # holds 19.80 of margin
    assert e.balance().open_order_initial_margin == D("19.8")
    with pytest.raises(ccxt.InsufficientFunds):
        e.set_leverage(PERP, 1)  # 200 of margin for the position alone
    assert e.leverage(PERP) == 5
    e.cancel(resting.id)
    assert e.balance().open_order_initial_margin == 0


def test_an_order_reducing_the_position_needs_no_margin() -> None:
    e = make(futures={"wallet": "30"}, perps={PERP: {"leverage": 5}})
    limit(e, Side.BUY, "1", "100.01")
    before = e.order_margin()
    limit(e, Side.SELL, "1", "101.00")  # one-way: closes, no new exposure
    assert e.order_margin() == before == 0


def test_leverage_and_margin_mode_are_checked() -> None:
    e = make()
    with pytest.raises(ccxt.BadRequest) as exc:
        e.set_leverage(PERP, 126)
    assert code(exc) == -4028
    e.set_margin_mode(PERP, "isolated")
    assert e.margin_mode(PERP) is MarginMode.ISOLATED
    with pytest.raises(ccxt.MarginModeAlreadySet) as same:
        e.set_margin_mode(PERP, "isolated")
    assert code(same) == -4046
    limit(e, Side.BUY, "1", "100.01")
    with pytest.raises(ccxt.OperationRejected) as held:
        e.set_margin_mode(PERP, "cross")
    assert code(held) == -4048


def test_isolated_margin_is_the_initial_margin_and_can_be_added() -> None:
    e = make(perps={PERP: {"margin_mode": "isolated", "leverage": 4}})
    limit(e, Side.BUY, "2", "100.02")
    pos = e.position(PERP)
    assert pos.isolated_margin == (D("100.01") + D("100.02")) / 4
    e.add_margin(PERP, D(10))
    assert pos.isolated_margin == (D("100.01") + D("100.02")) / 4 + 10
    b = e.balance()
    assert b.cross_wallet == b.wallet - pos.isolated_margin
    limit(e, Side.SELL, "1", "99.99")  # half closed: half the margin back
    assert pos.isolated_margin == ((D("100.01") + D("100.02")) / 4 + 10) / 2


def test_post_only_that_would_take_is_rejected_as_binance_does() -> None:
    e = make()
    with pytest.raises(ccxt.OrderNotFillable) as exc:
        limit(e, Side.BUY, "1", "100.01", time_in_force=TimeInForce.PO)
    assert code(exc) == -5022
    assert not e.open_orders()


def test_a_resting_order_fills_when_a_spot_jump_moves_the_perp_book() -> None:
    e = make(events=[{"kind": "jump", "at": 10, "size": -0.05, "symbol": "BTC/USDT"}])
    order = limit(e, Side.BUY, "1", "99.00", time_in_force=TimeInForce.PO)
    e.advance_to(e.now + 9)
    assert order.is_open
    e.advance_to(e.now + 2)
    assert e.index_price(PERP) == D(95)
    assert order.status is OrderStatus.CLOSED and order.trades[0].price == D("99.00")
    assert not order.trades[0].taker
    assert e.position(PERP).entry_price == D("99.00")


def test_a_scenario_may_start_with_positions() -> None:
    position = {"symbol": PERP, "side": "short", "contracts": "2", "entry": "100", "leverage": 3,
                "margin_mode": "isolated"}  # fmt: skip
    e = make(futures={"positions": [position]})
    pos = e.position(PERP)
    assert (pos.amount, pos.entry_price, pos.leverage) == (D(-2), D(100), 3)
    assert pos.margin_mode is MarginMode.ISOLATED
    assert pos.isolated_margin == D(200) / 3
    assert e.balance().wallet == D(10000)
