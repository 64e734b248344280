"""The ticket lifecycle as one explicit table.

::

    new --> assigned --> dispatched --> in_progress <--> pending_customer
     |         ^             |               |                  |
     |         +-------------+               v                  |
     |        (site rejected)            resolved <-------------+
     |                                    |     |
     +-- may skip ahead to any later      |     v
         open state, or to resolved       |   closed
                                          v     |
                                       reopened <+
                                          |
                                          +--> assigned | dispatched | in_progress | resolved

    any open state --> cancelled (terminal)

Every open state (new, assigned, dispatched, in_progress, pending_customer,
reopened) may be cancelled; ``cancelled`` is terminal. The table below is
the truth; the drawing is only a reading aid.

Field rules: moving to ``resolved`` needs a resolution, moving to
``cancelled`` needs a reason (both non-blank).

Role rule: cancelling a ticket, and reopening a ``closed`` one, are
supervisor decisions (``supervisor`` or ``admin``): an agent who could
cancel would make awkward tickets disappear, and a closed ticket has already
been signed off. Every other move is open to any authenticated role, since
agents work the tickets. The rule is checked only when the caller passes a
role; internal callers (SLA, dispatch) act as the system.
"""
from __future__ import annotations

from tickets.models import STATES

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "dispatched", "in_progress", "pending_customer", "resolved",
                      "cancelled"}),
    "assigned": frozenset({"dispatched", "in_progress", "pending_customer", "resolved",
                           "cancelled"}),
    # back to assigned: the site rejected the job and it needs a new home
    "dispatched": frozenset({"in_progress", "pending_customer", "resolved", "cancelled",
                             "assigned"}),
    "in_progress": frozenset({"pending_customer", "resolved", "cancelled"}),
    "pending_customer": frozenset({"in_progress", "resolved", "cancelled"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"assigned", "dispatched", "in_progress", "resolved", "cancelled"}),
    "cancelled": frozenset(),
}

# Which field a move needs, and that the value must be non-blank.
REQUIRED_FIELDS: dict[str, str] = {"resolved": "resolution", "cancelled": "reason"}

SUPERVISOR_ROLES = ("supervisor", "admin")


class IllegalTransition(Exception):
    """The state machine has no edge from ``old`` to ``new``; ``legal`` lists the ones it has."""

    def __init__(self, old: str, new: str, legal: tuple[str, ...]) -> None:
        self.old, self.new, self.legal = old, new, legal
        super().__init__(f"cannot go from {old} to {new}; legal: {', '.join(legal) or 'none'}")


class MissingField(Exception):
    """The move is legal but needs ``field`` (a resolution, a reason)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(message)


class NotAllowed(Exception):
    """The move is legal but the caller's role may not make it."""

    def __init__(self, old: str, new: str, roles: tuple[str, ...]) -> None:
        self.old, self.new, self.roles = old, new, roles
        super().__init__(f"only {' or '.join(roles)} may move a ticket from {old} to {new}")


def legal(old: str) -> tuple[str, ...]:
    """The states reachable from ``old``, in lifecycle order (stable for messages)."""
    allowed = TRANSITIONS.get(old, frozenset())
    return tuple(s for s in STATES if s in allowed)


def needs_supervisor(old: str, new: str) -> bool:
    return new == "cancelled" or (old == "closed" and new == "reopened")


def check(old: str, new: str, *, resolution: str | None = None, reason: str | None = None,
          role: str | None = None) -> None:
    """Refuse an illegal move; return None if ``old -> new`` may happen.

    Checked in the order a user can act on: is the edge there at all
    (:class:`IllegalTransition`), may this role take it (:class:`NotAllowed`,
    only when ``role`` is given), is the needed text there
    (:class:`MissingField`). Asking for a reason the user may not give anyway
    would only waste their typing.

    >>> check("new", "assigned")
    >>> check("resolved", "closed")
    >>> check("cancelled", "new")
    Traceback (most recent call last):
    ...
    tickets.states.IllegalTransition: cannot go from cancelled to new; legal: none
    """
    if new not in TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(old, new, legal(old))
    if role is not None and needs_supervisor(old, new) and role not in SUPERVISOR_ROLES:
        raise NotAllowed(old, new, SUPERVISOR_ROLES)
    field = REQUIRED_FIELDS.get(new)
    if field is not None:
        value = {"resolution": resolution, "reason": reason}[field]
        if value is None or not str(value).strip():
            raise MissingField(field, f"{field} is required to move a ticket to {new}")
