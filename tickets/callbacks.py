"""Customer revisits ("callbacks"): made when a ticket is resolved, assigned,
scheduled, and worked from the desk until the customer is reached or given up.

Life of a callback::

    pending --result reached | refused--> done        (satisfaction 1..5 when reached)
    pending --result wrong_number-------> failed
    pending --result no_answer | busy---> pending     (attempts + 1, due again later)
                                      \\-> failed      (after max_attempts attempts)
    pending --cancel (supervisor)-------> cancelled

The revisit delay, the retry delay and ``max_attempts`` come from the
``[callbacks]`` table of ``config/sla.toml`` and count business time. A
pending callback whose ``due_at`` has passed is overdue; supervisors watch
those (``overdue=true``).

Who may do what: supervisors and admins anything; other roles work (assign
to themselves, reschedule, record results of) callbacks that are theirs or
unassigned, and see only their own overdue ones.

Every change to a callback linked to a ticket adds a ``ticket_history`` row
of kind ``callback``. Functions flush, never commit.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from ctidesk.db import equal_to, utcnow
from customers.models import Customer
from tickets.errors import FieldRefused
from tickets.models import Callback, Ticket, TicketHistory
from tickets.sla import SlaPolicy, default_policy

STATES = ("pending", "done", "failed", "cancelled")
REASONS = ("revisit", "voicemail", "requested", "survey")  # survey: a low post-call score (issue 14)
OUTCOMES = ("reached", "no_answer", "busy", "wrong_number", "refused")
RETRY_OUTCOMES = ("no_answer", "busy")
SUPERVISOR_ROLES = ("supervisor", "admin")
NOTES_MAX = 4000


class CallbackError(Exception):
    """Base of this module's refusals."""


class NotFound(CallbackError, LookupError):
    def __init__(self, callback_id: int) -> None:
        self.callback_id = callback_id
        super().__init__(f"callback {callback_id} not found")


class InvalidField(CallbackError, FieldRefused):
    """Input the caller can fix: ``field`` names it (the 422's loc)."""


class Conflict(CallbackError):
    """The callback is no longer pending."""


class Forbidden(CallbackError, PermissionError):
    """The user's role may not do this to this callback."""


def is_supervisor(role: str) -> bool:
    return role in SUPERVISOR_ROLES


def may_work(callback: Callback, username: str, role: str) -> bool:
    """Supervisors work any callback; others their own or an unassigned one."""
    return is_supervisor(role) or callback.assignee in (None, username)


def _history(db: AsyncSession, callback: Callback, actor: str, note: str,
             field: str | None = None, old: Any = None, new: Any = None) -> None:
    if callback.ticket_id is None:
        return
    db.add(TicketHistory(ticket_id=callback.ticket_id, at=utcnow(), actor=(actor or "")[:64],
                         kind="callback", field=field, old=None if old is None else str(old),
                         new=None if new is None else str(new), note=note))


# --- the hook ------------------------------------------------------------------

async def on_resolved(*, db: AsyncSession, ticket: Ticket, actor: str, old: str, new: str,
                      sla_policy: SlaPolicy | None = None, **kw) -> Callback | None:
    """``on_transition`` hook: a resolved ticket gets a pending revisit.

    Due ``[callbacks] revisit_after`` of business time after the resolution
    (one business day by default), unassigned. At most one pending revisit
    per ticket: resolving again while one is pending adds nothing. Ticket
    types not in ``revisit_types`` get none. Returns the new callback or None.
    """
    if new != "resolved":
        return None
    policy = sla_policy or default_policy()
    if policy.revisit_types is not None and ticket.type not in policy.revisit_types:
        return None
    pending = (await db.execute(select(Callback.id).where(
        Callback.ticket_id == ticket.id, Callback.reason == "revisit",
        Callback.state == "pending").limit(1))).first()
    if pending is not None:
        return None
    callback = Callback(ticket_id=ticket.id, customer_id=ticket.customer_id, reason="revisit",
                        state="pending", due_at=policy.revisit_due(ticket.resolved_at or utcnow()),
                        attempts=0, created_at=utcnow())
    db.add(callback)
    await db.flush()
    _history(db, callback, actor, f"revisit callback {callback.id} due {callback.due_at.isoformat()}",
             field="callback", new=callback.id)
    return callback



# --- reading -------------------------------------------------------------------

async def get(*, db: AsyncSession, callback_id: int) -> Callback:
    callback = (await db.execute(select(Callback).where(Callback.id == callback_id)
                                 .execution_options(populate_existing=True))).scalar_one_or_none()
    if callback is None:
        raise NotFound(callback_id)
    return callback


async def list_callbacks(*, db: AsyncSession, state: str | None = None, assignee: str | None = None,
                         overdue: bool = False, customer_id: int | None = None,
                         ticket_id: int | None = None, now: datetime | None = None,
                         limit: int = 50, offset: int = 0) -> tuple[list[tuple[Callback, str]], int]:
    """One page of (callback, customer name), soonest due first (no due date last),
    and the total. ``overdue`` means pending and due before ``now``."""
    conditions = []
    if overdue:
        conditions += [Callback.state == "pending", Callback.due_at < (now or utcnow())]
    conditions += equal_to(Callback, state=state, assignee=assignee, customer_id=customer_id,
                           ticket_id=ticket_id)
    total = (await db.execute(select(func.count()).select_from(Callback).where(*conditions))).scalar_one()
    stmt = (select(Callback, Customer.name).join(Customer, Customer.id == Callback.customer_id)
            .where(*conditions)
            .order_by(Callback.due_at.is_(None), Callback.due_at, Callback.id)
            .limit(limit).offset(offset))
    return [(cb, name) for cb, name in (await db.execute(stmt)).all()], total


async def customer_name(db: AsyncSession, customer_id: int) -> str | None:
    return (await db.execute(select(Customer.name).where(Customer.id == customer_id))).scalar_one_or_none()


async def dial_number(*, db: AsyncSession, callback_id: int) -> str | None:
    """The first dialable phone (as written) of the callback's customer; None
    when the callback does not exist or its customer has no dialable phone."""
    from customers.models import CustomerPhone
    from customers.phone import DIALABLE_KINDS

    rows = await db.execute(select(CustomerPhone.raw, CustomerPhone.kind)
                            .join(Callback, Callback.customer_id == CustomerPhone.customer_id)
                            .where(Callback.id == callback_id).order_by(CustomerPhone.id))
    return next((raw for raw, kind in rows if kind in DIALABLE_KINDS), None)


def card(callback: Callback, customer_name: str | None = None, now: datetime | None = None) -> dict:
    """The JSON-ready view of a callback (``overdue`` computed at ``now``)."""
    now = now or utcnow()
    iso = lambda t: t.astimezone(timezone.utc).isoformat() if t else None  # noqa: E731 (as stored)
    return {
        "id": callback.id, "ticket_id": callback.ticket_id, "customer_id": callback.customer_id,
        "customer_name": customer_name, "reason": callback.reason, "state": callback.state,
        "assignee": callback.assignee, "due_at": iso(callback.due_at),
        "attempts": callback.attempts, "outcome": callback.outcome,
        "satisfaction": callback.satisfaction, "notes": callback.notes, "call_id": callback.call_id,
        "created_at": iso(callback.created_at), "done_at": iso(callback.done_at),
        "overdue": bool(callback.state == "pending" and callback.due_at and callback.due_at < now),
    }


# --- writing -------------------------------------------------------------------

async def _assignee(db: AsyncSession, value: str | None, username: str, role: str) -> str | None:
    """Check a new assignee: an active user; others than oneself only for supervisors."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    value = username if value.strip() == "me" else value.strip()
    if value != username and not is_supervisor(role):
        raise Forbidden("only a supervisor or admin may assign a callback to someone else")
    active = (await db.execute(select(User.active).where(User.username == value))).scalar_one_or_none()
    if not active:
        raise InvalidField("assignee", f"there is no active user {value}", value)
    return value


def _aware(field: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidField(field, f"{field} must include a time zone", value.isoformat())
    return value


def _notes(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > NOTES_MAX:
        raise InvalidField("notes", f"notes must be text of at most {NOTES_MAX} characters", value)
    return value.strip() or None


async def create(*, db: AsyncSession, actor: str, role: str, customer_id: int,
                 ticket_id: int | None = None, due_at: datetime | None = None,
                 assignee: str | None = None, reason: str = "requested",
                 notes: str | None = None) -> Callback:
    """A callback made by hand (due now unless ``due_at``)."""
    if reason not in REASONS:
        raise InvalidField("reason", f"reason must be one of: {', '.join(REASONS)}", reason)
    if await customer_name(db, customer_id) is None:
        raise InvalidField("customer_id", f"customer {customer_id} does not exist", customer_id)
    if ticket_id is not None:
        owner = (await db.execute(select(Ticket.customer_id).where(Ticket.id == ticket_id))
                 ).scalar_one_or_none()
        if owner is None:
            raise InvalidField("ticket_id", f"ticket {ticket_id} does not exist", ticket_id)
        if owner != customer_id:
            raise InvalidField("ticket_id", f"ticket {ticket_id} belongs to another customer",
                               ticket_id)
    now = utcnow()
    callback = Callback(customer_id=customer_id, ticket_id=ticket_id, reason=reason, state="pending",
                        due_at=_aware("due_at", due_at) or now, attempts=0, notes=_notes(notes),
                        assignee=await _assignee(db, assignee, actor, role), created_at=now)
    db.add(callback)
    await db.flush()
    _history(db, callback, actor, f"{reason} callback {callback.id} due {callback.due_at.isoformat()}",
             field="callback", new=callback.id)
    await db.flush()
    return callback


async def update(*, db: AsyncSession, actor: str, role: str, callback_id: int,
                 changes: dict) -> tuple[Callback, dict]:
    """Assign, reschedule, annotate or cancel a pending callback.

    ``changes`` may hold ``assignee`` (a username, "me", or None to
    unassign), ``due_at``, ``notes`` and ``state`` ("cancelled" only, by a
    supervisor). Returns the callback and ``{field: (old, new)}`` of what
    really changed.
    """
    callback = await get(db=db, callback_id=callback_id)
    if callback.state != "pending":
        raise Conflict(f"callback {callback_id} is {callback.state}; only a pending one can change")
    if not may_work(callback, actor, role):
        raise Forbidden(f"callback {callback_id} is assigned to someone else")
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "assignee":
            cleaned[name] = await _assignee(db, value, actor, role)
        elif name == "due_at":
            if value is None:
                raise InvalidField("due_at", "due_at cannot be cleared", value)
            cleaned[name] = _aware("due_at", value)
        elif name == "notes":
            cleaned[name] = _notes(value)
        elif name == "state":
            if value != "cancelled":
                raise InvalidField("state", "state can only be set to cancelled here; "
                                   "record a result instead", value)
            if not is_supervisor(role):
                raise Forbidden("only a supervisor or admin may cancel a callback")
            cleaned[name] = value
        else:
            raise InvalidField(name, f"{name} cannot be changed", value)
    diff = {name: (getattr(callback, name), new) for name, new in cleaned.items()
            if getattr(callback, name) != new}
    for name, (old, new) in diff.items():
        setattr(callback, name, new)
        if name != "notes":
            _history(db, callback, actor, f"callback {callback.id} {name} changed", field=name,
                     old=old.isoformat() if isinstance(old, datetime) else old,
                     new=new.isoformat() if isinstance(new, datetime) else new)
    if diff.get("state"):
        callback.done_at = utcnow()
    await db.flush()
    return callback, diff


async def record_result(*, db: AsyncSession, actor: str, role: str, callback_id: int, outcome: str,
                        satisfaction: int | None = None, notes: str | None = None,
                        call_id: str | None = None, now: datetime | None = None,
                        sla_policy: SlaPolicy | None = None) -> Callback:
    """Record one attempt (see the module doc for where each outcome leads).

    ``satisfaction`` (1..5) is required when the customer was reached and
    refused otherwise. An unassigned callback becomes the worker's.
    """
    if outcome not in OUTCOMES:
        raise InvalidField("outcome", f"outcome must be one of: {', '.join(OUTCOMES)}", outcome)
    if outcome == "reached":
        if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) \
                or not 1 <= satisfaction <= 5:
            raise InvalidField("satisfaction", "satisfaction (1 to 5) is required when the "
                               "customer was reached", satisfaction)
    elif satisfaction is not None:
        raise InvalidField("satisfaction", "satisfaction is only recorded when the customer "
                           "was reached", satisfaction)
    notes = _notes(notes)
    policy = sla_policy or default_policy()
    now = now or utcnow()
    callback = await get(db=db, callback_id=callback_id)
    if callback.state != "pending":
        raise Conflict(f"callback {callback_id} is {callback.state}; only a pending one takes a result")
    if not may_work(callback, actor, role):
        raise Forbidden(f"callback {callback_id} is assigned to someone else")
    callback.attempts = (callback.attempts or 0) + 1
    callback.outcome = outcome
    if notes is not None:
        callback.notes = notes
    if call_id:
        callback.call_id = call_id.strip()[:64]
    if callback.assignee is None:
        callback.assignee = actor
    if outcome == "reached":
        callback.state, callback.satisfaction = "done", satisfaction
    elif outcome == "refused":
        callback.state = "done"
    elif outcome in RETRY_OUTCOMES and callback.attempts < policy.max_attempts:
        callback.due_at = policy.retry_due(now)
    else:  # wrong number, or out of attempts
        callback.state = "failed"
    if callback.state != "pending":
        callback.done_at = now
    summary = f"callback {callback.id} attempt {callback.attempts}: {outcome}"
    if satisfaction is not None:
        summary += f", satisfaction {satisfaction}/5"
    if callback.state == "pending":
        summary += f"; next try {callback.due_at.isoformat()}"
    else:
        summary += f"; {callback.state}"
    _history(db, callback, actor, summary, field="outcome", new=outcome)
    await db.flush()
    return callback
