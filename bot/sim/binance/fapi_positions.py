"""The futures account in Binance USD-M's REST JSON: positions (/fapi/v2 and v3 positionRisk,
account), balances, income, symbol settings; pure functions, no I/O, numbers as `fapi_wire`
prints them. Field names follow Binance's USD-M documentation and what ccxt's `binance.
parse_position_risk`, `parse_account_positions`, `parse_balance_custom` and `parse_income` read
(ccxt 4.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain.market import ZERO
from bot.sim.binance.wire import fmt
from bot.sim.perp_account import FuturesBalance, Income, MarginMode, PerpPosition

EIGHT = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class PositionView:
    """One position as the account and position endpoints show it: the engine's position, the
    mark, the maintenance margin rate, the margin its open orders hold and its liquidation
    price (None: none)."""

    position: PerpPosition
    symbol_id: str
    mark: Decimal
    maintenance_rate: Decimal
    order_margin: Decimal
    liquidation: Decimal | None
    max_notional: Decimal

    @property
    def notional(self) -> Decimal:
        return self.position.notional(self.mark)

    @property
    def unrealized(self) -> Decimal:
        return self.position.unrealized_pnl(self.mark)

    @property
    def initial(self) -> Decimal:
        return self.position.initial_margin(self.mark)

    @property
    def maintenance(self) -> Decimal:
        return self.position.maintenance_margin(self.mark, self.maintenance_rate)

    @property
    def isolated(self) -> bool:
        return self.position.margin_mode is MarginMode.ISOLATED


# ---- account and positions ------------------------------------------------------------------


def _price(value: Decimal | None) -> str:
    """A computed price (the liquidation price) to eight decimals; 0 for none."""
    return fmt((value or ZERO).quantize(EIGHT))


def _isolated_margin(v: PositionView) -> Decimal:
    """Binance's `isolatedMargin`: the isolated wallet plus unrealised PnL (0 in cross)."""
    return v.position.isolated_margin + v.unrealized if v.isolated else ZERO


def position_risk_v3(v: PositionView, asset: str, now_ms: int) -> dict[str, Any]:
    """One entry of GET /fapi/v3/positionRisk."""
    p = v.position
    return {
        "symbol": v.symbol_id,
        "positionSide": p.side.value,
        "positionAmt": fmt(p.amount),
        "entryPrice": fmt(p.entry_price),
        "breakEvenPrice": fmt(p.entry_price),
        "markPrice": fmt(v.mark),
        "unRealizedProfit": fmt(v.unrealized),
        "liquidationPrice": _price(v.liquidation),
        "isolatedMargin": fmt(_isolated_margin(v)),
        "notional": fmt(v.notional),
        "marginAsset": asset,
        "isolatedWallet": fmt(p.isolated_margin if v.isolated else ZERO),
        "initialMargin": fmt(v.initial + v.order_margin),
        "maintMargin": fmt(v.maintenance),
        "positionInitialMargin": fmt(v.initial),
        "openOrderInitialMargin": fmt(v.order_margin),
        "adl": 0,
        "bidNotional": fmt(ZERO),
        "askNotional": fmt(ZERO),
        "updateTime": p.updated_ms or now_ms,
    }


def position_risk_v2(v: PositionView, now_ms: int) -> dict[str, Any]:
    """One entry of GET /fapi/v2/positionRisk."""
    p = v.position
    return {
        "symbol": v.symbol_id,
        "positionAmt": fmt(p.amount),
        "entryPrice": fmt(p.entry_price),
        "breakEvenPrice": fmt(p.entry_price),
        "markPrice": fmt(v.mark),
        "unRealizedProfit": fmt(v.unrealized),
        "liquidationPrice": _price(v.liquidation),
        "leverage": str(p.leverage),
        "maxNotionalValue": fmt(v.max_notional),
        "marginType": "isolated" if v.isolated else "cross",
        "isolatedMargin": fmt(_isolated_margin(v)),
        "isAutoAddMargin": "false",
        "positionSide": p.side.value,
        "notional": fmt(v.notional),
        "isolatedWallet": fmt(p.isolated_margin if v.isolated else ZERO),
        "updateTime": p.updated_ms if p.amount else 0,
        "isolated": v.isolated,
        "adlQuantile": 0,
    }


def _account_position(v: PositionView, now_ms: int, full: bool) -> dict[str, Any]:
    p = v.position
    out = {
        "symbol": v.symbol_id,
        "positionSide": p.side.value,
        "positionAmt": fmt(p.amount),
        "unrealizedProfit": fmt(v.unrealized),
        "isolatedMargin": fmt(_isolated_margin(v)),
        "notional": fmt(v.notional),
        "isolatedWallet": fmt(p.isolated_margin if v.isolated else ZERO),
        "initialMargin": fmt(v.initial + v.order_margin),
        "maintMargin": fmt(v.maintenance),
        "updateTime": p.updated_ms if p.amount else 0,
    }
    if full:  # v2's extra fields
        out.update(
            {
                "leverage": str(p.leverage),
                "entryPrice": fmt(p.entry_price),
                "breakEvenPrice": fmt(p.entry_price),
                "maxNotional": fmt(v.max_notional),
                "positionInitialMargin": fmt(v.initial),
                "openOrderInitialMargin": fmt(v.order_margin),
                "isolated": v.isolated,
                "bidNotional": fmt(ZERO),
                "askNotional": fmt(ZERO),
            }
        )
    return out


def asset_entry(b: FuturesBalance, now_ms: int) -> dict[str, Any]:
    """The settlement asset's entry of the account's `assets` (`updateTime` never 0: ccxt skips
    an asset whose `updateTime` is 0)."""
    return {
        "asset": b.asset,
        "walletBalance": fmt(b.wallet),
        "unrealizedProfit": fmt(b.unrealized_pnl),
        "marginBalance": fmt(b.margin_balance),
        "maintMargin": fmt(b.maintenance),
        "initialMargin": fmt(b.position_initial_margin + b.open_order_initial_margin),
        "positionInitialMargin": fmt(b.position_initial_margin),
        "openOrderInitialMargin": fmt(b.open_order_initial_margin),
        "crossWalletBalance": fmt(b.cross_wallet),
        "crossUnPnl": fmt(b.cross_unrealized_pnl),
        "availableBalance": fmt(b.available),
        "maxWithdrawAmount": fmt(b.available),
        "marginAvailable": True,
        "updateTime": now_ms,
    }


def account(
    b: FuturesBalance, views: Sequence[PositionView], now_ms: int, *, v2: bool
) -> dict[str, Any]:
    """GET /fapi/v3/account (open positions only) or /fapi/v2/account (`v2`: every symbol's
    positions, and the account's flags)."""
    out: dict[str, Any] = {
        "totalInitialMargin": fmt(b.position_initial_margin + b.open_order_initial_margin),
        "totalMaintMargin": fmt(b.maintenance),
        "totalWalletBalance": fmt(b.wallet),
        "totalUnrealizedProfit": fmt(b.unrealized_pnl),
        "totalMarginBalance": fmt(b.margin_balance),
        "totalPositionInitialMargin": fmt(b.position_initial_margin),
        "totalOpenOrderInitialMargin": fmt(b.open_order_initial_margin),
        "totalCrossWalletBalance": fmt(b.cross_wallet),
        "totalCrossUnPnl": fmt(b.cross_unrealized_pnl),
        "availableBalance": fmt(b.available),
        "maxWithdrawAmount": fmt(b.available),
        "assets": [asset_entry(b, now_ms)],
        "positions": [_account_position(v, now_ms, v2) for v in views],
    }
    if v2:
        out = {
            "feeTier": 0,
            "feeBurn": False,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
            **out,
        }
    return out


def balance(b: FuturesBalance, now_ms: int) -> list[dict[str, Any]]:
    """GET /fapi/v2/balance and /fapi/v3/balance."""
    return [
        {
            "accountAlias": "SimFutures",
            "asset": b.asset,
            "balance": fmt(b.wallet),
            "crossWalletBalance": fmt(b.cross_wallet),
            "crossUnPnl": fmt(b.cross_unrealized_pnl),
            "availableBalance": fmt(b.available),
            "maxWithdrawAmount": fmt(b.available),
            "marginAvailable": True,
            "updateTime": now_ms,
        }
    ]


def income(i: Income, symbol_id: str) -> dict[str, Any]:
    """One entry of GET /fapi/v1/income (`symbol` "" for a transfer)."""
    return {
        "symbol": symbol_id,
        "incomeType": i.type.value,
        "income": fmt(i.amount),
        "asset": i.asset,
        "info": i.type.value,
        "time": i.time_ms,
        "tranId": int(i.id) if i.id.isdigit() else i.id,
        "tradeId": i.trade_id,
    }


def symbol_config(
    symbol_id: str, mode: MarginMode, leverage: int, max_notional: Decimal
) -> dict[str, Any]:
    """One entry of GET /fapi/v1/symbolConfig."""
    return {
        "symbol": symbol_id,
        "marginType": "ISOLATED" if mode is MarginMode.ISOLATED else "CROSSED",
        "isAutoAddMargin": False,
        "leverage": leverage,
        "maxNotionalValue": fmt(max_notional),
    }
