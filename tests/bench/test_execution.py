"""The execution benchmark on one small cell: seeded jumps, a common reference, the metrics."""

from decimal import Decimal

import pytest

from bench import execution as ex
from bench import strategies as st
from bot.domain.market import Side
from bot.domain.slicing import Style
from bot.sim.model import EventKind

CELL = ex.Cell("deep-calm", "BTC/USDT", Side.SELL, 2)
HORIZON = 60.0


def test_random_jump_is_seeded_and_replaces_the_fixed_one() -> None:
    scenario = ex._scenario("price-jump")
    a = ex.random_jump(scenario, "BTC/USDT", 7, 1800.0)
    b = ex.random_jump(scenario, "BTC/USDT", 7, 1800.0)
    jumps = [e for e in a.events if e.kind is EventKind.JUMP and e.symbol == "BTC/USDT"]
    assert a.events == b.events
    assert len(jumps) == 1
    assert 0 <= jumps[0].at < 1800
    assert abs(jumps[0].size) == pytest.approx(0.06)
    others = {ex.random_jump(scenario, "BTC/USDT", s, 1800.0).events[-1].at for s in range(8)}
    assert len(others) > 1


def test_every_strategy_is_judged_against_one_reference() -> None:
    scenario, trade = ex.setup(CELL, 7, HORIZON)
    ref = st.reference(scenario, trade, HORIZON)
    assert len(ref.true_mids) == int(HORIZON) + 1
    market = st.run_sync(scenario, trade, "market", st.market_order)
    twap = st.run_sync(scenario, trade, "twap", st.twap(HORIZON, touch=True))
    for outcome in (market, twap):
        figures = ex.measure(outcome, trade, ref)
        assert figures.own_pct == pytest.approx(100.0)
        assert figures.is_all == pytest.approx(figures.is_price + figures.is_fees)
        assert figures.is_fees == pytest.approx(10.0, abs=0.1)  # taker fee, 10 bps
    # nothing filled: the whole amount is valued on the horizon book, with the taker fee
    idle = ex.measure(st.Outcome("idle", (), 0, 0, 0.0), trade, ref)
    qty, cost = st.walk(ref.horizon_book, Side.SELL, trade.amount)
    assert qty == trade.amount
    assert ref.arrival.mid is not None
    expected = (trade.amount * ref.arrival.mid - cost) / (trade.amount * ref.arrival.mid)
    assert idle.is_price == pytest.approx(float(expected * Decimal(10_000)))
    assert idle.own_pct == 0.0


def test_over_http_the_same_market_gives_the_same_fills() -> None:
    """The out-of-sample runs trade through ccxt's binance class and sim-server's front: one
    market order fills exactly as in process (same model, same seed), and the bot's default
    style works a leg to the end over the wire, resting where the account's fees favour it."""
    scenario, trade = ex.setup(CELL, 7, HORIZON)
    here = st.run_sync(scenario, trade, "market", st.market_order)
    wire = st.run_sync(scenario, trade, "market", st.market_order, http=True)
    assert [(f.qty, f.price, f.fee) for f in wire.fills] == [
        (f.qty, f.price, f.fee) for f in here.fills
    ]
    assert wire.requests == here.requests > 0

    oos, big = ex.setup(ex.Cell("oos-major", "BTC/USDT", Side.SELL, 5), 3, 900.0)
    bot = st.run_sync(oos, big, "bot", st.bot(Style.SCHEDULE, 900.0), http=True)
    assert bot.filled == big.amount
    assert sum(f.qty for f in bot.fills if f.maker) > big.amount / 2  # maker 2 bps < taker 5.5
    assert bot.requests >= 2 * bot.children > 0


def test_the_flow_book_cell_trades_the_same_over_http_as_in_process() -> None:
    """oos-flow (a zero-intelligence order-flow book) is served by sim-server's front too: one
    market order fills exactly as in process, and over the wire the maker loop rests and fills."""
    cell = ex.Cell("oos-flow", "ADA/USDT", Side.SELL, 5)
    assert cell.scenario in ex.OVER_HTTP
    scenario, trade = ex.setup(cell, 5, 300.0)
    here = st.run_sync(scenario, trade, "market", st.market_order)
    wire = st.run_sync(scenario, trade, "market", st.market_order, http=True)
    assert [(f.qty, f.price, f.fee) for f in wire.fills] == [
        (f.qty, f.price, f.fee) for f in here.fills
    ]
    assert len({f.price for f in here.fills}) > 1  # it walked the emergent book
    maker = st.run_sync(scenario, trade, "maker", st.maker_loop(300.0, trade.top_depth), http=True)
    assert maker.filled == trade.amount
    assert any(f.maker and f.source == "trade" for f in maker.fills)
