"""The ticket state machine, table-driven: every edge listed here by hand must be
exactly the table in tickets.states, and every other pair must be refused."""
import itertools

import pytest

from tickets import states
from tickets.models import OPEN_STATES, STATES

LEGAL = {
    ("new", "assigned"), ("new", "dispatched"), ("new", "in_progress"),
    ("new", "pending_customer"), ("new", "resolved"), ("new", "cancelled"),
    ("assigned", "dispatched"), ("assigned", "in_progress"), ("assigned", "pending_customer"),
    ("assigned", "resolved"), ("assigned", "cancelled"),
    ("dispatched", "in_progress"), ("dispatched", "pending_customer"), ("dispatched", "resolved"),
    ("dispatched", "cancelled"), ("dispatched", "assigned"),
    ("in_progress", "pending_customer"), ("in_progress", "resolved"), ("in_progress", "cancelled"),
    ("pending_customer", "in_progress"), ("pending_customer", "resolved"),
    ("pending_customer", "cancelled"),
    ("resolved", "closed"), ("resolved", "reopened"),
    ("closed", "reopened"),
    ("reopened", "assigned"), ("reopened", "dispatched"), ("reopened", "in_progress"),
    ("reopened", "resolved"), ("reopened", "cancelled"),
}
ILLEGAL = sorted(set(itertools.product(STATES, STATES)) - LEGAL)


def test_table_is_exactly_the_spec():
    assert set(states.TRANSITIONS) == set(STATES)
    assert {(old, new) for old, targets in states.TRANSITIONS.items() for new in targets} == LEGAL


@pytest.mark.parametrize("old,new", sorted(LEGAL))
def test_legal(old, new):
    assert states.check(old, new, resolution="fixed", reason="customer asked",
                        role="supervisor") is None


@pytest.mark.parametrize("old,new", ILLEGAL)
def test_illegal_names_the_legal_ones(old, new):
    with pytest.raises(states.IllegalTransition) as info:
        states.check(old, new, resolution="fixed", reason="why", role="admin")
    exc = info.value
    assert (exc.old, exc.new) == (old, new)
    assert set(exc.legal) == {n for o, n in LEGAL if o == old}
    assert list(exc.legal) == [s for s in STATES if s in exc.legal]  # lifecycle order
    assert str(exc) == f"cannot go from {old} to {new}; legal: {', '.join(exc.legal) or 'none'}"


def test_no_self_loops_and_cancelled_is_terminal():
    assert all(old != new for old, new in LEGAL)
    assert states.legal("cancelled") == ()
    assert {old for old, new in LEGAL if new == "cancelled"} == set(OPEN_STATES)


@pytest.mark.parametrize("old", ["new", "assigned", "in_progress", "reopened"])
@pytest.mark.parametrize("resolution", [None, "", "   "])
def test_resolving_needs_a_resolution(old, resolution):
    with pytest.raises(states.MissingField) as info:
        states.check(old, "resolved", resolution=resolution, reason="a reason is not a resolution")
    assert info.value.field == "resolution" and "resolution" in info.value.message


@pytest.mark.parametrize("old", sorted(OPEN_STATES))
@pytest.mark.parametrize("reason", [None, "", " \t"])
def test_cancelling_needs_a_reason(old, reason):
    with pytest.raises(states.MissingField) as info:
        states.check(old, "cancelled", reason=reason, resolution="not a reason", role="supervisor")
    assert info.value.field == "reason"


@pytest.mark.parametrize("old,new", [("resolved", "closed"), ("closed", "reopened"),
                                     ("new", "assigned"), ("dispatched", "assigned")])
def test_other_moves_need_no_text(old, new):
    states.check(old, new, role="supervisor")


@pytest.mark.parametrize("old,new,role,allowed", [
    ("new", "cancelled", "agent", False),
    ("in_progress", "cancelled", "expert", False),
    ("new", "cancelled", "supervisor", True),
    ("reopened", "cancelled", "admin", True),
    ("closed", "reopened", "agent", False),
    ("closed", "reopened", "supervisor", True),
    ("resolved", "reopened", "agent", True),  # not signed off yet: the agent may reopen
    ("resolved", "closed", "agent", True),
    ("new", "cancelled", None, True),  # internal callers pass no role
])
def test_roles(old, new, role, allowed):
    if allowed:
        states.check(old, new, reason="dup", role=role)
    else:
        with pytest.raises(states.NotAllowed) as info:
            states.check(old, new, reason="dup", role=role)
        assert info.value.roles == states.SUPERVISOR_ROLES


def test_errors_come_in_the_order_a_user_can_act_on():
    with pytest.raises(states.IllegalTransition):  # not possible at all beats "not for you"
        states.check("cancelled", "cancelled", role="agent")
    with pytest.raises(states.NotAllowed):  # "not for you" beats "give a reason"
        states.check("new", "cancelled", reason=None, role="agent")
