"""Markets and order books: exact values, rounding toward safety, depth arithmetic.

Everything here is pure and `Decimal`. A `Market` refuses impossible values in its constructor, so
code that holds one can trust it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from bot.errors import DomainError

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


def bps(part: Decimal, whole: Decimal) -> Decimal:
    """`part` in basis points of `whole` (0 when `whole` is 0): a fee of a cost, a spread."""
    return part / whole * BPS if whole else ZERO


def signed_bps(side: Side, reference: Decimal, price: Decimal) -> Decimal:
    """What trading `side` at `price` costs against `reference`, in bps: positive when worse (a
    buy above the reference, a sell below it), negative when better. The one formula for
    implementation shortfall, book impact and an adverse move of the mid."""
    move = bps(price - reference, reference)
    return move if side is Side.BUY else -move


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= `value` (never more than asked for)."""
    if step <= 0:
        raise DomainError(f"step must be > 0, got {step}")
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` that is >= `value`."""
    if step <= 0:
        raise DomainError(f"step must be > 0, got {step}")
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _to_digits(value: Decimal, digits: int, rounding: str) -> Decimal:
    """`value` rounded to `digits` significant digits in the direction `rounding`."""
    if value == 0:
        return value
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), rounding=rounding)


@dataclass(frozen=True, slots=True)
class Market:
    """A spot market `base/quote` with the exchange's filters and fees.

    `amount_step` and `price_tick` are increments (ccxt's TICK_SIZE precision); `min_amount` is in
    base units, `min_cost` (minimum notional) in quote units; fees are fractions (0.001 = 10 bps).
    """

    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal = ZERO
    min_cost: Decimal = ZERO
    maker_fee: Decimal = ZERO
    taker_fee: Decimal = ZERO
    # Set on exchanges that count precision in significant digits (ccxt's SIGNIFICANT_DIGITS
    # mode): amounts and prices are then rounded to that many digits as well as to the step.
    amount_digits: int | None = None
    price_digits: int | None = None
    # False when the exchange reported no fee rates for the market (the fees above are then 0,
    # and a plan that would trade on it is refused).
    fees_known: bool = True
    # Perpetual futures: base units per contract (amounts are in contracts; 1 on Binance USD-M
    # and Bybit linear). A spot market's is 1.
    contract_size: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        problems = []
        if self.contract_size <= 0:
            problems.append(f"contract_size must be > 0, got {self.contract_size}")
        if not self.base or not self.quote or self.base == self.quote:
            problems.append(f"base and quote must be two different assets, got {self.symbol!r}")
        if self.amount_step <= 0:
            problems.append(f"amount_step must be > 0, got {self.amount_step}")
        if self.price_tick <= 0:
            problems.append(f"price_tick must be > 0, got {self.price_tick}")
        if self.min_amount < 0:
            problems.append(f"min_amount must be >= 0, got {self.min_amount}")
        if self.min_cost < 0:
            problems.append(f"min_cost must be >= 0, got {self.min_cost}")
        for name in ("maker_fee", "taker_fee"):
            fee: Decimal = getattr(self, name)
            if not (Decimal(-1) / 100 <= fee < Decimal(1) / 10):
                problems.append(f"{name} must be a fraction in [-0.01, 0.1), got {fee}")
        for name in ("amount_digits", "price_digits"):
            digits: int | None = getattr(self, name)
            if digits is not None and digits < 1:
                problems.append(f"{name} must be >= 1 significant digit, got {digits}")
        if problems:
            raise DomainError(f"market {self.symbol}: " + "; ".join(problems))

    @property
    def max_fee(self) -> Decimal:
        """The higher of the two fee rates (never below 0): what a budget must allow for when an
        order may fill as maker or as taker."""
        return max(self.maker_fee, self.taker_fee, ZERO)

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round an order amount down to the step: never trade more than intended."""
        if self.amount_digits is not None:
            amount = _to_digits(amount, self.amount_digits, ROUND_FLOOR)
        return floor_to_step(amount, self.amount_step)

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        """Round a limit price to the tick toward safety: a buy never pays more, a sell never
        accepts less, than the unrounded price."""
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        if self.price_digits is not None:
            price = _to_digits(price, self.price_digits, rounding)
        if side is Side.BUY:
            return floor_to_step(price, self.price_tick)
        return ceil_to_step(price, self.price_tick)

    def min_tradable(self, price: Decimal) -> Decimal:
        """Smallest base amount that passes every filter at `price`, on the step grid (and, with
        `amount_digits`, on the significant-digits grid too)."""
        by_cost = self.min_cost / price if price > 0 else ZERO
        amount = max(
            ceil_to_step(max(self.min_amount, by_cost), self.amount_step), self.amount_step
        )
        if self.amount_digits is not None:
            amount = _to_digits(amount, self.amount_digits, ROUND_CEILING)
            amount = ceil_to_step(amount, self.amount_step)
        return amount

    def rejects(self, amount: Decimal, price: Decimal) -> str | None:
        """Why the exchange would reject this order (a reason to show a person), or None."""
        if amount <= 0:
            return f"amount {amount} is not positive"
        if self.round_amount(amount) != amount:
            return f"amount {amount} is not a multiple of the step {self.amount_step}"
        if amount < self.min_amount:
            return f"amount {amount} is below the minimum {self.min_amount} {self.base}"
        if amount * price < self.min_cost:
            return (
                f"notional {amount * price:.8f} is below the minimum {self.min_cost} {self.quote}"
            )
        return None


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    """The result of walking a book: how much, at what average price, for what quote amount."""

    amount: Decimal
    cost: Decimal

    @property
    def average(self) -> Decimal:
        return self.cost / self.amount if self.amount else ZERO


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids best (highest) first, asks best (lowest) first, as an exchange reports them."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    # Mid price, or None when a side is empty (a one-sided book has no fair value). Computed once:
    # the planner and the valuation read it many times per snapshot.
    mid: Decimal | None = field(init=False, repr=False, compare=False)
    # The exchange's stamp on the reply (ms) and its update id, when it sends them: two looks at a
    # book are the same when its levels, stamp and update id all are (`prices.py`).
    timestamp_ms: int | None = field(default=None, compare=False)
    nonce: int | None = field(default=None, compare=False)
    # Why the reply cannot be used (a price not positive or not finite): the book is then empty.
    defect: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        mid = (self.bids[0].price + self.asks[0].price) / 2 if self.bids and self.asks else None
        object.__setattr__(self, "mid", mid)

    @classmethod
    def from_pairs(
        cls,
        symbol: str,
        bids: Iterable[Sequence[Decimal]],
        asks: Iterable[Sequence[Decimal]],
    ) -> OrderBook:
        """Build from `[price, amount]` pairs, sorting and dropping empty levels."""
        b = sorted((Level(p, a) for p, a, *_ in bids if a > 0), key=lambda lv: -lv.price)
        s = sorted((Level(p, a) for p, a, *_ in asks if a > 0), key=lambda lv: lv.price)
        for lv in (*b, *s):
            if lv.price <= 0:
                raise DomainError(f"book {symbol}: price must be > 0, got {lv.price}")
        return cls(symbol, tuple(b), tuple(s))

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def is_two_sided(self) -> bool:
        return bool(self.bids) and bool(self.asks)

    @property
    def is_crossed(self) -> bool:
        return self.is_two_sided and self.bids[0].price >= self.asks[0].price

    @property
    def spread_bps(self) -> Decimal | None:
        mid = self.mid
        if mid is None:
            return None
        return bps(self.asks[0].price - self.bids[0].price, mid)

    def touch(self, side: Side) -> Decimal | None:
        """The price an order of `side` takes at first: best ask for a buy, best bid for a sell."""
        return self.best_ask if side is Side.BUY else self.best_bid

    def levels_taken_by(self, side: Side) -> tuple[Level, ...]:
        return self.asks if side is Side.BUY else self.bids

    def quantity_within_bps(self, side: Side, bps: Decimal) -> Decimal:
        """Base quantity an order of `side` could take without going beyond `bps` from the mid."""
        mid = self.mid
        if mid is None:
            return ZERO
        limit = self.limit_price_within_bps(side, bps, mid)
        total = ZERO
        for lv in self.levels_taken_by(side):
            if (side is Side.BUY and lv.price > limit) or (side is Side.SELL and lv.price < limit):
                break
            total += lv.amount
        return total

    @staticmethod
    def limit_price_within_bps(side: Side, bps: Decimal, mid: Decimal) -> Decimal:
        """The worst price `bps` away from `mid` on the side an order of `side` takes from."""
        offset = mid * bps / BPS
        return mid + offset if side is Side.BUY else mid - offset

    def take(self, side: Side, amount: Decimal) -> Fill | None:
        """Walk the book to take `amount` at the resting prices; None if the book is too thin."""
        if amount <= 0:
            return Fill(ZERO, ZERO)
        left = amount
        cost = ZERO
        for lv in self.levels_taken_by(side):
            q = min(left, lv.amount)
            cost += q * lv.price
            left -= q
            if left == 0:
                return Fill(amount, cost)
        return None

    def impact_bps(self, side: Side, amount: Decimal) -> Decimal | None:
        """Cost of taking `amount` at once, vs the mid, in bps (before fees); None if too thin."""
        mid = self.mid
        fill = self.take(side, amount)
        if mid is None or fill is None or fill.amount == 0:
            return None
        return signed_bps(side, mid, fill.average)

    def half_spread_fraction(self) -> Decimal | None:
        mid = self.mid
        if mid is None:
            return None
        return (self.asks[0].price - self.bids[0].price) / 2 / mid
