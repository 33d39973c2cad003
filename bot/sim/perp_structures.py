"""The futures simulator's state as ccxt's binanceusdm returns it: markets, balances, positions,
funding rates, income, orders and trades with their futures fields, transfers.

Keys follow ccxt 4.5's `binance.parse_position_risk`, `parse_balance_custom` (swap: free =
availableBalance, used = initialMargin, total = marginBalance), `parse_funding_rate`,
`parse_income` and `parse_transfer`; `info` carries Binance's /fapi field names so a reader
(or an HTTP front) finds what Binance sends. Numbers as in `structures` (`number`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.domain.market import Market
from bot.sim import structures
from bot.sim.filters import Filters
from bot.sim.perp_account import FuturesBalance, Income, PerpPosition, PerpSide, TransferRecord
from bot.sim.perp_market import PerpSpec
from bot.sim.structures import Number, iso8601, text

HOUR = 3600.0


def market_id(symbol: str) -> str:
    """Binance's id of a perp: "BTC/USDT:USDT" -> "BTCUSDT"."""
    return symbol.partition(":")[0].replace("/", "")


def perp_market_dict(
    spec: PerpSpec, filters: Filters | None = None, number: Number = float
) -> dict[str, Any]:
    """A ccxt swap market: linear, settled in the quote, amounts in contracts."""
    m: Market = spec.market
    out = structures.market_dict(m, filters, number)
    mid = market_id(m.symbol)
    out.update(
        id=mid,
        lowercaseId=mid.lower(),
        settle=m.quote,
        settleId=m.quote,
        type="swap",
        spot=False,
        swap=True,
        contract=True,
        linear=True,
        inverse=False,
        subType="linear",
        contractSize=number(m.contract_size),
        marginModes={"cross": True, "isolated": True},
    )
    out["limits"]["leverage"] = {
        "min": number(Decimal(1)),
        "max": number(Decimal(spec.max_leverage)),
    }
    out["info"].update(
        symbol=mid,
        pair=mid,
        contractType="PERPETUAL",
        marginAsset=m.quote,
        underlyingType="COIN",
        maintMarginPercent=text(spec.maintenance_margin_rate * 100),
        requiredMarginPercent=text(Decimal(100) / spec.max_leverage),
        liquidationFee=text(spec.liquidation_fee),
    )
    return out


def balance_dict(b: FuturesBalance, ms: int, number: Number = float) -> dict[str, Any]:
    """ccxt's balance of the futures wallet, `info` as Binance's /fapi/v3/account."""
    used = b.position_initial_margin + b.open_order_initial_margin
    info = {
        "totalWalletBalance": text(b.wallet),
        "totalUnrealizedProfit": text(b.unrealized_pnl),
        "totalMarginBalance": text(b.margin_balance),
        "totalInitialMargin": text(used),
        "totalPositionInitialMargin": text(b.position_initial_margin),
        "totalOpenOrderInitialMargin": text(b.open_order_initial_margin),
        "totalMaintMargin": text(b.maintenance),
        "totalCrossWalletBalance": text(b.cross_wallet),
        "totalCrossUnPnl": text(b.cross_unrealized_pnl),
        "availableBalance": text(b.available),
        "maxWithdrawAmount": text(b.available),
        "assets": [
            {
                "asset": b.asset,
                "walletBalance": text(b.wallet),
                "unrealizedProfit": text(b.unrealized_pnl),
                "marginBalance": text(b.margin_balance),
                "maintMargin": text(b.maintenance),
                "initialMargin": text(used),
                "positionInitialMargin": text(b.position_initial_margin),
                "openOrderInitialMargin": text(b.open_order_initial_margin),
                "crossWalletBalance": text(b.cross_wallet),
                "crossUnPnl": text(b.cross_unrealized_pnl),
                "availableBalance": text(b.available),
                "maxWithdrawAmount": text(b.available),
                "updateTime": ms,
            }
        ],
    }
    account = {
        "free": number(b.available),
        "used": number(used),
        "total": number(b.margin_balance),
    }
    return {
        "info": info,
        "timestamp": ms,
        "datetime": iso8601(ms),
        b.asset: account,
        "free": {b.asset: account["free"]},
        "used": {b.asset: account["used"]},
        "total": {b.asset: account["total"]},
    }


def position_dict(
    pos: PerpPosition,
    mark: Decimal,
    mmr: Decimal,
    liquidation: Decimal | None,
    hedged: bool,
    number: Number = float,
) -> dict[str, Any]:
    """ccxt's position, `info` as Binance's /fapi/v3/positionRisk."""
    notional = pos.notional(mark)
    pnl = pos.unrealized_pnl(mark)
    im = pos.initial_margin(mark)
    mm = pos.maintenance_margin(mark, mmr)
    isolated = pos.margin_mode.value == "isolated"
    collateral = pos.isolated_margin + pnl if isolated else im
    info = {
        "symbol": market_id(pos.symbol),
        "positionSide": pos.side.value,
        "positionAmt": text(pos.amount),
        "entryPrice": text(pos.entry_price),
        "markPrice": text(mark),
        "unRealizedProfit": text(pnl),
        "liquidationPrice": text(liquidation or Decimal(0)),
        "leverage": str(pos.leverage),
        "isolatedMargin": text(collateral if isolated else Decimal(0)),
        "isolatedWallet": text(pos.isolated_margin),
        "notional": text(notional),
        "initialMargin": text(im),
        "maintMargin": text(mm),
        "marginType": "isolated" if isolated else "cross",
        "updateTime": pos.updated_ms,
    }
    side = "long" if pos.amount > 0 else "short"
    return {
        "info": info,
        "id": None,
        "symbol": pos.symbol,
        "timestamp": pos.updated_ms or None,
        "datetime": iso8601(pos.updated_ms or None),
        "lastUpdateTimestamp": None,
        "contracts": number(pos.contracts),
        "contractSize": number(pos.contract_size),
        "side": side,
        "notional": number(abs(notional)),
        "leverage": number(Decimal(pos.leverage)),
        "unrealizedPnl": number(pnl),
        "realizedPnl": None,
        "collateral": number(collateral),
        "entryPrice": number(pos.entry_price),
        "markPrice": number(mark),
        "lastPrice": None,
        "liquidationPrice": None if liquidation is None else number(liquidation),
        "marginMode": "isolated" if isolated else "cross",
        "hedged": hedged,
        "maintenanceMargin": number(mm),
        "maintenanceMarginPercentage": number(mmr),
        "initialMargin": number(im),
        "initialMarginPercentage": number(Decimal(1) / pos.leverage),
        "marginRatio": number(mm / collateral) if collateral > 0 else None,
        "percentage": number(pnl / im * 100) if im else None,
        "positionMargin": number(pos.isolated_margin) if isolated else None,
        "stopLossPrice": None,
        "takeProfitPrice": None,
    }


def funding_rate_dict(
    spec: PerpSpec,
    mark: Decimal,
    index: Decimal,
    rate: Decimal,
    previous: Decimal,
    next_ms: int,
    ms: int,
    number: Number = float,
) -> dict[str, Any]:
    """ccxt's funding rate: `fundingRate` the predicted rate of the settlement at `next_ms`
    (Binance's premiumIndex `lastFundingRate`), `previousFundingRate` the last one settled."""
    hours = spec.funding_interval / HOUR
    interval = f"{hours:g}h"
    info = {
        "symbol": market_id(spec.symbol),
        "markPrice": text(mark),
        "indexPrice": text(index),
        "estimatedSettlePrice": text(index),
        "lastFundingRate": text(rate),
        "interestRate": text(spec.interest_rate),
        "nextFundingTime": next_ms,
        "time": ms,
    }
    return {
        "info": info,
        "symbol": spec.symbol,
        "markPrice": number(mark),
        "indexPrice": number(index),
        "interestRate": number(spec.interest_rate),
        "estimatedSettlePrice": number(index),
        "timestamp": ms,
        "datetime": iso8601(ms),
        "fundingRate": number(rate),
        "fundingTimestamp": next_ms,
        "fundingDatetime": iso8601(next_ms),
        "nextFundingRate": None,
        "nextFundingTimestamp": None,
        "nextFundingDatetime": None,
        "previousFundingRate": number(previous),
        "previousFundingTimestamp": None,
        "previousFundingDatetime": None,
        "interval": interval,
    }


def income_dict(income: Income, number: Number = float) -> dict[str, Any]:
    """ccxt's funding history entry (`parse_income`), `info` as Binance's /fapi/v1/income."""
    info = {
        "symbol": market_id(income.symbol) if income.symbol else "",
        "incomeType": income.type.value,
        "income": text(income.amount),
        "asset": income.asset,
        "time": income.time_ms,
        "info": income.type.value,
        "tranId": income.id,
        "tradeId": income.trade_id,
    }
    return {
        "info": info,
        "symbol": income.symbol or None,
        "code": income.asset,
        "timestamp": income.time_ms,
        "datetime": iso8601(income.time_ms),
        "id": income.id,
        "amount": number(income.amount),
    }


def transfer_dict(t: TransferRecord, number: Number = float) -> dict[str, Any]:
    """ccxt's transfer entry (`parse_transfer`)."""
    kind = "MAIN_UMFUTURE" if t.from_account == "spot" else "UMFUTURE_MAIN"
    return {
        "info": {"tranId": t.id, "type": kind, "asset": t.asset, "amount": text(t.amount)},
        "id": t.id,
        "timestamp": t.time_ms,
        "datetime": iso8601(t.time_ms),
        "currency": t.asset,
        "amount": number(t.amount),
        "fromAccount": t.from_account,
        "toAccount": t.to_account,
        "status": "ok",
    }


def perp_order(order: dict[str, Any], reduce_only: bool, side: PerpSide) -> dict[str, Any]:
    """A spot order dict (`structures.order_dict`) with the futures fields."""
    order["reduceOnly"] = reduce_only
    info = order["info"]
    info["symbol"] = market_id(order["symbol"])
    info["reduceOnly"] = reduce_only
    info["positionSide"] = side.value
    info["cumQuote"] = info.pop("cummulativeQuoteQty", "0")
    if order.get("postOnly"):
        info["type"] = "LIMIT"
        info["timeInForce"] = "GTX"
    return order


def perp_trade(
    trade: dict[str, Any], cost: Decimal, pnl: Decimal, side: PerpSide, number: Number
) -> dict[str, Any]:
    """A spot trade dict (`structures.trade_dict`) with the futures fields."""
    trade["cost"] = number(cost)
    info = trade["info"]
    info["symbol"] = market_id(trade["symbol"])
    info["realizedPnl"] = text(pnl)
    info["positionSide"] = side.value
    info["quoteQty"] = text(cost)
    info["buyer"] = info.pop("isBuyer", trade["side"] == "buy")
    info["maker"] = info.pop("isMaker", trade["takerOrMaker"] == "maker")
    return trade
