"""Whole rebalances on the simulated exchange, in virtual time, through the real daemon code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderReport, OrderRequest
from bot.journal import Journal
from bot.runtime.daemon import RunResult
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import Settings
from bot.sim.exchange import SimExchange
from tests.integration.helpers import assert_fills_are_the_exchanges_trades, settings_for


async def run(settings: Settings) -> tuple[RunResult, SimExchange, Journal]:
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    result = await build_daemon(settings, backend, journal).run(until_balanced=True)
    assert isinstance(backend.exchange, SimExchange)
    return result, backend.exchange, journal


def assert_journal_matches_exchange(journal: Journal, exchange: SimExchange) -> None:
    orders = exchange.engine.all_orders()
    # every order on the exchange was journaled (intent first), and no client id was sent twice
    sent = Counter(o.client_order_id for o in orders)
    assert max(sent.values()) == 1
    assert set(sent) <= set(journal.client_ids())
    assert_fills_are_the_exchanges_trades(journal, exchange)
    # nothing left open
    assert not exchange.engine.open_orders()


@pytest.mark.parametrize(
    "scenario", ["demo.toml", "deep-calm.toml", "slow-resilience.toml", "faulty.toml"]
)
async def test_rebalance_restores_every_band(tmp_path: Path, scenario: str) -> None:
    result, exchange, journal = await run(settings_for(tmp_path, scenario=scenario))
    assert result.halted is None
    assert result.balanced
    assert result.reports
    report = result.reports[0]
    assert report.status == "done"
    # large legs were sliced into several children, all limit orders
    assert max(leg.children for leg in report.legs) >= 2
    assert all(o.type == "limit" for o in exchange.engine.all_orders())
    # cost stays sensible: no walking the book (demo taker fee is 10 bps)
    assert report.shortfall_bps < 25
    assert_journal_matches_exchange(journal, exchange)
    rebalances = journal.rebalances()
    assert rebalances[0].status == "done"


@pytest.mark.parametrize("style", ["take", "passive-then-take"])
async def test_children_never_reach_beyond_the_band(tmp_path: Path, style: str) -> None:
    """Every child, at the moment it is sent, is priced within band_bps of the current mid (a
    take) or on our side of the spread (a passive post-only)."""
    settings = settings_for(
        tmp_path,
        scenario="thin-volatile.toml",
        extra=f'[execution]\nstyle = "{style}"\nband_bps = 15',
    )
    backend = build_backend(settings)
    exchange = backend.exchange
    assert isinstance(exchange, SimExchange)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    checked = Counter[str]()
    place = backend.gateway.place_order

    async def checked_place(
        request: OrderRequest, on_sent: Callable[[float], None] | None = None
    ) -> OrderReport:
        bids, asks = exchange.engine.book(request.symbol)
        mid = (bids[0].price + asks[0].price) / 2
        if request.post_only:
            assert (
                request.price < asks[0].price
                if request.side is Side.BUY
                else request.price > bids[0].price
            )
            checked["passive"] += 1
        else:
            offset = (request.price - mid) / mid * 10_000
            assert (offset if request.side is Side.BUY else -offset) <= 15
            checked["take"] += 1
        return await place(request, on_sent)

    backend.gateway.place_order = checked_place  # type: ignore[method-assign]
    result = await build_daemon(settings, backend, journal).run(until_balanced=True)
    assert result.reports
    assert checked["take"] > 0
    if style != "take":
        assert checked["passive"] > 0
    assert_journal_matches_exchange(journal, exchange)


@pytest.mark.parametrize("scenario", ["price-jump.toml", "drought.toml"])
async def test_hostile_markets_end_in_band_or_halt_with_a_reason(
    tmp_path: Path, scenario: str
) -> None:
    result, exchange, journal = await run(settings_for(tmp_path, scenario=scenario))
    assert result.balanced or result.halted
    if result.halted:
        assert journal.active_halt() == result.halted
    assert_journal_matches_exchange(journal, exchange)
