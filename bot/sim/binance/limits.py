"""Request weight and transport trouble: the 429s Binance answers (-1003 when the sim's weight
budget runs out, -1015 when its order rate does; `Retry-After`), endpoint weights (for the
endpoints the sim has no unified method for, and for requests refused before they reach it), and
`HttpFaults` (429 bursts, 503s, late replies) drawn request by request.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.sim.binance.params import Params, integer
from bot.sim.binance.replies import Reply, error
from bot.sim.exchange import SimExchange
from bot.sim.faults import order_book_weight

UNLIMITED_WEIGHT = 6000  # what exchangeInfo reports when the scenario sets no weight budget

# Binance's weights of the endpoints by route name, with a symbol (without one, where that weighs
# more: `_WITHOUT_SYMBOL`): what a request refused before its handler charged it costs.
_WEIGHTS = {
    "exchangeInfo": 20,
    "account": 20,
    "queryOrder": 4,
    "openOrders": 6,
    "allOrders": 20,
    "myTrades": 20,
}
_WITHOUT_SYMBOL = {"ticker24hr": 80, "bookTicker": 4, "tickerPrice": 4, "openOrders": 80}


@dataclass(frozen=True, slots=True)
class HttpFaults:
    """Transport-level trouble, by fraction of requests, drawn from a stream seeded with `seed`.

    - `rate_limited`: a request starts a burst of `burst_seconds` in which every request is
      answered 429 (-1003) with `Retry-After`; nothing is executed.
    - `server_error`: the request is answered 503 Service Unavailable and not executed.
    - `slow`: the request is executed and its reply held back `slow_seconds` of wall time (longer
      than the client's timeout: a lost reply, the case idempotent placement must survive).
    """

    rate_limited: float = 0.0
    burst_seconds: float = 5.0
    server_error: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        for name in ("rate_limited", "server_error", "slow"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a fraction in [0, 1], got {getattr(self, name)}")
        if self.rate_limited + self.server_error > 1:
            problems.append("rate_limited + server_error must be <= 1")
        for name in ("burst_seconds", "slow_seconds"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        if problems:
            raise ValueError("; ".join(problems))


class TransportFaults:
    """`HttpFaults` drawn request by request, and the 429 burst in progress (clock time).
    `injected` counts them: `rate_limited_bursts` started, `rate_limited` requests answered 429
    in a burst, `server_error` 503s, `slow` replies held back."""

    def __init__(self, faults: HttpFaults, exchange: SimExchange) -> None:
        self.faults = faults
        self.injected: Counter[str] = Counter()
        self._exchange = exchange
        self._rng = random.Random(f"{faults.seed}/http-faults")
        self._burst_until = 0.0

    def burst(self, seconds: float) -> None:
        """Answer every request 429 for the next `seconds` (clock time), as a burst would."""
        self._burst_until = max(self._burst_until, self._exchange.clock.time() + seconds)

    def draw(self) -> bool:
        """Raise a 429 or 503 reply when a fault says so; return whether to answer late."""
        f = self.faults
        now = self._exchange.clock.time()
        if now >= self._burst_until and (f.rate_limited or f.server_error):
            u = self._rng.random()
            if u < f.rate_limited:
                self._burst_until = now + f.burst_seconds
                self.injected["rate_limited_bursts"] += 1
            elif u < f.rate_limited + f.server_error:
                self.injected["server_error"] += 1
                raise Reply(503, "Service Unavailable")
        if now < self._burst_until:
            self.injected["rate_limited"] += 1
            raise too_many(math.ceil(self._burst_until - now), self._exchange)
        slow = bool(f.slow) and self._rng.random() < f.slow
        if slow:
            self.injected["slow"] += 1
        return slow


def weight_budget(exchange: SimExchange) -> int:
    """The request weight per minute Binance would publish: the sim's budget, or a high one."""
    return exchange.faults.config.weight_per_minute or UNLIMITED_WEIGHT


def too_many(retry_after: int, exchange: SimExchange) -> Reply:
    """Binance's 429: -1003 with the budget in its message, `Retry-After` at least a second."""
    return error(
        429,
        -1003,
        f"Too much request weight used; current limit is {weight_budget(exchange)} request weight"
        " per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        {"Retry-After": str(max(retry_after, 1))},
    )


def too_many_orders(text: str, retry_after: int) -> Reply:
    """Binance's 429 for the order rate: -1015 with the limit in its message, `Retry-After`."""
    message = "Too many new orders" + text.partition("-1015 Too many new orders")[2]
    return error(429, -1015, message, {"Retry-After": str(max(retry_after, 1))})


def endpoint_weight(name: str, params: Params) -> int:
    """Binance's weight of a request to the route `name` with `params` (1 unless known)."""
    if name == "depth":
        try:
            return order_book_weight(integer(params, "limit"))
        except Reply:
            return order_book_weight(None)
    if name in _WITHOUT_SYMBOL and not params.get("symbol"):
        return _WITHOUT_SYMBOL[name]
    if name in ("ticker24hr", "bookTicker", "tickerPrice"):
        return 2
    return _WEIGHTS.get(name, 1)


def ticker_weight(symbols: Sequence[str] | None) -> int:
    """Binance's weight of GET /api/v3/ticker/24hr: by how many symbols are asked."""
    if symbols is None or len(symbols) > 100:
        return 80
    return 2 if len(symbols) <= 20 else 40
