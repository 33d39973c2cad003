"""A cancel that does not take is sent again; an order found open at start-up is adopted (left to
work one child timeout) or cancelled, as `journal.on_restart` says."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.lifecycle import ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderRequest
from bot.domain.slicing import ExecutionPolicy, Phase, Style
from bot.execution.executor import Executor
from bot.journal import Journal
from bot.runtime.reconcile import reconcile
from tests.integration.helpers import daemon_for, settings_for
from tests.integration.test_executor_sim import leg, scenario, setup

D = Decimal


async def test_a_cancel_that_did_not_take_is_sent_again_before_anything_new() -> None:
    """The exchange answers the first cancel of each child with the order still open: the
    executor cancels again until the child is final, and places no new child meanwhile."""
    ex, gw, clock = setup(scenario())
    cancel = ex.cancel_order
    asked: dict[str, int] = {}
    stuck: set[str] = set()  # children whose first cancel left them open

    async def sticky_cancel(id: str, symbol: str | None = None, params: Any = None) -> Any:
        asked[id] = asked.get(id, 0) + 1
        if asked[id] == 1:  # the first cancel of each child does not take
            order = await ex.fetch_order(id, symbol)
            if order["status"] == "open":
                stuck.add(id)
            return order
        return await cancel(id, symbol, params)

    ex.cancel_order = sticky_cancel  # type: ignore[method-assign]
    policy = ExecutionPolicy(style=Style.PASSIVE, child_timeout=5, leg_deadline=120)
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 50)
    assert book.mid is not None
    report = await Executor(gw, policy, clock).run_leg(leg(Side.SELL, "2"), book.mid, "t-1-0")
    assert report.children >= 2
    assert stuck
    assert all(asked[i] >= 2 for i in stuck)  # each was cancelled again
    orders = sorted(ex.engine.all_orders(), key=lambda o: o.seq)
    for earlier, later in itertools.pairwise(orders):
        assert later.timestamp >= (earlier.last_update_timestamp or earlier.timestamp)
    assert not ex.engine.open_orders()


async def open_order_left_by_a_crash(tmp_path: Path) -> tuple[Any, Any, Journal]:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    gw = daemon.gateway
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    rid = journal.start_rebalance("sim", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", Side.SELL, D(1), book.best_ask)
    req = OrderRequest("Lc1", "BTC/USDT", Side.SELL, D("0.1"), book.best_ask + D(3))
    journal.child_intent("L", req, Phase.PASSIVE)
    await gw.place_order(req, on_sent=lambda at: journal.child_sent("Lc1", at))
    return daemon, ex, journal


async def test_on_restart_cancel_cancels_what_it_finds_open(tmp_path: Path) -> None:
    daemon, ex, journal = await open_order_left_by_a_crash(tmp_path)
    started = daemon.clock.time()
    result = await reconcile(daemon.gateway, journal, daemon.clock)
    assert result.cancelled == ["Lc1"]
    assert daemon.clock.time() - started < 1  # at once
    assert not ex.engine.open_orders()
    assert journal.order("Lc1").status is ChildState.CANCELLED  # type: ignore[union-attr]


async def test_on_restart_adopt_lets_it_work_one_child_timeout_then_cancels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_JOURNAL__ON_RESTART", "adopt")
    monkeypatch.setenv("REBALANCE_EXECUTION__CHILD_TIMEOUT", "40")
    daemon, ex, journal = await open_order_left_by_a_crash(tmp_path)
    assert daemon.adopt_on_restart and daemon.adopt_for == 40
    started = daemon.clock.time()
    result = await reconcile(
        daemon.gateway, journal, daemon.clock, adopt=True, adopt_for=daemon.adopt_for
    )
    assert result.adopted == ["Lc1"]
    assert result.cancelled == []
    assert daemon.clock.time() - started >= 40  # it was left to work
    assert not ex.engine.open_orders()  # and what was left of it cancelled
    final = journal.order("Lc1")
    assert final is not None and final.status.is_final
