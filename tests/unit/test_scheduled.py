"""The `schedule` style's step with the book's measured refill rate: a take that makes up a lag
is cut to what the book refills over a step, never below the trajectory's own pace."""

from __future__ import annotations

from decimal import Decimal

from bot.domain.market import Market, OrderBook, Side
from bot.domain.slicing import ExecutionPolicy, LegState, Phase, Style
from bot.domain.trajectory import Refill, Volatility
from bot.execution.scheduled import scheduled_step
from tests.integration.test_executor_sim import leg

D = Decimal
MARKET = Market(
    "BTC/USDT", "BTC", "USDT", D("0.001"), D("0.1"), D("0.001"), D(10), D("0.001"), D("0.001")
)
BOOK = OrderBook.from_pairs(
    "BTC/USDT", [(D("94999.9"), D(5)), (D("94999.0"), D(50))], [(D("95000.1"), D(5))]
)
POLICY = ExecutionPolicy(
    style=Style.SCHEDULE, horizon=1000, child_timeout=10, risk_aversion=0, patience=60
)


def lagging_step(refill: Refill | None) -> tuple[Phase, Decimal | None]:
    # A sell of 100 over 1000 s, 500 s in with 80 left: the line holds 50, so 30 behind.
    state = LegState(Side.SELL, D(80), D("95000"), elapsed=500.0)
    return scheduled_step(POLICY, MARKET, BOOK, leg(Side.SELL, "100"), Volatility(), state, refill)


def test_refill_is_measured_around_the_legs_own_takes() -> None:
    r = Refill().observe(D(10), 0.0, D(0))
    assert r.over(10) is None  # no take yet: nothing measured
    r = r.observe(D(10), 5.0, D(0))
    assert r.over(10) is None
    r = r.observe(D(7), 15.0, D(4))  # 10 seen, 4 taken, 7 seen 10 s on: 1 refilled
    assert r.over(10) == D("1.0")


def test_a_lag_is_made_up_at_the_rate_the_book_refills_never_slower_than_the_line() -> None:
    phase, unmeasured = lagging_step(None)
    assert phase is Phase.TAKE and unmeasured is not None and unmeasured > D(20)
    slow = Refill(rate=0.01, last_depth=D(5), last_at=490.0)  # 0.1 a step
    phase, capped = lagging_step(slow)
    assert phase is Phase.TAKE and capped is not None
    assert abs(capped - 1) < D("1e-9")  # the line's pace: 100 / 1000 s * 10 s
    fast = Refill(rate=1.5, last_depth=D(5), last_at=490.0)  # 15 a step
    phase, refilled = lagging_step(fast)
    assert phase is Phase.TAKE and refilled == D("15.0")
