"""Linear USDT-margined perpetual futures (Binance USD-M), in process, on the spot simulator's
clock and market: `PerpEngine` is the futures account and its matching; `perp_exchange.
SimPerpExchange` serves it through ccxt's unified async API.

Public interface (stable; additions only):

    perp_market.PerpSpec(market, underlying, top_depth, regime, level_spacing_ticks,
        maintenance_margin_rate, max_leverage, default_leverage, funding_interval, interest_rate,
        premium_clamp, funding_cap, mark_clamp, liquidation_fee, basis, basis_noise)
    perp_account: PerpSide (BOTH/LONG/SHORT), MarginMode (cross/isolated), IncomeType,
        PerpPosition, FuturesBalance, Income, Liquidation, TransferRecord
    PerpEngine(spot, specs, wallet, *, seed=0, step_seconds=1.0, exchange_id="sim")
        .from_scenario(scenario, spot) -> PerpEngine           (classmethod)
        .spot: MatchingEngine; .specs: dict[str, PerpSpec]; .asset: str ("USDT")
        .hedged: bool; .liquidations: list[Liquidation]; .incomes: list[Income];
        .transfers: list[TransferRecord]
        .advance_to(t)                  run spot and perps to t: fills, funding, liquidations
        .index_price(symbol), .mark_price(symbol), .premium(symbol) -> Decimal
        .funding_rate(symbol) (predicted, next settlement), .last_funding_rate(symbol) (last
        settled, 0 before one) -> Decimal; .next_funding_time(symbol) -> float (epoch s)
        .balance() -> FuturesBalance; .order_margin() -> Decimal (open orders' margin)
        .positions(symbol=None) -> list[PerpPosition]   open ones (amount != 0)
        .position(symbol, side=PerpSide.BOTH) -> PerpPosition   (flat if none)
        .leverage(symbol) -> int; .margin_mode(symbol) -> MarginMode
        .set_leverage(symbol, leverage); .set_margin_mode(symbol, mode)
        .set_position_mode(hedged); .add_margin(symbol, amount, side=PerpSide.BOTH)
        .open_position(symbol, side, contracts, entry, *, leverage, margin_mode) (a start state)
        .transfer(amount, from_account, to_account) -> TransferRecord   ("spot" / "future")
        .place(symbol, type, side, amount, price=None, *, time_in_force, client_order_id,
               reduce_only=False, position_side=None) -> SimOrder
        .cancel(order_id, client_order_id, symbol) -> SimOrder; .find(...); .open_orders(...)
        .all_orders(...); .my_trades(...); .book(symbol)   (as `matching.Matcher`)
        .flags(order_id) -> OrderFlags(reduce_only, position_side)
        .trade_pnl(trade_id) -> Decimal   realised PnL of one of our fills
    perp_errors.binance_code(exc) -> (code, msg) | None   the Binance error a refusal stands for
    perp_exchange.SimPerpExchange(engine, clock, *, exchange_id="sim", latency=0.0): ccxt's
        unified async API (see its docstring), .from_scenario(scenario, spot: SimExchange),
        .charge(method, weight); perp_exchange.sim_pair(scenario, clock) -> (spot, perps)

Rules (Binance USD-M where the simulator must choose):
- Amounts are contracts; a fill of q contracts at p moves the position: an increase averages the
  entry price (by contracts), a decrease realises q * size * (p - entry) (sign by side) into the
  wallet (REALIZED_PNL income); a one-way order that crosses zero closes, then opens the rest at
  p. Fees (maker/taker of the notional) come from the wallet (COMMISSION income).
- Initial margin = notional / leverage. Open orders hold the margin of their opening part (what
  does not reduce the position they trade against) at their limit price (market: the mark); a new
  order whose margin exceeds `available` is refused (`ccxt.InsufficientFunds`, -2019).
- Isolated: a position's collateral is the initial margin of each opening fill, taken from the
  cross wallet, plus `add_margin`; a decrease releases its share; funding is paid from it.
- reduceOnly: refused if it would increase the position or exceed it (-2022); in hedge mode it is
  refused (-1106): positionSide LONG/SHORT names the position, and an order closing it may not
  exceed it (-2022). A reduce-only or closing order left with nothing to reduce expires.
  positionSide must be BOTH (or absent) in one-way mode, LONG or SHORT in hedge mode (-4061).
  A post-only (GTX) order that would take is refused (`ccxt.OrderNotFillable`, -5022).
- Funding (`perp_market`): at each settlement every position receives -notional(mark) * rate
  (longs pay a positive rate), in the cross wallet or its isolated margin (FUNDING_FEE income).
- Liquidation, checked at each step of `advance_to` (every `step_seconds` while a position is
  open, so a spot jump is seen within one step, whether or not anyone calls): an isolated
  position when its margin + unrealised PnL < its maintenance margin; in cross, while the cross
  wallet + cross unrealised PnL < the cross maintenance margin, the position with the worst
  unrealised PnL first. It closes at the mark, cancels the symbol's open orders, charges
  `liquidation_fee` of the notional capped by the margin left (INSURANCE_CLEAR income), never
  takes the wallet below zero (the insurance fund's loss) and appends a `Liquidation`.
- Transfers: spot -> future up to the spot account's free balance, future -> spot up to
  `available` less unrealised profit; beyond, `ccxt.InsufficientFunds` (-5013).
- Position mode only with no position (-4068) and no open order (-4067) at all; margin mode only
  with none on the symbol (-4048/-4047); the same mode again: -4059/-4046. Leverage 1..max
  (-4028); lowering it needs the margin (-2019).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

import ccxt

from bot.domain.market import ZERO, Market, Side
from bot.sim import perp_errors as errs
from bot.sim import perp_settings as settings
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from bot.sim.engine import MatchingEngine
from bot.sim.fills import FillSource, SimFill
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
from bot.sim.perp_market import (
    PerpBook,
    PerpSpec,
    PremiumPath,
    funding_rate,
    index_of,
    mark_of,
    next_funding_time,
)

if TYPE_CHECKING:
    from bot.sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class OrderFlags:
    """What a futures order carries beyond a spot one."""

    reduce_only: bool
    position_side: PerpSide


class PerpEngine(MatchingEngine):
    """One futures account trading the perps of `specs`, on the spot engine's market and time
    (see the module docstring)."""

    def __init__(
        self,
        spot: MatchingEngine,
        specs: Sequence[PerpSpec],
        wallet: Decimal,
        *,
        seed: int = 0,
        step_seconds: float = 1.0,
        exchange_id: str = "sim",
    ) -> None:
        self.spot = spot
        self.specs: dict[str, PerpSpec] = {s.symbol: s for s in specs}
        quotes = {s.market.quote for s in specs}
        if len(quotes) > 1:
            raise ValueError(f"perps settle in one asset, got {sorted(quotes)}")
        for s in specs:
            if s.underlying not in spot.markets:
                raise ValueError(f"perp {s.symbol}: underlying {s.underlying} is not a spot market")
        self.asset = quotes.pop() if quotes else "USDT"
        self._premium = {s.symbol: PremiumPath(s, seed) for s in specs}
        books: dict[str, PerpBook] = {}
        for s in specs:
            books[s.symbol] = PerpBook(
                market=s.market,
                regime=replace(s.regime, volatility=0.0),
                price=self._fair(s.symbol, spot.now),
                top_depth=s.top_depth,
                rng=random.Random(f"{seed}/perp-book/{s.symbol}"),
                start=spot.now,
                level_spacing_ticks=s.level_spacing_ticks,
            )
        self.perp_books = books
        super().__init__(books, {}, step_seconds=step_seconds, exchange_id=exchange_id)
        self.now = spot.now
        self.fees_in_quote = True  # fees in the settlement asset, from the wallet
        self.ledger = FuturesLedger(
            self.specs, wallet, self.mark_price, asset=self.asset, exchange_id=exchange_id
        )
        self.transfers: list[TransferRecord] = []
        self._flags: dict[str, OrderFlags] = {}
        self._reducing = False  # the order being placed only reduces (`_filtered`)
        self._pnl: dict[str, Decimal] = {}
        self._next_funding = {
            s.symbol: next_funding_time(self.now, s.funding_interval) for s in specs
        }
        self._last_rate: dict[str, Decimal] = dict.fromkeys(self.specs, ZERO)

    # ---- state ------------------------------------------------------------------------------

    @property
    def hedged(self) -> bool:
        return self.ledger.hedged

    @property
    def liquidations(self) -> list[Liquidation]:
        return self.ledger.liquidations

    @property
    def incomes(self) -> list[Income]:
        return self.ledger.incomes

    def spec(self, symbol: str) -> PerpSpec:
        spec = self.specs.get(symbol)
        if spec is None:
            raise ccxt.BadSymbol(f"{self.exchange_id} does not have market symbol {symbol}")
        return spec

    def flags(self, order_id: str) -> OrderFlags:
        return self._flags[order_id]

    def trade_pnl(self, trade_id: str) -> Decimal:
        return self._pnl.get(trade_id, ZERO)

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

    # ---- prices -----------------------------------------------------------------------------

    def index_price(self, symbol: str) -> Decimal:
        return index_of(self.spot.true_mid(self.spec(symbol).underlying))

    def premium(self, symbol: str) -> Decimal:
        return self._premium[self.spec(symbol).symbol].at(self.now)

    def mark_price(self, symbol: str) -> Decimal:
        return mark_of(self.spec(symbol), self.index_price(symbol), self.premium(symbol))

    def _fair(self, symbol: str, t: float) -> Decimal:
        spec = self.specs[symbol]
        mid = index_of(self.spot.true_mid(spec.underlying))
        return mid * (1 + self._premium[symbol].at(t))

    def funding_rate(self, symbol: str) -> Decimal:
        spec = self.spec(symbol)
        end = self._next_funding[spec.symbol]
        start = end - spec.funding_interval
        return funding_rate(spec, self._premium[spec.symbol].average(start, max(self.now, start)))

    def last_funding_rate(self, symbol: str) -> Decimal:
        return self._last_rate[self.spec(symbol).symbol]

    def next_funding_time(self, symbol: str) -> float:
        return self._next_funding[self.spec(symbol).symbol]

    # ---- time -------------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Run the spot market and the perps up to `t`: in steps of `step_seconds` while a
        position is open or an order rests (fills, liquidations), stopping at every funding
        settlement; in one jump otherwise."""
        while self.now < t:
            busy = bool(self.ledger.positions()) or any(self._resting.values())
            target = min(t, self.now + self.step_seconds) if busy else t
            target = min(target, *self._next_funding.values()) if self.specs else target
            self._step(target)
        self.spot.advance_to(t)
        for symbol, book in self.perp_books.items():  # books nothing rests on: only now
            book.follow(self.now, self._fair(symbol, self.now))

    def _step(self, t: float) -> None:
        dt = t - self.now
        self.spot.advance_to(t)
        self.now = t
        for symbol, book in self.perp_books.items():
            if self._resting[symbol]:
                book.follow(t, self._fair(symbol, t))
                self.fill_crossed(symbol)
                for p in book.background(dt):
                    self._fill_from_print(symbol, p)
        for symbol, due in self._next_funding.items():
            if due <= t:
                self._settle(symbol, due)
        self._liquidate()

    def _settle(self, symbol: str, due: float) -> None:
        spec = self.specs[symbol]
        rate = funding_rate(spec, self._premium[symbol].average(due - spec.funding_interval, due))
        self.ledger.settle_funding(symbol, rate, self.mark_price(symbol), self.now_ms)
        self._last_rate[symbol] = rate
        self._next_funding[symbol] = due + spec.funding_interval

    def _liquidate(self) -> None:
        for symbol in self.ledger.liquidate_due(self.now_ms):
            for order in list(self._resting[symbol]):
                self._finish(order, OrderStatus.CANCELED)

    # ---- margin -----------------------------------------------------------------------------

    def order_margin(
        self, extra: SimOrder | None = None, flags: OrderFlags | None = None
    ) -> Decimal:
        """Initial margin of the open orders (and `extra`, not yet placed): per symbol, position
        and side, the opening part of their remaining contracts at their prices, over the
        leverage."""
        entries = [
            (o.symbol, self._flags[o.id].position_side, o.side, o.remaining,
             o.price or self.mark_price(o.symbol))
            for o in self.open_orders() if not self._flags[o.id].reduce_only
        ]  # fmt: skip
        if extra is not None and flags is not None:
            price = extra.price or self.mark_price(extra.symbol)
            entries.append((extra.symbol, flags.position_side, extra.side, extra.remaining, price))
        return self.ledger.orders_margin(entries)

    # ---- orders -----------------------------------------------------------------------------

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
        """Check the futures rules (position side, reduce-only, margin), then match as spot."""
        symbol = self.spec(symbol).symbol
        pside = settings.position_side(self, symbol, position_side, reduce_only)
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
        self._flags[key] = flags
        # Binance waives the minimum notional for an order that only reduces (-4164: "unless
        # you choose reduce only"): a position smaller than it can still be cut or closed.
        self._reducing = reduce_only or closes(pside, side)
        try:
            order = super().place(
                symbol, type, side, amount, price,
                time_in_force=time_in_force, client_order_id=client_order_id,
            )  # fmt: skip
        except ccxt.OrderImmediatelyFillable:
            del self._flags[key]
            raise errs.refusal(
                ccxt.OrderNotFillable, self.exchange_id,
                f"{symbol}: post-only {side} at {price} would take", errs.POST_ONLY_REJECTED,
            ) from None  # fmt: skip
        except BaseException:
            self._flags.pop(key, None)
            raise
        finally:
            self._reducing = False
        resting = self._resting[symbol]
        if not order.is_open and order in resting:
            resting.remove(order)
        return order

    def _filtered(self, market: Market) -> Market:
        return replace(market, min_cost=ZERO) if self._reducing else market

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
        flags = self._flags[order.id]
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
        self._pnl[trade_id] = self.ledger.apply_fill(
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
            f = self._flags[other.id]
            closing = f.reduce_only or closes(f.position_side, other.side)
            if closing and self.ledger.reducible(other.symbol, f.position_side, other.side) <= 0:
                self._finish(other, OrderStatus.EXPIRED)

    # ---- settings and transfers (`perp_settings`) ---------------------------------------------

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Leverage 1..max (-4028); lowering it needs the margin (-2019)."""
        settings.set_leverage(self, symbol, leverage)

    def set_margin_mode(self, symbol: str, mode: MarginMode | str) -> None:
        """ "cross" or "isolated", with no position or open order on the symbol."""
        settings.set_margin_mode(self, symbol, mode)

    def set_position_mode(self, hedged: bool) -> None:
        """Hedge (True) or one-way mode, with no position or open order at all."""
        settings.set_position_mode(self, hedged)

    def add_margin(self, symbol: str, amount: Decimal, side: PerpSide = PerpSide.BOTH) -> None:
        """Move `amount` from the cross wallet to an isolated position's margin."""
        settings.add_margin(self, symbol, amount, side)

    def open_position(
        self, symbol: str, side: str, contracts: Decimal, entry: Decimal, *,
        leverage: int | None = None, margin_mode: MarginMode | str | None = None,
    ) -> PerpPosition:  # fmt: skip
        """Start with a `side` ("long"/"short") position at `entry` (a scenario's state)."""
        return settings.open_position(self, symbol, side, contracts, entry, leverage, margin_mode)

    def transfer(self, amount: Decimal, from_account: str, to_account: str) -> TransferRecord:
        """Move `amount` of the settlement asset between "spot" and "future"."""
        return settings.transfer(self, amount, from_account, to_account)

    @classmethod
    def from_scenario(cls, scenario: Scenario, spot: MatchingEngine) -> PerpEngine:
        """The futures account of `scenario` (its `perps` and `futures` tables) beside `spot`,
        the spot engine of the same scenario, from the spot engine's time."""
        engine = cls(
            spot, scenario.perp_specs(), scenario.futures.wallet, seed=scenario.seed,
            step_seconds=scenario.step_seconds,
        )  # fmt: skip
        settings.configure(engine, scenario)
        return engine
