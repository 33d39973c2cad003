"""The perpetuals' share of the composition root (`[derivatives]`): their venue's client and
gateway, beside the spot backend's, and the `Perps` that guards the margin and trades them.

- `sim`: the scenario's perpetuals (`[perps]`), on the spot simulator's clock and market;
- `demo`, `live`: ccxt's client of the perpetuals' venue (binanceusdm for Binance), with the
  spot exchange's credentials, `api_url` and mode (a venue whose sandbox is deprecated refuses
  `testnet` with the mode to use instead);
- `paper`: the venue's public data with a simulated futures account (`bot/sim/paper_perp.py`),
  linked to the spot paper account for transfers, kept beside its state file;
- `testnet` where the venue has none (Binance's futures sandbox): refused with one clear line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.domain.exposure import Carrier, ExposurePolicy
from bot.domain.margin import MarginLimits
from bot.domain.slicing import ExecutionPolicy, Style
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
from bot.exchange.profiles import perp_exchanges, profile_for
from bot.execution.executor import Executor
from bot.journal import Journal
from bot.metrics import Metrics
from bot.notify import Notifier
from bot.runtime.perps import Perps
from bot.settings import Mode, Settings
from bot.sim.exchange import SimExchange
from bot.sim.paper import PaperExchange
from bot.sim.paper_perp import PaperPerpExchange
from bot.sim.perp_exchange import SimPerpExchange
from bot.sim.scenario import load_scenario

GatewayFactory = Callable[[Any, ExchangeProfile], Gateway]
# While a rebalance works, the margin is looked at this often at least (seconds).
WATCH_EVERY = 10.0


def perps_gateway(
    settings: Settings,
    spot_exchange: Any,
    sim_profile: Callable[[ExchangeProfile], ExchangeProfile],
    gateway: GatewayFactory,
    credentials: Callable[[], dict[str, str]],
    journal: Path,
) -> tuple[Any, Gateway]:
    """The perpetuals' client and gateway. `sim_profile`: the simulator's profile presenting a
    venue's rules; `gateway`: builds a gateway on the backend's clock and pacing;
    `journal`: the journal's path (paper's futures account is kept beside it)."""
    d, ex = settings.derivatives, settings.exchange
    venue = d.venue(ex.id)
    assert venue is not None  # the settings refuse [derivatives] without a venue
    try:
        profile = profile_for(venue)
        facts = profile.for_perps()
    except ValueError as exc:
        raise ConfigError([f"derivatives.exchange: {exc}"]) from None
    if ex.mode is Mode.SIM:
        if not isinstance(spot_exchange, SimExchange):
            raise ConfigError(["derivatives: the simulated perpetuals need the simulated spot"])
        scenario = load_scenario(settings.resolve(settings.sim.scenario))
        if not scenario.perps:
            raise ConfigError(
                [
                    f"derivatives: the scenario {settings.sim.scenario} has no [perps]; use"
                    " config/scenarios/perps.toml or add them"
                ]
            )
        perps = SimPerpExchange.from_scenario(scenario, spot_exchange)
        spot_exchange.followers.append(perps.engine.advance_to)
        perps.number = str  # as every ccxt client the bot makes: exact text, not floats
        shown = replace(sim_profile(facts), perps=facts.perps, contracts=True)
        return perps, gateway(perps, shown)
    if ex.mode is Mode.PAPER:  # the venue's public data, a simulated futures account
        public = ccxt_client(
            venue, facts, timeout=ex.timeout, options=ex.options, api_url=ex.api_url
        )
        public.enableRateLimit = True  # it refreshes books and marks on its own
        paper = PaperPerpExchange(
            public,
            spot=spot_exchange if isinstance(spot_exchange, PaperExchange) else None,
            state_path=journal.with_suffix(".paper-perp.json"),
        )
        paper.number = str
        shown = replace(sim_profile(facts), perps=facts.perps, contracts=True)
        paper.book_depths = shown.book_depths
        paper.save_state()
        return paper, gateway(paper, shown)
    if ex.mode is Mode.LIVE and venue not in perp_exchanges() and not ex.allow_unverified:
        raise ConfigError(
            [
                f"derivatives.exchange: {venue} has no verified perpetuals profile (verified:"
                f" {', '.join(sorted(perp_exchanges()))}); live trading there is refused"
                " unless exchange.allow_unverified = true"
            ]
        )
    facts = with_user_options(facts, ex.options)
    client = ccxt_client(
        venue,
        facts,
        timeout=ex.timeout,
        options=ex.options,
        credentials=credentials,
        api_url=ex.api_url,
    )
    if ex.mode is Mode.TESTNET:
        enable_sandbox(client, facts)
    elif ex.mode is Mode.DEMO:
        enable_demo(client, facts)
    if ex.api_url:  # after the sandbox or demo switch, which rewrites the URLs
        client.urls["api"] = api_url_config(venue, ex.api_url, facts)["urls"]["api"]
    return client, gateway(client, facts)


def build_perps(
    settings: Settings,
    gateway: Gateway,
    spot: Gateway,
    clock: Clock,
    journal: Journal,
    *,
    metrics: Metrics | None = None,
    notifier: Notifier | None = None,
) -> Perps:
    """The `Perps` of the settings, trading on `gateway` beside the spot account's `spot`."""
    d, quote = settings.derivatives, settings.portfolio.quote
    policy = ExposurePolicy(
        carriers={a: Carrier(c) for a, c in d.instruments.items()},
        perp_symbols={a: d.perp_symbol(a, quote) for a in d.perp_assets()},
        # New exposure opens up to target_leverage; the guard acts above max_leverage and
        # brings it back to target: room between the two, so it never opens into a cut.
        max_leverage=d.target_leverage,
        carry_rate=d.carry_rate,
    )
    limits = MarginLimits(
        liquidation_floor=d.liquidation_floor,
        move_multiple=d.move_multiple,
        max_margin_ratio=d.max_margin_ratio,
        target_leverage=d.target_leverage,
        max_leverage=d.max_leverage,
    )
    execution = settings.execution.policy()
    return Perps(
        gateway=gateway,
        executor=_executor(settings, gateway, clock, journal, execution),
        urgent=_executor(settings, gateway, clock, journal, urgent_policy(execution)),
        spot=spot,
        journal=journal,
        clock=clock,
        quote=quote,
        policy=policy,
        limits=limits,
        margin_mode=d.margin_mode,
        position_mode=d.position_mode,
        transfer=d.transfer_collateral,
        mode=settings.exchange.mode.value,
        reserve=settings.portfolio.quote_reserve,
        watch_every=min(settings.loop.poll_interval, WATCH_EVERY),
        notifier=notifier,
        metrics=metrics,
    )


def urgent_policy(policy: ExecutionPolicy) -> ExecutionPolicy:
    """The margin guard's: marketable limits within the band at once, short pauses, a short
    deadline: a cut must not rest while the price runs toward liquidation."""
    return replace(
        policy,
        style=Style.TAKE,
        child_timeout=min(policy.child_timeout, 2.0),
        leg_deadline=min(policy.leg_deadline, 300.0),
        max_deviation_bps=Decimal(10_000),  # a cut does not pause for an adverse move
    )


def _executor(
    settings: Settings, gateway: Gateway, clock: Clock, journal: Journal, policy: ExecutionPolicy
) -> Executor:
    return Executor(
        gateway,
        policy,
        clock,
        recorder=journal,
        book_depth=settings.execution.book_depth,
        frozen_book_after=settings.execution.frozen_book_after,
    )
