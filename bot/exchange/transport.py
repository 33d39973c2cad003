"""The transport: the one place that calls the exchange's ccxt object.

It paces requests (asyncio-throttle; ccxt's own limiter is switched off by the client factory,
`connect.py`, so the two do not stack), retries transient failures with exponential backoff and
jitter (honouring Retry-After), turns ccxt's exceptions into the bot's, and reads every reply
through one decoder, so that a reply the bot cannot read is a `MalformedReply`, never a bare
ValueError. `gateway.Gateway` builds the typed calls on it.

ccxt's hierarchy decides the order of every `except` here: `RequestTimeout`, `DDoSProtection`,
`RateLimitExceeded`, `ExchangeNotAvailable` and `InvalidNonce` are `NetworkError`s (siblings:
RateLimitExceeded is not a DDoSProtection); `OrderNotFound`, `OrderImmediatelyFillable` and
`DuplicateOrderId` are `InvalidOrder`s; `PermissionDenied` and `AccountSuspended` are
`AuthenticationError`s.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt.async_support as ccxt
from asyncio_throttle.throttler import Throttler

from bot.errors import (
    AuthFailed,
    ExchangeUnavailable,
    GatewayError,
    InsufficientBalance,
    MalformedReply,
    OrderRejected,
    OrderUnknown,
    WouldCross,
)
from bot.exchange.profile import ExchangeProfile
from bot.observability import get_logger

log = get_logger("bot.exchange")

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

# Requests sent by the current task (and the tasks it starts): a leg sets its own counter, so
# concurrent legs each count only their own calls.
request_counter: ContextVar[list[int] | None] = ContextVar("request_counter", default=None)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # total tries per call
    base_delay: float = 0.5  # seconds, doubled each retry
    max_delay: float = 30.0


class Transport:
    """Paced, retried, translated calls to one exchange object."""

    def __init__(
        self,
        exchange: Any,
        *,
        requests_per_second: float | None,
        retry: RetryPolicy | None,
        sleep: Sleep,
        rng: random.Random | None,
        now: Callable[[], float],
        profile: ExchangeProfile,
    ) -> None:
        self.exchange = exchange
        self.profile = profile  # the exchange's facts
        rate = requests_per_second or 1000.0 / max(float(getattr(exchange, "rateLimit", 50)), 1.0)
        # Pace in whole-second windows: `rate` calls per second, at least one.
        self._throttler = Throttler(rate_limit=max(1, int(rate)), period=1.0)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._now = now
        self._rng = rng or random.Random()
        self.requests = 0  # calls sent to the exchange, retries included
        # Called with the ccxt class name of every error the exchange answers (metrics).
        self.on_error: Callable[[str], None] | None = None

    @property
    def id(self) -> str:
        return str(getattr(self.exchange, "id", "exchange"))

    async def close(self) -> None:
        await self.exchange.close()

    # -- the one place that calls the backend ---------------------------------------------------

    async def _send(
        self, method: str, *args: Any, before: Callable[[], None] | None = None, **kwargs: Any
    ) -> Any:
        """The one call to the backend, paced; `before` runs as the request leaves."""
        async with self._throttler:
            self.requests += 1
            counter = request_counter.get()
            if counter is not None:
                counter[0] += 1
            if before is not None:
                before()
            try:
                return await getattr(self.exchange, method)(*args, **kwargs)
            except ccxt.BaseError as exc:
                if self.on_error is not None:
                    self.on_error(type(exc).__name__)
                raise

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call with retries on transient errors; translate the rest. Not for create_order."""
        attempt = 0
        while True:
            try:
                return await self._send(method, *args, **kwargs)
            except ccxt.OperationFailed as exc:  # network errors, and "status unknown" replies
                if self.profile.is_auth_failure(exc):
                    raise self._translate(method, ccxt.AuthenticationError(str(exc))) from exc
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise ExchangeUnavailable(
                        f"{self.id} {method}: {type(exc).__name__} after {attempt} tries: {exc}"
                    ) from exc
                if isinstance(exc, ccxt.InvalidNonce):  # a timestamp refusal: measure again
                    await self._resync_time()
                await self._backoff(method, attempt, exc)
            except ccxt.BaseError as exc:
                raise self._translate(method, exc) from exc
            except (ValueError, ArithmeticError) as exc:  # ccxt could not parse the reply
                raise MalformedReply(
                    f"{self.id} {method}: a reply ccxt cannot read: {type(exc).__name__}: {exc}"
                ) from exc

    async def ask(self, method: str, read: Callable[[Any], T]) -> T:
        """A call a profile names (one of ccxt's exchange-specific implicit methods, without
        arguments), retried and translated like any other, its reply read by `read`."""
        return self._decode(method, read, await self._call(method))

    async def _resync_time(self) -> None:
        """After a timestamp refusal: ccxt measures the exchange's clock again, where it can."""
        resync = getattr(self.exchange, "load_time_difference", None)
        if resync is None:
            return
        with contextlib.suppress(ccxt.BaseError):
            await resync()

    def _translate(self, method: str, exc: Exception) -> GatewayError:
        where = f"{self.id} {method}"
        if isinstance(exc, ccxt.AuthenticationError):
            return AuthFailed(
                f"{where}: the exchange refused the API key or its permissions: {exc}"
            )
        if isinstance(exc, ccxt.InsufficientFunds):
            return InsufficientBalance(f"{where}: insufficient balance: {exc}")
        if isinstance(exc, ccxt.OrderNotFound):
            return OrderUnknown(f"{where}: order not found: {exc}")
        if isinstance(exc, ccxt.OrderImmediatelyFillable):
            return WouldCross(f"{where}: post-only order would take liquidity: {exc}")
        if isinstance(exc, ccxt.InvalidOrder):
            return OrderRejected(f"{where}: order rejected: {exc}")
        return GatewayError(f"{where}: {type(exc).__name__}: {exc}")

    def _retry_after(self) -> float | None:
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        for key, value in dict(headers).items():
            if str(key).lower() == "retry-after":
                try:
                    return float(value)
                except (TypeError, ValueError):
                    return None
        return None

    async def _backoff(self, method: str, attempt: int, exc: Exception) -> float:
        """Sleep before try `attempt + 1`: exponential with jitter, at least Retry-After after a
        rate limit. Returns the seconds slept."""
        delay: float = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
        delay *= self._rng.uniform(0.5, 1.0)
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            retry_after = self._retry_after()
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.retry.max_delay * 4))
        log.warning(
            "exchange_retry",
            exchange=self.id,
            method=method,
            attempt=attempt,
            error=type(exc).__name__,
            delay_s=round(delay, 3),
        )
        await self._sleep(delay)
        return delay

    def _decode(self, method: str, convert: Callable[..., T], *args: Any) -> T:
        """A reply converted to domain values, or a GatewayError when the reply is malformed
        (a number that is not one, a missing field): never a bare ValueError or KeyError."""
        try:
            return convert(*args)
        except (ValueError, ArithmeticError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedReply(
                f"{self.id} {method}: a reply the bot cannot read: {type(exc).__name__}: {exc}"
            ) from exc
