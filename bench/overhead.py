"""What the bot costs to run: CPU per daemon loop iteration, and the peak memory of a daemon.

- Loop iteration: one `Daemon.poll` (balances, the tickers of every relevant market, valuation, a
  journal row) for a 20-asset portfolio on the simulator in virtual time, the clock moved a
  minute between polls. CPU time (`time.process_time`), median and p90; it includes the
  simulator's own work (moving 25 synthetic markets a minute and building their books).
- Peak RSS: `python -m bot run --until-balanced` on the demo (a temporary copy of
  config/demo.toml with the simulator in virtual time and the journal in a temporary folder), in
  a subprocess; the figure is the child's `ru_maxrss` from `resource.getrusage`.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.journal import Journal
from bot.observability import configure_logging
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
N_ASSETS = 20  # including the quote
CROSS = ("C01/C00", "C02/C00", "C03/C00", "C04/C01", "C05/C01", "C06/C01")


def _pow10(x: float) -> Decimal:
    return Decimal(1).scaleb(math.floor(math.log10(x)))


def _market(price: Decimal, value_per_level: float = 10_000.0) -> dict[str, Decimal | int]:
    tick = _pow10(float(price) * 1e-5)
    step = min(_pow10(10.0 / float(price)), Decimal(1))
    top = (Decimal(repr(value_per_level)) / price).quantize(step)
    spacing = max(1, round(float(price) * 2e-4 / float(tick)))  # levels 2 bps apart
    return {"price": price.quantize(tick), "tick": tick, "step": step, "top_depth": top,
            "level_spacing_ticks": spacing, "min_cost": Decimal(5)}  # fmt: skip


def portfolio_files(folder: Path, n_assets: int = N_ASSETS, seed: int = 11) -> Path:
    """A scenario and a config for `n_assets` (coins C00.. and USDT); returns the config path."""
    rng = random.Random(seed)
    coins = [f"C{i:02d}" for i in range(n_assets - 1)]
    prices = {
        c: Decimal(rng.choice((0.3, 2, 25, 180, 3000, 60000))) * Decimal(rng.uniform(0.8, 1.2))
        for c in coins
    }
    markets: dict[str, dict[str, Any]] = {f"{c}/USDT": _market(prices[c]) for c in coins}
    for symbol in CROSS:
        base, quote = symbol.split("/")
        if base in prices and quote in prices:
            markets[symbol] = _market(prices[base] / prices[quote], 5_000.0)
    weight = Decimal(1) / n_assets
    balances = {
        c: (Decimal(rng.uniform(0.6, 1.4)) * 50_000 / prices[c]).quantize(Decimal("0.0001"))
        for c in coins
    }
    lines = [f'name = "{n_assets}-assets"', "seed = 11", "", "[balances]"]
    lines += [f"{c} = {b}" for c, b in balances.items()] + ["USDT = 50000", ""]
    lines += ["[regime]", "volatility = 0.0001", "depth_noise = 0.2", "trade_rate = 0.5", ""]
    for symbol, spec in markets.items():
        lines.append(f'[markets."{symbol}"]')
        lines += [f"{k} = {v}" for k, v in spec.items()] + [""]
    scenario = folder / "scenario.toml"
    scenario.write_text("\n".join(lines))
    targets = ", ".join(f"{c} = {weight}" for c in coins) + f", USDT = {weight}"
    config = folder / "bot.toml"
    config.write_text(
        f'[exchange]\nmode = "sim"\n[portfolio]\nquote = "USDT"\ntargets = {{ {targets} }}\n'
        f'[bands]\nwidth = 0.01\n[sim]\nscenario = "{scenario}"\ntime = "virtual"\n'
        f'[journal]\npath = "{folder / "journal.sqlite"}"\n[log]\nlevel = "error"\n'
    )
    return config


async def _polls(
    config: Path, polls: int, warmup: int
) -> tuple[list[float], list[float], int, int]:
    settings = load_settings(config)
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    daemon = build_daemon(settings, backend, journal)
    calls = backend.exchange.calls
    cpu, wall, requests = [], [], 0
    markets = 0
    try:
        for i in range(warmup + polls):
            before = sum(calls.values())
            t_cpu, t_wall = time.process_time(), time.perf_counter()
            await daemon.poll()
            if i >= warmup:
                cpu.append((time.process_time() - t_cpu) * 1000)
                wall.append((time.perf_counter() - t_wall) * 1000)
                requests = sum(calls.values()) - before
            await backend.clock.sleep(60.0)
        markets = len(backend.gateway.markets)
    finally:
        journal.close()
        await backend.close()
    return cpu, wall, requests, markets


def poll_cpu(polls: int = 40, warmup: int = 3) -> list[tuple[str, str]]:
    configure_logging("error", "json")
    with tempfile.TemporaryDirectory() as tmp:
        config = portfolio_files(Path(tmp))
        cpu, wall, requests, markets = asyncio.run(_polls(config, polls, warmup))
    cpu.sort()
    name = f"daemon poll, {N_ASSETS} assets / {markets} markets"
    return [
        (f"{name}: CPU median ms", f"{statistics.median(cpu):.2f}"),
        (f"{name}: CPU p90 ms", f"{cpu[int(len(cpu) * 0.9)]:.2f}"),
        (f"{name}: wall median ms (journal fsync included)", f"{statistics.median(wall):.2f}"),
        (f"{name}: API requests", str(requests)),
    ]


def _demo_config(folder: Path) -> Path:
    """config/demo.toml with the simulator in virtual time and the journal in `folder`."""
    with (ROOT / "config" / "demo.toml").open("rb") as fh:
        data = tomllib.load(fh, parse_float=Decimal)
    base = ROOT / "config"
    sim = data.setdefault("sim", {})
    sim["scenario"] = str((base / sim.get("scenario", "scenarios/demo.toml")).resolve())
    sim["time"] = "virtual"
    data.setdefault("journal", {})["path"] = str(folder / "journal.sqlite")
    path = folder / "demo-virtual.toml"
    path.write_text(_toml(data))
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def _toml(data: dict[str, Any]) -> str:
    """Top-level keys, then one table per section (nested mappings inline)."""
    lines = [f"{_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in data.items():
        if isinstance(table, dict):
            lines.append(f"\n[{_key(section)}]")
            lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(peak, done.returncode)\n"
    "sys.stderr.write(done.stderr.decode()[-2000:])\n"
)


def peak_rss() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = _demo_config(Path(tmp))
        command = [sys.executable, "-m", "bot", "run", "--config", str(config), "--until-balanced"]
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *command],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=240,
        )
        elapsed = time.perf_counter() - t0
    try:
        peak_kib, code = (int(x) for x in done.stdout.split())
    except ValueError:
        return [("daemon peak RSS, demo run", f"failed: {done.stderr.strip()[-200:]}")]
    status = "" if code == 0 else f" (exit code {code}: {done.stderr.strip().splitlines()[-1:]})"
    return [
        (
            "daemon peak RSS, demo run --until-balanced (virtual time): MiB",
            f"{peak_kib / 1024:.1f}{status}",
        ),
        ("daemon demo run --until-balanced (virtual time): wall s", f"{elapsed:.1f}"),
    ]


def run() -> list[tuple[str, str]]:
    return [*poll_cpu(), *peak_rss()]
