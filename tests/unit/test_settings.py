"""Configuration: TOML + environment, validation with one line per problem, secrets handling."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.planner import RebalanceTo
from bot.domain.portfolio import BandKind
from bot.errors import ConfigError
from bot.settings import Mode, load_settings

GOOD = """
[exchange]
mode = "paper"
[portfolio]
quote = "USDT"
targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2 }
[bands]
width = 0.04
[bands.overrides.ETH]
kind = "relative"
width = 0.25
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("REBALANCE_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return info.value.problems


def test_reads_file_with_exact_decimals(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert s.exchange.mode is Mode.PAPER
    assert s.portfolio.targets == {
        "BTC": Decimal("0.5"),
        "ETH": Decimal("0.3"),
        "USDT": Decimal("0.2"),
    }
    bands = s.bands_model()
    assert bands.for_asset("BTC").width == Decimal("0.04")
    assert bands.for_asset("ETH").kind is BandKind.RELATIVE
    assert s.rebalance.to is RebalanceTo.TARGET


def test_shipped_configs_are_valid() -> None:
    for name in ("demo.toml", "example.toml"):
        load_settings(Path("config") / name)


def test_environment_overrides_nested_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_LOOP__POLL_INTERVAL", "7.5")
    monkeypatch.setenv("REBALANCE_BANDS__WIDTH", "0.02")
    s = load_settings(write(tmp_path, GOOD))
    assert s.loop.poll_interval == 7.5
    assert s.bands.width == Decimal("0.02")
    assert s.bands.overrides["ETH"].width == Decimal("0.25")  # untouched by the override


def test_environment_targets_table_replaces_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBALANCE_PORTFOLIO__TARGETS", '{"BTC": 0.6, "USDT": 0.4}')
    path = write(
        tmp_path, GOOD.replace('[bands.overrides.ETH]\nkind = "relative"\nwidth = 0.25\n', "")
    )
    s = load_settings(path)
    assert s.portfolio.targets == {"BTC": Decimal("0.6"), "USDT": Decimal("0.4")}


def test_every_problem_is_one_line_naming_field_and_value(tmp_path: Path) -> None:
    bad = """
[exchange]
mode = "moon"
[portfolio]
quote = "usdt"
targets = { BTC = 0.7, eth = 0.2, SOL = -0.1 }
[bands]
width = 1.5
[loop]
poll_interval = 0
cooldwon = 3
"""
    lines = problems(write(tmp_path, bad))
    assert all("\n" not in line for line in lines)
    joined = "\n".join(lines)
    assert "exchange.mode" in joined and "'moon'" in joined
    assert "portfolio.quote" in joined and "'usdt'" in joined
    assert "portfolio.targets.eth" in joined
    assert "portfolio.targets.SOL" in joined and "-0.1" in joined
    assert "bands.width" in joined and "1.5" in joined
    assert "loop.poll_interval" in joined
    assert "loop.cooldwon: unknown option" in joined
    assert len(lines) == 7


def test_weights_must_sum_to_one(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, GOOD.replace("USDT = 0.2", "USDT = 0.1")))
    assert lines == [
        "portfolio.targets: target weights must sum to 1 (within 1e-9), got 0.9"
        " (list USDT with a weight to hold cash)"
    ]


def test_relative_band_needs_a_quote_weight(tmp_path: Path) -> None:
    text = """
[portfolio]
quote = "USDT"
targets = { BTC = 0.5, ETH = 0.5 }
[bands]
kind = "relative"
width = 0.2
[bands.overrides.DOGE]
width = 0.1
"""
    lines = problems(write(tmp_path, text))
    assert any(line.startswith("bands.overrides.DOGE:") for line in lines)
    assert any("relative band around it is empty" in line for line in lines)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.toml") == [f"config file not found: {tmp_path / 'nope.toml'}"]
    lines = problems(write(tmp_path, "[portfolio\nquote="))
    assert len(lines) == 1 and "bot.toml" in lines[0]
    assert problems(write(tmp_path, "")) == ["portfolio: Field required"]


def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path: Path) -> None:
    text = GOOD.replace('mode = "paper"', 'mode = "paper"\napi_key = "AKIA-SUPER-SECRET"')
    lines = problems(write(tmp_path, text))
    assert len(lines) == 1
    assert "exchange.api_key" in lines[0] and "REBALANCE_EXCHANGE__API_KEY" in lines[0]
    assert "AKIA-SUPER-SECRET" not in lines[0]


def test_secrets_from_environment_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "key-from-env")
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET_FILE", str(secret_file))
    s = load_settings(write(tmp_path, GOOD))
    key, secret = s.exchange.credential("api_key"), s.exchange.credential("secret")
    assert key is not None
    assert secret is not None
    assert key.get_secret_value() == "key-from-env"
    assert secret.get_secret_value() == "s3cr3t-from-file"
    assert s.exchange.credential("password") is None
    for text in (repr(s), str(s), repr(s.exchange)):
        assert "key-from-env" not in text and "s3cr3t-from-file" not in text


def test_secret_file_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCE_EXCHANGE__SECRET_FILE", str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("REBALANCE_EXCHANGE__PASSWORD_FILE", str(empty))
    lines = problems(write(tmp_path, GOOD))
    missing = tmp_path / "missing"
    assert (
        "exchange.secret_file: cannot read the file: No such file or directory"
        " (from REBALANCE_EXCHANGE__SECRET_FILE)" in lines
    )
    assert (
        "exchange.password_file: the file is empty (from REBALANCE_EXCHANGE__PASSWORD_FILE)"
        in lines
    )
    assert not any(str(missing) in line or str(empty) in line for line in lines)
    monkeypatch.delenv("REBALANCE_EXCHANGE__SECRET_FILE")
    monkeypatch.delenv("REBALANCE_EXCHANGE__PASSWORD_FILE")
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY", "k")
    key_file = tmp_path / "k"
    key_file.write_text("k2")
    monkeypatch.setenv("REBALANCE_EXCHANGE__API_KEY_FILE", str(key_file))
    assert any("not both" in line for line in problems(write(tmp_path, GOOD)))


def test_example_config_documents_every_option() -> None:
    """Every option of every section appears in config/example.toml (set, or commented out)."""
    import re

    from pydantic import BaseModel

    from bot.settings import SECRET_FIELDS, Settings

    text = Path("config/example.toml").read_text()
    missing = []
    for section, field in Settings.model_fields.items():
        if section in ("base_dir", "config_file"):
            continue
        model = field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        assert f"[{section}]" in text, section
        for name in model.model_fields:
            if name.removesuffix("_file") in SECRET_FIELDS or name == "overrides":
                continue
            if not re.search(rf"^#? ?{name} = ", text, re.M):
                missing.append(f"{section}.{name}")
    assert missing == []
