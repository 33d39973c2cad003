"""`MatchingEngine`: the matcher (`matching.Matcher`) of the simulator's synthetic books, which
also runs their time: fine steps where our orders rest (the synthetic side may move onto them,
background market orders may reach them), one exact jump elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.domain.market import ZERO, Side, floor_to_step
from bot.sim.matching import Matcher, crosses
from bot.sim.model import BookModel, Print


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

    def advance_to(self, t: float) -> None:
        """Run every book up to time `t`: fine steps where our orders rest, one jump elsewhere."""
        dt = self.step_seconds
        for symbol, book in self.books.items():
            resting = self._resting[symbol]
            while resting and book.t + dt <= t:
                prints = book.step(dt)
                self.now = book.t
                self.fill_crossed(symbol)
                for p in prints:
                    self._fill_from_print(symbol, p)
            if not resting:
                book.jump_to(t)
        self.now = max(self.now, t)

    def _fill_from_print(self, symbol: str, p: Print) -> None:
        """A background market order walks the resting side, ours included, at their prices."""
        resting = p.aggressor.opposite
        ours = self._priority(symbol, resting)
        if not ours:
            return
        book = self.books[symbol]
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
                self._fill(order, q, price, taker=False)
                left -= q
            left -= min(left, here - ahead)
