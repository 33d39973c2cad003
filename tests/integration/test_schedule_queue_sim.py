"""The `schedule` style on a one-tick queue book (config/scenarios/major-one-tick.toml): a resting
child still at the touch keeps its place in the queue from one step to the next instead of being
cancelled and placed again at the back, and the leg never trades more than it was given."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from bot.domain.market import Side
from bot.domain.slicing import ExecutionPolicy, Style
from bot.exchange.gateway import Gateway
from bot.exchange.transport import RetryPolicy
from bot.execution.executor import Executor, LegOutcome
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import load_scenario
from tests.integration.test_executor_sim import assert_one_live_order_at_a_time, leg

ROOT = Path(__file__).resolve().parents[2]
STEP = 10.0


def slow_tape(tmp: Path) -> Path:
    """major-one-tick, calm and with a quiet tape: the touch stays put for steps, and a child
    waits behind its queue."""
    path = tmp / "slow.toml"
    base = ROOT / "config" / "scenarios" / "major-one-tick.toml"
    path.write_text(
        f'extends = "{base}"\n[markets."BTC/USDT".regime]\ntrade_rate = 0.3\ntrade_size = 0.2\n'
        "volatility = 0.0\n"
        '[markets."BTC/USDT"]\ninformed_share = 0.0\n'
    )
    return path


async def work(
    path: Path, patience: float, amount: str = "6"
) -> tuple[SimExchange, Decimal, float, int]:
    sc = load_scenario(path)
    clock = VirtualClock(sc.start)
    ex = SimExchange.from_scenario(sc, clock)
    gw = Gateway(
        ex,
        requests_per_second=1e6,
        retry=RetryPolicy(attempts=10, base_delay=0.2, max_delay=5),
        sleep=clock.sleep,
        rng=random.Random(3),
    )
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 50)
    assert book.mid is not None
    policy = ExecutionPolicy(
        style=Style.SCHEDULE,
        child_timeout=STEP,
        horizon=600,
        risk_aversion=0.0,  # a straight line: 1/60 of the leg a step
        patience=patience,
        leg_deadline=900,
    )
    report = await Executor(gw, policy, clock).run_leg(
        leg(Side.SELL, amount, str(book.mid)), book.mid, "t-1-0"
    )
    assert report.outcome is LegOutcome.DONE
    traded = sum((t.amount for o in ex.engine.all_orders() for t in o.trades), Decimal(0))
    assert traded == report.filled == Decimal(amount)  # all of it, and never more
    assert_one_live_order_at_a_time(ex)
    return ex, report.filled, report.duration, report.requests


def lifetimes(ex: SimExchange) -> list[float]:
    return [
        ((o.last_update_timestamp or o.timestamp) - o.timestamp) / 1000
        for o in ex.engine.all_orders()
        if o.post_only
    ]


async def test_a_child_at_the_touch_keeps_its_place_in_the_queue_across_steps(
    tmp_path: Path,
) -> None:
    ex, _, duration, requests = await work(slow_tape(tmp_path), patience=60.0, amount="2")
    lives = lifetimes(ex)
    # Resting children outlive a step (kept, not cancelled at its end and placed again)...
    assert sum(life > STEP + 1 for life in lives) >= 3, lives
    # ... so there are far fewer children than steps, and a kept step costs one request (the
    # book): fewer than two requests a step over the leg.
    steps = duration / STEP
    assert len(ex.engine.all_orders()) < steps / 2
    assert requests < 2 * steps


async def test_without_patience_the_leg_still_rests_at_the_touch_and_finishes_whole() -> None:
    ex, _, _, _ = await work(ROOT / "config" / "scenarios" / "major-one-tick.toml", 0.0, "3")
    assert any(o.post_only for o in ex.engine.all_orders())
