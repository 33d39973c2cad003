"""The built-in simulated exchange: a synthetic market, one account's matching, injected faults.

    scenario = load_scenario("config/scenarios/demo.toml")
    exchange = SimExchange.from_scenario(scenario, clock=VirtualClock(scenario.start))
    book = await exchange.fetch_order_book("BTC/USDT")

Modules, one job each: `clock` (virtual and real time), `model` (a symbol's synthetic book and its
dynamics), `account` (orders, trades, balances), `matching` (the rules that fill orders and move
balances), `filters` (an exchange's order filters: price, amount, notional, open orders), `engine`
(matching on the synthetic books, in time), `faults` (injected errors, weight budget, outages),
`structures` (ccxt-shaped dicts), `flows` (scheduled deposits and withdrawals), `account_api`
(ccxt's unified account, order and deposit/withdrawal methods),
`exchange` (all of it as one ccxt-like exchange), `scenario` (TOML), `paper` (paper trading: the
same account on a real exchange's public market data), `binance/` (the simulator served as
Binance's spot REST API).

The simulator imports nothing of the bot but the domain, the codec, the error tree and the clock.
"""

from bot.errors import ScenarioError
from bot.sim.clock import Clock, RealClock, VirtualClock
from bot.sim.engine import MatchingEngine
from bot.sim.exchange import SimExchange
from bot.sim.faults import FaultConfig, FaultInjector
from bot.sim.model import BookModel, Event, EventKind, Regime
from bot.sim.paper import ObservedBook, PaperExchange
from bot.sim.scenario import Scenario, load_scenario

__all__ = [
    "BookModel",
    "Clock",
    "Event",
    "EventKind",
    "FaultConfig",
    "FaultInjector",
    "MatchingEngine",
    "ObservedBook",
    "PaperExchange",
    "RealClock",
    "Regime",
    "Scenario",
    "ScenarioError",
    "SimExchange",
    "VirtualClock",
    "load_scenario",
]
