"""`rebalance-bot raise AMOUNT ASSET` through a subprocess against the built-in simulator (virtual
time): the plan as `plan` shows it, `--execute` trading it as a rebalance of kind "raise", and an
amount the portfolio cannot free refused with one line, exit 2, nothing traded or written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    env["COLUMNS"] = "80"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def config(tmp_path: Path) -> Path:
    """The demo scenario's account (1,000,000 USDT: BTC 60%, ETH 17%, SOL 7%, LINK 6%, USDT
    10%) with targets where it stands: in band, so any sell is the raise's."""
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.60, ETH = 0.17, SOL = 0.07, LINK = 0.06, USDT = 0.10 }}
[sim]
scenario = "{ROOT / "config/scenarios/demo.toml"}"
time = "virtual"
[execution]
band_bps = 15
child_timeout = 2
passive_timeout = 4
[journal]
path = "journal.sqlite"
"""
    )
    return path


def test_raise_plans_sells_only_and_shows_the_bands_after_the_withdrawal(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    text = cli("raise", "50000", "USDT", "--config", str(cfg))
    assert text.returncode == 0, text.stderr[-2000:]
    assert "Raise 50,000.00 USDT" in text.stdout
    assert "Every asset inside its band after the withdrawal." in text.stdout
    for line in text.stdout.splitlines():
        assert len(line) <= 80 and "\u2026" not in line, text.stdout
    res = cli("raise", "50000", "USDT", "--config", str(cfg), "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout)  # the whole of stdout: one document
    assert doc["legs"] and all(leg["side"] == "sell" for leg in doc["legs"])
    assert doc["raise"]["in_band_after_withdrawal"] is True
    assert Decimal(doc["raise"]["free_after_sells"]) >= 50000
    assert not (tmp_path / "journal.sqlite").exists()  # a plan writes nothing


def test_raise_execute_trades_it_as_a_journaled_raise_and_keeps_the_bands(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    res = cli("raise", "50000", "USDT", "--config", str(cfg), "--execute", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    assert doc["raised"] is True
    report = doc["report"]
    assert report["kind"] == "raise" and report["status"] == "done"
    assert report["legs"] and all(leg["side"] == "sell" for leg in report["legs"])
    after = doc["portfolio_after"]
    free = Decimal(doc["free_after"])
    assert free >= 50000
    # Every asset in band once the 50,000 USDT are withdrawn, from the exchange's balances.
    values = {p["asset"]: Decimal(p["value"]) for p in after["positions"]}
    values["USDT"] -= 50000
    total = sum(values.values())
    for p in after["positions"]:
        lo, hi = (Decimal(x) for x in p["band"])
        assert lo <= values[p["asset"]] / total <= hi, (p["asset"], values[p["asset"]] / total)
    history = cli("history", "--config", str(cfg), "--json")
    assert history.returncode == 0, history.stderr
    rows = [r for r in json.loads(history.stdout) if r.get("type", "rebalance") == "rebalance"]
    assert rows[0]["reason"] == "raise 50000 USDT" and rows[0]["status"] == "done"


def test_an_amount_larger_than_the_portfolio_is_one_line_exit_2_nothing_traded(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path)
    for extra in ([], ["--execute"]):
        res = cli("raise", "2000000", "USDT", "--config", str(cfg), *extra)
        assert res.returncode == 2, (res.stdout, res.stderr)
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "cannot raise 2000000 USDT" in lines[0], res.stderr
        assert "Traceback" not in res.stderr and res.stdout == ""
    assert not (tmp_path / "journal.sqlite").exists()  # nothing journaled, nothing traded
    bad = cli("raise", "lots", "USDT", "--config", str(cfg))
    assert bad.returncode == 2 and bad.stderr.startswith("error: AMOUNT"), bad.stderr


def test_raise_help_fits_80_columns() -> None:
    res = cli("raise", "--help")
    assert res.returncode == 0 and "--execute" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80, res.stdout
