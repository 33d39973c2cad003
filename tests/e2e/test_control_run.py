"""`rebalance-bot run` with `[api] enabled`: the API answers beside the daemon while it runs, a
command from it reaches the daemon, and a port already taken is one line and exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, port: int) -> Path:
    text = (ROOT / "config/demo.toml").read_text()
    text = text.replace('scenario = "scenarios/', f'scenario = "{ROOT}/config/scenarios/')
    path = tmp_path / "bot.toml"
    path.write_text(
        text.replace("../var/demo-journal.sqlite", str(tmp_path / "journal.sqlite"))
        + f'\n[api]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    )
    return path


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        data: dict[str, object] = json.loads(reply.read())
        return data


def test_run_serves_the_api_and_a_pause_reaches_the_daemon(tmp_path: Path) -> None:
    port = _free_port()
    config = _config(tmp_path, port)
    env = {**os.environ, "REBALANCE_API__TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--output", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status = _get(f"{base}/status")
                if status.get("seen_at"):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert status is not None and status["api"] == {"writes": True}
        request = urllib.request.Request(
            f"{base}/pause",
            data=b'{"reason": "e2e"}',
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert json.loads(reply.read())["ok"] is True
        assert _get(f"{base}/status")["paused"] == "paused by api: e2e"
        commands = _get(f"{base}/commands")
        assert "pause" in json.dumps(commands)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert TOKEN not in out + err


def test_a_port_already_taken_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(tmp_path, int(taken.getsockname()[1]))
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--config", str(config), "--once"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "api: cannot listen on 127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
