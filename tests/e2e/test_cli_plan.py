"""The command line as a user runs it: plan, check-config, exit codes, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_plan_json_brings_weights_to_target() -> None:
    res = run(
        "plan", "--config", "config/demo.toml", "--snapshot", "config/snapshots/demo.json", "--json"
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["needs_rebalance"] is True
    targets = {p["asset"]: Decimal(p["target"]) for p in out["positions"]}
    for asset, weight in out["projected_weights"].items():
        assert abs(Decimal(weight) - targets[asset]) < Decimal("0.005"), asset
    # sells (legs spending a non-quote asset) come before the buys paid in USDT
    spends = [leg["spends"] for leg in out["legs"]]
    assert "USDT" in spends and spends.index("USDT") > max(
        i for i, s in enumerate(spends) if s != "USDT"
    )
    # BTC excess funds ETH through the cheaper direct market
    assert any(leg["symbol"] == "ETH/BTC" and leg["side"] == "buy" for leg in out["legs"])
    assert out["unmanaged"] == {"BNB": None}


def test_demo_plan_table_is_readable() -> None:
    res = run("plan", "--config", "config/demo.toml", "--snapshot", "config/snapshots/demo.json")
    assert res.returncode == 0, res.stderr
    for text in ("Portfolio:", "OUT: sell", "OUT: buy", "ETH/BTC", "After the plan"):
        assert text in res.stdout


def test_in_band_portfolio_plans_nothing(tmp_path: Path) -> None:
    snap = json.loads((ROOT / "config/snapshots/demo.json").read_text())
    snap["balances"] = {
        "BTC": "4.2105",
        "ETH": "71.43",
        "SOL": "625",
        "LINK": "4545",
        "USDT": "100000",
    }
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snap))
    res = run("plan", "--config", "config/demo.toml", "--snapshot", str(path), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["needs_rebalance"] is False and out["legs"] == []


def test_bad_config_gives_lines_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[portfolio]\nquote = "USDT"\ntargets = { BTC = 0.9 }\n[loop]\ncooldown = -1\n')
    res = run("check-config", "--config", str(cfg))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [
        "error: portfolio.targets: target weights must sum to 1 (within 1e-9), got 0.9 (list USDT with a weight to hold cash)",
        "error: loop.cooldown: must be in [0.01, 2592000] seconds (got -1)",
    ]
    assert "Traceback" not in res.stderr
    res = run("plan", "--config", str(cfg), "--snapshot", "config/snapshots/demo.json")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_bad_snapshot_and_unpriced_asset_exit_2(tmp_path: Path) -> None:
    res = run("plan", "--config", "config/demo.toml", "--snapshot", str(tmp_path / "none.json"))
    assert res.returncode == 2 and "snapshot file not found" in res.stderr
    snap = json.loads((ROOT / "config/snapshots/demo.json").read_text())
    del snap["books"]["LINK/USDT"]
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snap))
    res = run("plan", "--config", "config/demo.toml", "--snapshot", str(path))
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        == "error: no two-sided market prices LINK in USDT, directly or through a bridge"
    )


def test_check_config_ok_and_secret_never_printed(tmp_path: Path) -> None:
    res = run(
        "check-config",
        "--config",
        "config/demo.toml",
        env={"REBALANCE_EXCHANGE__API_KEY": "k-123456"},
    )
    assert res.returncode == 0 and "OK" in res.stdout
    assert "k-123456" not in res.stdout + res.stderr


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["version"]])
def test_help_and_version(args: list[str]) -> None:
    res = run(*args)
    assert res.returncode == 0 and res.stdout


def test_plan_reads_the_demo_portfolio_from_the_simulator() -> None:
    res = run("plan", "--config", "config/demo.toml", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    weights = {p["asset"]: Decimal(p["weight"]) for p in out["positions"]}
    # the demo scenario's starting balances: BTC ~60 %, about 20 points over its 40 % target
    assert abs(weights["BTC"] - Decimal("0.60")) < Decimal("0.01")
    assert out["needs_rebalance"] is True
    assert {leg["symbol"] for leg in out["legs"]} >= {"BTC/USDT", "SOL/USDT", "LINK/USDT"}
