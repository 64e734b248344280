"""Saving, listing and restoring base data documents (``config_documents``).

A save is: check the whole document with its file's rules (nothing stored on
any problem), insert the next version and its audit row in one transaction,
then swap the live objects in this process. The version a client edited is
its base: a save on a stale base is a :class:`~ctidesk.errors.Conflict` (two
admins editing at once), never a silent overwrite. The per-kind lock keeps
"check, write, swap" of two saves in this process from interleaving; the
unique ``(kind, version)`` catches two processes.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service as accounts
from basedata.live import KINDS, Current, DocumentInvalid, LiveBaseData, Problem
from basedata.models import ConfigDocument
from ctidesk.db import utcnow
from ctidesk.errors import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024  # characters of JSON: a large IVR is a few tens of KB


class DocumentRejected(Invalid):
    """422 listing every problem with its path (``levels.complaint.respond_within``)."""

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        first = problems[0] if problems else Problem("(document)", "invalid")
        super().__init__(f"{len(problems)} problem(s) in the {kind} document", field=f"body.{first.path}")
        self.problems = [{"loc": ["body", "body", p.path], "path": p.path, "msg": p.message,
                          "type": "value_error", "severity": p.severity} for p in problems]


def _current(row: ConfigDocument) -> Current:
    return Current(kind=row.kind, version=row.version, body=json.loads(row.body), source="database",
                   saved_by=row.saved_by, saved_at=row.saved_at, comment=row.comment)


async def _newest(db: AsyncSession, kind: str) -> ConfigDocument | None:
    return (await db.execute(select(ConfigDocument).where(ConfigDocument.kind == kind)
                             .order_by(ConfigDocument.version.desc()).limit(1))).scalar_one_or_none()


async def hydrate(*, live: LiveBaseData, sessionmaker) -> list[str]:
    """Put the newest stored version of each kind in force (at start). The calendar
    first: the others are checked on it. A stored version that no longer passes
    its checks (a prompt file removed, say) is logged and its file serves."""
    loaded = []
    async with sessionmaker() as db:
        for kind in ("calendar", "sla", "pause_reasons", "ivr"):
            row = await _newest(db, kind)
            if row is None:
                continue
            current = _current(row)
            try:
                live.apply(live.check(kind, current.body), current)
            except DocumentInvalid as exc:
                log.error("stored %s version %d no longer passes its checks; its file serves: %s",
                          kind, row.version, exc)
                continue
            loaded.append(f"{kind} v{row.version}")
    live.hydrated = True
    return loaded


async def _ready(live: LiveBaseData, db: AsyncSession) -> None:
    if not live.hydrated:
        await hydrate(live=live, sessionmaker=lambda: _Borrowed(db))


class _Borrowed:
    """The request's own session as an ``async with`` (hydrating on first use)."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def __aenter__(self) -> AsyncSession:
        return self.db

    async def __aexit__(self, *exc) -> None:
        return None


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound(f"no base data kind {kind!r} (use {', '.join(KINDS)})")
    return kind


async def get(*, db: AsyncSession, live: LiveBaseData, kind: str) -> Current:
    _kind(kind)
    await _ready(live, db)
    return live.current(kind)


def check(*, live: LiveBaseData, kind: str, body) -> list[Problem]:
    """Problems of ``body`` as the next version (warnings included); stores nothing."""
    try:
        return live.check(_kind(kind), body).warnings
    except DocumentInvalid as exc:
        return exc.problems


def summarize(old: dict, new: dict) -> str:
    """What a save changed, in a line for the audit log: keys added, removed, changed
    (two levels deep: ``+holidays``, ``~nodes.main``)."""
    def flat(d: dict) -> dict:
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and v:
                for k2, v2 in v.items():
                    out[f"{k}.{k2}"] = v2
            else:
                out[str(k)] = v
        return out
    a, b = flat(old or {}), flat(new or {})
    parts = [f"+{k}" for k in b if k not in a] + [f"-{k}" for k in a if k not in b]
    parts += [f"~{k}" for k in b if k in a and a[k] != b[k]]
    if not parts:
        return "no change"
    return ", ".join(parts[:8]) + (f" (+{len(parts) - 8} more)" if len(parts) > 8 else "")


async def save(*, db: AsyncSession, live: LiveBaseData, kind: str, body, base_version: int, actor: str,
               comment: str = "", ip: str | None = None, restored_from: int | None = None) -> tuple[Current, list]:
    """Check, store as the next version, audit, and put it in force. Returns the new
    current document and the warnings. Raises :class:`DocumentRejected` (nothing
    stored, the last good version stays live) or ``Conflict`` (stale base)."""
    _kind(kind)
    await _ready(live, db)
    text = json.dumps(body, ensure_ascii=False)
    if len(text) > MAX_BODY:
        raise DocumentRejected(kind, [Problem("(document)", f"larger than {MAX_BODY} characters")])
    async with live.locks[kind]:
        current = live.current(kind)
        if base_version != current.version:
            raise Conflict(f"{kind} was saved as version {current.version} by {current.saved_by or 'its file'} "
                           f"since you loaded version {base_version}; reload and apply your change again")
        try:
            checked = live.check(kind, body)
        except DocumentInvalid as exc:
            raise DocumentRejected(kind, exc.problems) from None
        row = ConfigDocument(kind=kind, version=current.version + 1, body=text, saved_by=actor[:64],
                             saved_at=utcnow(), comment=(comment or "")[:500])
        db.add(row)
        detail = {"kind": kind, "version": row.version, "base": base_version,
                  "summary": summarize(current.body, body)[:400], "comment": row.comment}
        if restored_from is not None:
            detail["restored_from"] = restored_from
        await accounts.audit(db=db, actor=actor, action="basedata.restore" if restored_from else "basedata.save",
                             target=f"{kind}:v{row.version}", detail=detail, ip=ip)
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            raise Conflict(f"{kind} version {row.version} was saved by someone else a moment ago; "
                           "reload and apply your change again") from None
        new = _current(row)
        live.apply(checked, new)
        return new, checked.warnings


async def history(*, db: AsyncSession, live: LiveBaseData, kind: str) -> list[ConfigDocument]:
    _kind(kind)
    await _ready(live, db)
    return list((await db.execute(select(ConfigDocument).where(ConfigDocument.kind == kind)
                                  .order_by(ConfigDocument.version.desc()))).scalars())


async def version(*, db: AsyncSession, kind: str, number: int) -> Current:
    row = (await db.execute(select(ConfigDocument).where(ConfigDocument.kind == _kind(kind),
                                                         ConfigDocument.version == number))).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{kind} has no version {number}")
    return _current(row)


async def restore(*, db: AsyncSession, live: LiveBaseData, kind: str, number: int, base_version: int,
                  actor: str, ip: str | None = None) -> tuple[Current, list]:
    """Save an old version again as the newest (checked again: the rules or the
    calendar may have changed since)."""
    old = await version(db=db, kind=kind, number=number)
    return await save(db=db, live=live, kind=kind, body=old.body, base_version=base_version, actor=actor,
                      comment=f"restored version {number}", ip=ip, restored_from=number)
