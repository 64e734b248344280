"""Tickets API. Thin: rules live in ``tickets.service`` and ``tickets.states``.

Roles: any authenticated role may create, read, edit, comment on, link
calls to and transition tickets (agents work them), except that moving a
ticket to ``cancelled`` and reopening a ``closed`` one need supervisor or
admin (403 otherwise; see ``tickets.states``). Every write is audited in the
same transaction as the change.

Errors: 404 for a missing ticket; 409 for an illegal transition
(``{"detail", "legal"}``) or a stale ``version`` (``{"detail", "current"}``,
the ticket as it is now); 422 naming the field, in the shape FastAPI uses,
with this package's own messages in the caller's ``Accept-Language``
(English or Chinese).
"""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.http import audit_request
from accounts.models import User
from accounts.security import current_user
from ctidesk.deps import get_db
from tickets import service, states
from tickets.schemas import (CommentIn, HistoryOut, LinkCallIn, LinkOut, TicketDetail, TicketIn,
                             TicketPage, TicketPatch, TransitionIn, language, message)

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

_ERRORS = (service.InvalidInput, service.TicketNotFound, service.StaleVersion,
           states.IllegalTransition, states.NotAllowed, states.MissingField)


def _lang(request: Request) -> str:
    return language(request.headers.get("accept-language"))


def _error(exc: Exception, lang: str, where: str = "body") -> JSONResponse:
    """The HTTP answer for a domain error of the service or the state machine."""
    if isinstance(exc, service.InvalidInput):
        return JSONResponse({"detail": [{"loc": [where, e.field], "msg": e.message(lang),
                                         "type": e.code} for e in exc.errors]}, status_code=422)
    if isinstance(exc, states.MissingField):
        return JSONResponse({"detail": [{
            "loc": ["body", exc.field], "type": "missing",
            "msg": message("required_for_state", lang, field=exc.field,
                           state=_target(exc.field))}]}, status_code=422)
    if isinstance(exc, service.TicketNotFound):
        return JSONResponse({"detail": message("ticket_not_found", lang, id=exc.ticket_id)},
                            status_code=404)
    if isinstance(exc, service.StaleVersion):
        return JSONResponse({"detail": message("stale", lang, id=exc.current.id,
                                               version=exc.current.version),
                             "current": service.ticket_dict(exc.current)}, status_code=409)
    if isinstance(exc, states.IllegalTransition):
        legal = ", ".join(exc.legal) or message("no_state", lang)
        return JSONResponse({"detail": message("illegal_transition", lang, old=exc.old, new=exc.new,
                                               legal=legal), "legal": list(exc.legal)},
                            status_code=409)
    if isinstance(exc, states.NotAllowed):
        return JSONResponse({"detail": message("forbidden_transition", lang, old=exc.old,
                                               new=exc.new)}, status_code=403)
    raise exc


def _target(field: str) -> str:
    return next((s for s, f in states.REQUIRED_FIELDS.items() if f == field), "")


async def _detail(db: AsyncSession, ticket) -> dict:
    return {**service.ticket_dict(ticket), "calls": await service.calls(db=db, ticket_id=ticket.id)}


async def _detail_after(db: AsyncSession, request: Request, user: User, action: str, ticket,
                        detail: dict) -> dict:
    """Audit ``action`` on ``ticket`` and commit: the ticket's detail."""
    await audit_request(db, request, user, action, f"ticket:{ticket.id}", detail)
    await db.commit()
    return await _detail(db, ticket)


@router.post("", response_model=TicketDetail, status_code=201)
async def create_ticket(body: TicketIn, request: Request, user: User = Depends(current_user),
                        db: AsyncSession = Depends(get_db)):
    fields = body.model_dump(exclude_unset=True,
                             exclude={"type", "customer_id", "description", "call_id"})
    try:
        ticket = await service.create(db=db, actor=user.username, type=body.type,
                                      customer_id=body.customer_id, description=body.description,
                                      call_id=body.call_id, **fields)
    except _ERRORS as exc:
        return _error(exc, _lang(request))
    return await _detail_after(db, request, user, "ticket.create", ticket,
                               {"type": ticket.type, "customer_id": ticket.customer_id, "call_id": ticket.call_id})


@router.get("", response_model=TicketPage)
async def list_tickets(request: Request, type: str | None = Query(None, max_length=20),
                       state: list[str] | None = Query(None, description="repeat or comma-separate"),
                       customer_id: int | None = None,
                       assignee: str | None = Query(None, max_length=64,
                                                    description="a username, or me"),
                       site_id: int | None = None, due_before: datetime | None = None,
                       due_after: datetime | None = None,
                       open: bool = Query(False, description="only tickets still being worked"),
                       limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0),
                       user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    states_wanted = [s.strip() for part in state or () for s in part.split(",") if s.strip()]
    try:
        items, total = await service.list_tickets(
            db=db, type=type, state=states_wanted or None, customer_id=customer_id,
            assignee=user.username if assignee == "me" else assignee, site_id=site_id,
            due_before=due_before, due_after=due_after, open_only=open, limit=limit, offset=offset)
    except _ERRORS as exc:
        return _error(exc, _lang(request), where="query")
    return {"items": [service.ticket_dict(t) for t in items], "total": total, "limit": limit,
            "offset": offset}


@router.get("/{ticket_id}", response_model=TicketDetail)
async def get_ticket(ticket_id: int, request: Request, user: User = Depends(current_user),
                     db: AsyncSession = Depends(get_db)):
    ticket = await service.get(db=db, ticket_id=ticket_id)
    if ticket is None:
        return _error(service.TicketNotFound(ticket_id), _lang(request))
    return await _detail(db, ticket)


@router.patch("/{ticket_id}", response_model=TicketDetail)
async def patch_ticket(ticket_id: int, body: TicketPatch, request: Request,
                       user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version")
    try:
        ticket = await service.update(db=db, actor=user.username, ticket_id=ticket_id,
                                      version=version, changes=changes)
    except _ERRORS as exc:
        return _error(exc, _lang(request))
    if ticket.version == version:  # nothing changed
        return await _detail(db, ticket)
    return await _detail_after(db, request, user, "ticket.update", ticket,
                               {"fields": sorted(changes), "version": ticket.version})


@router.post("/{ticket_id}/transitions", response_model=TicketDetail)
async def transition_ticket(ticket_id: int, body: TransitionIn, request: Request,
                            user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        before = await service.get(db=db, ticket_id=ticket_id)
        old_state = before.state if before is not None else None  # the same object changes below
        ticket = await service.transition(db=db, actor=user.username, ticket_id=ticket_id,
                                          to=body.to, resolution=body.resolution,
                                          reason=body.reason, version=body.version, role=user.role)
    except _ERRORS as exc:
        return _error(exc, _lang(request))
    return await _detail_after(db, request, user, "ticket.transition", ticket,
                               {"from": old_state, "to": ticket.state, "version": ticket.version})


@router.get("/{ticket_id}/history", response_model=list[HistoryOut])
async def ticket_history(ticket_id: int, request: Request, user: User = Depends(current_user),
                         db: AsyncSession = Depends(get_db)):
    if await service.get(db=db, ticket_id=ticket_id) is None:
        return _error(service.TicketNotFound(ticket_id), _lang(request))
    return [service.history_dict(row) for row in await service.history(db=db, ticket_id=ticket_id)]


@router.post("/{ticket_id}/comments", response_model=HistoryOut, status_code=201)
async def comment_ticket(ticket_id: int, body: CommentIn, request: Request,
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        row = await service.comment(db=db, actor=user.username, ticket_id=ticket_id, text=body.text)
    except _ERRORS as exc:
        return _error(exc, _lang(request))
    await audit_request(db, request, user, "ticket.comment", f"ticket:{ticket_id}", {"history_id": row.id})
    await db.commit()
    return service.history_dict(row)


@router.post("/{ticket_id}/calls", response_model=LinkOut)
async def link_call(ticket_id: int, body: LinkCallIn, request: Request,
                    user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        linked = await service.link_call(db=db, actor=user.username, ticket_id=ticket_id,
                                         call_id=body.call_id)
    except _ERRORS as exc:
        return _error(exc, _lang(request))
    call_id = body.call_id.strip()
    if linked:
        await audit_request(db, request, user, "ticket.link_call", f"ticket:{ticket_id}", {"call_id": call_id})
        await db.commit()
    return {"ticket_id": ticket_id, "call_id": call_id, "linked": linked,
            "calls": await service.calls(db=db, ticket_id=ticket_id)}
