"""Garbage prices over the command line: `run --once` and the daemon on a simulated exchange whose
replies show NaN, never a traceback, never an exit code that means a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "scenarios" / "demo.toml"


def config(tmp_path: Path, symbol: str) -> Path:
    """The demo portfolio on a scenario where `symbol` shows NaN (book and ticker) for two
    minutes from the start."""
    scenario = tmp_path / "nan.toml"
    scenario.write_text(
        f'extends = "{DEMO}"\n[[events]]\nkind = "bad_price"\nsymbol = "{symbol}"\n'
        "at = 0\nduration = 120\nsize = nan\n"
    )
    path = tmp_path / "bot.toml"
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
[loop]
poll_interval = 30
cooldown = 30
"""
    )
    return path


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_once_on_a_nan_price_says_why_it_waits(tmp_path: Path) -> None:
    """SOL/USDT shows NaN: `run --once` ends as any run that is not balanced (exit 1, the
    reason on stderr), not with a traceback (before: decimal.InvalidOperation)."""
    res = cli("run", "--config", str(config(tmp_path, "SOL/USDT")), "--once")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 1, res.stderr[-3000:]
    assert (
        "not balanced: no price for an asset passes the price checks: waiting (no trusted price"
        " for SOL (SOL/USDT: the ticker shows a bid price of NaN))"
    ) in res.stderr


def test_run_once_trades_around_a_nan_market_no_asset_is_priced_through(tmp_path: Path) -> None:
    """ETH/BTC shows NaN: no asset is priced through it, so it is left out, and the plan is
    carried out on the other markets: exit 0."""
    res = cli("run", "--config", str(config(tmp_path, "ETH/BTC")), "--once")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ETH/BTC: the ticker shows a bid price of NaN" in res.stderr  # logged as refused


def test_the_daemon_waits_through_a_nan_price_and_stops_cleanly(tmp_path: Path) -> None:
    """The daemon (no --once) on SOL/USDT showing NaN: it waits, goes on polling, and a SIGTERM
    later exits 0 (before: a traceback, exit code 1, a crash loop under Docker's restarts)."""
    logs = tmp_path / "stderr.log"
    with logs.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config(tmp_path, "SOL/USDT"))],
            cwd=ROOT,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            time.sleep(6)
            assert proc.poll() is None, logs.read_text()[-3000:]
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    err = logs.read_text()
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 0, err[-3000:]
    assert "SOL/USDT: the ticker shows a bid price of NaN" in err
    assert "rebalance_finished" in err  # once the prices were sane again
