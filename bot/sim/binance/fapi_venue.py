"""What the /fapi endpoints work on: the futures engine (`perp.PerpEngine`, on the spot engine's
market and clock), Binance's ids of its perpetuals, and the positions as the endpoints show them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

from bot.sim.binance.fapi_positions import PositionView
from bot.sim.binance.fapi_wire import fapi_id
from bot.sim.binance.params import Params
from bot.sim.binance.replies import error, illegal, mandatory
from bot.sim.perp import PerpEngine
from bot.sim.perp_account import PerpPosition, PerpSide

MAX_NOTIONAL = Decimal(9_000_000_000)  # the one leverage bracket's cap


class FapiSymbols:
    """Binance's ids of the perpetuals ("BTCUSDT" for "BTC/USDT:USDT"), read from `symbol` and
    `symbols`."""

    def __init__(self, engine: PerpEngine) -> None:
        self._ids = {fapi_id(spec): symbol for symbol, spec in engine.specs.items()}
        self._symbols = {s: i for i, s in self._ids.items()}

    def id(self, symbol: str) -> str:
        return self._symbols.get(symbol, "")

    def required(self, params: Params) -> str:
        """The mandatory `symbol`."""
        raw = params.get("symbol", "")
        if not raw:
            raise mandatory("symbol")
        return self.of(raw)

    def optional(self, params: Params) -> str | None:
        """`symbol` if sent."""
        return self.of(params["symbol"]) if params.get("symbol") else None

    def of(self, raw: str) -> str:
        symbol = self._ids.get(raw)
        if symbol is None:
            raise error(400, -1121, "Invalid symbol.")
        return symbol

    def asked(self, params: Params) -> list[str] | None:
        """Symbols asked by `symbol` or `symbols` (a JSON list), or None for all of them."""
        if params.get("symbol"):
            return [self.of(params["symbol"])]
        raw = params.get("symbols")
        if not raw:
            return None
        try:
            ids = json.loads(raw)
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise illegal("symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$')
        return [self.of(i) for i in ids]


class Futures:
    """The futures side of the venue: `engine` and its symbols."""

    def __init__(self, engine: PerpEngine) -> None:
        self.engine = engine
        self.symbols = FapiSymbols(engine)

    def view(self, position: PerpPosition) -> PositionView:
        """`position` at the current mark, with its liquidation price."""
        engine = self.engine
        spec = engine.specs[position.symbol]
        return PositionView(
            position=position,
            symbol_id=self.symbols.id(position.symbol),
            mark=engine.mark_price(position.symbol),
            maintenance_rate=spec.maintenance_margin_rate,
            order_margin=Decimal(0),
            liquidation=engine.ledger.liquidation_price(position) if position.amount else None,
            max_notional=MAX_NOTIONAL,
        )

    def open_views(self, symbols: list[str] | None = None) -> list[PositionView]:
        """The open positions (of `symbols`, or all)."""
        return [
            self.view(p) for p in self.engine.positions() if symbols is None or p.symbol in symbols
        ]

    def every_view(self, symbols: list[str] | None = None) -> list[PositionView]:
        """A position per symbol and side, flat ones too (BOTH in one-way mode, LONG and SHORT
        in hedge mode), as /fapi/v2 lists them."""
        engine = self.engine
        sides = (PerpSide.LONG, PerpSide.SHORT) if engine.hedged else (PerpSide.BOTH,)
        wanted = symbols if symbols is not None else list(engine.specs)
        views = []
        for symbol in wanted:
            for side in sides:
                p = engine.position(symbol, side)
                if not p.amount:  # a flat one shows the symbol's settings
                    p = replace(
                        p, leverage=engine.leverage(symbol), margin_mode=engine.margin_mode(symbol)
                    )
                views.append(self.view(p))
        return views
