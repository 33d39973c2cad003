"""Scenario files: the shipped ones load and mean what they say; bad ones name the bad field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import ScenarioError, load_scenario

D = Decimal

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"
REGIMES = ["deep-calm", "thin-volatile", "slow-resilience", "price-jump", "drought"]
TARGETS = {
    "BTC": D("0.40"),
    "ETH": D("0.25"),
    "SOL": D("0.15"),
    "LINK": D("0.10"),
    "USDT": D("0.10"),
}


@pytest.mark.parametrize("name", ["demo", "faulty", *REGIMES])
async def test_shipped_scenarios_load_and_run(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    assert scenario.name == name
    ex = SimExchange.from_scenario(scenario)
    assert isinstance(ex.clock, VirtualClock) and ex.clock.time() == scenario.start
    markets = await ex.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "LINK/USDT", "ETH/BTC"}
    ex.faults.config = type(ex.faults.config)(weight_per_minute=0)  # no injected errors here
    ex.clock.advance(600)
    for symbol in markets:
        book = await ex.fetch_order_book(symbol)
        assert book["bids"] or book["asks"]


def test_demo_portfolio_is_about_twenty_percent_out_of_balance() -> None:
    scenario = load_scenario(SCENARIOS / "demo.toml")
    prices = {m.split("/")[0]: spec.price for m, spec in scenario.markets.items() if "USDT" in m}
    prices["USDT"] = D(1)
    values = {a: amount * prices[a] for a, amount in scenario.balances.items()}
    total = sum(values.values(), D(0))
    off = sum(abs(values[a] / total - w) for a, w in TARGETS.items()) / 2
    assert D("0.18") <= off <= D("0.22")
    btc = scenario.markets["BTC/USDT"]
    excess_btc = values["BTC"] / total - TARGETS["BTC"]
    assert excess_btc * total / btc.price > 5 * btc.top_depth  # many times the touch
    assert "ETH/BTC" in scenario.markets


def test_regimes_extend_the_demo_and_change_its_dynamics() -> None:
    demo = load_scenario(SCENARIOS / "demo.toml")
    regimes = {n: load_scenario(SCENARIOS / f"{n}.toml") for n in REGIMES}
    for scenario in regimes.values():
        assert scenario.balances == demo.balances
        assert scenario.markets.keys() == demo.markets.keys()
    btc = {n: s.markets["BTC/USDT"].regime for n, s in regimes.items()}
    base = demo.markets["BTC/USDT"].regime
    assert btc["deep-calm"].depth_factor > base.depth_factor
    assert btc["thin-volatile"].volatility > base.volatility
    assert btc["slow-resilience"].resilience_half_life > 10 * base.resilience_half_life
    assert {e.kind for e in regimes["price-jump"].events} >= {"jump", "crossed", "one_sided"}
    assert {e.kind for e in regimes["drought"].events} >= {"drought", "empty"}


async def test_price_jump_scenario_moves_btc() -> None:
    scenario = load_scenario(SCENARIOS / "price-jump.toml")
    ex = SimExchange.from_scenario(scenario, clock=VirtualClock(scenario.start))
    assert isinstance(ex.clock, VirtualClock)
    ex.clock.advance(119)
    before = (await ex.fetch_ticker("BTC/USDT"))["bid"]
    ex.clock.advance(2)
    after = (await ex.fetch_ticker("BTC/USDT"))["bid"]
    assert after / before == pytest.approx(0.94, abs=0.01)


def test_from_scenario_starts_with_the_files_balances() -> None:
    scenario = load_scenario(SCENARIOS / "demo.toml")
    ex = SimExchange.from_scenario(scenario)
    assert ex.engine.account.free["BTC"] == D("6.3158")
    assert ex.engine.account.free["USDT"] == D("100000")


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[markets."BTC/USDT"]
price = 100
tick = 0.01
step = 0.001
top_depth = 1
"""


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert isinstance(info.value, ConfigError)
    return info.value.problems


def test_minimal_scenario_and_exact_decimals(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\n[balances]\nBTC = 0.1\n")
    scenario = load_scenario(path)
    assert scenario.balances["BTC"] == D("0.1")  # exact, not 0.1000000000000000055...
    assert scenario.markets["BTC/USDT"].tick == D("0.01")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[regime]\nvolatilty = 0.1\n", "regime.volatilty"),
        ('[markets."BTC/USDT".regime]\nlevels = 0\n', "levels must be >= 1"),
        ("[balances]\nBTC = -1\n", "balances.BTC"),
        ("[faults]\nnetwork_error = 2\n", "network_error must be a fraction"),
        ('[[events]]\nkind = "jump"\nat = 10\n', "a jump needs a size"),
        (
            '[[events]]\nkind = "drought"\nat = 1\nduration = 5\nsize = 0.5\nsymbol = "X/Y"\n',
            "events.0.symbol: X/Y is not in markets",
        ),
        ('[[events]]\nkind = "earthquake"\nat = 1\n', "events.0.kind"),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, extra: str, expected: str) -> None:
    lines = problems(write(tmp_path, MINIMAL + extra))
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path)) for line in lines)


def test_bad_market_values_name_the_market(tmp_path: Path) -> None:
    text = MINIMAL.replace("price = 100", "price = -5") + "maker_fee = 0.5\n"
    lines = problems(write(tmp_path, text))
    assert any("markets.BTC/USDT.price" in line for line in lines), lines


def test_unreadable_scenarios(tmp_path: Path) -> None:
    assert "not found" in problems(tmp_path / "missing.toml")[0]
    assert "line 1" in problems(write(tmp_path, "seed = = 1"))[0]
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    assert "extends itself" in problems(tmp_path / "a.toml")[0]
    assert any("markets" in p for p in problems(write(tmp_path, "seed = 3\n")))
