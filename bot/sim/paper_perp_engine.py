"""`PaperPerpEngine`: one simulated futures account (`perp_ledger.FuturesLedger`) whose orders
match against books observed on a real venue (`paper.ObservedBook`), priced at the venue's
observed mark, funded at the venue's funding times and rates.

The order rules are `perp.PerpEngine`'s (see `perp.py`): position side, reduce-only, margin
checks, fills moving the position and the wallet, post-only refusals; what differs is where
prices and time come from: `observe_funding` installs the venue's mark, index and funding,
`due()` and `settle()` apply the settlements whose time has passed, `liquidate()` checks the
positions at the observed marks. Synchronous; the exchange (`paper_perp.py`) does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import ccxt

from bot.domain.market import ZERO, Market, Side
from bot.sim import perp_errors as errs
from bot.sim import perp_settings as settings
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from bot.sim.fills import FillSource, SimFill
from bot.sim.matching import Matcher
from bot.sim.paper import ObservedBook
from bot.sim.paper_perp_market import FundingView, merge
from bot.sim.perp import OrderFlags
from bot.sim.perp_account import (
    FuturesBalance,
    Income,
    Liquidation,
    MarginMode,
    PerpPosition,
    PerpSide,
    TransferRecord,
    closes,
)
from bot.sim.perp_ledger import FuturesLedger
from bot.sim.perp_market import PerpSpec

if TYPE_CHECKING:
    from bot.sim.perp_settings import _Engine


class PaperPerpEngine(Matcher[ObservedBook]):
    """A futures account on observed books and marks (see the module docstring). `spot`: the
    spot account transfers move (a paper spot matcher), None when transfers are refused."""

    def __init__(
        self,
        wallet: Decimal,
        *,
        asset: str = "USDT",
        exchange_id: str = "paper",
        now: float = 0.0,
        spot: Matcher[Any] | None = None,
    ) -> None:
        super().__init__({}, {}, exchange_id=exchange_id, now=now)
        self.fees_in_quote = True  # fees in the settlement asset, from the wallet
        self._reducing = False  # the order being placed only reduces (`_filtered`)
        self.asset = asset
        self.spot = spot
        self.specs: dict[str, PerpSpec] = {}
        self.ledger = FuturesLedger({}, wallet, self.mark_price, asset=asset,
                                    exchange_id=exchange_id)  # fmt: skip
        self.funding: dict[str, FundingView] = {}
        self.transfers: list[TransferRecord] = []
        self.flags_by_id: dict[str, OrderFlags] = {}
        self.pnl_by_trade: dict[str, Decimal] = {}

    def add_perp(self, spec: PerpSpec) -> None:
        """Trade `spec`'s symbol on an (empty, until observed) book from now on."""
        symbol = spec.symbol
        if spec.market.quote != self.asset:
            raise ccxt.BadSymbol(f"{self.exchange_id} {symbol} settles in {spec.market.quote},"
                                 f" the paper futures wallet in {self.asset}")  # fmt: skip
        self.specs[symbol] = spec
        self.ledger.specs[symbol] = spec
        self.ledger.leverage.setdefault(symbol, spec.default_leverage)
        self.ledger.margin_mode.setdefault(symbol, MarginMode.CROSS)
        self.add_book(symbol, ObservedBook(spec.market))

    # ---- state ------------------------------------------------------------------------------

    @property
    def hedged(self) -> bool:
        return self.ledger.hedged

    @property
    def incomes(self) -> list[Income]:
        return self.ledger.incomes

    @property
    def liquidations(self) -> list[Liquidation]:
        return self.ledger.liquidations

    def spec(self, symbol: str) -> PerpSpec:
        spec = self.specs.get(symbol)
        if spec is None:
            raise ccxt.BadSymbol(f"{self.exchange_id} does not have market symbol {symbol}")
        return spec

    def flags(self, order_id: str) -> OrderFlags:
        return self.flags_by_id[order_id]

    def trade_pnl(self, trade_id: str) -> Decimal:
        return self.pnl_by_trade.get(trade_id, ZERO)

    def leverage(self, symbol: str) -> int:
        return self.ledger.leverage[self.spec(symbol).symbol]

    def margin_mode(self, symbol: str) -> MarginMode:
        return self.ledger.margin_mode[self.spec(symbol).symbol]

    def positions(self, symbol: str | None = None) -> list[PerpPosition]:
        return self.ledger.positions(symbol)

    def position(self, symbol: str, side: PerpSide = PerpSide.BOTH) -> PerpPosition:
        return self.ledger.position(self.spec(symbol).symbol, side)

    def balance(self) -> FuturesBalance:
        return self.ledger.balance(self.order_margin())

    # ---- the venue's prices and funding -----------------------------------------------------

    def observe_funding(self, symbol: str, view: FundingView) -> None:
        """Install the venue's latest mark, index and funding of `symbol`."""
        self.funding[symbol] = merge(self.funding.get(symbol), view)

    def mark_price(self, symbol: str) -> Decimal:
        """The venue's mark as last observed; before any, the observed book's mid."""
        view = self.funding.get(symbol)
        if view is not None:
            return view.mark
        book = self.books.get(symbol)
        bid = book.best(Side.BUY) if book is not None else None
        ask = book.best(Side.SELL) if book is not None else None
        if bid is None or ask is None:
            raise ccxt.ExchangeNotAvailable(
                f"{self.exchange_id} {symbol}: no mark price observed yet"
            )
        return (bid + ask) / 2

    def index_price(self, symbol: str) -> Decimal:
        view = self.funding.get(symbol)
        return view.index if view is not None else self.mark_price(symbol)

    def funding_rate(self, symbol: str) -> Decimal:
        view = self.funding.get(symbol)
        return view.rate if view is not None else ZERO

    def last_funding_rate(self, symbol: str) -> Decimal:
        view = self.funding.get(symbol)
        return view.last_rate if view is not None else ZERO

    def next_funding_time(self, symbol: str) -> float:
        view = self.funding.get(symbol)
        return view.next_ms / 1000 if view is not None else 0.0

    def due(self, t: float) -> list[tuple[str, int]]:
        """(symbol, settlement time in ms) of every settlement at or before `t`, oldest first."""
        return sorted(
            ((s, v.next_ms) for s, v in self.funding.items() if v.next_ms <= t * 1000),
            key=lambda d: (d[1], d[0]),
        )

    def settle(self, symbol: str, due_ms: int, rate: Decimal) -> None:
        """Settle `symbol`'s funding due at `due_ms` at `rate` and the observed mark; the next
        settlement one interval later (until the venue is observed again)."""
        view = self.funding[symbol]
        if due_ms > view.settled_ms:
            self.ledger.settle_funding(symbol, rate, view.mark, due_ms)
            view.settled_ms, view.last_rate = due_ms, rate
        view.next_ms = max(view.next_ms, due_ms + round(view.interval * 1000))

    def liquidate(self) -> list[str]:
        """Liquidate the positions under maintenance at the observed marks, cancelling their
        symbols' open orders; the symbols liquidated."""
        done = self.ledger.liquidate_due(self.now_ms)
        for symbol in done:
            for order in list(self._resting[symbol]):
                self._finish(order, OrderStatus.CANCELED)
        return done

    # ---- margin and orders (perp.PerpEngine's rules) ------------------------------------------

    def order_margin(
        self, extra: SimOrder | None = None, flags: OrderFlags | None = None
    ) -> Decimal:
        """Initial margin of the open orders' opening parts (and `extra`, not yet placed)."""
        entries = [
            (o.symbol, self.flags_by_id[o.id].position_side, o.side, o.remaining,
             o.price or self.mark_price(o.symbol))
            for o in self.open_orders() if not self.flags_by_id[o.id].reduce_only
        ]  # fmt: skip
        if extra is not None and flags is not None:
            price = extra.price or self.mark_price(extra.symbol)
            entries.append((extra.symbol, flags.position_side, extra.side, extra.remaining, price))
        return self.ledger.orders_margin(entries)

    def _filtered(self, market: Market) -> Market:
        """Binance waives the minimum notional for an order that only reduces (-4164)."""
        return replace(market, min_cost=ZERO) if self._reducing else market

    def place(
        self,
        symbol: str,
        type: OrderType,
        side: Side,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
        reduce_only: bool = False,
        position_side: PerpSide | str | None = None,
    ) -> SimOrder:
        """Check the futures rules (position side, reduce-only, margin), then match."""
        symbol = self.spec(symbol).symbol
        pside = settings.position_side(self._as_engine(), symbol, position_side, reduce_only)
        flags = OrderFlags(reduce_only, pside)
        if reduce_only or closes(pside, side):
            room = self.ledger.reducible(symbol, pside, side)
            if room <= 0 or amount > room:
                raise errs.refusal(
                    ccxt.InvalidOrder, self.exchange_id,
                    f"{symbol}: reducing {side} {amount} against a position of {room}",
                    errs.REDUCE_ONLY_REJECTED,
                )  # fmt: skip
        else:
            probe = SimOrder("", "", symbol, type, side, price, amount, time_in_force, False, 0,
                             self.asset, 0)  # fmt: skip
            need = self.order_margin(probe, flags) - self.order_margin()
            available = self.balance().available
            if need > available:
                raise errs.refusal(
                    ccxt.InsufficientFunds, self.exchange_id,
                    f"{symbol}: {side} {amount} needs {need} {self.asset} of margin,"
                    f" {available} available", errs.MARGIN_INSUFFICIENT,
                )  # fmt: skip
        key = str(self._next_order)
        self.flags_by_id[key] = flags
        self._reducing = reduce_only or closes(pside, side)  # no minimum notional (`_filtered`)
        try:
            order = super().place(
                symbol, type, side, amount, price,
                time_in_force=time_in_force, client_order_id=client_order_id,
            )  # fmt: skip
        except ccxt.OrderImmediatelyFillable:
            del self.flags_by_id[key]
            raise errs.refusal(
                ccxt.OrderNotFillable, self.exchange_id,
                f"{symbol}: post-only {side} at {price} would take", errs.POST_ONLY_REJECTED,
            ) from None  # fmt: skip
        except BaseException:
            self.flags_by_id.pop(key, None)
            raise
        finally:
            self._reducing = False
        resting = self._resting[symbol]
        if not order.is_open and order in resting:
            resting.remove(order)
        return order

    @staticmethod
    def _funds_needed(
        market: Market, side: Side, amount: Decimal, price: Decimal | None,
        walk: Iterable[tuple[Decimal, Decimal]],
    ) -> Decimal:  # fmt: skip
        """Nothing is locked in the spot sense: margin is checked in `place`."""
        return ZERO

    def _fill(
        self, order: SimOrder, qty: Decimal, price: Decimal, *, taker: bool, source: FillSource
    ) -> None:
        """A fill moves the position and the wallet, not spot balances."""
        if not order.is_open:
            return
        flags = self.flags_by_id[order.id]
        pside = flags.position_side
        if flags.reduce_only or closes(pside, order.side):
            qty = min(qty, self.ledger.reducible(order.symbol, pside, order.side))
            if qty <= 0:
                self._finish(order, OrderStatus.EXPIRED)
                return
        market = self.markets[order.symbol]
        cost = qty * market.contract_size * price
        rate = market.taker_fee if taker else market.maker_fee
        fee = self._commission(cost * rate)
        trade_id = str(self._next_trade)
        self._next_trade += 1
        self.pnl_by_trade[trade_id] = self.ledger.apply_fill(
            order.symbol, pside, order.side, qty, price, fee, self.now_ms, trade_id
        )
        order.filled += qty
        order.cost += cost
        order.fee += fee
        order.last_trade_timestamp = order.last_update_timestamp = self.now_ms
        trade = SimFill(
            id=trade_id, order_id=order.id, symbol=order.symbol, side=order.side, price=price,
            amount=qty, fee=fee, fee_currency=self.asset, fee_rate=rate, taker=taker,
            timestamp=self.now_ms, source=source,
        )  # fmt: skip
        order.trades.append(trade)
        self.trades.append(trade)
        self.books[order.symbol].see_trade(price, qty)
        if order.remaining == 0 and order.is_open and order in self._resting[order.symbol]:
            self._finish(order, OrderStatus.CLOSED)
        for other in self.open_orders(order.symbol):
            f = self.flags_by_id[other.id]
            closing = f.reduce_only or closes(f.position_side, other.side)
            if closing and self.ledger.reducible(other.symbol, f.position_side, other.side) <= 0:
                self._finish(other, OrderStatus.EXPIRED)

    # ---- settings and transfers (`perp_settings`) ---------------------------------------------

    def _as_engine(self) -> _Engine:
        """This engine as `perp_settings` sees one: it has every member those rules use."""
        return cast("_Engine", self)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        settings.set_leverage(self._as_engine(), symbol, leverage)

    def set_margin_mode(self, symbol: str, mode: MarginMode | str) -> None:
        settings.set_margin_mode(self._as_engine(), symbol, mode)

    def set_position_mode(self, hedged: bool) -> None:
        settings.set_position_mode(self._as_engine(), hedged)

    def add_margin(self, symbol: str, amount: Decimal, side: PerpSide = PerpSide.BOTH) -> None:
        settings.add_margin(self._as_engine(), symbol, amount, side)

    def transfer(self, amount: Decimal, from_account: str, to_account: str) -> TransferRecord:
        """Move `amount` between the linked spot account and the futures wallet."""
        if self.spot is None:
            raise ccxt.NotSupported(
                f"{self.exchange_id} transfer: the paper futures wallet is not linked to a paper"
                " spot account (its wallet started from a configured amount)"
            )
        return settings.transfer(self._as_engine(), amount, from_account, to_account)
