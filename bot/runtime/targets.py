"""Targets that change while the bot runs, and SIGHUP, which reloads the whole configuration.

The targets come from exactly one source: the config file (`portfolio.targets`), a targets file
(`portfolio.targets_file`, TOML or JSON), watched by its size, time and content hash at every
poll, or a URL answering JSON (`portfolio.targets_url`), asked every `targets_poll_interval`
seconds with a timeout. SIGHUP reads the config file and the environment again.

A new set goes through the validators of the config's own (`bot.settings.loader.with_targets`),
and every asset in it must be on the exchange. A bad one is refused with one log line (and a
notification) naming the source and the problem; the targets in force stay. A reload that would
change what cannot change while running (the exchange, its keys, the journal, ...) is refused
whole. `TargetsWatch.check` runs at the start of a poll only, never during a rebalance: a
rebalance finishes on the targets it started with, and a change that arrives meanwhile applies
at the first poll after it. Each accepted change is journaled with its source.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.clock import Clock
from bot.domain.market import Market
from bot.domain.prices import PriceLimits
from bot.errors import ConfigError
from bot.execution.executor import Executor
from bot.journal import Journal
from bot.notify import Notifier
from bot.observability import get_logger
from bot.runtime.killswitch import RiskGuard
from bot.runtime.rebalance import Rebalancer
from bot.settings import Settings, load_settings
from bot.settings.loader import with_targets
from bot.settings.targets import MAX_TARGETS_BYTES, parse_targets, read_targets_file

log = get_logger("bot.targets")

TARGETS_CHANGED = "targets_changed"
TARGETS_REFUSED = "targets_refused"
# What a running bot cannot take from a reload: sections, and fields of the portfolio.
FIXED_SECTIONS = ("exchange", "sim", "paper", "journal", "metrics", "notify", "log")
FIXED_PORTFOLIO = ("quote",)


def origin_of(settings: Settings) -> str:
    """The file or URL the targets come from, as journaled and logged: a URL without its
    credentials, query or fragment ('' for the config)."""
    p = settings.portfolio
    if p.targets_file is not None:
        return str(settings.resolve(p.targets_file))
    if p.targets_url is not None:
        parts = urlsplit(p.targets_url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return ""


def price_limits(settings: Settings) -> PriceLimits:
    r = settings.risk
    return PriceLimits(
        r.price_tolerance_pct, r.price_max_spread_bps, r.price_max_age, r.price_max_unchanged
    )


def apply_settings(
    settings: Settings, rebalancer: Rebalancer, executor: Executor, guard: RiskGuard
) -> None:
    """Put `settings` in force in the running parts (between rebalances only)."""
    rebalancer.portfolio = settings.portfolio_spec()
    rebalancer.planner = settings.rebalance.policy()
    rebalancer.glide = settings.rebalance.glide()
    rebalancer.book_depth = settings.execution.book_depth
    rebalancer.prices = price_limits(settings)
    executor.policy = settings.execution.policy()
    executor.book_depth = settings.execution.book_depth
    executor.frozen_book_after = settings.execution.frozen_book_after
    guard.limits = settings.risk


def fixed_changes(old: Settings, new: Settings) -> list[str]:
    """The settings a running bot cannot change that differ (names only, never values)."""
    changed = []
    for section in FIXED_SECTIONS:
        a, b = getattr(old, section), getattr(new, section)
        changed += [
            f"{section}.{name}"
            for name in type(a).model_fields
            if getattr(a, name) != getattr(b, name)
        ]
    changed += [
        f"portfolio.{name}"
        for name in FIXED_PORTFOLIO
        if getattr(old.portfolio, name) != getattr(new.portfolio, name)
    ]
    return changed


def unknown_assets(weights: Mapping[str, Decimal], markets: Mapping[str, Market]) -> list[str]:
    """Assets of `weights` that no market of the exchange trades (none when not yet loaded)."""
    if not markets:
        return []
    traded = {m.base for m in markets.values()} | {m.quote for m in markets.values()}
    return sorted(a for a in weights if a not in traded)


async def fetch_targets_url(settings: Settings) -> tuple[dict[str, Any], str]:
    """The URL's `targets` table and its body's hash; one-line ConfigError naming the URL."""
    p = settings.portfolio
    assert p.targets_url is not None
    where = origin_of(settings)
    headers = {"Accept": "application/json"}
    if p.targets_token is not None:
        headers["Authorization"] = f"Bearer {p.targets_token.get_secret_value()}"
    timeout = aiohttp.ClientTimeout(total=p.targets_timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(p.targets_url, headers=headers, allow_redirects=False) as reply,
        ):
            if reply.status != 200:
                raise ConfigError([f"{where}: HTTP {reply.status}, expected 200 with JSON"])
            body = await reply.content.read(MAX_TARGETS_BYTES + 1)
    except TimeoutError:
        raise ConfigError([f"{where}: no answer within {p.targets_timeout:g} s"]) from None
    except aiohttp.ClientError as exc:  # its text may hold the whole URL: only its kind
        raise ConfigError([f"{where}: cannot be reached ({type(exc).__name__})"]) from None
    if len(body) > MAX_TARGETS_BYTES:
        raise ConfigError([f"{where}: answer larger than {MAX_TARGETS_BYTES // 1024} KiB"])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: answer is not UTF-8 JSON"]) from None
    return parse_targets(text, where, json_text=True), hashlib.sha256(body).hexdigest()


async def with_url_targets(settings: Settings) -> Settings:
    """With a `targets_url` source, the settings with the URL's targets (fetched now, validated);
    else the settings as they are. A bad answer is a ConfigError."""
    if settings.portfolio.targets_url is None:
        return settings
    table, _ = await fetch_targets_url(settings)
    return with_targets(settings, table, origin_of(settings))


class TargetsWatch:
    """The source of the targets, looked at by `check` at each poll; `request_reload` (SIGHUP)
    has the next `check` read the whole configuration again."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        clock: Clock,
        *,
        markets: Callable[[], Mapping[str, Market]] = dict,
        notifier: Notifier | None = None,
        load: Callable[[Path | None], Settings] = load_settings,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.clock = clock
        self.markets = markets
        self.notifier = notifier
        self.load = load
        self._reload = False
        self._started = False
        self._file: tuple[int, int] | None = None  # size and mtime of the file last read
        self._seen: str | None = None  # hash of the file or answer last read (good or bad)
        self._url_due = clock.time()

    @property
    def source(self) -> str:
        return self.settings.portfolio.targets_source

    def request_reload(self) -> None:
        """SIGHUP: the next `check` reads the config file and the environment again."""
        log.info("reload_requested", config=str(self.settings.config_file or ""))
        self._reload = True

    async def check(self) -> Settings | None:
        """The new settings when a change was accepted since the last call, else None."""
        changed = False
        if not self._started:
            self._started = True
            self._remember_file()
            self._url_due = self.clock.time() + self.settings.portfolio.targets_poll_interval
            in_force = self.journal.targets_in_force()
            weights = self.settings.portfolio.targets or {}
            if in_force is None or in_force.weights != weights:
                self._record(self.source)
        if self._reload:
            self._reload = False
            changed = self._reloaded()
        if self.source == "file":
            changed = self._file_changed() or changed
        elif self.source == "url" and self.clock.time() >= self._url_due:
            self._url_due = self.clock.time() + self.settings.portfolio.targets_poll_interval
            changed = await self._url_changed() or changed
        return self.settings if changed else None

    def _reloaded(self) -> bool:
        try:
            new = self.load(self.settings.config_file)
        except ConfigError as exc:
            self._refuse("sighup", "; ".join(exc.problems))
            return False
        fixed = fixed_changes(self.settings, new)
        if fixed:
            why = f"{', '.join(fixed)} cannot change while the bot runs (restart it to change them)"
            self._refuse("sighup", why)
            return False
        if new.portfolio.targets is None:  # a URL source: the targets in force until it answers
            new = new.model_copy(
                update={
                    "portfolio": new.portfolio.model_copy(
                        update={"targets": self.settings.portfolio.targets}
                    )
                }
            )
            self._url_due = self.clock.time()
        problem = self._unknown(new)
        if problem:
            self._refuse("sighup", problem)
            return False
        old, self.settings = self.settings, new
        self._remember_file()
        if old.portfolio.targets != new.portfolio.targets or origin_of(old) != origin_of(new):
            self._record("sighup")
        log.info("config_reloaded", config=str(new.config_file or ""))
        return old != new

    def _remember_file(self) -> None:
        """The targets file as the settings read it: its size, time and hash."""
        if self.source != "file":
            self._file = self._seen = None
            return
        path = self.settings.resolve(self.settings.portfolio.targets_file or Path())
        try:
            self._file = self._stat(path)
            _, self._seen = read_targets_file(path)
        except (OSError, ConfigError):
            self._file = self._seen = None

    @staticmethod
    def _stat(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_size, st.st_mtime_ns

    def _file_changed(self) -> bool:
        path = self.settings.resolve(self.settings.portfolio.targets_file or Path())
        try:
            stat = self._stat(path)
        except OSError as exc:
            stat = (-1, -1)
            why = f"{path}: cannot read: {exc.strerror or exc}"
        else:
            why = ""
        if stat == self._file:
            return False
        self._file = stat
        try:
            if why:
                raise ConfigError([why])
            table, digest = read_targets_file(path)
        except ConfigError as exc:
            self._seen = None
            self._refuse("file", "; ".join(exc.problems))
            return False
        if digest == self._seen:
            return False  # touched, not changed
        self._seen = digest
        return self._take("file", table, str(path))

    async def _url_changed(self) -> bool:
        try:
            table, digest = await fetch_targets_url(self.settings)
        except ConfigError as exc:
            self._refuse("url", "; ".join(exc.problems))
            return False
        if digest == self._seen:
            return False
        self._seen = digest
        return self._take("url", table, origin_of(self.settings))

    def _take(self, source: str, table: dict[str, Any], where: str) -> bool:
        try:
            new = with_targets(self.settings, table, where)
        except ConfigError as exc:
            self._refuse(source, "; ".join(exc.problems))
            return False
        problem = self._unknown(new)
        if problem:
            self._refuse(source, f"{where}: {problem}")
            return False
        if new.portfolio.targets == self.settings.portfolio.targets:
            return False
        self.settings = new
        self._record(source)
        return True

    def _unknown(self, settings: Settings) -> str:
        unknown = unknown_assets(settings.portfolio.targets or {}, self.markets())
        return f"not traded on the exchange: {', '.join(unknown)}" if unknown else ""

    def _record(self, source: str) -> None:
        weights = self.settings.portfolio.targets or {}
        self.journal.record_targets(source, origin_of(self.settings), weights)
        shown = {a: str(w) for a, w in weights.items()}
        log.info(TARGETS_CHANGED, source=source, origin=origin_of(self.settings), targets=shown)
        self._notify(TARGETS_CHANGED, f"targets from {source}: {shown}")

    def _refuse(self, source: str, problem: str) -> None:
        log.error(TARGETS_REFUSED, source=source, problem=problem, kept="the targets in force")
        self._notify(TARGETS_REFUSED, f"new targets from {source} refused: {problem}")

    def _notify(self, event: str, text: str) -> None:
        if self.notifier is not None:
            task = asyncio.get_running_loop().create_task(self.notifier.send(event, text))
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Task[None]] = set()
