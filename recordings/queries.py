"""What the recordings API asks of the database, the files and the live call.

Keyword-only functions taking the session (``recordings.service`` is the
live worker: MixMonitor events, ingest, reconcile). They raise
:mod:`ctidesk.errors`; ``recordings.http`` only translates HTTP to calls and
back, and writes the audit row in the same transaction.

Access: agents and experts see only recordings of their own calls
(``agent_username``); supervisors and admins all. A recording another agent
made answers 404 like one that does not exist, so ids cannot be probed.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import datetime

import jwt
from sqlalchemy import and_, func, or_, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.security import role_allowed
from cti.model import device_of
from ctidesk.db import like_any_case
from ctidesk.errors import Conflict, Forbidden, Gone, Invalid, NotFound, Unauthenticated, Unavailable
from customers.phone import search_keys
from recordings.models import DESCRIBED_SQL, KINDS, STATUSES, Recording, RecordingTicket
from recordings.storage import BadKey, NotInStore, ObjectStat, RecordingStorage, StoreUnavailable
from recordings.storage import from_settings as storage_from_settings

log = logging.getLogger(__name__)

ALL_ROLES = ("supervisor", "admin")
PLAY_TTL_S = 600
SORTS = {"started_at": Recording.started_at, "duration": Recording.duration_ms}
_TAG = re.compile(r"^[^,\x00-\x1f]{1,40}$")


def sees_all(user: User) -> bool:
    return role_allowed(user.role, ALL_ROLES)


# -- reading --------------------------------------------------------------------

async def get_visible(*, db: AsyncSession, rec_id: int, user: User) -> Recording:
    rec = await db.get(Recording, rec_id)
    if rec is None or (not sees_all(user) and rec.agent_username != user.username):
        raise NotFound("no such recording")  # 404, not 403: do not confirm it exists
    return rec


async def linked_tickets(*, db: AsyncSession, rec_id: int, call_id: str | None = None) -> list[int]:
    """Tickets the recording is evidence for: linked to it, or to its call."""
    from tickets.models import TicketCall

    ids = set((await db.execute(select(RecordingTicket.ticket_id)
                                .where(RecordingTicket.recording_id == rec_id))).scalars())
    if call_id:
        ids |= set((await db.execute(select(TicketCall.ticket_id).where(TicketCall.call_id == call_id))).scalars())
    return sorted(ids)


async def status_counts(*, db: AsyncSession) -> dict[str, int]:
    rows = (await db.execute(select(Recording.status, func.count()).group_by(Recording.status))).all()
    return {s: n for s, n in rows}


# -- search ---------------------------------------------------------------------

def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise Invalid(f"'{name}' needs a time zone (e.g. 2026-11-23T08:00:00+08:00)")


def _prefix(column, prefix: str):
    """``column`` starts with ``prefix`` (digits), as an index range: ':' follows '9'."""
    return and_(column >= prefix, column < prefix + ":")


def _number_condition(number: str, which: tuple[str, ...], country_code: str):
    """Recording ids matching a number, as a UNION of index lookups.

    A whole number (it normalises to +CC...) matches the normalised columns
    exactly; a fragment of 3+ digits matches the beginning of the number
    (national or international form) or its end (the reversed columns)."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 3:
        raise Invalid(f"number {number!r}: give a whole number or at least 3 of its digits")
    cols = {"caller": (Recording.caller_number, Recording.caller_number_rev),
            "called": (Recording.called_number, Recording.called_number_rev)}
    keys = [k for k in search_keys(number, country_code=country_code) if k.startswith("+")]
    parts = []
    for name in which:
        col, rev = cols[name]
        if keys:
            parts.append(select(Recording.id).where(col.in_(keys)))
            continue
        for prefix in dict.fromkeys((f"+{country_code}{digits.lstrip('0')}", f"+{digits}", digits)):
            parts.append(select(Recording.id).where(_prefix(col, prefix)))
        parts.append(select(Recording.id).where(_prefix(rev, digits[::-1])))
    return Recording.id.in_(union(*parts) if len(parts) > 1 else parts[0])


def search_query(*, agent=None, start=None, end=None, number=None, caller=None, called=None, q=None,
                 kind=None, status=None, ticket_id=None, call_id=None, customer_id=None,
                 min_duration_s=None, max_duration_s=None, sort="-started_at", country_code="86"):
    """The search as one SELECT (shared with bench/recordings.py)."""
    stmt = select(Recording)
    conds = []
    if agent:
        conds.append(Recording.agent_username == agent)
    if start is not None:
        conds.append(Recording.started_at >= start)
    if end is not None:
        conds.append(Recording.started_at < end)
    if number:
        conds.append(_number_condition(number, ("caller", "called"), country_code))
    if caller:
        conds.append(_number_condition(caller, ("caller",), country_code))
    if called:
        conds.append(_number_condition(called, ("called",), country_code))
    if q:
        like = f"%{q.replace(chr(92), '').replace('%', '').replace('_', '')}%"
        conds.append(or_(like_any_case(Recording.description, like), like_any_case(Recording.tags, like)))
        conds.append(text(f"({DESCRIBED_SQL})"))  # lets SQLite use the partial index of described rows
    if kind:
        conds.append(Recording.kind == kind)
    if status:
        conds.append(Recording.status == status)
    if ticket_id is not None:  # linked directly, or through the ticket's calls
        from tickets.models import TicketCall

        conds.append(Recording.id.in_(union(
            select(RecordingTicket.recording_id).where(RecordingTicket.ticket_id == ticket_id),
            select(Recording.id).where(Recording.call_id.in_(
                select(TicketCall.call_id).where(TicketCall.ticket_id == ticket_id))))))
    if call_id:
        conds.append(Recording.call_id == call_id)
    if customer_id is not None:
        conds.append(Recording.customer_id == customer_id)
    # Sorted by time, a duration range is checked while walking ix_recordings_started
    # (duration is in it); "+ 0" keeps SQLite from sorting every row in the range instead.
    duration = Recording.duration_ms if sort.lstrip("-") == "duration" else Recording.duration_ms + 0
    if min_duration_s is not None:
        conds.append(duration >= int(min_duration_s * 1000))
    if max_duration_s is not None:
        conds.append(duration <= int(max_duration_s * 1000))
    if conds:
        stmt = stmt.where(*conds)
    desc = sort.startswith("-")
    col = SORTS[sort.lstrip("-")]
    return stmt.order_by(col.desc() if desc else col.asc(), Recording.id.desc() if desc else Recording.id.asc())


async def search(*, db: AsyncSession, user: User, agent: str | None = None, start: datetime | None = None,
                 end: datetime | None = None, number: str | None = None, caller: str | None = None,
                 called: str | None = None, q: str | None = None, kind: str | None = None,
                 status: str | None = None, ticket_id: int | None = None, call_id: str | None = None,
                 customer_id: int | None = None, min_duration_s: float | None = None,
                 max_duration_s: float | None = None, sort: str = "-started_at", limit: int = 50,
                 offset: int = 0, country_code: str = "86") -> tuple[list[Recording], bool]:
    """(a page of recordings, whether more follow). Agents see only their own calls'."""
    _aware("from", start)
    _aware("to", end)
    if kind is not None and kind not in KINDS:
        raise Invalid(f"kind {kind!r}: one of {', '.join(KINDS)}")
    if status is not None and status not in STATUSES:
        raise Invalid(f"status {status!r}: one of {', '.join(STATUSES)}")
    if sort.lstrip("-") not in SORTS:
        raise Invalid(f"sort {sort!r}: one of started_at, -started_at, duration, -duration")
    if min_duration_s is not None and max_duration_s is not None and min_duration_s > max_duration_s:
        raise Invalid("min_duration is greater than max_duration")
    if not sees_all(user):
        if agent not in (None, user.username):
            raise Forbidden("agents may only search their own recordings")
        agent = user.username
    stmt = search_query(agent=agent, start=start, end=end, number=number, caller=caller, called=called, q=q,
                        kind=kind, status=status, ticket_id=ticket_id, call_id=call_id, customer_id=customer_id,
                        min_duration_s=min_duration_s, max_duration_s=max_duration_s, sort=sort,
                        country_code=country_code)
    rows = list((await db.execute(stmt.limit(limit + 1).offset(offset))).scalars())
    return rows[:limit], len(rows) > limit


# -- editing (the caller audits and commits) -------------------------------------

async def edit(*, db: AsyncSession, user: User, rec_id: int, description: str | None = None,
               tags: list[str] | None = None, legal_hold: bool | None = None) -> tuple[Recording, dict]:
    """Description and tags (the recording's agent, supervisors); legal hold
    (supervisors). Returns the row and what changed."""
    rec = await get_visible(db=db, rec_id=rec_id, user=user)
    changes = {}
    if description is not None:
        changes["description"] = "".join(ch for ch in description if ch >= " " or ch in "\n\t")
    if tags is not None:
        tags = [t.strip() for t in tags if t.strip()]
        bad = [t for t in tags if not _TAG.match(t)]
        if bad:
            raise Invalid(f"tag {bad[0]!r}: 1-40 characters, no commas or control characters")
        changes["tags"] = ",".join(dict.fromkeys(tags))
    if legal_hold is not None:
        if not sees_all(user):
            raise Forbidden("only supervisors and admins set a legal hold")
        changes["legal_hold"] = legal_hold
    for k, v in changes.items():
        setattr(rec, k, v)
    return rec, changes


async def link_ticket(*, db: AsyncSession, user: User, rec_id: int, ticket_id: int) -> tuple[Recording, bool]:
    """Link the recording to a ticket; (the row, whether a link was added)."""
    from tickets.models import Ticket

    rec = await get_visible(db=db, rec_id=rec_id, user=user)
    if await db.get(Ticket, ticket_id) is None:
        raise NotFound(f"no ticket {ticket_id}")
    if await db.get(RecordingTicket, (rec.id, ticket_id)) is not None:
        return rec, False
    db.add(RecordingTicket(recording_id=rec.id, ticket_id=ticket_id))
    return rec, True


# -- playback -------------------------------------------------------------------

def _play_key(settings) -> bytes:
    return hashlib.sha256(b"ctidesk-recording-play:" + settings.secret_key.encode()).digest()


def storage_of(container) -> RecordingStorage:
    """The store recordings are served from: the running service's, else the settings'."""
    service = getattr(container, "recordings", None)
    return service.storage if service is not None else storage_from_settings(container.settings)


def stored_object(*, storage: RecordingStorage, rec: Recording) -> ObjectStat:
    """The recording's object in the store (blocking: run it in a thread). Its
    key is the row's ``storage_path``, checked to stay inside the store: nothing
    from a request reaches the file system or the bucket."""
    if rec.status != "stored" or not rec.storage_path:
        raise Conflict(f"recording {rec.id} is {rec.status}, not playable" + (f": {rec.error}" if rec.error else ""))
    try:
        return storage.stat(rec.storage_path)
    except BadKey:
        raise Conflict(f"recording {rec.id} has a storage path outside the recordings store") from None
    except NotInStore:
        raise Gone(f"recording {rec.id}: the file is gone from storage (run `ctidesk recordings reconcile`)") from None
    except StoreUnavailable as exc:
        log.warning("recording %s: the store did not answer: %s", rec.id, exc)
        raise Unavailable("the recordings store is not answering; try again shortly") from None


def play_token(*, settings, rec: Recording, username: str) -> str:
    """A short-lived token bound to one recording and one user."""
    return jwt.encode({"sub": username, "rec": rec.id, "exp": int(time.time()) + PLAY_TTL_S},
                      _play_key(settings), algorithm="HS256")


async def play_token_user(*, db: AsyncSession, settings, rec_id: int, token: str) -> User:
    """The active user a play token was issued to, for this recording."""
    try:
        claims = jwt.decode(token, _play_key(settings), algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"play link invalid or expired ({exc}); open the recording again") from None
    if claims.get("rec") != rec_id:
        raise Unauthenticated("this play link is for another recording")
    user = (await db.execute(select(User).where(User.username == claims.get("sub")))).scalar_one_or_none()
    if user is None or not user.active:
        raise Unauthenticated("play link of an unknown or inactive user")
    return user


# -- on-demand control ------------------------------------------------------------

async def control(*, db: AsyncSession, container, username: str, action: str,
                  call_id: str | None = None) -> tuple[str, int | None]:
    """Start/stop/pause/resume recording on the agent's own answered call:
    (the call's id, the recording's id). A full recording (queue answer,
    outbound) runs until the call ends: it can be paused, not stopped."""
    if not container.actions.connected:
        raise Unavailable("the phone system (AMI) is not connected; try again shortly")
    info = container.directory.by_username.get(username)
    if info is None:
        raise Conflict(f"user {username!r} has no phone extension")
    model = container.model
    service = container.recordings
    device = device_of(info.interface)
    call = model.answered_call_of(device, agent=username, call_id=call_id)
    if call is None:
        raise Conflict("you have no answered call" + (f" {call_id}" if call_id else ""))
    running = await service.running_recording(db, call.id)
    channel = None
    if running is not None and running.uniqueid:
        channel = call.channels.get(running.uniqueid)
    channel = channel or model.agent_leg(call, device)
    if channel is None:
        raise Conflict("your phone's channel is not in this call")
    rec_id = running.id if running is not None else None
    if action == "start":
        if call.record_state != "off" or running is not None:
            raise Conflict(f"this call is already being recorded ({call.record_state})")
        rec_id = await service.start_on_demand(call, channel, username)
    elif running is None:
        raise Conflict("this call is not being recorded")
    elif action == "stop":
        if running.kind != "on_demand":
            raise Conflict("a full recording runs until the call ends; pause it instead")
        await container.actions.mixmonitor_stop(channel=channel)
    else:
        want = "paused" if action == "pause" else "recording"
        if call.record_state == want:
            raise Conflict(f"the recording is already {want}")
        await container.actions.mixmonitor_pause(channel=channel, paused=action == "pause")
    return call.id, rec_id
