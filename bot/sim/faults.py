"""Injected failures: transient network errors, lost replies and a request-weight budget.

Every API call is admitted by `FaultInjector.admit(method, weight)` before it touches the market:
1. The request weight is charged to the current calendar minute (Binance's `REQUEST_WEIGHT`
   window); a call that would exceed `weight_per_minute` (0: no limit) raises
   `ccxt.DDoSProtection`, what ccxt raises for Binance's HTTP 429, and is not charged.
2. One uniform draw from the injector's own seeded stream decides whether the call fails with
   `ccxt.NetworkError`, `ccxt.RequestTimeout` or `ccxt.ExchangeNotAvailable` (rates are fractions
   of calls, disjoint).
`create_order` then asks `reply_lost()`: with probability `lost_create_reply` the order is placed
but the caller gets `ccxt.RequestTimeout`, the ambiguous case a gateway must resolve by looking
the client order id up.

An outage (`outages`) makes one method answer `ccxt.ExchangeNotAvailable` (Binance's 503) from
`start` to `end` seconds after the injector's creation, whatever the draw: a trade query down for
ten minutes, say.
"""

from __future__ import annotations

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
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "fetch_open_orders_all": 80,
    "fetch_orders": 20,
    "fetch_my_trades": 20,
}


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
class FaultConfig:
    """Fractions of calls that fail, the weight budget per minute (0: unlimited), latency (s)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    network_error: float = 0.0
    request_timeout: float = 0.0
    exchange_not_available: float = 0.0
    lost_create_reply: float = 0.0
    weight_per_minute: int = 6000
    latency: float = 0.0
    outages: tuple[Outage, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        rates = ("network_error", "request_timeout", "exchange_not_available", "lost_create_reply")
        for name in rates:
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a fraction in [0, 1], got {getattr(self, name)}")
        if self.network_error + self.request_timeout + self.exchange_not_available > 1:
            problems.append("network_error + request_timeout + exchange_not_available must be <= 1")
        if self.weight_per_minute < 0:
            problems.append(f"weight_per_minute must be >= 0, got {self.weight_per_minute}")
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
        self._minute = -1
        self._weight = 0

    @property
    def weight_used(self) -> int:
        """Weight charged in the current minute (what Binance reports as X-MBX-USED-WEIGHT-1M)."""
        return self._weight if int(self.clock.time() // 60) == self._minute else 0

    def admit(self, method: str, weight: int) -> None:
        self._charge(method, weight)
        c = self.config
        elapsed = self.clock.time() - self.started
        for outage in c.outages:
            if outage.method == method and outage.start <= elapsed < outage.end:
                self.injected["outage"] += 1
                raise ccxt.ExchangeNotAvailable(
                    f"{self.exchange_id} {method}: unavailable (simulated outage until"
                    f" {outage.end:.0f} s)"
                )
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

    def reply_lost(self, method: str) -> bool:
        """Whether the reply to an executed `create_order` is lost (the caller sees a timeout)."""
        if self.config.lost_create_reply <= 0:
            return False
        lost = self.rng.random() < self.config.lost_create_reply
        if lost:
            self.injected["lost_create_reply"] += 1
            log.debug("sim_fault_injected", method=method, fault="lost_create_reply")
        return lost

    def _charge(self, method: str, weight: int) -> None:
        budget = self.config.weight_per_minute
        now = self.clock.time()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._weight = minute, 0
        if budget and self._weight + weight > budget:
            self.injected["rate_limited"] += 1
            retry_after = 60 - (now % 60)
            log.debug("sim_rate_limited", method=method, used=self._weight, budget=budget)
            raise ccxt.DDoSProtection(
                f"{self.exchange_id} 429 Too Many Requests: {method} needs weight {weight},"
                f" {self._weight} of {budget} per minute used; retry after {retry_after:.0f} s"
            )
        self._weight += weight
