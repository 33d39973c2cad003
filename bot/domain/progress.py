"""A leg's progress between two children: what the executor carries from one look at the book to
the next. A pure value: each step returns a new one.

- `paused_since`: when the mid first moved too far against the leg, in this pause (the guard
  gives the leg up once it has lasted `deviation_timeout`); cleared by any other outcome.
- `forced_phase`, `take_cap`: after a `passive-then-take` child rested without filling, its
  unfilled rest, and no more, is taken next.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.domain.slicing import Child, Phase, Style, Wait


@dataclass(frozen=True, slots=True)
class LegProgress:
    paused_since: float | None = None
    forced_phase: Phase | None = None
    take_cap: Decimal | None = None

    def paused_for(self, now: float) -> float:
        return 0.0 if self.paused_since is None else now - self.paused_since

    def waited(self, wait: Wait, now: float) -> LegProgress:
        """The slicer said wait: an adverse move starts (or continues) a pause."""
        if wait.deviation:
            return LegProgress(self.paused_since if self.paused_since is not None else now)
        return LegProgress()

    def child_settled(self, child: Child, filled: Decimal, style: Style) -> LegProgress:
        """A child reached its final state, having filled `filled` of its amount."""
        rested = child.phase is Phase.PASSIVE and style is Style.PASSIVE_THEN_TAKE
        if rested and filled < child.amount:
            return LegProgress(None, Phase.TAKE, child.amount - filled)
        return LegProgress()
