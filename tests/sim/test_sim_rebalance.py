"""A full manual rebalance of the demo portfolio on `SimExchange`, with plain ccxt-style calls, and
exact conservation: every unit that left or entered the account is a trade or a fee."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from bot.domain.market import Market, OrderBook
from bot.domain.planner import plan_rebalance
from bot.domain.portfolio import Band, BandKind, Bands, PriceMap, value_portfolio
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
D = Decimal
TARGETS = {
    "BTC": D("0.40"),
    "ETH": D("0.25"),
    "SOL": D("0.15"),
    "LINK": D("0.10"),
    "USDT": D("0.10"),
}
BANDS = Bands(Band(BandKind.ABSOLUTE, D("0.03")), {})


def dec(x: object) -> Decimal:
    return Decimal(str(x))


async def snapshot(
    ex: SimExchange,
) -> tuple[dict[str, Decimal], dict[str, Market], dict[str, OrderBook]]:
    markets_raw = await ex.load_markets()
    markets = {
        s: Market(
            s,
            m["base"],
            m["quote"],
            dec(m["precision"]["amount"]),
            dec(m["precision"]["price"]),
            dec(m["limits"]["amount"]["min"]),
            dec(m["limits"]["cost"]["min"]),
            dec(m["maker"]),
            dec(m["taker"]),
        )
        for s, m in markets_raw.items()
    }
    books = {}
    for s in markets:
        raw = await ex.fetch_order_book(s, 20)
        books[s] = OrderBook.from_pairs(
            s,
            [(dec(p), dec(a)) for p, a in raw["bids"]],
            [(dec(p), dec(a)) for p, a in raw["asks"]],
        )
    balance = await ex.fetch_balance()
    free = {a: dec(v) for a, v in balance["free"].items()}
    return free, markets, books


async def test_manual_rebalance_with_plain_ccxt_calls_restores_the_bands() -> None:
    scenario = load_scenario(ROOT / "config/scenarios/demo.toml")
    ex = SimExchange.from_scenario(scenario, VirtualClock(scenario.start))
    free, markets, books = await snapshot(ex)
    before = value_portfolio(free, TARGETS, "USDT", BANDS, PriceMap("USDT", markets, books))
    assert before.needs_rebalance
    plan = plan_rebalance(before, markets, books)
    assert plan.legs
    for i, leg in enumerate(plan.legs):
        left = leg.amount
        n = 0
        while left > 0:  # slices of at most a fifth of the leg, each a marketable limit (IOC)
            raw = await ex.fetch_order_book(leg.symbol, 20)
            side_levels = raw["asks"] if leg.side.value == "buy" else raw["bids"]
            m = markets[leg.symbol]
            size = m.round_amount(min(left, leg.amount / 5))
            if size < m.min_tradable(dec(side_levels[0][0])):
                break
            worst = dec(side_levels[5][0])  # reach at most the sixth level
            order = await ex.create_order(
                leg.symbol,
                "limit",
                leg.side.value,
                str(size),
                str(worst),
                {"timeInForce": "IOC", "clientOrderId": f"manual-{i}-{n}"},
            )
            assert order["status"] in ("closed", "expired")
            assert order["clientOrderId"] == f"manual-{i}-{n}"
            left -= dec(order["filled"])
            n += 1
            await ex.clock.sleep(10)  # let the book refill
    free, markets, books = await snapshot(ex)
    after = value_portfolio(free, TARGETS, "USDT", BANDS, PriceMap("USDT", markets, books))
    assert not after.needs_rebalance, [(p.asset, p.weight) for p in after.out_of_band]
    # cost of the whole rebalance stays near the fees (10 bps) plus the spread paid
    assert before.total - after.total < plan.turnover * D("0.003")


async def test_every_balance_change_is_a_trade_or_a_fee() -> None:
    scenario = load_scenario(ROOT / "config/scenarios/demo.toml")
    ex = SimExchange.from_scenario(scenario, VirtualClock(scenario.start))
    start = {a: dec(v) for a, v in (await ex.fetch_balance())["total"].items()}
    book = await ex.fetch_order_book("BTC/USDT", 10)
    bid = dec(book["bids"][0][0])
    await ex.create_order("BTC/USDT", "market", "sell", "0.7")  # taker, walks levels
    eth_btc = await ex.fetch_order_book("ETH/BTC", 10)
    await ex.create_order(
        "ETH/BTC", "limit", "buy", "3", str(eth_btc["asks"][2][0]), {"timeInForce": "IOC"}
    )
    await ex.create_order(
        "BTC/USDT", "limit", "buy", "0.05", str(bid - D("50")), {"postOnly": True}
    )
    await ex.clock.sleep(600)  # the market may trade through the resting buy (maker fill)
    end = {a: dec(v) for a, v in (await ex.fetch_balance())["total"].items()}
    flows: dict[str, Decimal] = defaultdict(Decimal)
    for symbol in ("BTC/USDT", "ETH/BTC"):
        base, quote = symbol.split("/")
        for t in await ex.fetch_my_trades(symbol):
            amount, cost = dec(t["amount"]), dec(t["cost"])
            assert cost == amount * dec(t["price"])  # exact, no float drift
            sign = 1 if t["side"] == "buy" else -1
            flows[base] += sign * amount
            flows[quote] -= sign * cost
            flows[t["fee"]["currency"]] -= dec(t["fee"]["cost"])
    for asset in start:
        assert end[asset] == start[asset] + flows[asset], asset
