"""Where the targets come from: exactly one source; a targets file read at load like the config's
own targets; a URL's token from the environment only; a journal that keeps each change."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.journal import Journal
from bot.settings import load_settings
from bot.settings.loader import with_targets

D = Decimal

BASE = '[exchange]\nmode = "sim"\n[portfolio]\nquote = "USDT"\n'
TARGETS = "targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2 }\n"


def load(tmp_path: Path, portfolio: str, env: dict[str, str] | None = None) -> list[str]:
    (tmp_path / "bot.toml").write_text(BASE + portfolio)
    try:
        load_settings(tmp_path / "bot.toml", env or {})
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(
    "portfolio",
    [
        TARGETS + 'targets_file = "t.toml"\n',
        TARGETS + 'targets_url = "https://example.com/t.json"\n',
        'targets_file = "t.toml"\ntargets_url = "https://example.com/t.json"\n',
    ],
)
def test_exactly_one_source_of_targets(tmp_path: Path, portfolio: str) -> None:
    (tmp_path / "t.toml").write_text(TARGETS)
    [problem] = load(tmp_path, portfolio)
    assert problem.startswith("portfolio: set one source of targets (targets, targets_file or")


def test_no_source_at_all_is_refused(tmp_path: Path) -> None:
    assert load(tmp_path, "") == ["portfolio.targets: required (or targets_file, or targets_url)"]


def test_a_targets_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"targets": {"BTC": "0.5", "ETH": 0.3, "USDT": 0.2}}')
    (tmp_path / "bot.toml").write_text(BASE + 'targets_file = "t.json"\n')
    settings = load_settings(tmp_path / "bot.toml", {})
    assert settings.portfolio.targets == {"BTC": D("0.5"), "ETH": D("0.3"), "USDT": D("0.2")}
    assert settings.portfolio.targets_source == "file"
    assert settings.config_file == (tmp_path / "bot.toml").resolve()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("targets = { BTC = 0.5, ETH = 0.3 }\n", "target weights must sum to 1"),
        ("targets = { btc = 1 }\n", "an asset is an upper-case code"),
        ("targets = [1]\n", '"targets" table'),
        ("targets = { BTC = 1 }\nquote = 'X'\n", "unknown key(s) 'quote'"),
    ],
)
def test_a_bad_targets_file_is_one_config_error(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "t.toml").write_text(text)
    problems = load(tmp_path, 'targets_file = "t.toml"\n')
    assert len(problems) == 1 and problem in problems[0], problems
    assert problems[0].startswith("portfolio.targets_file: ") or "targets" in problems[0]


def test_a_missing_targets_file_says_so(tmp_path: Path) -> None:
    assert load(tmp_path, 'targets_file = "nope.toml"\n') == [
        f"portfolio.targets_file: targets file not found: {tmp_path / 'nope.toml'}"
    ]


def test_the_url_token_comes_from_the_environment_only(tmp_path: Path) -> None:
    url = 'targets_url = "https://example.com/t.json"\n'
    [problem] = load(tmp_path, url + 'targets_token = "abc-secret"\n')
    assert "REBALANCE_PORTFOLIO__TARGETS_TOKEN" in problem and "abc-secret" not in problem
    (tmp_path / "bot.toml").write_text(BASE + url)
    env = {"REBALANCE_PORTFOLIO__TARGETS_TOKEN": "abc-secret"}
    settings = load_settings(tmp_path / "bot.toml", env)
    assert settings.portfolio.targets is None  # fetched when the bot runs
    assert settings.portfolio.targets_token is not None
    assert "abc-secret" not in repr(settings)


def test_with_targets_validates_like_the_config(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text(BASE + TARGETS)
    settings = load_settings(tmp_path / "bot.toml", {})
    new = with_targets(settings, {"BTC": "0.6", "USDT": "0.4"}, "here")
    assert new.portfolio.targets == {"BTC": D("0.6"), "USDT": D("0.4")}
    assert settings.portfolio.targets == {"BTC": D("0.5"), "ETH": D("0.3"), "USDT": D("0.2")}
    with pytest.raises(ConfigError) as exc:
        with_targets(settings, {"BTC": "0.6", "USDT": "0.5"}, "here")
    [line] = exc.value.problems
    assert line.startswith("here: portfolio.targets: target weights must sum to 1")


def test_the_journal_keeps_each_change_of_targets(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", now=lambda: 100.0)
    assert journal.targets_in_force() is None
    journal.record_targets("config", "", {"BTC": D("1")})
    journal.record_targets("file", "/x/t.toml", {"BTC": D("0.5"), "USDT": D("0.5")})
    rows = journal.target_changes()
    assert [(r.source, r.origin) for r in rows] == [("file", "/x/t.toml"), ("config", "")]
    assert journal.targets_in_force() == rows[0]
    assert rows[0].weights == {"BTC": D("0.5"), "USDT": D("0.5")}
    with pytest.raises(ValueError, match="unknown targets source"):
        journal.record_targets("elsewhere", "", {"BTC": D("1")})
