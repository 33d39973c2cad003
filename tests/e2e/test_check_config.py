"""`check-config` says OK only for a configuration that can run: what can be checked offline is
checked (exchange id, sandbox support, keys for the modes that need them, the scenario file, a
journal folder that can be created and written), one line per problem, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = '[portfolio]\nquote = "USDT"\ntargets = { BTC = 0.5, USDT = 0.5 }\n'


def check(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    path = tmp_path / "bot.toml"
    path.write_text(text + TARGETS)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    res = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(path)],
        cwd=ROOT,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, res.stdout + res.stderr


KEYS = {"REBALANCE_EXCHANGE__API_KEY": "k-1234567", "REBALANCE_EXCHANGE__SECRET": "s-1234567"}


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ('[exchange]\nid = "binanze"\nmode = "paper"\n', {}, "did you mean binance?"),
        ('[exchange]\nid = "binance"\nmode = "testnet"\n', {}, "needs API credentials"),
        ('[exchange]\nid = "binance"\nmode = "live"\n', {}, "needs API credentials"),
        ('[exchange]\nid = "kraken"\nmode = "testnet"\n', KEYS, "kraken has no testnet"),
        ('[exchange]\nid = "gate"\nmode = "demo"\n', KEYS, "gate has no demo trading"),
        ('[exchange]\nid = "bitstamp"\nmode = "live"\n', KEYS, "has no verified profile"),
        ('[exchange]\nmode = "sim"\n[sim]\nscenario = "missing.toml"\n', {}, "not found"),
    ],
)
def test_what_cannot_run_is_refused(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    code, out = check(tmp_path, text, env)
    assert code == 2 and expected in out, out
    assert "k-1234567" not in out and "s-1234567" not in out


def test_a_journal_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    code, out = check(
        tmp_path,
        f'[exchange]\nmode = "sim"\n[journal]\npath = "{tmp_path / "a-file" / "j.sqlite"}"\n',
    )
    assert code == 2 and "journal.path: cannot create" in out, out


def test_a_configuration_that_can_run_is_ok(tmp_path: Path) -> None:
    code, out = check(tmp_path, '[exchange]\nid = "binance"\nmode = "testnet"\n', KEYS)
    assert code == 0 and "OK" in out, out
