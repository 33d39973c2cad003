"""What runs beside the daemon while `rebalance-bot run` runs: the REST API with the dashboard
(`[api] enabled`) and Telegram commands (`[telegram] commands`), on the daemon's own event loop,
so a request reads the journal and steers the daemon (`bot.runtime.control`) without threads.

Entered once the daemon is built (`run_bot(services=control_services)`); on the way out the
server stops taking requests and the Telegram poller is cancelled, before the daemon's journal
is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from bot.errors import ConfigError
from bot.observability import get_logger
from bot.runtime.daemon import Daemon
from bot.settings import Settings

log = get_logger("bot.api")


@contextlib.asynccontextmanager
async def control_services(settings: Settings, daemon: Daemon) -> AsyncIterator[None]:
    runner: web.AppRunner | None = None
    poller: asyncio.Task[None] | None = None
    try:
        if settings.api.enabled:
            from bot.api.app import build_app

            runner = web.AppRunner(build_app(settings, daemon), access_log=None)
            await runner.setup()
            host, port = settings.api.host, settings.api.port
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                raise ConfigError(
                    [f"api: cannot listen on {host}:{port}: {exc.strerror or exc}"]
                ) from None
            log.info(
                "api_listening",
                url=f"http://{host}:{port}/",
                writes="token" if settings.api.bearer() is not None else "off (read-only)",
            )
        if settings.telegram.commands:
            from bot.api.telegram import TelegramCommands

            poller = asyncio.create_task(TelegramCommands(settings, daemon).run())
        yield
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poller
        if runner is not None:
            await runner.cleanup()
