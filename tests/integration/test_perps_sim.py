"""Perpetual futures beside spot (`[derivatives]`) on the simulator, in virtual time: a
rebalance to NET EXPOSURE targets (spot value + signed perp notional over spot + futures equity)
judged on the simulator's own state, the journal's fills against both exchanges' trades, hedge
mode and its mismatch, and funding journaled exactly as the exchange booked it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bot.domain.market import Side
from bot.metrics import Metrics
from bot.sim.perp_account import IncomeType, PerpSide

from .perps_sim import (
    BTC_PERP,
    ETH_PERP,
    ZERO,
    assert_fills_are_both_exchanges_trades,
    assert_reduce_only_reduced,
    order_moves,
    outside,
    perp_sim,
    perps_scenario,
    perps_settings,
    run_for,
    sim_exposures,
)

D = Decimal
HOUR = 3600.0
TARGETS = {"BTC": "0.30", "ETH": "0.30", "USDT": "0.40"}
BOTH_PERP = 'instruments = { BTC = "both", ETH = "perp" }'
PASSIVE = 'style = "passive-then-take"\nchild_timeout = 2\npassive_timeout = 5'


async def test_spot_and_perps_rebalance_to_exposure_targets(tmp_path: Path) -> None:
    """perps.toml (2 BTC + 20 ETH spot, 60,000 USDT, 40,000 in the futures wallet, short 1 BTC
    perp at 3x): BTC `both`, ETH `perp`. Afterwards every net exposure is in its band on the
    simulator's own numbers, the journal holds exactly the trades of both exchanges, the perp
    legs are journaled, and no position changed sign."""
    settings = perps_settings(
        tmp_path, perps_scenario(tmp_path), TARGETS, BOTH_PERP, execution=PASSIVE
    )
    sim = perp_sim(settings)
    before = sim_exposures(sim)
    assert set(outside(before, TARGETS)) == {"BTC", "ETH", "USDT"}  # BTC ~27 %, ETH ~20 %
    result = await sim.daemon.run(until_balanced=True)
    assert result.halted is None and result.waiting is None
    assert result.reports and all(r.status.value == "done" for r in result.reports)

    after = sim_exposures(sim)
    assert not outside(after, TARGETS), after
    assert not sim.perps.liquidations
    assert_fills_are_both_exchanges_trades(sim)

    # the perpetual legs are journaled with what the engine filled
    legs = [leg for r in sim.journal.rebalances() for leg in sim.journal.legs_of(r.id)]
    perp_legs = [leg for leg in legs if leg.symbol in (BTC_PERP, ETH_PERP)]
    assert {leg.symbol for leg in perp_legs} == {BTC_PERP, ETH_PERP}
    for leg in perp_legs:
        keyed = [f for f in sim.journal.recorded_fills() if f.leg_key == leg.key]
        assert keyed and sum((f.amount for f in keyed), ZERO) == leg.filled > 0
    perp_filled = {
        s: sum((t.amount if t.side is Side.BUY else -t.amount) for t in sim.perps.my_trades(s))
        for s in (BTC_PERP, ETH_PERP)
    }
    journaled = {
        s: sum(
            (leg.filled if leg.side is Side.BUY else -leg.filled)
            for leg in perp_legs
            if leg.symbol == s
        )
        for s in (BTC_PERP, ETH_PERP)
    }
    assert journaled == perp_filled

    # ETH is carried by its perpetual only: its spot market is not traded
    assert not sim.spot.engine.my_trades("ETH/USDT")
    assert sim.spot.engine.account.free["ETH"] == D(20)
    # no position flipped: the short BTC is smaller or flat, never long; ETH opened long
    assert_reduce_only_reduced(sim)
    btc = sim.perps.position(BTC_PERP).amount
    assert D(-1) <= btc <= 0
    assert sim.perps.position(ETH_PERP).amount > 0


HEDGED = """
[futures]
hedged = true
positions = [
  { symbol = "BTC/USDT:USDT", side = "short", contracts = 1, entry = 95000, leverage = 3 },
  { symbol = "BTC/USDT:USDT", side = "long", contracts = "0.3", entry = 95000, leverage = 3 },
]
"""


async def test_hedge_mode_rebalances_with_position_sides(tmp_path: Path) -> None:
    """An account in hedge mode (a BTC short of 1 and a long of 0.3 at once), the configuration
    saying hedge: the rebalance sends positionSide orders, handles both sides (the side against
    the desired direction closed reduce-only), and every exposure ends in its band."""
    scenario = perps_scenario(tmp_path, HEDGED)
    settings = perps_settings(
        tmp_path, scenario, TARGETS, BOTH_PERP + '\nposition_mode = "hedge"', execution=PASSIVE
    )
    sim = perp_sim(settings)
    assert sim.perps.hedged
    assert sim.start == {(BTC_PERP, PerpSide.SHORT): D(-1), (BTC_PERP, PerpSide.LONG): D("0.3")}
    result = await sim.daemon.run(until_balanced=True)
    assert result.halted is None, result.halted
    assert result.reports

    after = sim_exposures(sim)
    assert not outside(after, TARGETS), after
    assert_fills_are_both_exchanges_trades(sim)
    sides = {sim.perps.flags(o.id).position_side for o in sim.perps.all_orders()}
    assert sides and PerpSide.BOTH not in sides  # every order names its position
    moves = order_moves(sim.perps, sim.start)
    assert {m.side for m in moves} == {PerpSide.LONG, PerpSide.SHORT}, moves  # both handled
    for m in moves:  # a position side never changes sign
        sign = 1 if m.side is PerpSide.LONG else -1
        assert m.before * sign >= 0 and m.after * sign >= 0, m
    assert_reduce_only_reduced(sim)
    # the BTC exposure wanted more long: the short shrank (it is closed first)
    assert sim.perps.position(BTC_PERP, PerpSide.SHORT).amount > D(-1)


async def test_a_position_mode_mismatch_halts_naming_both_and_trades_nothing(
    tmp_path: Path,
) -> None:
    """The account is in hedge mode, the configuration says one-way: the bot halts with one
    line naming both modes, and sends no order on either exchange."""
    scenario = perps_scenario(tmp_path, HEDGED)
    settings = perps_settings(tmp_path, scenario, TARGETS, BOTH_PERP)  # position_mode: oneway
    sim = perp_sim(settings)
    result = await sim.daemon.run(until_balanced=True)
    assert result.halted is not None
    assert "hedge" in result.halted and "oneway" in result.halted, result.halted
    assert not result.reports or all(r.rebalance_id is None for r in result.reports)
    assert not sim.perps.all_orders() and not sim.spot.engine.all_orders()
    assert not sim.perps.transfers
    assert sim.journal.rebalances() == []


async def test_funding_journaled_equals_the_exchanges_funding_fees(tmp_path: Path) -> None:
    """Ten virtual hours from 22:13 UTC (settlements at 00:00 and 08:00) on perps.toml with the
    BTC short and an ETH long opened by the first rebalance: the journal's funding table is the
    simulator's FUNDING_FEE income, exactly: the same ids, symbols, amounts (signs included)
    and times; the short received, the long paid."""
    # polls every 10 minutes (every 5 s would be 7,200 polls), the engine in 30 s steps (1 s
    # while an order rests)
    loop = "poll_interval = 600\ncooldown = 600"
    scenario = perps_scenario(tmp_path, "step_seconds = 30.0")
    settings = perps_settings(tmp_path, scenario, TARGETS, BOTH_PERP, loop=loop)
    registry = CollectorRegistry()
    sim = perp_sim(settings, Metrics(600.0, registry=registry))
    await run_for(sim, 10 * HOUR)
    fees = [i for i in sim.perps.incomes if i.type is IncomeType.FUNDING_FEE]
    assert len({i.time_ms for i in fees}) == 2
    assert {i.symbol for i in fees} == {BTC_PERP, ETH_PERP}
    assert all(i.amount > 0 for i in fees if i.symbol == BTC_PERP)  # the short received
    assert all(i.amount < 0 for i in fees if i.symbol == ETH_PERP)  # the long paid
    journaled = sim.journal.funding()
    assert [(p.id, p.symbol, p.asset, p.amount, p.timestamp) for p in journaled] == [
        (i.id, i.symbol, i.asset, i.amount, i.time_ms)
        for i in sorted(fees, key=lambda i: (i.time_ms, i.id))
    ]
    # the metrics count the same money, received and paid apart
    received = sum((i.amount for i in fees if i.amount > 0), ZERO)
    paid = -sum((i.amount for i in fees if i.amount < 0), ZERO)
    labels = {"asset": "USDT"}
    shown = registry.get_sample_value("rebalance_funding_received_total", labels)
    assert shown == pytest.approx(float(received), rel=1e-9)
    shown = registry.get_sample_value("rebalance_funding_paid_total", labels)
    assert shown == pytest.approx(float(paid), rel=1e-9)
    assert_fills_are_both_exchanges_trades(sim)


FLIP = """
[futures]
positions = [
  { symbol = "ETH/USDT:USDT", side = "long", contracts = 5, entry = 3500, leverage = 3 },
]
"""


async def test_a_long_perp_that_must_go_short_closes_then_opens(tmp_path: Path) -> None:
    """ETH carried by its perpetual, long 5 ETH, the target below the spot holding (20 ETH,
    ~19 %): the perp must end short. It gets there by a reduce-only close and a separate
    opening order, never one order through zero; the exposures end in their bands."""
    targets = {"BTC": "0.30", "ETH": "0.10", "USDT": "0.60"}
    scenario = perps_scenario(tmp_path, FLIP)
    settings = perps_settings(tmp_path, scenario, targets, BOTH_PERP)
    sim = perp_sim(settings)
    result = await sim.daemon.run(until_balanced=True)
    assert result.halted is None, result.halted
    assert not outside(sim_exposures(sim), targets), sim_exposures(sim)
    assert sim.perps.position(ETH_PERP).amount < 0
    moves = [m for m in order_moves(sim.perps, sim.start) if m.symbol == ETH_PERP]
    assert [m.reduce_only for m in moves][:1] == [True]  # the long closed first, reduce-only
    assert moves[0].after == 0
    assert_reduce_only_reduced(sim)  # no order crossed zero
    assert_fills_are_both_exchanges_trades(sim)


ISOLATED = """
[futures]
positions = [
  { symbol = "BTC/USDT:USDT", side = "short", contracts = 1, entry = 95000, leverage = 3, margin_mode = "isolated" },
]
"""


async def test_a_margin_mode_mismatch_halts_naming_both_and_trades_nothing(
    tmp_path: Path,
) -> None:
    """The BTC short is isolated, the configuration says cross: the bot halts naming the
    symbol and both modes, and nothing is traded or moved."""
    scenario = perps_scenario(tmp_path, ISOLATED)
    settings = perps_settings(tmp_path, scenario, TARGETS, BOTH_PERP)  # margin_mode: cross
    sim = perp_sim(settings)
    result = await sim.daemon.run(until_balanced=True)
    assert result.halted is not None
    assert all(w in result.halted for w in (BTC_PERP, "isolated", "cross")), result.halted
    assert not sim.perps.all_orders() and not sim.spot.engine.all_orders()
    assert not sim.perps.transfers


MIXED = """
[futures]
positions = [
  { symbol = "BTC/USDT:USDT", side = "short", contracts = 1, entry = 95000, leverage = 3, margin_mode = "isolated" },
  { symbol = "ETH/USDT:USDT", side = "long", contracts = 2, entry = 3500, leverage = 3, margin_mode = "cross" },
]
"""


async def test_a_margin_mode_mismatch_names_the_mismatching_positions_mode(
    tmp_path: Path,
) -> None:
    """Configuration isolated; BTC isolated (agrees), ETH cross (does not): the halt names ETH
    and the mode it is really in (cross)."""
    scenario = perps_scenario(tmp_path, MIXED)
    derivatives = BOTH_PERP + '\nmargin_mode = "isolated"'
    settings = perps_settings(tmp_path, scenario, TARGETS, derivatives)
    sim = perp_sim(settings)
    result = await sim.daemon.run(until_balanced=True)
    assert result.halted is not None
    assert not sim.perps.all_orders() and not sim.spot.engine.all_orders()
    assert f"{ETH_PERP} in cross margin" in result.halted, result.halted
