"""What a new user sees: `--version`, help that fits 80 columns with no type after a flag,
`run --json` printing exactly one JSON document on stdout (progress on stderr), `run` on a pipe
printing JSON lines only (`--output text` for tables), and `status` showing money as money."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bot import __version__
from tests.e2e.helpers import json_lines

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.40, ETH = 0.25, SOL = 0.15, LINK = 0.10, USDT = 0.10 }}
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


def test_version_flag_and_command() -> None:
    for args in (["--version"], ["version"]):
        res = cli(*args)
        assert res.returncode == 0 and res.stdout.strip() == __version__


def test_help_fits_80_columns_and_shows_no_type_after_a_flag() -> None:
    for args in (["--help"], ["run", "--help"], ["plan", "--help"], ["status", "--help"]):
        res = cli(*args)
        assert res.returncode == 0, res.stderr
        assert "<bool>" not in res.stdout
        assert max(len(line) for line in res.stdout.splitlines()) <= 80, res.stdout


def test_run_json_is_one_document_on_stdout_and_status_shows_money(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    ran = cli("run", "--config", str(cfg), "--once", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    reports = json.loads(ran.stdout)  # the whole of stdout: one JSON document
    assert reports and reports[0]["status"] == "done"
    assert "filled" in ran.stderr  # the progress lines went to stderr
    status = cli("status", "--config", str(cfg))
    assert status.returncode == 0, status.stderr
    text = " ".join(status.stdout.split())  # a long line wraps at 80 columns
    assert re.search(r" traded \d{1,3}(,\d{3})*\.\d{2}, shortfall -?\d+\.\d{2} bps", text), text


def test_every_table_fits_80_columns_and_wide_shows_every_column(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    outputs = [
        cli("plan", "--config", str(cfg)),
        cli("run", "--config", str(cfg), "--once", "--output", "text"),
        cli("status", "--config", str(cfg)),
        cli("history", "--config", str(cfg)),
    ]
    for res in outputs:
        assert res.returncode == 0, res.stderr[-2000:]
        for line in res.stdout.splitlines():
            assert len(line) <= 80 and "\u2026" not in line, res.stdout
    assert "Rebalance 1:" in outputs[1].stdout and "Last rebalance" in outputs[2].stdout
    wide = cli("plan", "--config", str(cfg), "--wide")
    assert "notional" in wide.stdout and "1 market order bps" in wide.stdout
    assert "notional" not in outputs[0].stdout  # dropped at 80 columns, not cut


def test_run_on_a_pipe_prints_json_lines_only_progress_included(tmp_path: Path) -> None:
    """What `docker compose logs` shows: on a non-terminal stdout, every line is one JSON
    object: each leg's progress, the run's report, the portfolio after; no table, no bar."""
    cfg = config(tmp_path)
    ran = cli("run", "--config", str(cfg), "--once")
    assert ran.returncode == 0, ran.stderr[-3000:]
    events = json_lines(ran.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[-2:] == ["rebalance_report", "portfolio"], kinds
    progress = [e for e in events if e["event"] == "leg_progress"]
    assert len(progress) > 4 and {"symbol", "filled_pct", "legs_done"} <= set(progress[-1])
    assert events[-2]["status"] == "done" and events[-1]["needs_rebalance"] is False
    for line in ran.stderr.splitlines():  # the logs too (log.format auto, not a terminal)
        json.loads(line)


def test_the_daemon_on_a_pipe_reports_each_rebalance_as_it_ends(tmp_path: Path) -> None:
    """A long-running `run` (no --once) writes each rebalance's report as a JSON line when that
    rebalance ends, not only when the bot is stopped: `docker compose logs` shows it live."""
    import select
    import signal
    import time

    cfg = config(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(
            e["event"] == "rebalance_report" for e in seen
        ):
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                line = proc.stdout.readline()
                assert line, "the bot ended before reporting"
                seen.append(json.loads(line))
        assert proc.poll() is None, "still running when the report came"
        assert any(e["event"] == "rebalance_report" for e in seen), [e["event"] for e in seen]
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    tail = [json.loads(line) for line in rest.splitlines()]
    assert proc.returncode == 0
    assert tail[-1]["event"] == "stopped"
