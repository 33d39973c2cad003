"""The README's examples are true: the demo plan it shows and the snapshot format it documents."""

from __future__ import annotations

import json
import os
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
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},  # a pipe: 160 columns
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


async def test_readme_exchange_table_is_the_profiles() -> None:
    """Every row of the README's exchange table says what the profile and ccxt say: the
    verified exchanges, client-id length, where fees are taken, bid/ask in tickers, and whether
    testnet and demo modes switch or are refused."""
    import ccxt.async_support as ccxt_async

    from bot.errors import ConfigError
    from bot.exchange.connect import enable_demo, enable_sandbox
    from bot.exchange.profiles import profile_for, verified_exchanges

    table = README.split("### Exchanges", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in ("|" + table).splitlines() if line.startswith("| ")][1:]
    seen = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name, client_id, _lookup, fees, bid_ask, _window, testnet, demo, paper = cells
        profile = profile_for(name)
        seen.add(name)
        assert client_id.split(",")[0].split(" ")[0] == str(profile.client_id.max_length), name
        assert (fees == "quote") == (profile.fees_in == "quote"), name
        assert bid_ask.startswith("yes") == profile.tickers_bid_ask, name
        assert paper == "yes"
        for switch, cell in ((enable_sandbox, testnet), (enable_demo, demo)):
            client = getattr(ccxt_async, name)()
            try:
                switch(client, profile) if switch is enable_demo else switch(client)
                works = True
            except ConfigError:
                works = False
            finally:
                await client.close()
            assert cell.startswith("yes") == works, (name, switch.__name__)
    assert seen == set(verified_exchanges())


def test_deployment_files_agree_with_the_docs(tmp_path: Path) -> None:
    """The Compose file works with docker-compose 1.29 (no top-level `name:`; the project name
    from .env), every file the docs name exists, and the paper account's file is where the docs
    say."""
    from bot.runtime.wiring import paper_state_path
    from bot.settings import load_settings

    compose = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"^name:", compose, re.M)
    assert "COMPOSE_PROJECT_NAME=rebalance-bot" in (ROOT / ".env.example").read_text()
    texts = [README, compose, *(p.read_text() for p in (ROOT / "config").glob("*.toml"))]
    for text in texts:
        for name in re.findall(r"\b((?:docs|config)/[\w./-]+\.(?:md|toml|json))", text):
            assert (ROOT / name).exists() or name == "config/bot.toml", name  # yours to write
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        '[exchange]\nmode = "paper"\n[portfolio]\nquote = "USDT"\n'
        "targets = { BTC = 0.5, USDT = 0.5 }\n[paper]\nbalances = { USDT = 100 }\n"
    )
    assert paper_state_path(load_settings(cfg)).name == "journal.paper.json"
    assert "`journal.paper.json`" in README
