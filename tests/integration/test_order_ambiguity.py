"""An order request whose reply is lost or refused: what the gateway concludes, and when.

A small scripted exchange stands in (ccxt's unified method names and exception classes), so each
case is exact: where the request really went, when, and what the exchange holds."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from bot.domain.lifecycle import ChildOrder, ChildState
from bot.domain.market import Market, Side
from bot.domain.orders import OrderRequest, TimeInForce
from bot.domain.slicing import Phase
from bot.errors import AmbiguousOrder, NeverArrived, RequestRefused
from bot.exchange.gateway import Gateway
from bot.exchange.profiles import GENERIC, profile_for
from bot.exchange.transport import RetryPolicy
from bot.journal import Journal
from bot.runtime.reconcile import reconcile
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.scenario import parse_scenario

D = Decimal
MARKET = Market("BTC/USDT", "BTC", "USDT", D("0.001"), D("0.01"))


class Scripted:
    """An exchange that answers create_order as told, and remembers every call's time."""

    id = "binance"
    rateLimit = 50  # noqa: N815
    has = {"fetchOpenOrders": True, "fetchClosedOrders": True}  # noqa: RUF012

    def __init__(self, create: Any, now: Any = time.monotonic) -> None:
        self.create = create
        self.now = now
        self.orders: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, float]] = []
        self.resynced = 0

    def _order(self, cid: str, amount: Any, price: Any, status: str = "open") -> dict[str, Any]:
        return {
            "id": str(len(self.orders) + 1),
            "clientOrderId": cid,
            "symbol": "BTC/USDT",
            "side": "buy",
            "amount": amount,
            "price": price,
            "filled": "0" if status == "open" else amount,
            "status": status,
            "timestamp": 1,
        }

    async def create_order(self, *args: Any) -> dict[str, Any]:
        self.calls.append(("create_order", self.now()))
        return await self.create(self, *args)

    async def fetch_order(self, id: str, symbol: str, params: Any = None) -> dict[str, Any]:
        self.calls.append(("fetch_order", self.now()))
        if id in self.orders:
            return self.orders[id]
        raise ccxt.OrderNotFound("binance Order does not exist.")

    async def fetch_open_orders(self, symbol: str) -> list[dict[str, Any]]:
        self.calls.append(("fetch_open_orders", self.now()))
        return [o for o in self.orders.values() if o["status"] == "open"]

    async def fetch_closed_orders(self, symbol: str, since: Any, limit: Any) -> list[Any]:
        self.calls.append(("fetch_closed_orders", self.now()))
        return [o for o in self.orders.values() if o["status"] != "open"]

    async def load_time_difference(self) -> None:
        self.resynced += 1

    async def close(self) -> None:
        pass

    def called(self, method: str) -> list[float]:
        return [t for m, t in self.calls if m == method]


def request(cid: str = "c1", tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return OrderRequest(cid, "BTC/USDT", Side.BUY, D("0.5"), D("100"), tif)


def gateway(exchange: Any, **kwargs: Any) -> Gateway:
    gw = Gateway(exchange, retry=RetryPolicy(attempts=2, base_delay=0.01), **kwargs)
    gw.markets = {"BTC/USDT": MARKET}
    return gw


async def lost(ex: Scripted, *args: Any) -> dict[str, Any]:
    raise ccxt.RequestTimeout("binance POST /api/v3/order timed out")


async def test_the_wait_counts_from_the_real_send_not_from_the_call() -> None:
    """The request waits ~1 s in the pacer before it leaves: the lookup that concludes it never
    arrived comes a full window after it left, not after the call (seen before: 2-3 s after the
    real send, inside Binance's 5 s window)."""
    ex = Scripted(lost)
    gw = gateway(ex, requests_per_second=2, ambiguity_window=3.0)
    for _ in range(2):  # this second's two requests are taken
        await gw.fetch_open_orders("BTC/USDT")
    called = time.monotonic()
    with pytest.raises(NeverArrived):
        await gw.place_order(request())
    sent = ex.called("create_order")[0]
    assert sent - called > 0.5  # it really waited in the pacer
    assert ex.called("fetch_order")[-1] - sent >= 3.0


def test_the_window_is_the_configured_receive_window() -> None:
    from bot.exchange.connect import with_user_options

    wide = with_user_options(profile_for("binance"), {"recvWindow": 60_000})
    assert gateway(Scripted(lost), profile=wide).ambiguity_window == 61.0
    assert gateway(Scripted(lost), profile=profile_for("binance")).ambiguity_window == 6.0


async def test_a_lost_ioc_that_filled_is_found_not_sent_again() -> None:
    """An IOC child filled, its reply lost: an exchange does not refuse a second IOC with the
    same client id once the first is done, so only the lookup stands between it and a double
    fill."""

    async def fills_then_times_out(ex: Scripted, *args: Any) -> dict[str, Any]:
        order = ex._order(args[-1]["clientOrderId"], args[3], args[4], "closed")
        ex.orders[order["clientOrderId"]] = order
        raise ccxt.RequestTimeout("binance POST /api/v3/order timed out")

    ex = Scripted(fills_then_times_out)
    found = await gateway(ex, ambiguity_window=0.2).place_order(request(tif=TimeInForce.IOC))
    assert (found.client_id, found.filled) == ("c1", D("0.5"))
    assert len(ex.called("create_order")) == 1


@pytest.mark.parametrize(
    "refusal",
    [
        ccxt.RateLimitExceeded('binance {"code":-1015,"msg":"Too many new orders."}'),
        ccxt.DDoSProtection("binance 429 Too Many Requests"),
        ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp outside of the recvWindow."}'),
    ],
)
async def test_a_refused_request_is_not_waited_out_nor_resent(refusal: Exception) -> None:
    """429, 418 and -1021 mean the exchange did not execute it: no lookup, no window, no resend
    of the old request; the caller makes a new child from a fresh book."""

    async def refuse(ex: Scripted, *args: Any) -> dict[str, Any]:
        raise refusal

    ex = Scripted(refuse)
    with pytest.raises(RequestRefused):
        await gateway(ex, ambiguity_window=30).place_order(request())
    assert len(ex.called("create_order")) == 1
    assert ex.called("fetch_order") == []
    assert ex.resynced == (1 if isinstance(refusal, ccxt.InvalidNonce) else 0)


async def test_without_a_receive_window_absence_is_proven_by_listing() -> None:
    ex = Scripted(lost)
    ex.id = "somewhere"
    with pytest.raises(NeverArrived):
        await gateway(ex, profile=GENERIC, ambiguity_window=0.1).place_order(request())
    assert ex.called("fetch_open_orders") and ex.called("fetch_closed_orders")

    ex.has = {}  # nothing to list: no proof, no conclusion
    with pytest.raises(AmbiguousOrder, match="no receive window"):
        await gateway(ex, profile=GENERIC, ambiguity_window=0.1).place_order(request("c2"))


async def test_the_send_is_on_record_before_the_request_leaves(tmp_path: Path) -> None:
    """Order of operations, not only that it commits: when the exchange receives the request,
    another connection to the journal already sees it sent, with its send time."""
    journal = Journal(tmp_path / "j.sqlite")
    rid = journal.start_rebalance("sim", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", Side.BUY, D("0.5"), D(100))
    seen: list[tuple[str, float | None]] = []

    async def look_then_place(ex: Scripted, *args: Any) -> dict[str, Any]:
        other = sqlite3.connect(tmp_path / "j.sqlite")
        seen.extend(
            other.execute("SELECT status, sent_at FROM orders WHERE client_id = 'c1'").fetchall()
        )
        other.close()
        return ex._order("c1", args[3], args[4])

    journal.child_intent("L", request(), Phase.TAKE)
    child = ChildOrder("c1")

    def sent(at: float) -> None:
        nonlocal child
        child = child.sent(at)
        journal.child_sent("c1", at)

    await gateway(Scripted(look_then_place)).place_order(request(), on_sent=sent)
    assert len(seen) == 1
    assert seen[0][0] == ChildState.SENT.value
    assert seen[0][1] is not None
    journal.close()


async def restarted(tmp_path: Path) -> tuple[Gateway, Journal, VirtualClock, SimExchange]:
    """A journal that holds one request sent just before the process died, and the exchange."""
    clock = VirtualClock()
    sim = SimExchange.from_scenario(
        parse_scenario(
            {
                "seed": 1,
                "balances": {"USDT": "1000"},
                "regime": {"volatility": 0.0, "trade_rate": 0.0},
                "markets": {
                    "BTC/USDT": {"price": "100", "tick": "0.01", "step": "0.001", "top_depth": "5"}
                },
                "faults": {"weight_per_minute": 0},
            }
        ),
        clock,
    )
    gw = Gateway(sim, requests_per_second=1e6, sleep=clock.sleep, now=clock.time)
    await gw.load_markets()
    journal = Journal(tmp_path / "j.sqlite", now=clock.time)
    rid = journal.start_rebalance("sim", D(1), D(0))
    journal.start_leg("L", rid, 0, "BTC/USDT", Side.BUY, D("0.5"), D(90))
    journal.child_intent("L", request(), Phase.TAKE)
    journal.child_sent("c1", clock.time())  # it left; the process died before the reply
    return gw, journal, clock, sim


async def test_a_sent_order_not_found_stays_unconfirmed_until_its_window_has_passed(
    tmp_path: Path,
) -> None:
    """After a crash and a fast restart, an order sent just before it is not yet visible: one
    lookup that misses is not "never arrived". Reconciliation asks again at the next poll, and
    concludes only once the exchange can no longer accept the request."""
    gw, journal, clock, _ = await restarted(tmp_path)
    first = await reconcile(gw, journal, clock)
    assert first.unconfirmed == ["c1"]
    assert first.never_arrived == []
    assert not first.all_known
    assert journal.order("c1").status is ChildState.SENT  # type: ignore[union-attr]
    await clock.sleep(3.0)
    assert (await reconcile(gw, journal, clock)).unconfirmed == ["c1"]
    await clock.sleep(3.5)  # 6.5 s since the send: Binance's 5 s window and the margin passed
    last = await reconcile(gw, journal, clock)
    assert last.never_arrived == ["c1"]
    assert journal.order("c1").status is ChildState.NEVER_ARRIVED  # type: ignore[union-attr]
    journal.close()


async def test_a_late_order_inside_the_window_is_found_and_settled(tmp_path: Path) -> None:
    """The same restart, but the request lands 2 s later (seen before: 0.073 BTC left locked):
    the next reconciliation finds it live and cancels it."""
    gw, journal, clock, sim = await restarted(tmp_path)
    assert (await reconcile(gw, journal, clock)).unconfirmed == ["c1"]
    await clock.sleep(2.0)
    await sim.create_order("BTC/USDT", "limit", "buy", "0.5", "90", {"clientOrderId": "c1"})
    assert sim.engine.account.used["USDT"] == D(45)  # the late order locks its quote
    second = await reconcile(gw, journal, clock)
    assert second.cancelled == ["c1"]
    assert not sim.engine.open_orders()
    assert sim.engine.account.used["USDT"] == 0
    assert journal.order("c1").status is ChildState.CANCELLED  # type: ignore[union-attr]
    journal.close()
