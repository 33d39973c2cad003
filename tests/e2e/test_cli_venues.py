"""`plan` and `run --once` in sim mode for a configuration naming each supported exchange: the
simulator answers with that exchange's rules (client-id length and charset, tickers with or
without bid and ask, fees in the quote or in the asset received, order-book depths), and the bot
trades under them."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.exchange.profiles import profile_for, verified_exchanges
from tests.e2e.helpers import reports

ROOT = Path(__file__).resolve().parents[2]
EXCHANGES = sorted(verified_exchanges())


def config(tmp_path: Path, exchange_id: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
id = "{exchange_id}"
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.40, ETH = 0.25, SOL = 0.15, LINK = 0.10, USDT = 0.10 }}
[bands]
width = 0.03
[sim]
scenario = "{ROOT / "config/scenarios/demo.toml"}"
time = "virtual"
[execution]
participation = 0.2
band_bps = 15
child_timeout = 2
passive_timeout = 4
[journal]
path = "journal.sqlite"
"""
    )
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_plan_and_run_once_in_sim_under_each_exchanges_rules(
    tmp_path: Path, exchange_id: str
) -> None:
    cfg = config(tmp_path, exchange_id)
    planned = cli("plan", "--config", str(cfg))
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "OUT: sell" in planned.stdout and "After the plan" in planned.stdout

    ran = cli("run", "--config", str(cfg), "--once")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert f"with {exchange_id}'s rules" in ran.stdout + ran.stderr
    assert [r["rebalance_id"] for r in reports(ran.stdout)] == [1], ran.stdout[-2000:]
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    ids = [r[0] for r in db.execute("SELECT client_id FROM orders")]
    fills = db.execute("SELECT fee_currency, symbol FROM fills").fetchall()
    db.close()
    assert ids, "the bot traded"
    rules = profile_for(exchange_id).client_id
    room = rules.max_length - len(rules.prefix)
    for cid in ids:
        assert re.fullmatch(f"[{rules.charset}]{{1,{room}}}", cid), cid
    quotes = {fee for fee, symbol in fills if fee == symbol.split("/")[1]}
    if profile_for(exchange_id).fees_in == "quote":
        assert {fee for fee, _ in fills} == quotes, "every fee in the quote"
    else:
        assert {fee for fee, _ in fills} - quotes, "buys pay their fee in the base"
