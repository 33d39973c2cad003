"""`PaperExchange`: a dry run. Real public market data, simulated orders and balances.

    public = ccxt.async_support.binance({"options": {"defaultType": "spot"}})  # no keys
    exchange = PaperExchange(public, {"USDT": Decimal("10000")})
    # or: PaperExchange.from_ccxt("binance", {"USDT": Decimal("10000")})

It speaks ccxt's unified async API like `SimExchange` (the same account code, `SimAccountApi`, on
the same `matching.Matcher`: filters, fees in the asset received, locks, errors, ccxt-shaped dicts),
but its market is the real one: markets, order books and tickers come from `public`, a ccxt
exchange without keys. Only public methods are ever called on it (`load_markets`,
`fetch_order_book`, `fetch_ticker(s)`, `close`): a dry run never trades.

Fills, conservatively:
- A taker order walks the real book fetched when the order is placed, at its prices (`depth`
  levels: the exchange's default when None).
- Each symbol's book is the latest one observed (`ObservedBook`), less the liquidity our own fills
  took from it; a fresh book (another nonce or timestamp, or other levels when the exchange gives
  neither) replaces it and forgets what we took, the same book seen again does not.
- A resting order fills, at its own price as a maker, when a freshly observed book's opposite side
  has moved onto or through its price: at most the quantity shown there, once per observed book.
  Books are observed by `fetch_order_book`, by `create_order`, and, for symbols where our orders
  rest, before any call that reports on the account (`fetch_order`, `cancel_order`,
  `fetch_open_orders`, `fetch_balance`, ...) when the last observation is older than
  `refresh_interval` seconds.
- Simplified: the public trade tape is not read, so an order resting at the touch fills only when
  the book itself moves through it (never by queue position), and our own orders leave no mark on
  the real market beyond the observed book (an order that partly took and now rests at that price
  may fill again from the same liquidity once a fresh book shows it).

Errors of the public exchange (`ccxt.NetworkError`, `ccxt.DDoSProtection`, ...) pass through
unchanged, with its `last_response_headers`, so the gateway retries them as usual.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
from ccxt.base.decimal_to_precision import TICK_SIZE

from bot.clock import Clock, RealClock
from bot.domain.market import ZERO, Level, Market, Side
from bot.exchange.codec import book_from_ccxt, market_from_ccxt
from bot.sim.account_api import Params, SimAccountApi
from bot.sim.matching import Matcher

# The public methods that read market data: all a dry run ever asks of the real exchange.
PUBLIC_METHODS = frozenset({"load_markets", "fetch_order_book", "fetch_ticker", "fetch_tickers"})


class ObservedBook:
    """The latest book seen on the real exchange, less what our own fills took from it.

    Satisfies `matching.Book`. `ticket` orders observations: a reply to an older request never
    replaces a book installed from a newer one (concurrent calls may return out of order).
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.stamp: object = None
        self.ticket = 0
        self.observed_at: float | None = None
        self.observations = 0  # fresh books installed
        self._shown: dict[Side, tuple[Level, ...]] = {Side.BUY: (), Side.SELL: ()}
        self._taken: dict[Side, dict[Decimal, Decimal]] = {Side.BUY: {}, Side.SELL: {}}
        self._cache: dict[Side, tuple[Level, ...]] = {}

    def observe(
        self,
        bids: Sequence[Level],
        asks: Sequence[Level],
        stamp: object,
        *,
        ticket: int,
        at: float,
    ) -> bool:
        """Install a fetched book (best first); True when it is fresh, not the one already seen."""
        self.ticket = ticket
        self.observed_at = at
        if self.observations and stamp == self.stamp:
            return False
        self.stamp = stamp
        self._shown = {Side.BUY: tuple(bids), Side.SELL: tuple(asks)}
        self._taken = {Side.BUY: {}, Side.SELL: {}}
        self._cache.clear()
        self.observations += 1
        return True

    def levels(self, resting: Side) -> tuple[Level, ...]:
        cached = self._cache.get(resting)
        if cached is None:
            taken = self._taken[resting]
            cached = tuple(
                Level(lv.price, lv.amount - taken.get(lv.price, ZERO))
                for lv in self._shown[resting]
                if lv.amount > taken.get(lv.price, ZERO)
            )
            self._cache[resting] = cached
        return cached

    def best(self, resting: Side) -> Decimal | None:
        levels = self.levels(resting)
        return levels[0].price if levels else None

    def consume(self, resting: Side, price: Decimal, amount: Decimal) -> None:
        taken = self._taken[resting]
        taken[price] = taken.get(price, ZERO) + amount
        self._cache.pop(resting, None)

    def see_trade(self, price: Decimal, amount: Decimal) -> None:
        """Nothing: the real market never sees a paper trade."""


def _stamp(raw: Mapping[str, Any], bids: Sequence[Level], asks: Sequence[Level]) -> object:
    """What identifies one snapshot of a book: its nonce and timestamp, else its levels."""
    nonce, timestamp = raw.get("nonce"), raw.get("timestamp")
    if nonce is not None or timestamp is not None:
        return (nonce, timestamp)
    return (tuple(bids), tuple(asks))


def _is_spot(market: Mapping[str, Any]) -> bool:
    return bool(market.get("spot", market.get("type", "spot") == "spot"))


class PaperExchange(SimAccountApi[Matcher[ObservedBook]]):
    """Paper trading on `public`'s real market data (see the module docstring)."""

    _event = "paper"

    def __init__(
        self,
        public: Any,
        balances: Mapping[str, Decimal],
        *,
        clock: Clock | None = None,
        depth: int | None = None,
        refresh_interval: float = 1.0,
        exchange_id: str = "paper",
    ) -> None:
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1 levels, got {depth}")
        if refresh_interval < 0:
            raise ValueError(f"refresh_interval must be >= 0 seconds, got {refresh_interval}")
        clock = clock or RealClock()
        engine: Matcher[ObservedBook] = Matcher(
            {}, balances, exchange_id=exchange_id, now=clock.time()
        )
        public_id = str(getattr(public, "id", "exchange"))
        super().__init__(engine, clock, exchange_id=exchange_id, name=f"Paper on {public_id}")
        self.public = public
        self.depth = depth
        self.refresh_interval = refresh_interval
        self.precisionMode = int(getattr(public, "precisionMode", TICK_SIZE))
        self.rateLimit = getattr(public, "rateLimit", self.rateLimit)
        self.fees = getattr(public, "fees", None) or self.fees
        public_has = getattr(public, "has", None) or {}
        for capability in ("fetchOrderBook", "fetchTicker", "fetchTickers"):
            if capability in public_has:
                self.has[capability] = public_has[capability]
        self._tickets: dict[str, int] = {}
        # The order-book depths the real exchange serves (KuCoin: 20, 100); empty: any.
        self.book_depths: tuple[int, ...] = ()

    @classmethod
    def from_ccxt(
        cls,
        exchange_id: str,
        balances: Mapping[str, Decimal],
        *,
        config: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        depth: int | None = None,
        refresh_interval: float = 1.0,
    ) -> PaperExchange:
        """Paper trading on ccxt's `exchange_id` (`ccxt.async_support.<id>(config)`, no keys).

        ccxt's own rate limiter stays on unless `config` says otherwise: the refreshes a paper
        call may make are not paced by the gateway.
        """
        factory = getattr(ccxt_async, exchange_id, None)
        if factory is None or exchange_id not in ccxt_async.exchanges:
            raise ValueError(f"{exchange_id!r} is not an exchange ccxt knows")
        public = factory({"enableRateLimit": True, **(config or {})})
        return cls(public, balances, clock=clock, depth=depth, refresh_interval=refresh_interval)

    # ---- the real exchange ------------------------------------------------------------------

    async def _public(self, method: str, *args: Any) -> Any:
        assert method in PUBLIC_METHODS, method  # a dry run never trades
        try:
            return await getattr(self.public, method)(*args)
        finally:
            self.last_response_headers = dict(
                getattr(self.public, "last_response_headers", None) or {}
            )

    async def _observe(self, symbol: str, limit: int | None) -> Mapping[str, Any]:
        """Fetch `symbol`'s real book, install it, fill our resting orders it crosses."""
        ticket = self._tickets[symbol] = self._tickets.get(symbol, 0) + 1
        asked = limit
        if limit is not None and self.book_depths:  # the depths the exchange serves
            asked = next((d for d in sorted(self.book_depths) if d >= limit), None)
        raw: Mapping[str, Any] = await self._public("fetch_order_book", symbol, asked)
        self._set_time()
        book = self.engine.books[symbol]
        if ticket > book.ticket:
            parsed = book_from_ccxt(symbol, raw)
            stamp = _stamp(raw, parsed.bids, parsed.asks)
            if book.observe(parsed.bids, parsed.asks, stamp, ticket=ticket, at=self.clock.time()):
                self.engine.fill_crossed(symbol)
        return raw

    async def _refresh(self, symbol: str | None) -> None:
        """Observe the books where our orders rest (of `symbol`, or all), unless seen lately."""
        symbols = [symbol] if symbol is not None else sorted(self.engine.books)
        for s in symbols:
            book = self.engine.books.get(s)
            if book is None or not self.engine.open_orders(s):
                continue
            seen = book.observed_at
            if seen is None or self.clock.time() - seen >= self.refresh_interval:
                await self._observe(s, self.depth)

    def _set_time(self) -> None:
        self.engine.now = max(self.engine.now, self.clock.time())

    # ---- what SimAccountApi needs -----------------------------------------------------------

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        self.calls[method] += 1
        self.last_response_headers = {}
        self._set_time()
        if method == "create_order":
            assert symbol is not None
            await self._observe(symbol, self.depth)  # a taker walks the book as it is now
        else:
            await self._refresh(symbol)

    def market(self, symbol: str) -> dict[str, Any]:
        if self.markets is None:
            raise ccxt.ExchangeError(f"{self.id}: markets not loaded, call load_markets() first")
        market = self.markets.get(symbol)
        if market is None:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        return market

    async def _symbol(self, symbol: str) -> None:
        """Load the markets if need be and give `symbol` its observed book in the engine."""
        await self.load_markets()
        raw = self.market(symbol)
        if symbol in self.engine.books:
            return
        if raw.get("active") is False:
            raise ccxt.BadSymbol(f"{self.id} market {symbol} is not trading")
        fees = (self.fees or {}).get("trading", {})
        try:
            market = market_from_ccxt(raw, self.precisionMode, fees)
        except (ValueError, KeyError, TypeError) as exc:  # DomainError is a ValueError
            raise ccxt.BadSymbol(f"{self.id} market {symbol} cannot be simulated: {exc}") from None
        self.engine.add_book(symbol, ObservedBook(market))

    async def close(self) -> None:
        """Close the public exchange (its HTTP session), keeping the paper account's state."""
        self.save_state()
        await self.public.close()

    # ---- the paper account survives restarts --------------------------------------------------

    state_path: Path | None = None

    def save_state(self) -> None:
        """Write the paper balances (total per asset) to `state_path`, atomically."""
        if self.state_path is None:
            return
        account = self.engine.account
        totals = {a: str(account.total(a)) for a in account.assets()}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"balances": totals}, indent=1), encoding="utf-8")
        tmp.replace(self.state_path)

    @staticmethod
    def load_state(path: Path) -> dict[str, Decimal] | None:
        """Balances saved by an earlier run, or None when there is no state file yet."""
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return {a: Decimal(v) for a, v in data["balances"].items()}

    async def create_order(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().create_order(*args, **kwargs)
        finally:
            self.save_state()

    async def cancel_order(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().cancel_order(*args, **kwargs)
        finally:
            self.save_state()

    async def fetch_order(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().fetch_order(*args, **kwargs)
        finally:
            self.save_state()

    # ---- public data ------------------------------------------------------------------------

    async def load_markets(self, reload: bool = False, params: Params = None) -> dict[str, Any]:
        """The public exchange's spot markets, as it describes them (its precision mode)."""
        if reload or self.markets is None:
            self.calls["load_markets"] += 1
            raw: Mapping[str, dict[str, Any]] = await self._public("load_markets", reload)
            markets = {s: m for s, m in raw.items() if _is_spot(m)}
            by_id: dict[str, list[dict[str, Any]]] = {}
            for m in markets.values():
                by_id.setdefault(str(m.get("id")), []).append(m)
            self.markets, self.markets_by_id = markets, by_id
            self.symbols = sorted(markets)
            self.currencies = dict(getattr(self.public, "currencies", None) or {})
        assert self.markets is not None
        return self.markets

    def amount_to_precision(self, symbol: str, amount: float | str | Decimal) -> str:
        return str(self.public.amount_to_precision(symbol, amount))

    def price_to_precision(self, symbol: str, price: float | str | Decimal) -> str:
        return str(self.public.price_to_precision(symbol, price))

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params = None
    ) -> dict[str, Any]:
        """The real book, fresh, less what we took from it, with our resting orders in it."""
        await self._symbol(symbol)
        self.calls["fetch_order_book"] += 1
        raw = await self._observe(symbol, limit)
        bids, asks = self.engine.book(symbol)
        if limit is not None:
            bids, asks = bids[:limit], asks[:limit]
        return {
            "symbol": symbol,
            "bids": [[float(lv.price), float(lv.amount)] for lv in bids],
            "asks": [[float(lv.price), float(lv.amount)] for lv in asks],
            "timestamp": raw.get("timestamp"),
            "datetime": raw.get("datetime"),
            "nonce": raw.get("nonce"),
        }

    async def fetch_ticker(self, symbol: str, params: Params = None) -> dict[str, Any]:
        """The real ticker, unchanged (paper trades are not on the real tape)."""
        self.calls["fetch_ticker"] += 1
        ticker: dict[str, Any] = await self._public("fetch_ticker", symbol)
        return ticker

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> dict[str, dict[str, Any]]:
        self.calls["fetch_tickers"] += 1
        wanted = None if symbols is None else list(symbols)
        tickers: dict[str, dict[str, Any]] = await self._public("fetch_tickers", wanted)
        return tickers
