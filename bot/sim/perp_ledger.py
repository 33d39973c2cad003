"""`FuturesLedger`: the futures wallet and its positions, and the rules that move them (fills,
funding, liquidation, transfers, margin settings), exact. Orders and matching are `perp.py`'s;
the ledger sees marks through the callable it is given. See `perp.py` for the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import ccxt

from bot.domain.market import ZERO, Side
from bot.sim import perp_errors as errs
from bot.sim.perp_account import (
    FuturesBalance,
    Income,
    IncomeType,
    Liquidation,
    MarginMode,
    PerpPosition,
    PerpSide,
    liquidation_price,
)
from bot.sim.perp_market import PerpSpec, funding_payment

Mark = Callable[[str], Decimal]


class FuturesLedger:
    """One futures account: wallet, positions, settings, income and liquidation records."""

    def __init__(
        self,
        specs: Mapping[str, PerpSpec],
        wallet: Decimal,
        mark: Mark,
        *,
        asset: str = "USDT",
        exchange_id: str = "sim",
    ) -> None:
        self.specs = dict(specs)
        self.wallet = Decimal(wallet)
        self.mark = mark
        self.asset = asset
        self.exchange_id = exchange_id
        self.hedged = False
        self.leverage: dict[str, int] = {s: p.default_leverage for s, p in self.specs.items()}
        self.margin_mode: dict[str, MarginMode] = dict.fromkeys(self.specs, MarginMode.CROSS)
        self._positions: dict[tuple[str, PerpSide], PerpPosition] = {}
        self.incomes: list[Income] = []
        self.liquidations: list[Liquidation] = []
        self._next_income = 1

    # ---- positions --------------------------------------------------------------------------

    def position(self, symbol: str, side: PerpSide = PerpSide.BOTH) -> PerpPosition:
        """The position of `symbol` on `side` (created flat on first use)."""
        key = (symbol, side)
        pos = self._positions.get(key)
        if pos is None:
            spec = self.specs[symbol]
            pos = PerpPosition(
                symbol=symbol,
                side=side,
                amount=ZERO,
                entry_price=ZERO,
                leverage=self.leverage[symbol],
                margin_mode=self.margin_mode[symbol],
                contract_size=spec.market.contract_size,
            )
            self._positions[key] = pos
        return pos

    def positions(self, symbol: str | None = None) -> list[PerpPosition]:
        """Open positions (amount != 0), of `symbol` or all, in a stable order."""
        return [
            p
            for (s, _), p in sorted(self._positions.items())
            if p.amount != 0 and (symbol is None or s == symbol)
        ]

    def opening(self, symbol: str, pside: PerpSide, side: Side, qty: Decimal) -> Decimal:
        """How much of `qty` contracts of `side` on position `pside` would open or increase it
        (the rest reduces it)."""
        pos = self.position(symbol, pside)
        if pside is PerpSide.LONG:
            return qty if side is Side.BUY else ZERO
        if pside is PerpSide.SHORT:
            return qty if side is Side.SELL else ZERO
        against = -pos.amount if side is Side.BUY else pos.amount
        return max(qty - max(against, ZERO), ZERO)

    def orders_margin(
        self, orders: Iterable[tuple[str, PerpSide, Side, Decimal, Decimal]]
    ) -> Decimal:
        """Initial margin of open orders given as (symbol, position side, side, contracts,
        price): per symbol, position and side, the opening part of their contracts at their
        average price, over the leverage."""
        groups: dict[tuple[str, PerpSide, Side], list[tuple[Decimal, Decimal]]] = {}
        for symbol, pside, side, qty, price in orders:
            groups.setdefault((symbol, pside, side), []).append((qty, price))
        total = ZERO
        for (symbol, pside, side), group in groups.items():
            qty = sum((q for q, _ in group), ZERO)
            if qty <= 0:
                continue
            value = sum((q * p for q, p in group), ZERO)
            opening = self.opening(symbol, pside, side, qty)
            size = self.specs[symbol].market.contract_size
            total += value * size * opening / qty / self.leverage[symbol]
        return total

    def reducible(self, symbol: str, pside: PerpSide, side: Side) -> Decimal:
        """Contracts an order of `side` on `pside` may reduce (0: it can only increase)."""
        pos = self.position(symbol, pside)
        if side is Side.BUY:
            return max(-pos.amount, ZERO)
        return max(pos.amount, ZERO)

    def apply_fill(
        self, symbol: str, pside: PerpSide, side: Side, qty: Decimal, price: Decimal, fee: Decimal,
        now_ms: int, trade_id: str,
    ) -> Decimal:  # fmt: skip
        """Move position `pside` of `symbol` by a fill; charge `fee`; the realised PnL."""
        pos = self.position(symbol, pside)
        signed = qty if side is Side.BUY else -qty
        pnl = ZERO
        if pos.amount != 0 and (pos.amount > 0) != (signed > 0):
            close = min(qty, abs(pos.amount))
            direction = 1 if pos.amount > 0 else -1
            pnl = close * pos.contract_size * (price - pos.entry_price) * direction
            if pos.margin_mode is MarginMode.ISOLATED:
                pos.isolated_margin -= pos.isolated_margin * close / abs(pos.amount)
            pos.amount -= close * direction
            if pos.amount == 0:
                pos.entry_price = ZERO
                pos.isolated_margin = ZERO
            self.wallet += pnl
            self._income(symbol, IncomeType.REALIZED_PNL, pnl, now_ms, trade_id=trade_id)
            qty -= close
        if qty > 0:
            self._increase(pos, qty if signed > 0 else -qty, price)
        pos.updated_ms = now_ms
        if fee:
            self.wallet -= fee
            self._income(symbol, IncomeType.COMMISSION, -fee, now_ms, trade_id=trade_id)
        return pnl

    def _increase(self, pos: PerpPosition, amount: Decimal, price: Decimal) -> None:
        if pos.amount == 0:
            pos.leverage = self.leverage[pos.symbol]
            pos.margin_mode = self.margin_mode[pos.symbol]
        total = abs(pos.amount) + abs(amount)
        pos.entry_price = (abs(pos.amount) * pos.entry_price + abs(amount) * price) / total
        pos.amount += amount
        if pos.margin_mode is MarginMode.ISOLATED:
            pos.isolated_margin += abs(amount) * pos.contract_size * price / pos.leverage

    def open_position(
        self, symbol: str, side: PerpSide, amount: Decimal, entry: Decimal, now_ms: int
    ) -> PerpPosition:
        """Start with a position of `amount` contracts (signed) at `entry`, with the symbol's
        current leverage and margin mode (a scenario's starting state: no fee, no income)."""
        pos = self.position(symbol, side)
        if pos.amount != 0:
            raise ValueError(f"{symbol} {side}: a position is already open")
        self._increase(pos, amount, entry)
        pos.updated_ms = now_ms
        return pos

    # ---- wallet -----------------------------------------------------------------------------

    def balance(self, order_margin: Decimal = ZERO) -> FuturesBalance:
        """The wallet's figures at the current marks; `order_margin`: open orders' margin."""
        upnl = cross_upnl = pos_im = cross_im = maint = isolated = ZERO
        for pos in self.positions():
            mark = self.mark(pos.symbol)
            pnl = pos.unrealized_pnl(mark)
            im = pos.initial_margin(mark)
            upnl += pnl
            pos_im += im
            maint += pos.maintenance_margin(mark, self.specs[pos.symbol].maintenance_margin_rate)
            if pos.margin_mode is MarginMode.ISOLATED:
                isolated += pos.isolated_margin
            else:
                cross_upnl += pnl
                cross_im += im
        cross_wallet = self.wallet - isolated
        available = max(cross_wallet + cross_upnl - cross_im - order_margin, ZERO)
        return FuturesBalance(
            asset=self.asset,
            wallet=self.wallet,
            unrealized_pnl=upnl,
            margin_balance=self.wallet + upnl,
            position_initial_margin=pos_im,
            open_order_initial_margin=order_margin,
            maintenance=maint,
            cross_wallet=cross_wallet,
            cross_unrealized_pnl=cross_upnl,
            cross_initial_margin=cross_im,
            available=available,
        )

    def transferable(self, order_margin: Decimal) -> Decimal:
        """What may leave the wallet: available, without unrealised profit."""
        b = self.balance(order_margin)
        free = b.cross_wallet + min(b.cross_unrealized_pnl, ZERO) - b.cross_initial_margin
        return max(min(b.available, free - order_margin), ZERO)

    def credit(self, amount: Decimal, kind: IncomeType, now_ms: int, symbol: str = "") -> None:
        """Add `amount` (negative: take) to the cross wallet, recorded as income of `kind`."""
        self.wallet += amount
        self._income(symbol, kind, amount, now_ms)

    def add_margin(self, symbol: str, side: PerpSide, amount: Decimal, available: Decimal) -> None:
        pos = self.position(symbol, side)
        if pos.amount == 0 or pos.margin_mode is not MarginMode.ISOLATED:
            raise errs.refusal(
                ccxt.BadRequest, self.exchange_id, f"{symbol}: no isolated position",
                (-4051, "Isolated balance insufficient."),
            )  # fmt: skip
        if amount <= 0 or amount > available:
            raise errs.refusal(
                ccxt.InsufficientFunds, self.exchange_id,
                f"{symbol}: add {amount} to isolated margin, {available} available",
                errs.MARGIN_INSUFFICIENT,
            )  # fmt: skip
        pos.isolated_margin += amount

    def _income(
        self, symbol: str, kind: IncomeType, amount: Decimal, now_ms: int,
        rate: Decimal | None = None, trade_id: str = "",
    ) -> None:  # fmt: skip
        self.incomes.append(
            Income(str(self._next_income), symbol, kind, amount, self.asset, now_ms, rate,
                   trade_id)
        )  # fmt: skip
        self._next_income += 1

    # ---- funding and liquidation -------------------------------------------------------------

    def settle_funding(self, symbol: str, rate: Decimal, mark: Decimal, now_ms: int) -> None:
        """Every open position of `symbol` receives -notional(mark) * rate (longs pay a rate
        > 0), to 8 decimals."""
        for pos in self.positions(symbol):
            pay = funding_payment(pos.notional(mark), rate)
            if pos.margin_mode is MarginMode.ISOLATED:
                pos.isolated_margin += pay
            self.wallet += pay
            self._income(symbol, IncomeType.FUNDING_FEE, pay, now_ms, rate=rate)

    def liquidate_due(self, now_ms: int) -> list[str]:
        """Liquidate every position under maintenance (isolated ones, then cross ones worst
        first); the symbols liquidated, in order."""
        done: list[str] = []
        for pos in self.positions():
            if pos.margin_mode is not MarginMode.ISOLATED:
                continue
            mark = self.mark(pos.symbol)
            rate = self.specs[pos.symbol].maintenance_margin_rate
            if pos.isolated_margin + pos.unrealized_pnl(mark) < pos.maintenance_margin(mark, rate):
                self._liquidate(pos, pos.isolated_margin, now_ms)
                done.append(pos.symbol)
        while True:
            cross = [p for p in self.positions() if p.margin_mode is MarginMode.CROSS]
            if not cross:
                return done
            b = self.balance()
            if b.cross_wallet + b.cross_unrealized_pnl >= _cross_maintenance(self, cross):
                return done
            worst = min(cross, key=lambda p: p.unrealized_pnl(self.mark(p.symbol)))
            self._liquidate(worst, b.cross_wallet, now_ms)
            done.append(worst.symbol)

    def _liquidate(self, pos: PerpPosition, margin: Decimal, now_ms: int) -> None:
        """Close `pos` at the mark, backed by `margin` (its own, or the cross wallet)."""
        spec = self.specs[pos.symbol]
        mark = self.mark(pos.symbol)
        pnl = max(pos.unrealized_pnl(mark), -margin)  # beyond: the insurance fund's
        fee = min(abs(pos.notional(mark)) * spec.liquidation_fee, max(margin + pnl, ZERO))
        self.liquidations.append(
            Liquidation(pos.symbol, pos.side, pos.amount, mark, pnl, fee, pos.margin_mode, now_ms)
        )
        self.wallet += pnl - fee
        self._income(pos.symbol, IncomeType.REALIZED_PNL, pnl, now_ms)
        if fee:
            self._income(pos.symbol, IncomeType.INSURANCE_CLEAR, -fee, now_ms)
        pos.amount = pos.entry_price = pos.isolated_margin = ZERO
        pos.updated_ms = now_ms

    def liquidation_price(self, pos: PerpPosition) -> Decimal | None:
        """The mark at which `pos` would be liquidated, the other positions' marks held."""
        rate = self.specs[pos.symbol].maintenance_margin_rate
        if pos.margin_mode is MarginMode.ISOLATED:
            margin = pos.isolated_margin
        else:
            others = [
                p for p in self.positions() if p.margin_mode is MarginMode.CROSS and p is not pos
            ]
            b = self.balance()
            margin = b.cross_wallet + sum(
                (p.unrealized_pnl(self.mark(p.symbol)) - p.maintenance_margin(
                    self.mark(p.symbol), self.specs[p.symbol].maintenance_margin_rate)
                 for p in others), ZERO)  # fmt: skip
        return liquidation_price(pos.amount, pos.entry_price, margin, rate, pos.contract_size)


def _cross_maintenance(ledger: FuturesLedger, positions: Iterable[PerpPosition]) -> Decimal:
    return sum(
        (p.maintenance_margin(ledger.mark(p.symbol), ledger.specs[p.symbol].maintenance_margin_rate)
         for p in positions), ZERO)  # fmt: skip
