"""Ticket rules: creation, the lifecycle, field edits under optimistic locking,
history and call links.

Keyword-only functions on an injected session. Writers add and flush but
never commit: the caller commits, together with its audit row, and the
hooks in :mod:`tickets.hooks` run inside that same transaction.

Concurrency: every write to a ticket's columns bumps ``version``. A writer
first claims the row with ``UPDATE tickets SET version = v + 1 WHERE id = ?
AND version = v`` and only then changes fields; if the claim matches no row
someone else got there first, and the caller gets :class:`StaleVersion`
carrying the current ticket instead of silently overwriting it. The claim is
the first write of the transaction, so on SQLite it takes the write lock
before anything is changed, and on PostgreSQL it locks the row.

History: a ``created`` row, one ``field`` row per changed field (old/new as
text), one ``transition`` row per move (note = resolution or reason), one
``comment`` row per comment, one ``link`` row per newly linked call; each
with the actor and the time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field as dc_field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from catalog import service as catalog
from ctidesk.db import claim_version, equal_to, utcnow
from customers.models import Customer
from tickets import hooks, states
from tickets.models import (OPEN_STATES, OPEN_STATES_SQL, PRIORITIES, STATES, TICKET_TYPES, ServiceSite, Technician,
                            Ticket, TicketCall, TicketHistory)
from tickets.schemas import message

# Fields an agent may change with update() (PATCH).
EDITABLE = ("priority", "description", "product_model", "product_serial", "fault_type",
            "fault_phenomenon", "fault_cause", "fault_measure", "address", "region",
            "appointment_start", "appointment_end", "assignee", "site_id", "technician_id",
            "parts_used", "fee", "fault_class_code", "fault_phenomenon_code")
# Fields only internal writers (SLA, dispatch) change, with update(system=True).
SYSTEM_FIELDS = ("sla_level", "due_response_at", "due_resolve_at", "responded_at", "sla_warned",
                 "sla_breached", "escalated")
# Fields that belong to the lifecycle: they change with a transition, never by hand.
_VIA_TRANSITION = ("state", "resolution", "cancel_reason", "resolved_at")
_TEXT_FIELDS = ("description", "product_model", "product_serial", "fault_type", "fault_phenomenon",
                "fault_cause", "fault_measure", "address", "region", "sla_level")
_DATETIME_FIELDS = ("appointment_start", "appointment_end", "due_response_at", "due_resolve_at",
                    "responded_at")
_BOOL_FIELDS = ("sla_warned", "sla_breached", "escalated")
# Codes of the fault taxonomy (catalog): checked against it by _check_fault.
_FAULT_CODES = ("fault_class_code", "fault_phenomenon_code")
_FEE_MAX = Decimal("9999999999.99")  # Numeric(12, 2)
_CALL_ID_MAX = 64
_CLAIM_TRIES = 3


@dataclass(frozen=True)
class FieldError:
    """One rejected input: the field (English name), a message code and its parameters."""

    field: str
    code: str
    params: dict = dc_field(default_factory=dict)

    def message(self, lang: str = "en") -> str:
        return message(self.code, lang, field=self.field, **self.params)


class InvalidInput(ValueError):
    """One or more fields were rejected; ``errors`` lists them all, in input order."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message() for e in errors))


class TicketNotFound(LookupError):
    def __init__(self, ticket_id: int) -> None:
        self.ticket_id = ticket_id
        super().__init__(f"ticket {ticket_id} not found")


class StaleVersion(Exception):
    """The ticket changed since the version the caller read; ``current`` is how it is now."""

    def __init__(self, current: Ticket) -> None:
        self.current = current
        super().__init__(f"ticket {current.id} has changed (now version {current.version})")


# --- reading ---------------------------------------------------------------

async def get(*, db: AsyncSession, ticket_id: int) -> Ticket | None:
    """The ticket as stored now (refreshes a copy already in the session)."""
    stmt = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    return (await db.execute(stmt)).scalar_one_or_none()


async def _require(db: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await get(db=db, ticket_id=ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


def _states_filter(state: str | Iterable[str] | None) -> list[str]:
    if state is None:
        return []
    wanted = [state] if isinstance(state, str) else list(state)
    for s in wanted:
        if s not in STATES:
            raise InvalidInput([FieldError("state", "invalid_choice", {
                "value": s, "choices": ", ".join(STATES)})])
    return wanted


COUNT_CAP = 10_000


async def list_tickets(*, db: AsyncSession, type: str | None = None,
                       state: str | Iterable[str] | None = None, customer_id: int | None = None,
                       assignee: str | None = None, site_id: int | None = None,
                       due_before: datetime | None = None, due_after: datetime | None = None,
                       open_only: bool = False, limit: int = 50,
                       offset: int = 0) -> tuple[list[Ticket], int]:
    """One page of tickets, newest first (due lists: most urgent first), and the
    total matching (capped at ``COUNT_CAP``; more reads as ``COUNT_CAP + 1``).

    ``state`` may be one state or several; ``due_*`` bound ``due_resolve_at``
    (before is exclusive, after inclusive); ``open_only`` keeps the states
    still being worked. Every filter is paired with state in an index of the
    model, so the common desk queries (my open tickets, a site's queue, what
    is due) stay index scans.
    """
    errors = []
    if type is not None and type not in TICKET_TYPES:
        errors.append(FieldError("type", "invalid_choice",
                                 {"value": type, "choices": ", ".join(TICKET_TYPES)}))
    for name, value in (("due_before", due_before), ("due_after", due_after)):
        if value is not None and value.tzinfo is None:
            errors.append(FieldError(name, "naive_datetime"))
    if errors:
        raise InvalidInput(errors)
    conditions = []
    if type is not None:
        conditions.append(Ticket.type == type)
    wanted = _states_filter(state)
    if open_only:
        wanted = [s for s in (wanted or OPEN_STATES) if s in OPEN_STATES] or ["-none-"]
    if wanted and set(wanted) == set(OPEN_STATES):
        conditions.append(text(OPEN_STATES_SQL))  # literally the partial index's WHERE: ix_tickets_open_due
    elif wanted:
        conditions.append(Ticket.state.in_(wanted))
    conditions += equal_to(Ticket, customer_id=customer_id, assignee=assignee, site_id=site_id)
    if due_before is not None:
        conditions.append(Ticket.due_resolve_at < due_before)
    if due_after is not None:
        conditions.append(Ticket.due_resolve_at >= due_after)
    # An exact count over a million open tickets costs more than the page: count
    # up to COUNT_CAP and let the caller say "10,000+".
    capped = select(Ticket.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = (await db.execute(select(func.count()).select_from(capped))).scalar_one()
    if due_before is not None or due_after is not None:
        order = (Ticket.due_resolve_at.asc(), Ticket.id.asc())  # a due list: most urgent first
    else:
        order = (Ticket.created_at.desc(), Ticket.id.desc())
    stmt = select(Ticket).where(*conditions).order_by(*order).limit(limit).offset(offset)
    return list((await db.execute(stmt)).scalars()), total


async def history(*, db: AsyncSession, ticket_id: int) -> list[TicketHistory]:
    """The ticket's history, oldest first (id order is write order)."""
    stmt = select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.id)
    return list((await db.execute(stmt)).scalars())


async def calls(*, db: AsyncSession, ticket_id: int) -> list[str]:
    """Call ids linked to the ticket, in the order they were linked."""
    stmt = select(TicketCall.call_id).where(TicketCall.ticket_id == ticket_id).order_by(TicketCall.id)
    return list((await db.execute(stmt)).scalars())


async def tickets_for_call(*, db: AsyncSession, call_id: str) -> list[Ticket]:
    """Tickets a call opened or was attached to, newest first."""
    stmt = (select(Ticket).join(TicketCall, TicketCall.ticket_id == Ticket.id)
            .where(TicketCall.call_id == call_id).order_by(Ticket.id.desc()))
    return list((await db.execute(stmt)).scalars())


# --- validation ------------------------------------------------------------

def _column_length(name: str) -> int | None:
    return getattr(Ticket.__table__.c[name].type, "length", None)


async def _exists(db: AsyncSession, column, value) -> bool:
    return (await db.execute(select(column).where(column == value).limit(1))).first() is not None


async def _clean(db: AsyncSession, name: str, value: Any, errors: list[FieldError]) -> Any:
    """``value`` as stored in column ``name``, or None after adding to ``errors``.

    Blank optional text becomes None (cleared) rather than an empty string.
    """
    def bad(code: str, **params) -> None:
        errors.append(FieldError(name, code, params))

    if name in _TEXT_FIELDS:
        if value is not None and not isinstance(value, str):
            return bad("not_text")
        value = (value or "").strip()
        if name == "description" and not value:
            return bad("required")
        limit = _column_length(name)
        if limit and len(value) > limit:
            return bad("too_long", max=limit)
        return value if (value or name == "description") else None
    if name in _FAULT_CODES:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return bad("not_text")
        value = catalog.normalize_code(value)
        if len(value) > _column_length(name):
            return bad("too_long", max=_column_length(name))
        return value
    if name == "priority":
        if value not in PRIORITIES:
            return bad("invalid_choice", value=value, choices=", ".join(PRIORITIES))
        return value
    if name in _DATETIME_FIELDS:
        if value is None:
            return None
        if not isinstance(value, datetime):
            return bad("not_datetime")
        if value.tzinfo is None:
            return bad("naive_datetime")
        return value.astimezone(timezone.utc)  # what a re-read gives; keeps diffs honest
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            return bad("not_bool")
        return value
    if name == "assignee":
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not await _exists(db, User.username, value.strip()):
            return bad("unknown_user", value=value)
        return value.strip()
    if name in ("site_id", "technician_id"):
        if value is None:
            return None
        column = ServiceSite.id if name == "site_id" else Technician.id
        if isinstance(value, bool) or not isinstance(value, int) or not await _exists(db, column, value):
            return bad("not_found", value=value)
        return value
    if name == "parts_used":
        if value is None:
            return None
        # One shape for every writer (PATCH here, site completion in dispatch.py):
        # [{"part": name, "qty": n}]; a bare string means one of that part.
        if not isinstance(value, (list, tuple)):
            return bad("not_list")
        parts = []
        for p in value:
            if isinstance(p, str):
                p = {"part": p, "qty": 1}
            if (not isinstance(p, dict) or not isinstance(p.get("part"), str) or not p["part"].strip()
                    or isinstance(p.get("qty", 1), bool) or not isinstance(p.get("qty", 1), int)
                    or p.get("qty", 1) < 1):
                return bad("not_list")
            parts.append({"part": p["part"].strip(), "qty": p.get("qty", 1)})
        return json.dumps(parts, ensure_ascii=False) if parts else None
    if name == "fee":
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            fee = Decimal(str(value)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            return bad("not_number")
        if not fee.is_finite() or fee < 0 or fee > _FEE_MAX:
            return bad("out_of_range", min=0, max=_FEE_MAX)
        return fee
    return bad("unknown_field")


async def _check_fault(db: AsyncSession, values: dict, errors: list[FieldError],
                       ticket: Ticket | None = None) -> None:
    """The fault codes of a ticket against the taxonomy (issue 14), when either is set here.

    A code must exist and be active, except a code the ticket already has (a
    class deactivated later must not stop an edit of the address); a
    phenomenon must belong to the ticket's class, so a class comes with it.
    Neither is required, for repair tickets either: voicemail and the IVR open
    repair tickets before anybody has heard the fault; the report counts them
    as unclassified.
    """
    if not any(name in values for name in _FAULT_CODES) or any(e.field in _FAULT_CODES for e in errors):
        return
    current = {name: getattr(ticket, name) if ticket is not None else None for name in _FAULT_CODES}
    class_code = values.get("fault_class_code", current["fault_class_code"])
    phen_code = values.get("fault_phenomenon_code", current["fault_phenomenon_code"])
    found_class, found_phen = await catalog.fault_rows(db=db, class_code=class_code, phenomenon_code=phen_code)
    for name, code, row in (("fault_class_code", class_code, found_class),
                            ("fault_phenomenon_code", phen_code, found_phen)):
        if code is None:
            continue
        if row is None:
            errors.append(FieldError(name, "unknown_code", {"value": code}))
        elif not row.active and code != current[name]:
            errors.append(FieldError(name, "inactive_code", {"value": code}))
    if phen_code is not None and class_code is None:
        errors.append(FieldError("fault_class_code", "class_needed"))
    elif found_phen is not None and found_class is not None and found_phen.class_code != found_class.code:
        errors.append(FieldError("fault_phenomenon_code", "wrong_class", {"value": phen_code, "parent": class_code}))


def _check_appointment(start: datetime | None, end: datetime | None,
                       errors: list[FieldError]) -> None:
    if start is not None and end is not None and end < start:
        errors.append(FieldError("appointment_end", "appointment_order"))


def _clean_call_id(call_id: Any, errors: list[FieldError]) -> str | None:
    if call_id is None:
        return None
    if not isinstance(call_id, str) or not call_id.strip():
        errors.append(FieldError("call_id", "required"))
        return None
    if len(call_id.strip()) > _CALL_ID_MAX:
        errors.append(FieldError("call_id", "too_long", {"max": _CALL_ID_MAX}))
        return None
    return call_id.strip()


def _text(value: Any) -> str | None:
    """How a value reads in a history row."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def _history(db: AsyncSession, ticket: Ticket, actor: str, kind: str, *, field: str | None = None,
             old: Any = None, new: Any = None, note: str | None = None) -> TicketHistory:
    row = TicketHistory(ticket_id=ticket.id, actor=(actor or "")[:64], kind=kind, field=field,
                        old=_text(old), new=_text(new), note=note, at=utcnow())
    db.add(row)
    return row


async def _claim(db: AsyncSession, ticket_id: int, version: int) -> bool:
    """Bump the version if it still is ``version``: the optimistic lock (see module doc)."""
    return await claim_version(db, Ticket, ticket_id, version)


async def _claimed(db: AsyncSession, ticket: Ticket, version: int | None) -> bool:
    """:func:`_claim` of ``ticket`` as read; lost to another writer, a caller that
    named the ``version`` it saw gets :class:`StaleVersion`, another tries again."""
    if await _claim(db, ticket.id, ticket.version):
        return True
    if version is not None:
        raise StaleVersion(await _require(db, ticket.id))
    return False


# --- writing ---------------------------------------------------------------

async def create(*, db: AsyncSession, actor: str, type: str, customer_id: int, description: str,
                 call_id: str | None = None, **fields) -> Ticket:
    """Open a ticket in state ``new`` (flushed, not committed).

    ``fields`` are any of :data:`EDITABLE` (``priority`` defaults to normal).
    ``call_id`` is the call that opened it: stored on the ticket and linked
    in ``ticket_calls``. It is not checked against the calls table, because
    the call row may still be on its way through the call writer while the
    agent types. Raises :class:`InvalidInput` naming every bad field (an
    unknown customer included). Runs ``on_created`` hooks before returning.
    """
    errors: list[FieldError] = []
    if type not in TICKET_TYPES:
        errors.append(FieldError("type", "required" if type in (None, "") else "invalid_choice",
                                 {"value": type, "choices": ", ".join(TICKET_TYPES)}))
    if customer_id is None:
        errors.append(FieldError("customer_id", "required"))
    elif (isinstance(customer_id, bool) or not isinstance(customer_id, int)
          or not await _exists(db, Customer.id, customer_id)):
        errors.append(FieldError("customer_id", "not_found", {"value": customer_id}))
    if fields.get("priority") is None:
        fields["priority"] = "normal"
    values = {"description": await _clean(db, "description", description, errors)}
    for name, value in fields.items():
        if name not in EDITABLE:
            errors.append(FieldError(name, "unknown_field"))
            continue
        values[name] = await _clean(db, name, value, errors)
    _check_appointment(values.get("appointment_start"), values.get("appointment_end"), errors)
    await _check_fault(db, values, errors)
    call_id = _clean_call_id(call_id, errors)
    if errors:
        raise InvalidInput(errors)

    ticket = Ticket(type=type, customer_id=customer_id, state="new", created_by=actor,
                    call_id=call_id, version=1, **values)
    db.add(ticket)
    await db.flush()
    _history(db, ticket, actor, "created", new=ticket.state, note=ticket.type)
    if call_id:
        db.add(TicketCall(ticket_id=ticket.id, call_id=call_id, linked_by=actor, at=utcnow()))
        _history(db, ticket, actor, "link", field="call_id", new=call_id)
    await db.flush()
    await hooks.run("on_created", db=db, ticket=ticket, actor=actor, call_id=call_id)
    await db.flush()
    return ticket


async def update(*, db: AsyncSession, actor: str, ticket_id: int, version: int | None,
                 changes: dict, system: bool = False) -> Ticket:
    """Change fields of a ticket read at ``version`` (flushed, not committed).

    Raises :class:`StaleVersion` if the ticket is no longer at ``version``:
    the caller shows the current state and lets the user redo the edit.
    ``version=None`` is for internal writers that do not hold a read copy;
    they still bump the version, so agents' stale copies are refused.
    ``state`` and the outcome fields change only through :func:`transition`;
    ``type`` and ``customer_id`` never change (open a new ticket instead);
    ``system=True`` also allows :data:`SYSTEM_FIELDS`. Writes one history row
    per field that really changed and runs ``on_updated`` hooks with them; a
    change that changes nothing writes nothing and keeps the version.
    """
    allowed = EDITABLE + SYSTEM_FIELDS if system else EDITABLE
    for _ in range(_CLAIM_TRIES):
        ticket = await _require(db, ticket_id)
        if version is not None and ticket.version != version:
            raise StaleVersion(ticket)
        errors: list[FieldError] = []
        cleaned: dict[str, Any] = {}
        for name, value in changes.items():
            if name in _VIA_TRANSITION:
                errors.append(FieldError(name, "use_transition"))
            elif name not in allowed:
                errors.append(FieldError(name, "not_editable" if name in Ticket.__table__.c
                                         else "unknown_field"))
            else:
                cleaned[name] = await _clean(db, name, value, errors)
        _check_appointment(cleaned.get("appointment_start", ticket.appointment_start),
                           cleaned.get("appointment_end", ticket.appointment_end), errors)
        await _check_fault(db, cleaned, errors, ticket)
        if errors:
            raise InvalidInput(errors)
        diff = {name: (getattr(ticket, name), new) for name, new in cleaned.items()
                if getattr(ticket, name) != new}
        if not diff:
            return ticket
        if await _claimed(db, ticket, version):
            break
    else:
        raise StaleVersion(await _require(db, ticket_id))

    ticket.version += 1
    for name, (old, new) in diff.items():
        setattr(ticket, name, new)
        _history(db, ticket, actor, "field", field=name, old=old, new=new)
    await db.flush()
    await hooks.run("on_updated", db=db, ticket=ticket, actor=actor, changes=diff)
    await db.flush()
    return ticket


async def transition(*, db: AsyncSession, actor: str, ticket_id: int, to: str,
                     resolution: str | None = None, reason: str | None = None,
                     version: int | None = None, role: str | None = None) -> Ticket:
    """Move a ticket to state ``to`` (flushed, not committed).

    Checks :func:`tickets.states.check` (IllegalTransition, NotAllowed when
    ``role`` is given, MissingField) against the state as stored. With
    ``version`` the move is refused with :class:`StaleVersion` if the ticket
    changed since; without it, the move is checked again against whatever
    state a concurrent writer left. Side effects: the first move out of
    ``new`` sets ``responded_at``; ``resolved`` sets ``resolved_at`` and
    ``resolution``; ``cancelled`` sets ``cancel_reason``; ``reopened`` clears
    ``resolved_at`` (the earlier resolution stays, and is in the history).
    Runs ``on_transition`` hooks with ``old`` and ``new``.
    """
    if to not in STATES:
        raise InvalidInput([FieldError("to", "invalid_choice",
                                       {"value": to, "choices": ", ".join(STATES)})])
    for _ in range(_CLAIM_TRIES):
        ticket = await _require(db, ticket_id)
        if version is not None and ticket.version != version:
            raise StaleVersion(ticket)
        old = ticket.state
        states.check(old, to, resolution=resolution, reason=reason, role=role)
        if await _claimed(db, ticket, version):
            break
    else:
        raise StaleVersion(await _require(db, ticket_id))

    now = utcnow()
    ticket.version += 1
    ticket.state = to
    note = None
    if old == "new" and ticket.responded_at is None:
        ticket.responded_at = now
    if to == "resolved":
        ticket.resolution = note = resolution.strip()
        ticket.resolved_at = now
    elif to == "cancelled":
        ticket.cancel_reason = note = reason.strip()
    elif to == "reopened":
        ticket.resolved_at = None
    if note is None and reason and reason.strip():  # e.g. why a site rejected the job
        note = reason.strip()
    _history(db, ticket, actor, "transition", field="state", old=old, new=to, note=note)
    await db.flush()
    await hooks.run("on_transition", db=db, ticket=ticket, actor=actor, old=old, new=to,
                    resolution=resolution, reason=reason)
    await db.flush()
    return ticket


async def comment(*, db: AsyncSession, actor: str, ticket_id: int, text: str) -> TicketHistory:
    """Add a comment to the ticket's history (does not change the version)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput([FieldError("text", "required")])
    ticket = await _require(db, ticket_id)
    row = _history(db, ticket, actor, "comment", note=text.strip())
    await db.flush()
    return row


async def attach_article(*, db: AsyncSession, actor: str, ticket_id: int, article_id: int,
                         title: str) -> TicketHistory | None:
    """Record a knowledge-base article in the ticket's history (``kind = "article"``,
    ``new`` = the article id, ``note`` = its title then); None if it is there already.
    Does not change the version. Raises :class:`TicketNotFound`."""
    ticket = await _require(db, ticket_id)
    seen = await db.execute(select(TicketHistory.id).where(
        TicketHistory.ticket_id == ticket.id, TicketHistory.kind == "article",
        TicketHistory.new == str(article_id)).limit(1))
    if seen.first() is not None:
        return None
    row = _history(db, ticket, actor, "article", field="article_id", new=str(article_id), note=title)
    await db.flush()
    return row


async def link_call(*, db: AsyncSession, actor: str, ticket_id: int, call_id: str) -> bool:
    """Attach a call to the ticket; True if newly linked, False if it already was.

    Idempotent even when two requests race (the pair is unique and the
    insert ignores a conflict). Does not change the version: a call arriving
    must not make an agent's open edit stale.
    """
    errors: list[FieldError] = []
    cleaned = _clean_call_id(call_id, errors)
    if call_id is None:
        errors.append(FieldError("call_id", "required"))
    if errors:
        raise InvalidInput(errors)
    ticket = await _require(db, ticket_id)
    values = {"ticket_id": ticket.id, "call_id": cleaned, "linked_by": actor, "at": utcnow()}
    dialect = db.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        stmt = dialect_insert(TicketCall.__table__).values(**values).on_conflict_do_nothing()
        created = (await db.execute(stmt)).rowcount == 1
    else:
        created = not await _exists_link(db, ticket.id, cleaned)
        if created:
            await db.execute(insert(TicketCall.__table__).values(**values))
    if created:
        _history(db, ticket, actor, "link", field="call_id", new=cleaned)
        await db.flush()
    return created


async def _exists_link(db: AsyncSession, ticket_id: int, call_id: str) -> bool:
    stmt = select(TicketCall.id).where(TicketCall.ticket_id == ticket_id, TicketCall.call_id == call_id)
    return (await db.execute(stmt)).first() is not None


# --- views -----------------------------------------------------------------

def ticket_dict(ticket: Ticket) -> dict:
    """Every column of the ticket, JSON-ready: ISO datetimes, ``fee`` a float,
    ``parts_used`` a list."""
    out: dict[str, Any] = {}
    for column in Ticket.__table__.columns:
        value = getattr(ticket, column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        out[column.key] = value
    try:
        out["parts_used"] = json.loads(ticket.parts_used) if ticket.parts_used else []
    except ValueError:  # written by hand; show it rather than fail
        out["parts_used"] = [ticket.parts_used]
    return out


def history_dict(row: TicketHistory) -> dict:
    return {"id": row.id, "at": row.at.isoformat() if row.at else None, "actor": row.actor,
            "kind": row.kind, "field": row.field, "old": row.old, "new": row.new, "note": row.note}
