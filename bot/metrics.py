"""Prometheus metrics and the health check, served by a small HTTP server in its own thread.

    metrics = Metrics(poll_interval=settings.loop.poll_interval, clock=backend.clock.time)
    metrics.start(settings.metrics.host, settings.metrics.port)   # GET /metrics, GET /healthz
    metrics.observe_poll(valuation, clock.time())                  # after every poll
    metrics.rebalance_started(); ...; metrics.rebalance_finished(report)
    metrics.stop()

The server runs in a daemon thread, so a scrape never waits for the asyncio loop and the loop
never waits for a scrape. `/healthz` answers 200 while the last poll completed within
`STALE_POLLS` poll intervals, or, during a rebalance, while its heartbeat is that fresh (on
`clock`, the same clock the polls are stamped with); 503 before the first poll and once both
have stopped. The body is a small JSON object saying why.

Each `Metrics` has its own `CollectorRegistry`: two instances (two tests) never share a series.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.domain.flows import Flow, FlowKind, FlowStatus
from bot.domain.status import RebalanceStatus
from bot.observability import get_logger

if TYPE_CHECKING:
    from bot.domain.exposure import ExposureView
    from bot.domain.margin import MarginHealth
    from bot.domain.portfolio import Valuation
    from bot.domain.positions import FundingPayment, FuturesAccount
    from bot.execution.reports import RebalanceReport

log = get_logger("bot.metrics")

# /healthz turns 503 when the last poll is older than this many poll intervals.
STALE_POLLS = 3
# Implementation shortfall per leg, in bps. A leg that did better than the arrival mid (negative
# shortfall) lands in the 0 bucket: a negative bucket bound would make prometheus-client drop the
# histogram's _sum, and with it the mean shortfall.
SHORTFALL_BUCKETS_BPS = (0, 2, 5, 10, 15, 20, 30, 50, 75, 100, 150, 250)
PREFIX = "rebalance_"


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    reason: str
    last_poll_age: float | None  # seconds; None before the first poll
    halted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unhealthy",
            "reason": self.reason,
            "last_poll_age_s": None if self.last_poll_age is None else round(self.last_poll_age, 3),
            "halted": self.halted,
        }


class Metrics:
    """The bot's Prometheus series, and the health derived from the polls."""

    def __init__(
        self,
        poll_interval: float,
        *,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0, got {poll_interval}")
        self.poll_interval = poll_interval
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()
        self._last_poll: float | None = None
        self._last_beat: float | None = None  # a rebalance at work (the executor's heartbeat)
        self._halted = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        r = self.registry
        self.portfolio_value = Gauge(
            PREFIX + "portfolio_value",
            "Managed portfolio value at mid, in the portfolio quote.",
            ["quote"],
            registry=r,
        )
        self.weight = Gauge(
            PREFIX + "asset_weight", "Weight of an asset (0..1).", ["asset"], registry=r
        )
        self.target = Gauge(
            PREFIX + "asset_target", "Target weight of an asset (0..1).", ["asset"], registry=r
        )
        self.drift = Gauge(
            PREFIX + "asset_drift",
            "Weight minus target of an asset (-1..1).",
            ["asset"],
            registry=r,
        )
        self.last_poll_timestamp = Gauge(
            PREFIX + "last_poll_timestamp_seconds",
            "When the last poll completed (Unix time, on the bot's clock).",
            registry=r,
        )
        self.last_heartbeat_timestamp = Gauge(
            PREFIX + "last_heartbeat_timestamp_seconds",
            "When a rebalance at work last beat (Unix time, on the bot's clock).",
            registry=r,
        )
        self.rebalances_started = Counter(
            PREFIX + "rebalances_started", "Rebalances started.", registry=r
        )
        self.rebalances_finished = Counter(
            PREFIX + "rebalances_finished",
            "Rebalances finished, by status (done, failed, halted, refused, nothing).",
            ["status"],
            registry=r,
        )
        self.rebalances_halted = Counter(
            PREFIX + "rebalances_halted", "Rebalances that ended in a halt.", registry=r
        )
        self.child_orders_placed = Counter(
            PREFIX + "child_orders_placed", "Child orders sent to the exchange.", registry=r
        )
        self.child_orders_filled = Counter(
            PREFIX + "child_orders_filled", "Child orders filled, at least in part.", registry=r
        )
        self.child_orders_cancelled = Counter(
            PREFIX + "child_orders_cancelled",
            "Child orders cancelled or expired with something unfilled.",
            registry=r,
        )
        self.child_orders_rejected = Counter(
            PREFIX + "child_orders_rejected", "Child orders the exchange refused.", registry=r
        )
        self.shortfall_bps = Histogram(
            PREFIX + "shortfall_bps",
            "Implementation shortfall of each leg that filled, fees included, in bps vs arrival.",
            buckets=SHORTFALL_BUCKETS_BPS,
            registry=r,
        )
        self.fees = Counter(
            PREFIX + "fees", "Fees paid, in the portfolio quote.", ["quote"], registry=r
        )
        self.traded_value = Counter(
            PREFIX + "traded_value", "Value traded, in the portfolio quote.", ["quote"], registry=r
        )
        # Deposits and withdrawals, apart from the traded value: amounts in the asset's own units.
        self.deposited = Counter(
            PREFIX + "deposited", "Deposits credited, in the asset.", ["asset"], registry=r
        )
        self.withdrawn = Counter(
            PREFIX + "withdrawn",
            "Withdrawals done, amount and fee, in the asset.",
            ["asset"],
            registry=r,
        )
        self.flows_done = Counter(
            PREFIX + "flows",
            "Deposits and withdrawals done, by kind.",
            ["kind", "asset"],
            registry=r,
        )
        self.api_errors = Counter(
            PREFIX + "api_errors",
            "Exchange API errors, by ccxt exception class.",
            ["error"],
            registry=r,
        )
        self.loop_lag_seconds = Gauge(
            PREFIX + "loop_lag_seconds", "How late the asyncio event loop last woke up.", registry=r
        )
        self.halted_flag = Gauge(
            PREFIX + "halted", "1 while trading is halted, else 0.", registry=r
        )
        self.api_requests = Counter(
            PREFIX + "api_requests",
            "Requests to the REST API and dashboard, by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        # Perpetuals ([derivatives]): the margin guard's view and actions, funding.
        self.liquidation_distance = Gauge(
            PREFIX + "liquidation_distance",
            "Distance of a position to its liquidation price, a fraction of the mark.",
            ["symbol", "side"],
            registry=r,
        )
        self.liquidation_floor = Gauge(
            PREFIX + "liquidation_floor",
            "The distance below which the margin guard acts, a fraction of the mark.",
            ["symbol", "side"],
            registry=r,
        )
        self.futures_leverage = Gauge(
            PREFIX + "futures_leverage",
            "Perpetual notional over the futures account's equity.",
            registry=r,
        )
        self.portfolio_leverage = Gauge(
            PREFIX + "portfolio_leverage",
            "Gross exposure (spot and perpetuals) over the whole equity.",
            registry=r,
        )
        self.margin_ratio = Gauge(
            PREFIX + "margin_ratio",
            "Maintenance margin over the futures account's margin balance.",
            registry=r,
        )
        self.margin_breached = Gauge(
            PREFIX + "margin_breached", "1 while a margin limit is broken, else 0.", registry=r
        )
        self.margin_actions = Counter(
            PREFIX + "margin_actions",
            "What the margin guard did: a collateral transfer or a reduce-only cut.",
            ["action"],
            registry=r,
        )
        self.funding_received = Counter(
            PREFIX + "funding_received", "Funding received, in the asset.", ["asset"], registry=r
        )
        self.funding_paid = Counter(
            PREFIX + "funding_paid", "Funding paid, in the asset.", ["asset"], registry=r
        )

    # ---- what the daemon reports ----------------------------------------------------------

    def observe_poll(self, valuation: Valuation, now: float | None = None) -> None:
        """A poll completed at `now` (default: the clock's now) and saw `valuation`."""
        now = self.clock() if now is None else now
        self.portfolio_value.labels(quote=valuation.quote).set(float(valuation.total))
        for p in valuation.positions:
            self.weight.labels(asset=p.asset).set(float(p.weight))
            self.target.labels(asset=p.asset).set(float(p.target))
            self.drift.labels(asset=p.asset).set(float(p.drift))
        self.last_poll_timestamp.set(now)
        self._last_poll = now

    def observe_margin(
        self, health: MarginHealth, view: ExposureView, account: FuturesAccount
    ) -> None:
        """A poll's margin health and leverage (`bot.runtime.perps`)."""
        self.liquidation_distance.clear()
        self.liquidation_floor.clear()
        for p in health.positions:
            labels = {"symbol": p.symbol, "side": p.side.value}
            if p.distance is not None:
                self.liquidation_distance.labels(**labels).set(float(p.distance))
            self.liquidation_floor.labels(**labels).set(float(p.floor))
        self.futures_leverage.set(float(view.futures_leverage))
        self.portfolio_leverage.set(float(view.leverage))
        if health.margin_ratio is not None:
            self.margin_ratio.set(float(health.margin_ratio))
        self.margin_breached.set(0 if health.ok else 1)

    def api_request(self, route: str, method: str, status: int) -> None:
        """One request the REST API answered (`route`: its pattern, never the raw path)."""
        self.api_requests.labels(route=route, method=method, status=str(status)).inc()

    def margin_action(self, action: str) -> None:
        self.margin_actions.labels(action=action).inc()

    def funding(self, payments: Iterable[FundingPayment]) -> None:
        for p in payments:
            if p.amount > 0:
                self.funding_received.labels(asset=p.asset).inc(float(p.amount))
            elif p.amount < 0:
                self.funding_paid.labels(asset=p.asset).inc(float(-p.amount))

    def heartbeat(self, now: float | None = None) -> None:
        """A rebalance is at work at `now`: the daemon is alive between two polls."""
        self._last_beat = self.clock() if now is None else now
        self.last_heartbeat_timestamp.set(self._last_beat)

    def rebalance_started(self) -> None:
        self.rebalances_started.inc()

    def rebalance_finished(self, report: RebalanceReport) -> None:
        """Count the rebalance, its child orders, its fees and each filled leg's shortfall."""
        self.rebalances_finished.labels(status=report.status.value).inc()
        if report.status is RebalanceStatus.HALTED:
            self.rebalances_halted.inc()
        quote = report.before.quote
        for leg in report.legs:
            self.child_orders_placed.inc(leg.children)
            self.child_orders_filled.inc(leg.children_filled)
            self.child_orders_cancelled.inc(leg.children_cancelled)
            self.child_orders_rejected.inc(leg.children_rejected)
            if leg.filled > 0:
                self.shortfall_bps.observe(float(leg.shortfall_bps))
        _inc_positive(self.fees.labels(quote=quote), report.fees_value)
        _inc_positive(self.traded_value.labels(quote=quote), report.traded_value)

    def flow(self, flow: Flow, before: FlowStatus | None) -> None:
        """A deposit or withdrawal reported anew (`before`: its status recorded before, None if
        new): counted once, when it is done (`ok`)."""
        if flow.status is not FlowStatus.OK or before is FlowStatus.OK:
            return
        self.flows_done.labels(kind=flow.kind.value, asset=flow.asset).inc()
        if flow.kind is FlowKind.DEPOSIT:
            _inc_positive(self.deposited.labels(asset=flow.asset), flow.amount)
        else:
            _inc_positive(self.withdrawn.labels(asset=flow.asset), flow.amount + flow.fee)

    def halted(self, flag: bool) -> None:
        self._halted = flag
        self.halted_flag.set(1 if flag else 0)

    def api_error(self, name: str) -> None:
        """One exchange API error; `name` is the ccxt exception class (`RateLimitExceeded`)."""
        self.api_errors.labels(error=name).inc()

    def loop_lag(self, seconds: float) -> None:
        self.loop_lag_seconds.set(max(seconds, 0.0))

    async def monitor_loop_lag(self, interval: float = 1.0) -> None:
        """Measure, until cancelled, how late the event loop wakes from an `interval` sleep.

        A lag of seconds means something blocks the loop (and every order waiting on it)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag(loop.time() - before - interval)

    # ---- health -----------------------------------------------------------------------------

    def health(self, now: float | None = None) -> Health:
        """Healthy while the last poll completed within STALE_POLLS poll intervals."""
        now = self.clock() if now is None else now
        if self._last_poll is None:
            return Health(False, "no poll yet", None, self._halted)
        age = max(now - self._last_poll, 0.0)
        limit = STALE_POLLS * self.poll_interval
        if age <= limit:
            return Health(True, "polling", age, self._halted)
        if self._last_beat is not None and self._last_beat > self._last_poll:
            beat = max(now - self._last_beat, 0.0)
            if beat <= limit:
                return Health(True, f"rebalancing (heartbeat {beat:.0f} s ago)", age, self._halted)
        return Health(False, f"last poll {age:.0f} s ago (limit {limit:.0f} s)", age, self._halted)

    # ---- the HTTP server --------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 9108) -> int:
        """Serve /metrics and /healthz on host:port (0: a free port); return the bound port."""
        if self._server is not None:
            raise RuntimeError("metrics server already started")
        server_cls = _Server6 if ":" in host else _Server
        server = server_cls((host, port), _Handler)
        server.metrics = self
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="metrics-http",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        bound = self.port
        log.info("metrics_started", host=host, port=bound, paths=["/metrics", "/healthz"])
        return bound

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("metrics server not started")
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop the server (waits at most a fraction of a second); a no-op when not started."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        log.info("metrics_stopped")

    def render(self) -> bytes:
        """The exposition text, as /metrics serves it."""
        return generate_latest(self.registry)


def cannot_listen(host: str, port: int) -> str | None:
    """Why the metrics server could not listen on host:port, in one line, or None when it can:
    a probe bound and closed at once, so `run` can refuse a busy port or a host not on this
    machine before it builds anything (the server itself binds the same way, address reuse on)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}"
    except (ValueError, TypeError, OverflowError):  # a NUL in the host, a port out of range
        return f"metrics: cannot listen on {host!r}:{port}: not a host and port"
    return None


def _inc_positive(counter: Any, amount: Decimal) -> None:
    if amount > 0:
        counter.inc(float(amount))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics: Metrics


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "rebalance-bot"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        metrics = self.server.metrics
        if path == "/metrics":
            self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/health"):
            health = metrics.health()
            body = json.dumps(health.to_dict()).encode()
            self._reply(200 if health.ok else 503, body, "application/json")
        else:
            self._reply(404, b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line."""
