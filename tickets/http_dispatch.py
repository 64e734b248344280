"""Service sites, technicians and dispatch. Thin: rules live in ``tickets.dispatch``.

Roles: any authenticated user reads sites and technicians and works the
dispatch of a ticket (the desk relays what the site says: accept, reject,
complete); creating, changing and deactivating sites and technicians needs
supervisor or admin. DELETE deactivates (tickets keep pointing at the row).

Errors: 404 for a missing ticket/site/technician; 409 when the ticket's state
does not allow the move or nothing fits (``{"detail", "state"}``) or a given
``version`` is stale (``{"detail", "current"}``); 422 naming the field.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.http import audit_request
from accounts.models import User
from accounts.security import current_user, require_roles
from ctidesk.deps import get_db
from tickets import dispatch

router = APIRouter(tags=["dispatch"])

_Item = Annotated[str, StringConstraints(strip_whitespace=True, max_length=dispatch.ITEM_MAX)]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
_supervisor = require_roles("supervisor")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteIn(_In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    regions: list[_Item] = Field(default_factory=list, max_length=50)
    skills: list[_Item] = Field(default_factory=list, max_length=50)
    phone: str | None = Field(None, max_length=64)
    active: bool = True


class SitePatch(_In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = None
    regions: list[_Item] | None = Field(None, max_length=50)
    skills: list[_Item] | None = Field(None, max_length=50)
    phone: str | None = Field(None, max_length=64)
    active: bool | None = None


class TechnicianIn(SiteIn):
    site_id: int | None = None


class TechnicianPatch(SitePatch):
    site_id: int | None = None


class SiteOut(BaseModel):
    id: int
    name: str
    regions: list[str]
    skills: list[str]
    phone: str | None
    active: bool


class TechnicianOut(SiteOut):
    site_id: int | None


class DispatchIn(_In):
    site_id: int | None = None
    technician_id: int | None = None
    appointment_start: AwareDatetime | None = None
    appointment_end: AwareDatetime | None = None
    version: int | None = None


class VersionIn(_In):
    version: int | None = None


class RejectIn(_In):
    reason: _Text
    version: int | None = None


class PartIn(_In):
    part: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    qty: int = Field(ge=1, le=100_000)


class CompleteIn(_In):
    resolution: _Text
    parts_used: list[PartIn] = Field(default_factory=list, max_length=100)
    fee: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    version: int | None = None


def _error(exc: dispatch.DispatchError) -> JSONResponse:
    if isinstance(exc, dispatch.NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, dispatch.InvalidField):
        value = exc.value if isinstance(exc.value, (str, int, float, type(None))) else str(exc.value)
        return JSONResponse({"detail": [{"loc": ["body", exc.field], "msg": exc.message,
                                         "type": "value_error", "input": value}]}, status_code=422)
    if isinstance(exc, dispatch.StaleVersion):
        return JSONResponse({"detail": exc.message, "current": dispatch.ticket_view(exc.ticket)},
                            status_code=409)
    if isinstance(exc, dispatch.Conflict):
        return JSONResponse({"detail": exc.message, "state": exc.ticket and exc.ticket.state},
                            status_code=409)
    raise exc


# --- sites and technicians: the same five routes over two kinds --------------------

async def _create(kind: str, create, view, body: BaseModel, request: Request, user: User,
                  db: AsyncSession):
    try:
        row = await create(db=db, **body.model_dump())
    except dispatch.DispatchError as exc:
        return _error(exc)
    await audit_request(db, request, user, f"{kind}.create", f"{kind}:{row.id}", view(row))
    await db.commit()
    return view(row)


async def _get(get, view, db: AsyncSession, **ident):
    try:
        return view(await get(db=db, **ident))
    except dispatch.DispatchError as exc:
        return _error(exc)


async def _update(kind: str, update, view, changes: dict, request: Request, user: User,
                  db: AsyncSession, **ident):
    """``changes`` of ``None`` deactivates (DELETE); otherwise a PATCH with those fields."""
    (row_id,) = ident.values()
    try:
        row = await update(db=db, changes={"active": False} if changes is None else changes, **ident)
    except dispatch.DispatchError as exc:
        return _error(exc)
    if changes is None:
        await audit_request(db, request, user, f"{kind}.deactivate", f"{kind}:{row_id}", {})
        await db.commit()
        return Response(status_code=204)
    await audit_request(db, request, user, f"{kind}.update", f"{kind}:{row.id}", {"fields": sorted(changes)})
    await db.commit()
    return view(row)


@router.get("/api/v1/sites")
async def list_sites(active: bool | None = None, region: str | None = Query(None, max_length=80),
                     user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    sites = await dispatch.list_sites(db=db, active=active, region=region)
    return {"items": [dispatch.site_dict(s) for s in sites], "total": len(sites)}


@router.post("/api/v1/sites", response_model=SiteOut, status_code=201)
async def create_site(body: SiteIn, request: Request, user: User = Depends(_supervisor),
                      db: AsyncSession = Depends(get_db)):
    return await _create("site", dispatch.create_site, dispatch.site_dict, body, request, user, db)


@router.get("/api/v1/sites/{site_id}", response_model=SiteOut)
async def get_site(site_id: int, user: User = Depends(current_user),
                   db: AsyncSession = Depends(get_db)):
    return await _get(dispatch.get_site, dispatch.site_dict, db, site_id=site_id)


@router.patch("/api/v1/sites/{site_id}", response_model=SiteOut)
async def patch_site(site_id: int, body: SitePatch, request: Request,
                     user: User = Depends(_supervisor), db: AsyncSession = Depends(get_db)):
    return await _update("site", dispatch.update_site, dispatch.site_dict,
                         body.model_dump(exclude_unset=True), request, user, db, site_id=site_id)


@router.delete("/api/v1/sites/{site_id}", status_code=204)
async def deactivate_site(site_id: int, request: Request, user: User = Depends(_supervisor),
                          db: AsyncSession = Depends(get_db)):
    return await _update("site", dispatch.update_site, dispatch.site_dict, None, request, user, db,
                         site_id=site_id)


@router.get("/api/v1/technicians")
async def list_technicians(active: bool | None = None, site_id: int | None = None,
                           region: str | None = Query(None, max_length=80),
                           user: User = Depends(current_user),
                           db: AsyncSession = Depends(get_db)) -> dict:
    techs = await dispatch.list_technicians(db=db, active=active, site_id=site_id, region=region)
    return {"items": [dispatch.technician_dict(t) for t in techs], "total": len(techs)}


@router.post("/api/v1/technicians", response_model=TechnicianOut, status_code=201)
async def create_technician(body: TechnicianIn, request: Request, user: User = Depends(_supervisor),
                            db: AsyncSession = Depends(get_db)):
    return await _create("technician", dispatch.create_technician, dispatch.technician_dict, body,
                         request, user, db)


@router.get("/api/v1/technicians/{technician_id}", response_model=TechnicianOut)
async def get_technician(technician_id: int, user: User = Depends(current_user),
                         db: AsyncSession = Depends(get_db)):
    return await _get(dispatch.get_technician, dispatch.technician_dict, db,
                      technician_id=technician_id)


@router.patch("/api/v1/technicians/{technician_id}", response_model=TechnicianOut)
async def patch_technician(technician_id: int, body: TechnicianPatch, request: Request,
                           user: User = Depends(_supervisor), db: AsyncSession = Depends(get_db)):
    return await _update("technician", dispatch.update_technician, dispatch.technician_dict,
                         body.model_dump(exclude_unset=True), request, user, db,
                         technician_id=technician_id)


@router.delete("/api/v1/technicians/{technician_id}", status_code=204)
async def deactivate_technician(technician_id: int, request: Request,
                                user: User = Depends(_supervisor), db: AsyncSession = Depends(get_db)):
    return await _update("technician", dispatch.update_technician, dispatch.technician_dict, None,
                         request, user, db, technician_id=technician_id)


# --- dispatching a ticket -----------------------------------------------------------

async def _moved(db: AsyncSession, request: Request, user: User, action: str, ticket, detail: dict) -> dict:
    """Audit ``action`` on ``ticket`` and commit: the ticket's view."""
    await audit_request(db, request, user, action, f"ticket:{ticket.id}", detail)
    await db.commit()
    return dispatch.ticket_view(ticket)


@router.get("/api/v1/tickets/{ticket_id}/dispatch/suggestions")
async def suggestions(ticket_id: int, user: User = Depends(current_user),
                      db: AsyncSession = Depends(get_db)):
    try:
        ticket = await dispatch.get_ticket(db=db, ticket_id=ticket_id)
    except dispatch.DispatchError as exc:
        return _error(exc)
    items = await dispatch.suggest(db=db, ticket=ticket)
    return {"ticket_id": ticket.id, "region": await dispatch.ticket_region(db=db, ticket=ticket),
            "items": [s.to_dict() for s in items]}


@router.post("/api/v1/tickets/{ticket_id}/dispatch")
async def dispatch_ticket(ticket_id: int, request: Request,
                          body: DispatchIn | None = Body(None),
                          user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    """Send the ticket out; an empty body (or no site and no technician) picks
    the best suggestion, and 409 says so when none fits."""
    body = body or DispatchIn()
    try:
        ticket, chosen = await dispatch.dispatch(db=db, actor=user.username, ticket_id=ticket_id,
                                                 **body.model_dump())
    except dispatch.DispatchError as exc:
        return _error(exc)
    await audit_request(db, request, user, "ticket.dispatch", f"ticket:{ticket.id}",
                        {"site_id": ticket.site_id, "technician_id": ticket.technician_id,
                         "auto": chosen is not None, "version": ticket.version})
    await db.commit()
    return {**dispatch.ticket_view(ticket), "suggestion": chosen and chosen.to_dict()}


@router.post("/api/v1/tickets/{ticket_id}/dispatch/accept")
async def accept(ticket_id: int, request: Request, body: VersionIn | None = Body(None),
                 user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        ticket = await dispatch.accept(db=db, actor=user.username, ticket_id=ticket_id,
                                       version=body and body.version)
    except dispatch.DispatchError as exc:
        return _error(exc)
    return await _moved(db, request, user, "ticket.dispatch_accept", ticket,
                        {"site_id": ticket.site_id, "version": ticket.version})


@router.post("/api/v1/tickets/{ticket_id}/dispatch/reject")
async def reject(ticket_id: int, body: RejectIn, request: Request,
                 user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        before = await dispatch.get_ticket(db=db, ticket_id=ticket_id)
        site_id = before.site_id  # cleared below
        ticket = await dispatch.reject(db=db, actor=user.username, ticket_id=ticket_id,
                                       reason=body.reason, version=body.version)
    except dispatch.DispatchError as exc:
        return _error(exc)
    return await _moved(db, request, user, "ticket.dispatch_reject", ticket,
                        {"site_id": site_id, "reason": body.reason, "version": ticket.version})


@router.post("/api/v1/tickets/{ticket_id}/dispatch/complete")
async def complete(ticket_id: int, body: CompleteIn, request: Request,
                   user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        ticket = await dispatch.complete(
            db=db, actor=user.username, ticket_id=ticket_id, resolution=body.resolution,
            parts_used=[p.model_dump() for p in body.parts_used], fee=body.fee,
            version=body.version)
    except dispatch.DispatchError as exc:
        return _error(exc)
    return await _moved(db, request, user, "ticket.dispatch_complete", ticket,
                        {"site_id": ticket.site_id, "fee": f"{body.fee:.2f}",
                         "parts": len(body.parts_used), "version": ticket.version})
