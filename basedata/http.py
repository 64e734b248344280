"""Base data API and the admin pages. Thin: rules live in ``basedata.service``.

Admin only. ``kind`` is one of ``sla``, ``calendar``, ``pause_reasons``, ``ivr``.

* ``GET /api/v1/basedata/{kind}``: the document in force, its ``version`` (0: the
  TOML file) and ``source``.
* ``PUT /api/v1/basedata/{kind}`` ``{version, body, comment}``: save the next
  version on base ``version``; 422 lists every problem with its path, 409 when
  someone saved since.
* ``POST /api/v1/basedata/{kind}/check`` ``{body}``: the problems, nothing stored.
* ``GET /api/v1/basedata/{kind}/versions[/{n}]``, ``POST .../versions/{n}/restore``
  ``{version}``: history, and an old version saved again (checked again).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.security import require_roles
from agent_desk.pages import add_pages
from basedata import service
from basedata.live import Current, LiveBaseData
from ctidesk.deps import client_ip, get_container, get_db

router = APIRouter(prefix="/api/v1/basedata", tags=["basedata"])
pages_router = APIRouter()
add_pages(pages_router, {"/admin": "admin.html"})

Kind = Literal["sla", "calendar", "pause_reasons", "ivr"]
_admin = require_roles("admin")


class SaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=0, description="the version the edit started from (0: the file)")
    body: dict[str, Any]
    comment: str = Field("", max_length=500)


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: dict[str, Any]


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=0, description="the version in force when the restore was asked")


class ProblemOut(BaseModel):
    path: str
    message: str
    severity: str


class DocumentOut(BaseModel):
    kind: str
    version: int
    source: str
    body: dict
    saved_by: str | None
    saved_at: datetime | None
    comment: str
    warnings: list[ProblemOut] = []


class VersionOut(BaseModel):
    version: int
    saved_by: str
    saved_at: datetime
    comment: str


def _problems(problems) -> list[ProblemOut]:
    return [ProblemOut(path=p.path, message=p.message, severity=p.severity) for p in problems]


def _out(doc: Current, warnings=()) -> DocumentOut:
    return DocumentOut(kind=doc.kind, version=doc.version, source=doc.source, body=doc.body,
                       saved_by=doc.saved_by, saved_at=doc.saved_at, comment=doc.comment,
                       warnings=_problems(warnings))


def live_of(container=Depends(get_container)) -> LiveBaseData:
    return container.basedata


@router.get("/{kind}", response_model=DocumentOut)
async def get_document(kind: Kind, db: AsyncSession = Depends(get_db), live=Depends(live_of),
                       user: User = Depends(_admin)):
    return _out(await service.get(db=db, live=live, kind=kind))


@router.put("/{kind}", response_model=DocumentOut)
async def save_document(kind: Kind, body: SaveIn, request: Request, db: AsyncSession = Depends(get_db),
                        live=Depends(live_of), user: User = Depends(_admin)):
    doc, warnings = await service.save(db=db, live=live, kind=kind, body=body.body, base_version=body.version,
                                       actor=user.username, comment=body.comment, ip=client_ip(request))
    return _out(doc, warnings)


@router.post("/{kind}/check")
async def check_document(kind: Kind, body: CheckIn, live=Depends(live_of), user: User = Depends(_admin)):
    problems = service.check(live=live, kind=kind, body=body.body)
    return {"valid": not any(p.severity == "error" for p in problems), "problems": _problems(problems)}


@router.get("/{kind}/versions", response_model=list[VersionOut])
async def list_versions(kind: Kind, db: AsyncSession = Depends(get_db), live=Depends(live_of),
                        user: User = Depends(_admin)):
    return [VersionOut(version=r.version, saved_by=r.saved_by, saved_at=r.saved_at, comment=r.comment)
            for r in await service.history(db=db, live=live, kind=kind)]


@router.get("/{kind}/versions/{number}", response_model=DocumentOut)
async def get_version(kind: Kind, number: int, db: AsyncSession = Depends(get_db), user: User = Depends(_admin)):
    return _out(await service.version(db=db, kind=kind, number=number))


@router.post("/{kind}/versions/{number}/restore", response_model=DocumentOut)
async def restore_version(kind: Kind, number: int, body: RestoreIn, request: Request,
                          db: AsyncSession = Depends(get_db), live=Depends(live_of), user: User = Depends(_admin)):
    doc, warnings = await service.restore(db=db, live=live, kind=kind, number=number, base_version=body.version,
                                          actor=user.username, ip=client_ip(request))
    return _out(doc, warnings)
