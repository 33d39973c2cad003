"""The REST API (`bot.api.app`) served by aiohttp in front of a real daemon on the simulated
exchange (virtual time): every read's shape, the commands acted on by the daemon's own loop, the
bearer token (read-only without one, 401 without the right one, never shown), and bad input
answered 4xx JSON, never 500."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from bot.api.app import build_app
from bot.domain.market import Side
from bot.execution.reports import LegReport
from bot.journal import Journal
from bot.observability import configure_logging
from bot.runtime.control import Running
from bot.runtime.daemon import Daemon
from tests.integration.helpers import daemon_for, settings_for

TOKEN = "s3cr3t-api-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DASHBOARD = Path(__file__).resolve().parents[2] / "bot" / "api" / "static" / "index.html"
Api = tuple[TestClient[Any, Any], Daemon, Journal]


@pytest.fixture
async def make_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    """`await make_api(token=TOKEN)`: a daemon, its journal, and a client of its API."""
    clients: list[TestClient[Any, Any]] = []
    journals: list[Journal] = []

    async def make(token: str | None = TOKEN, extra: str = "") -> Api:
        if token is not None:
            monkeypatch.setenv("REBALANCE_API__TOKEN", token)
        else:
            monkeypatch.delenv("REBALANCE_API__TOKEN", raising=False)
        settings = settings_for(tmp_path, "[api]\nenabled = true\n" + extra)
        daemon, _, journal = daemon_for(settings)
        client: TestClient[Any, Any] = TestClient(
            TestServer(build_app(settings, daemon), host="127.0.0.1")
        )
        await client.start_server()
        clients.append(client)
        journals.append(journal)
        return client, daemon, journal

    yield make
    for c in clients:
        await c.close()
    for j in journals:
        j.close()


async def _get(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


# -- reads --------------------------------------------------------------------------------------


async def test_reads_before_any_poll_have_their_shape(make_api: Callable[..., Any]) -> None:
    client, daemon, _ = await make_api()
    status = await _get(client, "/api/v1/status")
    assert status["paused"] is None and status["running"] is False
    assert status["rebalance_asked"] is False and status["mode"] == daemon.rebalancer.mode.value
    assert status["last_poll"] is None and status["api"] == {"writes": True}
    assert status["quote"] == "USDT" and status["targets"]["weights"]["BTC"] == "0.40"
    assert await _get(client, "/api/v1/plan") == {"at": None, "plan": None}
    current = await _get(client, "/api/v1/rebalance/current")
    assert current == {"running": False, "started": None, "legs": []}
    for path in ("rebalances", "flows", "snapshots", "commands"):
        assert await _get(client, f"/api/v1/{path}") == []
    balance = await _get(client, "/api/v1/balance")
    assert balance["assets"] == [] and balance["at"] is None and balance["quote"] == "USDT"
    metrics = await _get(client, "/api/v1/metrics")
    assert metrics["rebalances"]["total"] == 0 and metrics["halted"] is None
    assert metrics["last_poll_age_s"] is None and metrics["fees"] == "0"


async def test_reads_after_a_rebalance(make_api: Callable[..., Any]) -> None:
    client, daemon, journal = await make_api()
    result = await daemon.run(once=True)
    assert result.reports, "the demo portfolio starts out of band"
    status = await _get(client, "/api/v1/status")
    assert status["last_poll"] is not None and status["last_rebalance"]["id"] >= 1
    assert status["positions"] and {"asset", "weight", "target", "drift"} <= set(
        status["positions"][0]
    )
    plan = await _get(client, "/api/v1/plan")
    assert plan["at"] is not None and plan["plan"]["legs"]
    leg = plan["plan"]["legs"][0]
    assert Decimal(leg["amount"]) > 0 and leg["side"] in ("buy", "sell")
    rows = await _get(client, "/api/v1/rebalances?limit=5")
    assert len(rows) == 1 and rows[0]["status"] == "done"
    one = await _get(client, f"/api/v1/rebalances/{rows[0]['id']}")
    assert one["id"] == rows[0]["id"] and one["legs"] and one["orders"] and one["fills"]
    assert {o["leg_key"] for o in one["orders"]} <= {leg["key"] for leg in one["legs"]}
    assert all(Decimal(f["amount"]) > 0 for f in one["fills"])
    await _get(client, "/api/v1/rebalances/9999", 404)
    snaps = await _get(client, "/api/v1/snapshots?since=0&limit=50")
    assert snaps and set(snaps[0]) >= {"at", "total", "weights"}
    assert [s["at"] for s in snaps] == sorted(s["at"] for s in snaps)  # oldest first
    assert await _get(client, "/api/v1/snapshots?since=2999-01-01T00:00:00Z") == []
    balance = await _get(client, "/api/v1/balance")
    assert {a["asset"] for a in balance["assets"]} >= {"BTC", "USDT"}
    total = sum(Decimal(a["value"]) for a in balance["assets"])
    assert total == Decimal(balance["total"])
    metrics = await _get(client, "/api/v1/metrics")
    assert metrics["rebalances"]["by_status"]["done"] == 1 and metrics["last_poll"] is not None
    assert metrics["last_shortfall_bps"] is not None
    assert journal.rebalances(1)[0].id == rows[0]["id"]


async def test_the_running_rebalance_shows_its_legs(make_api: Callable[..., Any]) -> None:
    client, daemon, _ = await make_api()
    leg = LegReport("1:BTC/USDT", "BTC/USDT", Side.BUY, Decimal("0.5"), Decimal(60000), "USDT")
    leg.filled, leg.cost = Decimal("0.2"), Decimal("12003")
    daemon.control.running = Running(daemon.clock.time(), {leg.key: leg})
    current = await _get(client, "/api/v1/rebalance/current")
    assert current["running"] is True and current["started"] is not None
    (shown,) = current["legs"]
    assert shown["symbol"] == "BTC/USDT" and shown["side"] == "buy"
    assert shown["planned"] == "0.5" and shown["filled"] == "0.2"
    assert shown["shortfall_bps"] == "2.50" and shown["outcome"] == "done"
    status = await _get(client, "/api/v1/status")
    assert status["running"] is True


async def test_the_openapi_document_and_security_headers(make_api: Callable[..., Any]) -> None:
    client, _, _ = await make_api()
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.0") and "/api/v1/pause" in doc["paths"]
    assert doc["paths"]["/api/v1/pause"]["post"]["security"] == [{"bearer": []}]
    assert resp.headers["Cache-Control"] == "no-store"
    for path in ("/api/v1/status", "/nowhere", "/"):
        resp = await client.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]


# -- commands -----------------------------------------------------------------------------------


async def test_pause_stops_rebalances_and_resume_ends_it(make_api: Callable[..., Any]) -> None:
    client, daemon, journal = await make_api()
    resp = await client.post("/api/v1/pause", json={"reason": "maintenance"}, headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert body["ok"] is True and "paused by api: maintenance" in body["message"]
    assert (await _get(client, "/api/v1/status"))["paused"] == "paused by api: maintenance"
    await daemon.run(once=True)
    assert journal.rebalances(5) == [], "paused: the out-of-band portfolio waits"
    resp = await client.post("/api/v1/rebalance", headers=AUTH)
    assert resp.status == 409 and "resume first" in (await resp.json())["error"]
    resp = await client.post("/api/v1/resume", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["ok"] is True
    assert daemon.control.paused is None
    await daemon.run(once=True)
    assert journal.rebalances(1), "resumed: rebalanced"
    commands = await _get(client, "/api/v1/commands")
    assert [(c["command"], c["source"]) for c in commands] == [
        ("resume", "api"),
        ("pause", "api"),
    ]


async def test_rebalance_now_is_refused_while_halted_else_honoured(
    make_api: Callable[..., Any],
) -> None:
    client, daemon, journal = await make_api()
    journal.halt("test halt")
    resp = await client.post("/api/v1/rebalance", headers=AUTH)
    assert resp.status == 409 and "halted" in (await resp.json())["error"]
    assert not daemon.control.asked
    journal.clear_halt(by="test")
    resp = await client.post("/api/v1/rebalance", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["ok"] is True
    assert daemon.control.asked
    assert (await _get(client, "/api/v1/status"))["rebalance_asked"] is True
    resp = await client.post("/api/v1/rebalance/cancel", headers=AUTH)
    assert resp.status == 409 and (await resp.json()) == {"error": "no rebalance is working"}


async def test_commands_without_a_configured_token_are_refused(
    make_api: Callable[..., Any],
) -> None:
    client, daemon, _ = await make_api(token=None)
    assert (await _get(client, "/api/v1/status"))["api"] == {"writes": False}
    for path in ("pause", "resume", "rebalance", "rebalance/cancel"):
        for headers in ({}, AUTH):
            resp = await client.post(f"/api/v1/{path}", headers=headers)
            assert resp.status == 403
            assert (await resp.json())["error"].startswith("the API is read-only")
    assert daemon.control.paused is None and not daemon.control.asked


async def test_commands_need_the_right_token(make_api: Callable[..., Any]) -> None:
    client, daemon, _ = await make_api()
    wrong = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer " + "x" * len(TOKEN)},
    ]
    for headers in wrong:
        resp = await client.post("/api/v1/pause", headers=headers)
        assert resp.status == 401, headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(await resp.json()) == {"error"}
    assert daemon.control.paused is None
    resp = await client.post("/api/v1/pause", headers={"Authorization": f"bearer  {TOKEN} "})
    assert resp.status == 200 and daemon.control.paused == "paused by api"


async def test_the_token_is_never_shown(
    make_api: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("debug", "json")
    try:
        caplog.set_level(logging.DEBUG)
        client, daemon, _ = await make_api()
        seen: list[str] = []
        for method, path, headers in [
            ("POST", "/api/v1/pause", {"Authorization": f"Bearer {TOKEN}"}),
            ("POST", "/api/v1/pause", {"Authorization": f"Bearer {TOKEN}0"}),
            ("POST", "/api/v1/rebalance", AUTH),
            ("POST", "/api/v1/resume", AUTH),
            ("GET", "/api/v1/status", AUTH),
            ("GET", "/api/v1/commands", {}),
            ("GET", "/api/v1/openapi.json", {}),
            ("GET", "/api/v1/metrics", {}),
        ]:
            resp = await client.request(method, path, headers=headers)
            seen.append(await resp.text())
            seen.extend(f"{k}: {v}" for k, v in resp.headers.items())
        await daemon.run(once=True)
        seen.append(repr(client.app))
        logs = capsys.readouterr()
        seen += [logs.out, logs.err, caplog.text]
        assert "api_refused" in logs.err, "the refusal is logged (without the token)"
        assert not [s for s in seen if TOKEN in s]
    finally:
        structlog.reset_defaults()


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/rebalances?limit=0", None, 400),
        ("GET", "/api/v1/rebalances?limit=501", None, 400),
        ("GET", "/api/v1/rebalances?limit=x", None, 400),
        ("GET", "/api/v1/rebalances?limit=-1", None, 400),
        ("GET", "/api/v1/rebalances?limit=%C2%B2", None, 400),
        ("GET", "/api/v1/flows?limit=1e3", None, 400),
        ("GET", "/api/v1/snapshots?since=yesterday", None, 400),
        ("GET", "/api/v1/snapshots?since=nan", None, 400),
        ("GET", "/api/v1/snapshots?since=-5", None, 400),
        ("GET", "/api/v1/snapshots?since=1e300", None, 400),
        ("GET", "/api/v1/rebalances/abc", None, 400),
        ("GET", "/api/v1/rebalances/99999999999999999999999", None, 400),
        ("GET", "/api/v1/nowhere", None, 404),
        ("GET", "/static/../app.py", None, 404),
        ("GET", "/static/%2e%2e/app.py", None, 404),
        ("DELETE", "/api/v1/status", None, 405),
        ("GET", "/api/v1/pause", None, 405),
        ("POST", "/api/v1/pause", b"{not json", 400),
        ("POST", "/api/v1/pause", b"[1, 2]", 400),
        ("POST", "/api/v1/pause", b'{"reason": 5}', 400),
        ("POST", "/api/v1/pause", b'{"reason": "a\\nb"}', 400),
        ("POST", "/api/v1/pause", json.dumps({"reason": "r" * 201}).encode(), 400),
        ("POST", "/api/v1/pause", b'{"why": "x"}', 400),
        ("POST", "/api/v1/pause", b"\xff\xfe", 400),
        ("POST", "/api/v1/pause", b"x" * 5000, 413),
    ],
)
async def test_bad_input_is_a_4xx_json_error(
    make_api: Callable[..., Any], method: str, path: str, body: bytes | None, status: int
) -> None:
    client, daemon, _ = await make_api()
    resp = await client.request(method, path, data=body, headers=AUTH)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert set(data) == {"error"} and "\n" not in data["error"]
    assert daemon.control.paused is None


async def test_a_foreign_host_header_is_refused(make_api: Callable[..., Any]) -> None:
    client, _, _ = await make_api()
    resp = await client.get("/api/v1/status", headers={"Host": "evil.example:8088"})
    assert resp.status == 421 and "error" in await resp.json()
    for host in ("localhost:8088", "127.0.0.1", "[::1]:8088"):
        resp = await client.get("/api/v1/status", headers={"Host": host})
        assert resp.status == 200, host


async def test_the_dashboard_is_served_or_missing_gracefully(
    make_api: Callable[..., Any],
) -> None:
    client, _, _ = await make_api()
    resp = await client.get("/")
    if DASHBOARD.is_file():
        assert resp.status == 200 and "html" in resp.content_type
    else:
        assert resp.status == 404 and resp.content_type == "application/json"
    resp = await client.get("/static/no-such-file.js")
    assert resp.status == 404 and resp.content_type == "application/json"


async def test_each_request_is_counted_by_route_pattern_method_and_status(
    make_api: Callable[..., Any],
) -> None:
    """The Prometheus counter of API requests: labelled by the route's pattern (a rebalance id
    or an unknown path never becomes a label of its own), the method and the status."""
    from bot.metrics import Metrics

    client, daemon, _ = await make_api()
    daemon.metrics = Metrics(60.0)
    await _get(client, "/api/v1/status")
    await _get(client, "/api/v1/status")
    await _get(client, "/api/v1/rebalances/7", status=404)
    await _get(client, "/api/v1/rebalances/8", status=404)
    await _get(client, "/api/v1/no-such-thing", status=404)
    resp = await client.post("/api/v1/pause", json={})  # no token
    assert resp.status == 401
    text = daemon.metrics.render().decode()
    counted = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("rebalance_api_requests_total{")
    }
    assert counted == {
        'rebalance_api_requests_total{method="GET",route="/api/v1/status",status="200"}': 2.0,
        'rebalance_api_requests_total{method="GET",route="/api/v1/rebalances/{rid}",status="404"}': 2.0,
        'rebalance_api_requests_total{method="GET",route="unmatched",status="404"}': 1.0,
        'rebalance_api_requests_total{method="POST",route="/api/v1/pause",status="401"}': 1.0,
    }
