"""Paper trading on each supported exchange's public data, offline: the venue's real ccxt class,
without credentials, reads markets and books from the fake transport in the venue's JSON; the
paper account fills against them under the venue's rules; nothing reaches the exchange's private
endpoints."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.exchange.connect import ccxt_client
from bot.exchange.profiles import profile_for
from bot.journal import Journal
from bot.runtime.wiring import build_daemon, paper_backend
from bot.settings import load_settings
from tests.venues.test_native_venues import AVAILABLE, venue_for
from tests.venues.venue import BALANCES, TARGETS

D = Decimal


def config(tmp_path: Path, name: str) -> Path:
    targets = ", ".join(f"{a} = {w}" for a, w in TARGETS.items())
    balances = ", ".join(f"{a} = {v}" for a, v in BALANCES.items())
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
id = "{name}"
mode = "paper"
[portfolio]
quote = "USDT"
targets = {{ {targets} }}
[bands]
width = 0.03
[paper]
balances = {{ {balances} }}
[execution]
style = "passive-then-take"
participation = 0.5
band_bps = 30
child_timeout = 0.05
passive_timeout = 0.05
[risk]
price_confirm_after = 0.05
max_cost_bps = 200  # Coinbase's base tier charges 120 bps (ccxt's default fees)
[journal]
path = "journal.sqlite"
"""
    )
    return path


@pytest.mark.parametrize("name", AVAILABLE)
async def test_paper_trading_on_the_exchanges_public_data(tmp_path: Path, name: str) -> None:
    venue = venue_for(name)
    profile = profile_for(name)
    public = ccxt_client(name, profile, timeout=5.0, options={})
    venue.install(public)
    # The venue's pacing (about 2 s a public call for Kraken) has no use offline.
    public.rateLimit = 10
    public.throttler.config["refillRate"] = 1 / public.rateLimit
    settings = load_settings(config(tmp_path, name))
    backend = paper_backend(settings, public)
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        result = await build_daemon(settings, backend, journal).run(until_balanced=True)
    finally:
        await backend.close()
    assert result.halted is None, result.halted
    assert result.balanced, result.waiting
    assert backend.exchange.engine.trades, "the paper account traded"
    assert not venue.engine.all_orders(), "no order reached the exchange"
    assert all(path != venue.create_path for _, path in venue.requests)
    fee_currencies = {t.fee_currency for t in backend.exchange.engine.trades}
    if profile.fees_in == "quote":
        assert fee_currencies == {"USDT"}
    journal.close()
