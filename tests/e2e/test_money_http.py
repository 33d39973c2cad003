"""Money paths over real HTTP, through the bot's own ccxt client factory and the real
`ccxt.async_support.binance`, against the simulator served as Binance spot on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from bot.domain.market import Side
from bot.domain.orders import OrderRequest
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.sim.binance import (
    LOCAL_TEST_API_KEY,
    LOCAL_TEST_SECRET,
    BinanceFront,
    front_of,
    start_server,
)
from bot.sim.scenario import parse_scenario

D = Decimal
KEYS = {"apiKey": LOCAL_TEST_API_KEY, "secret": LOCAL_TEST_SECRET}


@asynccontextmanager
async def served(data: dict[str, Any]) -> AsyncIterator[tuple[Gateway, BinanceFront]]:
    """The scenario served on a free port, and a gateway on the bot's own binance client."""
    runner, port = await start_server(parse_scenario(data))
    profile = profile_for("binance")
    client = ccxt_client(
        "binance",
        profile,
        timeout=5.0,
        options={},
        credentials=lambda: KEYS,
        api_url=f"http://127.0.0.1:{port}",
    )
    gateway = Gateway(client, profile=profile, requests_per_second=1000)
    try:
        yield gateway, front_of(runner)
    finally:
        await gateway.close()
        await runner.cleanup()


MEME: dict[str, Any] = {
    "seed": 1,
    "balances": {"MEME": "5000000000", "USDT": "100000"},
    "regime": {"volatility": 0.0, "levels": 5, "trade_rate": 0.0, "spread_bps": 20.0},
    "markets": {
        "MEME/USDT": {
            "price": "0.000012345678",
            "tick": "0.000000000001",
            "step": "0.00000001",
            "top_depth": "900000000",
        }
    },
    "faults": {"weight_per_minute": 0},
}


async def test_an_amount_of_eighteen_digits_reaches_the_exchange_unchanged() -> None:
    """A large meme-token position on a fine step: 1,234,567,890.12345678 has 18 significant
    digits, more than a float holds (it would arrive as 1234567890.1234567)."""
    amount = D("1234567890.12345678")
    async with served(MEME) as (gateway, front):
        await gateway.load_markets()
        book = await gateway.fetch_order_book("MEME/USDT", 5)
        assert book.best_ask is not None
        price = book.best_ask + D("0.000000001")  # a sell that rests above the touch
        report = await gateway.place_order(
            OrderRequest("exact-1", "MEME/USDT", Side.SELL, amount, price)
        )
        order = front.engine.find(client_order_id="exact-1")
        assert order.amount == amount
        assert order.price == price
        assert report.amount == amount
        balances = await gateway.fetch_balances()
        assert balances.used["MEME"] == amount
        assert balances.free["MEME"] == D(5_000_000_000) - amount
