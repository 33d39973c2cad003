"""One bot per journal: a second `run` on a journal in use stops at once (exit 4) and says who
holds it; the lock dies with its process, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.errors import InstanceLocked
from bot.journal_lock import JournalLock, lock_path

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, time_kind: str = "real") -> Path:
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
scenario = "{ROOT / "config/scenarios/demo.toml"}"
time = "{time_kind}"
[execution]
style = "passive-then-take"
participation = 0.1
child_timeout = 1
passive_timeout = 2
[journal]
path = "journal.sqlite"
[loop]
poll_interval = 1
cooldown = 1
"""
    )
    return path


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}


def start(cfg: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(cfg), *args],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_bot_on_the_same_journal_stops_at_once(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    first = start(cfg)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "journal.sqlite").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[1][-2000:]
        second = start(cfg, "--once")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 4, err[-2000:]
        assert "in use by another rebalance-bot" in err
        assert f"process {first.pid}" in err
        assert "Traceback" not in err
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err[-2000:]


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from bot.journal_lock import JournalLock;"
            f" JournalLock({str(journal)!r}).acquire(); print('held', flush=True);"
            " time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(InstanceLocked, match=f"process {holder.pid}"):
        JournalLock(journal).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert lock_path(journal).exists()  # the file stays; the lock does not
    with JournalLock(journal) as lock:
        assert lock.held
    # and the CLI runs on it
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config(tmp_path, "virtual")),
            "--once",
        ],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode in (0, 1), res.stderr[-2000:]
    assert "in use" not in res.stderr
