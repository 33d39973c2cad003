"""Shared set-up for the integration tests: the demo portfolio against a simulator scenario."""

from __future__ import annotations

from pathlib import Path

from bot.journal import Journal
from bot.runtime.daemon import Daemon
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import Settings, load_settings
from bot.sim.exchange import SimExchange

ROOT = Path(__file__).resolve().parents[2]


def settings_for(
    tmp_path: Path,
    extra: str = "",
    mode: str = "sim",
    exchange_id: str = "binance",
    scenario: str = "demo.toml",
) -> Settings:
    """The demo targets, 3-point bands, the scenario in virtual time, a journal in `tmp_path`;
    `extra` is appended TOML (sections the base does not declare)."""
    text = f"""
[exchange]
id = "{exchange_id}"
mode = "{mode}"
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.40, ETH = 0.25, SOL = 0.15, LINK = 0.10, USDT = 0.10 }}
[bands]
width = 0.03
[sim]
scenario = "{ROOT / "config" / "scenarios" / scenario}"
time = "virtual"
[journal]
path = "journal.sqlite"
{extra}
"""
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return load_settings(path)


def daemon_for(settings: Settings) -> tuple[Daemon, SimExchange, Journal]:
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    assert isinstance(backend.exchange, SimExchange)
    return build_daemon(settings, backend, journal), backend.exchange, journal


def assert_fills_are_the_exchanges_trades(journal: Journal, exchange: SimExchange) -> None:
    """The journal's fills are the exchange's trades of the account, exactly."""
    trades = {(t.id, t.symbol): t for t in exchange.engine.my_trades()}
    rows = journal.recorded_fills()
    assert {(r.trade_id, r.symbol) for r in rows} == set(trades)
    for r in rows:
        t = trades[(r.trade_id, r.symbol)]
        assert (r.amount, r.price, r.fee) == (t.amount, t.price, t.fee)
