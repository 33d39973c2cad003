"""KuCoin's and Gate's error replies, in their own codes, reach the bot as the kind of failure
they are: each fake answers as the venue does, ccxt maps it, the profile sorts refused from
ambiguous (ambiguous_errors, refused_errors)."""

from __future__ import annotations

import ccxt
import pytest

from bot.domain.market import Side
from bot.domain.orders import TimeInForce
from bot.errors import AuthFailed, InsufficientBalance, NeverArrived, RequestRefused
from tests.venues.harness import connect, order

VENUES = ["kucoin", "gate"]
CID = "rb1a2b-1ab34-0c1"


@pytest.mark.parametrize("name", VENUES)
async def test_an_order_beyond_the_balance_is_refused_for_funds(name: str) -> None:
    venue, gateway = await connect(name)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    with pytest.raises(InsufficientBalance):
        await gateway.place_order(order(CID, Side.BUY, "0.9", book.best_bid))
    assert not venue.engine.all_orders()
    await gateway.close()


@pytest.mark.parametrize("name", VENUES)
async def test_a_rate_limited_order_was_refused_not_placed(name: str) -> None:
    venue, gateway = await connect(name)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    venue.fail(venue.create_path, ccxt.RateLimitExceeded)
    with pytest.raises(RequestRefused):
        await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_bid))
    assert not venue.engine.all_orders()
    await gateway.close()


@pytest.mark.parametrize("name", VENUES)
async def test_a_5xx_on_an_order_is_ambiguous_and_settled_by_lookup(name: str) -> None:
    """A server error leaves the order's fate unknown: looked up, waited out (the receive
    window), looked up again, then "never arrived" (the fake did not execute it)."""
    venue, gateway = await connect(name)
    book = await gateway.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    venue.fail(venue.create_path, ccxt.ExchangeNotAvailable)
    with pytest.raises(NeverArrived):
        await gateway.place_order(order(CID, Side.BUY, "0.01", book.best_bid, TimeInForce.GTC))
    assert not venue.engine.all_orders()
    await gateway.close()


@pytest.mark.parametrize("name", VENUES)
async def test_a_refused_key_is_an_auth_failure(name: str) -> None:
    venue, gateway = await connect(name)
    path = {"kucoin": "/api/v1/accounts", "gate": "/api/v4/spot/accounts"}[name]
    venue.fail(path, ccxt.AuthenticationError)
    with pytest.raises(AuthFailed):
        await gateway.fetch_balances()
    await gateway.close()


@pytest.mark.parametrize("name", VENUES)
async def test_an_unknown_order_is_none(name: str) -> None:
    _venue, gateway = await connect(name)
    assert await gateway.fetch_order("BTC/USDT", "rb1a2b-unknown") is None
    await gateway.close()
