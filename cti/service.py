"""Queries on persisted calls (keyword-only, session injected)."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.models import CallRecord


def call_dict(c: CallRecord) -> dict:
    duration = None
    if c.answered_at and c.ended_at:
        duration = round((c.ended_at - c.answered_at).total_seconds())
    return {
        "id": c.call_id, "direction": c.direction, "caller_number": c.caller_number_raw,
        "caller_number_normalized": c.caller_number, "caller_name": c.caller_name,
        "called_number": c.called_number, "queue": c.queue, "agent": c.agent_username or c.agent,
        "customer_id": c.customer_id,
        "started_at": c.created_at.isoformat() if c.created_at else None,
        "enqueued_at": c.enqueued_at.isoformat() if c.enqueued_at else None,
        "ringing_at": c.ringing_at.isoformat() if c.ringing_at else None,
        "answered_at": c.answered_at.isoformat() if c.answered_at else None,
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "hold_time_s": c.hold_time_s, "duration_s": duration, "outcome": c.outcome, "cause": c.cause,
        "ivr_path": json.loads(c.ivr_path) if c.ivr_path else [],
        "transferred_from": c.transferred_from,  # issue 11
        # everyone who had the call, in order (a transfer keeps the call id)
        "agents": [a for a in (c.transferred_from, c.agent_username or c.agent) if a],
    }


async def get(*, db: AsyncSession, call_id: str) -> CallRecord | None:
    return (await db.execute(select(CallRecord).where(CallRecord.call_id == call_id))).scalar_one_or_none()


async def history(*, db: AsyncSession, customer_id: int | None, numbers: list[str],
                  exclude_call_id: str | None = None, limit: int = 10) -> list[CallRecord]:
    """The caller's last calls: by customer when known, else by number."""
    conds = []
    if customer_id is not None:
        conds.append(CallRecord.customer_id == customer_id)
    if numbers:
        conds.append(CallRecord.caller_number.in_(numbers))
    if not conds:
        return []
    q = select(CallRecord).where(or_(*conds))
    if exclude_call_id:
        q = q.where(CallRecord.call_id != exclude_call_id)
    q = q.order_by(CallRecord.created_at.desc()).limit(limit)
    return list((await db.execute(q)).scalars())


async def search(*, db: AsyncSession, start: datetime | None = None, end: datetime | None = None,
                 numbers: list[str] | None = None, agent: str | None = None, queue: str | None = None,
                 limit: int = 50, offset: int = 0) -> list[CallRecord]:
    q = select(CallRecord)
    if start is not None:
        q = q.where(CallRecord.created_at >= start)
    if end is not None:
        q = q.where(CallRecord.created_at < end)
    if numbers:
        q = q.where(CallRecord.caller_number.in_(numbers) | CallRecord.caller_number_raw.in_(numbers)
                    | CallRecord.called_number.in_(numbers))
    if agent:  # the agent who has it, or the one who transferred it away
        q = q.where((CallRecord.agent_username == agent) | (CallRecord.transferred_from == agent))
    if queue:
        q = q.where(CallRecord.queue == queue)
    q = q.order_by(CallRecord.created_at.desc(), CallRecord.id.desc()).limit(limit).offset(offset)
    return list((await db.execute(q)).scalars())
