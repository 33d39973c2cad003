"""Logs never carry credentials: by key or by value, nested or inside messages."""

from __future__ import annotations

import json

import pytest
import structlog

from bot.observability import configure_logging, get_logger, register_secrets


def test_secrets_are_redacted_by_key_and_by_value(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "json")
    register_secrets(["very-secret-api-key-123", None])
    log = get_logger("test")
    log.info(
        "order_rejected",
        api_key="very-secret-api-key-123",
        error="binance said: bad key very-secret-api-key-123 (code -2015)",
        headers={"X-MBX-APIKEY": "x", "secret": "y", "nested": ["very-secret-api-key-123"]},
        qty="1.5",
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "very-secret-api-key-123" not in line
    assert record["api_key"] == "***"
    assert record["error"] == "binance said: bad key *** (code -2015)"
    assert record["headers"]["secret"] == "***"
    assert record["headers"]["nested"] == ["***"]
    assert record["qty"] == "1.5"
    assert record["event"] == "order_rejected" and record["level"] == "info"
    structlog.reset_defaults()


def test_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    get_logger("t").info("hidden")
    get_logger("t").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "shown" in err
    structlog.reset_defaults()
