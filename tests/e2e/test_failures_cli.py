"""Failures a user meets end in one plain sentence on stderr that names the cause and what to do,
with their own exit code: a key the exchange refuses (5), an exchange that cannot be reached (6).
Against `sim-server` over HTTP through ccxt's binance client."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.helpers import bot, config, serve


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
