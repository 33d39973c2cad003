"""Targets that change while the daemon runs (in virtual time on the simulator), and a targets URL
against a local HTTP server: each accepted set journaled with its source, a bad one refused with
one line while the old targets stay, a rebalance always finishing on the targets it started with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.errors import ConfigError
from bot.execution.reports import LegReport
from bot.journal import Journal
from bot.report import status_dict
from bot.runtime.targets import TargetsWatch, with_url_targets
from bot.settings import Settings, load_settings

from .helpers import daemon_for, settings_for

D = Decimal

OLD = {"BTC": D("0.40"), "ETH": D("0.25"), "SOL": D("0.15"), "LINK": D("0.10"), "USDT": D("0.10")}
NEW = {"BTC": D("0.20"), "ETH": D("0.20"), "SOL": D("0.20"), "LINK": D("0.20"), "USDT": D("0.20")}


def toml_targets(weights: dict[str, D]) -> str:
    return "targets = { " + ", ".join(f"{a} = {w}" for a, w in weights.items()) + " }\n"


def with_source(tmp_path: Path, source: str, extra: str = "") -> Settings:
    """The integration settings, the targets from `source` (a line of [portfolio]) instead."""
    settings_for(tmp_path, extra)
    cfg = tmp_path / "bot.toml"
    lines = [
        source if line.startswith("targets = ") else line for line in cfg.read_text().splitlines()
    ]
    cfg.write_text("\n".join(lines) + "\n")
    return load_settings(cfg)


def refusals(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "targets_refused"]


async def test_a_targets_file_change_during_a_rebalance_applies_after_it(tmp_path: Path) -> None:
    """The file changes while the first rebalance works its legs: that rebalance finishes on the
    targets it started with (its plan and its end state), the change is journaled once it ends,
    and the next rebalance trades to the new targets."""
    (tmp_path / "targets.toml").write_text(toml_targets(OLD))
    settings = with_source(tmp_path, 'targets_file = "targets.toml"')
    assert settings.portfolio.targets == OLD
    daemon, _, journal = daemon_for(settings)
    running: list[int] = []

    def change_during_the_rebalance(leg: LegReport) -> None:
        if not running:  # the first child order of the first rebalance
            running.append(journal.rebalances(1)[0].id)
            assert journal.rebalances(1)[0].finished_at is None
            (tmp_path / "targets.toml").write_text(toml_targets(NEW))

    daemon.executor.progress = change_during_the_rebalance
    task = asyncio.create_task(daemon.run())
    start = daemon.clock.time()
    while daemon.clock.time() < start + 4 * 3600:  # virtual time
        if len([r for r in journal.rebalances() if r.finished_at is not None]) >= 2:
            break
        await asyncio.sleep(0)
    daemon.request_stop("test")
    result = await task

    traded = [r for r in result.reports if r.legs]
    assert len(traded) >= 2 and running == [traded[0].rebalance_id]
    first, second = traded[0], traded[1]
    assert {p.asset: p.target for p in first.plan.valuation.positions} == OLD
    assert first.after is not None and not first.after.needs_rebalance  # in band for OLD
    assert {p.asset: p.target for p in second.plan.valuation.positions} == NEW
    assert result.last is not None and {p.asset: p.target for p in result.last.positions} == NEW
    changes = journal.target_changes()
    assert [(c.source, c.weights) for c in changes] == [("file", NEW), ("file", OLD)]
    assert changes[0].origin == str(tmp_path / "targets.toml")
    first_row = journal.rebalance(first.rebalance_id or 0)
    assert first_row is not None and first_row.finished_at is not None
    assert changes[0].at >= first_row.finished_at  # in force only after the first one ended
    shown = status_dict(settings.portfolio_spec(), journal)["targets"]
    assert shown["source"] == "file" and shown["weights"]["BTC"] == "0.20"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("targets = { BTC = 0.5, ETH = 0.3 }\n", "must sum to 1"),
        ("targets = { btc = 0.5, ETH = 0.3, USDT = 0.2 }\n", "upper-case code"),
        ("targets = { BTC = 0.5, DOGE = 0.3, USDT = 0.2 }\n", "not traded on the exchange: DOGE"),
        ("targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2\n", "invalid TOML"),
        ('weights = { BTC = "1" }\n', '"targets" table'),
    ],
)
async def test_a_bad_targets_file_is_refused_and_the_old_targets_stay(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "targets.toml").write_text(toml_targets(OLD))
    settings = with_source(tmp_path, 'targets_file = "targets.toml"')
    daemon, _, journal = daemon_for(settings)
    await daemon.run(once=True)
    (tmp_path / "targets.toml").write_text(text)
    with capture_logs() as logs:
        result = await daemon.run(once=True)  # the daemon goes on: it polls, values, decides
    assert result.last is not None
    [refused] = refusals(logs)
    assert refused["source"] == "file"
    assert str(tmp_path / "targets.toml") in refused["problem"]
    assert problem in refused["problem"]
    assert daemon.rebalancer.portfolio.targets == OLD
    assert [(c.source, c.weights) for c in journal.target_changes()] == [("file", OLD)]
    with capture_logs() as logs:  # the same bad file is said once, not at every poll
        await daemon.run(once=True)
    assert refusals(logs) == []


async def test_bands_that_no_longer_fit_refuse_the_new_targets(tmp_path: Path) -> None:
    """An override for an asset the new set drops: refused like the config would be."""
    (tmp_path / "targets.toml").write_text(toml_targets(OLD))
    settings = with_source(
        tmp_path, 'targets_file = "targets.toml"', "[bands.overrides.LINK]\nwidth = 0.02"
    )
    daemon, _, journal = daemon_for(settings)
    await daemon.run(once=True)
    (tmp_path / "targets.toml").write_text("targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2 }")
    with capture_logs() as logs:
        await daemon.run(once=True)
    [refused] = refusals(logs)
    assert "bands.overrides.LINK: LINK is not in portfolio.targets" in refused["problem"]
    assert journal.targets_in_force() is not None
    assert journal.targets_in_force().weights == OLD  # type: ignore[union-attr]


# ---- a URL source, against a local server ----------------------------------------------------


class Answers:
    """What the local targets server answers next, and the headers it was sent."""

    def __init__(self) -> None:
        self.body: str = json.dumps({"targets": {a: str(w) for a, w in OLD.items()}})
        self.delay = 0.0
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(text=self.body, content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[tuple[Answers, str]]:
    answers = Answers()
    app = web.Application()
    app.router.add_get("/targets.json", answers.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield answers, f"http://127.0.0.1:{port}/targets.json"
    finally:
        await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


SECRET_TOKEN = "tok-5ecret-never-logged"


async def test_a_targets_url_good_bad_json_and_timeout(
    tmp_path: Path, server: tuple[Answers, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, url = server
    monkeypatch.setenv("REBALANCE_PORTFOLIO__TARGETS_TOKEN", SECRET_TOKEN)
    extra = ""
    settings = with_source(
        tmp_path,
        f'targets_url = "{url}?key=abc"\ntargets_poll_interval = 60\ntargets_timeout = 0.3',
        extra,
    )
    assert settings.portfolio.targets is None
    with pytest.raises(ConfigError):
        settings.portfolio_spec()
    settings = await with_url_targets(settings)  # at start: the URL answers first
    assert settings.portfolio.targets == OLD
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite", now=clock.time)
    watch = TargetsWatch(settings, journal, clock)  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert await watch.check() is None  # the set in force, journaled
        answers.body = json.dumps({"targets": {a: str(w) for a, w in NEW.items()}})
        assert await watch.check() is None  # not yet due
        clock.now += 60
        changed = await watch.check()
        assert changed is not None and changed.portfolio.targets == NEW

        clock.now += 60
        answers.body = '{"targets": {"BTC": 1'  # bad JSON
        assert await watch.check() is None
        clock.now += 60
        answers.body = json.dumps({"targets": {"BTC": "0.7", "USDT": "0.2"}})  # sums to 0.9
        assert await watch.check() is None
        clock.now += 60
        answers.body, answers.delay = json.dumps({"targets": {"BTC": "1"}}), 1.0  # too slow
        assert await watch.check() is None
    assert watch.settings.portfolio.targets == NEW
    rows = journal.target_changes()
    assert [(r.source, r.weights) for r in rows] == [("url", NEW), ("url", OLD)]
    assert rows[0].origin == url  # without its query
    problems = [e["problem"] for e in refusals(logs)]
    assert len(problems) == 3
    assert "invalid JSON" in problems[0]
    assert "must sum to 1" in problems[1]
    assert "no answer within 0.3 s" in problems[2]
    assert all(p.startswith(url) for p in problems)
    assert all(h.get("Authorization") == f"Bearer {SECRET_TOKEN}" for h in answers.headers)
    assert SECRET_TOKEN not in repr(logs) and "key=abc" not in repr(logs)


async def test_a_targets_url_that_fails_at_start_is_one_config_error(
    tmp_path: Path, server: tuple[Answers, str]
) -> None:
    answers, url = server
    settings = with_source(tmp_path, f'targets_url = "{url}"')
    answers.body = "[1, 2]"
    with pytest.raises(ConfigError) as exc:
        await with_url_targets(settings)
    assert exc.value.problems == [f'{url}: expected a "targets" table of asset -> weight']
