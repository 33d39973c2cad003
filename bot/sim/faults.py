"""Injected failures and Binance's limits: errors, lost replies, request weight, order rate,
outages and maintenance.

Every API call is admitted by `FaultInjector.admit(method, weight)` before it touches the market:
1. In a maintenance window (`maintenance`), every method but `fetch_status` raises
   `ccxt.OnMaintenance`, what ccxt raises for Binance's maintenance reply; nothing is charged.
2. The request weight is charged to the current calendar minute (Binance's `REQUEST_WEIGHT`
   window); a call that would exceed `weight_per_minute` (0: no limit) raises
   `ccxt.DDoSProtection`, what ccxt raises for Binance's HTTP 429, and is not charged.
3. An outage (`outages`) makes one method answer `ccxt.ExchangeNotAvailable` (Binance's 503) from
   `start` to `end` seconds after the injector's creation, whatever the draw: a trade query down
   for ten minutes, say.
4. One uniform draw from the injector's own seeded stream decides whether the call fails (rates
   are fractions of calls, disjoint; `fetch_status` is never drawn for):
   - `network_error`, `request_timeout`, `exchange_not_available`: `ccxt.NetworkError`,
     `ccxt.RequestTimeout`, `ccxt.ExchangeNotAvailable`; not executed.
   - `invalid_timestamp`, signed calls only (`SIGNED`): Binance's -1021 "Timestamp for this
     request is outside of the recvWindow.", `ccxt.InvalidNonce`; not executed.
   - `internal_error`: Binance's HTTP 500 -1001 "Internal error; unable to process your
     request. Please try again.", `ccxt.OperationFailed`; `backend_timeout`: its HTTP 503 -1007
     "Timeout waiting for response from backend server. Send status unknown; execution status
     unknown.", `ccxt.RequestTimeout`. A `create_order` or `cancel_order` so answered was
     executed anyway with probability `internal_error_executed` / `backend_timeout_executed`
     (a second draw): `admit` then returns the error, to raise once the order is placed or
     cancelled.
5. `create_order` counts against Binance's order-rate limits, `orders_per_10s` per ten seconds
   and `orders_per_day` per UTC day (0: no limit). One more raises `ccxt.DDoSProtection` (ccxt's
   class for Binance's HTTP 429) with -1015 "Too many new orders; current limit is 100 orders
   per 10 SECOND.", and is not placed. `order_counts()` are Binance's X-MBX-ORDER-COUNT-10S and
   -1D; `retry_after` the seconds a 429 asks to wait.
`create_order` then asks `reply_lost()`: with probability `lost_create_reply` the order is placed
but the caller gets `ccxt.RequestTimeout`, the ambiguous case a gateway must resolve by looking
the client order id up.

A request refused before it reaches the market (a bad parameter) is charged its weight too, as
Binance charges it: `refused(method, weight)`.

The `[faults]` table of a scenario, with the defaults (0: none, or no limit):

    network_error = 0.0               # fractions of calls
    request_timeout = 0.0
    exchange_not_available = 0.0
    internal_error = 0.0              # 500 -1001
    internal_error_executed = 0.0     # of those on create/cancel: executed anyway
    backend_timeout = 0.0             # 503 -1007
    backend_timeout_executed = 0.0
    invalid_timestamp = 0.0           # -1021, of signed calls
    lost_create_reply = 0.0
    weight_per_minute = 6000
    orders_per_10s = 100
    orders_per_day = 200000
    latency = 0.0                     # seconds
    outages = [{method = "fetch_my_trades", start = 60, end = 660}]
    maintenance = [{start = 600, end = 900}]   # seconds after the start
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

import ccxt
import structlog
from pydantic import ConfigDict

from bot.errors import DomainError
from bot.sim.clock import Clock

log = structlog.get_logger("bot.sim.faults")

# Binance spot request weights of the endpoints behind ccxt's unified methods.
WEIGHTS: dict[str, int] = {
    "load_markets": 20,
    "fetch_balance": 20,
    "fetch_ticker": 2,
    "fetch_tickers": 80,
    "create_order": 1,
    "cancel_order": 1,
    "cancel_replace": 1,  # POST /api/v3/order/cancelReplace
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "fetch_open_orders_all": 80,
    "fetch_orders": 20,
    "fetch_my_trades": 20,
    "fetch_status": 1,
}
# Methods behind Binance's signed endpoints (the ones a -1021 can refuse).
SIGNED = frozenset(
    {
        "fetch_balance",
        "create_order",
        "cancel_order",
        "cancel_replace",
        "cancel_all_orders",
        "fetch_order",
        "fetch_open_orders",
        "fetch_orders",
        "fetch_closed_orders",
        "fetch_canceled_orders",
        "fetch_my_trades",
        "fetch_trading_fees",
    }
)
EXECUTABLE = frozenset(
    {"create_order", "cancel_order", "cancel_replace"}
)  # may execute despite a 5xx
NEW_ORDERS = frozenset({"create_order", "cancel_replace"})  # count against the order rate
STATUS = "fetch_status"  # answers in maintenance, never drawn for
DAY = 86400.0

INTERNAL_ERROR = "-1001 Internal error; unable to process your request. Please try again."
BACKEND_TIMEOUT = (
    "-1007 Timeout waiting for response from backend server. Send status unknown; execution"
    " status unknown."
)
OUTSIDE_RECV_WINDOW = "-1021 Timestamp for this request is outside of the recvWindow."
MAINTENANCE = "System is under maintenance."


def order_book_weight(limit: int | None) -> int:
    """Binance's weight for GET /api/v3/depth by `limit` (default 100)."""
    n = 100 if limit is None else limit
    if n <= 100:
        return 5
    if n <= 500:
        return 25
    if n <= 1000:
        return 50
    return 250


@dataclass(frozen=True, slots=True)
class Outage:
    """`method` (a ccxt method name, e.g. fetch_my_trades) fails from `start` to `end` seconds."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    method: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise DomainError(f"outage of {self.method}: need 0 <= start < end, got {self}")


@dataclass(frozen=True, slots=True)
class Maintenance:
    """The whole exchange is in maintenance from `start` to `end` seconds."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    start: float
    end: float

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise DomainError(f"maintenance: need 0 <= start < end, got {self}")


_RATES = (
    "network_error",
    "request_timeout",
    "exchange_not_available",
    "internal_error",
    "backend_timeout",
    "invalid_timestamp",
)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Fractions of calls that fail, Binance's limits (0: none), latency (s), outages and
    maintenance windows (see the module docstring)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    network_error: float = 0.0
    request_timeout: float = 0.0
    exchange_not_available: float = 0.0
    internal_error: float = 0.0
    internal_error_executed: float = 0.0
    backend_timeout: float = 0.0
    backend_timeout_executed: float = 0.0
    invalid_timestamp: float = 0.0
    lost_create_reply: float = 0.0
    weight_per_minute: int = 6000
    orders_per_10s: int = 100
    orders_per_day: int = 200000
    latency: float = 0.0
    outages: tuple[Outage, ...] = ()
    maintenance: tuple[Maintenance, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        fractions = (*_RATES, "internal_error_executed", "backend_timeout_executed")
        for name in (*fractions, "lost_create_reply"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a fraction in [0, 1], got {getattr(self, name)}")
        if sum(getattr(self, name) for name in _RATES) > 1:
            problems.append(f"{' + '.join(_RATES)} must be <= 1")
        for name in ("weight_per_minute", "orders_per_10s", "orders_per_day"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0 (0: no limit), got {getattr(self, name)}")
        if self.latency < 0:
            problems.append(f"latency must be >= 0 seconds, got {self.latency}")
        if problems:
            raise DomainError("; ".join(problems))


class FaultInjector:
    def __init__(
        self, config: FaultConfig, rng: random.Random, clock: Clock, exchange_id: str = "sim"
    ) -> None:
        self.config = config
        self.rng = rng
        self.clock = clock
        self.exchange_id = exchange_id
        self.injected: Counter[str] = Counter()
        self.started = clock.time()
        self.charges = 0  # requests charged so far (a front tells a charged request by it)
        self.retry_after: float | None = None  # seconds the last 429 asked to wait
        self._minute = -1
        self._weight = 0
        self._orders: dict[float, tuple[int, int]] = {}  # window length: (window, count)

    @property
    def weight_used(self) -> int:
        """Weight charged in the current minute (what Binance reports as X-MBX-USED-WEIGHT-1M)."""
        return self._weight if int(self.clock.time() // 60) == self._minute else 0

    def order_counts(self) -> dict[str, str]:
        """Orders counted in the current windows, as Binance's X-MBX-ORDER-COUNT-* headers."""
        return {
            f"X-MBX-ORDER-COUNT-{label}": str(self._order_count(length))
            for label, length in (("10S", 10.0), ("1D", DAY))
        }

    def in_maintenance(self) -> bool:
        elapsed = self.clock.time() - self.started
        return any(w.start <= elapsed < w.end for w in self.config.maintenance)

    def admit(self, method: str, weight: int) -> ccxt.BaseError | None:
        """Pass a call, or raise what it meets (see the module docstring); the error returned,
        if any, is to be raised after the call executed."""
        self._check_maintenance(method)
        self.charge(method, weight)
        if method == STATUS:
            return None
        c = self.config
        elapsed = self.clock.time() - self.started
        for outage in c.outages:
            if outage.method == method and outage.start <= elapsed < outage.end:
                self.injected["outage"] += 1
                raise ccxt.ExchangeNotAvailable(
                    f"{self.exchange_id} {method}: unavailable (simulated outage until"
                    f" {outage.end:.0f} s)"
                )
        late = self._draw(method)
        if method in NEW_ORDERS:
            self._count_order()
        return late

    def refused(self, method: str, weight: int) -> None:
        """Charge a request refused for a bad parameter (Binance charges those too): raises
        what comes first, maintenance or the weight budget's 429."""
        self._check_maintenance(method)
        self.charge(method, weight)

    def reply_lost(self, method: str) -> bool:
        """Whether the reply to an executed `create_order` is lost (the caller sees a timeout)."""
        if self.config.lost_create_reply <= 0:
            return False
        lost = self.rng.random() < self.config.lost_create_reply
        if lost:
            self.injected["lost_create_reply"] += 1
            log.debug("sim_fault_injected", method=method, fault="lost_create_reply")
        return lost

    def charge(self, method: str, weight: int) -> None:
        """Charge `weight` to the current minute, or raise the 429 when over the budget."""
        budget = self.config.weight_per_minute
        now = self.clock.time()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._weight = minute, 0
        if budget and self._weight + weight > budget:
            self.injected["rate_limited"] += 1
            self.retry_after = 60 - (now % 60)
            log.debug("sim_rate_limited", method=method, used=self._weight, budget=budget)
            raise ccxt.DDoSProtection(
                f"{self.exchange_id} 429 Too Many Requests: {method} needs weight {weight},"
                f" {self._weight} of {budget} per minute used; retry after"
                f" {self.retry_after:.0f} s"
            )
        self._weight += weight
        self.charges += 1

    # ---- internals --------------------------------------------------------------------------

    def _check_maintenance(self, method: str) -> None:
        if method != STATUS and self.in_maintenance():
            self.injected["maintenance"] += 1
            raise ccxt.OnMaintenance(f"{self.exchange_id} {method}: {MAINTENANCE}")

    def _draw(self, method: str) -> ccxt.BaseError | None:
        c = self.config
        u = self.rng.random()
        for kind, rate, error in (
            ("network_error", c.network_error, ccxt.NetworkError),
            ("request_timeout", c.request_timeout, ccxt.RequestTimeout),
            ("exchange_not_available", c.exchange_not_available, ccxt.ExchangeNotAvailable),
        ):
            if u < rate:
                self.injected[kind] += 1
                log.debug("sim_fault_injected", method=method, fault=kind)
                raise error(f"{self.exchange_id} {method}: simulated {kind.replace('_', ' ')}")
            u -= rate
        if u < c.invalid_timestamp:
            if method in SIGNED:
                self.injected["invalid_timestamp"] += 1
                raise ccxt.InvalidNonce(f"{self.exchange_id} {method}: {OUTSIDE_RECV_WINDOW}")
            return None
        u -= c.invalid_timestamp
        for kind, rate, executed, error, text in (
            ("internal_error", c.internal_error, c.internal_error_executed,
             ccxt.OperationFailed, INTERNAL_ERROR),
            ("backend_timeout", c.backend_timeout, c.backend_timeout_executed,
             ccxt.RequestTimeout, BACKEND_TIMEOUT),
        ):  # fmt: skip
            if u < rate:
                late = method in EXECUTABLE and executed > 0 and self.rng.random() < executed
                self.injected[f"{kind}_executed" if late else kind] += 1
                log.debug("sim_fault_injected", method=method, fault=kind, executed=late)
                exc = error(f"{self.exchange_id} {method}: {text}")
                if late:
                    return exc
                raise exc
            u -= rate
        return None

    def _order_count(self, length: float) -> int:
        window, count = self._orders.get(length, (-1, 0))
        return count if window == int(self.clock.time() // length) else 0

    def _count_order(self) -> None:
        """Count one new order, or raise Binance's -1015 429 when a window is full."""
        now = self.clock.time()
        c = self.config
        for length, limit, label in (
            (10.0, c.orders_per_10s, "10 SECOND"),
            (DAY, c.orders_per_day, "1 DAY"),
        ):
            if limit and self._order_count(length) >= limit:
                self.injected["order_rate_limited"] += 1
                self.retry_after = float(math.ceil(length - now % length))
                raise ccxt.DDoSProtection(
                    f"{self.exchange_id} 429 create_order: -1015 Too many new orders; current"
                    f" limit is {limit} orders per {label}."
                )
        for length in (10.0, DAY):
            self._orders[length] = (int(now // length), self._order_count(length) + 1)
