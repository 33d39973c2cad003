"""The README's examples are true: the demo plan it shows and the snapshot format it documents."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from bot.snapshot import parse_snapshot

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _strip(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_readme_shows_the_demo_plan_the_cli_prints() -> None:
    block = re.search(r"<!-- demo-output.*?-->\n```text\n(.*?)```", README, re.S)
    assert block is not None
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "plan",
            "--config",
            "config/demo.toml",
            "--snapshot",
            "config/snapshots/demo.json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert _strip(block.group(1)) == _strip(res.stdout)


def test_readme_snapshot_example_parses() -> None:
    block = re.search(r"## The snapshot format.*?```json\n(.*?)```", README, re.S)
    assert block is not None
    snap = parse_snapshot(json.loads(block.group(1), parse_float=Decimal, parse_int=Decimal))
    assert snap.books["BTC/USDT"].mid == Decimal("94999.995")
