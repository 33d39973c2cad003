"""`flows`, `history` and `performance` through the CLI, against the built-in simulator in virtual
time: the demo portfolio rebalanced while a scheduled deposit (scenario `[[flows]]`) arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.helpers import DEMO, ROOT

D = Decimal


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    env["COLUMNS"] = "80"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, run until balanced; 200,000 USDT deposited 30 s in (during the rebalance)."""
    tmp = tmp_path_factory.mktemp("performance")
    scenario = tmp / "deposit.toml"
    scenario.write_text(
        f'extends = "{DEMO}"\nname = "deposit"\n'
        '[[flows]]\nkind = "deposit"\nasset = "USDT"\namount = 200000\nat = 30\n'
    )
    path = tmp / "bot.toml"
    path.write_text(
        f"""
[exchange]
id = "binance"
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.40, ETH = 0.25, SOL = 0.15, LINK = 0.10, USDT = 0.10 }}
[bands]
width = 0.03
[sim]
scenario = "{scenario}"
time = "virtual"
[journal]
path = "journal.sqlite"
[log]
level = "warning"
"""
    )
    run = cli("run", "--config", str(path), "--until-balanced", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    return path


def test_flows_lists_the_deposit_with_its_value(config: Path) -> None:
    res = cli("flows", "--config", str(config), "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    (flow,) = json.loads(res.stdout)
    assert (flow["kind"], flow["asset"], flow["status"]) == ("deposit", "USDT", "ok")
    assert D(flow["amount"]) == 200_000 and D(flow["value"]) == 200_000
    text = cli("flows", "--config", str(config))
    assert text.returncode == 0 and "deposit" in text.stdout and "200,000.00" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()) <= 80


def test_history_shows_the_deposit_apart_from_the_rebalances(config: Path) -> None:
    rows = json.loads(cli("history", "--config", str(config), "--json").stdout)
    kinds = [r["type"] for r in rows]
    assert kinds.count("flow") == 1 and kinds.count("rebalance") >= 2
    rebalances = [r for r in rows if r["type"] == "rebalance"]
    assert all(r["traded_value"] is not None for r in rebalances)
    text = cli("history", "--config", str(config)).stdout
    assert "Deposits and withdrawals (not trading)" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_performance_is_net_of_the_deposit(config: Path) -> None:
    res = cli("performance", "--config", str(config), "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(res.stdout)
    assert D(data["net_flows"]) == 200_000
    start, end = D(data["start_value"]), D(data["end_value"])
    assert end / start - 1 > D("0.15")  # the deposit, counted as a gain
    assert abs(D(data["twr"])) < D("0.01")  # net of it
    assert D(data["difference"]) == D(data["twr"]) - D(data["hold_return"])
    assert data["rebalances"] >= 2 and D(data["fees"]) > 0
    assert data["periods"] == 2
    # the last point is after the last rebalance: its cost is in the return as in the fees
    history = json.loads(cli("history", "--config", str(config), "--json").stdout)
    assert data["end"] >= max(r["finished"] for r in history if r["type"] == "rebalance")
    text = cli("performance", "--config", str(config))
    assert "time-weighted return" in text.stdout and "buy-and-hold return" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()) <= 80
    recent = json.loads(
        cli("performance", "--config", str(config), "--since", "1m", "--json").stdout
    )
    assert recent["start"] is not None and recent["start"] >= data["start"]
    bad = cli("performance", "--config", str(config), "--since", "soon")
    assert bad.returncode != 0 and "--since 'soon'" in bad.stderr
