"""`PaperPerpAccountApi`: ccxt's unified futures account methods over a `PaperPerpEngine`, with
the replies and refusals of `perp_exchange.SimPerpExchange` (ccxt's binanceusdm): balance with
Binance's /fapi account fields, positions, income and funding history, leverage, margin and
position modes, isolated margin, and orders with `reduceOnly`, `positionSide`, `postOnly` (or
`timeInForce` GTX) and `clientOrderId` / `newClientOrderId`.

The market (`market`, `_call`, `_symbol`, `close`) is the subclass's: `paper_perp.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ccxt

from bot.sim import perp_structures as ps
from bot.sim import structures
from bot.sim.account import OrderType, SimOrder
from bot.sim.account_api import Params, SimAccountApi, _decimal, _since_limit
from bot.sim.paper_perp_engine import PaperPerpEngine
from bot.sim.perp_account import IncomeType, PerpPosition, PerpSide
from bot.sim.perp_exchange import BINANCE_OK


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class PaperPerpAccountApi(SimAccountApi[PaperPerpEngine]):
    """The futures account methods (see the module docstring)."""

    # ---- account ----------------------------------------------------------------------------

    async def fetch_balance(self, params: Params = None) -> dict[str, Any]:
        await self._call("fetch_balance", 5)
        return ps.balance_dict(self.engine.balance(), self.milliseconds(), self._number())

    async def fetch_positions(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> list[dict[str, Any]]:
        """Open positions (of `symbols`, or all), as ccxt's binance filters closed ones out."""
        for s in symbols or ():
            await self._symbol(s)
        await self._call("fetch_positions", 5)
        return [
            self._position(p) for p in self.engine.positions() if not symbols or p.symbol in symbols
        ]

    def _position(self, pos: PerpPosition) -> dict[str, Any]:
        e = self.engine
        return ps.position_dict(
            pos, e.mark_price(pos.symbol), e.specs[pos.symbol].maintenance_margin_rate,
            e.ledger.liquidation_price(pos), e.hedged, self._number(),
        )  # fmt: skip

    async def fetch_funding_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        """The FUNDING_FEE entries of the income history, oldest first."""
        return await self._income(
            "fetch_funding_history", symbol, since, limit, IncomeType.FUNDING_FEE
        )

    async def fetch_income(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        """Every income entry (Binance's /fapi/v1/income; params `incomeType` filters)."""
        raw = (params or {}).get("incomeType")
        kind = IncomeType(str(raw)) if raw else None
        return await self._income("fetch_income", symbol, since, limit, kind)

    async def _income(
        self, method: str, symbol: str | None, since: int | None, limit: int | None,
        kind: IncomeType | None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        if symbol is not None:
            await self._symbol(symbol)
        await self._call(method, 30)
        entries = [
            ps.income_dict(i, self._number())
            for i in self.engine.incomes
            if (kind is None or i.type is kind) and (symbol is None or i.symbol == symbol)
        ]
        return _since_limit(entries, since, limit)

    # ---- settings ---------------------------------------------------------------------------

    async def set_leverage(
        self, leverage: int, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("set_leverage", symbol)
        await self._call("set_leverage", 1)
        self.engine.set_leverage(symbol, int(leverage))
        return {"leverage": int(leverage), "maxNotionalValue": "INF",
                "symbol": ps.market_id(symbol)}  # fmt: skip

    async def set_margin_mode(
        self,
        marginMode: str,  # noqa: N803 - ccxt's name
        symbol: str | None = None,
        params: Params = None,
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("set_margin_mode", symbol)
        mode = marginMode.lower()
        if mode not in ("cross", "crossed", "isolated"):
            raise ccxt.BadRequest(f"{self.id} marginMode must be isolated or cross")
        await self._call("set_margin_mode", 1)
        self.engine.set_margin_mode(symbol, mode)
        return dict(BINANCE_OK)

    async def set_position_mode(
        self, hedged: bool, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        await self._call("set_position_mode", 1)
        self.engine.set_position_mode(bool(hedged))
        return dict(BINANCE_OK)

    async def fetch_position_mode(
        self, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        await self._call("fetch_position_mode", 30)
        hedged = self.engine.hedged
        return {"info": {"dualSidePosition": hedged}, "hedged": hedged}

    async def add_margin(
        self, symbol: str, amount: float | str | Decimal, params: Params = None
    ) -> dict[str, Any]:
        """Add isolated margin (params `positionSide` in hedge mode); ccxt's margin structure."""
        await self._symbol(symbol)
        value = _decimal(amount, "amount")
        side = PerpSide(str((params or {}).get("positionSide", "BOTH")).upper())
        await self._call("add_margin", 1)
        self.engine.add_margin(symbol, value, side)
        pos = self.engine.position(symbol, side)
        n, ms = self._number(), self.milliseconds()
        return {
            "info": {"code": 200, "msg": "Successfully modify position margin.", "type": 1,
                     "amount": structures.text(value)},
            "symbol": symbol, "type": "add", "marginMode": "isolated", "amount": n(value),
            "total": n(pos.isolated_margin), "code": self.engine.asset, "status": "ok",
            "timestamp": ms, "datetime": structures.iso8601(ms),
        }  # fmt: skip

    # ---- orders -----------------------------------------------------------------------------

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float | str | Decimal,
        price: float | str | Decimal | None = None,
        params: Params = None,
    ) -> dict[str, Any]:
        params = dict(params or {})
        await self._symbol(symbol)
        if str(params.get("timeInForce", "")).upper() == "GTX":
            params["timeInForce"] = "PO"
        order_type, order_side, tif = self._order_kind(symbol, type, side, params)
        qty = _decimal(amount, "amount")
        limit = (
            _decimal(price, "price")
            if price is not None and order_type is OrderType.LIMIT
            else None
        )
        reduce_only = _truthy(params.get("reduceOnly", False))
        client_id = params.get("clientOrderId", params.get("newClientOrderId"))
        await self._call("create_order", 1, symbol)
        order = self.engine.place(
            symbol, order_type, order_side, qty, limit, time_in_force=tif,
            client_order_id=None if client_id is None else str(client_id),
            reduce_only=reduce_only, position_side=params.get("positionSide"),
        )  # fmt: skip
        return self._patch(structures.order_dict(order, number=self._number()))

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        return self._patch(await super().cancel_order(id, symbol, params))

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        return self._patch(await super().fetch_order(id, symbol, params))

    def _orders(
        self, orders: Sequence[SimOrder], since: int | None, limit: int | None
    ) -> list[dict[str, Any]]:
        return [self._patch(o) for o in super()._orders(orders, since, limit)]

    def _patch(self, reply: dict[str, Any]) -> dict[str, Any]:
        flags = self.engine.flags(str(reply["id"]))
        return ps.perp_order(reply, flags.reduce_only, flags.position_side)

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[dict[str, Any]]:
        symbol = await self._require_symbol("fetch_my_trades", symbol)
        await self._call("fetch_my_trades", 5, symbol)
        n = self._number()
        size = self.engine.specs[symbol].market.contract_size
        out = []
        for t in self.engine.my_trades(symbol):
            order = self.engine.orders[t.order_id]
            flags = self.engine.flags(order.id)
            d = structures.trade_dict(t, order.client_order_id, number=n)
            pnl = self.engine.trade_pnl(t.id)
            out.append(ps.perp_trade(d, t.amount * t.price * size, pnl, flags.position_side, n))
        return _since_limit(out, since, limit)
