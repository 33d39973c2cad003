"""The composition root: the one place that builds the bot from `Settings`.

    backend = build_backend(settings, live_confirmed=live)   # exchange, clock, gateway
    journal = open_journal(settings, backend.clock)
    daemon = build_daemon(settings, backend, journal, progress=show)
    result = await daemon.run(once=True)
    # or all of it, with metrics and notifications, until a signal:
    result = await run_bot(settings, once=False, until_balanced=False, live=live, progress=show)

Backends, each speaking ccxt's unified API:
- `sim`: the built-in simulated exchange from a scenario file, in virtual or real time;
- `paper`: real public data from the exchange, simulated fills (a dry run: nothing is traded);
- `testnet`: the exchange's sandbox through ccxt (`set_sandbox_mode(True)`), test keys;
- `demo`: the exchange's demo trading through ccxt (`enable_demo_trading(True)`), demo keys;
- `live`: real money; refused unless the command line confirms it with `--live`.

Everything below this module takes the values it needs, not the settings.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.clock import Clock, RealClock
from bot.errors import ConfigError
from bot.exchange.connect import (
    api_url_config,
    ccxt_client,
    enable_demo,
    enable_sandbox,
    with_user_options,
)
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles import profile_for, verified_exchanges
from bot.exchange.profiles.simulated import PROFILE as SIMULATED
from bot.exchange.transport import RetryPolicy
from bot.execution.executor import Executor
from bot.execution.reports import LegReport, RebalanceReport
from bot.journal import Journal
from bot.journal_lock import JournalLock
from bot.metrics import Metrics
from bot.notify import Notifier
from bot.observability import get_logger
from bot.runtime.daemon import Daemon, RunResult
from bot.runtime.killswitch import RiskGuard
from bot.runtime.rebalance import Rebalancer, take_snapshot
from bot.runtime.targets import TargetsWatch, price_limits, with_url_targets
from bot.runtime.virtual import virtual_start
from bot.runtime.wiring_perps import build_perps, perps_gateway
from bot.settings import ENV_PREFIX, ExchangeSettings, Mode, OnRestart, Settings, SimTime
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.paper import PaperExchange
from bot.sim.scenario import load_scenario
from bot.snapshot import Snapshot

log = get_logger("bot.wiring")

# Virtual time: pacing is the simulator's business (its weight budget), not the throttler's.
SIM_REQUESTS_PER_SECOND = 1_000_000.0

Progress = Callable[[LegReport], None]
# What runs beside the daemon (the REST API, Telegram commands): entered with the settings and
# the built daemon, left when the daemon's run ends.
Services = Callable[[Settings, Daemon], AbstractAsyncContextManager[None]]


@dataclass
class Backend:
    exchange: Any
    clock: Clock
    gateway: Gateway
    description: str
    perps: Gateway | None = None  # [derivatives]: the perpetuals' venue (bot/runtime/perps.py)

    async def close(self) -> None:
        await self.gateway.close()
        if self.perps is not None:
            await self.perps.close()


def build_backend(settings: Settings, *, live_confirmed: bool = False) -> Backend:
    """The backend for `settings.exchange.mode`, with the perpetuals' gateway when
    `[derivatives]` is on. Raises ConfigError with a clear line."""
    backend = _spot_backend(settings, live_confirmed)
    if settings.derivatives.enabled:
        retry, ex = RetryPolicy(attempts=settings.exchange.retries), settings.exchange
        rate = SIM_REQUESTS_PER_SECOND if ex.mode is Mode.SIM else ex.requests_per_second
        _, backend.perps = perps_gateway(
            settings,
            backend.exchange,
            presented,
            lambda client, profile: _gateway(client, profile, backend.clock, retry, rate),
            lambda: _credentials(ex),
            journal_path(settings),
        )
    return backend


def _spot_backend(settings: Settings, live_confirmed: bool) -> Backend:
    ex = settings.exchange
    retry = RetryPolicy(attempts=ex.retries)
    if ex.mode is Mode.SIM:
        return _sim(
            settings.resolve(settings.sim.scenario),
            settings.sim.time,
            retry,
            profile_for(ex.id),
            journal_path(settings),
        )
    if ex.mode is Mode.LIVE and not live_confirmed:
        raise ConfigError(
            [
                'exchange.mode is "live" (real money): add --live to the command line to confirm;'
                " nothing was sent"
            ]
        )
    profile = with_user_options(profile_for(ex.id), ex.options)
    if ex.mode is Mode.PAPER:
        public = ccxt_client(
            ex.id, profile, timeout=ex.timeout, options=ex.options, api_url=ex.api_url
        )
        return paper_backend(settings, public, retry)
    exchange = ccxt_client(
        ex.id,
        profile,
        timeout=ex.timeout,
        options=ex.options,
        credentials=lambda: _credentials(ex),
        api_url=ex.api_url,
    )
    if ex.mode is Mode.TESTNET:
        enable_sandbox(exchange)
    elif ex.mode is Mode.DEMO:
        enable_demo(exchange, profile)
    elif ex.mode is Mode.LIVE:
        _verified(ex.id, ex.allow_unverified)
    if ex.api_url:  # after the sandbox switch, which rewrites the URLs
        exchange.urls["api"] = api_url_config(ex.id, ex.api_url, profile)["urls"]["api"]
    clock = RealClock()
    gateway = _gateway(exchange, profile, clock, retry, ex.requests_per_second, _fees(ex))
    where = {
        Mode.TESTNET: "testnet (sandbox)",
        Mode.DEMO: "demo trading",
        Mode.LIVE: "LIVE, real money",
    }[ex.mode]
    return Backend(exchange, clock, gateway, f"{exchange.id} {where}")


def _verified(exchange_id: str, allowed: bool) -> None:
    """Live trading on an exchange without a verified profile: refused unless allowed, and
    then said loudly, with what the bot cannot promise there."""
    if exchange_id in verified_exchanges():
        return
    if not allowed:
        raise ConfigError(
            [
                f"exchange.id: {exchange_id} has no verified profile (verified:"
                f" {', '.join(sorted(verified_exchanges()))}); live trading there is refused"
                " unless exchange.allow_unverified = true"
            ]
        )
    log.warning(
        "unverified_exchange",
        exchange=exchange_id,
        cannot_promise=(
            "client id rules, lookup by client id, cancel replies, receive window and fee"
            " currency are ccxt's defaults, not checked against this exchange; a lost order"
            " reply is settled by listing its orders, which may take longer"
        ),
    )


def _gateway(
    exchange: Any,
    profile: ExchangeProfile,
    clock: Clock,
    retry: RetryPolicy,
    requests_per_second: float | None = None,
    fee_rates: dict[str, Decimal] | None = None,
) -> Gateway:
    return Gateway(
        exchange,
        requests_per_second=requests_per_second,
        retry=retry,
        sleep=clock.sleep,
        now=clock.time,
        profile=profile,
        fee_rates=fee_rates,
    )


def _fees(ex: ExchangeSettings) -> dict[str, Decimal] | None:
    return None if ex.fees is None else {"maker": ex.fees.maker, "taker": ex.fees.taker}


def _credentials(ex: ExchangeSettings) -> dict[str, str]:
    """The API credentials in ccxt's names, from the environment or the files it names."""
    found: dict[str, str] = {}
    missing = []
    for name, ccxt_name in (("api_key", "apiKey"), ("secret", "secret"), ("password", "password")):
        value = ex.credential(name)
        if value is not None:
            found[ccxt_name] = value.get_secret_value()
        elif name != "password":
            missing.append(f"{ENV_PREFIX}EXCHANGE__{name.upper()}")
    if missing:
        raise ConfigError(
            [
                f"exchange: mode {ex.mode.value} needs API credentials; set "
                + " and ".join(missing)
                + " (or the same names with _FILE)"
            ]
        )
    return found


def presented(profile: ExchangeProfile) -> ExchangeProfile:
    """The simulator's profile when it presents `profile`'s exchange: the simulator's order
    semantics (lookups by client id, final cancel replies) under that exchange's client-id
    length and charset, tickers, fee currency and book depths. ccxt's client-id prefix is
    not sent to the simulator, so its room is left free."""
    rules = profile.client_id
    client_id = replace(
        SIMULATED.client_id,
        max_length=rules.max_length - len(rules.prefix),
        charset=rules.charset,
    )
    return replace(
        SIMULATED,
        client_id=client_id,
        tickers_bid_ask=profile.tickers_bid_ask,
        fees_in=profile.fees_in,
        book_depths=profile.book_depths,
    )


def _pattern(profile: ExchangeProfile) -> str:
    """The regular expression a client id must match on the exchange `profile` describes."""
    return f"[{profile.client_id.charset}]{{1,{profile.client_id.max_length}}}"


def _sim(
    scenario_path: Path, time: SimTime, retry: RetryPolicy, shown: ExchangeProfile, journal: Path
) -> Backend:
    """The simulated exchange from a scenario, answering with the rules of the exchange the
    configuration names (`shown`)."""
    scenario = load_scenario(scenario_path)
    clock: Clock = RealClock()
    if time is SimTime.VIRTUAL:
        clock = VirtualClock(virtual_start(scenario, journal))
    exchange = SimExchange.from_scenario(scenario, clock)
    exchange.number = str  # as every ccxt client the bot makes: exact text, not floats
    profile = presented(shown)
    exchange.present(
        client_id_pattern=_pattern(profile),
        tickers_bid_ask=profile.tickers_bid_ask,
        fees_in_quote=profile.fees_in == "quote",
        book_depths=profile.book_depths,
    )
    gateway = _gateway(exchange, profile, clock, retry, SIM_REQUESTS_PER_SECOND)
    where = f"simulated exchange, scenario {scenario.name}, with {shown.id}'s rules"
    return Backend(exchange, clock, gateway, where)


def paper_backend(settings: Settings, public: Any, retry: RetryPolicy | None = None) -> Backend:
    """Real public data, simulated fills. The paper balances start from `[paper] balances` and
    are kept in a state file beside the journal, so a restart continues the same account.
    `public`: the exchange's ccxt client, without credentials (it is only asked public data)."""
    if not settings.paper.balances:
        raise ConfigError(
            ["paper.balances: paper trading needs starting balances, e.g. { USDT = 10000 }"]
        )
    # The paper exchange refreshes books on its own: let ccxt pace those public calls.
    public.enableRateLimit = True
    state = paper_state_path(settings)
    balances = PaperExchange.load_state(state) or dict(settings.paper.balances)
    clock = RealClock()
    paper = PaperExchange(public, balances, clock=clock, depth=settings.execution.book_depth)
    paper.number = str
    paper.state_path = state
    profile = presented(profile_for(settings.exchange.id))
    paper.engine.fees_in_quote = profile.fees_in == "quote"
    paper.engine.client_id_pattern = re.compile(_pattern(profile))
    paper.book_depths = profile.book_depths
    paper.save_state()
    retry = retry or RetryPolicy(attempts=settings.exchange.retries)
    gateway = _gateway(paper, profile, clock, retry, None, _fees(settings.exchange))
    return Backend(paper, clock, gateway, f"paper trading (dry run) on {public.id} public data")


async def preflight(settings: Settings) -> list[str]:
    """What can be checked offline before a run, one line per problem: the backend can be built
    (exchange id, sandbox or demo support, keys present where the mode needs them, the
    scenario), and the journal's folder can be created and written."""
    problems: list[str] = []
    try:
        backend = build_backend(settings, live_confirmed=True)
    except ConfigError as exc:
        problems += exc.problems
    else:
        await backend.close()
    path = journal_path(settings)
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if path.exists() and not os.access(path, os.W_OK):
        problems.append(f"journal.path: {path} is not writable by this user")
    elif not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        problems.append(
            f"journal.path: cannot create {path.parent} ({existing} is not a writable folder)"
        )
    return problems


def paper_state_path(settings: Settings) -> Path:
    """Where paper mode keeps its account: beside the journal, `.paper.json` for its suffix."""
    return journal_path(settings).with_suffix(".paper.json")


def journal_path(settings: Settings) -> Path:
    return settings.resolve(settings.journal.path)


def open_journal(settings: Settings, clock: Clock | None = None) -> Journal:
    """The journal file the settings name, its timestamps on `clock` (the backend's; wall time
    for the commands that only read it)."""
    return Journal(journal_path(settings), now=(clock or RealClock()).time)


def build_executor(
    settings: Settings, backend: Backend, journal: Journal, progress: Progress | None = None
) -> Executor:
    """The executor: the execution policy, the journal as its recorder."""
    return Executor(
        backend.gateway,
        settings.execution.policy(),
        backend.clock,
        recorder=journal,
        book_depth=settings.execution.book_depth,
        progress=progress,
        frozen_book_after=settings.execution.frozen_book_after,
    )


def build_rebalancer(
    settings: Settings,
    backend: Backend,
    journal: Journal,
    progress: Progress | None = None,
    metrics: Metrics | None = None,
    notifier: Notifier | None = None,
) -> Rebalancer:
    perps = None
    if backend.perps is not None:
        perps = build_perps(
            settings, backend.perps, backend.gateway, backend.clock, journal,
            metrics=metrics, notifier=notifier,
        )  # fmt: skip
    return Rebalancer(
        gateway=backend.gateway,
        clock=backend.clock,
        journal=journal,
        executor=build_executor(settings, backend, journal, progress),
        portfolio=settings.portfolio_spec(),
        planner=settings.rebalance.policy(),
        book_depth=settings.execution.book_depth,
        mode=settings.exchange.mode,
        prices=price_limits(settings),
        glide=settings.rebalance.glide(),
        perps=perps,
    )


def build_daemon(
    settings: Settings,
    backend: Backend,
    journal: Journal,
    *,
    progress: Progress | None = None,
    metrics: Metrics | None = None,
    notifier: Notifier | None = None,
    new_journal: bool = False,
    on_report: Callable[[RebalanceReport], None] | None = None,
) -> Daemon:
    if metrics is not None:
        backend.gateway.on_error = metrics.api_error
    return Daemon(
        build_rebalancer(settings, backend, journal, progress, metrics, notifier),
        RiskGuard(settings.risk, journal),
        settings.loop,
        adopt_on_restart=settings.journal.on_restart is OnRestart.ADOPT,
        adopt_for=settings.execution.child_timeout,
        description=backend.description,
        metrics=metrics,
        notifier=notifier,
        new_journal=new_journal,
        on_report=on_report,
        targets=TargetsWatch(
            settings,
            journal,
            backend.clock,
            markets=lambda: backend.gateway.markets,
            notifier=notifier,
        ),
    )


async def read_snapshot(settings: Settings) -> Snapshot:
    """What the configured exchange shows now (balances, markets, books). Reads only: nothing is
    sent, so live mode needs no confirmation."""
    backend = build_backend(settings, live_confirmed=True)
    try:
        spec = settings.portfolio_spec()
        return await take_snapshot(
            backend.gateway,
            spec.managed,
            spec.quote,
            backend.clock,
            book_depth=settings.execution.book_depth,
        )
    finally:
        await backend.close()


async def run_bot(
    settings: Settings,
    *,
    once: bool = False,
    until_balanced: bool = False,
    live: bool = False,
    progress: Progress | None = None,
    new_journal: bool = False,
    on_report: Callable[[RebalanceReport], None] | None = None,
    services: Services | None = None,
) -> RunResult:
    """Build everything, run the daemon (signals handled unless scripted), close everything.
    The journal's lock is held throughout: a second bot on the same journal stops at once.
    `services`: what runs beside the daemon while it runs (the REST API, Telegram commands),
    entered once the daemon is built and left when it ends."""
    lock = JournalLock(journal_path(settings)).acquire()
    try:
        return await _run_locked(
            settings, once, until_balanced, live, progress, new_journal, on_report, services
        )
    finally:
        lock.release()


async def _run_locked(
    settings: Settings,
    once: bool,
    until_balanced: bool,
    live: bool,
    progress: Progress | None,
    new_journal: bool,
    on_report: Callable[[RebalanceReport], None] | None = None,
    services: Services | None = None,
) -> RunResult:
    settings = await with_url_targets(settings)  # a URL source answers before anything starts
    backend = build_backend(settings, live_confirmed=live)
    journal = open_journal(settings, backend.clock)
    metrics = None
    lag: asyncio.Task[None] | None = None
    notifier = Notifier(settings.notify)
    try:
        if settings.metrics.enabled:
            metrics = Metrics(settings.loop.poll_interval, clock=backend.clock.time)
            try:
                metrics.start(settings.metrics.host, settings.metrics.port)
            except OSError as exc:
                raise ConfigError(
                    [
                        f"metrics: cannot listen on {settings.metrics.host}:"
                        f"{settings.metrics.port}: {exc.strerror}"
                    ]
                ) from None
            lag = asyncio.create_task(metrics.monitor_loop_lag())
        daemon = build_daemon(
            settings,
            backend,
            journal,
            progress=progress,
            metrics=metrics,
            notifier=notifier,
            new_journal=new_journal,
            on_report=on_report,
        )
        daemon.install_signal_handlers()  # SIGTERM and SIGINT stop every run the same way
        if services is None:
            return await daemon.run(once=once, until_balanced=until_balanced)
        async with services(settings, daemon):
            return await daemon.run(once=once, until_balanced=until_balanced)
    finally:
        if lag is not None:
            lag.cancel()
        if metrics is not None:
            metrics.stop()
        await notifier.aclose()
        await backend.close()
        journal.close()
