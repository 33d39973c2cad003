"""The REST API (`/api/v1/...`) and the dashboard (`/`, `/static/...`), served by aiohttp on the
daemon's own event loop (`bot.api.serve`).

Reads (GET) need no token; the four commands (POST pause, resume, rebalance, rebalance/cancel)
need `Authorization: Bearer <token>` and go through `daemon.control`, whose loop acts on them, so
none bypasses a risk check. Every error is JSON `{"error": "one line"}` with its status: a bad
query or body 400, no token 401, read-only 403, unknown path 404, wrong method 405, a refused
command 409, a body over 4 KiB 413, a Host that is not this server's 421 (DNS rebinding). Every
response carries `X-Content-Type-Options`, `X-Frame-Options` and a `Content-Security-Policy`;
the API's also `Cache-Control: no-store`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.api import views
from bot.api.auth import UNREADABLE, check_bearer
from bot.api.openapi import openapi_document
from bot.errors import JournalError
from bot.observability import get_logger, register_secrets
from bot.runtime.control import Answer
from bot.runtime.daemon import Daemon
from bot.settings import Settings

log = get_logger("bot.api")

PREFIX = "/api/v1"
MAX_BODY = 4096  # bytes: a command's body is a short JSON object at most
MAX_REASON = 200  # characters of a pause's reason
MAX_LIMIT = 500
STATIC = Path(__file__).resolve().parent / "static"
SOURCE = "api"  # the commands' source in the journal and the log

DAEMON: web.AppKey[Daemon] = web.AppKey("daemon", Daemon)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
HOSTS: web.AppKey[frozenset[str]] = web.AppKey("hosts", frozenset)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " frame-ancestors 'none'; form-action 'self'"
    ),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A query value or body the API does not take: 400 with its message."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


# -- middleware ---------------------------------------------------------------------------------


def _allowed_hosts(settings: Settings) -> frozenset[str]:
    """The Host header values a request may carry (without the port): the configured host unless
    it is a wildcard, and the loopback names."""
    hosts = {"localhost", "127.0.0.1", "::1", "[::1]"}
    if settings.api.host not in ("0.0.0.0", "::", ""):
        hosts.add(settings.api.host.lower())
    return frozenset(hosts)


def _host_of(header: str) -> str:
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:8088
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The Host check, errors as JSON, and the security headers on every response."""
    response: web.StreamResponse
    if _host_of(request.headers.get("Host", "")) not in request.app[HOSTS]:
        response = error(421, "this server does not answer for that Host header")
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _http_error(exc)
        except BadRequest as exc:
            response = error(400, str(exc))
        except JournalError as exc:
            log.error("api_journal_error", path=request.path, error=str(exc))
            response = error(503, "the journal cannot be read now; see the bot's log")
        except Exception as exc:  # a bug: still one JSON line, the details in the log
            log.exception("api_error", path=request.path, error=type(exc).__name__)
            response = error(500, "internal error; see the bot's log")
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    metrics = request.app[DAEMON].metrics
    if metrics is not None:  # by route pattern: unknown paths are one label, never many
        route = request.match_info.route.resource
        pattern = route.canonical if route is not None else "unmatched"
        metrics.api_request(pattern, request.method, response.status)
    return response


def _http_error(exc: web.HTTPException) -> web.Response:
    if exc.status < 400:  # a redirect: as aiohttp made it
        return web.Response(status=exc.status, headers=exc.headers)
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
    messages = {
        404: "no such path: see /api/v1/openapi.json",
        405: "method not allowed here",
        413: f"the body is larger than {MAX_BODY} bytes",
    }
    return error(exc.status, messages.get(exc.status, exc.reason), headers)


# -- query values -------------------------------------------------------------------------------


def query_limit(request: web.Request, default: int = 20) -> int:
    text = request.query.get("limit")
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def query_since(request: web.Request) -> float | None:
    """`since`: a Unix time in seconds or an ISO 8601 time (UTC unless it says otherwise)."""
    text = request.query.get("since")
    if text is None or text == "":
        return None
    if len(text) > 40 or not text.isascii():
        raise BadRequest("since must be a Unix time or an ISO 8601 time")
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise BadRequest("since must be a Unix time or an ISO 8601 time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadRequest("since must be a Unix time in seconds from 0")
    return value


# -- reads --------------------------------------------------------------------------------------


def _json(data: Any) -> web.Response:
    return web.json_response(data)


async def get_status(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    writes = settings.api.token is not None or settings.api.token_file is not None
    return _json(views.status_view(request.app[DAEMON], writes=writes))


async def get_plan(request: web.Request) -> web.Response:
    return _json(views.plan_view(request.app[DAEMON]))


async def get_running(request: web.Request) -> web.Response:
    return _json(views.running_view(request.app[DAEMON]))


async def get_rebalances(request: web.Request) -> web.Response:
    return _json(views.history_view(request.app[DAEMON], query_limit(request)))


async def get_rebalance(request: web.Request) -> web.Response:
    text = request.match_info["rid"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadRequest("a rebalance id is a whole number")
    found = views.rebalance_view(request.app[DAEMON], int(text))
    return error(404, f"no rebalance {int(text)}") if found is None else _json(found)


async def get_flows(request: web.Request) -> web.Response:
    return _json(views.flows_view(request.app[DAEMON], query_limit(request)))


async def get_snapshots(request: web.Request) -> web.Response:
    since, limit = query_since(request), query_limit(request, MAX_LIMIT)
    return _json(views.snapshots_view(request.app[DAEMON], since, limit))


async def get_balance(request: web.Request) -> web.Response:
    return _json(views.balance_view(request.app[DAEMON]))


async def get_metrics(request: web.Request) -> web.Response:
    return _json(views.metrics_view(request.app[DAEMON]))


async def get_commands(request: web.Request) -> web.Response:
    return _json(views.commands_view(request.app[DAEMON], query_limit(request)))


async def get_openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


# -- commands -----------------------------------------------------------------------------------


def _refused(request: web.Request) -> web.Response | None:
    """The response refusing a command without the right token, or None (go ahead)."""
    try:
        token = request.app[SETTINGS].api.bearer()
    except ValueError:
        return error(503, UNREADABLE)
    refusal = check_bearer(request.headers.get("Authorization"), token)
    if refusal is None:
        return None
    log.warning("api_refused", path=request.path, status=refusal.status, why=refusal.message)
    challenge = {"WWW-Authenticate": 'Bearer realm="rebalance-bot"'}
    headers = challenge if refusal.status == 401 else None
    return error(refusal.status, refusal.message, headers)


async def _body(request: web.Request) -> dict[str, Any]:
    """The command's JSON object (empty when there is no body)."""
    raw = await request.read()  # at most client_max_size bytes, else 413
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _answer(answer: Answer) -> web.Response:
    if not answer.ok:
        return error(409, answer.message)
    return _json({"ok": True, "message": answer.message})


def command(act: Callable[[Daemon, dict[str, Any]], Answer]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if (refused := _refused(request)) is not None:
            return refused
        body = await _body(request)
        return _answer(act(request.app[DAEMON], body))

    return handle


def _reason(body: dict[str, Any]) -> str:
    if set(body) - {"reason"}:
        raise BadRequest("the body may hold only a reason")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise BadRequest(f"reason must be a string of at most {MAX_REASON} characters")
    if not reason.isprintable():
        raise BadRequest("reason must be one line of printable characters")
    return reason.strip()


def _pause(daemon: Daemon, body: dict[str, Any]) -> Answer:
    return daemon.control.pause(SOURCE, _reason(body))


def _resume(daemon: Daemon, body: dict[str, Any]) -> Answer:
    return daemon.control.resume(SOURCE)


def _rebalance(daemon: Daemon, body: dict[str, Any]) -> Answer:
    return daemon.control.rebalance_now(SOURCE)


def _cancel(daemon: Daemon, body: dict[str, Any]) -> Answer:
    return daemon.control.cancel(SOURCE)


# -- the dashboard ------------------------------------------------------------------------------


async def get_index(request: web.Request) -> web.StreamResponse:
    index = STATIC / "index.html"
    if not index.is_file():
        return error(404, "no dashboard installed: the API is at /api/v1/")
    return web.FileResponse(index)


async def get_static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    root = STATIC.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return error(404, "no such file")
    return web.FileResponse(path)


# -- the application ----------------------------------------------------------------------------


def build_app(settings: Settings, daemon: Daemon) -> web.Application:
    try:  # masked in every log line, should one ever carry it
        token = settings.api.bearer()
    except ValueError:
        token = None  # unreadable now: each command says so (503)
    register_secrets([None if token is None else token.get_secret_value()])
    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    app[DAEMON], app[SETTINGS], app[HOSTS] = daemon, settings, _allowed_hosts(settings)
    reads: dict[str, Handler] = {
        "/status": get_status,
        "/plan": get_plan,
        "/rebalance/current": get_running,
        "/rebalances": get_rebalances,
        "/rebalances/{rid}": get_rebalance,
        "/flows": get_flows,
        "/snapshots": get_snapshots,
        "/balance": get_balance,
        "/metrics": get_metrics,
        "/commands": get_commands,
        "/openapi.json": get_openapi,
    }
    for path, handler in reads.items():
        app.router.add_get(PREFIX + path, handler)
    writes = {"/pause": _pause, "/resume": _resume, "/rebalance": _rebalance}
    writes["/rebalance/cancel"] = _cancel
    for path, act in writes.items():
        app.router.add_post(PREFIX + path, command(act))
    app.router.add_get("/", get_index)
    app.router.add_get("/static/{name:.+}", get_static)
    return app
