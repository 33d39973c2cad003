"""Notifications against local receivers on 127.0.0.1: a JSON webhook and a fake Telegram API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.notify import (
    ERRORS,
    HALT,
    REBALANCE_FINISHED,
    Notifier,
    halt_summary,
    report_summary,
    started_summary,
)
from bot.runtime.planning import plan_from_snapshot
from bot.runtime.rebalance import RebalanceReport
from bot.settings import NotifySettings, load_settings
from bot.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAtest-token-never-logged"
CHAT = "4242"


@dataclass
class Receiver:
    """What the local receivers got, and how they behave."""

    base: str = ""
    webhook: list[dict[str, Any]] = field(default_factory=list)
    telegram: list[dict[str, Any]] = field(default_factory=list)
    telegram_paths: list[str] = field(default_factory=list)
    hung: int = 0
    busy: int = 0  # Telegram's 429s still to answer
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, webhook: int = 0, telegram: int = 0, within: float = 5) -> None:
        async with asyncio.timeout(within):
            while len(self.webhook) < webhook or len(self.telegram) < telegram:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def hook(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        rec.webhook.append(await request.json())
        rec.arrived.set()
        return web.json_response({"received": True})

    async def telegram(request: web.Request) -> web.Response:
        if rec.busy > 0:  # flood control, "retry after 1"
            rec.busy -= 1
            rec.telegram_paths.append(request.path)
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
                status=429,
            )
        rec.telegram_paths.append(request.path)
        rec.telegram.append(await request.json())
        rec.arrived.set()
        if request.match_info["token"] != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        return web.json_response({"ok": True, "result": {"message_id": len(rec.telegram)}})

    async def hang(request: web.Request) -> web.Response:
        rec.hung += 1
        await asyncio.sleep(3600)
        return web.Response()

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/bot{token}/sendMessage", telegram)
    app.router.add_post("/hang", hang)
    app.router.add_post("/hang/bot{token}/sendMessage", hang)
    app.router.add_post("/fail", fail)
    app.router.add_post("/fail/bot{token}/sendMessage", fail)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.base = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


def settings(rec: Receiver, **overrides: Any) -> NotifySettings:
    values: dict[str, Any] = {
        "telegram_token": SecretStr(TOKEN),
        "telegram_chat_id": CHAT,
        "telegram_api_url": rec.base,
        "webhook_url": SecretStr(f"{rec.base}/hook"),
        "timeout": 2.0,
    }
    values.update(overrides)
    return NotifySettings(**values)


async def timed_send(notifier: Notifier, *args: Any) -> float:
    started = time.perf_counter()
    await notifier.send(*args)
    return time.perf_counter() - started


def demo_report() -> RebalanceReport:
    s = load_settings(ROOT / "config" / "demo.toml")
    plan = plan_from_snapshot(
        s.portfolio_spec(),
        s.rebalance.policy(),
        load_snapshot(ROOT / "config" / "snapshots" / "demo.json"),
    )
    return RebalanceReport(7, "done", "", plan, started=100.0, finished=160.0)


async def test_webhook_and_telegram_payloads(receiver: Receiver) -> None:
    notifier = Notifier(settings(receiver))
    assert notifier.channels == ["telegram", "webhook"]
    report = demo_report()
    text, data = report_summary(report)
    await notifier.send(REBALANCE_FINISHED, text, data)
    await receiver.wait_for(webhook=1, telegram=1)
    await notifier.aclose()

    hook = receiver.webhook[0]
    assert set(hook) == {"source", "event", "text", "data", "time"}
    assert (hook["source"], hook["event"], hook["text"]) == (
        "rebalance-bot",
        "rebalance_finished",
        text,
    )
    assert hook["data"]["rebalance_id"] == 7
    assert hook["data"]["status"] == "done"
    assert Decimal(hook["data"]["value_before"]) == report.before.total  # exact, as a string
    assert hook["time"].endswith("+00:00")

    assert receiver.telegram_paths == [f"/bot{TOKEN}/sendMessage"]
    message = receiver.telegram[0]
    assert message["chat_id"] == CHAT
    assert message["text"] == f"rebalance-bot rebalance_finished: {text}"
    assert message["disable_web_page_preview"] is True
    assert text.startswith("rebalance 7 done: traded 0.00 USDT")


async def test_summaries_read_well() -> None:
    report = demo_report()
    text, data = started_summary(report.before)
    assert text.startswith("rebalancing 1,000,045.85 USDT; out of band: BTC +15.00pp")
    assert abs(Decimal(data["out_of_band"]["ETH"]) + Decimal("0.1")) < Decimal("0.0001")
    text, data = halt_summary("max_cost_bps exceeded")
    assert "HALTED: max_cost_bps exceeded" in text
    assert data == {"reason": "max_cost_bps exceeded"}


async def test_rate_limit_drops_beyond_n_per_minute_with_a_log_line(receiver: Receiver) -> None:
    now = [1000.0]
    notifier = Notifier(settings(receiver, max_per_minute=3), clock=lambda: now[0])
    with capture_logs() as logs:
        for i in range(5):
            await notifier.send(HALT, f"message {i}", {"i": i})
        await receiver.wait_for(webhook=3, telegram=3)
        now[0] += 60  # a minute later the window has room again
        await notifier.send(HALT, "message 5", {"i": 5})
        await receiver.wait_for(webhook=4, telegram=4)
        await notifier.aclose()
    assert [m["data"]["i"] for m in receiver.webhook] == [0, 1, 2, 5]
    assert sorted(m["text"][-1] for m in receiver.telegram) == ["0", "1", "2", "5"]
    dropped = [e for e in logs if e["event"] == "notification_dropped"]
    assert len(dropped) == 2
    assert dropped[0]["notify_event"] == "halt"
    assert "3 per minute" in dropped[0]["reason"]


async def test_hanging_receivers_never_block_send(receiver: Receiver) -> None:
    notifier = Notifier(
        settings(
            receiver,
            telegram_api_url=f"{receiver.base}/hang",
            webhook_url=SecretStr(f"{receiver.base}/hang"),
            timeout=0.5,
        )
    )
    with capture_logs() as logs:
        took = [await timed_send(notifier, HALT, f"m{i}", {}) for i in range(3)]
        assert max(took) < 0.05  # send only schedules
        assert notifier.pending == 6
        started = time.perf_counter()
        await notifier.aclose(grace=10)  # waits for the deliveries, each given up after 0.5 s
        assert time.perf_counter() - started < 2
        assert notifier.pending == 0
    assert receiver.hung == 6
    failed = [e for e in logs if e["event"] == "notify_failed"]
    assert len(failed) == 6
    assert {e["channel"] for e in failed} == {"telegram", "webhook"}
    assert all(e["error"] == "no answer within 0.5 s" for e in failed)
    assert not any(e["event"] == "notifications_abandoned" for e in logs)
    assert TOKEN not in repr(logs)


async def test_aclose_is_bounded_while_a_receiver_hangs(receiver: Receiver) -> None:
    notifier = Notifier(
        settings(receiver, webhook_url=SecretStr(f"{receiver.base}/hang"), timeout=60)
    )
    await notifier.send(HALT, "stuck", {})
    await receiver.wait_for(telegram=1)
    started = time.perf_counter()
    with capture_logs() as logs:
        await notifier.aclose(grace=0.2)
    assert time.perf_counter() - started < 1
    assert notifier.pending == 0
    assert any(e["event"] == "notifications_abandoned" for e in logs)
    await notifier.send(HALT, "after close", {})  # ignored, never raises
    assert notifier.pending == 0


async def test_errors_from_receivers_are_logged_not_raised(receiver: Receiver) -> None:
    notifier = Notifier(
        settings(
            receiver,
            telegram_api_url=f"{receiver.base}/fail",
            webhook_url=SecretStr(f"{receiver.base}/fail"),
        )
    )
    wrong_token = Notifier(
        settings(receiver, telegram_token=SecretStr("999:wrong-token-secret"), webhook_url=None)
    )
    unreachable = Notifier(
        settings(
            receiver,
            telegram_token=None,
            telegram_chat_id=None,
            webhook_url=SecretStr("http://127.0.0.1:9/nothing-listens-here"),
        )
    )
    with capture_logs() as logs:
        assert await timed_send(notifier, HALT, "x", {}) < 0.05
        assert await timed_send(wrong_token, HALT, "x", {}) < 0.05
        assert await timed_send(unreachable, HALT, "x", {}) < 0.05
        for n in (notifier, wrong_token, unreachable):
            await n.aclose(grace=5)
    failed = sorted((e["channel"], e["error"]) for e in logs if e["event"] == "notify_failed")
    assert failed == [
        ("telegram", "telegram answered HTTP 401 Unauthorized"),
        ("telegram", "telegram answered HTTP 500"),
        ("webhook", "ClientConnectorError"),
        ("webhook", "webhook answered HTTP 500"),
    ]
    text = json.dumps(logs, default=str)
    assert TOKEN not in text and "wrong-token-secret" not in text


async def test_repeated_errors_send_one_message(receiver: Receiver) -> None:
    now = [0.0]
    notifier = Notifier(settings(receiver, repeated_errors=3), clock=lambda: now[0])
    await notifier.error("NetworkError", "poll failed: timeout")
    await notifier.error("NetworkError", "poll failed: timeout")
    now[0] += 601  # the first two are out of the 10-minute window
    for _ in range(2):
        await notifier.error("NetworkError", "poll failed: timeout")
    await notifier.error("InsufficientFunds", "leg 1")
    assert notifier.pending == 0
    await notifier.error("NetworkError", "poll failed: reset")
    await receiver.wait_for(webhook=1, telegram=1)
    await notifier.aclose()
    assert len(receiver.webhook) == 1
    hook = receiver.webhook[0]
    assert hook["event"] == ERRORS
    assert hook["data"] == {"error": "NetworkError", "count": 3}
    assert hook["text"] == "NetworkError 3 times in 10 min; last: poll failed: reset"


async def test_without_channels_nothing_is_sent() -> None:
    notifier = Notifier(NotifySettings())
    assert not notifier.enabled
    await notifier.send(HALT, "x", {})
    await notifier.error("NetworkError", "x")
    assert notifier.pending == 0
    await notifier.aclose()


def test_telegram_needs_token_and_chat_together() -> None:
    with pytest.raises(ValueError, match="telegram_chat_id is required"):
        NotifySettings(telegram_token=SecretStr(TOKEN))
    with pytest.raises(ValueError, match="REBALANCE_NOTIFY__TELEGRAM_TOKEN"):
        NotifySettings(telegram_chat_id=CHAT)
    with pytest.raises(ValueError, match="http"):
        NotifySettings(webhook_url=SecretStr("ftp://example.invalid/x"))
    assert TOKEN not in repr(NotifySettings(telegram_token=SecretStr(TOKEN), telegram_chat_id=CHAT))


async def test_a_telegram_429_is_waited_out_once_and_the_message_arrives(
    receiver: Receiver,
) -> None:
    """Flood control answers "retry after 1": the message is sent again a second later (within
    the delivery's time budget) and arrives once; a second 429 in a row is logged, not looped."""
    notifier = Notifier(settings(receiver, webhook_url=None))
    receiver.busy = 1
    started = asyncio.get_running_loop().time()
    await notifier.send("halt", "margin guard cut")
    await receiver.wait_for(telegram=1)
    assert asyncio.get_running_loop().time() - started >= 0.9
    assert len(receiver.telegram_paths) == 2 and len(receiver.telegram) == 1
    receiver.busy = 2
    with capture_logs() as logs:
        await notifier.send("halt", "again")
        await notifier.aclose()
    failed = [e for e in logs if e["event"] == "notify_failed"]
    assert failed and "429" in failed[0]["error"]
    assert len(receiver.telegram) == 1
