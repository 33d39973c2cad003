"""`SimPerpExchange`: the futures simulator (`perp.PerpEngine`) behind ccxt's unified async API,
as ccxt's `binanceusdm` presents Binance USD-M futures.

It shares the clock and the spot market of a `SimExchange` built from the same scenario
(`sim_pair`). Each call waits the latency on the clock, then runs the spot market and the perps
up to the clock's time (fills, funding, liquidations), then acts. Replies are ccxt-shaped dicts
(`perp_structures`), refusals ccxt's classes as binanceusdm raises them (`perp_errors`).

    clock = VirtualClock(scenario.start)
    spot, perps = sim_pair(scenario, clock)
    await perps.transfer("USDT", 1000, "spot", "future")
    await perps.create_order("BTC/USDT:USDT", "limit", "sell", 0.01, 94000,
                             {"reduceOnly": True})

Beyond spot's methods: fetch_positions, fetch_funding_rate(s), fetch_funding_history (the
FUNDING_FEE income), fetch_income (every income entry, Binance's /fapi/v1/income),
set_leverage, set_margin_mode, set_position_mode, fetch_position_mode, add_margin, transfer.
`create_order` takes params `reduceOnly`, `positionSide` (LONG/SHORT, hedge mode),
`postOnly` or `timeInForce` GTX (post-only), `clientOrderId` / `newClientOrderId`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ccxt

from bot.sim import perp_structures as ps
from bot.sim import structures
from bot.sim.account import SimOrder
from bot.sim.account_api import HAS, Params, SimAccountApi, _decimal, _since_limit
from bot.sim.clock import Clock, VirtualClock
from bot.sim.exchange import SimExchange
from bot.sim.perp import PerpEngine
from bot.sim.perp_account import IncomeType, PerpPosition, PerpSide
from bot.sim.scenario import Scenario

PERP_HAS: dict[str, bool | str] = {
    **HAS,
    "spot": False,
    "swap": True,
    "fetchPositions": True,
    "fetchFundingRate": True,
    "fetchFundingRates": True,
    "fetchFundingHistory": True,
    "setLeverage": True,
    "setMarginMode": True,
    "setPositionMode": True,
    "fetchPositionMode": True,
    "addMargin": True,
    "transfer": True,
    "fetchDeposits": False,
    "fetchWithdrawals": False,
}
BINANCE_OK = {"code": 200, "msg": "success"}


def sim_pair(scenario: Scenario, clock: Clock | None = None) -> tuple[SimExchange, SimPerpExchange]:
    """The spot and futures exchanges of `scenario`, on one clock and one spot market."""
    clock = clock or VirtualClock(scenario.start)
    spot = SimExchange.from_scenario(scenario, clock)
    perps = SimPerpExchange.from_scenario(scenario, spot)
    spot.followers.append(perps.engine.advance_to)
    return spot, perps


class SimPerpExchange(SimAccountApi[PerpEngine]):
    """A simulated USD-M futures exchange with ccxt's unified async interface."""

    def __init__(
        self,
        engine: PerpEngine,
        clock: Clock,
        *,
        exchange_id: str = "sim",
        latency: float = 0.0,
    ) -> None:
        super().__init__(engine, clock, exchange_id=exchange_id, name="Simulated futures")
        self.has = dict(PERP_HAS)
        self.options = {"defaultType": "swap"}
        self.latency = latency
        self._nonce = 0

    @classmethod
    def from_scenario(cls, scenario: Scenario, spot: SimExchange) -> SimPerpExchange:
        """The futures exchange of `scenario` beside `spot` (built from the same scenario)."""
        engine = PerpEngine.from_scenario(scenario, spot.engine)
        return cls(engine, spot.clock, latency=scenario.faults.latency)

    # ---- plumbing ---------------------------------------------------------------------------

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        self.calls[method] += 1
        if self.latency > 0:
            await self.clock.sleep(self.latency)
        self.engine.advance_to(self.clock.time())

    async def charge(self, method: str, weight: int = 1) -> None:
        """Admit one request as every method does first (latency, market run up to now), for a
        front serving an endpoint with no unified method here."""
        await self._call(method, weight)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.markets is None:
            n = self._number()
            markets = {
                s: ps.perp_market_dict(spec, self.engine.filters.get(s), n)
                for s, spec in self.engine.specs.items()
            }
            self.markets = markets
            self.markets_by_id = {m["id"]: [m] for m in markets.values()}
            self.symbols = sorted(markets)
            codes = sorted({c for m in markets.values() for c in (m["base"], m["quote"])})
            self.currencies = {
                c: {"id": c, "code": c, "name": c, "active": True, "precision": None} for c in codes
            }
        return self.markets

    def market(self, symbol: str) -> dict[str, Any]:
        market = self._load().get(symbol)
        if market is None:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        return market

    async def close(self) -> None:
        """Nothing to release; present because every ccxt async exchange must be closed."""

    # ---- public data ------------------------------------------------------------------------

    async def load_markets(self, reload: bool = False, params: Params = None) -> dict[str, Any]:
        if reload or self.markets is None:
            await self._call("load_markets", 1)
            if reload:
                self.markets = None
        return self._load()

    async def fetch_markets(self, params: Params = None) -> list[dict[str, Any]]:
        await self._call("load_markets", 1)
        return list(self._load().values())

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params = None
    ) -> dict[str, Any]:
        self.market(symbol)
        await self._call("fetch_order_book", 1)
        bids, asks = self.engine.book(symbol)
        if limit is not None:
            bids, asks = bids[:limit], asks[:limit]
        self._nonce += 1
        return structures.book_dict(symbol, bids, asks, self.milliseconds(), self._nonce)

    async def fetch_ticker(self, symbol: str, params: Params = None) -> dict[str, Any]:
        self.market(symbol)
        await self._call("fetch_ticker", 1)
        return self._ticker(symbol)

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> dict[str, dict[str, Any]]:
        wanted = list(symbols) if symbols is not None else sorted(self._load())
        for s in wanted:
            self.market(s)
        await self._call("fetch_tickers", 1)
        return {s: self._ticker(s) for s in wanted}

    def _ticker(self, symbol: str) -> dict[str, Any]:
        bids, asks = self.engine.book(symbol)
        stats = self.engine.books[symbol].stats
        n = self._number()
        ticker = structures.ticker_dict(symbol, bids, asks, stats, self.milliseconds(), n)
        ticker["info"]["symbol"] = ps.market_id(symbol)
        ticker["markPrice"] = n(self.engine.mark_price(symbol))
        ticker["indexPrice"] = n(self.engine.index_price(symbol))
        return ticker

    async def fetch_funding_rate(self, symbol: str, params: Params = None) -> dict[str, Any]:
        self.market(symbol)
        await self._call("fetch_funding_rate", 1)
        return self._funding(symbol)

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> dict[str, dict[str, Any]]:
        wanted = list(symbols) if symbols is not None else sorted(self._load())
        for s in wanted:
            self.market(s)
        await self._call("fetch_funding_rates", 10)
        return {s: self._funding(s) for s in wanted}

    def _funding(self, symbol: str) -> dict[str, Any]:
        e = self.engine
        next_ms = round((e.next_funding_time(symbol) + e.time_offset) * 1000)
        return ps.funding_rate_dict(
            e.specs[symbol], e.mark_price(symbol), e.index_price(symbol), e.funding_rate(symbol),
            e.last_funding_rate(symbol), next_ms, self.milliseconds(), self._number(),
        )  # fmt: skip

    # ---- account ----------------------------------------------------------------------------

    async def fetch_balance(self, params: Params = None) -> dict[str, Any]:
        await self._call("fetch_balance", 5)
        return ps.balance_dict(self.engine.balance(), self.milliseconds(), self._number())

    async def fetch_positions(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> list[dict[str, Any]]:
        """Open positions (of `symbols`, or all), as ccxt's binance filters closed ones out."""
        for s in symbols or ():
            self.market(s)
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
            self.market(symbol)
        await self._call(method, 30)
        entries = [
            ps.income_dict(i, self._number())
            for i in self.engine.incomes
            if (kind is None or i.type is kind) and (symbol is None or i.symbol == symbol)
        ]
        return _since_limit(entries, since, limit)

    async def set_leverage(
        self, leverage: int, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        symbol = await self._require_symbol("set_leverage", symbol)
        await self._call("set_leverage", 1)
        self.engine.set_leverage(symbol, int(leverage))
        return {
            "leverage": int(leverage),
            "maxNotionalValue": "INF",
            "symbol": ps.market_id(symbol),
        }

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
        self.market(symbol)
        value = _decimal(amount, "amount")
        side = PerpSide(str((params or {}).get("positionSide", "BOTH")).upper())
        await self._call("add_margin", 1)
        self.engine.add_margin(symbol, value, side)
        pos = self.engine.position(symbol, side)
        n = self._number()
        return {
            "info": {"code": 200, "msg": "Successfully modify position margin.", "type": 1,
                     "amount": structures.text(value)},
            "symbol": symbol, "type": "add", "marginMode": "isolated", "amount": n(value),
            "total": n(pos.isolated_margin), "code": self.engine.asset, "status": "ok",
            "timestamp": self.milliseconds(), "datetime": structures.iso8601(self.milliseconds()),
        }  # fmt: skip

    async def transfer(
        self,
        code: str,
        amount: float | str | Decimal,
        fromAccount: str,  # noqa: N803
        toAccount: str,  # noqa: N803
        params: Params = None,
    ) -> dict[str, Any]:
        """Move `code` (the settlement asset) between "spot" and "future"."""
        if code != self.engine.asset:
            raise ccxt.BadRequest(f"{self.id} transfers {self.engine.asset} only, not {code}")
        value = _decimal(amount, "amount")
        await self._call("transfer", 1)
        record = self.engine.transfer(value, fromAccount, toAccount)
        return ps.transfer_dict(record, self._number())

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
        self.market(symbol)
        if str(params.get("timeInForce", "")).upper() == "GTX":
            params["timeInForce"] = "PO"
        order_type, order_side, tif = self._order_kind(symbol, type, side, params)
        qty = _decimal(amount, "amount")
        limit = (
            _decimal(price, "price") if price is not None and order_type.value == "limit" else None
        )
        reduce_only = _truthy(params.get("reduceOnly", False))
        client_id = params.get("clientOrderId", params.get("newClientOrderId"))
        await self._call("create_order", 1, symbol)
        order = self.engine.place(
            symbol, order_type, order_side, qty, limit, time_in_force=tif,
            client_order_id=None if client_id is None else str(client_id),
            reduce_only=reduce_only, position_side=params.get("positionSide"),
        )  # fmt: skip
        return self._order(order)

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        reply = await super().cancel_order(id, symbol, params)
        return self._patch(reply)

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Params = None
    ) -> dict[str, Any]:
        return self._patch(await super().fetch_order(id, symbol, params))

    def _orders(
        self, orders: Sequence[SimOrder], since: int | None, limit: int | None
    ) -> list[dict[str, Any]]:
        return [self._patch(o) for o in super()._orders(orders, since, limit)]

    def _order(self, order: SimOrder) -> dict[str, Any]:
        return self._patch(structures.order_dict(order, number=self._number()))

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


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
