"""Build the exchange backend the configuration asks for, with its clock and gateway.

- `sim`: the built-in simulated exchange from a scenario file, in virtual or real time;
- `paper`: real public data from the exchange, simulated fills (a dry run: nothing is traded);
- `testnet`: the exchange's sandbox through ccxt (`set_sandbox_mode(True)`), test keys;
- `live`: real money; refused unless the command line confirms it with `--live`.

Exchange quirks live here as data (ccxt options per exchange id), not as branches elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt_async

from bot.clock import Clock, RealClock
from bot.errors import ConfigError
from bot.exchange.gateway import Gateway, RetryPolicy
from bot.settings import Mode, Settings

# ccxt options per exchange id. Binance: spot markets only, and none of the margin or currency
# endpoints that load_markets would otherwise call (they need extra permissions and weight).
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "adjustForTimeDifference": True,
        # A request older than this is refused by Binance: it bounds how long a lost order
        # request may still arrive (the gateway waits that long before sending it again).
        "recvWindow": 5000,
    },
}

# Virtual time: pacing is the simulator's business (its weight budget), not the throttler's.
SIM_REQUESTS_PER_SECOND = 1_000_000.0


@dataclass
class Backend:
    exchange: Any
    clock: Clock
    gateway: Gateway
    description: str

    async def close(self) -> None:
        await self.gateway.close()


def build_backend(settings: Settings, *, live_confirmed: bool = False) -> Backend:
    """The backend for `settings.exchange.mode`. Raises ConfigError with a clear line."""
    mode = settings.exchange.mode
    retry = RetryPolicy(attempts=settings.exchange.retries)
    if mode is Mode.SIM:
        return _sim(settings, retry)
    if mode is Mode.LIVE and not live_confirmed:
        raise ConfigError(
            [
                'exchange.mode is "live" (real money): add --live to the command line to confirm;'
                " nothing was sent"
            ]
        )
    exchange = _ccxt(settings, with_keys=mode is not Mode.PAPER)
    clock = RealClock()
    if mode is Mode.PAPER:
        return _paper(settings, exchange, retry)
    if mode is Mode.TESTNET:
        enable_sandbox(exchange)
    if settings.exchange.api_url:  # after the sandbox switch, which rewrites the URLs
        exchange.urls["api"] = _api_url_config(settings)["urls"]["api"]
    gateway = Gateway(
        exchange,
        requests_per_second=settings.exchange.requests_per_second,
        retry=retry,
        sleep=clock.sleep,
        now=clock.time,
    )
    where = "testnet (sandbox)" if mode is Mode.TESTNET else "LIVE, real money"
    return Backend(exchange, clock, gateway, f"{exchange.id} {where}")


def enable_sandbox(exchange: Any) -> None:
    """Switch a ccxt exchange to its sandbox, or refuse clearly when it has none.

    ccxt raises a bare Python error (not a ccxt one) for several exchanges without a sandbox, so
    the test URLs are checked first.
    """
    if not (getattr(exchange, "urls", None) or {}).get("test"):
        raise ConfigError(
            [
                f'exchange.id: {exchange.id} has no testnet (sandbox) in ccxt; use mode = "paper"'
                " for a dry run on its real data"
            ]
        )
    try:
        exchange.set_sandbox_mode(True)
    except Exception as exc:  # ccxt's NotSupported or a bare error, depending on the exchange
        raise ConfigError(
            [f"exchange.id: {exchange.id} cannot switch to its sandbox: {exc}"]
        ) from None


def _ccxt(settings: Settings, *, with_keys: bool) -> Any:
    ex = settings.exchange
    cls = getattr(ccxt_async, ex.id, None)
    if cls is None or ex.id not in ccxt_async.exchanges:
        raise ConfigError([f"exchange.id: {ex.id!r} is not an exchange ccxt knows"])
    config: dict[str, Any] = {
        # Our gateway paces requests (asyncio-throttle); ccxt's own limiter would stack on it.
        "enableRateLimit": False,
        "timeout": int(ex.timeout * 1000),
        "options": {**EXCHANGE_OPTIONS.get(ex.id, {}), **ex.options},
        **(_api_url_config(settings) if ex.api_url else {}),
    }
    if with_keys:
        missing = []
        for name, ccxt_name in (
            ("api_key", "apiKey"),
            ("secret", "secret"),
            ("password", "password"),
        ):
            value = ex.credential(name)
            if value is not None:
                config[ccxt_name] = value.get_secret_value()
            elif name != "password":
                missing.append(f"REBALANCE_EXCHANGE__{name.upper()}")
        if missing:
            raise ConfigError(
                [
                    f"exchange: mode {ex.mode.value} needs API credentials; set "
                    + " and ".join(missing)
                    + " (or the same names with _FILE)"
                ]
            )
    return cls(config)


def _api_url_config(settings: Settings) -> dict[str, Any]:
    """ccxt config sending every call to `exchange.api_url` (Binance's URL layout)."""
    from bot.sim.binance_front import binance_client_config

    ex = settings.exchange
    if ex.id != "binance":
        raise ConfigError([f"exchange.api_url: supported for binance only, not {ex.id!r}"])
    assert ex.api_url is not None
    return binance_client_config(ex.api_url)


def _sim(settings: Settings, retry: RetryPolicy) -> Backend:
    from bot.sim.clock import VirtualClock
    from bot.sim.exchange import SimExchange
    from bot.sim.scenario import load_scenario

    path = settings.resolve(settings.sim.scenario)
    scenario = load_scenario(path)
    clock: Clock = VirtualClock(scenario.start) if settings.sim.time == "virtual" else RealClock()
    exchange = SimExchange.from_scenario(scenario, clock)
    gateway = Gateway(
        exchange,
        requests_per_second=SIM_REQUESTS_PER_SECOND,
        retry=retry,
        sleep=clock.sleep,
        now=clock.time,
    )
    return Backend(exchange, clock, gateway, f"simulated exchange, scenario {scenario.name}")


def _paper(settings: Settings, public: Any, retry: RetryPolicy) -> Backend:
    """Real public data, simulated fills. The paper balances start from `[paper] balances` and
    are kept in a state file beside the journal, so a restart continues the same account."""
    from bot.sim.paper import PaperExchange

    if not settings.paper.balances:
        raise ConfigError(
            ["paper.balances: paper trading needs starting balances, e.g. { USDT = 10000 }"]
        )
    # The paper exchange refreshes books on its own: let ccxt pace those public calls.
    public.enableRateLimit = True
    state = settings.resolve(settings.journal.path).with_suffix(".paper.json")
    balances = PaperExchange.load_state(state) or dict(settings.paper.balances)
    clock = RealClock()
    paper = PaperExchange(public, balances, clock=clock, depth=settings.execution.book_depth)
    paper.state_path = state
    paper.save_state()
    gateway = Gateway(paper, retry=retry, sleep=clock.sleep, now=clock.time)
    return Backend(paper, clock, gateway, f"paper trading (dry run) on {public.id} public data")
