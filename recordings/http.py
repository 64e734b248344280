"""Recordings API: search, detail, edit, ticket links, audio with Range, peaks,
on-demand control, and the supervisors' search page (thin layer).

Access: agents and experts see and hear only recordings of their own calls
(``agent_username``); supervisors and admins all. Files are served only by row
id from ``storage_path``, a key checked to stay inside the recordings store
(:mod:`recordings.storage`: the local directory or an S3 bucket): nothing from
a request reaches the file system. The rules and the queries are in
:mod:`recordings.queries`; this module translates and audits.

Range is answered here, the same for both stores (206 with Content-Range,
416 past the end, 400 malformed; several ranges at once are ignored and the
whole file sent, which RFC 9110 allows): the bytes are streamed from the store
(an S3 ranged GET, or a seek in the file), never buffered whole.

Why play tokens: an ``<audio>`` element cannot send a bearer header, and the
API accepts no cookies (cross-site requests). The desk asks for a short-lived
token bound to one recording and one user (audited once as a playback), and
the element fetches ``/audio?t=...`` with as many Range requests as seeking
needs.
"""
from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.security import current_user, require_roles
from accounts.service import audit
from agent_desk.pages import add_pages
from ctidesk.deps import client_ip, get_container, get_db
from ctidesk.errors import Gone, Unavailable
from recordings import ingest as files
from recordings import queries
from recordings.models import Recording
from recordings.queries import ALL_ROLES, PLAY_TTL_S
from recordings.storage import NotInStore, StoreUnavailable

router = APIRouter()


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


async def _with_tickets(db: AsyncSession, rec: Recording) -> dict:
    return rec_dict(rec, await queries.linked_tickets(db=db, rec_id=rec.id, call_id=rec.call_id))


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
    rows, more = await queries.search(
        db=db, user=user, agent=agent, start=from_, end=to, number=number, caller=caller, called=called, q=q,
        kind=kind, status=status, ticket_id=ticket_id, call_id=call_id, customer_id=customer_id,
        min_duration_s=min_duration, max_duration_s=max_duration, sort=sort, limit=limit, offset=offset,
        country_code=container.settings.default_country_code)
    return {"items": [rec_dict(r) for r in rows], "limit": limit, "offset": offset, "has_more": more}


@router.get("/api/v1/recordings/{rec_id}")
async def get_recording(rec_id: int, user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    return await _with_tickets(db, await queries.get_visible(db=db, rec_id=rec_id, user=user))


class RecordingPatch(BaseModel):
    description: str | None = Field(None, max_length=4000)
    tags: list[str] | None = Field(None, max_length=30)
    legal_hold: bool | None = None


@router.patch("/api/v1/recordings/{rec_id}")
async def edit_recording(rec_id: int, body: RecordingPatch, request: Request, user: User = Depends(current_user),
                         db: AsyncSession = Depends(get_db)):
    """Description and tags (the recording's agent, supervisors); legal hold (supervisors)."""
    rec, changes = await queries.edit(db=db, user=user, rec_id=rec_id, description=body.description,
                                      tags=body.tags, legal_hold=body.legal_hold)
    await audit(db=db, actor=user.username, action="recording.edit", target=str(rec.id),
                detail={k: (v if k != "description" else len(v)) for k, v in changes.items()},
                ip=client_ip(request))
    await db.commit()
    return await _with_tickets(db, rec)


class TicketLink(BaseModel):
    ticket_id: int = Field(..., ge=1)


@router.post("/api/v1/recordings/{rec_id}/tickets", status_code=201)
async def link_ticket(rec_id: int, body: TicketLink, request: Request, user: User = Depends(current_user),
                      db: AsyncSession = Depends(get_db)):
    rec, added = await queries.link_ticket(db=db, user=user, rec_id=rec_id, ticket_id=body.ticket_id)
    if added:
        await audit(db=db, actor=user.username, action="recording.link_ticket", target=str(rec.id),
                    detail={"ticket_id": body.ticket_id}, ip=client_ip(request))
        await db.commit()
    return await _with_tickets(db, rec)


# -- playback -----------------------------------------------------------------

@router.post("/api/v1/recordings/{rec_id}/play")
async def play_token(rec_id: int, request: Request, user: User = Depends(current_user),
                     db: AsyncSession = Depends(get_db), container=Depends(get_container)):
    """A short-lived URL the browser's audio element can seek in; audited as a playback."""
    rec = await queries.get_visible(db=db, rec_id=rec_id, user=user)
    await asyncio.to_thread(queries.stored_object, storage=queries.storage_of(container), rec=rec)
    token = queries.play_token(settings=container.settings, rec=rec, username=user.username)
    await audit(db=db, actor=user.username, action="recording.play", target=str(rec.id),
                detail={"call_id": rec.call_id}, ip=client_ip(request))
    await db.commit()
    return {"url": f"/api/v1/recordings/{rec.id}/audio?t={token}", "expires_in": PLAY_TTL_S,
            "duration_s": rec_dict(rec)["duration_s"]}


_FIRST_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)", re.IGNORECASE)


def _from_start(range_header: str | None, size: int) -> bool:
    """Whether the answer begins at byte 0 (the whole file, or the first of a
    player's Range requests): only that fetch is audited, not every seek."""
    if not range_header:
        return True
    m = _FIRST_RANGE.match(range_header)
    if m is None:
        return False  # malformed: refused below, nothing served
    first, last = m.groups()
    if first:
        return int(first) == 0
    return bool(last) and int(last) >= size  # a suffix as long as the file


def _byte_range(range_header: str | None, size: int) -> tuple[int, int] | int | None:
    """The inclusive (first, last) byte of a single range; None: send it all;
    416 or 400 for a range past the end or a malformed header."""
    if not range_header:
        return None
    unit, _, spec = range_header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return 400
    if "," in spec:
        return None  # several ranges: the whole file instead (RFC 9110 14.2)
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not (first.isdigit() or not first) or not (last.isdigit() or not last):
        return 400
    if not first:  # a suffix: the last N bytes
        n = int(last)
        return 416 if n == 0 or size == 0 else (max(0, size - n), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return 416
    if end < start:
        return 400
    return start, end


@router.get("/api/v1/recordings/{rec_id}/audio")
async def audio(rec_id: int, request: Request, t: str | None = Query(None, max_length=2000),
                download: bool = Query(False), db: AsyncSession = Depends(get_db),
                container=Depends(get_container)):
    """The stored file with HTTP Range (206/416), from whichever store holds it.
    Bearer requests are audited as downloads."""
    if t:
        user = await queries.play_token_user(db=db, settings=container.settings, rec_id=rec_id, token=t)
    else:
        user = await current_user(request, db)
    rec = await queries.get_visible(db=db, rec_id=rec_id, user=user)
    storage = queries.storage_of(container)
    obj = await asyncio.to_thread(queries.stored_object, storage=storage, rec=rec)
    size = obj.size
    wanted = _byte_range(request.headers.get("range"), size)
    headers = {"Cache-Control": "private, no-store", "Accept-Ranges": "bytes"}
    if wanted == 400:
        return PlainTextResponse("Malformed Range header", status_code=400, headers=headers)
    if wanted == 416:
        return PlainTextResponse("", status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if not t and _from_start(request.headers.get("range"), size):
        await audit(db=db, actor=user.username, action="recording.download" if download else "recording.fetch",
                    target=str(rec.id), detail={"call_id": rec.call_id}, ip=client_ip(request))
        await db.commit()
    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    if download:
        suffix = "." + obj.key.rsplit(".", 1)[-1] if "." in obj.key.rsplit("/", 1)[-1] else ""
        headers["Content-Disposition"] = f'attachment; filename="recording-{rec.id}{suffix}"'
    headers["Content-Length"] = str(max(0, last - first + 1))
    status = 200
    if isinstance(wanted, tuple):
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    try:
        body = await asyncio.to_thread(storage.open_range, obj.key, first, last) if size else iter(())
    except NotInStore:
        raise Gone(f"recording {rec.id}: the file is gone from storage (run `ctidesk recordings reconcile`)") from None
    except StoreUnavailable:
        raise Unavailable("the recordings store is not answering; try again shortly") from None
    # a blocking iterator: Starlette reads it in its thread pool, chunk by chunk
    return StreamingResponse(body, status_code=status, headers=headers,
                             media_type=files.MIME.get(rec.format, "application/octet-stream"))


@router.get("/api/v1/recordings/{rec_id}/peaks")
async def peaks(rec_id: int, user: User = Depends(current_user), db: AsyncSession = Depends(get_db),
                container=Depends(get_container)):
    """Waveform peaks for the player, computed once per file (cached in the store beside it)."""
    rec = await queries.get_visible(db=db, rec_id=rec_id, user=user)
    storage = queries.storage_of(container)
    obj = await asyncio.to_thread(queries.stored_object, storage=storage, rec=rec)
    values = await asyncio.to_thread(files.cached_peaks, storage, obj.key)
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
    call_id, rec_id = await queries.control(db=db, container=container, username=user.username,
                                            action=body.action, call_id=body.call_id)
    await audit(db=db, actor=user.username, action=f"recording.{body.action}", target=str(rec_id or ""),
                detail={"call_id": call_id}, ip=client_ip(request))
    await db.commit()
    return {"call_id": call_id, "recording_id": rec_id, "requested": body.action}


# -- page -----------------------------------------------------------------------

add_pages(router, {"/recordings": "recordings.html"})


@router.get("/api/v1/recordings-status")
async def status_summary(user: User = Depends(require_roles(*ALL_ROLES)), db: AsyncSession = Depends(get_db),
                         container=Depends(get_container)):
    """Counts by status (supervisors): spot failed/missing recordings at a glance."""
    service = container.recordings
    return {"by_status": await queries.status_counts(db=db),
            "last_reconcile": service.last_reconcile if service else None}
