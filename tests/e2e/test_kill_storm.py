"""The kill storm: `rebalance-bot run`, as a subprocess on the real ccxt binance client, is
SIGKILLed again and again at random moments while it trades against the simulator served as
Binance over HTTP, with faults on: replies lost after the order executed (held back past the
client's timeout, dropped, 500 -1001 and 503 -1007 that executed anyway), 429 bursts, injected
-1021 refusals and an exchange clock 20 s ahead of the bot's. Then one uninterrupted run finishes.

Afterwards no client order id was sent twice, no order is left open, the journal's fills and fees
are the exchange's trades, every asset is inside its band, and no rebalance is left running.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.sim.binance import BinanceFront, HttpFaults
from bot.sim.scenario import load_scenario
from tests.e2e.helpers import (
    BAND_WIDTH,
    DEMO,
    ROOT,
    TARGETS,
    Server,
    bot,
    check_exchange_against_journal,
    config,
    env,
    serve,
)

KILLS = 20
SEED = 1407
# The demo market with Binance's own trouble on top (see bot/sim/faults.py): order replies lost
# after the order was placed; 500 -1001 and 503 -1007, of which some executed; -1021 refusals;
# the exchange's clock 20 s ahead of the bot's. Rates keep a run of ~700 requests and ~50
# orders sure to meet each (the fault stream's seed is fixed; which call meets which draw is
# not).
STORM = f"""
extends = "{DEMO}"
name = "kill-storm"
clock_offset = 20.0
[faults]
lost_create_reply = 0.12
internal_error = 0.015
internal_error_executed = 0.6
backend_timeout = 0.015
backend_timeout_executed = 0.6
invalid_timestamp = 0.03
"""
# ... and the transport's: 429 bursts, and replies held back past the client's 1.5 s timeout.
HTTP = HttpFaults(rate_limited=0.01, burst_seconds=0.5, slow=0.01, slow_seconds=2.0, seed=SEED)
# A lost order request is waited out for Binance's receive window, 2 s here (and a margin); a
# wait polls again within 2 s; the second look that confirms prices comes 0.3 s after the first.
SETTINGS = """
[exchange.options]
recvWindow = 2000
[risk]
max_wait = 2
price_confirm_after = 0.3
"""
LIVE = "('intent', 'sent', 'open', 'partially_filled', 'cancelling')"


@dataclass(frozen=True)
class Kill:
    placed: int  # orders the killed process placed
    first_after: float  # seconds from its start to its first order
    since_last: float  # seconds from the last order it placed to the kill
    cut_short: bool  # a rebalance was left running in the journal
    in_flight: int  # orders whose life the journal had not closed


def order_count(front: BinanceFront) -> int:
    return len(front.engine.orders)


def journal_state(path: Path) -> tuple[bool, int]:
    """(a rebalance is running, orders not final), as a killed process left the journal."""
    if not path.exists():
        return False, 0
    db = sqlite3.connect(path)
    try:
        running = db.execute("SELECT COUNT(*) FROM rebalances WHERE status = 'running'")
        live = db.execute(f"SELECT COUNT(*) FROM orders WHERE status IN {LIVE}")
        return running.fetchone()[0] > 0, live.fetchone()[0]
    finally:
        db.close()


def weights(front: BinanceFront) -> dict[str, Decimal]:
    """Each target asset's weight, from the exchange's balances valued at its books' mids."""
    values = {}
    for asset in TARGETS:
        amount = front.engine.account.total(asset)
        if asset == "USDT":
            values[asset] = amount
            continue
        bids, asks = front.engine.book(f"{asset}/USDT")
        values[asset] = amount * (bids[0].price + asks[0].price) / 2
    total = sum(values.values())
    return {asset: value / total for asset, value in values.items()}


def storm(server: Server, cfg: Path, journal: Path, rng: random.Random) -> list[Kill]:
    kills = []
    for i in range(KILLS):
        before = server.read(order_count)
        log = cfg.parent / f"run-{i}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(cfg)],
                cwd=ROOT,
                env={**env(), "REBALANCE_EXECUTION__PARTICIPATION": "0.05"},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        # Once it trades (its first order reached the exchange), kill it at a random moment.
        started = time.monotonic()
        count = before
        while count == before and time.monotonic() - started < 20:
            time.sleep(0.02)
            count = server.read(order_count)
        last_order = time.monotonic()
        first_after = last_order - started
        kill_at = last_order + rng.uniform(0.0, 0.8)
        while (now := time.monotonic()) < kill_at:
            time.sleep(min(0.02, kill_at - now))
            if (seen := server.read(order_count)) != count:
                count, last_order = seen, time.monotonic()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL, log.read_text()[-3000:]
        placed = server.read(order_count) - before
        cut_short, in_flight = journal_state(journal)
        kills.append(Kill(placed, first_after, time.monotonic() - last_order, cut_short, in_flight))
    return kills


@pytest.mark.slow
def test_a_storm_of_kills_mid_rebalance_with_faults_never_duplicates(tmp_path: Path) -> None:
    scenario = tmp_path / "storm.toml"
    scenario.write_text(STORM)
    rng = random.Random(SEED)
    with serve(HTTP, load_scenario(scenario)) as server:
        cfg = config(tmp_path, server.url, SETTINGS)
        journal = tmp_path / "journal.sqlite"
        started = time.monotonic()
        kills = storm(server, cfg, journal, rng)
        storm_took = time.monotonic() - started
        # one last, uninterrupted run reconciles what the kills left and finishes the job
        res = bot(cfg, "--until-balanced", timeout=120)
        took = time.monotonic() - started
        assert res.returncode == 0, res.stderr[-3000:]
    # the server has stopped: what it holds is final
    front = server.front
    faults = front.exchange.faults.injected
    lost = faults["lost_create_reply"] + front.slow_replies["newOrder"]
    executed = faults["internal_error_executed"] + faults["backend_timeout_executed"]
    mid = [k for k in kills if k.placed and k.cut_short]
    print(
        f"kill storm: {len(kills)} kills in {storm_took:.1f} s, {took:.1f} s in all;"
        f" {len(mid)} mid-trading; {len(front.engine.orders)} orders,"
        f" {sum(front.requests.values())} requests; placed per kill {[k.placed for k in kills]};"
        f" seconds to the first order {[round(k.first_after, 1) for k in kills]};"
        f" seconds from the last order {[round(k.since_last, 2) for k in kills]};"
        f" orders in flight {[k.in_flight for k in kills]}; faults {dict(faults)},"
        f" http {dict(front.transport_faults)}, slow replies {dict(front.slow_replies)}"
    )
    check_exchange_against_journal(front, journal)
    assert len(kills) >= 20
    assert len(mid) >= 0.8 * len(kills), kills
    assert lost + executed > 0, "order replies were lost after the order executed"
    assert front.transport_faults["rate_limited"] > 0, "429 bursts were met"
    assert faults["invalid_timestamp"] > 0, "-1021 refusals were met"
    for asset, weight in weights(front).items():
        assert abs(weight - TARGETS[asset]) <= BAND_WIDTH, (asset, weight)
    db = sqlite3.connect(journal)
    try:
        statuses = {r[0] for r in db.execute("SELECT status FROM rebalances")}
        live = db.execute(f"SELECT COUNT(*) FROM orders WHERE status IN {LIVE}").fetchone()[0]
    finally:
        db.close()
    assert "running" not in statuses
    assert live == 0
