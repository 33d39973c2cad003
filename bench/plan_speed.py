"""How long planning takes for a large portfolio: 200 assets over 600 markets.

Every asset has a market against USDT; 400 more cross markets join random pairs (X/BTC, X/ETH,
X/Y), so routing has direct pairs to consider. Holdings are drawn away from the targets so that
most assets are out of band and the plan is full.
"""

from __future__ import annotations

import random
import statistics
import time
from decimal import Decimal

from bot.domain.market import Market, OrderBook
from bot.domain.planner import PlannerPolicy, plan_rebalance
from bot.domain.portfolio import Band, BandKind, Bands, PriceMap, value_portfolio

QUOTE = "USDT"


def _book(symbol: str, mid: Decimal, tick: Decimal, rng: random.Random) -> OrderBook:
    bid = (mid - tick * rng.randint(1, 5)).quantize(tick)
    ask = (mid + tick * rng.randint(1, 5)).quantize(tick)
    bids = [(bid - tick * 3 * i, Decimal(rng.randint(1, 500))) for i in range(10)]
    asks = [(ask + tick * 3 * i, Decimal(rng.randint(1, 500))) for i in range(10)]
    return OrderBook.from_pairs(symbol, bids, asks)


def build(n_assets: int = 200, n_markets: int = 600, seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    assets = [f"A{i:03d}" for i in range(n_assets)]
    price = {a: Decimal(rng.randint(10, 100_000)) for a in assets}
    markets: dict[str, Market] = {}
    books: dict[str, OrderBook] = {}

    def add(base: str, quote: str, mid: Decimal) -> None:
        symbol = f"{base}/{quote}"
        tick = Decimal("1e-8") if mid < 1 else Decimal("0.01")
        markets[symbol] = Market(
            symbol,
            base,
            quote,
            Decimal("0.0001"),
            tick,
            Decimal("0.0001"),
            Decimal(5),
            Decimal("0.001"),
            Decimal("0.001"),
        )
        books[symbol] = _book(symbol, mid, tick, rng)

    for a in assets:
        add(a, QUOTE, price[a])
    while len(markets) < n_markets:
        x, y = rng.sample(assets, 2)
        if f"{x}/{y}" in markets or f"{y}/{x}" in markets:
            continue
        add(x, y, (price[x] / price[y]).quantize(Decimal("1e-8")))
    targets = {a: Decimal(1) / n_assets for a in assets}
    targets[assets[0]] += Decimal(1) - sum(targets.values())
    balances = {
        a: (Decimal(rng.uniform(0.2, 1.8)) * 10_000 / price[a]).quantize(Decimal("0.0001"))
        for a in assets
    }
    balances[QUOTE] = Decimal(50_000)
    return {"markets": markets, "books": books, "targets": targets, "balances": balances}


def run(repeat: int = 30) -> list[tuple[str, str]]:
    data = build()
    markets, books = data["markets"], data["books"]
    bands = Bands(
        Band(BandKind.RELATIVE, Decimal("0.2")), {QUOTE: Band(BandKind.ABSOLUTE, Decimal("0.05"))}
    )
    timings = []
    legs = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        prices = PriceMap(QUOTE, markets, books)  # type: ignore[arg-type]
        valuation = value_portfolio(data["balances"], data["targets"], QUOTE, bands, prices)  # type: ignore[arg-type]
        plan = plan_rebalance(valuation, markets, books, PlannerPolicy())  # type: ignore[arg-type]
        timings.append((time.perf_counter() - t0) * 1000)
        legs = len(plan.legs)
    timings.sort()
    return [
        ("plan 200 assets / 600 markets: median ms", f"{statistics.median(timings):.1f}"),
        ("plan 200 assets / 600 markets: p90 ms", f"{timings[int(len(timings) * 0.9)]:.1f}"),
        ("plan 200 assets / 600 markets: legs", str(legs)),
        ("target", "< 20 ms median"),
    ]
