"""Telegram commands (`bot.api.telegram`) against a fake Bot API on 127.0.0.1 (getMe, getUpdates
with offset and long poll, sendMessage recorded), in front of a real daemon on the simulated
exchange: the reads, /pause at once, the two-step confirmation (right, wrong, lapsed, used once),
the chat filter, stale and odd updates ignored, and the token never logged whatever the network
does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.api import telegram as telegram_module
from bot.api.telegram import TelegramCommands
from bot.journal import Journal
from bot.runtime.control import Running
from bot.runtime.daemon import Daemon
from tests.integration.helpers import daemon_for, settings_for

TOKEN = "123456789:AAfake-telegram-token-never-logged"
CHAT = 4242
STRANGER = 999
BOT_NAME = "RebalanceTestBot"
CONFIRM_WITHIN = 5.0


@dataclass
class FakeBotApi:
    """The Bot API as far as the poller uses it; `status` other than 200 fails every call,
    `redirect` answers every call with a redirect to itself."""

    base: str = ""
    queued: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    status: int = 200
    redirect: bool = False
    busy: dict[str, int] = field(default_factory=dict)  # method -> 429s still to answer
    retry_after: int = 1
    next_id: int = 1
    new: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, kind: str, message: dict[str, Any]) -> None:
        self.queued.append({"update_id": self.next_id, kind: message})
        self.next_id += 1
        self.new.set()

    def say(self, text: str, chat: int = CHAT, date: float | None = None) -> None:
        self.update("message", message(text, chat, date))

    async def replies(self, n: int, within: float = 5.0) -> list[str]:
        """The texts of the first `n` messages sent (waiting for them)."""
        await eventually(lambda: len(self.sent) >= n, within)
        return [m["text"] for m in self.sent[:n]]


async def eventually(done: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `done()` (checked every 10 ms), failing after `within` seconds."""
    for _ in range(int(within * 100)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not done within {within} s")


def message(text: str | None, chat: int = CHAT, date: float | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_id": 1,
        "date": int(time.time() if date is None else date),
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "A"},
    }
    if text is not None:
        msg["text"] = text
    return msg


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()

    def answer(request: web.Request, result: Any) -> web.Response:
        fake.calls.append(request.match_info["method"])
        if fake.redirect:
            raise web.HTTPTemporaryRedirect(str(request.url))
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "description": "Unauthorized"}, status=401)
        if fake.status != 200:
            return web.Response(status=fake.status, text="boom")
        return web.json_response({"ok": True, "result": result})

    async def call(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.json()
        if fake.busy.get(method, 0) > 0:  # Telegram's flood control
            fake.busy[method] -= 1
            fake.calls.append(method)
            wait = fake.retry_after
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                },
                status=429,
            )
        if method == "getMe":
            return answer(request, {"id": 1, "is_bot": True, "username": BOT_NAME})
        if method == "sendMessage":
            if fake.status == 200 and not fake.redirect:
                fake.sent.append(body)
            return answer(request, {"message_id": len(fake.sent)})
        assert method == "getUpdates"
        offset = body.get("offset", 0)
        fake.queued = [u for u in fake.queued if u["update_id"] >= offset]
        if not fake.queued and fake.status == 200 and not fake.redirect:
            fake.new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fake.new.wait(), body.get("timeout", 0))
        return answer(request, list(fake.queued))

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", call)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


@dataclass
class Bot:
    commands: TelegramCommands
    daemon: Daemon
    journal: Journal
    clock: list[float]  # the poller's monotonic time, moved by hand


@pytest.fixture
async def make_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Bot]]:
    """`make_bot(url)`: a daemon on the simulator and a poller of the Bot API at `url`."""
    monkeypatch.setenv("REBALANCE_NOTIFY__TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setattr(telegram_module, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(telegram_module, "BACKOFF_MAX", 0.05)
    journals: list[Journal] = []

    def make(url: str, chat: str = str(CHAT)) -> Bot:
        extra = (
            f'[notify]\ntelegram_chat_id = "{chat}"\ntelegram_api_url = "{url}"\n'
            f"[telegram]\ncommands = true\npoll_timeout = 1\nconfirm_within = {CONFIRM_WITHIN}\n"
        )
        settings = settings_for(tmp_path, extra)
        daemon, _, journal = daemon_for(settings)
        journals.append(journal)
        clock = [1000.0]
        commands = TelegramCommands(settings, daemon, monotonic=lambda: clock[0])
        return Bot(commands, daemon, journal, clock)

    yield make
    for j in journals:
        j.close()


@contextlib.asynccontextmanager
async def polling(bot: Bot) -> AsyncIterator[None]:
    task = asyncio.create_task(bot.commands.run())
    try:
        yield
        assert not task.done(), "the poller ended by itself"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def code_in(reply: str) -> str:
    found = re.search(r"/confirm (\d{4}) within", reply)
    assert found, reply
    return found.group(1)


def commands_of(journal: Journal) -> list[tuple[str, str]]:
    return [(c.command, c.source) for c in journal.commands(50)]


# -- reads --------------------------------------------------------------------------------------


async def test_status_answers_with_the_weights(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(api.base)
    await bot.daemon.run(once=True)
    async with polling(bot):
        api.say("/status")
        api.say("/help")
        api.say("/balance")
        api.say("/plan")
        api.say("/history 3")
        api.say("/nonsense")
        status, helptext, balance, plan, history, unknown = await api.replies(6)
    assert "BTC: " in status and "(target 40.00%, band 37.00%-43.00%)" in status
    assert "USDT" in status and "trading enabled" in status
    assert "/rebalance" in helptext and "/confirm" in helptext
    assert balance.startswith("Balances at") and "BTC: " in balance
    assert plan.startswith(("Plan of", "No plan yet")) and history
    assert unknown.startswith("Unknown command")
    assert {m["chat_id"] for m in api.sent} == {CHAT}
    assert not any("parse_mode" in m for m in api.sent)
    assert TOKEN not in json.dumps(api.sent)
    assert api.calls[0] == "getMe"
    assert commands_of(bot.journal) == []  # reads change nothing


# -- the chat filter, stale and odd updates -----------------------------------------------------


async def test_other_chats_get_no_answer_and_change_nothing(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(api.base)
    with capture_logs() as logs:
        async with polling(bot):
            api.say("/pause", chat=STRANGER)
            api.say("/rebalance", chat=STRANGER)
            api.say("/status")  # ours: answered once the stranger's were handled
            await api.replies(1)
            ours = code_in((await _ask(api, "/rebalance", 2))[1])
            api.say(f"/confirm {ours}", chat=STRANGER)  # the code is only good in our chat
            api.say("/status")
            await api.replies(3)
    assert [m["chat_id"] for m in api.sent] == [CHAT, CHAT, CHAT]
    assert bot.daemon.control.paused is None and not bot.daemon.control.asked
    assert commands_of(bot.journal) == []
    ignored = [e for e in logs if e["event"] == "telegram_ignored"]
    assert [(e["reason"], e["chat"]) for e in ignored] == [("other chat", STRANGER)] * 3
    assert all(set(e) <= {"event", "reason", "chat", "log_level"} for e in ignored)


async def _ask(api: FakeBotApi, text: str, n: int) -> list[str]:
    api.say(text)
    return await api.replies(n)


async def test_stale_and_odd_updates_are_ignored(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(api.base)
    api.say("/pause", date=time.time() - 3600)  # queued before the start: a restart's replay
    api.update("edited_message", message("/pause"))
    api.update("message", message(None))  # a photo, a sticker: no text
    api.update("message", message("pause please"))
    api.update("callback_query", {"id": "1", "data": "x"})
    api.update("channel_post", message("/pause", chat=-100123))
    api.say("/pause@OtherBot")
    api.say("/status@" + BOT_NAME)
    with capture_logs() as logs:
        async with polling(bot):
            (reply,) = await api.replies(1)
    assert "trading enabled" in reply
    assert bot.daemon.control.paused is None and commands_of(bot.journal) == []
    reasons = [(e["reason"], e["chat"]) for e in logs if e["event"] == "telegram_ignored"]
    assert reasons == [
        ("stale", CHAT),
        ("not a message", CHAT),
        ("not a command", CHAT),
        ("not a command", CHAT),
        ("not a message", None),
        ("other chat", -100123),
        ("another bot", CHAT),
    ]


async def test_a_channel_named_by_username(api: FakeBotApi, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(api.base, chat="@MyRebalances")
    impostor = message("/pause", chat=77)
    impostor["chat"]["username"] = "myrebalances"  # a private chat: never the channel
    api.update("message", impostor)
    post = message("/status", chat=-1001)
    post["chat"].update(type="channel", username="myrebalances")
    api.update("channel_post", post)
    async with polling(bot):
        (reply,) = await api.replies(1)
    assert api.sent[0]["chat_id"] == -1001 and "trading enabled" in reply
    assert bot.daemon.control.paused is None


# -- commands -----------------------------------------------------------------------------------


async def test_pause_acts_at_once(api: FakeBotApi, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(api.base)
    async with polling(bot):
        (reply,) = await _ask(api, "/pause exchange maintenance", 1)
    assert bot.daemon.control.paused == "paused by telegram: exchange maintenance"
    assert reply.startswith("paused by telegram: exchange maintenance")
    assert commands_of(bot.journal) == [("pause", "telegram")]


async def test_rebalance_needs_the_right_code_once(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(api.base)
    async with polling(bot):
        (ask,) = await _ask(api, "/rebalance", 1)
        code = code_in(ask)
        assert ask == f"Rebalance now? Send /confirm {code} within 5 s"
        assert not bot.daemon.control.asked
        wrong = str(1000 + (int(code) - 1000 + 1) % 9000)
        *_, refused = await _ask(api, f"/confirm {wrong}", 2)
        assert refused == "Wrong code: nothing done."
        assert not bot.daemon.control.asked and commands_of(bot.journal) == []
        *_, done = await _ask(api, f"/confirm {code}", 3)
        assert done.startswith("rebalance asked")
        assert bot.daemon.control.asked
        bot.daemon.control.take_rebalance_request()
        *_, again = await _ask(api, f"/confirm {code}", 4)  # a code works once
    assert again == "Nothing to confirm."
    assert not bot.daemon.control.asked
    assert commands_of(bot.journal) == [("rebalance_now", "telegram")]


async def test_a_lapsed_code_does_nothing(api: FakeBotApi, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(api.base)
    async with polling(bot):
        code = code_in((await _ask(api, "/rebalance", 1))[0])
        bot.clock[0] += CONFIRM_WITHIN + 0.1
        *_, lapsed = await _ask(api, f"/confirm {code}", 2)
    assert lapsed == "The /rebalance lapsed: nothing done. Send it again."
    assert not bot.daemon.control.asked and commands_of(bot.journal) == []


async def test_resume_confirmed_clears_a_halt(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(api.base)
    async with polling(bot):
        (nothing,) = await _ask(api, "/resume", 1)
        assert nothing == "Not paused or halted: nothing to resume."
        bot.journal.halt("kill switch: turnover budget spent")
        *_, ask = await _ask(api, "/resume", 2)
        assert ask.startswith("Resume trading (halted: kill switch: turnover budget spent)?")
        assert bot.journal.active_halt() is not None
        *_, done = await _ask(api, f"/confirm {code_in(ask)}", 3)
    assert done.startswith("resumed (halt cleared: kill switch")
    assert bot.journal.active_halt() is None
    assert commands_of(bot.journal) == [("resume", "telegram")]


async def test_cancel_is_confirmed(api: FakeBotApi, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(api.base)
    control = bot.daemon.control
    async with polling(bot):
        (idle,) = await _ask(api, "/cancel", 1)
        assert idle == "No rebalance is working."
        control.running = Running(started=0.0)  # as the daemon marks a rebalance at work
        *_, ask = await _ask(api, "/cancel", 2)
        assert commands_of(bot.journal) == []
        *_, done = await _ask(api, f"/confirm {code_in(ask)}", 3)
    assert done.startswith("cancelled by telegram")
    assert commands_of(bot.journal) == [("cancel", "telegram")]
    control.finished(None, resume=True)


# -- failures: backed off, the token never logged -----------------------------------------------


async def _failing(bot: Bot, calls: int) -> list[MutableMapping[str, Any]]:
    with capture_logs() as logs:
        async with polling(bot):
            await eventually(
                lambda: sum(e["event"] == "telegram_poll_failed" for e in logs) >= calls
            )
    return logs


@pytest.mark.parametrize("how", ["500", "redirect loop", "refused"])
async def test_the_token_is_never_logged(
    how: str, api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    url = api.base
    if how == "500":
        api.status = 500
    elif how == "redirect loop":
        api.redirect = True  # aiohttp's TooManyRedirects names the URL, and the URL the token
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
    bot = make_bot(url)
    logs = await _failing(bot, calls=4)
    failed = [e for e in logs if e["event"] == "telegram_poll_failed"]
    assert [e["retry_in"] for e in failed[:4]] == [0.01, 0.02, 0.04, 0.05]  # doubled, capped
    assert {e["error"] for e in failed} == {
        "500": {"telegram getMe answered HTTP 500"},
        "redirect loop": {"TooManyRedirects"},
        "refused": {"ClientConnectorError"},
    }[how]
    assert TOKEN not in json.dumps(logs, default=str)
    assert "AAfake" not in repr(logs)


async def test_polling_recovers_after_failures(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(api.base)
    api.status = 502
    async with polling(bot):
        await eventually(lambda: len(api.calls) >= 3)
        api.status = 200
        (reply,) = await _ask(api, "/pause", 1)
    assert reply.startswith("paused by telegram")


async def test_a_429_is_waited_out_as_long_as_telegram_asks(
    api: FakeBotApi, make_bot: Callable[..., Bot]
) -> None:
    """Flood control: getUpdates answered 429 "retry after 1" is polled again only after that
    second (not after the 0.01 s backoff), and a reply answered 429 still arrives, once."""
    bot = make_bot(api.base)
    api.busy = {"getUpdates": 1, "sendMessage": 1}
    with capture_logs() as logs:
        async with polling(bot):
            started = time.monotonic()
            await eventually(lambda: api.calls.count("getUpdates") >= 2)
            waited = time.monotonic() - started
            (reply,) = await _ask(api, "/pause", 1)
    failed = [e for e in logs if e["event"] == "telegram_poll_failed"]
    assert failed and failed[0]["retry_in"] == 1.0
    assert "retry after 1 s" in failed[0]["error"]
    assert waited >= 0.9
    assert reply.startswith("paused by telegram")
    assert api.calls.count("sendMessage") == 2 and len(api.sent) == 1
