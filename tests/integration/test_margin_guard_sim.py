"""The margin guard on the simulator, in virtual time: a 3x perpetual position through +-20 %
jumps of its underlying (each instantaneous, two or three minutes apart), the daemon polling
every 5 s.

- with the bot: no liquidation, and the net exposures in their bands after every rebalance;
- the same scenario with no bot: liquidated (the jumps are dangerous);
- every reduce-only order only moved its position toward zero (rebuilt from the engine's trades);
- a short futures wallet is refilled from spot before anything is cut; with transfers off the
  guard cuts with reduce-only orders instead.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.sim.perp_exchange import sim_pair
from bot.sim.scenario import load_scenario

from .perps_sim import (
    BTC_PERP,
    PerpSim,
    assert_fills_are_both_exchanges_trades,
    assert_reduce_only_reduced,
    jump_events,
    order_moves,
    outside,
    perp_sim,
    perps_scenario,
    perps_settings,
    run_for,
    sim_exposures,
)

D = Decimal
UP, DOWN = 0.2, -0.2
# (seed, the 3x BTC perp position's side, the jumps: seconds after the start, size)
CASES = [
    (1, "short", [(60, UP), (240, UP), (420, DOWN), (600, UP)]),
    (2, "long", [(60, DOWN), (240, DOWN), (420, UP), (600, DOWN)]),
    (3, "short", [(60, UP), (240, DOWN), (420, UP), (600, UP)]),
    (4, "long", [(60, DOWN), (240, UP), (420, DOWN), (600, DOWN)]),
    (5, "short", [(60, UP), (180, UP), (300, UP)]),
]
AFTER = 180.0  # seconds run after the last jump
# A 1 BTC position at 95,000 on a 32,000 USDT futures wallet: leverage 2.97, liquidated ~33 %
# away. The rest of the account is set so that every exposure starts in its band.
WALLET = 32000
START = {
    "short": (
        "[balances]\nBTC = 2.0\nETH = 20.0\nUSDT = 60000\n",
        {"BTC": "0.27", "ETH": "0.20", "USDT": "0.53"},
    ),
    "long": (
        "[balances]\nBTC = 0.5\nETH = 20.0\nUSDT = 150000\n",
        {"BTC": "0.48", "ETH": "0.23", "USDT": "0.29"},
    ),
}


def jump_scenario(
    tmp_path: Path, seed: int, side: str, jumps: list[tuple[float, float]]
) -> tuple[Path, dict[str, str]]:
    balances, targets = START[side]
    body = f"""seed = {seed}
{balances}
[futures]
wallet = {WALLET}
hedged = false
positions = [
  {{ symbol = "{BTC_PERP}", side = "{side}", contracts = 1, entry = 95000, leverage = 3, margin_mode = "cross" }},
]
{jump_events(jumps)}"""
    return perps_scenario(tmp_path, body), targets


def horizon(jumps: list[tuple[float, float]]) -> float:
    return max(at for at, _ in jumps) + AFTER


async def guarded_run(
    tmp_path: Path,
    seed: int,
    side: str,
    jumps: list[tuple[float, float]],
    derivatives: str = "",
    risk: str | None = None,
) -> tuple[PerpSim, dict[str, str]]:
    """The daemon on the jump scenario until AFTER the last jump; `risk`: the [risk] lines
    (default: a price may move 50 % between polls, so the jumps do not halt it)."""
    scenario, targets = jump_scenario(tmp_path, seed, side, jumps)
    derivatives = 'instruments = { BTC = "both" }\n' + derivatives
    if risk is None:
        settings = perps_settings(tmp_path, scenario, targets, derivatives)
    else:
        settings = perps_settings(tmp_path, scenario, targets, derivatives, risk=risk)
    sim = perp_sim(settings)
    result = await run_for(sim, horizon(jumps))
    assert (result.halted is None) == (risk is None), result.halted
    return sim, targets


def unguarded_liquidations(
    tmp_path: Path, seed: int, side: str, jumps: list[tuple[float, float]]
) -> int:
    """The scenario alone, nobody trading: the engine run to the same horizon."""
    scenario, _ = jump_scenario(tmp_path, seed, side, jumps)
    loaded = load_scenario(scenario)
    spot, perps = sim_pair(loaded)
    perps.engine.advance_to(spot.clock.time() + horizon(jumps))
    return len(perps.engine.liquidations)


@pytest.mark.parametrize("transfers", [True, False], ids=["transfers", "no-transfers"])
@pytest.mark.parametrize(
    ("seed", "side", "jumps"), CASES, ids=[f"seed{c[0]}-{c[1]}" for c in CASES]
)
async def test_20pct_jumps_liquidate_nothing_and_exposures_return_to_band(
    tmp_path: Path, seed: int, side: str, jumps: list[tuple[float, float]], transfers: bool
) -> None:
    """The issue's done-when: the jumps liquidate the position when nobody acts; with the bot
    polling every 5 s nothing is ever liquidated, and after every rebalance each net exposure
    is back in its band (on the simulator's own numbers). With collateral transfers (the
    default) and without them (then only reduce-only cuts can save the position)."""
    assert unguarded_liquidations(tmp_path / "alone", seed, side, jumps) > 0
    derivatives = "" if transfers else "transfer_collateral = false"
    sim, targets = await guarded_run(tmp_path / "bot", seed, side, jumps, derivatives)
    assert sim.perps.liquidations == []
    assert sim.after_reports, "no rebalance after the jumps"
    for report, weights in sim.after_reports:
        assert not outside(weights, targets), (report.rebalance_id, report.reason, weights)
    breaches = [e for e in sim.journal.margin_events(500) if e.kind == "breach"]
    assert breaches  # the guard did see the danger
    if not transfers:
        assert not sim.perps.transfers
    assert_fills_are_both_exchanges_trades(sim)
    assert_reduce_only_reduced(sim)


async def test_reduce_only_orders_only_ever_reduce(tmp_path: Path) -> None:
    """With no collateral to move, the guard must cut: every reduce-only order the bot sent
    moved its position toward zero and never through it (rebuilt from the engine's trades in
    order), and every order that shrank a position was sent reduce-only."""
    sim, _ = await guarded_run(
        tmp_path, 1, "short", CASES[0][2], derivatives="transfer_collateral = false"
    )
    assert sim.perps.liquidations == []
    assert assert_reduce_only_reduced(sim) >= 1
    flagged = [o for o in sim.perps.all_orders() if sim.perps.flags(o.id).reduce_only]
    assert flagged
    for m in order_moves(sim.perps, sim.start):
        if abs(m.after) < abs(m.before):
            assert m.reduce_only, f"order {m.order_id} shrank {m.symbol} without reduceOnly"


async def test_the_guard_moves_collateral_from_spot_before_any_cut(tmp_path: Path) -> None:
    """A short whose underlying jumps 20 %: the futures wallet is short of margin; the guard's
    first action is a transfer from spot (journaled), and any cut comes after one."""
    sim, _ = await guarded_run(tmp_path, 1, "short", CASES[0][2])
    assert sim.perps.liquidations == []
    events = list(reversed(sim.journal.margin_events(500)))  # oldest first
    acts = [e for e in events if e.kind in ("transfer", "reduce") and "for" not in e.detail]
    assert acts and acts[0].kind == "transfer", [(e.kind, e.detail) for e in events]
    first_breach = next(e for e in events if e.kind == "breach")
    assert acts[0].at == first_breach.at
    # on the exchange: spot -> future, before the first reduce-only fill
    moved = [t for t in sim.perps.transfers if (t.from_account, t.to_account) == ("spot", "future")]
    assert moved and moved[0].amount == D(acts[0].detail["amount"])
    cuts = [t.timestamp for t in sim.perps.my_trades() if sim.perps.flags(t.order_id).reduce_only]
    assert not cuts or moved[0].time_ms <= min(cuts)
    # each reduce follows a transfer in the same breach (spot was tapped first)
    for i, e in enumerate(events):
        if e.kind == "reduce":
            since = max(j for j in range(i) if events[j].kind == "breach")
            assert any(x.kind == "transfer" for x in events[since:i]), events[since : i + 1]


async def test_with_transfers_off_the_guard_cuts_with_reduce_only_orders(tmp_path: Path) -> None:
    """`transfer_collateral = false`: nothing moves between the accounts; the guard cuts the
    position with reduce-only orders, journaled as `reduce`, and nothing is liquidated."""
    sim, _ = await guarded_run(
        tmp_path, 1, "short", CASES[0][2], derivatives="transfer_collateral = false"
    )
    assert sim.perps.liquidations == []
    assert sim.perps.transfers == []
    events = sim.journal.margin_events(500)
    assert not [e for e in events if e.kind == "transfer"]
    reduces = [e for e in events if e.kind == "reduce"]
    assert reduces and all(D(e.detail["filled"]) > 0 for e in reduces)
    delevers = [r for r in sim.journal.rebalances(100) if r.report.get("kind") == "delever"]
    assert delevers
    assert assert_reduce_only_reduced(sim) >= 1


@pytest.mark.parametrize(("seed", "side", "jumps"), [CASES[0], CASES[1]], ids=["short", "long"])
async def test_the_guard_still_acts_when_the_kill_switch_has_halted_the_bot(
    tmp_path: Path, seed: int, side: str, jumps: list[tuple[float, float]]
) -> None:
    """With the default price-move limit (10 % between polls) the first 20 % jump halts the bot:
    no rebalance any more, but the margin guard keeps de-levering at every poll (here without
    transfers: by reduce-only cuts), and nothing is liquidated."""
    sim, _ = await guarded_run(
        tmp_path, seed, side, jumps, "transfer_collateral = false", risk="max_price_move_pct = 10"
    )
    assert sim.perps.liquidations == []
    assert sim.after_reports == []  # halted: no rebalance
    reduces = [e for e in sim.journal.margin_events(500) if e.kind == "reduce"]
    assert len({e.at for e in reduces}) >= 2  # after more than one jump
    assert assert_reduce_only_reduced(sim) >= 2


@pytest.mark.parametrize(
    "rebalancing",
    [False, True],
    ids=["idle", "mid-rebalance"],
)
async def test_jumps_during_a_rebalance_liquidate_nothing(
    tmp_path: Path, rebalancing: bool
) -> None:
    """Three +20 % jumps 30 s apart on the 3x short, the default `schedule` execution style, no
    collateral transfers (only the guard's reduce-only cuts can save the position).
    idle: every exposure in band, the bot only polls (every 5 s): the guard acts after the first
    jump and nothing is liquidated. mid-rebalance: ETH's target 35 % (it holds 20 %) starts a
    rebalance at the first poll that is still being worked when the jumps come: the guard must
    protect the position then too."""
    jumps = [(30.0, UP), (60.0, UP), (90.0, UP)]
    scenario, targets = jump_scenario(tmp_path, 1, "short", jumps)
    if rebalancing:
        targets = {"BTC": "0.27", "ETH": "0.35", "USDT": "0.38"}
    settings = perps_settings(
        tmp_path,
        scenario,
        targets,
        'instruments = { BTC = "both" }\ntransfer_collateral = false',
        execution='style = "schedule"\nhorizon = 900',
    )
    sim = perp_sim(settings)
    await run_for(sim, 300)
    assert sim.perps.liquidations == []


async def test_a_guard_cut_below_the_minimum_notional_still_reduces(tmp_path: Path) -> None:
    """A small long (0.002 BTC, 190 USDT) on a 25 USDT wallet, liquidated ~13 % away (floor
    15 %), no collateral to move: the guard must cut it. delever plans 0.001 BTC (95 USDT,
    under the perp's 100 USDT minimum notional, which Binance waives for reduce-only orders);
    the cut must happen (or the whole position close), not be skipped every poll."""
    body = f"""[futures]
wallet = 25
positions = [ {{ symbol = "{BTC_PERP}", side = "long", contracts = "0.002", entry = 95000, leverage = 10, margin_mode = "cross" }} ]
"""
    targets = {"BTC": "0.59", "ETH": "0.22", "USDT": "0.19"}  # in band from the start
    settings = perps_settings(
        tmp_path,
        perps_scenario(tmp_path, body),
        targets,
        'instruments = { BTC = "both" }\ntransfer_collateral = false\n'
        "max_leverage = 10\ntarget_leverage = 10",
    )
    sim = perp_sim(settings)
    assert not outside(sim_exposures(sim), targets)
    await run_for(sim, 60)
    events = sim.journal.margin_events(500)
    assert [e for e in events if e.kind == "breach"]  # the guard saw it
    delevers = [r for r in sim.journal.rebalances(100) if r.report.get("kind") == "delever"]
    idle = [e for e in events if e.kind == "reduce" and D(e.detail["filled"]) == 0]
    assert sim.perps.position(BTC_PERP).amount < D("0.002"), (len(delevers), len(idle))
    assert not idle and len(delevers) <= 2
