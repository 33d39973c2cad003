"""Telegram commands (`[telegram] commands = true`): the notify section's bot reads its updates
(long polling `getUpdates`) and answers in the configured chat, beside the daemon on its loop.

    /status /balance /plan /history [n]     read (bot.api.views), answered at once
    /pause [reason]                         acts at once (stopping trading is always safe)
    /rebalance /resume /cancel              asked, then confirmed: "/confirm 4821" within
                                            `telegram.confirm_within` seconds, from the same chat

Only messages (and channel posts) of the configured chat are answered: `notify.telegram_chat_id`
compared with the chat's id, or, for an `@name`, with the username of a channel or group. Anyone
who can write in that chat commands the bot, so use a private chat or a group of trusted people.
Everything else (other chats, edited messages, non-text, commands addressed to another bot as
`/status@OtherBot`, messages dated more than a minute before the start: a restart never replays
an old /rebalance) is ignored and logged as `telegram_ignored` with the chat id only.

A confirmation code is random (`secrets`), works once, in the chat that asked, and lapses; a wrong
code changes nothing. A confirmed command calls `daemon.control` (source "telegram"), whose loop
acts on it after the same risk checks as any other; the reply is its answer.

The token is in every URL of the Bot API, so no URL and no message of an HTTP client error is ever
logged: failures are logged by exception class (or HTTP status), retried with a capped exponential
back-off. Replies are plain text (no parse_mode) built from the views; the token is never in one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.api import telegram_text as text
from bot.api.views import balance_view, history_view, plan_view, running_view, status_view
from bot.errors import DeliveryError
from bot.notify import retry_after
from bot.observability import get_logger, register_secrets
from bot.runtime.control import Answer
from bot.runtime.daemon import Daemon
from bot.settings import Settings

log = get_logger("bot.telegram")

SOURCE = "telegram"
STALE_GRACE = 60.0  # seconds before the start from which a message is still answered
BACKOFF_FIRST = 1.0  # seconds after the first failed poll; doubled after each, up to:
BACKOFF_MAX = 60.0
IDLE_PAUSE = 1.0  # seconds between polls that return at once (poll_timeout 0)
HISTORY_DEFAULT, HISTORY_MAX = 5, 20
REASON_MAX = 200  # characters of a /pause reason kept
UPDATE_KINDS = ("message", "channel_post")  # what we read; edits and the rest are ignored


@dataclass(frozen=True, slots=True)
class Pending:
    """A command waiting for its confirmation code."""

    action: str  # "rebalance" | "resume" | "cancel"
    code: int
    expires: float  # monotonic


@dataclass(frozen=True, slots=True)
class Message:
    """The parts of an update we act on."""

    chat: int | str
    command: str
    args: str


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failed polls in a row (1, 2, 4, ... capped)."""
    return float(min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_MAX))


def describe(exc: BaseException) -> str:
    """An error as it may be logged: our own messages carry no URL; anything else only its
    class (an aiohttp error's text can hold the URL, and the URL holds the token)."""
    return str(exc) if isinstance(exc, DeliveryError) else type(exc).__name__


class TelegramCommands:
    """Long-polls the bot's updates and answers commands until cancelled."""

    def __init__(
        self,
        settings: Settings,
        daemon: Daemon,
        session: aiohttp.ClientSession | None = None,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        notify = settings.notify
        token, chat = notify.telegram_token, notify.telegram_chat_id
        if token is None or chat is None:  # Settings refuses this already; say it again here
            raise ValueError("telegram commands need notify's bot token and chat id")
        register_secrets([token.get_secret_value()])
        self._base = f"{str(notify.telegram_api_url).rstrip('/')}/bot{token.get_secret_value()}"
        self._chat = chat
        self._poll_timeout = int(settings.telegram.poll_timeout)
        self._http_timeout = settings.telegram.poll_timeout + notify.timeout
        self._confirm_within = settings.telegram.confirm_within
        self._daemon = daemon
        self._session = session
        self._wall, self._monotonic = wall, monotonic
        self._started = wall()
        self._offset: int | None = None
        self._pending: dict[int | str, Pending] = {}
        self.username: str | None = None  # the bot's, from getMe
        self._handlers: dict[str, Callable[[int | str, str], str]] = {
            "start": self._help,
            "help": self._help,
            "status": self._status,
            "balance": self._balance,
            "plan": self._plan,
            "history": self._history,
            "pause": self._pause,
            "resume": self._resume,
            "rebalance": self._rebalance,
            "cancel": self._cancel,
            "confirm": self._confirm,
        }

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll and answer until cancelled; failures are logged and retried, never raised."""
        own = self._session is None
        session = self._session if self._session is not None else aiohttp.ClientSession()
        self._started = self._wall()
        log.info("telegram_commands_started", chat=self._chat)
        try:
            await self._loop(session)
        finally:
            if own:
                await session.close()

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        failures = 0
        while True:
            try:
                if self.username is None:
                    self.username = await self._me(session)
                updates = await self._updates(session)
            except Exception as exc:  # the poller must outlive any failure; cancel ends it
                failures += 1
                delay = backoff(failures)
                if isinstance(exc, DeliveryError) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)  # Telegram's 429: as long as it asks
                log.warning(
                    "telegram_poll_failed", error=describe(exc), failures=failures, retry_in=delay
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in updates:
                await self._handle(session, update)
            if not updates and self._poll_timeout == 0:
                await asyncio.sleep(IDLE_PAUSE)

    async def _call(self, session: aiohttp.ClientSession, method: str, body: dict[str, Any]) -> Any:
        """One Bot API call: its `result`, or DeliveryError (naming the method and status)."""
        timeout = aiohttp.ClientTimeout(total=self._http_timeout)
        async with session.post(f"{self._base}/{method}", json=body, timeout=timeout) as resp:
            answer: Any = None
            if resp.content_type == "application/json":
                answer = await resp.json()
            if resp.status != 200 or not (isinstance(answer, dict) and answer.get("ok") is True):
                wait = retry_after(resp.status, answer)
                later = "" if wait is None else f", retry after {wait:g} s"
                raise DeliveryError(
                    f"telegram {method} answered HTTP {resp.status}{later}", retry_after=wait
                )
            return answer.get("result")

    async def _me(self, session: aiohttp.ClientSession) -> str:
        me = await self._call(session, "getMe", {})
        name = me.get("username") if isinstance(me, dict) else None
        if not isinstance(name, str):
            raise DeliveryError("telegram getMe answered no username")
        return name

    async def _updates(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"timeout": self._poll_timeout, "allowed_updates": UPDATE_KINDS}
        if self._offset is not None:
            body["offset"] = self._offset
        result = await self._call(session, "getUpdates", body)
        if not isinstance(result, list):
            raise DeliveryError("telegram getUpdates answered no list")
        updates = [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        for u in updates:  # confirmed at the next poll: an update is handled at most once
            self._offset = max(self._offset or 0, u["update_id"] + 1)
        return updates

    async def _handle(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        message = self._message(update)
        if message is None:
            return
        log.info("telegram_command", command=message.command, chat=message.chat)
        try:
            reply = self._dispatch(message)
        except Exception as exc:  # a failed read must not end the poller
            log.warning("telegram_command_failed", command=message.command, error=describe(exc))
            reply = f"/{message.command} failed ({type(exc).__name__}); see the bot's log"
        body = {"chat_id": message.chat, "text": text.clip(reply), "disable_web_page_preview": True}
        for attempt in (1, 2):  # a 429 is waited out once: the reply still arrives
            try:
                await self._call(session, "sendMessage", body)
                return
            except DeliveryError as exc:
                if attempt == 1 and exc.retry_after is not None:
                    log.info("telegram_reply_deferred", retry_in=exc.retry_after)
                    await asyncio.sleep(exc.retry_after)
                    continue
                log.warning("telegram_reply_failed", command=message.command, error=describe(exc))
            except Exception as exc:
                log.warning("telegram_reply_failed", command=message.command, error=describe(exc))
            return

    # -- what an update is ----------------------------------------------------------------------

    def _message(self, update: dict[str, Any]) -> Message | None:
        """The command in `update` if we should answer it; None (logged) otherwise."""
        kind = next((k for k in UPDATE_KINDS if k in update), None)
        msg = update.get(kind) if kind is not None else None
        if not isinstance(msg, dict):
            return _ignored("not a message", _any_chat_id(update))
        chat = msg.get("chat")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if not isinstance(chat, dict) or not isinstance(chat_id, int) or not self._ours(chat):
            return _ignored("other chat", chat_id)
        date = msg.get("date")
        if not isinstance(date, int) or date < self._started - STALE_GRACE:
            return _ignored("stale", chat_id)
        body = msg.get("text")
        if not isinstance(body, str) or not body.startswith("/"):
            return _ignored("not a command", chat_id)
        parsed = self._parse(body)
        if parsed is None:
            return _ignored("another bot", chat_id)
        return Message(chat_id, *parsed)

    def _ours(self, chat: dict[str, Any]) -> bool:
        """The configured chat: by id, or an @name by the username of a channel or group."""
        if self._chat.startswith("@"):
            name = chat.get("username")
            return (
                chat.get("type") != "private"
                and isinstance(name, str)
                and name.lower() == self._chat[1:].lower()
            )
        return str(chat.get("id")) == self._chat

    def _parse(self, body: str) -> tuple[str, str] | None:
        """("status", "args") from "/status@OurBot args"; None if addressed to another bot."""
        head, _, rest = body.strip().partition(" ")
        name, _, to = head[1:].partition("@")
        if to and (self.username is None or to.lower() != self.username.lower()):
            return None
        command = name.lower()
        return (command if command in self._handlers else "unknown"), rest.strip()

    # -- the commands ---------------------------------------------------------------------------

    def _dispatch(self, message: Message) -> str:
        handler = self._handlers.get(message.command)
        if handler is None:
            return "Unknown command.\n" + text.HELP
        return handler(message.chat, message.args)

    def _help(self, chat: int | str, args: str) -> str:
        return text.HELP

    def _status(self, chat: int | str, args: str) -> str:
        return text.status_text(status_view(self._daemon), running_view(self._daemon))

    def _balance(self, chat: int | str, args: str) -> str:
        return text.balance_text(balance_view(self._daemon))

    def _plan(self, chat: int | str, args: str) -> str:
        return text.plan_text(plan_view(self._daemon))

    def _history(self, chat: int | str, args: str) -> str:
        n = int(args) if args.isdigit() else HISTORY_DEFAULT
        return text.history_text(history_view(self._daemon, max(1, min(n, HISTORY_MAX))))

    def _pause(self, chat: int | str, args: str) -> str:
        reason = " ".join("".join(c for c in args if c.isprintable()).split())[:REASON_MAX]
        return self._daemon.control.pause(SOURCE, reason).message

    def _resume(self, chat: int | str, args: str) -> str:
        control = self._daemon.control
        paused, halt = control.paused, self._daemon.journal.active_halt()
        if paused is None and halt is None:
            return "Not paused or halted: nothing to resume."
        state = "; ".join(x for x in (paused, None if halt is None else f"halted: {halt}") if x)
        return self._ask(chat, "resume", f"Resume trading ({state})?")

    def _rebalance(self, chat: int | str, args: str) -> str:
        return self._ask(chat, "rebalance", "Rebalance now?")

    def _cancel(self, chat: int | str, args: str) -> str:
        if self._daemon.control.running is None:
            return "No rebalance is working."
        return self._ask(chat, "cancel", "Cancel the running rebalance?")

    def _ask(self, chat: int | str, action: str, question: str) -> str:
        """Hold `action` for this chat under a fresh code (replacing any held before)."""
        code = 1000 + secrets.randbelow(9000)
        self._pending[chat] = Pending(action, code, self._monotonic() + self._confirm_within)
        return text.confirm_text(question, code, self._confirm_within)

    def _confirm(self, chat: int | str, args: str) -> str:
        pending = self._pending.get(chat)
        if pending is None:
            return "Nothing to confirm."
        if self._monotonic() > pending.expires:
            del self._pending[chat]
            return f"The /{pending.action} lapsed: nothing done. Send it again."
        if args != str(pending.code):
            return "Wrong code: nothing done."
        del self._pending[chat]
        return self._act(pending.action).message

    def _act(self, action: str) -> Answer:
        control = self._daemon.control
        if action == "rebalance":
            return control.rebalance_now(SOURCE)
        if action == "resume":
            return control.resume(SOURCE)
        return control.cancel(SOURCE)


def _ignored(reason: str, chat: object) -> Message | None:
    """Log an update we do not answer (its chat id only) and answer None."""
    log.info("telegram_ignored", reason=reason, chat=chat if isinstance(chat, int | str) else None)
    return None


def _any_chat_id(update: dict[str, Any]) -> object:
    """The chat id of an update we do not read (an edited message, ...), for the log."""
    for value in update.values():
        if isinstance(value, dict) and isinstance(value.get("chat"), dict):
            return value["chat"].get("id")
    return None
