"""`check-config --online` reads the API key's permissions where the exchange tells (Binance:
GET /sapi/v1/account/apiRestrictions, served by sim-server over HTTP through ccxt's binance
client): a key that trades and cannot withdraw is OK, one that may withdraw is a clear warning,
a read-only key ends in one sentence and exit 5 (the refused-key code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.sim.binance.venue import KeyRestrictions
from tests.e2e.helpers import ROOT, config, env, serve


def check_online(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(cfg), "--online"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_keys_permissions_are_checked(tmp_path: Path) -> None:
    with serve() as server:
        cfg = config(tmp_path, server.url)

        def show(key: KeyRestrictions) -> None:
            server.read(lambda front: setattr(front, "key_restrictions", key))

        good = check_online(cfg)
        show(KeyRestrictions(withdrawals=True))
        risky = check_online(cfg)
        show(KeyRestrictions(spot_trading=False))
        read_only = check_online(cfg)
        asked = server.read(lambda front: front.requests["apiRestrictions"])
    assert asked == 3
    assert good.returncode == 0, good.stderr[-2000:]
    assert "permissions: trading allowed, withdrawals not allowed" in good.stdout
    assert "warning" not in good.stdout + good.stderr

    assert risky.returncode == 0, risky.stderr[-2000:]
    warnings = [line for line in risky.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "may WITHDRAW funds" in warnings[0], risky.stderr[-2000:]
    assert "OK" in risky.stdout

    assert read_only.returncode == 5, read_only.stderr[-2000:]
    errors = [line for line in read_only.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: key: binance says this API key may not trade spot (read-only); enable spot"
        " trading for the key, without withdrawals, or make a new key that has it"
    ], read_only.stderr[-2000:]
    assert "OK" not in read_only.stdout
