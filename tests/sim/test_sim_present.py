"""The simulator presenting another exchange's rules (sim mode for a configuration naming it):
client-id length and charset, tickers without bid and ask, fees in the quote, book depths."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from bot.exchange.gateway import Gateway
from bot.exchange.profile import ClientIdRules, ExchangeProfile
from bot.runtime.wiring import presented
from bot.sim.clock import VirtualClock
from bot.sim.exchange import SimExchange

from .conftest import SYMBOL, MakeSim

D = Decimal
Sim = tuple[SimExchange, VirtualClock]

GATE_LIKE = ExchangeProfile(
    id="somewhere",
    client_id=ClientIdRules(max_length=30, charset="A-Za-z0-9_", prefix="t-"),
    tickers_bid_ask=False,
    fees_in="quote",
    book_depths=(20, 100),
)


def test_the_presented_profile_keeps_the_simulators_semantics_under_the_exchanges_rules() -> None:
    shown = presented(GATE_LIKE)
    assert shown.client_id.max_length == 28  # ccxt's prefix is not sent to the simulator
    assert shown.client_id.charset == "A-Za-z0-9_" and shown.client_id.prefix == ""
    assert shown.client_id.lookup_param == "clientOrderId"  # the simulator looks up by it
    assert (shown.tickers_bid_ask, shown.fees_in, shown.book_depths) == (False, "quote", (20, 100))


async def test_fees_in_the_quote_a_buy_pays_on_top_of_its_cost(make_sim: MakeSim) -> None:
    ex, _ = make_sim()
    ex.present(fees_in_quote=True)
    order = await ex.create_order(SYMBOL, "limit", "buy", 3.5, 100.03)
    assert order["status"] == "closed"
    internal = ex.engine.orders[order["id"]]
    assert internal.cost == D("350.065")
    assert internal.fee == D("0.70013")  # taker 0.2% of the cost, in USDT
    assert internal.fee_currency == "USDT"
    assert {t["fee"]["currency"] for t in order["trades"]} == {"USDT"}
    account = ex.engine.account
    assert account.free["BTC"] == D("13.5")  # the whole amount bought arrives
    assert account.free["USDT"] == D("100000") - D("350.065") - D("0.70013")
    assert account.used["USDT"] == 0


async def test_fees_in_the_quote_a_resting_buy_holds_its_fee_and_a_sell_pays_from_proceeds(
    make_sim: MakeSim,
) -> None:
    ex, _ = make_sim()
    ex.present(fees_in_quote=True)
    resting = await ex.create_order(SYMBOL, "limit", "buy", 1, 99.0)
    assert ex.engine.account.used["USDT"] == D("99.0") * D("1.002")  # cost and the highest fee
    await ex.cancel_order(resting["id"], SYMBOL)
    assert ex.engine.account.used["USDT"] == 0
    assert ex.engine.account.free["USDT"] == D("100000")
    sold = await ex.create_order(SYMBOL, "limit", "sell", 1, 99.99)
    assert ex.engine.orders[sold["id"]].fee == D("0.19998")
    assert ex.engine.account.free["USDT"] == D("100000") + D("99.99") - D("0.19998")


async def test_client_ids_outside_the_exchanges_rules_are_refused(make_sim: MakeSim) -> None:
    ex, _ = make_sim()
    ex.present(client_id_pattern="[A-Za-z0-9]{1,18}")
    with pytest.raises(ccxt.InvalidOrder, match="clientOrderId"):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99.0, {"clientOrderId": "rb-1"})
    with pytest.raises(ccxt.InvalidOrder, match="clientOrderId"):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 99.0, {"clientOrderId": "a" * 19})
    assert not ex.engine.all_orders()
    placed = await ex.create_order(SYMBOL, "limit", "buy", 1, 99.0, {"clientOrderId": "rb1x2"})
    assert placed["clientOrderId"] == "rb1x2"


async def test_tickers_without_bid_and_ask_are_priced_from_books(make_sim: MakeSim) -> None:
    ex, clock = make_sim()
    ex.present(tickers_bid_ask=False)
    ex.number = str
    ticker = await ex.fetch_ticker(SYMBOL)
    assert ticker["bid"] is None and ticker["ask"] is None
    gateway = Gateway(ex, profile=presented(GATE_LIKE), sleep=clock.sleep, now=clock.time)
    await gateway.load_markets()
    tops = await gateway.fetch_tops([SYMBOL])
    assert tops[SYMBOL].mid == D("100")
    assert ex.calls["fetch_tickers"] == 0  # the profile says tickers carry no prices


async def test_books_only_at_the_depths_the_exchange_serves(make_sim: MakeSim) -> None:
    ex, clock = make_sim()
    ex.present(book_depths=(20, 100))
    ex.number = str
    with pytest.raises(ccxt.BadRequest, match="levels"):
        await ex.fetch_order_book(SYMBOL, 5)
    gateway = Gateway(ex, profile=presented(GATE_LIKE), sleep=clock.sleep, now=clock.time)
    await gateway.load_markets()
    book = await gateway.fetch_order_book(SYMBOL, 3)  # asks for 20, keeps 3
    assert (len(book.bids), len(book.asks)) == (3, 3)
