"""Optional notifications: Telegram and a generic JSON webhook, never in the way of trading.

    notifier = Notifier(settings.notify)
    await notifier.send(REBALANCE_FINISHED, *report_summary(report))   # returns at once
    await notifier.error("NetworkError", "poll failed: ...")           # sends on the Nth repeat
    await notifier.aclose()                                            # at exit, bounded

`send` only schedules the deliveries (one task per channel) and returns; each delivery is given
up after `notify.timeout` seconds, and its failure is logged, never raised. At most
`notify.max_per_minute` messages go out in any minute; beyond that a message is dropped with a log
line. The Telegram token (environment only) and the webhook URL are registered with the log
redaction and never logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.errors import DeliveryError
from bot.observability import get_logger, register_secrets
from bot.settings import NotifySettings

if TYPE_CHECKING:
    from bot.domain.portfolio import Valuation
    from bot.execution.reports import RebalanceReport

log = get_logger("bot.notify")

# Event names.
REBALANCE_STARTED = "rebalance_started"
REBALANCE_FINISHED = "rebalance_finished"
HALT = "halt"
ERRORS = "errors"

RATE_WINDOW = 60.0  # seconds over which max_per_minute counts
ERROR_WINDOW = 600.0  # seconds over which repeated errors count
TELEGRAM_MAX_CHARS = 4096
CLOSE_GRACE = 2.0  # seconds aclose() lets deliveries in flight finish
MAX_RETRY_AFTER = 300.0  # seconds: longer waits Telegram asks for are cut to this


class Notifier:
    """Fire-and-forget notifications to the configured channels, rate-limited."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        source: str = "rebalance-bot",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.source = source
        self._clock = clock
        self._sent: deque[float] = deque()
        self._errors: dict[str, deque[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        token = settings.telegram_token
        webhook = settings.webhook_url
        register_secrets(
            [
                token.get_secret_value() if token else None,
                webhook.get_secret_value() if webhook else None,
            ]
        )

    @property
    def channels(self) -> list[str]:
        names = []
        if self.settings.telegram_token is not None and self.settings.telegram_chat_id:
            names.append("telegram")
        if self.settings.webhook_url is not None:
            names.append("webhook")
        return names

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    @property
    def pending(self) -> int:
        """Deliveries still in flight."""
        return len(self._tasks)

    async def send(self, event: str, text: str, data: Mapping[str, Any] | None = None) -> None:
        """Schedule `text` (and `data`, for the webhook) to every channel; return at once."""
        channels = self.channels
        if not channels or self._closed:
            return
        now = self._clock()
        while self._sent and now - self._sent[0] >= RATE_WINDOW:
            self._sent.popleft()
        if len(self._sent) >= self.settings.max_per_minute:
            log.warning(
                "notification_dropped",
                notify_event=event,
                reason=f"rate limit: {self.settings.max_per_minute} per minute",
            )
            return
        self._sent.append(now)
        payload = dict(data or {})
        for channel in channels:
            post: Callable[[], Awaitable[None]] = (
                functools.partial(self._telegram, event, text)
                if channel == "telegram"
                else functools.partial(self._webhook, event, text, payload)
            )
            task = asyncio.create_task(self._deliver(channel, event, post))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def error(self, kind: str, text: str, data: Mapping[str, Any] | None = None) -> None:
        """Count an error of `kind`; its `repeated_errors`-th within 10 minutes sends a message."""
        if not self.enabled:
            return
        now = self._clock()
        seen = self._errors.setdefault(kind, deque())
        seen.append(now)
        while seen and now - seen[0] >= ERROR_WINDOW:
            seen.popleft()
        if len(seen) >= self.settings.repeated_errors:
            count = len(seen)
            seen.clear()
            await self.send(
                ERRORS,
                f"{kind} {count} times in {ERROR_WINDOW / 60:.0f} min; last: {text}",
                {"error": kind, "count": count, **(data or {})},
            )

    async def aclose(self, grace: float = CLOSE_GRACE) -> None:
        """Let deliveries in flight finish for at most `grace` seconds, cancel the rest, close."""
        self._closed = True
        tasks = set(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
                log.warning("notifications_abandoned", count=len(late))
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- delivery ---------------------------------------------------------------------------

    async def _deliver(self, channel: str, event: str, post: Callable[[], Awaitable[None]]) -> None:
        try:
            async with asyncio.timeout(self.settings.timeout):
                await post()
        except TimeoutError:
            log.warning(
                "notify_failed",
                channel=channel,
                notify_event=event,
                error=f"no answer within {self.settings.timeout:g} s",
            )
        except DeliveryError as exc:
            log.warning("notify_failed", channel=channel, notify_event=event, error=str(exc))
        except Exception as exc:  # a notification must never take the bot down
            # The class only: messages of HTTP client errors may carry the URL (and its token).
            log.warning(
                "notify_failed", channel=channel, notify_event=event, error=type(exc).__name__
            )
        else:
            log.debug("notified", channel=channel, notify_event=event)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
            )
        return self._session

    async def _telegram(self, event: str, text: str) -> None:
        token = self.settings.telegram_token
        assert token is not None
        base = self.settings.telegram_api_url.rstrip("/")
        url = f"{base}/bot{token.get_secret_value()}/sendMessage"
        message = f"{self.source} {event}: {text}"
        body = {
            "chat_id": self.settings.telegram_chat_id,
            "text": message[:TELEGRAM_MAX_CHARS],
            "disable_web_page_preview": True,
        }
        for attempt in (1, 2):  # a 429 is waited out once, when it fits the delivery's time
            async with self._http().post(url, json=body) as resp:
                answer: Any = None
                if resp.content_type == "application/json":
                    answer = await resp.json()
                if resp.status == 200 and isinstance(answer, dict) and answer.get("ok"):
                    return
                about = answer.get("description", "") if isinstance(answer, dict) else ""
                wait = retry_after(resp.status, answer)
            if attempt == 1 and wait is not None and wait < self.settings.timeout:
                await asyncio.sleep(wait)
                continue
            raise DeliveryError(
                f"telegram answered HTTP {resp.status} {about}".strip(), retry_after=wait
            )

    async def _webhook(self, event: str, text: str, data: dict[str, Any]) -> None:
        url = self.settings.webhook_url
        assert url is not None
        body = {
            "source": self.source,
            "event": event,
            "text": text,
            "data": data,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        encoded = json.dumps(body, default=str).encode()
        async with self._http().post(
            url.get_secret_value(),
            data=encoded,
            headers={"Content-Type": "application/json"},
        ) as resp:
            if not 200 <= resp.status < 300:
                raise DeliveryError(f"webhook answered HTTP {resp.status}")


# ---- message texts ------------------------------------------------------------------------


def retry_after(status: int, answer: Any) -> float | None:
    """The seconds Telegram asks to wait after a 429 (`parameters.retry_after`), at most
    `MAX_RETRY_AFTER`; None for any other answer."""
    if status != 429 or not isinstance(answer, dict):
        return None
    params = answer.get("parameters")
    value = params.get("retry_after") if isinstance(params, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        return None
    return float(min(value, MAX_RETRY_AFTER))


def started_summary(valuation: Valuation) -> tuple[str, dict[str, Any]]:
    """Text and data for REBALANCE_STARTED: the value and the assets out of their bands."""
    out = [f"{p.asset} {p.drift * 100:+.2f}pp" for p in valuation.out_of_band]
    text = f"rebalancing {valuation.total:,.2f} {valuation.quote}; out of band: " + (
        ", ".join(out) or "none"
    )
    data = {
        "value": str(valuation.total),
        "quote": valuation.quote,
        "out_of_band": {p.asset: str(p.drift) for p in valuation.out_of_band},
    }
    return text, data


def report_summary(report: RebalanceReport) -> tuple[str, dict[str, Any]]:
    """Text and data for REBALANCE_FINISHED: status, traded value, cost, fees, legs."""
    quote = report.before.quote
    filled = sum(1 for leg in report.legs if leg.filled > 0)
    text = (
        f"rebalance {report.rebalance_id if report.rebalance_id is not None else '-'}"
        f" {report.status.value}"
        + (f" ({report.reason})" if report.reason else "")
        + f": traded {report.traded_value:,.2f} {quote}, shortfall {report.shortfall_bps:.1f} bps,"
        f" fees {report.fees_value:,.2f} {quote}, {filled}/{len(report.legs)} legs filled,"
        f" {report.finished - report.started:.0f} s"
    )
    if report.after is not None:
        text += "; in band" if not report.after.needs_rebalance else "; still out of band"
    return text, report.to_dict()


def halt_summary(reason: str) -> tuple[str, dict[str, Any]]:
    """Text and data for HALT."""
    return f"HALTED: {reason}. Trading stops; `rebalance-bot resume` clears it.", {"reason": reason}
