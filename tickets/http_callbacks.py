"""Customer revisits API. Thin: rules live in ``tickets.callbacks``.

``GET /api/v1/callbacks?overdue=true`` is the supervisor's view of pending
callbacks past due; other roles asking it get only their own. Every write is
audited in the same transaction. Errors: 404 missing, 403 not yours, 409 no
longer pending, 422 naming the field.
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.http import audit_request
from accounts.models import User
from accounts.security import current_user
from ctidesk.deps import get_db
from tickets import callbacks

router = APIRouter(prefix="/api/v1/callbacks", tags=["callbacks"])

_Notes = Annotated[str, StringConstraints(max_length=callbacks.NOTES_MAX)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallbackIn(_In):
    customer_id: int
    ticket_id: int | None = None
    due_at: AwareDatetime | None = None
    assignee: str | None = Field(None, max_length=64, description="a username, or me")
    reason: Literal["revisit", "voicemail", "requested"] = "requested"
    notes: _Notes | None = None


class CallbackPatch(_In):
    assignee: str | None = Field(None, max_length=64, description="a username, me, or null")
    due_at: AwareDatetime | None = None
    notes: _Notes | None = None
    state: Literal["cancelled"] | None = None


class ResultIn(_In):
    outcome: Literal["reached", "no_answer", "busy", "wrong_number", "refused"]
    satisfaction: int | None = Field(None, ge=1, le=5, description="required when reached")
    notes: _Notes | None = None
    call_id: str | None = Field(None, max_length=64)


class CallbackOut(BaseModel):
    id: int
    ticket_id: int | None
    customer_id: int
    customer_name: str | None
    reason: str
    state: str
    assignee: str | None
    due_at: str | None
    attempts: int
    outcome: str | None
    satisfaction: int | None
    notes: str | None
    call_id: str | None
    created_at: str | None
    done_at: str | None
    overdue: bool


class CallbackPage(BaseModel):
    items: list[CallbackOut]
    total: int


def _error(exc: callbacks.CallbackError) -> JSONResponse:
    if isinstance(exc, callbacks.InvalidField):
        value = exc.value if isinstance(exc.value, (str, int, float, type(None))) else str(exc.value)
        return JSONResponse({"detail": [{"loc": ["body", exc.field], "msg": exc.message,
                                         "type": "value_error", "input": value}]}, status_code=422)
    status = {callbacks.NotFound: 404, callbacks.Forbidden: 403, callbacks.Conflict: 409}
    return JSONResponse({"detail": str(exc)}, status_code=status[type(exc)])


async def _out(db: AsyncSession, callback) -> dict:
    return callbacks.card(callback, await callbacks.customer_name(db, callback.customer_id))


@router.get("", response_model=CallbackPage)
async def list_callbacks(state: Literal["pending", "done", "failed", "cancelled"] | None = None,
                         assignee: str | None = Query(None, max_length=64,
                                                      description="a username, or me"),
                         overdue: bool = Query(False, description="pending and past due"),
                         customer_id: int | None = None, ticket_id: int | None = None,
                         limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0),
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    if assignee == "me":
        assignee = user.username
    if overdue and not callbacks.is_supervisor(user.role):
        if assignee not in (None, user.username):
            raise HTTPException(403, detail="only a supervisor or admin sees others' overdue callbacks")
        assignee = user.username
    rows, total = await callbacks.list_callbacks(
        db=db, state=state, assignee=assignee, overdue=overdue, customer_id=customer_id,
        ticket_id=ticket_id, limit=limit, offset=offset)
    return {"items": [callbacks.card(cb, name) for cb, name in rows], "total": total}


@router.post("", response_model=CallbackOut, status_code=201)
async def create_callback(body: CallbackIn, request: Request, user: User = Depends(current_user),
                          db: AsyncSession = Depends(get_db)):
    try:
        callback = await callbacks.create(db=db, actor=user.username, role=user.role,
                                          **body.model_dump())
    except callbacks.CallbackError as exc:
        return _error(exc)
    await audit_request(db, request, user, "callback.create", f"callback:{callback.id}",
                        {"customer_id": callback.customer_id, "ticket_id": callback.ticket_id,
                         "reason": callback.reason, "assignee": callback.assignee})
    await db.commit()
    return await _out(db, callback)


@router.get("/{callback_id}", response_model=CallbackOut)
async def get_callback(callback_id: int, user: User = Depends(current_user),
                       db: AsyncSession = Depends(get_db)):
    try:
        return await _out(db, await callbacks.get(db=db, callback_id=callback_id))
    except callbacks.CallbackError as exc:
        return _error(exc)


@router.patch("/{callback_id}", response_model=CallbackOut)
async def patch_callback(callback_id: int, body: CallbackPatch, request: Request,
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        callback, diff = await callbacks.update(db=db, actor=user.username, role=user.role,
                                                callback_id=callback_id,
                                                changes=body.model_dump(exclude_unset=True))
    except callbacks.CallbackError as exc:
        return _error(exc)
    if diff:
        await audit_request(db, request, user, "callback.update", f"callback:{callback.id}",
                            {name: [old, new] for name, (old, new) in diff.items() if name != "notes"}
                            | ({"notes": True} if "notes" in diff else {}))
        await db.commit()
    return await _out(db, callback)


@router.post("/{callback_id}/result", response_model=CallbackOut)
async def record_result(callback_id: int, body: ResultIn, request: Request,
                        user: User = Depends(current_user), db: AsyncSession = Depends(get_db)):
    try:
        callback = await callbacks.record_result(db=db, actor=user.username, role=user.role,
                                                 callback_id=callback_id, **body.model_dump())
    except callbacks.CallbackError as exc:
        return _error(exc)
    await audit_request(db, request, user, "callback.result", f"callback:{callback.id}",
                        {"outcome": callback.outcome, "satisfaction": callback.satisfaction,
                         "attempts": callback.attempts, "state": callback.state,
                         "call_id": callback.call_id})
    await db.commit()
    return await _out(db, callback)
