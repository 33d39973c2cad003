"""Memory over a long run: the daemon, in process, in virtual time, rebalancing every 10 minutes
(a schedule, on the demo market, 1-point bands) for `ROUNDS` rebalances. The process's
resident memory (VmRSS) is read after rebalance `WARMUP` and after the last; the figure is the
growth per rebalance between the two. A run that kept every report (about 65 KiB each) grew by
that much per rebalance; the daemon now keeps the last 20."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from bot.journal import Journal
from bot.observability import configure_logging
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 60
WARMUP = 15


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _config(folder: Path) -> Path:
    path = folder / "soak.toml"
    path.write_text(
        '[exchange]\nid = "binance"\nmode = "sim"\n'
        '[portfolio]\nquote = "USDT"\n'
        "targets = { BTC = 0.40, ETH = 0.25, SOL = 0.15, LINK = 0.10, USDT = 0.10 }\n"
        "[bands]\nwidth = 0.01\n"
        f'[sim]\nscenario = "{ROOT / "config/scenarios/demo.toml"}"\ntime = "virtual"\n'
        "[execution]\nchild_timeout = 5\npassive_timeout = 10\n"
        '[loop]\npoll_interval = 60\ncooldown = 60\nschedule = "every 10m"\n'
        "[risk]\nmax_price_move_pct = 50\n"
        f'[journal]\npath = "{folder / "journal.sqlite"}"\n[log]\nlevel = "error"\n'
    )
    return path


async def _soak(config: Path) -> tuple[int, int, int]:
    settings = load_settings(config)
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    daemon = build_daemon(settings, backend, journal)
    samples: dict[int, int] = {}
    task = asyncio.create_task(daemon.run())
    try:
        while len(samples) < 2 and not task.done():
            await asyncio.sleep(0)
            done = len(journal.rebalances(ROUNDS + 1)) if daemon.last_poll else 0
            for mark in (WARMUP, ROUNDS):
                if done >= mark and mark not in samples:
                    samples[mark] = rss_kib()
        daemon.request_stop("soak done")
        result = await task
    finally:
        journal.close()
        await backend.close()
    return samples.get(WARMUP, 0), samples.get(ROUNDS, 0), len(result.reports)


def run() -> list[tuple[str, str]]:
    configure_logging("error", "json")
    with tempfile.TemporaryDirectory() as tmp:
        first, last, kept = asyncio.run(_soak(_config(Path(tmp))))
    growth = (last - first) / (ROUNDS - WARMUP)
    return [
        (
            f"daemon RSS after rebalance {WARMUP} / {ROUNDS}: MiB",
            f"{first / 1024:.1f} / {last / 1024:.1f}",
        ),
        (f"RSS growth per rebalance, {WARMUP} to {ROUNDS}: KiB", f"{growth:.1f}"),
        ("reports kept in memory at the end", str(kept)),
    ]


if __name__ == "__main__":
    for key, value in run():
        print(f"{key}: {value}")
