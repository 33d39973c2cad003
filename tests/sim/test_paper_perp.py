"""Paper perpetuals: the venue is a scripted fake public client (ccxt-shaped replies, no network),
time a virtual clock; every expected figure is worked out by hand from the scripted book, mark
and funding rate.

BTC/USDT:USDT: tick 0.1, step 0.001, maker 0.02%, taker 0.05%, maintenance margin 0.4%.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from ccxt.base.decimal_to_precision import TICK_SIZE

from bot.sim.clock import VirtualClock
from bot.sim.paper import PaperExchange
from bot.sim.paper_perp import PUBLIC_METHODS, PaperPerpExchange

D = Decimal
SYM = "BTC/USDT:USDT"
START = 1_700_000_000.0  # a funding time (a multiple of 8 h) is 6400 s later
DUE_MS = 1_700_006_400_000
MAKER, TAKER = D("0.0002"), D("0.0005")

Levels = list[list[float]]


def swap_market(symbol: str = SYM, base: str = "BTC") -> dict[str, Any]:
    return {
        "id": f"{base}USDT", "symbol": symbol, "base": base, "quote": "USDT", "settle": "USDT",
        "type": "swap", "spot": False, "swap": True, "contract": True, "linear": True,
        "inverse": False, "active": True, "contractSize": 1.0, "maker": 0.0002, "taker": 0.0005,
        "precision": {"amount": 0.001, "price": 0.1},
        "limits": {"amount": {"min": 0.001}, "price": {}, "cost": {"min": 5.0},
                   "leverage": {"min": 1, "max": 125}},
        "info": {"symbol": f"{base}USDT", "liquidationFee": "0.012500"},
    }  # fmt: skip


class FakeVenue:
    """A public ccxt client of a futures venue whose books, marks and funding a test scripts."""

    id = "binanceusdm"

    def __init__(self, history: bool = True) -> None:
        self.precisionMode = TICK_SIZE
        self.rateLimit = 50
        self.fees = {"trading": {"maker": 0.0002, "taker": 0.0005, "percentage": True}}
        self.currencies: dict[str, Any] = {}
        self.has = {"fetchFundingRates": True, "fetchFundingRateHistory": history}
        self.calls: Counter[str] = Counter()
        self.markets = {
            SYM: swap_market(),
            "BTC/USDT": {**swap_market("BTC/USDT"), "type": "spot", "spot": True, "swap": False,
                         "linear": None, "settle": None},
            "BTC/USD:BTC": {**swap_market("BTC/USD:BTC"), "linear": False, "inverse": True,
                            "quote": "USD", "settle": "BTC"},
        }  # fmt: skip
        self.nonce = 0
        self.book: dict[str, Any] = {}
        self.set_book([[99.9, 1.0], [99.8, 2.0]], [[100.1, 1.0], [100.2, 2.0]])
        self.funding = {"mark": 100.0, "index": 100.0, "rate": 0.0001, "next": DUE_MS}
        self.settled: list[dict[str, Any]] = []

    def set_book(self, bids: Levels, asks: Levels) -> None:
        self.nonce += 1
        self.book = {"bids": bids, "asks": asks, "nonce": self.nonce, "timestamp": None}

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        self.calls["load_markets"] += 1
        return self.markets

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> dict[str, Any]:
        self.calls["fetch_order_book"] += 1
        return {"symbol": symbol, **self.book}

    def _rate(self, symbol: str) -> dict[str, Any]:
        f = self.funding
        return {"symbol": symbol, "markPrice": f["mark"], "indexPrice": f["index"],
                "fundingRate": f["rate"], "fundingTimestamp": f["next"], "interval": None,
                "info": {}}  # fmt: skip

    async def fetch_funding_rate(self, symbol: str) -> dict[str, Any]:
        self.calls["fetch_funding_rate"] += 1
        return self._rate(symbol)

    async def fetch_funding_rates(self, symbols: list[str] | None = None) -> dict[str, Any]:
        self.calls["fetch_funding_rates"] += 1
        return {s: self._rate(s) for s in symbols or [SYM]}

    async def fetch_funding_rate_history(
        self, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        self.calls["fetch_funding_rate_history"] += 1
        return [r for r in self.settled if since is None or r["timestamp"] >= since][:limit]

    async def close(self) -> None:
        self.calls["close"] += 1


def make(
    venue: FakeVenue,
    clock: VirtualClock,
    path: Path | None = None,
    wallet: str = "10000",
    **kw: Any,
) -> PaperPerpExchange:
    return PaperPerpExchange(venue, D(wallet), clock=clock, state_path=path, **kw)


@pytest.fixture
def venue() -> FakeVenue:
    return FakeVenue()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


async def test_markets_are_the_venues_linear_usdt_perpetuals(
    venue: FakeVenue, clock: VirtualClock
) -> None:
    paper = make(venue, clock)
    assert list(await paper.load_markets()) == [SYM]


async def test_a_crossing_limit_order_walks_the_real_book_and_pays_the_taker_fee(
    venue: FakeVenue, clock: VirtualClock
) -> None:
    paper = make(venue, clock)
    order = await paper.create_order(SYM, "limit", "buy", 1.5, 100.2, {"clientOrderId": "c-1"})
    assert order["status"] == "closed" and order["clientOrderId"] == "c-1"
    trades = await paper.fetch_my_trades(SYM)
    assert [(t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (100.1, 1.0, "taker"), (100.2, 0.5, "taker")]  # fmt: skip
    fee = (D("100.1") + D("0.5") * D("100.2")) * TAKER
    assert sum(D(str(t["fee"]["cost"])) for t in trades) == fee
    [pos] = await paper.fetch_positions()
    entry = (D("100.1") + D("0.5") * D("100.2")) / D("1.5")
    assert D(pos["info"]["entryPrice"]) == entry and pos["side"] == "long"
    bal = await paper.fetch_balance()
    assert D(bal["info"]["totalWalletBalance"]) == D(10000) - fee
    assert D(bal["info"]["totalUnrealizedProfit"]) == D("1.5") * (100 - entry)  # mark 100


async def test_a_resting_order_fills_at_its_price_when_the_book_moves_through_it(
    venue: FakeVenue, clock: VirtualClock
) -> None:
    paper = make(venue, clock)
    order = await paper.create_order(SYM, "limit", "buy", 2, 99.5)
    assert order["status"] == "open"
    venue.set_book([[99.0, 5.0]], [[99.4, 1.0], [99.5, 3.0]])
    clock.advance(2)
    done = await paper.fetch_order(order["id"], SYM)
    assert done["status"] == "closed" and done["average"] == 99.5
    trades = await paper.fetch_my_trades(SYM)  # one per level it took, all at its price
    assert {(t["price"], t["takerOrMaker"]) for t in trades} == {(99.5, "maker")}
    assert sum(D(str(t["fee"]["cost"])) for t in trades) == 2 * D("99.5") * MAKER
    assert paper.engine.position(SYM).entry_price == D("99.5")


async def test_entry_price_averages_and_a_decrease_realises_pnl(
    venue: FakeVenue, clock: VirtualClock
) -> None:
    paper = make(venue, clock)
    await paper.create_order(SYM, "market", "buy", 1)  # at 100.1
    venue.set_book([[109.9, 5.0]], [[110.1, 5.0]])
    await paper.create_order(SYM, "market", "buy", 1)  # at 110.1
    assert paper.engine.position(SYM).entry_price == D("105.1")
    venue.set_book([[120.1, 5.0]], [[120.3, 5.0]])
    await paper.create_order(SYM, "market", "sell", 1, None, {"reduceOnly": True})
    trades = await paper.fetch_my_trades(SYM)
    assert D(trades[-1]["info"]["realizedPnl"]) == D(15)  # 120.1 - 105.1
    pnl = await paper.fetch_income(SYM, params={"incomeType": "REALIZED_PNL"})
    assert [D(str(i["amount"])) for i in pnl] == [D(0), D(0), D(15)][-len(pnl) :]
    pos = paper.engine.position(SYM)
    assert pos.amount == 1 and pos.entry_price == D("105.1")


async def test_reduce_only_is_refused_when_it_would_increase_or_exceed(
    venue: FakeVenue, clock: VirtualClock
) -> None:
    paper = make(venue, clock)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await paper.create_order(SYM, "market", "sell", 1, None, {"reduceOnly": True})
    await paper.create_order(SYM, "market", "buy", 1)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await paper.create_order(SYM, "market", "buy", 1, None, {"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await paper.create_order(SYM, "limit", "sell", 2, 99.9, {"reduceOnly": True})
    assert paper.engine.position(SYM).amount == 1


async def test_post_only_that_would_take_is_refused(venue: FakeVenue, clock: VirtualClock) -> None:
    paper = make(venue, clock)
    with pytest.raises(ccxt.OrderNotFillable, match="-5022"):
        await paper.create_order(SYM, "limit", "buy", 1, 100.1, {"timeInForce": "GTX"})
    order = await paper.create_order(SYM, "limit", "buy", 1, 100.0, {"postOnly": True})
    assert order["status"] == "open" and order["info"]["timeInForce"] == "GTX"


@pytest.mark.parametrize(("history", "rate"), [(True, D("0.0003")), (False, D("0.0001"))])
async def test_funding_settles_at_the_venues_time_with_its_rate(
    clock: VirtualClock, history: bool, rate: D
) -> None:
    venue = FakeVenue(history=history)
    venue.settled = [{"timestamp": DUE_MS, "fundingRate": 0.0003}]  # what the venue settled
    paper = make(venue, clock)
    await paper.create_order(SYM, "market", "buy", 2)  # mark 100, predicted rate 0.0001
    wallet = paper.engine.ledger.wallet
    clock.advance(6399)
    await paper.fetch_balance()
    assert await paper.fetch_funding_history(SYM) == []
    venue.funding.update(mark=101.0, rate=0.0002, next=DUE_MS + 8 * 3600_000)
    clock.advance(2)
    await paper.fetch_balance()
    [entry] = await paper.fetch_funding_history(SYM)
    paid = -2 * D(100) * rate  # at the mark observed before the settlement
    assert D(str(entry["amount"])) == paid and entry["timestamp"] == DUE_MS
    assert paper.engine.ledger.wallet == wallet + paid
    clock.advance(60)
    await paper.fetch_balance()  # the same settlement is never paid twice
    assert len(await paper.fetch_funding_history(SYM)) == 1
    fr = await paper.fetch_funding_rate(SYM)
    assert fr["fundingRate"] == 0.0002 and fr["previousFundingRate"] == float(rate)
    assert fr["fundingTimestamp"] == DUE_MS + 8 * 3600_000 and fr["markPrice"] == 101.0


async def test_settlements_missed_while_down_are_each_paid_once_at_their_rate(
    venue: FakeVenue, clock: VirtualClock, tmp_path: Path
) -> None:
    path = tmp_path / "paper.perp.json"
    four_hours = 4 * 3600_000
    venue.settled = [
        {"timestamp": DUE_MS, "fundingRate": 0.0003},
        {"timestamp": DUE_MS + four_hours, "fundingRate": -0.0001},
    ]
    paper = make(venue, clock, path)
    await paper.create_order(SYM, "market", "buy", 1)
    await paper.close()
    clock.advance(6400 + 4 * 3600 + 10)  # past two settlements, 4 h apart
    venue.funding.update(next=DUE_MS + 2 * four_hours)
    again = make(venue, clock, path)
    history = await again.fetch_funding_history(SYM)
    assert [(h["timestamp"], D(str(h["amount"]))) for h in history] == [
        (DUE_MS, D("-0.03")), (DUE_MS + four_hours, D("0.01"))]  # fmt: skip
    assert again.engine.next_funding_time(SYM) * 1000 == DUE_MS + 2 * four_hours


async def test_a_mark_past_the_liquidation_price_liquidates(
    venue: FakeVenue, clock: VirtualClock
) -> None:
    paper = make(venue, clock, wallet="20")
    await paper.set_leverage(10, SYM)
    venue.set_book([[99.9, 5.0]], [[100.0, 5.0]])
    await paper.create_order(SYM, "market", "buy", 1)  # at 100: 10 of margin, fee 0.05
    rest = await paper.create_order(SYM, "limit", "buy", 0.06, 90)
    [pos] = await paper.fetch_positions([SYM])
    # 19.95 + (p - 100) = 0.004 p  ->  p = 80.05 / 0.996
    liq = D("80.05") / D("0.996")
    assert D(pos["info"]["liquidationPrice"]) == liq
    venue.funding.update(mark=float(liq) + 0.01)
    clock.advance(2)
    assert len(await paper.fetch_positions()) == 1
    venue.funding.update(mark=80.0)
    clock.advance(2)
    assert await paper.fetch_positions() == []
    [liquidation] = paper.engine.liquidations
    assert liquidation.price == 80 and liquidation.pnl == D("-19.95")  # the loss capped by the
    assert paper.engine.ledger.wallet == 0  # wallet: the rest is the insurance fund's
    assert (await paper.fetch_order(rest["id"], SYM))["status"] == "canceled"


async def test_the_account_survives_a_restart(
    venue: FakeVenue, clock: VirtualClock, tmp_path: Path
) -> None:
    path = tmp_path / "paper.perp.json"
    paper = make(venue, clock, path)
    await paper.set_leverage(5, SYM)
    await paper.create_order(SYM, "market", "buy", 1)
    rest = await paper.create_order(SYM, "limit", "sell", 0.4, 101, {"reduceOnly": True})
    await paper.close()
    wallet = paper.engine.ledger.wallet

    clock.advance(6500)  # down across a funding time
    again = make(venue, clock, path, wallet="1")  # the saved wallet wins over the configured one
    [pos] = await again.fetch_positions()
    assert pos["contracts"] == 1.0 and pos["leverage"] == 5.0 and pos["entryPrice"] == 100.1
    [funding] = await again.fetch_funding_history(SYM)  # the missed settlement, once
    assert again.engine.ledger.wallet == wallet + D(str(funding["amount"]))
    [open_] = await again.fetch_open_orders(SYM)
    assert open_["id"] == rest["id"] and open_["reduceOnly"] is True
    venue.set_book([[101.2, 5.0]], [[101.3, 5.0]])
    clock.advance(2)
    assert (await again.fetch_order(rest["id"], SYM))["status"] == "closed"
    trades = await again.fetch_my_trades(SYM)
    assert [t["id"] for t in trades] == ["1", "2"]
    assert D(trades[1]["info"]["realizedPnl"]) == D("0.4") * (D(101) - D("100.1"))
    order = await again.create_order(SYM, "market", "buy", 0.1)
    assert int(order["id"]) == int(rest["id"]) + 1


async def test_transfers_need_a_linked_spot_account(
    venue: FakeVenue, clock: VirtualClock, tmp_path: Path
) -> None:
    paper = make(venue, clock)
    with pytest.raises(ccxt.NotSupported, match="not linked"):
        await paper.transfer("USDT", 10, "spot", "future")
    spot = PaperExchange(FakeVenue(), {"USDT": D(500)}, clock=clock)
    spot.state_path = tmp_path / "spot.json"
    linked = PaperPerpExchange(venue, spot=spot, state_path=tmp_path / "perp.json")
    await linked.transfer("USDT", 300, "spot", "future")
    assert spot.engine.account.free["USDT"] == 200 and linked.engine.ledger.wallet == 300
    with pytest.raises(ccxt.InsufficientFunds, match="-5013"):
        await linked.transfer("USDT", 301, "future", "spot")
    await linked.transfer("USDT", 100, "future", "spot")
    assert PaperExchange.load_state(spot.state_path) == {"USDT": D(300)}


async def test_hedge_mode_and_reply_shapes(venue: FakeVenue, clock: VirtualClock) -> None:
    paper = make(venue, clock)
    await paper.set_position_mode(True)
    assert (await paper.fetch_position_mode())["hedged"] is True
    with pytest.raises(ccxt.OperationRejected, match="-4061"):
        await paper.create_order(SYM, "market", "buy", 1)
    await paper.create_order(SYM, "market", "buy", 1, None, {"positionSide": "LONG"})
    await paper.create_order(SYM, "market", "sell", 1, None, {"positionSide": "SHORT"})
    sides = sorted(p["info"]["positionSide"] for p in await paper.fetch_positions())
    assert sides == ["LONG", "SHORT"]
    bal = await paper.fetch_balance()
    assert {"availableBalance", "totalMarginBalance", "assets"} <= set(bal["info"])
    assert set(venue.calls) <= PUBLIC_METHODS | {"close"}
