"""The futures account's settings and transfers, as `perp.PerpEngine` applies them: leverage,
margin mode, position mode, isolated margin, starting positions, spot <-> futures transfers.
Refusals as Binance's (`perp_errors`); the rules are in `perp.py`'s docstring.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import ccxt

from bot.domain.market import ZERO
from bot.sim import perp_errors as errs
from bot.sim.perp_account import (
    FuturesBalance,
    IncomeType,
    MarginMode,
    PerpPosition,
    PerpSide,
    TransferRecord,
)

if TYPE_CHECKING:
    from bot.sim.account import SimOrder
    from bot.sim.engine import MatchingEngine
    from bot.sim.filters import Filters
    from bot.sim.perp_ledger import FuturesLedger
    from bot.sim.perp_market import PerpSpec
    from bot.sim.scenario import Scenario

SPOT, FUTURE = "spot", "future"


class _Engine(Protocol):
    """What of `perp.PerpEngine` these functions use (a protocol, so this module need not import
    `perp`, which imports it)."""

    spot: MatchingEngine
    asset: str
    exchange_id: str
    time_offset: float
    commission_decimals: int | None
    filters: dict[str, Filters]
    ledger: FuturesLedger
    transfers: list[TransferRecord]

    @property
    def now_ms(self) -> int: ...

    def spec(self, symbol: str) -> PerpSpec: ...

    def balance(self) -> FuturesBalance: ...

    def order_margin(self) -> Decimal: ...

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]: ...

    def open_position(
        self, symbol: str, side: str, contracts: Decimal, entry: Decimal, *,
        leverage: int | None = None, margin_mode: MarginMode | str | None = None,
    ) -> PerpPosition: ...  # fmt: skip


def position_side(
    engine: _Engine, symbol: str, position_side: PerpSide | str | None, reduce_only: bool
) -> PerpSide:
    """The position an order trades, by the account's mode (see `perp.py`)."""
    try:
        pside = PerpSide(str(position_side or "BOTH").upper())
    except ValueError:
        raise ccxt.BadRequest(
            f"{engine.exchange_id} {symbol}: positionSide {position_side!r} is not BOTH, LONG"
            " or SHORT"
        ) from None
    hedged = engine.ledger.hedged
    if hedged and reduce_only:
        raise errs.refusal(
            ccxt.BadRequest, engine.exchange_id, f"{symbol}: reduceOnly in hedge mode",
            errs.REDUCE_ONLY_NOT_REQUIRED,
        )  # fmt: skip
    if hedged == (pside is PerpSide.BOTH):
        mode = "hedge" if hedged else "one-way"
        raise errs.refusal(
            ccxt.OperationRejected, engine.exchange_id,
            f"{symbol}: positionSide {pside} in {mode} mode", errs.POSITION_SIDE_MISMATCH,
        )  # fmt: skip
    return pside


def configure(engine: _Engine, scenario: Scenario) -> None:
    """Apply `scenario`'s futures settings and starting positions to a fresh `engine`."""
    engine.time_offset = engine.spot.time_offset
    engine.commission_decimals = engine.spot.commission_decimals
    engine.filters.update(scenario.perp_filters())
    for symbol, perp in scenario.perps.items():
        engine.ledger.margin_mode[symbol] = MarginMode(perp.margin_mode)
    engine.ledger.hedged = scenario.futures.hedged
    for p in scenario.futures.positions:
        engine.open_position(
            p.symbol, p.side, p.contracts, p.entry, leverage=p.leverage, margin_mode=p.margin_mode
        )


def set_leverage(engine: _Engine, symbol: str, leverage: int) -> None:
    spec = engine.spec(symbol)
    if not 1 <= leverage <= spec.max_leverage:
        code = (errs.LEVERAGE_INVALID[0], errs.LEVERAGE_INVALID[1].format(leverage))
        raise errs.refusal(
            ccxt.BadRequest, engine.exchange_id,
            f"{symbol}: leverage must be 1..{spec.max_leverage}", code,
        )  # fmt: skip
    old = engine.ledger.leverage[spec.symbol]
    _leverage(engine, spec.symbol, leverage)
    b = engine.balance()
    room = b.cross_wallet + b.cross_unrealized_pnl - b.cross_initial_margin
    if leverage < old and room - b.open_order_initial_margin < 0:
        _leverage(engine, spec.symbol, old)
        raise errs.refusal(
            ccxt.InsufficientFunds, engine.exchange_id,
            f"{symbol}: leverage {leverage} needs more margin", errs.MARGIN_INSUFFICIENT,
        )  # fmt: skip


def _leverage(engine: _Engine, symbol: str, leverage: int) -> None:
    engine.ledger.leverage[symbol] = leverage
    for pos in engine.ledger.positions(symbol):
        pos.leverage = leverage


def set_margin_mode(engine: _Engine, symbol: str, mode: MarginMode | str) -> None:
    symbol = engine.spec(symbol).symbol
    mode = MarginMode(str(mode).lower().replace("crossed", "cross"))
    if engine.ledger.margin_mode[symbol] is mode:
        raise errs.refusal(
            ccxt.MarginModeAlreadySet, engine.exchange_id, f"{symbol}: already {mode}",
            errs.MARGIN_TYPE_SAME,
        )  # fmt: skip
    if engine.open_orders(symbol):
        raise errs.refusal(
            ccxt.OperationRejected, engine.exchange_id, f"{symbol}: open orders",
            errs.MARGIN_TYPE_ORDERS,
        )  # fmt: skip
    if engine.ledger.positions(symbol):
        raise errs.refusal(
            ccxt.OperationRejected, engine.exchange_id, f"{symbol}: open position",
            errs.MARGIN_TYPE_POSITION,
        )  # fmt: skip
    engine.ledger.margin_mode[symbol] = mode


def set_position_mode(engine: _Engine, hedged: bool) -> None:
    if engine.ledger.hedged == hedged:
        raise errs.refusal(
            ccxt.OperationRejected, engine.exchange_id, "position mode unchanged",
            errs.POSITION_MODE_SAME,
        )  # fmt: skip
    if engine.open_orders():
        raise errs.refusal(
            ccxt.OperationRejected, engine.exchange_id, "open orders",
            errs.POSITION_MODE_ORDERS,
        )  # fmt: skip
    if engine.ledger.positions():
        raise errs.refusal(
            ccxt.OperationRejected, engine.exchange_id, "open positions",
            errs.POSITION_MODE_POSITION,
        )  # fmt: skip
    engine.ledger.hedged = hedged


def add_margin(
    engine: _Engine, symbol: str, amount: Decimal, side: PerpSide = PerpSide.BOTH
) -> None:
    """Move `amount` from the cross wallet to an isolated position's margin."""
    symbol = engine.spec(symbol).symbol
    room = engine.ledger.transferable(engine.order_margin())
    engine.ledger.add_margin(symbol, side, amount, room)


def open_position(
    engine: _Engine, symbol: str, side: str, contracts: Decimal, entry: Decimal,
    leverage: int | None, margin_mode: MarginMode | str | None,
) -> PerpPosition:  # fmt: skip
    """Start with a `side` ("long"/"short") position at `entry` (a scenario's state)."""
    spec = engine.spec(symbol)
    if leverage is not None:
        _leverage(engine, spec.symbol, leverage)
    if margin_mode is not None:
        engine.ledger.margin_mode[spec.symbol] = MarginMode(str(margin_mode))
    long = side.lower() in ("long", "buy")
    pside = PerpSide.BOTH
    if engine.ledger.hedged:
        pside = PerpSide.LONG if long else PerpSide.SHORT
    amount = contracts if long else -contracts
    return engine.ledger.open_position(spec.symbol, pside, amount, entry, engine.now_ms)


def transfer(
    engine: _Engine, amount: Decimal, from_account: str, to_account: str
) -> TransferRecord:
    """Move `amount` of the settlement asset between "spot" and "future"."""
    src, dst = _account(from_account), _account(to_account)
    if src == dst or amount <= 0:
        raise ccxt.BadRequest(
            f"{engine.exchange_id} transfer of {amount} from {from_account} to {to_account}"
        )
    if src == SPOT:
        room = engine.spot.account.free.get(engine.asset, ZERO)
    else:
        room = engine.ledger.transferable(engine.order_margin())
    if amount > room:
        raise errs.refusal(
            ccxt.InsufficientFunds, engine.exchange_id,
            f"transfer of {amount} {engine.asset} from {src}: {room} free",
            errs.BALANCE_INSUFFICIENT,
        )  # fmt: skip
    sign = 1 if src == SPOT else -1
    engine.spot.account.credit(engine.asset, -sign * amount)
    engine.ledger.credit(sign * amount, IncomeType.TRANSFER, engine.now_ms)
    record = TransferRecord(
        str(len(engine.transfers) + 1), engine.asset, amount, src, dst, engine.now_ms
    )
    engine.transfers.append(record)
    return record


_ACCOUNTS = {"spot": SPOT, "main": SPOT, "future": FUTURE, "futures": FUTURE, "linear": FUTURE,
             "swap": FUTURE, "umfuture": FUTURE}  # fmt: skip


def _account(name: str) -> str:
    try:
        return _ACCOUNTS[name.lower()]
    except KeyError:
        raise ccxt.BadRequest(f"sim: account {name!r} is not spot or future") from None
