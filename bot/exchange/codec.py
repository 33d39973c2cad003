"""ccxt's unified structures <-> the bot's domain values, in one place.

ccxt hands out dicts whose numbers are floats, or exact text when the client's `number` is `str`
(what the bot asks of every ccxt client; order books are floats either way, as ccxt parses them);
the domain wants exact `Decimal`s in typed values. Every conversion is here, pure and synchronous,
so the gateway (the bot's side of the boundary) and paper trading (the simulator's, reading a real
exchange's public data) read ccxt's replies the same way. A number is read as the decimal that
ccxt printed, never through a binary float round trip; amounts and prices go out as exact text.

Nothing here talks to an exchange or imports more of the bot than the domain and its errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from bot.domain.flows import Flow, FlowKind, FlowStatus
from bot.domain.market import ZERO, Level, Market, OrderBook, Side
from bot.domain.orders import FillReport, OrderReport, OrderStatus
from bot.domain.positions import (
    FundingPayment,
    FundingRate,
    FuturesAccount,
    MarginMode,
    Position,
    PositionSide,
)

# ccxt's order statuses (and the British spelling some exchanges use) as ours.
_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.CLOSED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
FINAL_STATUSES = frozenset({"closed", "canceled", "cancelled", "expired", "rejected"})


@dataclass(frozen=True, slots=True)
class Balances:
    free: Mapping[str, Decimal]
    used: Mapping[str, Decimal]

    def total(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO) + self.used.get(asset, ZERO)


def dec(value: Any) -> Decimal:
    """A ccxt number (float, int or numeric string) as an exact Decimal of what was printed."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    text = str(value)
    if isinstance(value, float) and text.endswith(".0"):
        text = text[:-2]  # 5.0 -> 5: the exchange sent an integer
    return Decimal(text)


def to_text(value: Decimal) -> str:
    """A decimal as the exact text ccxt takes for an amount or a price: never a float, never in
    exponent notation ("0.00000001", not "1E-8")."""
    return format(value, "f")


def opt_dec(value: Any) -> Decimal | None:
    return None if value is None else dec(value)


def _step(precision: Any, mode: int) -> tuple[Decimal, int | None]:
    """(step, significant digits) from a ccxt precision value in the exchange's precision mode."""
    if precision is None:
        return Decimal("1e-8"), None
    if mode == TICK_SIZE:
        return dec(precision), None
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(precision)), None
    if mode == SIGNIFICANT_DIGITS:
        return Decimal("1e-18"), int(precision)
    raise ValueError(f"unknown ccxt precision mode {mode}")


def market_from_ccxt(
    raw: Mapping[str, Any],
    mode: int,
    default_fees: Mapping[str, Any],
    account_fees: Mapping[str, Any] | None = None,
) -> Market:
    """A market. Its fee rates: the market's own; where ccxt gives None, the account's
    (`account_fees`: a `fetch_trading_fees` entry, or rates the user set); where the market has
    no fee keys at all, the exchange's published defaults (`default_fees`). Rates still unknown
    are 0 with `fees_known` False, so no plan trades on them."""
    precision = raw.get("precision") or {}
    limits = raw.get("limits") or {}
    amount_step, amount_digits = _step(precision.get("amount"), mode)
    price_tick, price_digits = _step(precision.get("price"), mode)
    maker = raw.get("maker", default_fees.get("maker"))
    taker = raw.get("taker", default_fees.get("taker"))
    if (maker is None or taker is None) and account_fees:
        maker = account_fees.get("maker") if maker is None else maker
        taker = account_fees.get("taker") if taker is None else taker
    return Market(
        symbol=raw["symbol"],
        base=raw["base"],
        quote=raw["quote"],
        amount_step=amount_step,
        price_tick=price_tick,
        min_amount=opt_dec((limits.get("amount") or {}).get("min")) or ZERO,
        min_cost=opt_dec((limits.get("cost") or {}).get("min")) or ZERO,
        maker_fee=opt_dec(maker) or ZERO,
        taker_fee=opt_dec(taker) or ZERO,
        amount_digits=amount_digits,
        price_digits=price_digits,
        fees_known=maker is not None and taker is not None,
        contract_size=opt_dec(raw.get("contractSize")) or Decimal(1),
    )


def market_wanted(raw: Mapping[str, Any], contracts: bool) -> bool:
    """Whether the bot trades on a ccxt market: an active spot market or, on a client for
    perpetuals (`contracts`), an active linear perpetual settled in its quote (BTC/USDT:USDT)."""
    if raw.get("active", True) is False:
        return False
    if not contracts:
        return bool(raw.get("spot", True))
    linear = bool(raw.get("swap")) and bool(raw.get("linear"))
    return linear and raw.get("settle") is not None and raw.get("settle") == raw.get("quote")


def book_from_ccxt(symbol: str, raw: Mapping[str, Any]) -> OrderBook:
    """A book with the exchange's stamp and update id. A level whose price is not positive or
    not finite (0, -1, NaN, inf), or whose amount is not finite or negative, makes the whole
    reply unusable: the book is then empty and its `defect` says why (never an exception from
    deep in the domain, never a level quietly trusted)."""
    bids = [(dec(p), dec(a)) for p, a, *_ in raw.get("bids") or ()]
    asks = [(dec(p), dec(a)) for p, a, *_ in raw.get("asks") or ()]
    stamp, nonce = _int(raw.get("timestamp")), _int(raw.get("nonce"))
    defect = _defect(bids, "bid") or _defect(asks, "ask")
    if defect is not None:
        return OrderBook(symbol, (), (), stamp, nonce, f"the book shows {defect}")
    return replace(OrderBook.from_pairs(symbol, bids, asks), timestamp_ms=stamp, nonce=nonce)


def top_from_ticker(symbol: str, ticker: Mapping[str, Any]) -> OrderBook | None:
    """A one-level book from a ticker's best bid and ask, with the ticker's stamp; None when it
    lacks either (a price of 0 with no amount is an empty side, as Binance shows one). A price
    that is there and not positive or not finite gives an empty book whose `defect` says why."""
    bid, ask = ticker.get("bid"), ticker.get("ask")
    if _absent(bid, ticker.get("bidVolume")) or _absent(ask, ticker.get("askVolume")):
        return None
    stamp = _int(ticker.get("timestamp"))
    bid_level = (dec(bid), opt_dec(ticker.get("bidVolume")) or ZERO)
    ask_level = (dec(ask), opt_dec(ticker.get("askVolume")) or ZERO)
    defect = _defect([bid_level], "bid") or _defect([ask_level], "ask")
    if defect is not None:
        return OrderBook(symbol, (), (), stamp, None, f"the ticker shows {defect}")
    return OrderBook(symbol, (Level(*bid_level),), (Level(*ask_level),), stamp)


def _absent(price: Any, amount: Any) -> bool:
    if price is None or price == "":
        return True
    try:
        return dec(price) == 0 and not (amount and dec(amount))
    except ArithmeticError:
        return False  # NaN compared: there, and a defect


def _defect(levels: Iterable[tuple[Decimal, Decimal]], side: str) -> str | None:
    """What makes these levels unusable, or None."""
    for price, amount in levels:
        if not price.is_finite() or price <= 0:
            return f"a {side} price of {price}"
        if not amount.is_finite() or amount < 0:
            return f"a {side} amount of {amount}"
    return None


def _int(value: Any) -> int | None:
    """An exchange stamp or update id; None when absent or not a whole number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def balances_from_ccxt(raw: Mapping[str, Any]) -> Balances:
    free: dict[str, Decimal] = {}
    used: dict[str, Decimal] = {}
    for asset, amount in (raw.get("free") or {}).items():
        if amount is not None:
            free[asset] = dec(amount)
    for asset, amount in (raw.get("used") or {}).items():
        if amount is not None:
            used[asset] = dec(amount)
    return Balances(free, used)


def _fee(raw: Mapping[str, Any]) -> tuple[Decimal, str | None]:
    """The fee of an order or trade, in one currency: the first one charged (an order that paid
    in two currencies, part in a fee asset such as BNB, reports the first; its trades say all)."""
    fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
    total = ZERO
    currency = None
    for fee in fees:
        if not fee or fee.get("cost") is None:
            continue
        cost = dec(fee["cost"])
        if currency is None and cost:
            currency = fee.get("currency")
        if fee.get("currency") == currency or currency is None:
            total += cost
    return total, currency


def order_from_ccxt(raw: Mapping[str, Any], client_id_keys: Iterable[str] = ()) -> OrderReport:
    """An order report. `client_id_keys`: fields of the exchange's own reply (`info`) that name
    the order's client id ahead of ccxt's `clientOrderId` (an exchange profile's fact: a Binance
    cancel reply names the cancel request in clientOrderId and the order in origClientOrderId)."""
    filled = opt_dec(raw.get("filled")) or ZERO
    average = opt_dec(raw.get("average"))
    cost = opt_dec(raw.get("cost"))
    if average is None and filled > 0 and cost:
        average = cost / filled
    fee, fee_currency = _fee(raw)
    status = _STATUS.get(str(raw.get("status")), OrderStatus.OPEN)
    info = raw.get("info") or {}
    client_id = None
    if isinstance(info, dict):
        client_id = next((info[k] for k in client_id_keys if info.get(k)), None)
    return OrderReport(
        client_id=client_id or raw.get("clientOrderId"),
        exchange_id=str(raw["id"]),
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        amount=opt_dec(raw.get("amount")) or filled,
        price=opt_dec(raw.get("price")),
        status=status,
        filled=filled,
        average=average,
        fee=fee,
        fee_currency=fee_currency,
        timestamp_ms=raw.get("timestamp"),
    )


def fill_from_ccxt(raw: Mapping[str, Any]) -> FillReport:
    fee, fee_currency = _fee(raw)
    taker_or_maker = raw.get("takerOrMaker")
    info = raw.get("info") or {}
    return FillReport(
        trade_id=str(raw["id"]),
        exchange_order_id=str(raw.get("order")),
        client_id=raw.get("clientOrderId") or info.get("clientOrderId"),
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        amount=dec(raw["amount"]),
        price=dec(raw["price"]),
        fee=fee,
        fee_currency=fee_currency,
        maker=None if taker_or_maker is None else taker_or_maker == "maker",
        timestamp_ms=raw.get("timestamp"),
    )


# ccxt's transaction statuses as ours; any other (an exchange's own word ccxt passes on) is
# `other`: neither credited nor debited, so a balance it did change is unexplained and halts.
_FLOW_STATUS = {s.value: s for s in FlowStatus} | {"cancelled": FlowStatus.CANCELED}


def flow_from_ccxt(raw: Mapping[str, Any], kind: FlowKind) -> Flow:
    """A ccxt transaction structure (fetch_deposits, fetch_withdrawals) as a `Flow`. The fee
    counts only when charged in the flow's own asset (the balance it changes)."""
    asset = str(raw["currency"])
    fee = ZERO
    for item in raw.get("fees") or ([raw["fee"]] if raw.get("fee") else []):
        if item and item.get("cost") is not None and item.get("currency") in (None, asset):
            fee += dec(item["cost"])
    status = _FLOW_STATUS.get(str(raw.get("status")), FlowStatus.OTHER)
    return Flow(
        id=str(raw["id"]),
        kind=FlowKind(raw.get("type") or kind),
        asset=asset,
        amount=dec(raw["amount"]),
        status=status,
        fee=fee,
        timestamp_ms=_int(raw.get("timestamp")),
        txid=raw.get("txid"),
    )


# Transfers and ledger entries name flows of their own: their ids get a prefix so that they never
# meet a deposit's or a withdrawal's id in the journal (`Flow.key` is kind and id).
TRANSFER_PREFIX = "transfer:"
LEDGER_PREFIX = "ledger:"


def _settled(raw: Mapping[str, Any]) -> FlowStatus:
    """A transfer's or a ledger entry's status; none reported is done: such a record is a
    balance change made (OKX's bills carry no state)."""
    status = raw.get("status")
    return FlowStatus.OK if status is None else _FLOW_STATUS.get(str(status), FlowStatus.OTHER)


def flow_from_transfer(raw: Mapping[str, Any], trading_accounts: Iterable[str]) -> Flow | None:
    """A ccxt transfer structure (fetch_transfers) as a `Flow` of the trading account: into it a
    deposit, out of it a withdrawal; None for a transfer between two other accounts."""
    accounts = set(trading_accounts)
    into, out = raw.get("toAccount") in accounts, raw.get("fromAccount") in accounts
    if into == out:
        return None
    return Flow(
        id=TRANSFER_PREFIX + str(raw["id"]),
        kind=FlowKind.DEPOSIT if into else FlowKind.WITHDRAWAL,
        asset=str(raw["currency"]),
        amount=abs(dec(raw["amount"])),
        status=_settled(raw),
        timestamp_ms=_int(raw.get("timestamp")),
    )


def flow_from_ledger(
    raw: Mapping[str, Any],
    *,
    deposits: bool,
    transfers: bool,
    trading_accounts: Iterable[str] = (),
) -> Flow | None:
    """A ccxt ledger entry (fetch_ledger, the trading account's) as a `Flow`, or None for what
    is not one: a trade, a fee, a rebate, an entry of another account, and the deposits,
    withdrawals or transfers the profile does not read from the ledger. What comes in is a
    deposit, what goes out a withdrawal (a withdrawal refunded comes in), by the entry's
    direction or its amount's sign; the fee counts only in the entry's own asset."""
    kind = raw.get("type")
    wanted = (deposits and kind in ("deposit", "withdrawal")) or (transfers and kind == "transfer")
    accounts = tuple(trading_accounts)
    if not wanted or (accounts and raw.get("account") not in (None, *accounts)):
        return None
    asset, amount = str(raw["currency"]), dec(raw["amount"])
    incoming = raw.get("direction") == "in" if raw.get("direction") else amount > 0
    fee = raw.get("fee") or {}
    cost = fee.get("cost")
    charged = cost is not None and fee.get("currency") in (None, asset)
    return Flow(
        id=(TRANSFER_PREFIX if kind == "transfer" else LEDGER_PREFIX) + str(raw["id"]),
        kind=FlowKind.DEPOSIT if incoming else FlowKind.WITHDRAWAL,
        asset=asset,
        amount=abs(amount),
        status=_settled(raw),
        fee=abs(dec(cost)) if charged else ZERO,
        timestamp_ms=_int(raw.get("timestamp")),
    )


# ---- perpetuals ------------------------------------------------------------------------------


def _reported(value: Any) -> Decimal | None:
    """A figure the exchange reported: None when absent, empty or 0 (how exchanges say "none":
    Binance's liquidationPrice "0", isolatedMargin "0" under cross margin, Bybit's liqPrice "")."""
    if value is None or value == "":
        return None
    number = dec(value)
    return None if number == 0 else number


def position_from_ccxt(
    raw: Mapping[str, Any], market: Mapping[str, Any], fields: Mapping[str, str]
) -> Position | None:
    """A ccxt position structure as a `Position`; None when it holds no contracts. `market` is
    ccxt's market of its symbol (base, contract size); `fields` names the raw (`info`) fields
    of `collateral` and `maintenance_margin`, read as the exchange reports them. A figure the
    reply lacks is None, never estimated (ccxt's own estimates are not used)."""
    contracts = abs(opt_dec(raw.get("contracts")) or ZERO)
    if contracts == 0:
        return None
    info = raw.get("info") or {}
    mode = raw.get("marginMode")
    size = (
        raw.get("contractSize")
        if raw.get("contractSize") is not None
        else market.get("contractSize")
    )
    return Position(
        symbol=str(raw["symbol"]),
        base=str(market["base"]),
        side=PositionSide(raw["side"]),
        contracts=contracts,
        contract_size=dec(size),
        entry_price=dec(raw["entryPrice"]),
        mark_price=dec(raw["markPrice"]),
        margin_mode=MarginMode(mode) if mode else MarginMode.CROSS,
        hedged=raw.get("hedged") is True,
        leverage=_reported(raw.get("leverage")),
        collateral=_reported(info.get(fields["collateral"])) if "collateral" in fields else None,
        maintenance_margin=_reported(info.get(fields["maintenance_margin"]))
        if "maintenance_margin" in fields
        else None,
        liquidation_price=_reported(raw.get("liquidationPrice")),
        unrealized_pnl=opt_dec(raw.get("unrealizedPnl")),
    )


def _walk(data: Any, path: Iterable[str | int]) -> Any:
    for key in path:
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and len(data) > key else None
        else:
            data = data.get(key) if isinstance(data, Mapping) else None
    return data


def futures_account_from_ccxt(
    raw: Mapping[str, Any],
    asset: str,
    entries: Iterable[str | int],
    asset_key: str,
    names: tuple[str, str, str | None],
) -> FuturesAccount:
    """The futures wallet of `asset` from a ccxt balance reply: the raw (`info`) entry at
    `entries` whose `asset_key` is `asset`, its (wallet, equity, free) fields by `names`; free
    None: ccxt's unified `free[asset]` (0 when below 0: nothing may be moved out). An asset the
    wallet does not list is held at 0."""
    wallet_key, equity_key, free_key = names
    listed = _walk(raw.get("info") or {}, entries)
    if not isinstance(listed, list):
        raise ValueError(f"no asset list at {list(entries)} in the balance reply")
    entry = next((e for e in listed if isinstance(e, Mapping) and e.get(asset_key) == asset), None)
    if entry is None:
        return FuturesAccount(asset, ZERO, ZERO, ZERO)
    if free_key is not None:
        free = dec(entry[free_key])
    else:
        free = opt_dec((raw.get("free") or {}).get(asset)) or ZERO
    return FuturesAccount(
        asset=asset,
        wallet=dec(entry[wallet_key]),
        equity=dec(entry[equity_key]),
        free=max(free, ZERO),
    )


def funding_rate_from_ccxt(raw: Mapping[str, Any], default_hours: Decimal) -> FundingRate:
    """A ccxt funding-rate structure; its interval ("8h") where ccxt reports one, else
    `default_hours` (the exchange's documented default)."""
    interval = raw.get("interval")
    hours = dec(str(interval).removesuffix("h")) if interval else default_hours
    return FundingRate(
        symbol=str(raw["symbol"]),
        rate=dec(raw["fundingRate"]),
        mark_price=dec(raw["markPrice"]),
        index_price=opt_dec(raw.get("indexPrice")),
        next_funding=_int(raw.get("fundingTimestamp") or raw.get("nextFundingTimestamp")),
        interval_hours=hours,
    )


def funding_payment_from_ccxt(raw: Mapping[str, Any], paid_positive: bool) -> FundingPayment:
    """A ccxt funding-history entry: received +, paid -. `paid_positive`: the exchange reports
    a payment made as a positive amount (Bybit's execFee), so the sign is turned."""
    amount = dec(raw["amount"])
    stamp = _int(raw.get("timestamp"))
    if stamp is None:
        raise ValueError(f"funding entry {raw.get('id')!r} has no time")
    return FundingPayment(
        id=str(raw["id"]),
        symbol=str(raw["symbol"]),
        asset=str(raw["code"]),
        amount=-amount if paid_positive else amount,
        timestamp=stamp,
    )
