"""What the venue quirk tests share: a venue fake and the bot's gateway on it (ccxt's real class,
the bot's client factory, the venue's profile), without backoff sleeps, and a session that
touches every call the bot makes."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, TimeInForce
from bot.exchange.connect import ccxt_client
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from tests.venues.venue import Venue

D = Decimal


async def _no_sleep(seconds: float) -> None:
    return None


async def connect(name: str, **fields: Any) -> tuple[Any, Gateway]:
    """The venue `name`'s fake (its dataclass `fields` set) and a gateway on it, markets
    loaded."""
    module = importlib.import_module(f"tests.venues.{name}")
    venue = module.Fake(**fields)
    profile = profile_for(name)
    client = ccxt_client(
        name, profile, timeout=5.0, options={}, credentials=lambda: dict(module.CREDENTIALS)
    )
    venue.install(client)
    gateway = Gateway(client, profile=profile, requests_per_second=1000, sleep=_no_sleep)
    await gateway.load_markets()
    return venue, gateway


def order(
    client_id: str,
    side: Side,
    amount: str,
    price: Decimal,
    tif: TimeInForce = TimeInForce.GTC,
    symbol: str = "BTC/USDT",
    post_only: bool = False,
) -> OrderRequest:
    return OrderRequest(client_id, symbol, side, D(amount), price, tif, post_only)


async def full_session(venue: Venue, gateway: Gateway) -> None:
    """Every kind of call the bot makes: balances, tops, books, orders placed, looked up,
    listed, cancelled, their trades."""
    await gateway.fetch_balances()
    await gateway.fetch_tops(["BTC/USDT", "ETH/USDT"])
    book = await gateway.fetch_order_book("BTC/USDT", 50)
    assert book.best_bid is not None and book.best_ask is not None
    ids = gateway.profile.client_id
    resting = await gateway.place_order(
        order(ids.join("rb1a2b", "1ab34", "0") + "c1", Side.BUY, "0.01", book.best_bid)
    )
    taken = await gateway.place_order(
        order(
            ids.join("rb1a2b", "1ab34", "0") + "c2",
            Side.BUY,
            "0.01",
            book.best_ask,
            TimeInForce.IOC,
        )
    )
    await gateway.fetch_order("BTC/USDT", resting.client_id or "")
    await gateway.fetch_open_orders("BTC/USDT")
    await gateway.cancel_order("BTC/USDT", resting.exchange_id, resting.client_id)
    await gateway.fetch_order_trades("BTC/USDT", taken.exchange_id)
    await gateway.proven_absent("BTC/USDT", "rb1a2b-none")


def unrouted(venue: Venue) -> list[tuple[str, str]]:
    """Requests the venue had no route for (answered 404)."""
    return [r for r in venue.requests if venue._routes.get(r) is None]
