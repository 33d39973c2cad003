"""Spot and perpetuals over HTTP, through ccxt's real classes: `sim-server` serves the perps
scenario as Binance spot (`binance`) and USD-M futures (`binanceusdm`) on one port, and the
bot's CLI, in demo mode pointed at it, rebalances the portfolio to its EXPOSURE targets (spot
plus the perpetuals' positions, over spot and the futures wallet). Afterwards every exposure is
inside its band, as the exchange's own state values it; the journal's fills are both accounts'
trades; no position was flipped; no order is left open; `status` shows the perpetuals."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

from bot.sim.binance import BinanceFront
from bot.sim.scenario import load_scenario
from tests.e2e.helpers import ROOT, bot, env, serve

PERPS = ROOT / "config/scenarios/perps.toml"
TARGETS = {"BTC": Decimal("0.30"), "ETH": Decimal("0.30"), "USDT": Decimal("0.40")}
BAND = Decimal("0.03")


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
id = "binance"
mode = "demo"
api_url = "{url}"
retries = 8
timeout = 3
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.30, ETH = 0.30, USDT = 0.40 }}
[bands]
width = {BAND}
[execution]
style = "passive-then-take"
participation = 0.3
band_bps = 15
child_timeout = 0.3
passive_timeout = 0.6
[journal]
path = "journal.sqlite"
[loop]
poll_interval = 0.5
cooldown = 0.5
[derivatives]
enabled = true
instruments = {{ BTC = "both", ETH = "perp" }}
"""
    )
    return path


def exposures(front: BinanceFront) -> dict[str, Decimal]:
    """Each asset's net exposure over equity, from the exchange's own state: spot balances at
    the books' mids plus the perpetual positions at the mark, over spot value plus the futures
    wallet's margin balance."""
    assert front.futures is not None
    perps, spot = front.futures.engine, front.engine
    values: dict[str, Decimal] = {"USDT": spot.account.total("USDT")}
    for asset in ("BTC", "ETH"):
        bids, asks = spot.book(f"{asset}/USDT")
        values[asset] = spot.account.total(asset) * (bids[0].price + asks[0].price) / 2
    equity = sum(values.values(), Decimal(0)) + perps.balance().margin_balance
    net = dict(values)
    for p in perps.positions():
        base = p.symbol.split("/")[0]
        net[base] += p.notional(perps.mark_price(p.symbol))
    net["USDT"] = equity - net["BTC"] - net["ETH"]
    return {a: v / equity for a, v in net.items()}


def test_spot_and_perps_reach_their_exposure_targets_through_ccxt(tmp_path: Path) -> None:
    # Binance's demo trading has no transfer API: the futures wallet holds enough collateral
    # for the new positions at target_leverage from the start.
    scenario = tmp_path / "perps.toml"
    scenario.write_text(f'extends = "{PERPS}"\n[futures]\nwallet = 80000\n')
    with serve(scenario=load_scenario(scenario)) as server:
        cfg = config(tmp_path, server.url)
        before = server.read(exposures)
        assert abs(before["ETH"] - TARGETS["ETH"]) > BAND  # ETH is out of its band at the start
        res = bot(cfg, "--until-balanced", timeout=180)
        assert res.returncode == 0, res.stderr[-3000:]
        after = server.read(exposures)
        status = subprocess.run(
            [sys.executable, "-m", "bot", "status", "--config", str(cfg), "--json"],
            cwd=ROOT,
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    for asset, target in TARGETS.items():
        assert abs(after[asset] - target) <= BAND, (asset, after[asset], before[asset])
    front = server.front
    assert front.futures is not None
    perps = front.futures.engine
    assert not front.engine.open_orders() and not perps.open_orders()
    orders = [*front.engine.all_orders(), *perps.all_orders()]
    assert any(":" in o.symbol for o in orders), "the perpetuals were traded"
    twice = {c: n for c, n in Counter(o.client_order_id for o in orders).items() if n > 1}
    assert not twice
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    try:
        fills = {(r[0], r[1]) for r in db.execute("SELECT trade_id, symbol FROM fills")}
        journaled = {r[0] for r in db.execute("SELECT client_id FROM orders")}
    finally:
        db.close()
    trades = {(t.id, t.symbol) for t in front.engine.my_trades()}
    trades |= {(t.id, t.symbol) for s in perps.specs for t in perps.my_trades(s)}
    assert fills == trades, "the journal's fills are both accounts' trades"
    assert {o.client_order_id for o in orders} <= journaled
    # No position flipped by accident: the starting short BTC perp was only bought back toward
    # zero by reduce-only orders, never past it by one.
    for order in perps.all_orders():
        if perps.flags(order.id).reduce_only:
            assert order.symbol == "BTC/USDT:USDT" and order.side.value == "buy"
    data = json.loads(status.stdout)
    derivatives = data["derivatives"]
    assert derivatives is not None and derivatives["breaches"] == []
    assert {p["symbol"] for p in derivatives["positions"]} <= set(perps.specs)


def test_paper_trades_perpetuals_on_public_data_and_sends_nothing(tmp_path: Path) -> None:
    """Paper mode with [derivatives]: the venue's public data (the server's /fapi books, marks
    and funding through ccxt's binanceusdm), a simulated futures account funded from the paper
    spot account; the exposures reach their bands and not one order reaches the exchange."""
    cfg = tmp_path / "bot.toml"
    with serve(scenario=load_scenario(PERPS)) as server:
        cfg.write_text(
            config(tmp_path, server.url).read_text().replace('mode = "demo"', 'mode = "paper"')
            + "[paper]\nbalances = { USDT = 200000, BTC = 1 }\n"
        )
        res = bot(cfg, "--until-balanced", timeout=180)
        assert res.returncode == 0, res.stderr[-3000:]
        front = server.front
        assert front.futures is not None
        assert not front.engine.all_orders() and not front.futures.engine.all_orders()
    state = json.loads((tmp_path / "journal.paper-perp.json").read_text())
    assert state, "the paper futures account is kept beside the journal"
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    try:
        perp_fills = db.execute("SELECT COUNT(*) FROM fills WHERE symbol LIKE '%:%'").fetchone()
        transfers = db.execute(
            "SELECT COUNT(*) FROM margin_events WHERE kind = 'transfer'"
        ).fetchone()
    finally:
        db.close()
    assert perp_fills[0] > 0, "the perpetuals were paper-traded"
    assert transfers[0] > 0, "collateral moved from the paper spot account"
