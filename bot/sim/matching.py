"""Order matching for one account against order books, with exact `Decimal` balances.

`Matcher` holds the account, the orders and the rules below for any books that satisfy `Book` (the
other participants' resting liquidity, without ours); `MatchingEngine` is the matcher of the
simulator's synthetic books (`model.BookModel`), which also runs their time and background trades.
Paper trading (`paper.py`) uses the same matcher on the books it observes on a real exchange.

Rules (Binance spot by default, where the simulator must choose):
- A taker order walks the opposite side level by level at the resting prices, up to its limit
  price, and removes what it takes from the book (which then refills, see `model.py`).
- A resting (maker) order fills at its own price when the market trades through it: when the
  synthetic opposite side moves onto its price, or when a background market order reaches it
  (behind `queue_ahead` of the synthetic quantity already at its price).
- Time in force: GTC rests; IOC fills what it can and expires the rest; FOK fills entirely or
  expires untouched; post-only (`PO`, or `postOnly`) is rejected with
  `ccxt.OrderImmediatelyFillable` when it would take. Market orders are sized in base units and
  expire whatever the visible book cannot fill.
- Fees are charged in the asset received, as Binance does by default: a buy pays its fee in base
  units (`amount * rate`), a sell in quote units (`cost * rate`). Maker or taker rate by how each
  fill happened (each trade is a `fills.SimFill` whose `source` says how). With `fee_asset` set
  (Binance's "pay fees with BNB"), a fill's fee is charged in that asset instead, worth the fee
  less `fee_discount` at the fee asset's mid against the market's quote, when a market prices it
  and the account holds enough; otherwise as usual.
  A fee is rounded half up to `commission_decimals` (Binance: 8, its commission precision;
  None, the matcher's default: exact), and the balances move by the rounded fee.
- Time: timestamps are the matcher's `now` plus `time_offset` seconds (an exchange whose clock
  is ahead of, or behind, the caller's).
- Balances: placing a limit buy locks `amount * price` of the quote, a limit sell locks `amount`
  of the base ('used'); each fill releases its share, a buy filled below its limit gets the
  difference back at once, and cancelling or expiring releases the rest. A market buy locks the
  exact cost of its walk.
- Self-trade prevention (Binance's default, EXPIRE_MAKER): an order that would take our own resting
  orders of the other side expires those resting orders first (approximated: any of ours priced
  at or better than the incoming limit).
- Filters (`filters.py`): price on the tick, amount on the step, the minimums (notional: for a
  market order, at the touch), and each market's `Filters` (maximums, MARKET_LOT_SIZE, the most
  open orders); each refusal names the filter. A client order id already used by an open order
  is refused with `ccxt.DuplicateOrderId`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, Protocol, TypeVar

import ccxt

from bot.domain.market import ZERO, Level, Market, Side
from bot.sim.account import (
    CLIENT_ORDER_ID,
    Account,
    OrderStatus,
    OrderType,
    SimOrder,
    TimeInForce,
)
from bot.sim.fills import FillSource, SimFill
from bot.sim.filters import Filters, check_filters


def crosses(side: Side, limit: Decimal | None, price: Decimal) -> bool:
    """Would an order of `side` with `limit` trade at `price` (None: a market order, always)?"""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


class Book(Protocol):
    """What matching needs of a market's book: the other participants' liquidity, not ours."""

    @property
    def market(self) -> Market: ...

    def levels(self, resting: Side) -> Sequence[Level]:
        """The levels of the side where `resting` orders sit, best first, quantities > 0."""
        ...

    def best(self, resting: Side) -> Decimal | None:
        """The best price of that side, None when it is empty."""
        ...

    def consume(self, resting: Side, price: Decimal, amount: Decimal) -> None:
        """Our order took `amount` at `price` from that side."""
        ...

    def see_trade(self, price: Decimal, amount: Decimal) -> None:
        """One of our orders traded (for the book's own tape, if it keeps one)."""
        ...


B = TypeVar("B", bound=Book)


class Matcher(Generic[B]):
    """One account trading on a set of books. Synchronous; time comes from the caller (`now`)."""

    def __init__(
        self,
        books: Mapping[str, B],
        balances: Mapping[str, Decimal],
        *,
        exchange_id: str = "sim",
        now: float = 0.0,
    ) -> None:
        self.books: dict[str, B] = {}
        self.markets: dict[str, Market] = {}
        self.account = Account(balances)
        self.exchange_id = exchange_id
        self.now = now
        self.time_offset = 0.0
        self.fee_asset: str | None = None
        self.fee_discount = ZERO
        # Decimals a commission is rounded to (half up), or None: exact.
        self.commission_decimals: int | None = None
        # Fees taken in the market's quote, a buy's on top of its cost (Kraken, Coinbase), rather
        # than out of the asset received.
        self.fees_in_quote = False
        # What a client order id must match (Binance's rule unless an exchange's is presented).
        self.client_id_pattern = CLIENT_ORDER_ID
        self.filters: dict[str, Filters] = {}
        self.orders: dict[str, SimOrder] = {}
        self.trades: list[SimFill] = []
        self._by_client: dict[str, list[SimOrder]] = {}
        self._resting: dict[str, list[SimOrder]] = {}
        self._next_order = 1
        self._next_trade = 1
        for symbol, book in books.items():
            self.add_book(symbol, book)

    def add_book(self, symbol: str, book: B, filters: Filters | None = None) -> None:
        """Trade `symbol` on `book` from now on (its base and quote appear in the balances),
        under `filters` beyond the market's own (none unless given)."""
        self.books[symbol] = book
        self.filters[symbol] = filters or Filters()
        self.markets[symbol] = book.market
        self.account.credit(book.market.base, ZERO)
        self.account.credit(book.market.quote, ZERO)
        self._resting.setdefault(symbol, [])

    # ---- time -------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return round((self.now + self.time_offset) * 1000)

    # ---- queries ----------------------------------------------------------------------------

    def market(self, symbol: str) -> Market:
        market = self.markets.get(symbol)
        if market is None:
            raise ccxt.BadSymbol(f"{self.exchange_id} does not have market symbol {symbol}")
        return market

    def find(
        self,
        order_id: str | None = None,
        client_order_id: str | None = None,
        symbol: str | None = None,
    ) -> SimOrder:
        """An order by client id (the latest with it) or by id; `ccxt.OrderNotFound` otherwise."""
        order: SimOrder | None = None
        if client_order_id is not None:
            found = self._by_client.get(client_order_id)
            order = found[-1] if found else None
        elif order_id is not None:
            order = self.orders.get(str(order_id))
        if order is None or (symbol is not None and order.symbol != symbol):
            which = f"clientOrderId {client_order_id}" if client_order_id else f"id {order_id}"
            raise ccxt.OrderNotFound(f"{self.exchange_id} order {which} not found (Unknown order)")
        return order

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        return [o for o in self.all_orders(symbol) if o.is_open]

    def all_orders(self, symbol: str | None = None) -> list[SimOrder]:
        return [o for o in self.orders.values() if symbol is None or o.symbol == symbol]

    def my_trades(self, symbol: str | None = None) -> list[SimFill]:
        return [t for t in self.trades if symbol is None or t.symbol == symbol]

    def book(self, symbol: str) -> tuple[list[Level], list[Level]]:
        """The public book (bids, asks) best first: the others' liquidity plus our resting ones."""
        book = self.books[self.market(symbol).symbol]
        sides = []
        for resting in (Side.BUY, Side.SELL):
            merged: dict[Decimal, Decimal] = {lv.price: lv.amount for lv in book.levels(resting)}
            for o in self._resting[symbol]:
                if o.side is resting and o.price is not None:
                    merged[o.price] = merged.get(o.price, ZERO) + o.remaining
            ordered = sorted(merged.items(), reverse=resting is Side.BUY)
            sides.append([Level(p, a) for p, a in ordered])
        return sides[0], sides[1]

    # ---- orders -----------------------------------------------------------------------------

    def _filtered(self, market: Market) -> Market:
        """The market whose filters an order being placed must meet (a subclass may waive
        some: the perpetuals' minimum notional for a reduce-only order)."""
        return market

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
    ) -> SimOrder:
        """Validate, lock funds, take what crosses, rest or expire the remainder."""
        market = self.market(symbol)
        book = self.books[symbol]
        post_only = time_in_force is TimeInForce.PO
        if type is OrderType.MARKET:
            price = None
            if time_in_force is not TimeInForce.GTC:
                raise self._invalid(symbol, "a market order takes no timeInForce")
        elif price is None:
            raise self._invalid(symbol, "a limit order needs a price")
        reference = self._best_opposite(symbol, side) if price is None else None
        check_filters(
            self.exchange_id,
            self._filtered(market),
            self.filters[symbol],
            amount,
            price,
            reference,
            len(self._resting[symbol]),
        )
        if client_order_id is not None:
            if not self.client_id_pattern.fullmatch(client_order_id):
                raise self._invalid(
                    symbol,
                    f"clientOrderId {client_order_id!r} must match"
                    f" {self.client_id_pattern.pattern}",
                )
            if any(o.is_open for o in self._by_client.get(client_order_id, ())):
                raise ccxt.DuplicateOrderId(
                    f"{self.exchange_id} clientOrderId {client_order_id} is already used by an"
                    " open order (Duplicate order sent.)"
                )
        if post_only:
            assert price is not None
            best = self._best_opposite(symbol, side)
            if best is not None and crosses(side, price, best):
                raise ccxt.OrderImmediatelyFillable(
                    f"{self.exchange_id} post-only {side} {symbol} at {price} would take"
                    f" liquidity at {best} (Order would immediately match and take.)"
                )
        walk = self._walkable(book, side, price)
        need = self._funds_needed(market, side, amount, price, walk)
        if self.fees_in_quote and side is Side.BUY:  # the fee is held with the cost
            need += need * market.max_fee
        spends = market.quote if side is Side.BUY else market.base
        have = self.account.free.get(spends, ZERO)
        if have < need:
            raise ccxt.InsufficientFunds(
                f"{self.exchange_id} account has insufficient balance for requested action:"
                f" {side} {amount} {symbol} needs {need} {spends}, {have} free"
            )

        seq = self._next_order
        self._next_order += 1
        order = SimOrder(
            id=str(seq),
            client_order_id=client_order_id or f"sim-{seq}",
            symbol=symbol,
            type=type,
            side=side,
            price=price,
            amount=amount,
            time_in_force=time_in_force,
            post_only=post_only,
            timestamp=self.now_ms,
            fee_currency=market.quote if self.fees_in_quote or side is Side.SELL else market.base,
            seq=seq,
            locked=need,
            last_update_timestamp=self.now_ms,
        )
        self.account.lock(spends, need)
        self.orders[order.id] = order
        self._by_client.setdefault(order.client_order_id, []).append(order)

        if not post_only:
            self._prevent_self_trade(order)
            fillable = sum((q for _, q in walk), ZERO)
            if time_in_force is TimeInForce.FOK and fillable < amount:
                self._finish(order, OrderStatus.EXPIRED)
                return order
            self._take(order, book, walk)
        if order.remaining == 0:
            self._finish(order, OrderStatus.CLOSED)
        elif type is OrderType.MARKET or time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            self._finish(order, OrderStatus.EXPIRED)
        else:
            self._resting[symbol].append(order)
        return order

    def cancel(
        self,
        order_id: str | None = None,
        client_order_id: str | None = None,
        symbol: str | None = None,
    ) -> SimOrder:
        order = self.find(order_id, client_order_id, symbol)
        if not order.is_open:
            raise ccxt.OrderNotFound(
                f"{self.exchange_id} order {order.id} is {order.status}, not open (Unknown order"
                " sent.)"
            )
        self._finish(order, OrderStatus.CANCELED)
        return order

    # ---- internals --------------------------------------------------------------------------

    def _invalid(self, symbol: str, why: str) -> ccxt.InvalidOrder:
        return ccxt.InvalidOrder(f"{self.exchange_id} {symbol}: {why}")

    def _best_opposite(self, symbol: str, side: Side) -> Decimal | None:
        """The best price an order of `side` could take: the others' or our own resting orders."""
        resting = side.opposite
        prices = [o.price for o in self._resting[symbol] if o.side is resting and o.price]
        best = self.books[symbol].best(resting)
        if best is not None:
            prices.append(best)
        if not prices:
            return None
        return min(prices) if side is Side.BUY else max(prices)

    @staticmethod
    def _walkable(book: Book, side: Side, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """(price, quantity) of the others' levels an order of `side` may take, best first."""
        out = []
        for lv in book.levels(side.opposite):
            if not crosses(side, limit, lv.price):
                break
            out.append((lv.price, lv.amount))
        return out

    @staticmethod
    def _funds_needed(
        market: Market,
        side: Side,
        amount: Decimal,
        price: Decimal | None,
        walk: Iterable[tuple[Decimal, Decimal]],
    ) -> Decimal:
        if side is Side.SELL:
            return amount
        if price is not None:
            return amount * price
        left, cost = amount, ZERO
        for p, q in walk:
            take = min(left, q)
            cost += take * p
            left -= take
            if left == 0:
                break
        return cost

    def _prevent_self_trade(self, order: SimOrder) -> None:
        resting = order.side.opposite
        for other in list(self._resting[order.symbol]):
            if (
                other.side is resting
                and other.price is not None
                and crosses(order.side, order.price, other.price)
            ):
                self._finish(other, OrderStatus.EXPIRED)

    def _take(self, order: SimOrder, book: Book, walk: list[tuple[Decimal, Decimal]]) -> None:
        for price, qty in walk:
            q = min(order.remaining, qty)
            book.consume(order.side.opposite, price, q)
            self._fill(order, q, price, taker=True, source=FillSource.TAKER)
            if order.remaining == 0:
                return

    def _fill(
        self, order: SimOrder, qty: Decimal, price: Decimal, *, taker: bool, source: FillSource
    ) -> None:
        market = self.markets[order.symbol]
        cost = qty * price
        rate = market.taker_fee if taker else market.maker_fee
        received, got = (market.base, qty) if order.side is Side.BUY else (market.quote, cost)
        paid_in, fee = self._fee_in_asset(market, cost * rate)
        held = ZERO  # a buy's fee in the quote, paid from what the order holds
        if paid_in is None and self.fees_in_quote and order.side is Side.BUY:
            paid_in, fee = market.quote, self._commission(cost * rate)
            held = fee
        elif paid_in is None:  # the fee comes out of what the fill delivers
            paid_in, fee = received, self._commission(got * rate)
            got -= fee
        else:
            self.account.credit(paid_in, -fee)
            order.other_fees[paid_in] = order.other_fees.get(paid_in, ZERO) + fee
        if order.side is Side.BUY:
            release = qty * order.price if order.price is not None else cost
            self.account.spend_locked(market.quote, release + held)
            self.account.credit(market.quote, release - cost)
            release += held
        else:
            release = qty
            self.account.spend_locked(market.base, qty)
        self.account.credit(received, got)
        order.locked -= release
        order.filled += qty
        order.cost += cost
        if paid_in == order.fee_currency:
            order.fee += fee
        order.last_trade_timestamp = order.last_update_timestamp = self.now_ms
        trade = SimFill(
            id=str(self._next_trade),
            order_id=order.id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            amount=qty,
            fee=fee,
            fee_currency=paid_in,
            fee_rate=rate,
            taker=taker,
            timestamp=self.now_ms,
            source=source,
        )
        self._next_trade += 1
        order.trades.append(trade)
        self.trades.append(trade)
        self.books[order.symbol].see_trade(price, qty)
        if order.remaining == 0 and order.is_open and order in self._resting[order.symbol]:
            self._finish(order, OrderStatus.CLOSED)

    def _fee_in_asset(self, market: Market, quote_fee: Decimal) -> tuple[str | None, Decimal]:
        """(fee asset, amount) for a fee worth `quote_fee` of the market's quote, when fees are
        paid in a fee asset that a market prices against that quote and the account holds
        enough of; (None, 0) otherwise."""
        asset = self.fee_asset
        if asset is None or asset in (market.base, market.quote) or quote_fee <= 0:
            return None, ZERO
        book = self.books.get(f"{asset}/{market.quote}")
        bid = book.best(Side.BUY) if book is not None else None
        ask = book.best(Side.SELL) if book is not None else None
        if bid is None or ask is None:
            return None, ZERO
        amount = self._commission(quote_fee * (1 - self.fee_discount) / ((bid + ask) / 2))
        if self.account.free.get(asset, ZERO) < amount:
            return None, ZERO
        return asset, amount

    def _commission(self, fee: Decimal) -> Decimal:
        """A fee as charged: rounded half up to `commission_decimals`, or exact."""
        if self.commission_decimals is None:
            return fee
        return fee.quantize(Decimal(1).scaleb(-self.commission_decimals), ROUND_HALF_UP)

    def _finish(self, order: SimOrder, status: OrderStatus) -> None:
        market = self.markets[order.symbol]
        spends = market.quote if order.side is Side.BUY else market.base
        if order.locked:
            self.account.unlock(spends, order.locked)
            order.locked = ZERO
        order.status = status
        order.last_update_timestamp = self.now_ms
        resting = self._resting[order.symbol]
        if order in resting:
            resting.remove(order)

    def _priority(self, symbol: str, side: Side) -> list[SimOrder]:
        """Our resting orders of `side`, best price first, then oldest first."""
        mine = [o for o in self._resting[symbol] if o.side is side and o.price is not None]
        sign = -1 if side is Side.BUY else 1
        return sorted(mine, key=lambda o: (sign * (o.price or ZERO), o.seq))

    def fill_crossed(self, symbol: str) -> None:
        """Fill our resting orders that the opposite side has moved onto, at their own price, as
        makers, taking (`consume`) at most the quantity shown at or beyond each order's price."""
        book = self.books[symbol]
        for side in Side:
            orders = self._priority(symbol, side)
            best = book.best(side.opposite) if orders else None
            if best is None:
                continue
            for order in orders:
                assert order.price is not None
                if not crosses(side, order.price, best):
                    break
                for lv in book.levels(side.opposite):
                    if not crosses(side, order.price, lv.price) or not order.is_open:
                        break
                    q = min(order.remaining, lv.amount)
                    book.consume(side.opposite, lv.price, q)
                    self._fill(order, q, order.price, taker=False, source=FillSource.BOOK)
