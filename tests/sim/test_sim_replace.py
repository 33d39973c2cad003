"""Cancel-and-replace in one request (`Gateway.replace_order`) on the simulator: in process
(`bot.sim.replace`, the simulated profile's facts) and over HTTP through ccxt's real binance class
(POST /api/v3/order/cancelReplace of `bot.sim.binance`, Binance's profile): the old order ends
cancelled with its fills, the new one works, one request; an old order already filled leaves
nothing placed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import WouldCross
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange

from .conftest import SYMBOL, MakeSim, Serve

D = Decimal


def buy(client_id: str, price: str, amount: str = "1", **kw: Any) -> OrderRequest:
    return OrderRequest(client_id, SYMBOL, Side.BUY, D(amount), D(price), **kw)


async def in_process(make_sim: MakeSim) -> tuple[SimExchange, VirtualClock, Gateway]:
    ex, clock = make_sim()
    gw = Gateway(ex, profile=profile_for("sim"), requests_per_second=1e6, sleep=clock.sleep)
    await gw.load_markets()
    return ex, clock, gw


async def test_sim_replace_cancels_with_fills_and_places_in_one_request(
    make_sim: MakeSim,
) -> None:
    ex, _, gw = await in_process(make_sim)
    assert gw.can_replace()
    # 1.5 BTC to buy at the ask: 1 BTC at 100.01 fills, 0.5 rests at... a GTC limit above the
    # ask takes the first level and rests the rest.
    first = await gw.place_order(buy("rb-1-0c1", "100.01", "1.5"))
    assert first.filled == D(1) and first.status is OrderStatus.OPEN
    before = gw.requests
    sent: list[float] = []
    done = await gw.replace_order(
        SYMBOL, first.exchange_id, "rb-1-0c1", buy("rb-1-0c2", "99.98", "0.5"), sent.append
    )
    assert gw.requests - before == 1 and len(sent) == 1 and ex.calls["cancel_replace"] == 1
    assert done.old is not None and done.new is not None and done.refused is None
    assert done.old.status is OrderStatus.CANCELED and done.old.filled == D(1)
    assert done.old.client_id == "rb-1-0c1"
    assert done.new.client_id == "rb-1-0c2" and done.new.status is OrderStatus.OPEN
    open_ids = [o.client_id for o in await gw.fetch_open_orders(SYMBOL)]
    assert open_ids == ["rb-1-0c2"]
    # the books agree: the old order's lock is released, the new one's held
    assert ex.engine.account.used["USDT"] == D("0.5") * D("99.98")


async def test_sim_replace_of_a_filled_order_places_nothing(make_sim: MakeSim) -> None:
    ex, _, gw = await in_process(make_sim)
    filled = await gw.place_order(buy("rb-1-0c1", "100.01", "1", time_in_force=TimeInForce.IOC))
    assert filled.status is OrderStatus.CLOSED
    done = await gw.replace_order(SYMBOL, filled.exchange_id, "rb-1-0c1", buy("rb-1-0c2", "99.98"))
    assert (done.old, done.new, done.refused) == (None, None, None)
    assert await gw.fetch_open_orders(SYMBOL) == []
    assert await gw.fetch_order(SYMBOL, "rb-1-0c2") is None  # never placed
    assert ex.calls["cancel_replace"] == 1


async def test_sim_replace_post_only_that_would_cross_is_refused_after_the_cancel(
    make_sim: MakeSim,
) -> None:
    _, _, gw = await in_process(make_sim)
    first = await gw.place_order(buy("rb-1-0c1", "99.98"))
    crossing = buy("rb-1-0c2", "100.01", post_only=True)
    done = await gw.replace_order(SYMBOL, first.exchange_id, "rb-1-0c1", crossing)
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.new is None and isinstance(done.refused, WouldCross)
    assert await gw.fetch_open_orders(SYMBOL) == []


async def test_sim_replace_lost_reply_is_settled_by_lookups(make_sim: MakeSim) -> None:
    ex, _, gw = await in_process(make_sim)
    first = await gw.place_order(buy("rb-1-0c1", "99.98"))
    ex.faults.config = replace(ex.faults.config, lost_create_reply=1.0)
    done = await gw.replace_order(SYMBOL, first.exchange_id, "rb-1-0c1", buy("rb-1-0c2", "99.97"))
    assert ex.faults.injected["lost_create_reply"] == 1
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.new is not None and done.new.client_id == "rb-1-0c2"
    assert [o.client_id for o in await gw.fetch_open_orders(SYMBOL)] == ["rb-1-0c2"]


async def test_sim_replace_by_client_id_only(make_sim: MakeSim) -> None:
    _, _, gw = await in_process(make_sim)
    await gw.place_order(buy("rb-1-0c1", "99.98"))
    done = await gw.replace_order(SYMBOL, "", "rb-1-0c1", buy("rb-1-0c2", "99.97"))
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.new is not None and done.new.status is OrderStatus.OPEN


# ---- over HTTP, ccxt's real binance class ----------------------------------------------------


async def over_http(serve: Serve) -> tuple[Any, Gateway]:
    client, front, _ = await serve()
    gw = Gateway(client, profile=profile_for("binance"), requests_per_second=1000)
    await gw.load_markets()
    return front, gw


async def test_http_replace_cancels_with_fills_and_places(serve: Serve) -> None:
    front, gw = await over_http(serve)
    assert gw.can_replace()
    first = await gw.place_order(buy("rb-1-0c1", "100.01", "1.5"))
    assert first.filled == D(1)
    done = await gw.replace_order(
        SYMBOL, first.exchange_id, "rb-1-0c1", buy("rb-1-0c2", "99.98", "0.5", post_only=True)
    )
    assert front.requests["cancelReplace"] == 1
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.old.filled == D(1) and done.old.client_id == "rb-1-0c1"
    assert done.new is not None and done.new.client_id == "rb-1-0c2"
    assert done.new.status is OrderStatus.OPEN and done.new.amount == D("0.5")
    assert [o.client_id for o in await gw.fetch_open_orders(SYMBOL)] == ["rb-1-0c2"]


async def test_http_replace_of_a_filled_order_places_nothing(serve: Serve) -> None:
    front, gw = await over_http(serve)
    filled = await gw.place_order(buy("rb-1-0c1", "100.01", "1", time_in_force=TimeInForce.IOC))
    done = await gw.replace_order(SYMBOL, filled.exchange_id, "rb-1-0c1", buy("rb-1-0c2", "99.98"))
    assert front.requests["cancelReplace"] == 1
    assert (done.old, done.new, done.refused) == (None, None, None)
    assert await gw.fetch_open_orders(SYMBOL) == []
    assert await gw.fetch_order(SYMBOL, "rb-1-0c2") is None


async def test_http_replace_post_only_that_would_cross(serve: Serve) -> None:
    _, gw = await over_http(serve)
    first = await gw.place_order(buy("rb-1-0c1", "99.98"))
    done = await gw.replace_order(
        SYMBOL, first.exchange_id, "rb-1-0c1", buy("rb-1-0c2", "100.02", post_only=True)
    )
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.new is None and isinstance(done.refused, WouldCross)
    assert await gw.fetch_open_orders(SYMBOL) == []


@pytest.mark.parametrize("by_client_id", [False, True])
async def test_http_replace_names_the_old_order_either_way(
    serve: Serve, by_client_id: bool
) -> None:
    _, gw = await over_http(serve)
    first = await gw.place_order(buy("rb-1-0c1", "99.98"))
    old_id = "" if by_client_id else first.exchange_id
    ioc = buy("rb-1-0c2", "99.97", time_in_force=TimeInForce.IOC)
    done = await gw.replace_order(SYMBOL, old_id, "rb-1-0c1", ioc)
    assert done.old is not None and done.old.status is OrderStatus.CANCELED
    assert done.new is not None and done.new.status is OrderStatus.EXPIRED  # IOC, nothing to take
