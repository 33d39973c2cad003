"""A child order's life: the transitions the machine allows, that a final state never reopens,
and that "never arrived" is only ever concluded from proof. And a leg's progress between
children, as a pure value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.domain.lifecycle import FINAL, TRANSITIONS, ChildOrder, ChildState
from bot.domain.market import Side
from bot.domain.orders import OrderReport, OrderStatus, TimeInForce
from bot.domain.progress import LegProgress
from bot.domain.slicing import Child, Phase, Style, Wait
from bot.errors import DomainError

D = Decimal
S = ChildState


def report(status: OrderStatus, filled: str = "0") -> OrderReport:
    return OrderReport(
        "c1", "7", "BTC/USDT", Side.BUY, D(1), D(100), status, D(filled), None, D(0), None
    )


def test_every_state_has_its_transitions_and_finals_have_none() -> None:
    assert set(TRANSITIONS) == set(ChildState)
    for state in FINAL:
        assert TRANSITIONS[state] == frozenset()
        assert state.is_final
    assert {s for s in ChildState if not s.is_final} == {
        S.INTENT,
        S.SENT,
        S.OPEN,
        S.PARTIALLY_FILLED,
        S.CANCELLING,
    }


def test_a_normal_life() -> None:
    child = ChildOrder("c1").sent(10.0)
    assert (child.state, child.sent_at) == (S.SENT, 10.0)
    child = child.reported(report(OrderStatus.OPEN))
    assert child.state is S.OPEN
    child = child.reported(report(OrderStatus.OPEN, "0.4"))
    assert (child.state, child.filled) == (S.PARTIALLY_FILLED, D("0.4"))
    child = child.cancelling()
    # a report that still says open while the cancel is on its way keeps it cancelling
    assert child.reported(report(OrderStatus.OPEN, "0.5")).state is S.CANCELLING
    child = child.reported(report(OrderStatus.CANCELED, "0.5"))
    assert (child.state, child.filled) == (S.CANCELLED, D("0.5"))


@pytest.mark.parametrize("final", sorted(FINAL))
def test_a_final_state_never_reopens(final: ChildState) -> None:
    child = ChildOrder("c1", final)
    for step in (
        lambda c: c.sent(1.0),
        lambda c: c.cancelling(),
        lambda c: c.refused(),
        lambda c: c.reported(report(OrderStatus.OPEN)),
    ):
        with pytest.raises(DomainError, match="is not a transition"):
            step(child)


def test_the_same_final_report_again_changes_nothing() -> None:
    filled = ChildOrder("c1", S.SENT).reported(report(OrderStatus.CLOSED, "1"))
    assert filled.reported(report(OrderStatus.CLOSED, "1")) == filled


def test_never_arrived_only_from_proof() -> None:
    sent = ChildOrder("c1").sent(100.0)
    # one lookup that misses, inside the window: nothing is concluded
    assert sent.absent(103.0, 6.0).state is S.SENT
    assert sent.absent(105.99, 6.0).state is S.SENT
    # the window has passed since the real send: the exchange can no longer accept it
    assert sent.absent(106.0, 6.0).state is S.NEVER_ARRIVED
    # no window known: only a listing of the exchange's orders proves it
    assert sent.absent(10_000.0, None).state is S.SENT
    assert sent.absent(100.5, None, proven=True).state is S.NEVER_ARRIVED
    # an intent was never sent: absent for sure
    assert ChildOrder("c2").absent(0.0, None).state is S.NEVER_ARRIVED
    # an order the exchange reported is not made absent by a miss
    opened = sent.reported(report(OrderStatus.OPEN))
    assert opened.absent(1e9, 6.0) is opened


def test_refused_and_lost_children_cannot_be_reported_later() -> None:
    refused = ChildOrder("c1").sent(1.0).refused()
    with pytest.raises(DomainError):
        refused.reported(report(OrderStatus.OPEN))


CHILD = Child(Side.BUY, D(2), D(100), Phase.PASSIVE, TimeInForce.GTC, post_only=True)


def test_leg_progress_pauses_on_an_adverse_move_and_keeps_its_start() -> None:
    p = LegProgress().waited(Wait("mid moved", deviation=True), 10.0)
    p = p.waited(Wait("mid moved", deviation=True), 20.0)
    assert p.paused_since == 10.0
    assert p.paused_for(25.0) == 15.0
    assert p.waited(Wait("book thin"), 30.0) == LegProgress()


def test_leg_progress_takes_the_rest_of_a_passive_child_and_no_more() -> None:
    p = LegProgress().child_settled(CHILD, D("0.5"), Style.PASSIVE_THEN_TAKE)
    assert (p.forced_phase, p.take_cap) == (Phase.TAKE, D("1.5"))
    assert LegProgress().child_settled(CHILD, D(2), Style.PASSIVE_THEN_TAKE) == LegProgress()
    assert LegProgress().child_settled(CHILD, D("0.5"), Style.PASSIVE) == LegProgress()
