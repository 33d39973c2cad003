"""Periodic rebalances: when one is due, whatever the drift.

A `Schedule` is a value parsed once, from the configuration (`loop.schedule`); `str()` gives the
text it was parsed from.

A schedule is one of (times are UTC):
- `every 12h`, `every 7d`, `every 90m`: a fixed interval after the last scheduled rebalance;
- `daily 08:00`: every day at that time;
- `weekly mon 08:00`: every week, that day, that time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.errors import DomainError

UNITS = {"m": 60, "h": 3600, "d": 86_400}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EVERY = re.compile(r"^every\s+(\d+)\s*([mhd])$")
_DAILY = re.compile(r"^daily\s+([01]\d|2[0-3]):([0-5]\d)$")
_WEEKLY = re.compile(r"^weekly\s+(mon|tue|wed|thu|fri|sat|sun)\s+([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: float | None = None  # seconds
    weekday: int | None = None  # 0 = Monday
    minute_of_day: int | None = None
    text: str = field(default="", compare=False)  # what it was parsed from

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> Schedule:
        given = text.strip()
        spec = given.lower()
        if m := _EVERY.match(spec):
            seconds = int(m[1]) * UNITS[m[2]]
            if seconds > 0:
                return cls(interval=float(seconds), text=given)
        if m := _DAILY.match(spec):
            return cls(minute_of_day=int(m[1]) * 60 + int(m[2]), text=given)
        if m := _WEEKLY.match(spec):
            return cls(
                weekday=DAYS.index(m[1]),
                minute_of_day=int(m[2]) * 60 + int(m[3]),
                text=given,
            )
        raise DomainError(
            f"schedule {text!r}: expected 'every 12h' (m, h or d), 'daily HH:MM' or"
            " 'weekly mon HH:MM' (UTC)"
        )

    def due(self, last: float | None, now: float) -> bool:
        """Is a scheduled rebalance due at `now`, the last one having run at `last`?"""
        if self.interval is not None:
            return last is None or now - last >= self.interval
        return self.previous_slot(now) > (last if last is not None else float("-inf"))

    def previous_slot(self, now: float) -> float:
        """The latest scheduled time at or before `now` (daily and weekly schedules)."""
        assert self.minute_of_day is not None
        t = datetime.fromtimestamp(now, UTC)
        slot = t.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
            minutes=self.minute_of_day
        )
        if self.weekday is None:
            if slot > t:
                slot -= timedelta(days=1)
        else:
            slot -= timedelta(days=(slot.weekday() - self.weekday) % 7)
            if slot > t:
                slot -= timedelta(days=7)
        return slot.timestamp()
