"""Retention: days to keep per kind, legal hold, purge (dry run first).

Why the row stays: a purged recording keeps its row (status ``purged``, who
and when in ``error`` and the audit log) so a later complaint finds that the
call was recorded and when the audio was removed, instead of finding nothing.

Legal hold: a supervisor sets it by hand, and it is set automatically on every
recording linked (directly or through its call) to an open complaint ticket.
Once set it stays until a supervisor clears it: evidence is never released by
a ticket changing state.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from ctidesk.db import utcnow
from recordings.ingest import peaks_key
from recordings.models import KINDS, Recording, RecordingTicket
from recordings.storage import StorageError, from_settings as storage_from_settings

log = logging.getLogger(__name__)


def retention_days(settings) -> dict[str, int]:
    return {kind: int(getattr(settings, f"recordings_retention_{kind}_days")) for kind in KINDS}


def _open_complaints_condition():
    from tickets.models import OPEN_STATES, Ticket, TicketCall

    open_complaints = select(Ticket.id).where(Ticket.type == "complaint", Ticket.state.in_(OPEN_STATES))
    return or_(
        Recording.id.in_(select(RecordingTicket.recording_id).where(RecordingTicket.ticket_id.in_(open_complaints))),
        Recording.call_id.in_(select(TicketCall.call_id).where(TicketCall.ticket_id.in_(open_complaints))),
        Recording.call_id.in_(select(Ticket.call_id).where(Ticket.id.in_(open_complaints))),
    )


async def apply_legal_holds(db, *, dry_run: bool = False) -> list[int]:
    """Hold every recording linked to an open complaint; returns the newly held ids."""
    ids = list((await db.execute(select(Recording.id).where(
        Recording.legal_hold.is_(False), Recording.status != "purged", _open_complaints_condition()))).scalars())
    if ids and not dry_run:
        await db.execute(update(Recording).where(Recording.id.in_(ids)).values(legal_hold=True))
    return ids


async def purge(sessionmaker, settings, *, dry_run: bool = True, now: datetime | None = None,
                actor: str = "retention", storage=None) -> dict:
    """Remove audio past its kind's retention (0 days = keep forever), never on
    hold, from the store (:mod:`recordings.storage`); a row is marked purged
    only after its object is gone, so a store that refuses leaves it as it was."""
    from accounts.service import audit

    now = now or utcnow()
    storage = storage or storage_from_settings(settings)
    days = retention_days(settings)
    report = {"dry_run": dry_run, "retention_days": days, "held": [], "purged": [], "errors": []}
    async with sessionmaker() as db:
        report["held"] = await apply_legal_holds(db, dry_run=dry_run)
        held = set(report["held"])
        for kind, keep in days.items():
            if keep <= 0:
                continue
            cutoff = now - timedelta(days=keep)
            rows = (await db.execute(select(Recording).where(
                Recording.kind == kind, Recording.status.in_(("stored", "failed")),
                Recording.started_at < cutoff, Recording.legal_hold.is_(False)).order_by(Recording.id))).scalars().all()
            for rec in rows:
                if rec.id in held:
                    continue
                item = {"id": rec.id, "kind": kind, "started_at": rec.started_at.isoformat(),
                        "storage_path": rec.storage_path}
                if not dry_run:
                    try:
                        await asyncio.to_thread(_remove, storage, rec.storage_path)
                    except (OSError, StorageError) as exc:
                        report["errors"].append({**item, "error": str(exc)})
                        continue
                    rec.status = "purged"
                    rec.error = f"purged by retention ({keep} days for {kind}) on {now:%Y-%m-%d}"
                    rec.storage_path = None
                    await audit(db=db, actor=actor, action="recording.purge", target=str(rec.id),
                                detail={"kind": kind, "retention_days": keep, "call_id": rec.call_id})
                    log.info("recording %s purged (%s, started %s, retention %d days)", rec.id, kind,
                             rec.started_at.isoformat(), keep)
                report["purged"].append(item)
        if not dry_run:
            await db.commit()
    return report


def _remove(storage, rel: str | None) -> None:
    """Delete the audio and its peaks cache; a key outside the store (a tampered
    row) raises BadKey and nothing is deleted there."""
    if not rel:
        return
    storage.delete(rel)
    storage.delete(peaks_key(rel))
