"""Each supported exchange through its real ccxt class, offline: a fake transport answers ccxt's
HTTP calls in the exchange's own JSON from a small simulated account (`venue.py`), so ccxt's
signing, parsing and error mapping run as they do against the exchange. Per exchange: a whole
rebalance, a lost reply that executed (no duplicate), a restart with a live order (found and
settled), a cancel of an order that had already filled. Binance keeps its own HTTP tests against
`rebalance-bot sim-server` (tests/e2e)."""

from __future__ import annotations

import importlib
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import RealClock
from bot.domain.lifecycle import ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.domain.slicing import Phase
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.journal import Journal
from bot.runtime.reconcile import reconcile
from bot.runtime.wiring import Backend, build_daemon
from bot.settings import load_settings
from tests.venues.venue import TARGETS, Venue

D = Decimal
VENUES = ["okx", "bybit", "kraken", "coinbase", "kucoin", "gate", "bitget"]
AVAILABLE = [v for v in VENUES if importlib.util.find_spec(f"tests.venues.{v}") is not None]


def venue_for(name: str) -> Venue:
    module = importlib.import_module(f"tests.venues.{name}")
    fake: Venue = module.Fake()
    return fake


def gateway_for(name: str, venue: Venue) -> Gateway:
    module = importlib.import_module(f"tests.venues.{name}")
    profile = profile_for(name)
    assert profile.id == name, f"{name} has no profile of its own"
    client = ccxt_client(
        name, profile, timeout=5.0, options={}, credentials=lambda: dict(module.CREDENTIALS)
    )
    venue.install(client)
    return Gateway(client, profile=profile, requests_per_second=1000)


def config(tmp_path: Path, name: str) -> Path:
    targets = ", ".join(f"{a} = {w}" for a, w in TARGETS.items())
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[exchange]
id = "{name}"
mode = "live"
[portfolio]
quote = "USDT"
targets = {{ {targets} }}
[bands]
width = 0.03
[execution]
style = "passive-then-take"
participation = 0.5
band_bps = 30
child_timeout = 0.05
passive_timeout = 0.05
[risk]
price_confirm_after = 0.05
[journal]
path = "journal.sqlite"
"""
    )
    return path


@pytest.mark.parametrize("name", AVAILABLE)
async def test_a_whole_rebalance(tmp_path: Path, name: str) -> None:
    venue = venue_for(name)
    gateway = gateway_for(name, venue)
    settings = load_settings(config(tmp_path, name))
    backend = Backend(gateway.exchange, RealClock(), gateway, f"{name} (fake transport)")
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        result = await build_daemon(settings, backend, journal).run(until_balanced=True)
    finally:
        await backend.close()
    assert result.halted is None, result.halted
    assert result.balanced, result.waiting
    assert result.reports and result.reports[0].status == "done"
    orders = venue.engine.all_orders()
    ids = Counter(o.client_order_id for o in orders)
    assert max(ids.values()) == 1
    assert set(ids) <= set(journal.client_ids())
    rows = journal.recorded_fills()
    assert {r.trade_id for r in rows} == {venue.trade_id(t) for t in venue.engine.my_trades()}
    assert not venue.engine.open_orders()
    journal.close()


def request(cid: str, side: Side, amount: str, price: Decimal, tif: TimeInForce) -> OrderRequest:
    return OrderRequest(cid, "BTC/USDT", side, D(amount), price, tif, tif is TimeInForce.GTC)


@pytest.mark.parametrize("name", AVAILABLE)
async def test_a_lost_reply_that_executed_is_found_not_duplicated(name: str) -> None:
    venue = venue_for(name)
    gateway = gateway_for(name, venue)
    await gateway.load_markets()
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    cid = gateway.profile.client_id.join("rb1a2b", "1ab34", "0") + "c1"
    venue.lose_reply(venue.create_path)
    found = await gateway.place_order(
        request(cid, Side.BUY, "0.01", book.best_ask, TimeInForce.IOC)
    )
    assert found.client_id == cid
    assert found.filled == D("0.01")
    assert [o.client_order_id for o in venue.engine.all_orders()] == [cid]
    await gateway.close()


@pytest.mark.parametrize("name", AVAILABLE)
async def test_a_restart_finds_a_live_order_and_settles_it(tmp_path: Path, name: str) -> None:
    venue = venue_for(name)
    gateway = gateway_for(name, venue)
    await gateway.load_markets()
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    journal = Journal(tmp_path / f"{name}.sqlite")
    rid = journal.start_rebalance("live", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", Side.BUY, D("0.01"), book.best_bid)
    cid = gateway.profile.client_id.join("rb1a2b", "1ab34", "0") + "c1"
    req = request(cid, Side.BUY, "0.01", book.best_bid, TimeInForce.GTC)
    journal.child_intent("L", req, Phase.PASSIVE)
    await gateway.place_order(req, on_sent=lambda at: journal.child_sent(cid, at))
    await gateway.close()
    restarted = gateway_for(name, venue)  # a new process: a new client, the same exchange
    result = await reconcile(restarted, journal, RealClock())
    assert result.cancelled == [cid]
    assert not venue.engine.open_orders()
    assert journal.order(cid).status is ChildState.CANCELLED  # type: ignore[union-attr]
    await restarted.close()
    journal.close()


@pytest.mark.parametrize("name", AVAILABLE)
async def test_a_cancel_of_an_order_already_filled_reads_its_final_state(name: str) -> None:
    venue = venue_for(name)
    gateway = gateway_for(name, venue)
    await gateway.load_markets()
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    cid = gateway.profile.client_id.join("rb1a2b", "1ab34", "0") + "c2"
    placed = await gateway.place_order(
        request(cid, Side.BUY, "0.01", book.best_ask, TimeInForce.IOC)
    )
    final = await gateway.cancel_order("BTC/USDT", placed.exchange_id, cid)
    assert final is not None
    assert (final.status, final.filled) == (OrderStatus.CLOSED, D("0.01"))
    await gateway.close()
