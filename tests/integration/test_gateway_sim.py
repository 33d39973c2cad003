"""The gateway against the simulated exchange: conversions, retries, translation, idempotency."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderRequest, OrderStatus, TimeInForce
from bot.errors import (
    AuthFailed,
    ExchangeUnavailable,
    InsufficientBalance,
    MalformedReply,
    NeverArrived,
    OrderRejected,
    WouldCross,
)
from bot.exchange.codec import market_from_ccxt
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import profile_for
from bot.exchange.transport import RetryPolicy
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"
D = Decimal


def gateway_for(name: str, attempts: int = 8) -> tuple[Gateway, SimExchange, VirtualClock]:
    scenario = load_scenario(SCENARIOS / name)
    clock = VirtualClock(scenario.start)
    exchange = SimExchange.from_scenario(scenario, clock)
    gw = Gateway(
        exchange,
        requests_per_second=1e6,
        retry=RetryPolicy(attempts=attempts, base_delay=0.2, max_delay=5),
        sleep=clock.sleep,
        rng=random.Random(1),
    )
    return gw, exchange, clock


async def test_markets_balances_and_books_become_exact_domain_values() -> None:
    gw, _, _ = gateway_for("demo.toml")
    markets = await gw.load_markets()
    btc = markets["BTC/USDT"]
    assert (btc.amount_step, btc.price_tick, btc.min_cost) == (D("0.00001"), D("0.01"), D(5))
    assert btc.taker_fee == D("0.001")
    balances = await gw.fetch_balances()
    assert balances.free["BTC"] == D("6.3158")
    book = await gw.fetch_order_book("BTC/USDT", 10)
    assert book.best_bid is not None
    assert book.best_ask is not None
    assert book.best_bid < book.best_ask
    assert len(book.bids) == 10


@pytest.mark.parametrize(
    ("mode", "precision", "step", "digits"),
    [
        (ccxt.TICK_SIZE, 0.001, D("0.001"), None),
        (ccxt.DECIMAL_PLACES, 3, D("0.001"), None),
        (ccxt.SIGNIFICANT_DIGITS, 4, D("1e-18"), 4),
    ],
)
def test_precision_modes(mode: int, precision: float, step: Decimal, digits: int | None) -> None:
    raw: dict[str, Any] = {
        "symbol": "X/USDT",
        "base": "X",
        "quote": "USDT",
        "precision": {"amount": precision, "price": precision},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 10}},
        "maker": 0.001,
        "taker": 0.002,
    }
    m = market_from_ccxt(raw, mode, {})
    assert m.amount_step == step
    assert m.amount_digits == digits
    if digits:  # 4 significant digits: 12.3456 -> 12.34 (down), a sell price rounds up
        assert m.round_amount(D("12.3456")) == D("12.34")
        assert m.round_price(D("12.3456"), Side.SELL) == D("12.35")
    else:
        assert m.round_amount(D("12.3456")) == D("12.345")


async def test_filters_are_checked_before_sending() -> None:
    gw, ex, _ = gateway_for("demo.toml")
    await gw.load_markets()
    sent = ex.calls["create_order"]
    with pytest.raises(OrderRejected, match="below the minimum 5 USDT"):
        await gw.place_order(OrderRequest("c1", "BTC/USDT", Side.BUY, D("0.00002"), D("90000")))
    with pytest.raises(OrderRejected, match="not on the tick"):
        await gw.place_order(OrderRequest("c2", "BTC/USDT", Side.BUY, D("0.001"), D("90000.005")))
    assert ex.calls["create_order"] == sent  # nothing reached the exchange


async def test_exchange_refusals_are_translated() -> None:
    gw, _, _ = gateway_for("demo.toml")
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_ask is not None
    with pytest.raises(WouldCross):
        await gw.place_order(
            OrderRequest("po1", "BTC/USDT", Side.BUY, D("0.01"), book.best_ask, post_only=True)
        )
    with pytest.raises(InsufficientBalance):
        await gw.place_order(OrderRequest("big", "BTC/USDT", Side.SELL, D("100"), book.best_ask))


class Refusing:
    """A backend whose every call raises one ccxt error (as a real exchange would)."""

    id = "fake"
    rateLimit = 50  # noqa: N815 - ccxt's attribute name

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def fetch_balance(self) -> Any:
        self.calls += 1
        raise self.error


async def test_auth_errors_fail_fast_and_transient_ones_are_retried_then_reported() -> None:
    clock = VirtualClock()
    auth = Refusing(ccxt.PermissionDenied("binance {'code': -2015, 'msg': 'Invalid API-key'}"))
    gw = Gateway(auth, retry=RetryPolicy(attempts=4), sleep=clock.sleep)
    with pytest.raises(AuthFailed, match="refused the API key"):
        await gw.fetch_balances()
    assert auth.calls == 1  # never retried
    down = Refusing(ccxt.ExchangeNotAvailable("503"))
    gw = Gateway(down, retry=RetryPolicy(attempts=4, base_delay=1, max_delay=8), sleep=clock.sleep)
    start = clock.time()
    with pytest.raises(ExchangeUnavailable, match="after 4 tries"):
        await gw.fetch_balances()
    assert down.calls == 4
    # three backoffs of at most 1, 2 and 4 s, each at least half that (jitter)
    assert 3.5 <= clock.time() - start <= 7


async def test_retry_after_is_honoured_on_rate_limits() -> None:
    clock = VirtualClock()
    limited = Refusing(ccxt.DDoSProtection("429 Too Many Requests"))
    limited.last_response_headers = {"Retry-After": "30"}  # type: ignore[attr-defined]
    gw = Gateway(
        limited, retry=RetryPolicy(attempts=2, base_delay=0.5, max_delay=10), sleep=clock.sleep
    )
    start = clock.time()
    with pytest.raises(ExchangeUnavailable):
        await gw.fetch_balances()
    assert clock.time() - start >= 30


async def test_lost_replies_never_yield_two_orders() -> None:
    """Hundreds of orders through a connection that fails, times out and loses create replies:
    an order whose reply was lost is found by its client id; a request that never arrived is
    reported so once the exchange can no longer accept it, and never sent again."""
    gw, ex, _ = gateway_for("faulty.toml", attempts=10)
    await gw.load_markets()
    placed, lost = [], []
    for i in range(150):
        book = await gw.fetch_order_book("ETH/USDT", 5)
        assert book.best_bid is not None
        request = OrderRequest(
            f"t{i}",
            "ETH/USDT",
            Side.BUY,
            D("0.01"),
            book.best_bid - D("5"),
            TimeInForce.GTC,
            post_only=True,
        )
        try:
            report = await gw.place_order(request)
        except NeverArrived:
            lost.append(request.client_id)
            continue
        placed.append(report.client_id)
        assert report.client_id == request.client_id
        final = await gw.cancel_order("ETH/USDT", report.exchange_id)
        assert final is not None
        assert final.status is OrderStatus.CANCELED
    # the faults really happened, and the exchange holds exactly one order per client id placed
    assert ex.faults.injected["lost_create_reply"] > 0
    assert sum(ex.faults.injected.values()) > 10
    ids = Counter(o.client_order_id for o in ex.engine.all_orders("ETH/USDT"))
    assert set(ids) == set(placed)
    assert max(ids.values()) == 1
    assert not set(lost) & set(ids)
    assert len(placed) + len(lost) == 150


async def test_status_unknown_reply_is_resolved_by_client_id() -> None:
    """Binance's -1006 "execution status unknown" is an OperationFailed in ccxt, not a
    NetworkError: the order may exist, so it is looked up, never reported as failed."""
    gw, ex, _ = gateway_for("demo.toml")
    await gw.load_markets()
    place = ex.create_order

    async def unknown_status(*args: Any, **kwargs: Any) -> Any:
        await place(*args, **kwargs)
        raise ccxt.OperationFailed('binance {"code":-1006,"msg":"Unexpected response"}')

    ex.create_order = unknown_status  # type: ignore[method-assign]
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    report = await gw.place_order(
        OrderRequest("u1", "BTC/USDT", Side.SELL, D("0.01"), book.best_bid)
    )
    assert report.client_id == "u1"
    assert report.status is OrderStatus.CLOSED
    assert [o.client_order_id for o in ex.engine.all_orders()] == ["u1"]


async def test_a_request_still_in_flight_is_waited_for_not_sent_twice() -> None:
    """The reply is lost and the first lookup finds nothing because the request has not reached
    the exchange yet; the gateway waits out the exchange's receive window and finds it."""
    gw, ex, clock = gateway_for("demo.toml")
    await gw.load_markets()
    place, lookup = ex.create_order, ex.fetch_order
    late: list[Any] = []
    lookups = 0

    async def lost(*args: Any, **kwargs: Any) -> Any:
        late.append((args, kwargs))
        raise ccxt.RequestTimeout("timed out")

    async def delayed_arrival(*args: Any, **kwargs: Any) -> Any:
        nonlocal lookups
        lookups += 1
        if lookups == 2 and late:  # the lost request lands while the gateway waits
            a, k = late.pop()
            await place(*a, **k)
        return await lookup(*args, **kwargs)

    ex.create_order = lost  # type: ignore[method-assign]
    ex.fetch_order = delayed_arrival  # type: ignore[method-assign]
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    start = clock.time()
    report = await gw.place_order(
        OrderRequest("f1", "BTC/USDT", Side.BUY, D("0.01"), book.best_bid - D(100), post_only=True)
    )
    assert report.client_id == "f1"
    assert clock.time() - start >= gw.ambiguity_window - 1
    assert [o.client_order_id for o in ex.engine.all_orders()] == ["f1"]


async def test_a_client_id_the_exchange_would_refuse_is_not_sent() -> None:
    gw, exchange, _ = gateway_for("demo.toml")
    gw.profile = profile_for("binance")  # newClientOrderId: [.A-Za-z0-9:/_-], at most 36
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    for bad in ("x" * 37, "has space", "é-accent"):
        with pytest.raises(OrderRejected, match="breaks binance's rules"):
            await gw.place_order(OrderRequest(bad, "BTC/USDT", Side.BUY, D("0.001"), book.best_bid))
    assert exchange.calls["create_order"] == 0


async def test_a_reply_the_bot_cannot_read_is_a_gateway_error() -> None:
    gw, exchange, _ = gateway_for("demo.toml")
    await gw.load_markets()

    async def garbled(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"free": {"BTC": "not a number"}, "used": {}}

    exchange.fetch_balance = garbled  # type: ignore[method-assign]
    with pytest.raises(MalformedReply, match="fetch_balance: a reply the bot cannot read"):
        await gw.fetch_balances()


async def test_a_short_create_reply_is_completed_from_the_request() -> None:
    """The exchange took the order but its reply lacks the side (Bybit, KuCoin, Bitget): what
    it lacks comes from the request sent, so the order is neither sent twice nor forgotten."""
    gw, exchange, _ = gateway_for("demo.toml")
    await gw.load_markets()
    book = await gw.fetch_order_book("BTC/USDT", 5)
    assert book.best_bid is not None
    create = exchange.create_order

    async def short_reply(*args: Any, **kwargs: Any) -> dict[str, Any]:
        reply = await create(*args, **kwargs)
        return {**reply, "side": None}

    exchange.create_order = short_reply  # type: ignore[method-assign]
    before = sum(exchange.calls.values())
    report = await gw.place_order(
        OrderRequest("gw-short-1", "BTC/USDT", Side.BUY, D("0.001"), book.best_bid)
    )
    assert report.client_id == "gw-short-1"
    assert report.side is Side.BUY
    assert exchange.calls["create_order"] == 1
    # The side a short reply lacks comes from the request sent: no lookup was needed.
    assert sum(exchange.calls.values()) - before == 1, dict(exchange.calls)
