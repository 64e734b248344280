"""Recordings API: search, detail, edit, ticket links, audio with Range, peaks,
on-demand control, and the supervisors' search page (thin layer).

Access: agents and experts see and hear only recordings of their own calls
(``agent_username``); supervisors and admins all. Files are served only by row
id from ``storage_path`` resolved under the recordings dir and checked to stay
inside it: nothing from a request reaches the file system.

Why play tokens: an ``<audio>`` element cannot send a bearer header, and the
API accepts no cookies (cross-site requests). The desk asks for a short-lived
token bound to one recording and one user (audited once as a playback), and
the element fetches ``/audio?t=...`` with as many Range requests as seeking
needs.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from datetime import datetime
from pathlib import Path

import jwt
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.security import current_user, require_roles, role_allowed
from accounts.service import audit
from cti.model import device_of
from customers.phone import search_keys
from ctidesk.deps import client_ip, get_container, get_db
from recordings import ingest as files
from recordings.models import DESCRIBED_SQL, KINDS, STATUSES, Recording, RecordingTicket

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "agent_desk" / "static"
ALL_ROLES = ("supervisor", "admin")
PLAY_TTL_S = 600
CHUNK = 64 * 1024
SORTS = {"started_at": Recording.started_at, "duration": Recording.duration_ms}


def rec_dict(r: Recording, tickets: list[int] | None = None) -> dict:
    return {
        "id": r.id, "call_id": r.call_id, "kind": r.kind, "status": r.status, "agent": r.agent_username,
        "customer_id": r.customer_id, "caller_number": r.caller_number_raw,
        "caller_number_normalized": r.caller_number, "called_number": r.called_number_raw,
        "called_number_normalized": r.called_number,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "duration_s": round(r.duration_ms / 1000, 3) if r.duration_ms is not None else None,
        "size_bytes": r.size_bytes, "sha256": r.sha256, "format": r.format, "intent": r.intent,
        "description": r.description or "", "tags": [t for t in (r.tags or "").split(",") if t],
        "pauses": json.loads(r.pauses) if r.pauses else [], "legal_hold": bool(r.legal_hold),
        "error": r.error, "playable": r.status == "stored",
        **({"tickets": tickets} if tickets is not None else {}),
    }


def _sees_all(user: User) -> bool:
    return role_allowed(user.role, ALL_ROLES)


async def _get_visible(db: AsyncSession, rec_id: int, user: User) -> Recording:
    rec = await db.get(Recording, rec_id)
    if rec is None or (not _sees_all(user) and rec.agent_username != user.username):
        raise HTTPException(404, "no such recording")  # 404, not 403: do not confirm it exists
    return rec


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"'{name}' needs a time zone (e.g. 2026-11-23T08:00:00+08:00)")


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
        raise HTTPException(422, f"number {number!r}: give a whole number or at least 3 of its digits")
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
        conds.append(or_(Recording.description.like(like), Recording.tags.like(like)))
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


@router.get("/api/v1/recordings")
async def search(
    agent: str | None = Query(None, max_length=64),
    from_: datetime | None = Query(None, alias="from", description="ISO 8601 with zone, inclusive"),
    to: datetime | None = Query(None, description="ISO 8601 with zone, exclusive"),
    number: str | None = Query(None, max_length=64, description="caller or called, whole or fragment"),
    caller: str | None = Query(None, max_length=64),
    called: str | None = Query(None, max_length=64),
    q: str | None = Query(None, max_length=200, description="text in description or tags"),
    kind: str | None = Query(None),
    status: str | None = Query(None),
    ticket_id: int | None = Query(None, ge=1),
    call_id: str | None = Query(None, max_length=64),
    customer_id: int | None = Query(None, ge=1),
    min_duration: float | None = Query(None, ge=0, description="seconds"),
    max_duration: float | None = Query(None, ge=0, description="seconds"),
    sort: str = Query("-started_at"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=100_000),
    user: User = Depends(current_user),
    db: AsyncSession = Depends(get_db),
    container=Depends(get_container),
):
    """Recordings, newest first by default. Agents see only their own calls'."""
    _aware("from", from_)
    _aware("to", to)
    if kind is not None and kind not in KINDS:
        raise HTTPException(422, f"kind {kind!r}: one of {', '.join(KINDS)}")
    if status is not None and status not in STATUSES:
        raise HTTPException(422, f"status {status!r}: one of {', '.join(STATUSES)}")
    if sort.lstrip("-") not in SORTS:
        raise HTTPException(422, f"sort {sort!r}: one of started_at, -started_at, duration, -duration")
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise HTTPException(422, "min_duration is greater than max_duration")
    if not _sees_all(user):
        if agent not in (None, user.username):
            raise HTTPException(403, "agents may only search their own recordings")
        agent = user.username
    stmt = search_query(agent=agent, start=from_, end=to, number=number, caller=caller, called=called, q=q,
                        kind=kind, status=status, ticket_id=ticket_id, call_id=call_id, customer_id=customer_id,
                        min_duration_s=min_duration, max_duration_s=max_duration, sort=sort,
                        country_code=container.settings.default_country_code)
    rows = list((await db.execute(stmt.limit(limit + 1).offset(offset))).scalars())
    return {"items": [rec_dict(r) for r in rows[:limit]], "limit": limit, "offset": offset,
            "has_more": len(rows) > limit}


async def _tickets(db: AsyncSession, rec_id: int, call_id: str | None = None) -> list[int]:
    """Tickets the recording is evidence for: linked to it, or to its call."""
    from tickets.models import TicketCall

    ids = set((await db.execute(select(RecordingTicket.ticket_id)
                                .where(RecordingTicket.recording_id == rec_id))).scalars())
    if call_id:
        ids |= set((await db.execute(select(TicketCall.ticket_id).where(TicketCall.call_id == call_id))).scalars())
    return sorted(ids)


@router.get("/api/v1/recordings/{rec_id}")
async def get_recording(rec_id: int, user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    rec = await _get_visible(db, rec_id, user)
    return rec_dict(rec, await _tickets(db, rec.id, rec.call_id))


class RecordingPatch(BaseModel):
    description: str | None = Field(None, max_length=4000)
    tags: list[str] | None = Field(None, max_length=30)
    legal_hold: bool | None = None


_TAG = re.compile(r"^[^,\x00-\x1f]{1,40}$")


@router.patch("/api/v1/recordings/{rec_id}")
async def edit_recording(rec_id: int, body: RecordingPatch, request: Request, user: User = Depends(current_user),
                         db: AsyncSession = Depends(get_db)):
    """Description and tags (the recording's agent, supervisors); legal hold (supervisors)."""
    rec = await _get_visible(db, rec_id, user)
    changes = {}
    if body.description is not None:
        changes["description"] = "".join(ch for ch in body.description if ch >= " " or ch in "\n\t")
    if body.tags is not None:
        tags = [t.strip() for t in body.tags if t.strip()]
        bad = [t for t in tags if not _TAG.match(t)]
        if bad:
            raise HTTPException(422, f"tag {bad[0]!r}: 1-40 characters, no commas or control characters")
        changes["tags"] = ",".join(dict.fromkeys(tags))
    if body.legal_hold is not None:
        if not _sees_all(user):
            raise HTTPException(403, "only supervisors and admins set a legal hold")
        changes["legal_hold"] = body.legal_hold
    for k, v in changes.items():
        setattr(rec, k, v)
    await audit(db=db, actor=user.username, action="recording.edit", target=str(rec.id),
                detail={k: (v if k != "description" else len(v)) for k, v in changes.items()},
                ip=client_ip(request))
    await db.commit()
    return rec_dict(rec, await _tickets(db, rec.id, rec.call_id))


class TicketLink(BaseModel):
    ticket_id: int = Field(..., ge=1)


@router.post("/api/v1/recordings/{rec_id}/tickets", status_code=201)
async def link_ticket(rec_id: int, body: TicketLink, request: Request, user: User = Depends(current_user),
                      db: AsyncSession = Depends(get_db)):
    from tickets.models import Ticket

    rec = await _get_visible(db, rec_id, user)
    if await db.get(Ticket, body.ticket_id) is None:
        raise HTTPException(404, f"no ticket {body.ticket_id}")
    if await db.get(RecordingTicket, (rec.id, body.ticket_id)) is None:
        db.add(RecordingTicket(recording_id=rec.id, ticket_id=body.ticket_id))
        await audit(db=db, actor=user.username, action="recording.link_ticket", target=str(rec.id),
                    detail={"ticket_id": body.ticket_id}, ip=client_ip(request))
        await db.commit()
    return rec_dict(rec, await _tickets(db, rec.id, rec.call_id))


# -- playback -----------------------------------------------------------------

def _play_key(settings) -> bytes:
    return hashlib.sha256(b"ctidesk-recording-play:" + settings.secret_key.encode()).digest()


def _stored_file(container, rec: Recording) -> Path:
    if rec.status != "stored" or not rec.storage_path:
        raise HTTPException(409, f"recording {rec.id} is {rec.status}, not playable"
                                 + (f": {rec.error}" if rec.error else ""))
    root = container.settings.effective_recordings_dir.resolve()
    path = (root / rec.storage_path).resolve()
    try:
        path.relative_to(root)
    except ValueError:
        raise HTTPException(409, f"recording {rec.id} has a storage path outside the recordings dir") from None
    if not path.is_file():
        raise HTTPException(410, f"recording {rec.id}: the file is gone from storage (run `ctidesk recordings "
                                 "reconcile`)")
    return path


@router.post("/api/v1/recordings/{rec_id}/play")
async def play_token(rec_id: int, request: Request, user: User = Depends(current_user),
                     db: AsyncSession = Depends(get_db), container=Depends(get_container)):
    """A short-lived URL the browser's audio element can seek in; audited as a playback."""
    rec = await _get_visible(db, rec_id, user)
    _stored_file(container, rec)
    token = jwt.encode({"sub": user.username, "rec": rec.id, "exp": int(time.time()) + PLAY_TTL_S},
                       _play_key(container.settings), algorithm="HS256")
    await audit(db=db, actor=user.username, action="recording.play", target=str(rec.id),
                detail={"call_id": rec.call_id}, ip=client_ip(request))
    await db.commit()
    return {"url": f"/api/v1/recordings/{rec.id}/audio?t={token}", "expires_in": PLAY_TTL_S,
            "duration_s": rec_dict(rec)["duration_s"]}


async def _audio_user(request: Request, rec_id: int, t: str | None, db: AsyncSession, container) -> tuple[User, bool]:
    if t:
        try:
            claims = jwt.decode(t, _play_key(container.settings), algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise HTTPException(401, f"play link invalid or expired ({exc}); open the recording again") from None
        if claims.get("rec") != rec_id:
            raise HTTPException(401, "this play link is for another recording")
        user = (await db.execute(select(User).where(User.username == claims.get("sub")))).scalar_one_or_none()
        if user is None or not user.active:
            raise HTTPException(401, "play link of an unknown or inactive user")
        return user, False
    return await current_user(request, db), True


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive, or None for "whole file"; raises ValueError when unsatisfiable."""
    header = header.strip()
    if "," in header:
        raise ValueError("multiple ranges are not supported")
    m = _RANGE.match(header)
    if not m or (not m.group(1) and not m.group(2)):
        raise ValueError(f"malformed range {header!r}")
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise ValueError(f"range {header!r} outside 0-{size - 1}")
    return start, min(end, size - 1)


def _stream(path: Path, start: int, length: int):
    with open(path, "rb") as fh:
        fh.seek(start)
        left = length
        while left > 0:
            block = fh.read(min(CHUNK, left))
            if not block:
                return
            left -= len(block)
            yield block


@router.get("/api/v1/recordings/{rec_id}/audio")
async def audio(rec_id: int, request: Request, t: str | None = Query(None, max_length=2000),
                download: bool = Query(False), db: AsyncSession = Depends(get_db),
                container=Depends(get_container)):
    """The stored file with HTTP Range (206/416). Bearer requests are audited as downloads."""
    user, bearer = await _audio_user(request, rec_id, t, db, container)
    rec = await _get_visible(db, rec_id, user)
    path = _stored_file(container, rec)
    size = path.stat().st_size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="recording-{rec.id}{path.suffix}"'
    range_header = request.headers.get("range")
    first, last = 0, size - 1
    status = 200
    if range_header:
        try:
            span = parse_range(range_header, size)
        except ValueError as exc:
            return Response(status_code=416, content=json.dumps({"detail": f"range not satisfiable: {exc}"}),
                            media_type="application/json",
                            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
        first, last = span
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    if bearer and first == 0:
        await audit(db=db, actor=user.username, action="recording.download" if download else "recording.fetch",
                    target=str(rec.id), detail={"call_id": rec.call_id},
                    ip=client_ip(request))
        await db.commit()
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(_stream(path, first, last - first + 1), status_code=status,
                             media_type=files.MIME.get(rec.format, "application/octet-stream"), headers=headers)


@router.get("/api/v1/recordings/{rec_id}/peaks")
async def peaks(rec_id: int, user: User = Depends(current_user), db: AsyncSession = Depends(get_db),
                container=Depends(get_container)):
    """Waveform peaks for the player, computed once per file (cached beside it)."""
    rec = await _get_visible(db, rec_id, user)
    path = _stored_file(container, rec)
    values = await asyncio.to_thread(files.cached_peaks, path)
    return {"id": rec.id, "duration_s": rec_dict(rec)["duration_s"], "peaks": values}


# -- on-demand control ----------------------------------------------------------

class Control(BaseModel):
    action: str = Field(..., pattern="^(start|stop|pause|resume)$")
    call_id: str | None = Field(None, max_length=64)


@router.post("/api/v1/recordings/control", status_code=202)
async def control(body: Control, request: Request, user: User = Depends(current_user),
                  db: AsyncSession = Depends(get_db), container=Depends(get_container)):
    """Start/stop/pause/resume recording on the agent's own live call.

    A full recording (queue answer, outbound) runs until the call ends: it can
    be paused for card details, not stopped. The new state arrives as a
    ``record_state`` message on the desk socket once Asterisk confirms."""
    if not container.actions.connected:
        raise HTTPException(503, "the phone system (AMI) is not connected; try again shortly")
    info = container.services["directory"].by_username.get(user.username)
    if info is None:
        raise HTTPException(409, f"user {user.username!r} has no phone extension")
    model = container.services["model"]
    service = container.services["recordings"]
    device = device_of(info.interface)
    call = model.answered_call_of(device, agent=user.username, call_id=body.call_id)
    if call is None:
        raise HTTPException(409, "you have no answered call" + (f" {body.call_id}" if body.call_id else ""))
    running = await service.running_recording(db, call.id)
    channel = None
    if running is not None and running.uniqueid:
        channel = call.channels.get(running.uniqueid)
    channel = channel or model.agent_leg(call, device)
    if channel is None:
        raise HTTPException(409, "your phone's channel is not in this call")
    action = body.action
    rec_id = running.id if running is not None else None
    if action == "start":
        if call.record_state != "off" or running is not None:
            raise HTTPException(409, f"this call is already being recorded ({call.record_state})")
        rec_id = await service.start_on_demand(call, channel, user.username)
    elif running is None:
        raise HTTPException(409, "this call is not being recorded")
    elif action == "stop":
        if running.kind != "on_demand":
            raise HTTPException(409, "a full recording runs until the call ends; pause it instead")
        await container.actions.mixmonitor_stop(channel=channel)
    else:
        want = "paused" if action == "pause" else "recording"
        if call.record_state == want:
            raise HTTPException(409, f"the recording is already {want}")
        await container.actions.mixmonitor_pause(channel=channel, paused=action == "pause")
    await audit(db=db, actor=user.username, action=f"recording.{action}", target=str(rec_id or ""),
                detail={"call_id": call.id}, ip=client_ip(request))
    await db.commit()
    return {"call_id": call.id, "recording_id": rec_id, "requested": action}


# -- page -----------------------------------------------------------------------

@router.get("/recordings", include_in_schema=False)
async def recordings_page():
    return FileResponse(STATIC / "recordings.html", media_type="text/html")


@router.get("/api/v1/recordings-status")
async def status_summary(user: User = Depends(require_roles(*ALL_ROLES)), db: AsyncSession = Depends(get_db),
                         container=Depends(get_container)):
    """Counts by status (supervisors): spot failed/missing recordings at a glance."""
    rows = (await db.execute(select(Recording.status, func.count()).group_by(Recording.status))).all()
    service = container.services.get("recordings")
    return {"by_status": {s: n for s, n in rows},
            "last_reconcile": service.last_reconcile if service else None}
