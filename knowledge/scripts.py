"""Answer scripts (话术) by ticket type and language (``kb_scripts``; why a table of
their own: :class:`knowledge.models.AnswerScript`).

Everybody signed in reads them (the desk fetches the script of the ticket type
the agent picks); admins and experts write them. A save creates the script or
replaces its text under the optimistic lock: ``version`` the editor read, a
stale one is 409 (none given: the first save of that type and language, or a
409 if someone saved it meanwhile). Keyword-only functions; writers flush,
the view commits with the audit row.
"""
from __future__ import annotations

import json
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctidesk.db import claim_version, utcnow
from ctidesk.errors import Conflict, Forbidden, Invalid, NotFound
from knowledge.models import AnswerScript
from tickets.models import TICKET_TYPES

LANGS = ("zh-CN", "en")
EDITOR_ROLES = ("admin", "expert")
TEXT_MAX = 4000
QUESTIONS_MAX = 30
QUESTION_MAX = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_key(ticket_type: str | None, lang: str | None, where: str) -> None:
    if ticket_type is not None and ticket_type not in TICKET_TYPES:
        raise Invalid(f"ticket_type must be one of: {', '.join(TICKET_TYPES)}", field=f"{where}.ticket_type")
    if lang is not None and lang not in LANGS:
        raise Invalid(f"lang must be one of: {', '.join(LANGS)}", field=f"{where}.lang")


def _text(field: str, value, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text", field=f"body.{field}")
    value = value.strip()
    if len(value) > limit:
        raise Invalid(f"{field} is too long: at most {limit} characters", field=f"body.{field}")
    if _CONTROL.search(value):
        raise Invalid(f"{field} has control characters", field=f"body.{field}")
    return value


def _questions(values) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > QUESTIONS_MAX:
        raise Invalid(f"questions must be a list of at most {QUESTIONS_MAX} texts", field="body.questions")
    out = []
    for i, value in enumerate(values):
        text = _text(f"questions[{i}]", value, QUESTION_MAX)
        if text:
            out.append(text)
    return out


def script_dict(s: AnswerScript) -> dict:
    return {"ticket_type": s.ticket_type, "lang": s.lang, "opening": s.opening,
            "questions": json.loads(s.questions), "closing": s.closing, "version": s.version,
            "editor": s.editor, "updated_at": s.updated_at.isoformat() if s.updated_at else None}


async def _find(db: AsyncSession, ticket_type: str, lang: str) -> AnswerScript | None:
    stmt = select(AnswerScript).where(AnswerScript.ticket_type == ticket_type, AnswerScript.lang == lang)
    return (await db.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def exact(*, db: AsyncSession, ticket_type: str, lang: str) -> AnswerScript | None:
    """The script of that type in exactly that language, or None."""
    return await _find(db, ticket_type, lang)


async def find(*, db: AsyncSession, ticket_type: str | None = None, lang: str | None = None) -> list[AnswerScript]:
    """Scripts by type and language. Both given: that script, else the same type in
    the other language (an agent is better served by a script in English than
    by none), else nothing."""
    check_key(ticket_type, lang, "query")
    if ticket_type is not None and lang is not None:
        for candidate in (lang, *(other for other in LANGS if other != lang)):
            found = await _find(db, ticket_type, candidate)
            if found is not None:
                return [found]
        return []
    stmt = select(AnswerScript).order_by(AnswerScript.ticket_type, AnswerScript.lang)
    if ticket_type is not None:
        stmt = stmt.where(AnswerScript.ticket_type == ticket_type)
    if lang is not None:
        stmt = stmt.where(AnswerScript.lang == lang)
    return list((await db.execute(stmt)).scalars())


async def save(*, db: AsyncSession, actor: str, role: str, ticket_type: str, lang: str, opening=None,
               questions=None, closing=None, version: int | None = None) -> tuple[AnswerScript, dict | None]:
    """Create or replace a script: ``(script, what it said before or None)`` (flushed)."""
    if role not in EDITOR_ROLES:
        raise Forbidden(f"role {role!r} may not edit answer scripts (admin or expert may)")
    check_key(ticket_type, lang, "path")
    values = {"opening": _text("opening", opening, TEXT_MAX),
              "questions": json.dumps(_questions(questions), ensure_ascii=False),
              "closing": _text("closing", closing, TEXT_MAX)}
    if not (values["opening"] or values["closing"] or values["questions"] != "[]"):
        raise Invalid("a script needs an opening, a question or a closing", field="body.opening")
    row = await _find(db, ticket_type, lang)
    if row is None:
        if version is not None:
            raise NotFound(f"there is no {lang} script for {ticket_type} at version {version}")
        row = AnswerScript(ticket_type=ticket_type, lang=lang, version=1, editor=actor[:64], updated_at=utcnow(),
                           **values)
        db.add(row)
        await db.flush()
        return row, None
    expected = row.version if version is None else version
    if version is None:
        raise Conflict(f"the {lang} script for {ticket_type} exists (version {row.version}); "
                       "send the version you edited")
    before = script_dict(row)
    if not await claim_version(db, AnswerScript, row.id, expected):
        await db.refresh(row)
        raise Conflict(f"the {lang} script for {ticket_type} was changed by {row.editor}: it is at version "
                       f"{row.version}, not {expected}; reload it and edit again")
    await db.refresh(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.editor = actor[:64]
    row.updated_at = utcnow()
    await db.flush()
    return row, before
