"""Money paths that must hold whatever the market does: bridged legs never spend the user's own
holding of an unmanaged bridge asset, two sells of one asset never ask for more than is there,
and a buy never spends past its budget."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.market import Side
from bot.domain.planner import Leg, PlannerPolicy
from bot.domain.portfolio import Band, BandKind, Bands, PortfolioSpec
from bot.domain.slicing import ExecutionPolicy, Style
from bot.errors import UnknownFeeError
from bot.exchange.gateway import Gateway
from bot.execution.executor import Executor
from bot.journal import Journal
from bot.runtime.planning import plan_from_snapshot
from bot.runtime.rebalance import _fit_wave, take_snapshot
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import load_settings
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import parse_scenario

D = Decimal
STYLES = ("take", "passive", "passive-then-take")


def bridged_scenario(seed: int, x_held: int, jump: float, jump_symbol: str, jump_at: float) -> str:
    """X trades only against BTC; the user holds 1 BTC that is not in the targets."""
    return f"""
seed = {seed}
[balances]
X = {x_held}
BTC = 1
ETH = 20
USDT = 50000
[regime]
volatility = 0.0002
spread_bps = 2.0
levels = 20
depth_growth = 0.5
depth_noise = 0.2
resilience_half_life = 20.0
trade_rate = 0.5
[markets."X/BTC"]
price = 0.001
tick = 0.0000001
step = 0.01
min_cost = 0.0001
top_depth = 200
[markets."BTC/USDT"]
price = 95000
tick = 0.01
step = 0.00001
min_cost = 5
top_depth = 0.3
level_spacing_ticks = 1900
[markets."ETH/USDT"]
price = 3500
tick = 0.01
step = 0.0001
min_cost = 5
top_depth = 3
level_spacing_ticks = 70
[[events]]
kind = "jump"
at = {jump_at}
size = {jump}
symbol = "{jump_symbol}"
"""


def bridged_config(folder: Path, style: str) -> Path:
    (folder / "config.toml").write_text(
        f"""
[exchange]
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ X = 0.3, ETH = 0.3, USDT = 0.4 }}
[bands]
width = 0.02
[execution]
style = "{style}"
[sim]
scenario = "scenario.toml"
[journal]
path = "journal.sqlite"
"""
    )
    return folder / "config.toml"


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    x_held=st.integers(1500, 6000),
    jump=st.floats(-0.014, 0.014).filter(lambda j: abs(j) > 1e-4),
    jump_symbol=st.sampled_from(["X/BTC", "BTC/USDT"]),
    jump_at=st.floats(1, 90),
    style=st.sampled_from(STYLES),
)
async def test_an_unmanaged_bridge_asset_is_never_spent(
    seed: int, x_held: int, jump: float, jump_symbol: str, jump_at: float, style: str
) -> None:
    """X -> BTC -> USDT with BTC outside the targets: whatever the first leg delivers (it walks
    the book, pays its fee, the price moves inside the guard), the user's BTC after the
    rebalance is at least what it was."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "scenario.toml").write_text(
            bridged_scenario(seed, x_held, jump, jump_symbol, jump_at)
        )
        config = load_settings(bridged_config(folder, style))
        backend = build_backend(config)
        journal = Journal(folder / "journal.sqlite", now=backend.clock.time)
        exchange = backend.exchange
        assert isinstance(exchange, SimExchange)
        before = exchange.engine.account.total("BTC")
        result = await build_daemon(config, backend, journal).run(once=True)
        assert result.reports, "the portfolio starts out of band: a rebalance must run"
        sold_through = [leg for leg in result.reports[0].legs if leg.symbol == "BTC/USDT"]
        assert sold_through, "the plan routes X through BTC"
        assert exchange.engine.account.total("BTC") >= before
        assert not exchange.engine.open_orders()
        journal.close()


def two_asset_exchange(balances: dict[str, str]) -> tuple[Gateway, VirtualClock]:
    data: dict[str, Any] = {
        "seed": 1,
        "balances": balances,
        "regime": {"volatility": 0.0, "levels": 5, "trade_rate": 0.0},
        "markets": {
            "BTC/USDT": {"price": "100", "tick": "0.01", "step": "0.001", "top_depth": "5"},
            "BTC/EUR": {"price": "90", "tick": "0.01", "step": "0.001", "top_depth": "5"},
        },
        "faults": {"weight_per_minute": 0},
    }
    clock = VirtualClock()
    exchange = SimExchange.from_scenario(parse_scenario(data), clock)
    return Gateway(exchange, requests_per_second=1e6, sleep=clock.sleep), clock


def sell(symbol: str, amount: str, price: str) -> Leg:
    base, quote = symbol.split("/")
    a, p = D(amount), D(price)
    return Leg(symbol, Side.SELL, a, p, a * p, a * p, base, quote, D(0), D(0), None)


async def test_two_sells_of_one_asset_in_a_wave_are_capped_together() -> None:
    gateway, _ = two_asset_exchange({"BTC": "1.0", "USDT": "0", "EUR": "0"})
    await gateway.load_markets()
    bands = Bands(Band(BandKind.ABSOLUTE, D("0.05")), {})
    spec = PortfolioSpec("USDT", {"BTC": D("0.5"), "EUR": D("0.2"), "USDT": D("0.3")}, bands)
    wave = [sell("BTC/USDT", "0.8", "100"), sell("BTC/EUR", "0.7", "90")]
    fitted, _, _ = await _fit_wave(gateway, wave, spec, None)
    assert sum(leg.amount for leg in fitted) <= D("1.0")
    assert [leg.amount for leg in fitted] == [D("0.533"), D("0.466")]  # 1.0 shared 8:7


async def test_a_bridge_leg_may_spend_only_what_this_rebalance_delivered() -> None:
    """BTC is not managed: at the wave's start 1.25 BTC is free, 1.0 of it the user's."""
    gateway, _ = two_asset_exchange({"BTC": "1.25", "USDT": "0", "EUR": "0"})
    await gateway.load_markets()
    bands = Bands(Band(BandKind.ABSOLUTE, D("0.05")), {})
    spec = PortfolioSpec("USDT", {"EUR": D("0.5"), "USDT": D("0.5")}, bands)
    fitted, _, _ = await _fit_wave(
        gateway, [sell("BTC/USDT", "0.4", "100")], spec, {"BTC": D("1.0")}
    )
    assert [leg.amount for leg in fitted] == [D("0.25")]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("fee_bps", "band", "budget"), [(0, 30, 60_000), (30, 30, 45_000), (10, 100, 80_000)]
)
async def test_a_buy_leg_never_spends_past_its_budget(
    fee_bps: int, band: int, style: str, budget: int
) -> None:
    """A buy of far more than the budget pays for, on a book it must walk: the quote it spends,
    fees included, never exceeds the budget (seen before the fix: 60,000.33 spent of 60,000)."""
    fee = str(D(fee_bps) / 10_000)
    sc = parse_scenario(
        {
            "seed": 5,
            "balances": {"BTC": "0", "USDT": "500000"},
            "regime": {"volatility": 0.0001, "levels": 20, "trade_rate": 0.2},
            "markets": {
                "BTC/USDT": {
                    "price": "95000",
                    "tick": "0.01",
                    "step": "0.00001",
                    "min_cost": "5",
                    "top_depth": "0.3",
                    "level_spacing_ticks": 950,
                    "maker_fee": fee,
                    "taker_fee": fee,
                }
            },
            "faults": {"weight_per_minute": 0},
        }
    )
    clock = VirtualClock(sc.start)
    exchange = SimExchange.from_scenario(sc, clock)
    gateway = Gateway(exchange, requests_per_second=1e6, sleep=clock.sleep)
    await gateway.load_markets()
    book = await gateway.fetch_order_book("BTC/USDT", 50)
    assert book.mid is not None
    amount = D(2)  # ~190,000 USDT: more than any budget drawn
    buy = Leg(
        "BTC/USDT",
        Side.BUY,
        amount,
        D(95000),
        amount * 95000,
        amount * 95000,
        "USDT",
        "BTC",
        D(0),
        D(0),
        None,
    )
    policy = ExecutionPolicy(
        style=Style(style), band_bps=D(band), participation=D("0.5"), leg_deadline=3600
    )
    report = await Executor(gateway, policy, clock).run_leg(buy, book.mid, "t-1-0", D(budget))
    spent = D(500000) - exchange.engine.account.total("USDT")
    assert report.filled > 0
    assert spent <= D(budget)


def unknown_fee_exchange(with_account_rates: bool) -> tuple[Gateway, SimExchange]:
    """Markets whose fee keys ccxt set to None; the account's rates readable or not."""
    gateway, _ = two_asset_exchange({"BTC": "3", "USDT": "100", "EUR": "100"})
    exchange = gateway.exchange
    assert isinstance(exchange, SimExchange)
    for m in exchange._load().values():
        m["maker"] = m["taker"] = None
    exchange.has["fetchTradingFees"] = with_account_rates
    return gateway, exchange


async def test_unknown_fees_are_read_from_the_account() -> None:
    gateway, exchange = unknown_fee_exchange(with_account_rates=True)
    markets = await gateway.load_markets()
    assert markets["BTC/USDT"].fees_known
    assert markets["BTC/USDT"].taker_fee == exchange.engine.markets["BTC/USDT"].taker_fee
    assert exchange.calls["fetch_trading_fees"] == 1


async def test_unknown_fees_refuse_the_plan_naming_the_market() -> None:
    gateway, _ = unknown_fee_exchange(with_account_rates=False)
    await gateway.load_markets()
    assert not gateway.markets["BTC/USDT"].fees_known
    bands = Bands(Band(BandKind.ABSOLUTE, D("0.05")), {})
    spec = PortfolioSpec("USDT", {"BTC": D("0.5"), "USDT": D("0.5")}, bands)
    rebalancer_snapshot = await take_snapshot(gateway, spec.managed, "USDT", VirtualClock())
    with pytest.raises(UnknownFeeError, match=r"BTC/USDT: the exchange reports no trading fee"):
        plan_from_snapshot(spec, PlannerPolicy(), rebalancer_snapshot)


async def test_configured_fee_rates_stand_in_for_unknown_ones() -> None:
    gateway, _ = unknown_fee_exchange(with_account_rates=False)
    gateway.fee_rates = {"maker": D("0.0008"), "taker": D("0.001")}
    markets = await gateway.load_markets()
    assert markets["BTC/USDT"].fees_known
    assert (markets["BTC/USDT"].maker_fee, markets["BTC/USDT"].taker_fee) == (
        D("0.0008"),
        D("0.001"),
    )
