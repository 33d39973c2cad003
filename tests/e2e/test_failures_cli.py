"""Failures a user meets end in one plain sentence on stderr that names the cause and what to do,
with their own exit code: a key the exchange refuses (5), an exchange that cannot be reached (6).
Against `sim-server` over HTTP through ccxt's binance client."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from bot.sim.binance import LOCAL_TEST_SECRET
from bot.sim.scenario import load_scenario
from tests.e2e.helpers import DEMO, ROOT, bot, config, env, serve


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def test_a_refused_key_says_so_and_exits_5(tmp_path: Path) -> None:
    with serve() as server:
        ran = bot(config(tmp_path, server.url), "--once", secret="not-the-secret", timeout=120)
    assert ran.returncode == 5, ran.stderr[-2000:]
    line = _last_line(ran.stderr)
    assert "refused the API key" in line and "REBALANCE_EXCHANGE__API_KEY" in line, line
    assert "rebalance-bot resume" in line
    assert "not-the-secret" not in ran.stdout + ran.stderr


def test_an_exchange_that_cannot_be_reached_says_so_and_exits_6(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = config(tmp_path, f"http://127.0.0.1:{port}")
    cfg.write_text(cfg.read_text().replace("retries = 8", "retries = 1"))
    ran = bot(cfg, "--once", timeout=120)
    assert ran.returncode == 6, ran.stderr[-2000:]
    line = _last_line(ran.stderr)
    assert "cannot work with binance now" in line and "Check the network" in line, line


def test_a_journal_folder_that_cannot_be_created_says_so_and_exits_4(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    cfg = config(tmp_path, "http://127.0.0.1:9")
    cfg.write_text(
        cfg.read_text().replace('path = "journal.sqlite"', 'path = "a-file/journal.sqlite"')
    )
    ran = bot(cfg, "--once", timeout=120)
    assert ran.returncode == 4, ran.stderr[-2000:]
    line = _last_line(ran.stderr)
    assert "cannot create the journal's folder" in line and "journal.path" in line, line
    assert "Traceback" not in ran.stderr


def check_online(cfg: Path, secret: str = LOCAL_TEST_SECRET) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(cfg), "--online"],
        cwd=ROOT,
        env=env(secret),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_config_online_reads_the_exchange_the_key_and_the_clock(tmp_path: Path) -> None:
    with serve() as server:
        cfg = config(tmp_path, server.url)
        good = check_online(cfg)
        bad = check_online(cfg, secret="not-the-secret")
    assert good.returncode == 0, good.stderr[-2000:]
    assert "answers" in good.stdout and "key: accepted" in good.stdout
    assert "clock: the exchange's is" in good.stdout and "OK" in good.stdout
    assert bad.returncode == 5 and "error: key:" in bad.stderr, bad.stderr[-2000:]
    assert "not-the-secret" not in bad.stdout + bad.stderr


def test_check_config_online_says_when_the_clock_is_off(tmp_path: Path) -> None:
    skewed = tmp_path / "skewed.toml"
    skewed.write_text("clock_offset = 3.0\n" + DEMO.read_text())  # a top-level key: first
    with serve(scenario=load_scenario(skewed)) as server:
        res = check_online(config(tmp_path, server.url))
    assert res.returncode == 2, res.stderr[-2000:]
    assert "error: clock: the exchange's is +3" in res.stderr and "synchronise" in res.stderr
