"""The post-call satisfaction survey (满意度评价, issue 14).

When the agent hangs up, Queue() (option ``c``) lets the caller go on in the
dialplan to ``[ctidesk-survey]``, which runs ``AGI(.../survey)`` on our
FastAGI server; a caller who hangs up first never gets there. The server
(:meth:`ivr.agi.FastAGIServer`) decides whether the call's queue is surveyed
(``[survey] queues``), asks here (:func:`ask`), and stores the answer through
:func:`record`: one ``call_surveys`` row per call, and for a score at or under
``low_score`` exactly one callback to the customer, made in the same
transaction as the row, so a repeated survey or a retried write can make
neither twice.

The dialog: the question (interruptible by any key), then ``timeout`` seconds
for a key. 1-5 is the score ("thank you"). Anything else (0, 6-9, ``*``,
``#``) or silence asks again after the invalid/no-input prompt, up to
``retries`` times, then the goodbye prompt ends it politely with no score.
Every key pressed is kept (``dtmf``), so "keyed 9, then nothing" is visible.

Reading: :func:`surveys_for` (the calls API shows each call's survey) and
:func:`agent_figures` (the workload report: surveys, average and low scores
per agent).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.config import Survey
from ivr.engine import ALL_KEYS, CallerHungUp, Channel
from ivr.models import CallSurvey

log = logging.getLogger(__name__)

SCORES = "12345"
OUTCOMES = ("scored", "invalid", "no_input", "hangup")
SYSTEM_ACTOR = "system:survey"  # who the audit log and the callback's history name


@dataclass(frozen=True)
class SurveyResult:
    score: int | None
    dtmf: str  # every key pressed, in order
    outcome: str  # scored | invalid | no_input | hangup
    asked: int  # how many times the question was played


def is_low(score: int | None, low_score: int) -> bool:
    """A score at or under the threshold opens a callback (``low_score`` 0: never)."""
    return score is not None and low_score > 0 and score <= low_score


async def ask(channel: Channel, survey: Survey, sound: Callable[[str], str]) -> SurveyResult:
    """Ask for a score; never raises :class:`CallerHungUp` (a hang-up is an outcome)."""
    keys = ""
    asked = 0
    lead: str | None = None
    last = "no_input"
    try:
        while True:
            asked += 1
            # the channel says which question is being asked: the dialplan, `core show
            # channel` and the real-tier tests (which key only once it is asked) see it
            await channel.set_var("SURVEY_ASKED", str(asked))
            key = None
            for prompt in ([lead] if lead else []) + list(survey.prompts):
                key = await channel.play(sound(prompt), ALL_KEYS)
                if key:
                    break
            if not key:
                key = await channel.wait_digit(survey.timeout)
            if key:
                keys += key
            if key and key in SCORES:
                if survey.thanks_prompt:
                    try:
                        await channel.play(sound(survey.thanks_prompt), "")
                    except CallerHungUp:
                        pass  # the score is in; hanging up on the thank-you is fine
                return SurveyResult(int(key), keys, "scored", asked)
            last = "invalid" if key else "no_input"
            if asked > survey.retries:
                if survey.goodbye_prompt:
                    try:
                        await channel.play(sound(survey.goodbye_prompt), "")
                    except CallerHungUp:
                        pass
                return SurveyResult(None, keys, last, asked)
            lead = survey.invalid_prompt if key else (survey.no_input_prompt or survey.invalid_prompt)
    except CallerHungUp:
        return SurveyResult(None, keys, "hangup", asked)


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def already_surveyed(*, db: AsyncSession, call_id: str) -> bool:
    return (await db.execute(select(CallSurvey.id).where(CallSurvey.call_id == call_id))).first() is not None


async def _ticket_of_call(db: AsyncSession, call_id: str, customer_id: int) -> int | None:
    """The newest ticket of this customer the call opened or was linked to: the
    callback shows in its history."""
    from tickets.models import Ticket, TicketCall

    linked = select(TicketCall.ticket_id).where(TicketCall.call_id == call_id)
    return (await db.execute(select(Ticket.id).where(
        Ticket.customer_id == customer_id, or_(Ticket.call_id == call_id, Ticket.id.in_(linked)))
        .order_by(Ticket.id.desc()).limit(1))).scalar_one_or_none()


async def record(*, db: AsyncSession, call_id: str, agent_username: str | None, queue: str | None,
                 result: SurveyResult, language: str | None, low_score: int, customer_id: int | None,
                 dialable: bool, now: datetime | None = None):
    """Store one call's survey: ``(row, callback)``, flushed, not committed.

    ``(None, None)`` when the call already has a survey (``INSERT ... ON
    CONFLICT DO NOTHING`` on the unique call id): nothing is written twice, and
    the callback is only ever made by the write that inserted the row. A low
    score of a caller we cannot call back (anonymous number, no customer)
    opens no callback; the row still says it was low.
    """
    from accounts.service import audit
    from tickets import callbacks

    low = is_low(result.score, low_score)
    values = {"call_id": call_id[:64], "agent_username": (agent_username or None) and agent_username[:64],
              "queue": (queue or None) and queue[:64], "score": result.score, "dtmf": result.dtmf[:32],
              "outcome": result.outcome, "language": (language or None) and language[:16], "low": low}
    if now is not None:
        values["created_at"] = now
    stmt = (_insert(db.bind.dialect.name)(CallSurvey).values(**values)
            .on_conflict_do_nothing(index_elements=["call_id"]).returning(CallSurvey.id))
    survey_id = (await db.execute(stmt)).scalar_one_or_none()
    if survey_id is None:
        log.info("call %s already has a survey: this one (%s) is not stored", call_id, result.outcome)
        return None, None
    row = await db.get(CallSurvey, survey_id)
    callback = None
    if low and customer_id is not None and dialable:
        who = agent_username or "(unknown agent)"
        callback = await callbacks.create(
            db=db, actor=SYSTEM_ACTOR, role="supervisor", customer_id=customer_id,
            ticket_id=await _ticket_of_call(db, call_id, customer_id), reason="survey",
            notes=f"Post-call survey: the caller scored {result.score}/5 (agent {who}, queue {queue or '-'}, "
                  f"call {call_id}). Call back to find out what went wrong.")
        row.callback_id = callback.id
    await audit(db=db, actor=SYSTEM_ACTOR, action="ivr.survey", target=f"call:{call_id}",
                detail={"score": result.score, "outcome": result.outcome, "dtmf": result.dtmf,
                        "agent": agent_username, "queue": queue, "low": low,
                        "callback_id": callback.id if callback else None})
    await db.flush()
    return row, callback


def survey_dict(row: CallSurvey | None) -> dict | None:
    if row is None:
        return None
    return {"score": row.score, "outcome": row.outcome, "dtmf": row.dtmf, "low": row.low,
            "agent": row.agent_username, "queue": row.queue, "language": row.language,
            "callback_id": row.callback_id, "at": row.created_at.isoformat() if row.created_at else None}


async def surveys_for(*, db: AsyncSession, call_ids: list[str]) -> dict[str, dict]:
    """``{call_id: survey}`` for the calls that have one (one indexed lookup)."""
    if not call_ids:
        return {}
    rows = (await db.execute(select(CallSurvey).where(CallSurvey.call_id.in_(call_ids)))).scalars()
    return {r.call_id: survey_dict(r) for r in rows}


async def agent_figures(*, db: AsyncSession, start: datetime, end: datetime) -> dict[str, dict]:
    """Per agent, surveys answered in ``start <= created_at < end``: ``surveys``
    (with a score), ``avg_score`` (of those, 2 decimals; None with none) and
    ``low_scores`` (at or under the threshold in force when each was given)."""
    rows = (await db.execute(
        select(CallSurvey.agent_username, func.count(CallSurvey.score), func.avg(CallSurvey.score),
               func.sum(case((CallSurvey.low, 1), else_=0)))
        .where(CallSurvey.created_at >= start, CallSurvey.created_at < end,
               CallSurvey.agent_username.is_not(None), CallSurvey.score.is_not(None))
        .group_by(CallSurvey.agent_username))).all()
    return {user: {"surveys": n, "avg_score": None if avg is None else round(float(avg), 2),
                   "low_scores": int(low or 0)}
            for user, n, avg, low in rows}
