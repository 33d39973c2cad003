"""`MatchingEngine`: the matcher (`matching.Matcher`) of the simulator's synthetic books, which
also runs their time: fine steps where our orders rest (the synthetic side may move onto them,
background market orders may reach them), one exact jump elsewhere.

A book with its own background flow (`model.QueuedBook`: the queue book, `queue.QueueBook`,
`book_model = "queue"`, and the order-flow book, `flowbook.FlowBook`, `book_model = "flow"`)
always runs in fine steps, on the grid of `step_seconds` from its start, whether or not our
orders rest on it: its background orders consume its levels and move its price, so the market it
shows does not depend on how often it is looked at. Our resting orders on it hold a queue
position (`queue_ahead`), and each of our fills says how it happened (`fills.SimFill.source`).
`true_mid(symbol)` is a book's fair mid (the flow book's: its background mid, ours excluded).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.domain.market import ZERO, Side, floor_to_step
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from bot.sim.fills import FillSource
from bot.sim.matching import Matcher, crosses
from bot.sim.model import BookModel, Print, QueuedBook


class MatchingEngine(Matcher[BookModel]):
    """One account trading on the simulator's synthetic books, which it runs in time."""

    def __init__(
        self,
        books: Mapping[str, BookModel],
        balances: Mapping[str, Decimal],
        *,
        step_seconds: float = 1.0,
        exchange_id: str = "sim",
    ) -> None:
        if step_seconds <= 0:
            raise ValueError(f"step_seconds must be > 0, got {step_seconds}")
        now = max((b.t for b in books.values()), default=0.0)
        super().__init__(books, balances, exchange_id=exchange_id, now=now)
        self.step_seconds = step_seconds

    def true_mid(self, symbol: str) -> Decimal:
        """The model's fair mid of `symbol` now (the walk the book follows, off the tick grid; a
        flow book's: the mid of its background orders alone)."""
        return self.books[self.market(symbol).symbol].mid

    def queue_ahead(self, order_id: str) -> Decimal | None:
        """What rests ahead of our order at its price on a queue book (None: not on one)."""
        order = self.orders.get(order_id)
        book = self.books.get(order.symbol) if order is not None else None
        return book.queue_ahead(order_id) if isinstance(book, QueuedBook) else None

    def background_trade(self, symbol: str, p: Print) -> None:
        """A background market order now, outside the book's own flow (tests, scripted shocks):
        it reaches our resting orders as the book's own do."""
        self._fill_from_print(self.market(symbol).symbol, p)

    def advance_to(self, t: float) -> None:
        """Run every book up to time `t`: fine steps where our orders rest, one jump elsewhere."""
        dt = self.step_seconds
        for symbol, book in self.books.items():
            resting = self._resting[symbol]
            queued = isinstance(book, QueuedBook)
            while (resting or queued) and book.t + dt <= t:
                prints = book.step(dt)
                self.now = book.t
                self.fill_crossed(symbol)
                for p in prints:
                    self._fill_from_print(symbol, p)
            if not resting and not queued:
                book.jump_to(t)
        self.now = max(self.now, t)

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
        order = super().place(
            symbol,
            type,
            side,
            amount,
            price,
            time_in_force=time_in_force,
            client_order_id=client_order_id,
        )
        book = self.books[order.symbol]
        if isinstance(book, QueuedBook) and order.is_open and order.price is not None:
            book.join(order.id, order.side, order.price, order.remaining)
        return order

    def _finish(self, order: SimOrder, status: OrderStatus) -> None:
        super()._finish(order, status)
        book = self.books[order.symbol]
        if isinstance(book, QueuedBook):
            book.leave(order.id)

    def _fill_from_print(self, symbol: str, p: Print) -> None:
        """A background market order walks the resting side, ours included, at their prices."""
        resting = p.aggressor.opposite
        ours = self._priority(symbol, resting)
        book = self.books[symbol]
        if isinstance(book, QueuedBook):
            mine = {o.id: o for o in ours}
            queued = [(o.id, o.price, o.remaining) for o in ours if o.price is not None]
            for order_id, price, q in book.apply_print(p, queued):
                self._fill(mine[order_id], q, price, taker=False, source=FillSource.TRADE)
            return
        if not ours:
            return
        synthetic = {lv.price: lv.amount for lv in book.levels(resting)}
        worst = ours[-1].price
        assert worst is not None
        prices = sorted(
            {*synthetic, *(o.price for o in ours if o.price is not None)},
            reverse=resting is Side.BUY,
        )
        left = p.amount
        step = self.markets[symbol].amount_step
        for price in prices:
            if left <= 0 or not crosses(p.aggressor, worst, price):
                break
            here = synthetic.get(price, ZERO)
            ahead = floor_to_step(here * Decimal(repr(book.regime.queue_ahead)), step)
            left -= min(left, ahead)
            for order in (o for o in ours if o.price == price and o.is_open):
                q = min(left, order.remaining)
                if q <= 0:
                    break
                self._fill(order, q, price, taker=False, source=FillSource.TRADE)
                left -= q
            left -= min(left, here - ahead)
