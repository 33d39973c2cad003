"""What the endpoints work on: the `SimExchange`, its matching engine and clock, and the little
state the front keeps of its own (Binance symbol ids, `quoteOrderQty` of orders, client ids).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import Clock
from bot.sim.binance.fapi_venue import Futures
from bot.sim.binance.params import Symbols
from bot.sim.binance.wire import NotionalFilter
from bot.sim.exchange import SimExchange

_ALNUM = string.ascii_letters + string.digits


@dataclass
class KeyRestrictions:
    """What the API key may do, as GET /sapi/v1/account/apiRestrictions tells it: by default a
    key that reads and trades spot and cannot withdraw (what the bot asks for); a test sets
    `front.key_restrictions` to show another key."""

    reading: bool = True
    spot_trading: bool = True
    withdrawals: bool = False


class Venue:
    """The simulator as the endpoints see it; `BinanceFront` is one, with HTTP around it.

    `notional_filter` names the minimum-notional filter in exchangeInfo and in -1013 errors;
    `seed` seeds the random client ids Binance gives orders and cancels sent without one.
    """

    def __init__(
        self, exchange: SimExchange, notional_filter: NotionalFilter = "NOTIONAL", seed: int = 0
    ) -> None:
        self.exchange = exchange
        self.engine = exchange.engine
        self.clock: Clock = exchange.clock
        self.notional_filter = notional_filter
        self.symbols = Symbols(self.engine.markets)
        self.quote_qty: dict[str, Decimal] = {}  # by order id, for orders sent by quoteOrderQty
        self._id_rng = random.Random(f"{seed}/client-ids")
        self.key_restrictions = KeyRestrictions()
        self.futures: Futures | None = None  # the USD-M futures account, with perpetuals

    def now_ms(self) -> int:
        """The server's time: the exchange's clock, which may be off the client's."""
        return self.exchange.milliseconds()

    def client_id(self) -> str:
        return "".join(self._id_rng.choices(_ALNUM, k=22))
