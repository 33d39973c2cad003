"""The states a rebalance, a leg and a child order can be in, as enums: code branches on these,
never on prose, and the journal stores their values."""

from __future__ import annotations

from enum import StrEnum


class RebalanceStatus(StrEnum):
    RUNNING = "running"  # started, not finished (the journal's state while it works)
    NOTHING = "nothing"  # every asset in its band, or dust only: nothing traded
    REFUSED = "refused"  # a risk limit refused the plan: nothing traded
    DONE = "done"  # every leg done
    STOPPED = "stopped"  # the operator stopped the bot mid-rebalance
    HALTED = "halted"  # a leg was given up (guard deadline, exchange refusal)
    FAILED = "failed"  # an error the bot could not work around
    INTERRUPTED = "interrupted"  # the process died mid-rebalance; closed at start-up


class SnapshotKind(StrEnum):
    """Why the journal recorded the portfolio's weights."""

    POLL = "poll"  # a poll of the daemon
    BEFORE = "before"  # a rebalance's start
    AFTER = "after"  # a rebalance's end


class LegOutcome(StrEnum):
    """How the executor ended a leg."""

    DONE = "done"  # filled, or the remainder is dust
    HALTED = "halted"  # given up: guard deadline, leg deadline, exchange refusal
    FAILED = "failed"  # an error the executor cannot work around


class LegStatus(StrEnum):
    """A leg as the journal records it: running, then its outcome (or interrupted by a crash)."""

    RUNNING = "running"
    DONE = LegOutcome.DONE.value
    HALTED = LegOutcome.HALTED.value
    FAILED = LegOutcome.FAILED.value
    INTERRUPTED = "interrupted"

    @classmethod
    def of(cls, outcome: LegOutcome) -> LegStatus:
        return cls(LegOutcome(outcome).value)


class ChildOutcome(StrEnum):
    """How one child order ended, as the executor goes on from it."""

    SETTLED = "settled"  # placed and seen to a final state (filled, cancelled or expired)
    CROSSED = "crossed"  # a post-only child the exchange refused as crossing: try again
    RETRY = "retry"  # refused unexecuted (rate limit, timestamp) or lost: anew, from a fresh book
    REFUSED = "refused"  # refused for funds or rules: the leg cannot go on
