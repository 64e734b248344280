"""Voicemail files and how one is filed: the name a message's file carries and
the ticket, recording link, callback and audit it becomes.

Recordings own this (not the IVR): the IVR files the messages it takes, and
the recordings reconcile files one the IVR never could, from the file name
alone. Keeping it here makes the dependency one-way (ivr -> recordings).
"""
from __future__ import annotations

import time
from datetime import datetime


def voicemail_stem(intent: str, ticket_type: str, call_id: str) -> str:
    """``<UTC stamp>__<intent>__<ticket type>__<call id>``: a voicemail's file name.

    The name carries everything a ticket needs besides the caller, so that a
    message whose row and ticket were never written (our process died between
    ``RECORD FILE`` and the commit, or the commit failed) is still filed by the
    recordings reconcile from the file alone plus the call row
    (:func:`parse_voicemail_stem`)."""
    def safe(text: str) -> str:
        return "".join(c for c in text if c.isalnum() or c in ".-")[:64] or "x"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stamp}__{safe(intent)}__{safe(ticket_type)}__{safe(call_id)}"


def parse_voicemail_stem(stem: str) -> tuple[str | None, str, str]:
    """(intent, ticket type, call id) of a :func:`voicemail_stem`; a name in any
    other shape still gives a call id (the whole stem) and a ``callback`` ticket."""
    from tickets.models import TICKET_TYPES

    parts = stem.split("__")
    if len(parts) == 4:
        _, intent, ticket_type, call_id = parts
        return intent, ticket_type if ticket_type in TICKET_TYPES else "callback", call_id
    return None, "callback", stem


async def file_voicemail(db, *, actor: str, ticket_type: str, customer_id: int, call_id: str | None,
                         intent: str | None, description: str, priority: str, recording, dialable: bool,
                         due: datetime | None, notes: str, audit_extra: dict | None = None):
    """Ticket, recording link, callback (a dialable caller only) and audit for
    one voicemail: (ticket, callback or None), flushed, not committed. The IVR
    files its voicemails through this, and so does the recordings reconcile
    for one the IVR never filed; ``recording`` is a ``voicemail`` row (new
    or already flushed) or None when nothing was said."""
    from accounts.service import audit
    from recordings.models import RecordingTicket
    from tickets import callbacks, service as tickets

    ticket = await tickets.create(db=db, actor=actor, type=ticket_type, customer_id=customer_id,
                                  description=description, call_id=call_id, priority=priority)
    if recording is not None:
        db.add(recording)
        await db.flush()
        db.add(RecordingTicket(recording_id=recording.id, ticket_id=ticket.id))
    callback = None
    if dialable:
        callback = await callbacks.create(db=db, actor=actor, role="supervisor", customer_id=customer_id,
                                          ticket_id=ticket.id, due_at=due, reason="voicemail",
                                          notes=f"{notes}, ticket {ticket.id}")
    await audit(db=db, actor=actor, action="ivr.voicemail", target=f"ticket:{ticket.id}",
                detail={"call_id": call_id, "intent": intent, "recording_id": recording.id if recording else None,
                        **(audit_extra or {})})
    return ticket, callback
