"""Shared set-up for the end-to-end tests over HTTP: a simulator scenario served as the Binance
spot REST API from a thread, the bot's CLI as a subprocess pointed at it, and the checks that the
journal and the exchange agree."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from bot.sim.binance import (
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    HttpFaults,
    front_of,
    start_server,
)
from bot.sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config/scenarios/demo.toml"
# The demo portfolio's targets, as `config` sets them.
TARGETS = {
    "BTC": Decimal("0.40"),
    "ETH": Decimal("0.25"),
    "SOL": Decimal("0.15"),
    "LINK": Decimal("0.10"),
    "USDT": Decimal("0.10"),
}
BAND_WIDTH = Decimal("0.03")

T = TypeVar("T")


@dataclass
class Server:
    url: str
    front: BinanceFront
    loop: asyncio.AbstractEventLoop

    def read(self, look: Callable[[BinanceFront], T]) -> T:
        """`look(front)`, run on the server's own loop: a consistent read while it serves."""

        async def call() -> T:
            return look(self.front)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(30)


@contextmanager
def serve(faults: HttpFaults | None = None, scenario: Scenario | None = None) -> Iterator[Server]:
    """A scenario (default: the demo), served from a thread (its own event loop, wall-clock
    time)."""
    box: dict[str, object] = {}
    started = threading.Event()

    def main() -> None:
        async def run() -> None:
            runner, port = await start_server(scenario or load_scenario(DEMO), faults=faults)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            box["server"] = Server(f"http://127.0.0.1:{port}", front_of(runner), loop)
            box["stop"] = (loop, stop)
            started.set()
            await stop.wait()
            await runner.cleanup()

        asyncio.run(run())

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert started.wait(30)
    server = box["server"]
    assert isinstance(server, Server)
    try:
        yield server
    finally:
        loop, stop = box["stop"]  # type: ignore[misc]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    targets = ", ".join(f"{asset} = {weight}" for asset, weight in TARGETS.items())
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
id = "binance"
mode = "testnet"
api_url = "{url}"
retries = 8
timeout = 1.5
[portfolio]
quote = "USDT"
targets = {{ {targets} }}
[bands]
width = {BAND_WIDTH}
[execution]
style = "passive-then-take"  # short real-time rebalances (the default schedule spans minutes)
participation = 0.2
band_bps = 15
child_timeout = 0.3
passive_timeout = 0.6
[journal]
path = "journal.sqlite"
[loop]
poll_interval = 0.5
cooldown = 0.5
{extra}
"""
    )
    return path


def env(secret: str = LOCAL_TEST_SECRET) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    return {
        **base,
        "REBALANCE_EXCHANGE__API_KEY": LOCAL_TEST_API_KEY,
        "REBALANCE_EXCHANGE__SECRET": secret,
        "REBALANCE_LOG__FORMAT": "json",
    }


def bot(
    cfg: Path, *args: str, secret: str = LOCAL_TEST_SECRET, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(cfg), *args],
        cwd=ROOT,
        env=env(secret),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """`run`'s stdout on a pipe: one JSON object per line and nothing else (it fails otherwise)."""
    events = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(e, dict) and "event" in e for e in events), stdout[-2000:]
    return events


def reports(stdout: str) -> list[dict[str, Any]]:
    """The rebalance reports among `run`'s JSON lines."""
    return [e for e in json_lines(stdout) if e["event"] == "rebalance_report"]


def check_exchange_against_journal(front: BinanceFront, journal: Path) -> None:
    """No client order id sent twice, every order on the exchange journaled first, the journal's
    fills the exchange's trades (amount, price, fee and its currency), no order left open."""
    orders = front.engine.all_orders()
    ids = Counter(o.client_order_id for o in orders)
    assert ids, "the bot traded"
    twice = {cid: n for cid, n in ids.items() if n > 1}
    assert not twice, f"client order ids sent twice: {twice}"
    db = sqlite3.connect(journal)
    try:
        journaled = {r[0] for r in db.execute("SELECT client_id FROM orders")}
        assert set(ids) <= journaled, "every order on the exchange was journaled first"
        trades = {(t.id, t.symbol): t for t in front.engine.my_trades()}
        fills = db.execute(
            "SELECT trade_id, symbol, amount, price, fee, fee_currency FROM fills"
        ).fetchall()
    finally:
        db.close()
    journal_only = {(r[0], r[1]) for r in fills} - set(trades)
    exchange_only = {
        key: (t.order_id, t.amount, t.price)
        for key, t in trades.items()
        if key not in {(r[0], r[1]) for r in fills}
    }
    assert not journal_only and not exchange_only, (
        f"the journal's fills are the exchange's: only in the journal {journal_only}, "
        f"only on the exchange {exchange_only}"
    )
    for trade_id, symbol, amount, price, fee, fee_currency in fills:
        t = trades[(trade_id, symbol)]
        assert (Decimal(amount), Decimal(price)) == (t.amount, t.price), (trade_id, symbol)
        assert (Decimal(fee), fee_currency) == (t.fee, t.fee_currency), (trade_id, symbol)
    assert not front.engine.open_orders(), "no order left open on the exchange"
