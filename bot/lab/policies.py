"""The rebalancing policies a backtest compares, from a TOML file or the default grid.

A policy says when the bot rebalances and how far:

- `band` (`absolute` or `relative`) and `width`: rebalance when an asset leaves its band (the
  bot's `Bands`); none: bands play no part;
- `schedule` (`daily 00:00`, `weekly mon 00:00`, `every 30d`: the bot's `Schedule`): a rebalance
  to target at each slot, whatever the drift;
- `check = "scheduled"` with both: the bands are looked at only at the schedule's slots (a
  calendar rebalance that trades only when an asset is out of band);
- `to`: `target` or `band_edge` (the planner's `RebalanceTo`; `band_edge` needs a band).

Neither band nor schedule: never rebalance (buy-and-hold). The file:

    [costs]            # optional: the cost model (bot/lab/costs.py)
    fee_bps = 10
    half_spread_bps = 2
    impact = 0.7
    vol_window_days = 30
    min_notional = 10
    [recommend]        # optional
    max_tracking_error = 0.02   # annualised, a fraction
    [[policy]]
    name = "abs 5% to target"
    band = "absolute"
    width = 0.05
    to = "target"
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from bot.domain.planner import RebalanceTo
from bot.domain.portfolio import Band, BandKind
from bot.domain.schedule import Schedule
from bot.errors import ConfigError, DomainError
from bot.inputs import read_toml
from bot.lab.costs import CostParams

MAX_POLICIES = 200
E = TypeVar("E", bound=StrEnum)


class Check(StrEnum):
    ALWAYS = "always"  # bands checked at every bar
    SCHEDULED = "scheduled"  # bands checked at the schedule's slots only


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    band: Band | None = None
    schedule: Schedule | None = None
    to: RebalanceTo = RebalanceTo.TARGET
    check: Check = Check.ALWAYS

    @property
    def trades(self) -> bool:
        return self.band is not None or self.schedule is not None

    def describe(self) -> str:
        """One line: when and how far."""
        if not self.trades:
            return "never rebalances"
        parts = []
        if self.band is not None:
            width = f"{self.band.width * 100:g}%"
            parts.append(f"{self.band.kind.value} band {width}")
        if self.schedule is not None:
            word = "checked" if self.check is Check.SCHEDULED and self.band else "calendar"
            parts.append(f"{word} {self.schedule}")
        return ", ".join(parts) + f", to {self.to.value}"


@dataclass(frozen=True, slots=True)
class LabSpec:
    policies: tuple[Policy, ...]
    costs: CostParams = field(default_factory=CostParams)
    max_tracking_error: float = 0.02


def _band(kind: BandKind, width: str) -> Band:
    return Band(kind, Decimal(width))


def default_policies() -> tuple[Policy, ...]:
    """The default grid: 20 policies (none, calendars, bands of three widths each way to target
    and to the band edge, and four combinations)."""
    daily, weekly, monthly = (
        Schedule.parse("daily 00:00"),
        Schedule.parse("weekly mon 00:00"),
        Schedule.parse("every 30d"),
    )
    grid = [
        Policy("none"),
        Policy("daily", schedule=daily),
        Policy("weekly", schedule=weekly),
        Policy("monthly", schedule=monthly),
    ]
    to_names = {RebalanceTo.TARGET: "target", RebalanceTo.BAND_EDGE: "edge"}
    for kind, widths in (
        (BandKind.ABSOLUTE, ("0.02", "0.05", "0.1")),
        (BandKind.RELATIVE, ("0.1", "0.25", "0.5")),
    ):
        for width in widths:
            for to in (RebalanceTo.TARGET, RebalanceTo.BAND_EDGE):
                name = f"{kind.value[:3]} {float(width) * 100:g}% {to_names[to]}"
                grid.append(Policy(name, band=_band(kind, width), to=to))
    grid += [
        Policy("weekly if abs 5%", _band(BandKind.ABSOLUTE, "0.05"), weekly, check=Check.SCHEDULED),
        Policy(
            "daily if rel 25% edge",
            _band(BandKind.RELATIVE, "0.25"),
            daily,
            RebalanceTo.BAND_EDGE,
            Check.SCHEDULED,
        ),
        Policy("monthly or abs 10%", _band(BandKind.ABSOLUTE, "0.1"), monthly),
        Policy(
            "weekly if abs 2% edge",
            _band(BandKind.ABSOLUTE, "0.02"),
            weekly,
            RebalanceTo.BAND_EDGE,
            Check.SCHEDULED,
        ),
    ]
    return tuple(grid)


_POLICY_KEYS = ("name", "band", "width", "schedule", "to", "check")


def parse_policy(raw: Any, where: str) -> Policy:
    """One `[[policy]]` table; ConfigError with one line naming `where` and the key."""
    if not isinstance(raw, dict):
        raise ConfigError([f"{where}: a policy is a table"])
    unknown = sorted(set(raw) - set(_POLICY_KEYS))
    if unknown:
        raise ConfigError(
            [f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_POLICY_KEYS)})"]
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        raise ConfigError([f"{where}.name: a non-empty text of at most 40 characters is required"])
    where = f"{where} ({name})"
    band = None
    if "band" in raw or "width" in raw:
        kinds = [k.value for k in BandKind]
        if raw.get("band") not in kinds:
            raise ConfigError([f"{where}.band: expected one of {', '.join(kinds)}"])
        width = raw.get("width")
        if isinstance(width, bool) or not isinstance(width, int | float):
            raise ConfigError([f"{where}.width: a number in (0, 1) is required with band"])
        try:
            band = Band(BandKind(raw["band"]), Decimal(str(width)))
        except DomainError as exc:
            raise ConfigError([f"{where}.width: {exc}"]) from None
    schedule = None
    if "schedule" in raw:
        if not isinstance(raw["schedule"], str):
            raise ConfigError([f"{where}.schedule: a text such as 'daily 00:00' is required"])
        try:
            schedule = Schedule.parse(raw["schedule"])
        except DomainError as exc:
            raise ConfigError([f"{where}.{exc}"]) from None
    to = _choice(raw, "to", RebalanceTo, RebalanceTo.TARGET, where)
    check = _choice(raw, "check", Check, Check.ALWAYS, where)
    if to is RebalanceTo.BAND_EDGE and band is None:
        raise ConfigError([f"{where}.to: band_edge needs a band (band and width)"])
    if check is Check.SCHEDULED and (band is None or schedule is None):
        raise ConfigError([f"{where}.check: 'scheduled' needs both a band and a schedule"])
    return Policy(name.strip(), band, schedule, to, check)


def _choice(raw: dict[str, Any], key: str, kind: type[E], default: E, where: str) -> E:
    if key not in raw:
        return default
    try:
        return kind(raw[key])
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise ConfigError([f"{where}.{key}: expected one of {known}"]) from None


def parse_costs(raw: Any, base: CostParams) -> CostParams:
    """The `[costs]` table over `base`; every value a finite number >= 0."""
    if not isinstance(raw, dict):
        raise ConfigError(["costs: a table is required"])
    known = [f.name for f in fields(CostParams)]
    values: dict[str, float] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError([f"costs: unknown key {key!r} (known: {', '.join(known)})"])
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError([f"costs.{key}: a number is required"])
        if not math.isfinite(value) or value < 0 or value > 1e9:
            raise ConfigError([f"costs.{key}: must be a finite number >= 0"])
        values[key] = float(value)
    if values.get("vol_window_days", 1.0) <= 0:
        raise ConfigError(["costs.vol_window_days: must be more than 0"])
    if values.get("fee_bps", 0.0) >= 1000 or values.get("half_spread_bps", 0.0) >= 1000:
        raise ConfigError(["costs: fee_bps and half_spread_bps must be below 1000"])
    return CostParams(**{**{f: getattr(base, f) for f in known}, **values})


def load_lab_file(path: Path | None, base: CostParams) -> LabSpec:
    """The policies file (None: the default grid with `base` costs). ConfigError, one line."""
    if path is None:
        return LabSpec(default_policies(), base)
    raw = read_toml(path, lambda m: ConfigError([m]), what="policies")
    unknown = sorted(set(raw) - {"costs", "recommend", "policy"})
    if unknown:
        raise ConfigError([f"{path}: unknown table {unknown[0]!r} (costs, recommend, policy)"])
    costs = parse_costs(raw.get("costs", {}), base)
    tracking = 0.02
    recommend = raw.get("recommend", {})
    if not isinstance(recommend, dict) or set(recommend) - {"max_tracking_error"}:
        raise ConfigError([f"{path}: [recommend] takes max_tracking_error only"])
    if "max_tracking_error" in recommend:
        value = recommend["max_tracking_error"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10:
            raise ConfigError([f"{path}: recommend.max_tracking_error: a number in (0, 10)"])
        tracking = float(value)
    listed = raw.get("policy")
    if listed is None:
        return LabSpec(default_policies(), costs, tracking)
    if not isinstance(listed, list) or not listed:
        raise ConfigError([f"{path}: [[policy]] must be one or more tables"])
    if len(listed) > MAX_POLICIES:
        raise ConfigError([f"{path}: at most {MAX_POLICIES} policies, got {len(listed)}"])
    policies = tuple(parse_policy(p, f"{path}: policy[{i}]") for i, p in enumerate(listed))
    names = [p.name for p in policies]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError([f"{path}: policy name {repeated[0]!r} is used twice"])
    return LabSpec(policies, costs, tracking)
