"""Periodic rebalance schedules: parsing, and when one is due (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.schedule import Schedule


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_every_interval() -> None:
    s = Schedule.parse("every 12h")
    assert s.interval == 12 * 3600
    start = ts("2026-11-25T10:00:00")
    assert not s.due(start, start + 11 * 3600)
    assert s.due(start, start + 12 * 3600)
    assert Schedule.parse("Every 90m").interval == 5400
    assert Schedule.parse("every 7d").interval == 7 * 86400


def test_daily_at_a_time() -> None:
    s = Schedule.parse("daily 08:00")
    last = ts("2026-11-25T07:00:00")
    assert not s.due(last, ts("2026-11-25T07:59:59"))
    assert s.due(last, ts("2026-11-25T08:00:00"))
    assert not s.due(ts("2026-11-25T08:00:01"), ts("2026-11-26T07:59:00"))
    assert s.due(ts("2026-11-25T08:00:01"), ts("2026-11-26T08:30:00"))


def test_weekly_on_a_day() -> None:
    s = Schedule.parse("weekly mon 08:00")  # 2026-11-30 is a Monday
    last = ts("2026-11-25T12:00:00")
    assert not s.due(last, ts("2026-11-30T07:59:00"))
    assert s.due(last, ts("2026-11-30T08:00:00"))
    assert not s.due(ts("2026-11-30T08:00:00"), ts("2026-12-06T23:00:00"))


@pytest.mark.parametrize(
    "bad", ["every", "every 0h", "hourly", "daily 25:00", "weekly xyz 08:00", "every 5s"]
)
def test_bad_schedules_are_refused_with_the_forms_named(bad: str) -> None:
    with pytest.raises(ValueError, match="every 12h"):
        Schedule.parse(bad)
