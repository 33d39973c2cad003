"""Paper trading: real public data (here a SimExchange standing in for the real exchange), our
orders and balances simulated with the simulator's own rules, and nothing ever traded for real.

The stand-in "public" exchange runs the deep-calm scenario on a virtual clock; every expectation is
computed from the very book it shows at that moment (two fetches at one virtual time show the same
book), so the numbers are exact without being written down by hand.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import ccxt
import pytest

from bot.clock import RealClock
from bot.domain.market import Level, Side
from bot.domain.orders import OrderRequest, OrderStatus
from bot.exchange.codec import market_from_ccxt
from bot.exchange.gateway import Gateway
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.model import EventKind
from bot.sim.paper import PUBLIC_METHODS, ObservedBook, PaperExchange
from bot.sim.scenario import EventSpec, load_scenario

D = Decimal
SCENARIO = Path(__file__).resolve().parents[2] / "config" / "scenarios" / "deep-calm.toml"
SYMBOL = "BTC/USDT"
FEE = D("0.001")  # deep-calm's maker and taker fees on BTC/USDT
START = {"USDT": D("3000000"), "BTC": D("2")}
JUMP_AT = 60.0  # seconds after the start, when `jump` is given
TRADING_CALLS = ("create_order", "cancel_order", "fetch_balance", "fetch_order", "fetch_my_trades")

Pairs = list[tuple[D, D]]


class Dry(NamedTuple):
    paper: PaperExchange
    public: SimExchange
    clock: VirtualClock


def assert_never_traded(public: SimExchange) -> None:
    assert set(public.calls) <= PUBLIC_METHODS, public.calls
    for method in TRADING_CALLS:
        assert public.calls[method] == 0, method


@pytest.fixture
def make_dry() -> Iterator[Callable[..., Dry]]:
    made: list[Dry] = []

    def make(jump: float | None = None, **kwargs: Any) -> Dry:
        scenario = load_scenario(SCENARIO)
        if jump is not None:
            event = EventSpec(kind=EventKind.JUMP, at=JUMP_AT, size=jump, symbol=SYMBOL)
            scenario = scenario.model_copy(update={"events": [event]})
        clock = VirtualClock(scenario.start)
        public = SimExchange.from_scenario(scenario, clock=clock)
        dry = Dry(PaperExchange(public, START, clock=clock, **kwargs), public, clock)
        made.append(dry)
        return dry

    yield make
    for dry in made:  # whatever a test did, a dry run never traded
        assert_never_traded(dry.public)


@pytest.fixture
def dry(make_dry: Callable[..., Dry]) -> Dry:
    return make_dry()


async def real_book(public: SimExchange) -> tuple[Pairs, Pairs]:
    """(bids, asks) the real exchange shows now, as exact decimals of what it printed."""
    raw = await public.fetch_order_book(SYMBOL)
    return (
        [(D(str(p)), D(str(a))) for p, a in raw["bids"]],
        [(D(str(p)), D(str(a))) for p, a in raw["asks"]],
    )


def walk(levels: Pairs, amount: D, crosses: Callable[[D], bool]) -> Pairs:
    """The (price, quantity) fills of taking `amount` from `levels` while the price crosses."""
    out, left = [], amount
    for price, qty in levels:
        if left == 0 or not crosses(price):
            break
        take = min(left, qty)
        out.append((price, take))
        left -= take
    return out


def balances(paper: PaperExchange) -> dict[str, tuple[D, D]]:
    account = paper.engine.account
    return {a: (account.free[a], account.used[a]) for a in ("BTC", "USDT")}


def trades_of(order: Mapping[str, Any]) -> list[tuple[float, float, str]]:
    return [(t["price"], t["amount"], t["takerOrMaker"]) for t in order["trades"]]


# ---- market data ----------------------------------------------------------------------------


async def test_markets_and_tickers_are_the_public_exchanges(dry: Dry) -> None:
    paper, public, _ = dry
    assert paper.markets is None and paper.id == "paper"
    markets = await paper.load_markets()
    assert markets == await public.load_markets()
    assert paper.symbols == public.symbols and paper.precisionMode == public.precisionMode
    gateway = Gateway(paper, requests_per_second=1e6)
    converted = await gateway.load_markets()
    scenario = load_scenario(SCENARIO)
    assert converted[SYMBOL] == scenario.markets[SYMBOL].to_market(SYMBOL)
    assert await paper.fetch_ticker(SYMBOL) == await public.fetch_ticker(SYMBOL)
    bids, asks = await real_book(public)
    assert (await paper.fetch_tickers([SYMBOL]))[SYMBOL]["bid"] == float(bids[0][0])
    book = await paper.fetch_order_book(SYMBOL, 5)
    assert book["bids"] == [[float(p), float(a)] for p, a in bids[:5]]
    assert book["asks"] == [[float(p), float(a)] for p, a in asks[:5]]
    assert paper.amount_to_precision(SYMBOL, 0.123456789) == "0.12345"


async def test_market_conversion_is_the_gateways(dry: Dry) -> None:
    paper, _, _ = dry
    await paper.create_order(SYMBOL, "limit", "buy", 0.001, 90000)
    raw = paper.market(SYMBOL)
    fees = paper.fees.get("trading", {})
    assert paper.engine.markets[SYMBOL] == market_from_ccxt(raw, paper.precisionMode, fees)


# ---- taking ---------------------------------------------------------------------------------


async def test_taker_buy_walks_the_real_book_at_its_prices_with_exact_fees(dry: Dry) -> None:
    paper, public, _ = dry
    _, asks = await real_book(public)
    limit, amount = asks[2][0], D("3")
    expected = walk(asks, amount, lambda p: p <= limit)
    filled = sum((q for _, q in expected), D(0))
    cost = sum((p * q for p, q in expected), D(0))
    assert len(expected) >= 2  # the order walks more than one level

    order = await paper.create_order(SYMBOL, "limit", "buy", float(amount), float(limit))

    assert trades_of(order) == [(float(p), float(q), "taker") for p, q in expected]
    assert order["status"] == ("closed" if filled == amount else "open")
    internal = paper.engine.orders[order["id"]]
    assert (internal.filled, internal.cost) == (filled, cost)
    assert internal.fee == filled * FEE  # in BTC, the asset received
    assert order["fee"] == {"cost": float(filled * FEE), "currency": "BTC"}
    rest = (amount - filled) * limit
    assert balances(paper) == {
        "BTC": (START["BTC"] + filled - filled * FEE, D(0)),
        "USDT": (START["USDT"] - cost - rest, rest),  # a buy below its limit gets the rest back
    }
    # What we took is gone from the observed book until the real exchange shows a fresh one.
    taken = dict(expected)
    left = tuple(Level(p, q - taken.get(p, D(0))) for p, q in asks if q > taken.get(p, D(0)))
    assert paper.engine.books[SYMBOL].levels(Side.SELL) == left


async def test_market_sell_walks_the_bids_and_pays_its_fee_in_quote(dry: Dry) -> None:
    paper, public, _ = dry
    bids, _ = await real_book(public)
    amount = D("1.5")
    expected = walk(bids, amount, lambda p: True)
    cost = sum((p * q for p, q in expected), D(0))

    order = await paper.create_order(SYMBOL, "market", "sell", 1.5)

    assert order["status"] == "closed" and order["type"] == "market"
    assert trades_of(order) == [(float(p), float(q), "taker") for p, q in expected]
    internal = paper.engine.orders[order["id"]]
    assert internal.cost == cost and internal.fee == cost * FEE
    assert order["fee"]["currency"] == "USDT"
    assert balances(paper) == {
        "BTC": (START["BTC"] - amount, D(0)),
        "USDT": (START["USDT"] + cost - cost * FEE, D(0)),
    }


# ---- resting --------------------------------------------------------------------------------


async def test_post_only_that_would_cross_is_rejected_and_rests_otherwise(dry: Dry) -> None:
    paper, public, _ = dry
    bids, asks = await real_book(public)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await paper.create_order(SYMBOL, "limit", "buy", 1, float(asks[0][0]), {"postOnly": True})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await paper.create_order(
            SYMBOL, "limit", "sell", 1, float(bids[0][0]), {"timeInForce": "PO"}
        )
    assert paper.engine.orders == {}
    assert balances(paper) == {"BTC": (START["BTC"], D(0)), "USDT": (START["USDT"], D(0))}

    price = bids[0][0]
    order = await paper.create_order(SYMBOL, "limit", "buy", 1.5, float(price), {"postOnly": True})
    assert order["status"] == "open" and order["postOnly"] is True and order["filled"] == 0
    locked = D("1.5") * price
    assert balances(paper)["USDT"] == (START["USDT"] - locked, locked)
    book = await paper.fetch_order_book(SYMBOL, 3)
    assert book["bids"][0] == [float(price), float(bids[0][1] + D("1.5"))]  # ours is in the book
    await paper.cancel_order(order["id"], SYMBOL)
    assert balances(paper)["USDT"] == (START["USDT"], D(0))


async def test_resting_buy_fills_when_the_real_book_moves_through_it(
    make_dry: Callable[..., Dry],
) -> None:
    paper, public, clock = make_dry(jump=-0.001)  # the real market drops 0.1% at JUMP_AT
    bids, _ = await real_book(public)
    price, amount = bids[0][0], D("20")
    order = await paper.create_order(
        SYMBOL, "limit", "buy", float(amount), float(price), {"clientOrderId": "rest-1"}
    )
    assert order["status"] == "open" and order["filled"] == 0

    clock.advance(JUMP_AT + 1)
    _, asks = await real_book(public)
    shown = sum((q for p, q in asks if p <= price), D(0))  # only what the book shows through us
    assert 0 < shown < amount

    lookup = {"clientOrderId": "rest-1"}
    seen = await paper.fetch_order(None, SYMBOL, lookup)
    assert (seen["id"], seen["status"]) == (order["id"], "open")
    internal = paper.engine.orders[order["id"]]
    assert internal.filled == shown
    assert {(t.price, t.taker) for t in internal.trades} == {(price, False)}  # at our price, maker
    assert internal.fee == shown * FEE
    assert balances(paper) == {
        "BTC": (START["BTC"] + shown - shown * FEE, D(0)),
        "USDT": (START["USDT"] - amount * price, (amount - shown) * price),
    }

    # Once per observed book: asking again at once reuses that book and fills nothing more.
    fetched = public.calls["fetch_order_book"]
    await paper.fetch_order(order["id"], SYMBOL)
    await paper.fetch_balance()
    assert public.calls["fetch_order_book"] == fetched
    assert internal.filled == shown

    # A later book that still crosses fills the rest, again within what it shows.
    clock.advance(5)
    open_orders = await paper.fetch_open_orders()
    _, asks = await real_book(public)
    more = sum((q for p, q in asks if p <= price), D(0))
    assert internal.filled == min(amount, shown + more)
    if internal.filled == amount:
        assert open_orders == []
        closed = await paper.fetch_closed_orders(SYMBOL)
        assert [o["clientOrderId"] for o in closed] == ["rest-1"]
    fills = await paper.fetch_my_trades(SYMBOL)
    assert sum(D(str(t["amount"])) for t in fills) == internal.filled
    assert {t["takerOrMaker"] for t in fills} == {"maker"}


async def test_a_resting_order_does_not_fill_while_the_real_book_stays_away(dry: Dry) -> None:
    paper, public, clock = dry
    bids, _ = await real_book(public)
    price = bids[3][0]
    order = await paper.create_order(SYMBOL, "limit", "buy", 1, float(price))
    for _ in range(3):
        clock.advance(2)
        assert (await paper.fetch_order(order["id"], SYMBOL))["filled"] == 0
    assert public.calls["fetch_order_book"] == 1 + 1 + 3  # ours, the order's, one per refresh


# ---- rules ----------------------------------------------------------------------------------


async def test_filters_and_funds_are_enforced(dry: Dry) -> None:
    paper, public, _ = dry
    bids, _ = await real_book(public)
    bid = float(bids[0][0])
    refusals: list[tuple[type[Exception], str, tuple[Any, ...]]] = [
        (ccxt.InvalidOrder, "LOT_SIZE", ("buy", 0.000015, bid)),
        (ccxt.InvalidOrder, "PRICE_FILTER", ("buy", 0.001, 90000.005)),
        (ccxt.BadRequest, "NOTIONAL", ("buy", 0.00002, 90000)),  # ccxt's class for -1013 NOTIONAL
        (ccxt.InvalidOrder, "positive", ("buy", 0, bid)),
        (ccxt.InsufficientFunds, "USDT", ("buy", 100, bid)),
        (ccxt.InsufficientFunds, "BTC", ("sell", 3, 200000)),
    ]
    for error, why, (side, amount, price) in refusals:
        with pytest.raises(error, match=why):
            await paper.create_order(SYMBOL, "limit", side, amount, price)
    with pytest.raises(ccxt.BadSymbol):
        await paper.create_order("DOGE/USDT", "limit", "buy", 1, 1)
    with pytest.raises(ccxt.InvalidOrder):
        await paper.create_order(SYMBOL, "stop", "buy", 1, bid)
    assert paper.engine.orders == {}
    assert balances(paper) == {"BTC": (START["BTC"], D(0)), "USDT": (START["USDT"], D(0))}
    balance = await paper.fetch_balance()
    assert balance["USDT"] == {"free": 3000000.0, "used": 0.0, "total": 3000000.0}


async def test_client_order_id_lookup_duplicates_and_cancel(dry: Dry) -> None:
    paper, _, _ = dry
    order = await paper.create_order(SYMBOL, "limit", "buy", 0.5, 90000, {"clientOrderId": "dry-1"})
    for key in ("clientOrderId", "origClientOrderId"):
        found = await paper.fetch_order(None, SYMBOL, {key: "dry-1"})
        assert (found["id"], found["clientOrderId"]) == (order["id"], "dry-1")
    with pytest.raises(ccxt.DuplicateOrderId):
        await paper.create_order(SYMBOL, "limit", "buy", 0.5, 90000, {"clientOrderId": "dry-1"})
    with pytest.raises(ccxt.OrderNotFound):
        await paper.fetch_order(None, SYMBOL, {"clientOrderId": "nobody"})
    with pytest.raises(ccxt.ArgumentsRequired):
        await paper.fetch_order(order["id"])
    canceled = await paper.cancel_order("ignored", SYMBOL, {"clientOrderId": "dry-1"})
    assert (canceled["id"], canceled["status"]) == (order["id"], "canceled")
    with pytest.raises(ccxt.OrderNotFound):
        await paper.cancel_order(order["id"], SYMBOL)
    assert (await paper.fetch_order(order["id"], SYMBOL))["status"] == "canceled"
    assert await paper.fetch_open_orders(SYMBOL) == []
    assert [o["id"] for o in await paper.fetch_canceled_orders(SYMBOL)] == [order["id"]]
    assert balances(paper)["USDT"] == (START["USDT"], D(0))
    again = await paper.create_order(SYMBOL, "limit", "buy", 0.5, 90000, {"clientOrderId": "dry-1"})
    assert (await paper.fetch_order(None, SYMBOL, {"clientOrderId": "dry-1"}))["id"] == again["id"]


async def test_the_gateway_runs_unchanged_on_paper(dry: Dry) -> None:
    paper, public, clock = dry
    gateway = Gateway(paper, requests_per_second=1e6, sleep=clock.sleep, rng=random.Random(1))
    await gateway.load_markets()
    _, asks = await real_book(public)
    request = OrderRequest("gw-1", SYMBOL, Side.BUY, D("0.5"), asks[0][0])
    report = await gateway.place_order(request)
    assert report.status is OrderStatus.CLOSED and report.filled == D("0.5")
    assert report.average == asks[0][0] and report.fee == D("0.0005")
    assert (await gateway.fetch_order(SYMBOL, "gw-1")) == report
    fills = await gateway.fetch_my_trades(SYMBOL)
    assert [(f.client_id, f.amount, f.maker) for f in fills] == [("gw-1", D("0.5"), False)]
    balances_ = await gateway.fetch_balances()
    assert balances_.free["BTC"] == START["BTC"] + D("0.4995")


# ---- the observed book ----------------------------------------------------------------------


class Replay:
    """A public exchange that shows scripted books (to pin down freshness and ordering)."""

    def __init__(self, public: SimExchange, books: list[dict[str, Any]]) -> None:
        self.id = "replay"
        self.public = public
        self.books = books
        self.calls: Counter[str] = Counter()
        self.gates: list[asyncio.Event] = []

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        self.calls["load_markets"] += 1
        return await self.public.load_markets()

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> dict[str, Any]:
        self.calls["fetch_order_book"] += 1
        book = self.books.pop(0) if len(self.books) > 1 else self.books[0]
        if self.gates:
            await self.gates.pop(0).wait()
        return book

    async def close(self) -> None:
        self.calls["close"] += 1


def scripted(nonce: int, ask: float = 95000.0, qty: float = 1.0) -> dict[str, Any]:
    return {
        "symbol": SYMBOL,
        "bids": [[ask - 10, 1.0]],
        "asks": [[ask, qty], [ask + 10, qty]],
        "timestamp": None,
        "nonce": nonce,
    }


async def test_what_we_took_stays_taken_until_the_exchange_shows_a_fresh_book(
    dry: Dry,
) -> None:
    _, public, clock = dry
    replay = Replay(public, [scripted(1), scripted(1), scripted(2)])
    paper = PaperExchange(replay, START, clock=clock)
    first = await paper.create_order(SYMBOL, "limit", "buy", 0.6, 95000, {"timeInForce": "IOC"})
    assert first["filled"] == 0.6
    # The same snapshot again (same nonce): only what we left of it can be taken.
    second = await paper.create_order(SYMBOL, "limit", "buy", 0.6, 95000, {"timeInForce": "IOC"})
    assert (second["filled"], second["status"]) == (0.4, "expired")
    # A fresh snapshot shows the level whole again.
    third = await paper.create_order(SYMBOL, "limit", "buy", 0.6, 95000, {"timeInForce": "IOC"})
    assert third["status"] == "closed"
    assert set(replay.calls) <= PUBLIC_METHODS
    await paper.close()
    assert replay.calls["close"] == 1


async def test_a_late_reply_never_replaces_a_newer_book(dry: Dry) -> None:
    _, public, clock = dry
    replay = Replay(public, [scripted(1, ask=95000), scripted(2, ask=94000)])
    paper = PaperExchange(replay, START, clock=clock)
    await paper.load_markets()
    slow, fast = asyncio.Event(), asyncio.Event()
    replay.gates = [slow, fast]
    older = asyncio.create_task(paper.fetch_order_book(SYMBOL))
    newer = asyncio.create_task(paper.fetch_order_book(SYMBOL))
    for _ in range(3):
        await asyncio.sleep(0)  # both requests are now waiting for their replies
    fast.set()
    assert (await newer)["asks"][0][0] == 94000.0
    slow.set()
    assert (await older)["asks"][0][0] == 94000.0  # the book installed from the newer request
    assert paper.engine.books[SYMBOL].best(Side.SELL) == D(94000)


def test_observed_book_levels_and_consumption() -> None:
    market = load_scenario(SCENARIO).markets[SYMBOL].to_market(SYMBOL)
    book = ObservedBook(market)
    asks = [Level(D(100), D(1)), Level(D(101), D(2))]
    assert book.observe([], asks, (1, None), ticket=1, at=0.0)
    book.consume(Side.SELL, D(100), D(1))
    book.consume(Side.SELL, D(101), D("0.5"))
    assert book.levels(Side.SELL) == (Level(D(101), D("1.5")),)
    assert book.best(Side.SELL) == D(101) and book.best(Side.BUY) is None
    assert not book.observe([], asks, (1, None), ticket=2, at=1.0)  # the same snapshot
    assert book.best(Side.SELL) == D(101)
    assert book.observe([], asks, (2, None), ticket=3, at=2.0)
    assert book.levels(Side.SELL) == tuple(asks)


# ---- construction ---------------------------------------------------------------------------


async def test_paper_runs_in_real_time_by_default_and_builds_from_a_ccxt_id() -> None:
    paper = PaperExchange.from_ccxt("binance", START)
    try:
        assert isinstance(paper.clock, RealClock)
        assert paper.public.id == "binance" and not paper.public.apiKey
        assert paper.precisionMode == ccxt.TICK_SIZE and paper.rateLimit == paper.public.rateLimit
        assert not paper.urls.get("test")  # no sandbox switch: a dry run is not a testnet
        assert paper.engine.account.free == START
    finally:
        await paper.close()
    with pytest.raises(ValueError, match="not an exchange"):
        PaperExchange.from_ccxt("no-such-exchange", START)
