"""`PaperPerpExchange`: paper trading of linear USDT perpetuals. Real public market data, a
simulated futures account, kept in a state file so a restart continues it.

    public = ccxt.async_support.binanceusdm({"enableRateLimit": True})  # no keys
    perps = PaperPerpExchange(public, Decimal("10000"), state_path=Path("paper.perp.json"))
    # transfers from the paper spot account instead of a configured wallet:
    perps = PaperPerpExchange(public, spot=paper_spot, state_path=...)

The method set and reply shapes are `perp_exchange.SimPerpExchange`'s (ccxt's binanceusdm); the
account rules are the simulator's (`perp.py`, on `perp_ledger.FuturesLedger`); the market is
the venue's, asked only public methods (`PUBLIC_METHODS`): markets, order books, funding rates
(mark, index, predicted rate, next funding time) and settled funding rates.

- Fills as `paper.PaperExchange`'s: a taker walks the book fetched when it is placed; a resting
  order fills at its price, as a maker, when a freshly observed book moves onto it.
- Marks: the venue's, from `fetch_funding_rate(s)`; refreshed for the symbols where we hold a
  position or an order, before any call, once older than `refresh_interval` seconds.
- Funding: when a call finds the venue's next funding time passed, every position open then
  receives -notional(mark) * rate at the mark last observed: the rate the venue settled (its
  public funding history, when the client has one and shows it already; the interval between
  settlements is read there too), else its last predicted rate. Settlements missed while the
  bot was down are applied on restart, each once.
- Liquidation: at every mark observed, by the ledger's rules, at one maintenance rate per
  symbol (`maintenance_margin_rate`: see `paper_perp_market`). A mark that crosses the
  liquidation price and returns between two observations is not seen.
- Transfers: with `spot` (a `PaperExchange` on the same asset) they move its free quote balance;
  without one the wallet starts from `wallet` and a transfer is refused (`ccxt.NotSupported`).
  The two state files are written one after the other (a crash between may lose or repeat one).
- State (`paper_perp_state`): read when built (its wallet wins over `wallet`), applied once the
  markets are loaded, written after every call that changed the account and on `close`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import ccxt
from ccxt.base.decimal_to_precision import TICK_SIZE

from bot.clock import Clock, RealClock
from bot.domain.market import ZERO
from bot.exchange.codec import book_from_ccxt, market_from_ccxt, market_wanted
from bot.sim import paper_perp_state as state
from bot.sim import perp_structures as ps
from bot.sim.account_api import Params, _decimal
from bot.sim.paper import PaperExchange, _stamp
from bot.sim.paper_perp_api import PaperPerpAccountApi
from bot.sim.paper_perp_engine import PaperPerpEngine
from bot.sim.paper_perp_market import DEFAULT_MMR, funding_view, perp_spec
from bot.sim.perp_exchange import PERP_HAS
from bot.sim.perp_market import DEFAULT_INTERVAL

PUBLIC_METHODS = frozenset({
    "load_markets", "fetch_order_book", "fetch_ticker", "fetch_tickers", "fetch_funding_rate",
    "fetch_funding_rates", "fetch_funding_rate_history",
})  # fmt: skip
SETTLED_TOLERANCE_MS = 60_000  # a history entry this close to a funding time is its settlement


class PaperPerpExchange(PaperPerpAccountApi):
    """Paper trading of perpetuals on `public`'s real market data (see the module docstring)."""

    _event = "paper_perp"

    def __init__(
        self,
        public: Any,
        wallet: Decimal = ZERO,
        *,
        spot: PaperExchange | None = None,
        state_path: Path | None = None,
        clock: Clock | None = None,
        depth: int | None = None,
        refresh_interval: float = 1.0,
        maintenance_margin_rate: Decimal | Mapping[str, Decimal] = DEFAULT_MMR,
        default_leverage: int = 20,
        funding_interval: float = DEFAULT_INTERVAL,
        asset: str = "USDT",
        exchange_id: str = "paper",
    ) -> None:
        if refresh_interval < 0:
            raise ValueError(f"refresh_interval must be >= 0 seconds, got {refresh_interval}")
        clock = clock or (spot.clock if spot is not None else RealClock())
        saved = state.read(state_path) if state_path is not None else None
        start = Decimal(saved["wallet"]) if saved is not None else Decimal(wallet)
        engine = PaperPerpEngine(
            start, asset=asset, exchange_id=exchange_id, now=clock.time(),
            spot=spot.engine if spot is not None else None,
        )  # fmt: skip
        public_id = str(getattr(public, "id", "exchange"))
        super().__init__(
            engine, clock, exchange_id=exchange_id, name=f"Paper futures on {public_id}"
        )
        self.has = dict(PERP_HAS)
        self.has["transfer"] = spot is not None
        self.options = {"defaultType": "swap"}
        self.public = public
        self.spot = spot
        self.state_path = state_path
        self.depth = depth
        self.refresh_interval = refresh_interval
        self.maintenance_margin_rate = maintenance_margin_rate  # one rate, or one per symbol
        self.default_leverage = default_leverage
        self.funding_interval = funding_interval
        self.precisionMode = int(getattr(public, "precisionMode", TICK_SIZE))
        self.rateLimit = getattr(public, "rateLimit", self.rateLimit)
        self.fees = getattr(public, "fees", None) or self.fees
        self._saved = saved  # applied once the markets are loaded
        self._tickets: dict[str, int] = {}
        self._written: object = None
        # The order-book depths the venue serves (Binance USD-M: 5 ... 1000); empty: any.
        self.book_depths: tuple[int, ...] = ()

    # ---- the real exchange ------------------------------------------------------------------

    async def _public(self, method: str, *args: Any) -> Any:
        assert method in PUBLIC_METHODS, method  # paper trading never trades
        try:
            return await getattr(self.public, method)(*args)
        finally:
            self.last_response_headers = dict(
                getattr(self.public, "last_response_headers", None) or {}
            )

    def _public_has(self, capability: str) -> bool:
        return bool((getattr(self.public, "has", None) or {}).get(capability))

    def _set_time(self) -> None:
        self.engine.now = max(self.engine.now, self.clock.time())

    async def _observe(self, symbol: str, limit: int | None) -> Mapping[str, Any]:
        """Fetch `symbol`'s real book, install it, fill our resting orders it crosses."""
        ticket = self._tickets[symbol] = self._tickets.get(symbol, 0) + 1
        if limit is not None and self.book_depths:  # the depths the venue serves
            limit = next((d for d in sorted(self.book_depths) if d >= limit), None)
        raw: Mapping[str, Any] = await self._public("fetch_order_book", symbol, limit)
        self._set_time()
        book = self.engine.books[symbol]
        if ticket > book.ticket:
            parsed = book_from_ccxt(symbol, raw)
            stamp = _stamp(raw, parsed.bids, parsed.asks)
            if book.observe(parsed.bids, parsed.asks, stamp, ticket=ticket, at=self.clock.time()):
                self.engine.fill_crossed(symbol)
        return raw

    async def _observe_funding(self, symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Fetch the venue's funding (mark, index, rate, next time) of `symbols`, install it."""
        if len(symbols) == 1 or not self._public_has("fetchFundingRates"):
            raws = {s: await self._public("fetch_funding_rate", s) for s in symbols}
        else:
            raws = dict(await self._public("fetch_funding_rates", list(symbols)))
        self._set_time()
        for symbol in symbols:
            raw = raws.get(symbol)
            old = self.engine.funding.get(symbol)  # its interval, unless the venue says
            interval = old.interval if old is not None else self.funding_interval
            view = funding_view(raw, self.clock.time(), interval) if raw else None
            if view is None:
                raise ccxt.BadResponse(f"{self.id} {symbol}: the venue's funding rate has no"
                                       f" mark, rate or next funding time: {raw!r}")  # fmt: skip
            self.engine.observe_funding(symbol, view)
        return raws

    async def _settled(self, symbol: str, due_ms: int) -> tuple[Decimal | None, float | None]:
        """The rate the venue settled at `due_ms` and its interval (seconds), as far as its
        public funding history shows them already (None, None: no history)."""
        if not self._public_has("fetchFundingRateHistory"):
            return None, None
        since = due_ms - SETTLED_TOLERANCE_MS
        rows = await self._public("fetch_funding_rate_history", symbol, since, 5)
        stamps = sorted(int(r["timestamp"]) for r in rows or () if r.get("timestamp") is not None)
        gaps = [b - a for a, b in pairwise(stamps) if b - a > SETTLED_TOLERANCE_MS]
        interval = min(gaps) / 1000 if gaps else None
        for row in rows or ():
            stamp, rate = row.get("timestamp"), row.get("fundingRate")
            near = stamp is not None and abs(int(stamp) - due_ms) <= SETTLED_TOLERANCE_MS
            if near and rate is not None:
                return Decimal(str(rate)), interval
        return None, interval

    async def _settle_due(self) -> None:
        """Apply every funding settlement whose time has passed (before any new fill): at the
        venue's settled rate when known, else the last predicted rate observed."""
        while due := self.engine.due(self.clock.time()):
            symbol, due_ms = due[0]
            rate, interval = None, None
            if self.engine.positions(symbol):  # nobody is paid: no need to ask the venue
                rate, interval = await self._settled(symbol, due_ms)
            view = self.engine.funding[symbol]
            if interval is not None:
                view.interval = interval
            self.engine.settle(symbol, due_ms, view.rate if rate is None else rate)

    async def _refresh(self, symbol: str | None, placing: bool) -> None:
        """Settle due funding; re-observe, when stale, the marks of the symbols we hold (and of
        `symbol` when `placing` an order on it), checking liquidations at the new marks, then
        the books where our orders rest (of `symbol`, or all; not the one `placing` will
        fetch)."""
        await self._settle_due()
        now = self.clock.time()
        resting = {o.symbol for o in self.engine.open_orders()}
        held = {p.symbol for p in self.engine.positions()} | resting
        views = self.engine.funding
        marks = held | {symbol} if placing and symbol is not None else held
        every = self.refresh_interval
        stale = [s for s in sorted(marks) if s not in views or now - views[s].observed_at >= every]
        if stale:
            await self._observe_funding(stale)
            await self._settle_due()
            self.engine.liquidate()
        books = resting if symbol is None else resting & {symbol}
        for s in sorted(books - {symbol} if placing else books):
            seen = self.engine.books[s].observed_at
            if seen is None or now - seen >= self.refresh_interval:
                await self._observe(s, self.depth)

    # ---- what SimAccountApi needs -----------------------------------------------------------

    async def _call(self, method: str, weight: int, symbol: str | None = None) -> None:
        self.calls[method] += 1
        self.last_response_headers = {}
        await self.load_markets()
        self._set_time()
        await self._refresh(symbol, placing=method == "create_order")
        if method == "create_order":
            assert symbol is not None
            await self._observe(symbol, self.depth)  # a taker walks the book as it is now
        self.save_state()

    def market(self, symbol: str) -> dict[str, Any]:
        if self.markets is None:
            raise ccxt.ExchangeError(f"{self.id}: markets not loaded, call load_markets() first")
        market = self.markets.get(symbol)
        if market is None:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        return market

    async def _symbol(self, symbol: str) -> None:
        """Load the markets if need be and give `symbol` its perp in the engine."""
        await self.load_markets()
        self._add(symbol)

    def _add(self, symbol: str) -> None:
        raw = self.market(symbol)
        if symbol in self.engine.specs:
            return
        fees = (self.fees or {}).get("trading", {})
        try:
            market = market_from_ccxt(raw, self.precisionMode, fees)
        except (ValueError, KeyError, TypeError) as exc:
            raise ccxt.BadSymbol(f"{self.id} market {symbol} cannot be simulated: {exc}") from None
        mmr = self.maintenance_margin_rate
        if isinstance(mmr, Mapping):
            mmr = mmr.get(symbol, DEFAULT_MMR)
        self.engine.add_perp(perp_spec(
            raw, market, maintenance_margin_rate=mmr,
            default_leverage=self.default_leverage, funding_interval=self.funding_interval,
        ))  # fmt: skip

    async def close(self) -> None:
        """Close the public exchange (its HTTP session), keeping the paper account's state."""
        self._written = None  # the latest marks too
        self.save_state()
        await self.public.close()

    # ---- the account survives restarts ------------------------------------------------------

    def save_state(self) -> None:
        """Write the account to `state_path` when it changed (a new mark alone is not a change:
        it is written with the next one), and the linked spot account's."""
        if self.state_path is None or self._saved is not None:
            return  # nowhere to write, or the saved state is not applied yet
        mark = state.fingerprint(self.engine)
        if mark != self._written:
            state.write(self.state_path, state.dump(self.engine))
            self._written = mark
        if self.spot is not None:
            self.spot.save_state()

    def _restore(self) -> None:
        saved, self._saved = self._saved, None
        if saved is None:
            return
        for symbol in saved["symbols"]:
            self._add(symbol)
        state.restore(self.engine, saved)
        self._written = state.fingerprint(self.engine)

    # ---- public data ------------------------------------------------------------------------

    async def load_markets(self, reload: bool = False, params: Params = None) -> dict[str, Any]:
        """The venue's linear perpetuals settled in the wallet's asset."""
        if reload or self.markets is None:
            self.calls["load_markets"] += 1
            raw: Mapping[str, dict[str, Any]] = await self._public("load_markets", reload)
            markets = {
                s: m for s, m in raw.items()
                if market_wanted(m, contracts=True) and m.get("settle") == self.engine.asset
            }  # fmt: skip
            self.markets = markets
            self.markets_by_id = {str(m.get("id")): [m] for m in markets.values()}
            self.symbols = sorted(markets)
            self.currencies = dict(getattr(self.public, "currencies", None) or {})
            self._restore()
        assert self.markets is not None
        return self.markets

    async def fetch_markets(self, params: Params = None) -> list[dict[str, Any]]:
        return list((await self.load_markets()).values())

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params = None
    ) -> dict[str, Any]:
        """The real book, fresh, less what we took from it, with our resting orders in it."""
        await self._symbol(symbol)
        await self._call("fetch_order_book", 1)
        raw = await self._observe(symbol, limit)
        self.save_state()
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

    async def fetch_funding_rate(self, symbol: str, params: Params = None) -> dict[str, Any]:
        return (await self.fetch_funding_rates([symbol]))[symbol]

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None, params: Params = None
    ) -> dict[str, dict[str, Any]]:
        """The venue's funding rates (of `symbols`, or of every perp traded here), as
        `SimPerpExchange` shapes them (`previousFundingRate`: the last one we settled)."""
        await self.load_markets()
        wanted = list(symbols) if symbols is not None else sorted(self.markets or {})
        for s in wanted:
            self._add(s)
        await self._call("fetch_funding_rates", 10)
        views, now = self.engine.funding, self.clock.time()
        every = self.refresh_interval
        stale = [s for s in wanted if s not in views or now - views[s].observed_at >= every]
        if stale:  # those `_call` did not observe just now
            await self._observe_funding(stale)
            await self._settle_due()
            self.engine.liquidate()
            self.save_state()
        return {s: self._funding(s) for s in wanted}

    def _funding(self, symbol: str) -> dict[str, Any]:
        e = self.engine
        view = e.funding[symbol]
        return ps.funding_rate_dict(
            e.specs[symbol], view.mark, view.index, view.rate, view.last_rate, view.next_ms,
            self.milliseconds(), self._number(),
        )  # fmt: skip

    async def transfer(
        self,
        code: str,
        amount: float | str | Decimal,
        fromAccount: str,  # noqa: N803 - ccxt's names
        toAccount: str,  # noqa: N803
        params: Params = None,
    ) -> dict[str, Any]:
        """Move `code` between the linked paper spot account and the futures wallet."""
        if code != self.engine.asset:
            raise ccxt.BadRequest(f"{self.id} transfers {self.engine.asset} only, not {code}")
        value = _decimal(amount, "amount")
        await self._call("transfer", 1)
        record = self.engine.transfer(value, fromAccount, toAccount)
        self.save_state()
        return ps.transfer_dict(record, self._number())

    # ---- what changes the account: saved after each ----------------------------------------

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

    async def set_leverage(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().set_leverage(*args, **kwargs)
        finally:
            self.save_state()

    async def set_margin_mode(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().set_margin_mode(*args, **kwargs)
        finally:
            self.save_state()

    async def set_position_mode(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().set_position_mode(*args, **kwargs)
        finally:
            self.save_state()

    async def add_margin(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().add_margin(*args, **kwargs)
        finally:
            self.save_state()
