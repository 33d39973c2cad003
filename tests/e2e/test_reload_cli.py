"""SIGHUP reloads the configuration of a running `rebalance-bot run` (the built-in simulator):
new targets are journaled with their source; a bad config, or one that changes what cannot change
while running, is refused with one log line and the bot keeps running on what it had."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from bot.journal_targets import TargetsRow

D = Decimal

ROOT = Path(__file__).resolve().parents[2]
OLD = "{ BTC = 0.40, ETH = 0.25, SOL = 0.15, LINK = 0.10, USDT = 0.10 }"
NEW = "{ BTC = 0.30, ETH = 0.30, SOL = 0.15, LINK = 0.15, USDT = 0.10 }"
BAD = "{ BTC = 0.30, ETH = 0.30, SOL = 0.15, LINK = 0.15 }"  # sums to 0.9


def write_config(path: Path, targets: str, exchange_id: str = "binance") -> None:
    path.write_text(
        f"""
[exchange]
id = "{exchange_id}"
mode = "sim"
[portfolio]
quote = "USDT"
targets = {targets}
[bands]
width = 0.45
[sim]
scenario = "{ROOT / "config/scenarios/demo.toml"}"
time = "real"
[journal]
path = "journal.sqlite"
[loop]
poll_interval = 0.3
[risk]
price_confirm_after = 0.3
"""
    )


def changes(journal: Path) -> list[TargetsRow]:
    """The journal's target changes, newest first, read-only ([] while the bot creates it)."""
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT at, source, origin, weights FROM targets ORDER BY id DESC")
            return [
                TargetsRow(at, source, origin, {a: D(w) for a, w in json.loads(weights).items()})
                for at, source, origin, weights in rows
            ]
        finally:
            db.close()
    except sqlite3.Error:
        return []


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[str], err: Path) -> None:
    deadline = time.monotonic() + 60
    while not what():
        assert proc.poll() is None, err.read_text()[-3000:]
        assert time.monotonic() < deadline, err.read_text()[-3000:]
        time.sleep(0.1)


def logged(err: Path, event: str) -> list[dict[str, object]]:
    out = []
    for line in err.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event:
                out.append(entry)
    return out


def test_sighup_reloads_the_config_and_refuses_a_bad_one(tmp_path: Path) -> None:
    cfg, journal, err = tmp_path / "bot.toml", tmp_path / "journal.sqlite", tmp_path / "err.log"
    write_config(cfg, OLD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(cfg)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    try:
        wait_for(lambda: len(changes(journal)) == 1, proc, err)
        assert changes(journal)[0].source == "config"
        wait_for(lambda: bool(logged(err, "poll")), proc, err)  # running, the handler in place

        write_config(cfg, NEW)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: changes(journal)[0].source == "sighup", proc, err)
        assert changes(journal)[0].weights["LINK"] == D("0.15")

        write_config(cfg, BAD)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(logged(err, "targets_refused")) == 1, proc, err)
        assert "must sum to 1" in str(logged(err, "targets_refused")[0]["problem"])

        write_config(cfg, OLD, exchange_id="okx")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(logged(err, "targets_refused")) == 2, proc, err)
        assert "exchange.id cannot change while the bot runs" in str(
            logged(err, "targets_refused")[1]["problem"]
        )
        time.sleep(1)  # a few more polls: still running, on the targets from the first reload
        assert proc.poll() is None
        assert [c.source for c in changes(journal)] == ["sighup", "config"]
        assert changes(journal)[0].weights["LINK"] == D("0.15")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert "Traceback" not in err.read_text()
