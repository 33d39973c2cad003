"""Fills and fees are never lost: a trade query that fails for a while, an exchange clock off the
bot's, more trades than one page, fees charged in a third asset. On the simulated exchange, in
virtual time, through the real daemon."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.market import ZERO
from bot.runtime.reconcile import reconcile
from bot.sim.exchange import SimExchange
from tests.integration.helpers import (
    ROOT,
    assert_fills_are_the_exchanges_trades,
    daemon_for,
    settings_for,
)

D = Decimal


def scenario(tmp_path: Path, extra: str) -> str:
    path = tmp_path / "scenario.toml"
    path.write_text(f'extends = "{ROOT / "config" / "scenarios" / "demo.toml"}"\n{extra}\n')
    return str(path)


def recorded_fees(exchange: SimExchange, symbol: str) -> Decimal:
    """The exchange's own fees of a market's trades, in the market's quote."""
    market = exchange.engine.markets[symbol]
    return (
        sum(
            (t.fee * t.price if t.fee_currency == market.base else t.fee)
            for t in exchange.engine.my_trades(symbol)
        )
        or ZERO
    )


async def test_a_trade_query_down_for_an_hour_loses_no_fill(tmp_path: Path) -> None:
    """The trade endpoint answers 503 for an hour, past every retry: legs end with estimated
    fees (never 0) and no fills; the first reconciliation after the outage records every trade,
    settles the fees and corrects the rebalance's summary."""
    outage = '[[faults.outages]]\nmethod = "fetch_my_trades"\nstart = 1\nend = 3600'
    settings = settings_for(tmp_path, scenario=scenario(tmp_path, outage))
    daemon, exchange, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    legs = [leg for leg in result.reports[0].legs if leg.filled]
    assert legs
    assert not any(leg.fees_settled for leg in legs)
    assert all(leg.fees > 0 for leg in legs)  # an estimate, not 0
    assert journal.recorded_fills() == []
    assert {leg.key for leg in journal.legs_with_estimated_fees()} >= {leg.key for leg in legs}

    await daemon.clock.sleep(3600)
    repaired = await reconcile(daemon.gateway, journal, daemon.clock)
    assert set(repaired.fees_settled) >= {leg.key for leg in legs}
    assert_fills_are_the_exchanges_trades(journal, exchange)
    assert journal.legs_with_estimated_fees() == []
    by_symbol = {row.symbol: row for row in journal.legs_of(result.reports[0].rebalance_id or 0)}
    for leg in legs:
        assert by_symbol[leg.symbol].fees == recorded_fees(exchange, leg.symbol)
    summary = journal.rebalances(1)[0].report
    assert all(entry["fees_settled"] for entry in summary["legs"] if entry["filled"] != "0")
    assert D(summary["fees"]) < sum((leg.fees for leg in legs), ZERO) * 10  # recomputed, sane


@pytest.mark.parametrize("offset", [-3.0, 3.0])
async def test_an_exchange_clock_off_by_seconds_loses_no_fill(
    tmp_path: Path, offset: float
) -> None:
    """Trades are read from the orders' times on the exchange's clock: with the exchange 3 s
    behind the bot, reading from the bot's clock would miss each leg's first fills."""
    settings = settings_for(tmp_path, scenario=scenario(tmp_path, f"clock_offset = {offset}"))
    daemon, exchange, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    assert all(leg.fees_settled for leg in result.reports[0].legs)
    assert_fills_are_the_exchanges_trades(journal, exchange)


async def test_a_leg_with_more_fills_than_a_page_records_them_all(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, scenario=scenario(tmp_path, "max_trades_page = 4"))
    daemon, exchange, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    most = max(len(exchange.engine.my_trades(leg.symbol)) for leg in result.reports[0].legs)
    assert most > 4  # more trades than one page holds
    assert all(leg.fees_settled for leg in result.reports[0].legs)
    assert_fills_are_the_exchanges_trades(journal, exchange)


async def test_fees_paid_in_a_third_asset_are_valued_at_its_mid(tmp_path: Path) -> None:
    """Fees in BNB (at Binance's 25 % discount), valued in each market's quote at BNB's mid:
    about three quarters of the taker rate, not the rate itself and not 0."""
    extra = """
fee_asset = "BNB"
[balances]
BNB = 50
[markets."BNB/USDT"]
price = 600
tick = 0.01
step = 0.001
min_cost = 5
top_depth = 50
"""
    settings = settings_for(tmp_path, scenario=scenario(tmp_path, extra))
    daemon, exchange, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    usdt_legs = [leg for leg in result.reports[0].legs if leg.quote == "USDT" and leg.filled]
    assert usdt_legs
    for leg in usdt_legs:
        assert set(leg.fees_paid) == {"BNB"}
        assert leg.fees_settled
        ratio = leg.fees / (leg.cost * D("0.001"))
        assert D("0.73") < ratio < D("0.77"), ratio
    assert exchange.engine.account.total("BNB") < D(50)
    assert_fills_are_the_exchanges_trades(journal, exchange)


async def test_trades_before_a_late_cancel_are_read_when_the_leg_ends(tmp_path: Path) -> None:
    """A passive child fills in part, then rests for many seconds before its rest is cancelled.
    The cancel reply is stamped with the cancel (Binance's transactTime, as ccxt reads it): the
    leg's trades are read from when the child was placed, so its early fills are recorded when
    the leg ends, with no reconciliation needed."""
    extra = '[execution]\nstyle = "passive-then-take"\npassive_timeout = 30\nchild_timeout = 5'
    settings = settings_for(tmp_path, extra)
    daemon, exchange, journal = daemon_for(settings)
    result = await daemon.run(once=True)
    rested = [o for o in exchange.engine.all_orders() if o.post_only and o.filled > 0]
    assert any(
        o.trades and o.last_update_timestamp - o.trades[0].timestamp > 2000 for o in rested
    )  # a child filled more than the read's margin before its last reply
    assert all(leg.fees_settled for leg in result.reports[0].legs if leg.filled)
    assert_fills_are_the_exchanges_trades(journal, exchange)
