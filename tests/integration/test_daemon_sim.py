"""The daemon's safety: start-up reconciliation, risk limits and halts, graceful stop, backends."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.lifecycle import ChildOrder, ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderRequest
from bot.domain.slicing import Phase
from bot.errors import ConfigError
from bot.journal import Journal
from bot.runtime.daemon import RunResult
from bot.runtime.reconcile import reconcile
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import load_settings
from bot.sim.exchange import SimExchange
from tests.integration.helpers import ROOT, daemon_for, settings_for

D = Decimal


async def test_reconcile_after_a_crash(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path))
    gw = daemon.gateway
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    assert book.best_ask is not None
    rid = journal.start_rebalance("sim", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", "sell", D(1), book.best_bid)

    def intent(cid: str, side: Side, amount: str, price: Decimal) -> OrderRequest:
        req = OrderRequest(cid, "BTC/USDT", side, D(amount), price)
        journal.child_intent("L", req, Phase.TAKE)
        return req

    def sent(cid: str) -> Callable[[float], None]:
        return lambda at: journal.child_sent(cid, at)

    # (a) written, never sent: the process died before create_order
    intent("Lc1", Side.SELL, "0.1", book.best_ask)
    # (b) sent and resting: the process died while it waited
    req = intent("Lc2", Side.SELL, "0.1", book.best_ask + D(500))
    resting = await gw.place_order(req, on_sent=sent("Lc2"))
    journal.child_state(ChildOrder("Lc2", ChildState.SENT).reported(resting), resting)
    # (c) sent, filled at once, the reply never recorded
    await gw.place_order(intent("Lc3", Side.SELL, "0.2", book.best_bid - D(100)), sent("Lc3"))

    result = await reconcile(gw, journal, daemon.clock)
    assert result.never_arrived == ["Lc1"]
    assert result.cancelled == ["Lc2"]
    assert result.settled == ["Lc3"]
    assert result.interrupted_rebalances == [rid]
    assert result.fills_recorded >= 1
    assert journal.order("Lc1").status == "never_arrived"  # type: ignore[union-attr]
    assert journal.order("Lc2").status == "cancelled"  # type: ignore[union-attr]
    lc3 = journal.order("Lc3")
    assert lc3 is not None
    assert (lc3.status, lc3.filled) == ("filled", D("0.2"))
    assert not ex.engine.open_orders()
    assert sum(f.amount for f in journal.recorded_fills()) == D("0.2")
    assert journal.unsettled_orders() == []
    # a second start finds nothing to do
    again = await reconcile(gw, journal, daemon.clock)
    assert again.clean


async def test_turnover_limit_refuses_the_plan_and_halts_until_resumed(tmp_path: Path) -> None:
    daemon, ex, journal = daemon_for(settings_for(tmp_path, "[risk]\nmax_turnover_per_day = 1000"))
    result = await daemon.run(once=True)
    assert result.halted is not None
    assert "daily turnover limit" in result.halted
    assert not ex.engine.all_orders()  # nothing was sent
    assert journal.active_halt() == result.halted
    # still halted on the next run; resume clears it and the bot trades
    daemon2, ex2, journal2 = daemon_for(settings_for(tmp_path))
    assert (await daemon2.run(once=True)).halted is not None
    assert not ex2.engine.all_orders()
    assert journal2.clear_halt("test")
    result = await daemon2.run(until_balanced=True)
    assert result.halted is None
    assert result.balanced


async def test_cost_limit_halts_after_an_expensive_rebalance(tmp_path: Path) -> None:
    # est. cost (half spread + 10 bps fee) passes 11 bps, the realised cost does not
    daemon, _, _ = daemon_for(
        settings_for(tmp_path, '[risk]\nmax_cost_bps = 11\n[execution]\nstyle = "take"')
    )
    result = await daemon.run(until_balanced=True)
    assert result.halted is not None
    assert "max_cost_bps" in result.halted


async def test_balance_that_jumps_without_our_trades_halts(tmp_path: Path) -> None:
    daemon, ex, _ = daemon_for(settings_for(tmp_path))
    result = RunResult()
    first = await daemon._watch(result)
    assert first is not None
    assert result.halted is None
    ex.engine.account.credit("BTC", D("0.5"))  # someone deposited
    await daemon._watch(result)
    assert result.halted is not None
    assert "balance of BTC moved" in result.halted


async def test_stop_mid_rebalance_cancels_our_orders_and_returns(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, '[execution]\nstyle = "passive"\nchild_timeout = 30')
    daemon, ex, journal = daemon_for(settings)
    task = asyncio.create_task(daemon.run())
    while not ex.engine.open_orders():  # noqa: ASYNC110 - polling the simulator's state
        await asyncio.sleep(0)
    daemon.request_stop("test")
    result = await asyncio.wait_for(task, timeout=30)
    assert not ex.engine.open_orders()
    assert result.reports
    assert result.reports[-1].status == "stopped"
    assert result.halted is None  # a stop is not a halt
    assert journal.unsettled_orders() == []


def test_testnet_builds_a_sandboxed_ccxt_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "test-key-123")
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", "test-secret-456")
    backend = build_backend(settings_for(tmp_path, mode="testnet"))
    ex: Any = backend.exchange
    assert ex.id == "binance"
    assert "testnet" in str(ex.urls["api"]["public"])
    assert ex.enableRateLimit is False  # our gateway paces
    assert ex.options["defaultType"] == "spot"
    assert ex.options["fetchMarkets"]["types"] == ["spot"]
    assert ex.options["fetchCurrencies"] is False
    assert ex.apiKey == "test-key-123"
    asyncio.run(backend.close())


def test_testnet_refused_for_an_exchange_without_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "k-1234")
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", "s-1234")
    with pytest.raises(ConfigError) as info:
        build_backend(settings_for(tmp_path, mode="testnet", exchange_id="kraken"))
    assert info.value.problems == [
        'exchange.id: kraken has no testnet (sandbox) in ccxt; use mode = "paper" for a dry run on its real data'
    ]


def test_demo_builds_a_demo_trading_client_or_refuses_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "demo-key-123")
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", "demo-secret-456")
    backend = build_backend(settings_for(tmp_path, mode="demo"))
    ex: Any = backend.exchange
    assert "demo" in str(ex.urls["api"]["public"])
    assert ex.options["enableDemoTrading"] is True
    assert backend.description == "binance demo trading"
    asyncio.run(backend.close())
    with pytest.raises(ConfigError) as info:
        build_backend(settings_for(tmp_path, mode="demo", exchange_id="kraken"))
    assert "kraken has no demo trading in ccxt" in info.value.problems[0]


def test_live_on_an_unverified_exchange_needs_allow_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "live-key-123")
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET", "live-secret-456")
    with pytest.raises(ConfigError, match="binanceus has no verified profile"):
        build_backend(
            settings_for(tmp_path, mode="live", exchange_id="binanceus"), live_confirmed=True
        )
    monkeypatch.setenv("REBALANCE_EXCHANGE__ALLOW_UNVERIFIED", "true")
    backend = build_backend(
        settings_for(tmp_path, mode="live", exchange_id="binanceus"), live_confirmed=True
    )
    assert backend.description == "binanceus LIVE, real money"
    asyncio.run(backend.close())
    verified = build_backend(settings_for(tmp_path, mode="live"), live_confirmed=True)
    asyncio.run(verified.close())


def test_live_needs_confirmation_and_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--live"):
        build_backend(settings_for(tmp_path, mode="live"))
    with pytest.raises(ConfigError, match="needs API credentials"):
        build_backend(settings_for(tmp_path, mode="live"), live_confirmed=True)


def test_paper_mode_wraps_public_data_and_keeps_its_account(tmp_path: Path) -> None:
    from bot.sim.paper import PaperExchange

    settings = settings_for(
        tmp_path, "[paper]\nbalances = { USDT = 10000, BTC = 0.5 }", mode="paper"
    )
    backend = build_backend(settings)  # no credentials needed: nothing is traded
    paper = backend.exchange
    assert isinstance(paper, PaperExchange)
    assert paper.public.id == "binance"
    assert paper.public.apiKey in (None, "")
    assert paper.public.options["defaultType"] == "spot"
    state = tmp_path / "journal.paper.json"
    assert PaperExchange.load_state(state) == {"USDT": D(10000), "BTC": D("0.5")}
    # a later run continues the same paper account, not the configured starting balances
    state.write_text('{"balances": {"USDT": "9000", "BTC": "0.51"}}')
    again = build_backend(settings)
    assert isinstance(again.exchange, PaperExchange)
    assert again.exchange.engine.account.total("BTC") == D("0.51")
    asyncio.run(backend.close())
    asyncio.run(again.close())


def test_paper_mode_needs_starting_balances(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"paper\.balances"):
        build_backend(settings_for(tmp_path, mode="paper"))


async def test_metrics_scraped_during_a_simulated_rebalance(tmp_path: Path) -> None:
    """The daemon feeds /metrics and /healthz while it trades (faulty market: API errors too)."""
    import urllib.request

    from bot.metrics import Metrics

    settings = settings_for(tmp_path, scenario="faulty.toml")
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    metrics = Metrics(settings.loop.poll_interval, clock=backend.clock.time)
    port = metrics.start("127.0.0.1", 0)
    daemon = build_daemon(settings, backend, journal, metrics=metrics)
    assert isinstance(backend.exchange, SimExchange)
    ex = backend.exchange

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    try:
        assert (await asyncio.to_thread(get, "/healthz"))[0] == 503  # no poll yet
        task = asyncio.create_task(daemon.run(until_balanced=True))
        while not ex.engine.all_orders():  # noqa: ASYNC110 - polling the simulator's state
            await asyncio.sleep(0)
        status, during = await asyncio.to_thread(get, "/metrics")
        assert status == 200
        assert "rebalance_rebalances_started_total 1.0" in during
        assert 'rebalance_asset_target{asset="BTC"} 0.4' in during
        assert (await asyncio.to_thread(get, "/healthz"))[0] == 200
        result = await task
        assert result.balanced
        _, after = await asyncio.to_thread(get, "/metrics")
        assert "rebalance_child_orders_placed_total" in after
        assert 'rebalance_api_errors_total{error="' in after  # faults counted by ccxt class
        assert "rebalance_halted 0.0" in after
        assert "rebalance_shortfall_bps_count" in after
    finally:
        metrics.stop()


async def test_a_poll_costs_one_balance_and_one_tickers_request(tmp_path: Path) -> None:
    daemon, ex, _ = daemon_for(settings_for(tmp_path))
    await daemon.gateway.load_markets()
    before = dict(ex.calls)
    valuation = await daemon.poll()
    spent = {k: v - before.get(k, 0) for k, v in ex.calls.items() if v != before.get(k, 0)}
    assert spent == {"fetch_balance": 1, "fetch_tickers": 1}
    assert valuation.needs_rebalance
    assert valuation.total > 0


async def test_a_key_without_trading_permission_halts_at_once(tmp_path: Path) -> None:
    import ccxt

    daemon, ex, journal = daemon_for(settings_for(tmp_path))

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ccxt.PermissionDenied(
            'binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions"}'
        )

    ex.create_order = refused  # type: ignore[method-assign]
    result = await daemon.run(until_balanced=True)
    assert result.halted is not None
    assert "refused the API key" in result.halted
    assert len(journal.rebalances()) == 1  # not retried rebalance after rebalance
    assert journal.rebalances()[0].status == "failed"


async def test_an_order_left_live_by_a_failed_cancel_is_settled_before_anything_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel outage leaves a child resting and fails its leg; before the next rebalance the
    bot settles that order: never two of its orders live on one market at once."""
    import ccxt

    monkeypatch.setenv("REBALANCE_EXCHANGE__RETRIES", "2")
    settings = settings_for(tmp_path, '[execution]\nstyle = "passive"\nchild_timeout = 5')
    daemon, ex, _ = daemon_for(settings)
    cancel = ex.cancel_order
    outage = {"calls": 0}

    async def flaky_cancel(*args: Any, **kwargs: Any) -> Any:
        outage["calls"] += 1
        if outage["calls"] <= 6:
            raise ccxt.ExchangeNotAvailable("503 Service Unavailable")
        return await cancel(*args, **kwargs)

    ex.cancel_order = flaky_cancel  # type: ignore[method-assign]
    result = await daemon.run(until_balanced=True, max_rounds=4)
    assert result.reports[0].status == "failed"
    assert result.balanced
    spans: dict[str, list[tuple[int, int]]] = {}
    for o in ex.engine.all_orders():
        spans.setdefault(o.symbol, []).append((o.timestamp, o.last_update_timestamp or o.timestamp))
    for symbol_spans in spans.values():
        symbol_spans.sort()
        for (_, end), (start, _) in itertools.pairwise(symbol_spans):
            assert start >= end
    assert not ex.engine.open_orders()


async def test_buys_never_spend_the_quote_reserve_when_prices_rise(tmp_path: Path) -> None:
    scenario = (ROOT / "config/scenarios/demo.toml").read_text()
    rising = tmp_path / "rising.toml"
    rising.write_text(
        scenario.replace("extends", "# extends")
        + "\n".join(
            f'[[events]]\nkind = "jump"\nsymbol = "{s}"\nat = {t}\nsize = 0.012\n'
            for s, t in (("SOL/USDT", 2), ("LINK/USDT", 2), ("ETH/BTC", 2))
        )
    )
    text = f"""
[exchange]
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.40, ETH = 0.30, SOL = 0.20, LINK = 0.10 }}
quote_reserve = 20000
[bands]
width = 0.03
[sim]
scenario = "{rising}"
time = "virtual"
[journal]
path = "journal.sqlite"
"""
    (tmp_path / "bot.toml").write_text(text)
    daemon, ex, _ = daemon_for(load_settings(tmp_path / "bot.toml"))
    await daemon.run(until_balanced=True, max_rounds=2)
    # without the budget the buys, priced 1.2 % above the plan, end near 18,400 USDT
    assert ex.engine.account.total("USDT") >= D(20000)


async def test_a_scheduled_rebalance_runs_even_inside_the_bands(tmp_path: Path) -> None:
    """Bands wide enough that the demo portfolio is in band: only the schedule trades."""
    settings = settings_for(
        tmp_path, '[loop]\npoll_interval = 600\ncooldown = 60\nschedule = "every 1h"'
    )
    wide = (tmp_path / "bot.toml").read_text().replace("width = 0.03", "width = 0.3")
    (tmp_path / "bot.toml").write_text(wide)
    settings = load_settings(tmp_path / "bot.toml")
    daemon, ex, _ = daemon_for(settings)
    start = daemon.clock.time()
    task = asyncio.create_task(daemon.run())
    while daemon.clock.time() < start + 2.5 * 3600:  # noqa: ASYNC110 - virtual time
        await asyncio.sleep(0)
    daemon.request_stop("test")
    result = await task
    traded = [r for r in result.reports if r.legs]
    assert len(traded) >= 1
    first = traded[0]
    assert not first.before.needs_rebalance  # it was in band: the schedule decided
    assert first.started >= start + 3600
    assert ex.engine.all_orders()


async def test_the_health_check_holds_through_a_rebalance_longer_than_its_limit(
    tmp_path: Path,
) -> None:
    """A rebalance lasting many poll intervals keeps /healthz at 200 by its heartbeat: a person
    (or Docker's restart policy) never sees a working bot as unhealthy."""
    from bot.metrics import STALE_POLLS, Metrics

    settings = settings_for(tmp_path, "[loop]\npoll_interval = 5")
    backend = build_backend(settings)
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    metrics = Metrics(settings.loop.poll_interval, clock=backend.clock.time)
    daemon = build_daemon(settings, backend, journal, metrics=metrics)
    samples: list[tuple[float, bool, str]] = []

    async def watch() -> None:
        while True:
            await backend.clock.sleep(1.0)
            health = metrics.health()
            samples.append((backend.clock.time(), health.ok, health.reason))

    watcher = asyncio.create_task(watch())
    try:
        result = await daemon.run(once=True)
    finally:
        watcher.cancel()
        await backend.close()
        journal.close()
    assert result.reports and result.reports[0].status == "done"
    after_poll = [s for s in samples if s[2] != "no poll yet"]
    span = after_poll[-1][0] - after_poll[0][0]
    assert span > 3 * STALE_POLLS * settings.loop.poll_interval  # far past the poll limit
    assert all(ok for _, ok, _ in after_poll), [s for s in after_poll if not s[1]][:3]
    assert any(reason.startswith("rebalancing") for _, _, reason in after_poll)
