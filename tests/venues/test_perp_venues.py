"""Linear perpetuals through the real ccxt classes (binanceusdm; bybit with its profile's
`for_perps()`), each answered by a fake in the venue's own JSON (`binanceusdm.py`,
`bybit_perp.py`): markets, positions (one-way and hedge), the futures wallet, funding rates and
payments, the position mode, reduce-only and hedge-mode orders as the venue receives them,
collateral transfers, testnet refused and demo hosts."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from bot.domain.market import Side
from bot.domain.orders import OrderRequest
from bot.domain.positions import (
    FundingPayment,
    FundingRate,
    FuturesAccount,
    MarginMode,
    Position,
    PositionMode,
    PositionSide,
)
from bot.errors import ConfigError, GatewayError, OrderRejected
from bot.exchange.codec import market_from_ccxt
from bot.exchange.connect import ccxt_client, enable_demo, enable_sandbox
from bot.exchange.gateway import Gateway
from bot.exchange.profile import ExchangeProfile
from bot.exchange.profiles import perp_exchanges, profile_for, verified_exchanges
from tests.venues import binanceusdm, bybit_perp

D = Decimal
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
DAY = 24 * 3600 * 1000


async def _no_sleep(seconds: float) -> None:
    return None


async def connect(
    module: ModuleType,
    profile: ExchangeProfile,
    demo: bool = False,
    **fields: Any,
) -> tuple[Any, Gateway]:
    venue = module.Fake(**fields)
    creds = dict(module.CREDENTIALS)
    client = ccxt_client(profile.id, profile, timeout=5.0, options={}, credentials=lambda: creds)
    if demo:
        enable_demo(client, profile)
    venue.install(client)
    gateway = Gateway(client, profile=profile, requests_per_second=1000, sleep=_no_sleep)
    await gateway.load_markets()
    return venue, gateway


def usdm(**fields: Any) -> Any:
    return connect(binanceusdm, profile_for("binanceusdm"), **fields)


def bybit(**fields: Any) -> Any:
    return connect(bybit_perp, profile_for("bybit").for_perps(), **fields)


def order(side: Side, amount: str, price: str, **kw: Any) -> OrderRequest:
    return OrderRequest("rb1a2b-12ab34-0c1", BTC, side, D(amount), D(price), **kw)


# ---- Binance USD-M ------------------------------------------------------------------------


def risk(symbol: str, side: str, amt: str, entry: str, mark: str, **kw: str) -> dict[str, Any]:
    """A GET /fapi/v3/positionRisk entry (notional signed like positionAmt)."""
    notional = D(amt) * D(mark)
    return {
        "symbol": symbol,
        "positionSide": side,
        "positionAmt": amt,
        "entryPrice": entry,
        "breakEvenPrice": entry,
        "markPrice": mark,
        "unRealizedProfit": kw.get("pnl", "0"),
        "liquidationPrice": kw.get("liq", "0"),
        "isolatedMargin": kw.get("isolated", "0"),
        "notional": str(notional),
        "marginAsset": "USDT",
        "isolatedWallet": kw.get("isolated", "0"),
        "initialMargin": "0",
        "maintMargin": kw.get("mm", "0"),
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "adl": 1,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": 1764990000000,
    }


async def test_binanceusdm_markets_are_its_linear_perpetuals_only() -> None:
    """exchangeInfo lists two perpetuals and a quarterly: only the perpetuals are markets, with
    ccxt's symbols, the base and quote, and the contract size."""
    _, gw = await usdm()
    assert sorted(gw.markets) == [BTC, ETH]
    btc = gw.markets[BTC]
    assert (btc.base, btc.quote, btc.contract_size) == ("BTC", "USDT", D(1))
    assert (btc.amount_step, btc.price_tick, btc.min_cost) == (D("0.001"), D("0.10"), D(100))
    raw = {**gw.exchange.markets[BTC], "contractSize": "0.01"}  # a contract of 0.01 BTC
    assert market_from_ccxt(raw, gw.exchange.precisionMode, {}).contract_size == D("0.01")
    await gw.close()


async def test_binanceusdm_one_way_positions_are_read_exactly() -> None:
    """A long and a short in one-way mode; an empty entry is left out; a liquidation price of
    "0" and a cross position's isolatedMargin "0" are not reported (None), never estimated."""
    positions = [
        risk("BTCUSDT", "BOTH", "0.250", "48000.1", "50012.5", pnl="503.1", liq="41234.5",
             mm="50.0125"),
        risk("ETHUSDT", "BOTH", "-2.000", "2600", "2499.1", pnl="201.8", mm="19.99"),
        risk("BTCUSDT_250328", "BOTH", "0", "0.0", "50100"),
    ]  # fmt: skip
    _, gw = await usdm(positions=positions)
    found = await gw.fetch_positions()
    assert found == [
        Position(
            BTC, "BTC", PositionSide.LONG, D("0.250"), D(1), D("48000.1"), D("50012.5"),
            MarginMode.CROSS, False, None, None, D("50.0125"), None, D("41234.5"), D("503.1"),
        ),
        Position(
            ETH, "ETH", PositionSide.SHORT, D("2.000"), D(1), D("2600"), D("2499.1"),
            MarginMode.CROSS, False, None, None, D("19.99"), None, None, D("201.8"),
        ),
    ]  # fmt: skip
    assert await gw.fetch_positions([ETH]) == found[1:]
    await gw.close()


async def test_binanceusdm_hedge_positions_are_a_long_and_a_short() -> None:
    positions = [
        risk("BTCUSDT", "LONG", "0.100", "49000", "50000", isolated="512.3", liq="45000.5"),
        risk("BTCUSDT", "SHORT", "-0.050", "51000", "50000", isolated="250.25", liq="55000"),
    ]
    _, gw = await usdm(positions=positions)
    long, short = await gw.fetch_positions()
    assert (long.side, long.contracts, long.hedged) == (PositionSide.LONG, D("0.100"), True)
    assert (short.side, short.contracts, short.hedged) == (PositionSide.SHORT, D("0.050"), True)
    assert (long.margin_mode, long.collateral) == (MarginMode.ISOLATED, D("512.3"))
    assert (short.collateral, short.liquidation_price) == (D("250.25"), D("55000"))
    assert long.base_amount + short.base_amount == D("0.050")
    await gw.close()


async def test_binanceusdm_futures_account_is_read_from_its_usdt_asset() -> None:
    asset = binanceusdm.usdt("1000.5", "-20.25", "700.125")
    asset["marginBalance"] = "980.25"
    venue, gw = await usdm(assets=[asset])
    account = await gw.fetch_futures_account()
    assert account == FuturesAccount("USDT", D("1000.5"), D("980.25"), D("700.125"))
    assert venue.last("/fapi/v3/account").method == "GET"
    await gw.close()


async def test_binanceusdm_funding_rates() -> None:
    _, gw = await usdm()
    rates = await gw.fetch_funding_rates([BTC, ETH])
    assert rates[BTC] == FundingRate(
        BTC, D("0.00010000"), D("50012.50000000"), D("50000.12345678"), 1765008000000, D(8)
    )
    assert rates[ETH].rate == D("-0.00002500")
    await gw.close()


def income(n: int, amount: str, kind: str = "FUNDING_FEE") -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "incomeType": kind,
        "income": amount,
        "asset": "USDT",
        "info": kind,
        "time": 1764900000000 + n * 8 * 3600 * 1000,
        "tranId": 9689322392 + n,
        "tradeId": "",
    }


async def test_binanceusdm_funding_payments_are_signed_and_paged() -> None:
    """Income is signed as Binance reports it (+ received); only FUNDING_FEE entries; pages
    move on by time until a short page."""
    rows = [income(i, a) for i, a in enumerate(["0.5", "-0.375", "1.25", "-2", "0.125"])]
    rows.append(income(9, "-0.9", kind="COMMISSION"))
    profile = profile_for("binanceusdm")
    assert profile.perps is not None
    paged = replace(profile, perps=replace(profile.perps, funding_page=2))
    venue, gw = await connect(binanceusdm, paged, income=rows)
    payments = await gw.fetch_funding_payments(1764900000000)
    assert [p.amount for p in payments] == [D(a) for a in ("0.5", "-0.375", "1.25", "-2", "0.125")]
    assert payments[0] == FundingPayment("9689322392", BTC, "USDT", D("0.5"), 1764900000000)
    asked = [s.params for s in venue.sent if s.path == "/fapi/v1/income"]
    assert len(asked) >= 3 and all(a["incomeType"] == "FUNDING_FEE" for a in asked)
    assert all(a["limit"] == "2" for a in asked)
    await gw.close()


async def test_binanceusdm_position_mode() -> None:
    venue, gw = await usdm(dual_side=True)
    assert await gw.position_mode() is PositionMode.HEDGE
    venue.dual_side = False
    assert await gw.position_mode() is PositionMode.ONE_WAY
    assert venue.last("/fapi/v1/positionSide/dual").method == "GET"
    await gw.close()


async def test_binanceusdm_reduce_only_and_position_side_reach_binance() -> None:
    """One-way: reduceOnly=true. Hedge: positionSide LONG / SHORT, and no reduceOnly (Binance
    refuses it there, -1106): a reduce-only SELL on LONG closes the long."""
    venue, gw = await usdm()
    await gw.place_order(order(Side.SELL, "0.010", "50000.0", reduce_only=True))
    sent = venue.last("/fapi/v1/order").params
    assert sent["reduceOnly"] == "true" and "positionSide" not in sent
    assert sent["newClientOrderId"] == "rb1a2b-12ab34-0c1"
    await gw.place_order(
        order(Side.SELL, "0.010", "50000.0", reduce_only=True, position_side=PositionSide.LONG)
    )
    sent = venue.last("/fapi/v1/order").params
    assert sent["positionSide"] == "LONG" and "reduceOnly" not in sent
    await gw.place_order(order(Side.SELL, "0.010", "50000.0", position_side=PositionSide.SHORT))
    assert venue.last("/fapi/v1/order").params["positionSide"] == "SHORT"
    plain = len(venue.sent)
    await gw.place_order(order(Side.BUY, "0.010", "49000.0"))
    sent = venue.sent[plain].params
    assert "reduceOnly" not in sent and "positionSide" not in sent
    await gw.close()


async def test_a_reduce_only_order_that_would_grow_a_hedge_position_is_not_sent() -> None:
    venue, gw = await usdm()
    before = len(venue.sent)
    with pytest.raises(OrderRejected, match="cannot reduce the long position; not sent"):
        await gw.place_order(
            order(Side.BUY, "0.010", "50000.0", reduce_only=True, position_side=PositionSide.LONG)
        )
    assert len(venue.sent) == before
    await gw.close()


@pytest.mark.parametrize(
    ("code", "msg"),
    [(-2022, "ReduceOnly Order is rejected."),
     (-4061, "Order's position side does not match user's setting.")],
)  # fmt: skip
async def test_binanceusdm_reduce_only_and_position_side_refusals_are_rejections(
    code: int, msg: str
) -> None:
    """Refused, not ambiguous: an OrderRejected naming Binance's reason, no lookup after it."""
    venue, gw = await usdm(order_error=(400, code, msg))
    with pytest.raises(OrderRejected, match=msg.split(" ")[0]):
        await gw.place_order(order(Side.SELL, "0.010", "50000.0", reduce_only=True))
    assert venue.sent[-1].path == "/fapi/v1/order"
    await gw.close()


async def test_binanceusdm_testnet_is_refused_pointing_to_demo() -> None:
    profile = profile_for("binanceusdm")
    client = ccxt_client("binanceusdm", profile, timeout=5.0, options={})
    for call in (lambda: enable_sandbox(client), lambda: enable_sandbox(client, profile)):
        with pytest.raises(ConfigError, match=r'deprecated.*use mode = "demo"') as refused:
            call()
        assert len(refused.value.problems) == 1
    await client.close()


async def test_binanceusdm_demo_trading_goes_to_demo_fapi() -> None:
    venue, gw = await connect(binanceusdm, profile_for("binanceusdm"), demo=True)
    await gw.fetch_positions()
    assert {s.host for s in venue.sent} == {"demo-fapi.binance.com"}
    assert not gw.can_transfer
    with pytest.raises(GatewayError, match="demo trading has no transfer API"):
        await gw.transfer_collateral("USDT", D(500), to_futures=True)
    assert "/sapi/v1/asset/transfer" not in {s.path for s in venue.sent}
    await gw.close()


async def test_binanceusdm_transfers_between_spot_and_usdm_futures() -> None:
    venue, gw = await usdm()
    assert gw.can_transfer
    assert await gw.transfer_collateral("USDT", D("500.5"), to_futures=True) == "13526853623"
    sent = venue.last("/sapi/v1/asset/transfer")
    assert (sent.host, sent.params["type"]) == ("api.binance.com", "MAIN_UMFUTURE")
    assert (sent.params["asset"], sent.params["amount"]) == ("USDT", "500.5")
    await gw.transfer_collateral("USDT", D(20), to_futures=False)
    assert venue.last("/sapi/v1/asset/transfer").params["type"] == "UMFUTURE_MAIN"
    await gw.close()


# ---- Bybit linear -------------------------------------------------------------------------


def bybit_position(symbol: str, idx: int, side: str, size: str, **kw: str) -> dict[str, Any]:
    """A GET /v5/position/list entry."""
    return {
        "positionIdx": idx,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": symbol,
        "side": side,
        "size": size,
        "avgPrice": kw.get("entry", "0"),
        "positionValue": kw.get("value", "0"),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2,
        "leverage": kw.get("leverage", "10"),
        "positionBalance": "",
        "markPrice": kw.get("mark", "50012.5"),
        "liqPrice": kw.get("liq", ""),
        "bustPrice": "",
        "positionMM": kw.get("mm", "0"),
        "positionIM": kw.get("im", "0"),
        "tpslMode": "Full",
        "takeProfit": "0.00",
        "stopLoss": "0.00",
        "trailingStop": "0.00",
        "unrealisedPnl": kw.get("pnl", "0"),
        "curRealisedPnl": "-1.5",
        "cumRealisedPnl": "-12.25",
        "seq": 4688002127,
        "isReduceOnly": False,
        "createdTime": "1676538056258",
        "updatedTime": "1764990000000",
    }


async def test_bybit_perp_markets_are_its_linear_perpetuals_and_spot_stays_spot() -> None:
    venue, gw = await bybit()
    assert sorted(gw.markets) == [BTC, ETH]
    assert gw.markets[ETH].amount_step == D("0.01") and gw.markets[BTC].contract_size == D(1)
    asked = [t for _, _, t, _ in venue.sent if t.startswith("/v5/market/instruments-info")]
    assert asked and all("category=linear" in t for t in asked)
    spot = profile_for("bybit")
    assert spot.options()["defaultType"] == "spot" and not spot.contracts
    assert spot.for_perps().options()["defaultType"] == "swap"
    await gw.close()


async def test_bybit_positions_one_way_and_hedge_are_read_exactly() -> None:
    positions = [
        bybit_position("BTCUSDT", 0, "Buy", "0.5", entry="48000", im="2500.5", mm="125.25",
                       pnl="1006.25"),
        bybit_position("ETHUSDT", 0, "Sell", "3", entry="2600", mark="2499.1", liq="3100.55",
                       leverage="5", pnl="302.7"),
    ]  # fmt: skip
    _, gw = await bybit(positions=positions)
    btc, eth = await gw.fetch_positions()
    assert btc == Position(
        BTC, "BTC", PositionSide.LONG, D("0.5"), D(1), D("48000"), D("50012.5"),
        MarginMode.CROSS, False, D(10), D("2500.5"), D("125.25"), None, None, D("1006.25"),
    )  # fmt: skip
    assert (eth.side, eth.contracts, eth.leverage) == (PositionSide.SHORT, D(3), D(5))
    assert (eth.liquidation_price, eth.collateral) == (D("3100.55"), None)
    await gw.close()
    hedge = [
        bybit_position("BTCUSDT", 1, "Buy", "0.2", entry="49000"),
        bybit_position("BTCUSDT", 2, "Sell", "0.1", entry="51000"),
    ]
    _, gw = await bybit(positions=hedge)
    long, short = await gw.fetch_positions()
    assert (long.side, long.hedged, short.side, short.hedged) == (
        PositionSide.LONG, True, PositionSide.SHORT, True,
    )  # fmt: skip
    assert long.base_amount + short.base_amount == D("0.1")
    await gw.close()


async def test_bybit_futures_account_is_the_unified_wallets_usdt() -> None:
    """walletBalance and equity from the coin entry; free is walletBalance less locked,
    totalPositionIM and totalOrderIM (availableToWithdraw is empty on UNIFIED)."""
    coin = bybit_perp.usdt_coin("1000.5", "980.25", position_im="250", order_im="50.375")
    _, gw = await bybit(wallet_coins=[coin])
    assert await gw.fetch_futures_account() == FuturesAccount(
        "USDT", D("1000.5"), D("980.25"), D("700.125")
    )
    await gw.close()


async def test_bybit_funding_rates_carry_the_instruments_interval() -> None:
    _, gw = await bybit()
    rates = await gw.fetch_funding_rates([BTC, ETH])
    assert rates[BTC] == FundingRate(
        BTC, D("0.0001"), D("50012.5"), D("50000.1"), 1765008000000, D(8)
    )
    assert rates[ETH].rate == D("-0.000025")
    await gw.close()


def funding_row(n: int, fee: str, when: int) -> dict[str, Any]:
    """A GET /v5/execution/list?execType=Funding entry: execFee + paid, - received."""
    return {
        "symbol": "BTCUSDT",
        "orderType": "UNKNOWN",
        "underlyingPrice": "",
        "orderLinkId": "",
        "side": "Buy",
        "indexPrice": "",
        "orderId": "1765000000",
        "stopOrderType": "UNKNOWN",
        "leavesQty": "0",
        "execTime": str(when),
        "feeCurrency": "",
        "isMaker": False,
        "execFee": fee,
        "feeRate": "0.0001",
        "execId": f"5b9ad4c5-0000-4000-8000-{n:012d}",
        "tradeIv": "",
        "blockTradeId": "",
        "markPrice": "50000",
        "execPrice": "50000",
        "markIv": "",
        "orderQty": "0",
        "orderPrice": "0",
        "execValue": "5000",
        "execType": "Funding",
        "execQty": "0.1",
        "closedSize": "",
        "extraFees": "",
        "seq": 1000 + n,
    }


async def test_bybit_funding_payments_turn_execfee_into_signed_amounts() -> None:
    """execFee 0.5 (paid) is -0.5, -0.25 (received) is +0.25; pages by cursor, windows of 7
    days from the start."""
    now = int(time.time() * 1000)
    fees = ["0.5", "-0.25", "1.125", "-0.0625", "0.3"]
    rows = [funding_row(i, f, now - 10 * DAY + i * DAY // 3) for i, f in enumerate(fees)]
    rows.append(funding_row(9, "-0.75", now - 2 * DAY))  # in the second window
    venue, gw = await bybit(fundings=rows, page=2)
    payments = await gw.fetch_funding_payments(now - 11 * DAY)
    assert [p.amount for p in payments] == [-D(f) for f in [*fees, "-0.75"]]
    assert payments[0].asset == "USDT" and payments[0].symbol == BTC
    asked = [t for _, _, t, _ in venue.sent if "execType=Funding" in t]
    assert any("cursor=2" in t for t in asked) and any("cursor=4" in t for t in asked)
    assert all("category=linear" in t for t in asked)
    await gw.close()


async def test_bybit_position_mode_is_read_from_a_symbols_positions() -> None:
    hedge = [bybit_position("BTCUSDT", 1, "", "0"), bybit_position("BTCUSDT", 2, "", "0")]
    venue, gw = await bybit(positions=hedge)
    assert await gw.position_mode(BTC) is PositionMode.HEDGE
    assert any(t.startswith("/v5/position/list") and "symbol=BTCUSDT" in t
               for _, _, t, _ in venue.sent)  # fmt: skip
    venue.positions = [bybit_position("BTCUSDT", 0, "", "0")]
    assert await gw.position_mode(BTC) is PositionMode.ONE_WAY
    with pytest.raises(GatewayError, match="name one"):
        await gw.position_mode()
    await gw.close()


async def test_bybit_reduce_only_and_position_idx_reach_bybit() -> None:
    positions = [bybit_position("BTCUSDT", 0, "Buy", "0.5", entry="48000")]
    venue, gw = await bybit(positions=positions)
    await gw.place_order(order(Side.SELL, "0.010", "50000.0", reduce_only=True))
    body = venue.last_create
    assert (body["category"], body["reduceOnly"]) == ("linear", True)
    assert "positionIdx" not in body and body["orderLinkId"] == "rb1a2b-12ab34-0c1"
    await gw.place_order(
        order(Side.SELL, "0.010", "50000.0", reduce_only=True, position_side=PositionSide.LONG)
    )
    assert (venue.last_create["positionIdx"], venue.last_create["reduceOnly"]) == (1, True)
    await gw.place_order(order(Side.SELL, "0.010", "50000.0", position_side=PositionSide.SHORT))
    assert venue.last_create["positionIdx"] == 2 and "reduceOnly" not in venue.last_create
    await gw.close()


async def test_bybit_reduce_only_refusal_is_a_rejection() -> None:
    _, gw = await bybit(positions=[])
    with pytest.raises(OrderRejected, match="Reduce-only rule not satisfied"):
        await gw.place_order(order(Side.SELL, "0.010", "50000.0", reduce_only=True))
    await gw.close()


async def test_bybit_demo_trading_goes_to_api_demo() -> None:
    venue, gw = await connect(bybit_perp, profile_for("bybit").for_perps(), demo=True)
    await gw.fetch_positions()
    assert {host for _, host, _, _ in venue.sent} == {"api-demo.bybit.com"}
    await gw.close()


async def test_bybit_unified_account_refuses_transfers_a_classic_one_sends_them() -> None:
    venue, gw = await bybit()
    assert not gw.can_transfer
    with pytest.raises(GatewayError, match="one wallet; there is nothing to transfer"):
        await gw.transfer_collateral("USDT", D(500), to_futures=True)
    assert not venue.last_transfer
    await gw.close()
    perp = profile_for("bybit").for_perps()
    assert perp.perps is not None
    classic = replace(perp, perps=replace(perp.perps, transfer_accounts=("spot", "contract")))
    venue, gw = await connect(bybit_perp, classic)
    await gw.transfer_collateral("USDT", D("500.5"), to_futures=True)
    body = venue.last_transfer
    assert (body["fromAccountType"], body["toAccountType"]) == ("SPOT", "CONTRACT")
    assert (body["coin"], body["amount"]) == ("USDT", "500.5") and body["transferId"]
    await gw.transfer_collateral("USDT", D(20), to_futures=False)
    assert venue.last_transfer["fromAccountType"] == "CONTRACT"
    await gw.close()


def test_perp_venues_are_listed_apart_from_spot_ones() -> None:
    assert {"binanceusdm", "bybit"} <= perp_exchanges()
    assert "binanceusdm" not in verified_exchanges() and "bybit" in verified_exchanges()
