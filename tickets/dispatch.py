"""Service sites, technicians, and sending a ticket out to them.

A site (an authorised repair shop) and a technician each cover ``regions``
and have ``skills``, both stored comma-separated. A region covers itself and
everything under it with ``/``: ``beijing`` covers ``beijing/haidian``; ``*``
covers any region. A skill covers a ticket whose type, product model or
fault type it names (case-insensitive); ``*`` covers any ticket.

:func:`suggest` ranks the active sites and technicians covering a ticket by
load (their open tickets), then by how specific the region match is.
Dispatching moves the ticket along the lifecycle::

    new | assigned | reopened --dispatch--> dispatched --accept--> in_progress
    dispatched --reject(reason)--> assigned          (site, technician cleared)
    dispatched | in_progress --complete--> resolved  (resolution, parts, fee)

Every move claims the ticket's ``version`` first (``UPDATE ... WHERE version
= v``), writes ``ticket_history`` rows of kind ``dispatch`` (one for the
state, one per other field changed) and runs the ``on_transition`` hooks in
the same transaction. Functions flush, never commit: the caller commits with
its audit row.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ctidesk.db import equal_to, utcnow
from tickets import hooks
from tickets.errors import FieldRefused
from tickets.models import OPEN_STATES, ServiceSite, Technician, Ticket, TicketHistory

DISPATCHABLE_FROM = ("new", "assigned", "reopened")
ACCEPTABLE_FROM = ("dispatched",)
REJECTABLE_FROM = ("dispatched",)
COMPLETABLE_FROM = ("dispatched", "in_progress")
LIST_COLUMN_MAX = 400  # regions / skills columns
ITEM_MAX = 80
_CLAIM_TRIES = 3


class DispatchError(Exception):
    """Base of this module's refusals."""


class NotFound(DispatchError, LookupError):
    def __init__(self, what: str, ident: int) -> None:
        self.what, self.ident = what, ident
        super().__init__(f"{what} {ident} not found")


class InvalidField(DispatchError, FieldRefused):
    """Input the caller can fix: ``field`` names it (the 422's loc)."""


class Conflict(DispatchError):
    """The ticket is not in a state this move starts from, or nothing fits."""

    def __init__(self, message: str, ticket: Ticket | None = None) -> None:
        self.message, self.ticket = message, ticket
        super().__init__(message)


class StaleVersion(Conflict):
    """The ticket changed since the version the caller read; ``ticket`` is how it is now."""


# --- comma-separated lists -----------------------------------------------------

def split_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def join_list(field: str, items: Iterable[str] | str | None) -> str:
    """Check and store a list of regions or skills (order kept, duplicates dropped)."""
    if items is None:
        return ""
    if isinstance(items, str):
        items = items.split(",")
    cleaned: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidField(field, f"{field}[{index}] must be text", item)
        item = " ".join(item.split())
        if not item:
            continue
        if "," in item or len(item) > ITEM_MAX:
            raise InvalidField(field, f"{field}[{index}] must be at most {ITEM_MAX} characters "
                               "without commas", item)
        if item.lower() not in {c.lower() for c in cleaned}:
            cleaned.append(item)
    joined = ",".join(cleaned)
    if len(joined) > LIST_COLUMN_MAX:
        raise InvalidField(field, f"{field} is too long: at most {LIST_COLUMN_MAX} characters "
                           "in all", items)
    return joined


def region_match(covered: Iterable[str], region: str | None) -> str | None:
    """The most specific of ``covered`` that covers ``region``, or None.

    >>> region_match(["beijing", "beijing/haidian", "shanghai"], "Beijing/Haidian/Zhongguancun")
    'beijing/haidian'
    >>> region_match(["*"], None)
    '*'
    """
    wanted = (region or "").strip().lower().strip("/")
    best, best_len = None, -1
    for entry in covered:
        key = entry.strip().lower().strip("/")
        if key == "*":
            length = 0
        elif wanted and (wanted == key or wanted.startswith(key + "/")):
            length = len(key)
        else:
            continue
        if length > best_len:
            best, best_len = ("*" if key == "*" else entry), length
    return best


def skill_match(skills: Iterable[str], ticket: Ticket) -> str | None:
    """The skill that covers the ticket's type, product model or fault type."""
    facets = [f.strip().lower() for f in (ticket.type, ticket.product_model, ticket.fault_type) if f]
    wildcard = None
    for skill in skills:
        key = skill.strip().lower()
        if key in facets:
            return skill
        if key == "*":
            wildcard = "*"
    return wildcard


# --- sites ---------------------------------------------------------------------

def _list_filter(column, region: str | None):
    # A cheap prefilter; region_match decides.
    return column.icontains(region.split("/")[0].strip(), autoescape=True) | column.contains("*")


async def _rows(db: AsyncSession, model, *conditions, active: bool | None, region: str | None) -> list:
    """Sites or technicians (``model``) by name: the ``active`` ones (or all), those
    meeting ``conditions``, those covering ``region`` (or all)."""
    stmt = select(model).order_by(model.name, model.id)
    if active is not None:
        stmt = stmt.where(model.active.is_(active))
    stmt = stmt.where(*conditions)
    if region:
        stmt = stmt.where(_list_filter(model.regions, region))
    rows = list((await db.execute(stmt)).scalars())
    if region:
        rows = [r for r in rows if region_match(split_list(r.regions), region)]
    return rows


async def _row(db: AsyncSession, model, what: str, ident: int):
    row = await db.get(model, ident)
    if row is None:
        raise NotFound(what, ident)
    return row


async def _added(db: AsyncSession, row):
    db.add(row)
    await db.flush()
    return row


async def _changed(db: AsyncSession, row, changes: dict, allowed: tuple[str, ...]):
    for name, value in (await _clean(db, changes, allowed)).items():
        setattr(row, name, value)
    await db.flush()
    return row


async def list_sites(*, db: AsyncSession, active: bool | None = None, region: str | None = None
                     ) -> list[ServiceSite]:
    """Sites by name; ``region`` keeps those covering it."""
    return await _rows(db, ServiceSite, active=active, region=region)


async def get_site(*, db: AsyncSession, site_id: int) -> ServiceSite:
    return await _row(db, ServiceSite, "service site", site_id)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("name", "name is required", value)
    value = " ".join(value.split())
    if len(value) > 120:
        raise InvalidField("name", "name is too long: at most 120 characters", value)
    return value


def _phone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > 64:
        raise InvalidField("phone", "phone must be text of at most 64 characters", value)
    return value.strip()


_SITE_FIELDS = ("name", "regions", "skills", "phone", "active")
_TECH_FIELDS = _SITE_FIELDS + ("site_id",)


async def _clean(db: AsyncSession, changes: dict, allowed: tuple[str, ...]) -> dict:
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in allowed:
            raise InvalidField(name, f"{name} cannot be set here", value)
        if name == "name":
            cleaned[name] = _name(value)
        elif name in ("regions", "skills"):
            cleaned[name] = join_list(name, value)
        elif name == "phone":
            cleaned[name] = _phone(value)
        elif name == "active":
            if not isinstance(value, bool):
                raise InvalidField(name, "active must be true or false", value)
            cleaned[name] = value
        elif name == "site_id":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or await db.get(ServiceSite, value) is None):
                raise InvalidField("site_id", f"service site {value} does not exist", value)
            cleaned[name] = value
    return cleaned


async def create_site(*, db: AsyncSession, name: str, regions: Iterable[str] = (),
                      skills: Iterable[str] = (), phone: str | None = None,
                      active: bool = True) -> ServiceSite:
    values = await _clean(db, {"name": name, "regions": regions, "skills": skills, "phone": phone,
                               "active": active}, _SITE_FIELDS)
    return await _added(db, ServiceSite(**values))


async def update_site(*, db: AsyncSession, site_id: int, changes: dict) -> ServiceSite:
    return await _changed(db, await get_site(db=db, site_id=site_id), changes, _SITE_FIELDS)


# --- technicians ---------------------------------------------------------------

async def list_technicians(*, db: AsyncSession, active: bool | None = None,
                           site_id: int | None = None, region: str | None = None) -> list[Technician]:
    return await _rows(db, Technician, *equal_to(Technician, site_id=site_id), active=active, region=region)


async def get_technician(*, db: AsyncSession, technician_id: int) -> Technician:
    return await _row(db, Technician, "technician", technician_id)


async def create_technician(*, db: AsyncSession, name: str, site_id: int | None = None,
                            regions: Iterable[str] = (), skills: Iterable[str] = (),
                            phone: str | None = None, active: bool = True) -> Technician:
    values = await _clean(db, {"name": name, "site_id": site_id, "regions": regions,
                               "skills": skills, "phone": phone, "active": active}, _TECH_FIELDS)
    return await _added(db, Technician(**values))


async def update_technician(*, db: AsyncSession, technician_id: int, changes: dict) -> Technician:
    return await _changed(db, await get_technician(db=db, technician_id=technician_id), changes, _TECH_FIELDS)


def site_dict(site: ServiceSite) -> dict:
    return {"id": site.id, "name": site.name, "regions": split_list(site.regions),
            "skills": split_list(site.skills), "phone": site.phone, "active": site.active}


def technician_dict(tech: Technician) -> dict:
    return {**site_dict(tech), "site_id": tech.site_id}  # same columns, plus the site


# --- suggestions ---------------------------------------------------------------

@dataclass(frozen=True)
class Suggestion:
    """A site or technician that covers a ticket, and why."""

    kind: str  # site | technician
    id: int
    name: str
    site_id: int | None  # the site itself, or the technician's site
    load: int  # open tickets already with them
    region: str  # the covering entry of their regions
    skill: str  # the covering skill
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


async def ticket_region(*, db: AsyncSession, ticket: Ticket) -> str | None:
    """The ticket's region, else its customer's (when customers have one)."""
    if ticket.region:
        return ticket.region
    from customers.models import Customer

    column = getattr(Customer, "region", None)
    if column is None:
        return None
    return (await db.execute(select(column).where(Customer.id == ticket.customer_id))).scalar_one_or_none()


async def _loads(db: AsyncSession, column, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    stmt = (select(column, func.count()).where(column.in_(ids), Ticket.state.in_(OPEN_STATES))
            .group_by(column))
    return dict((await db.execute(stmt)).all())


def _rank(s: Suggestion) -> tuple:
    specificity = 0 if s.region == "*" else len(s.region)
    return (s.load, -specificity, s.skill == "*", s.id)


async def suggest(*, db: AsyncSession, ticket: Ticket) -> list[Suggestion]:
    """Active sites, then active technicians (of active sites or none), that
    cover the ticket's region and skill, each group least loaded first."""
    region = await ticket_region(db=db, ticket=ticket)
    sites = list((await db.execute(select(ServiceSite).where(ServiceSite.active.is_(True)))).scalars())
    techs = list((await db.execute(
        select(Technician).outerjoin(ServiceSite, Technician.site_id == ServiceSite.id)
        .where(Technician.active.is_(True),
               (Technician.site_id.is_(None)) | ServiceSite.active.is_(True)))).scalars())
    out: list[Suggestion] = []
    for kind, rows, column in (("site", sites, Ticket.site_id), ("technician", techs, Ticket.technician_id)):
        matches = []
        for row in rows:
            covering = region_match(split_list(row.regions), region)
            skill = skill_match(split_list(row.skills), ticket)
            if covering and skill:
                matches.append((row, covering, skill))
        loads = await _loads(db, column, [row.id for row, _, _ in matches])
        group = []
        for row, covering, skill in matches:
            load = loads.get(row.id, 0)
            where = region or "(none)"
            if covering.lower() != where.lower():
                where += f" (as {covering})"
            group.append(Suggestion(
                kind=kind, id=row.id, name=row.name,
                site_id=row.id if kind == "site" else row.site_id, load=load, region=covering,
                skill=skill, reason=f"covers region {where}; skill {skill}; {load} open ticket(s)"))
        out.extend(sorted(group, key=_rank))
    return out


async def pick(*, db: AsyncSession, ticket: Ticket) -> tuple[int | None, int | None, Suggestion | None]:
    """(site_id, technician_id, the suggestion followed) for an automatic dispatch:
    the best site with its best technician, else the best technician alone."""
    suggestions = await suggest(db=db, ticket=ticket)
    sites = [s for s in suggestions if s.kind == "site"]
    techs = [s for s in suggestions if s.kind == "technician"]
    if sites:
        best = sites[0]
        tech = next((t for t in techs if t.site_id == best.id), None)
        return best.id, tech and tech.id, best
    if techs:
        return techs[0].site_id, techs[0].id, techs[0]
    return None, None, None


# --- moves ---------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()  # as stored
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


async def get_ticket(*, db: AsyncSession, ticket_id: int) -> Ticket:
    stmt = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    ticket = (await db.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("ticket", ticket_id)
    return ticket


def _check_state(ticket: Ticket, allowed: tuple[str, ...], move: str) -> None:
    if ticket.state not in allowed:
        raise Conflict(f"cannot {move} a ticket in state {ticket.state}; only from "
                       f"{', '.join(allowed)}", ticket)


async def _claim(db: AsyncSession, ticket_id: int, allowed: tuple[str, ...], move: str,
                 version: int | None) -> Ticket:
    """The ticket, its version bumped by a compare-and-set on the row.

    With ``version`` a ticket changed since is refused (:class:`StaleVersion`);
    without it the state is checked again against whatever a concurrent
    writer left.
    """
    table = Ticket.__table__
    for _ in range(_CLAIM_TRIES):
        ticket = await get_ticket(db=db, ticket_id=ticket_id)
        if version is not None and ticket.version != version:
            raise StaleVersion(f"ticket {ticket_id} was changed by someone else (now version "
                               f"{ticket.version}); reload it and try again", ticket)
        _check_state(ticket, allowed, move)
        result = await db.execute(update(table).where(
            table.c.id == ticket.id, table.c.version == ticket.version,
            table.c.state.in_(allowed)).values(version=ticket.version + 1))
        if result.rowcount == 1:
            ticket.version += 1  # already stored: keeps the ORM copy in step
            return ticket
        if version is not None:
            break
    ticket = await get_ticket(db=db, ticket_id=ticket_id)
    raise StaleVersion(f"ticket {ticket_id} was changed by someone else (now version "
                       f"{ticket.version}); reload it and try again", ticket)


async def _apply(db: AsyncSession, ticket: Ticket, actor: str, new_state: str, note: str | None,
                 fields: dict, **hook_kw) -> Ticket:
    """Set the fields and the state, write history, run the transition hooks."""
    now = utcnow()
    old_state = ticket.state
    rows = [TicketHistory(ticket_id=ticket.id, at=now, actor=actor[:64], kind="dispatch",
                          field="state", old=old_state, new=new_state, note=note)]
    for name, value in fields.items():
        before = getattr(ticket, name)
        if before != value:
            rows.append(TicketHistory(ticket_id=ticket.id, at=now, actor=actor[:64], kind="dispatch",
                                      field=name, old=_text(before), new=_text(value)))
            setattr(ticket, name, value)
    if old_state == "new" and ticket.responded_at is None:
        ticket.responded_at = now  # going out to a site is a response
    ticket.state = new_state
    db.add_all(rows)
    await db.flush()
    await hooks.run("on_transition", db=db, ticket=ticket, actor=actor, old=old_state, new=new_state,
                    **hook_kw)
    await db.flush()
    return ticket


async def dispatch(*, db: AsyncSession, ticket_id: int, actor: str, site_id: int | None = None,
                   technician_id: int | None = None, appointment_start: datetime | None = None,
                   appointment_end: datetime | None = None, version: int | None = None
                   ) -> tuple[Ticket, Suggestion | None]:
    """Send a ticket to a site and/or technician; with neither, to the best suggestion.

    Returns the ticket and, for an automatic pick, the suggestion followed.
    Raises :class:`InvalidField` for an unknown or inactive site/technician,
    a technician of another site or an appointment ending before it starts;
    :class:`Conflict` when the state does not allow it or nothing fits.
    """
    for name, value in (("appointment_start", appointment_start), ("appointment_end", appointment_end)):
        if value is not None and value.tzinfo is None:
            raise InvalidField(name, f"{name} must include a time zone", value.isoformat())
    if appointment_start and appointment_end and appointment_end < appointment_start:
        raise InvalidField("appointment_end", "appointment_end must not be before appointment_start",
                           appointment_end.isoformat())
    ticket = await get_ticket(db=db, ticket_id=ticket_id)
    _check_state(ticket, DISPATCHABLE_FROM, "dispatch")
    chosen = None
    if site_id is None and technician_id is None:
        site_id, technician_id, chosen = await pick(db=db, ticket=ticket)
        if chosen is None:
            region = await ticket_region(db=db, ticket=ticket)
            raise Conflict(f"no active site or technician covers region {region or '(none)'} "
                           f"for a {ticket.type} ticket", ticket)
    else:
        site_from_tech = site_id is None
        if technician_id is not None:
            tech = await db.get(Technician, technician_id)
            if tech is None or not tech.active:
                raise InvalidField("technician_id", f"no active technician {technician_id}",
                                   technician_id)
            if site_id is not None and tech.site_id not in (None, site_id):
                raise InvalidField("technician_id", f"technician {technician_id} belongs to "
                                   f"site {tech.site_id}, not {site_id}", technician_id)
            if site_id is None:
                site_id = tech.site_id
        if site_id is not None:
            site = await db.get(ServiceSite, site_id)
            if site is None or not site.active:
                if site_from_tech:
                    raise InvalidField("technician_id", f"technician {technician_id}'s site "
                                       f"{site_id} is not active", technician_id)
                raise InvalidField("site_id", f"no active service site {site_id}", site_id)
    ticket = await _claim(db, ticket_id, DISPATCHABLE_FROM, "dispatch", version)
    fields: dict[str, Any] = {"site_id": site_id, "technician_id": technician_id}
    if appointment_start is not None or appointment_end is not None:
        fields.update(appointment_start=appointment_start, appointment_end=appointment_end)
    note = f"auto: {chosen.reason}" if chosen else None
    await _apply(db, ticket, actor, "dispatched", note, fields)
    return ticket, chosen


async def accept(*, db: AsyncSession, ticket_id: int, actor: str,
                 version: int | None = None) -> Ticket:
    """The site takes the job: dispatched -> in_progress."""
    ticket = await _claim(db, ticket_id, ACCEPTABLE_FROM, "accept", version)
    return await _apply(db, ticket, actor, "in_progress", "accepted by the site", {})


async def reject(*, db: AsyncSession, ticket_id: int, actor: str, reason: str,
                 version: int | None = None) -> Ticket:
    """The site turns the job down: back to assigned, site, technician and
    appointment cleared, the reason in the history."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidField("reason", "reason is required to reject a dispatch", reason)
    reason = reason.strip()
    ticket = await _claim(db, ticket_id, REJECTABLE_FROM, "reject", version)
    fields = {"site_id": None, "technician_id": None, "appointment_start": None,
              "appointment_end": None}
    return await _apply(db, ticket, actor, "assigned", f"rejected by the site: {reason}", fields,
                        reason=reason)


async def complete(*, db: AsyncSession, ticket_id: int, actor: str, resolution: str,
                   parts_used: list[dict] | None = None, fee: Decimal | float | int = 0,
                   version: int | None = None) -> Ticket:
    """The site reports the job done: resolved, with the resolution, the parts
    (``[{"part": str, "qty": int}]``, stored as JSON) and the fee."""
    if not isinstance(resolution, str) or not resolution.strip():
        raise InvalidField("resolution", "resolution is required to complete a job", resolution)
    try:
        amount = Decimal(str(fee)).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise InvalidField("fee", "fee must be a number", fee) from None
    if isinstance(fee, bool) or not amount.is_finite() or amount < 0:
        raise InvalidField("fee", "fee must be a number >= 0", fee)
    parts = []
    for index, item in enumerate(parts_used or []):
        part, qty = (item.get("part"), item.get("qty")) if isinstance(item, dict) else (None, None)
        if not isinstance(part, str) or not part.strip() or isinstance(qty, bool) \
                or not isinstance(qty, int) or qty < 1:
            raise InvalidField("parts_used", f"parts_used[{index}] needs a part name and a "
                               "quantity >= 1", item)
        parts.append({"part": part.strip(), "qty": qty})
    ticket = await _claim(db, ticket_id, COMPLETABLE_FROM, "complete", version)
    ticket.resolved_at = utcnow()
    resolution = resolution.strip()
    fields = {"resolution": resolution, "fee": amount,
              "parts_used": json.dumps(parts, ensure_ascii=False) if parts else None}
    return await _apply(db, ticket, actor, "resolved", resolution, fields, resolution=resolution)


def ticket_view(ticket: Ticket) -> dict:
    """Every column of the ticket, JSON-ready (``parts_used`` a list, ``fee`` a float)."""
    out: dict[str, Any] = {}
    for column in Ticket.__table__.columns:
        value = getattr(ticket, column.key)
        if isinstance(value, datetime):
            value = value.astimezone(timezone.utc).isoformat()  # as a fresh read gives it
        elif isinstance(value, Decimal):
            value = float(value)
        out[column.key] = value
    try:
        out["parts_used"] = json.loads(ticket.parts_used) if ticket.parts_used else []
    except ValueError:
        out["parts_used"] = [ticket.parts_used]
    return out
