"""POST /api/v1/agent/transfer (issue 11): thin; the rules are in agent_desk.transfer."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.security import current_user
from accounts.service import audit
from agent_desk.transfer import CONSULT_ACTIONS, NOTES_MAX, TransferError
from ctidesk.deps import client_ip, get_container, get_db, running
from ctidesk.runtime import refresh_directory

router = APIRouter()


class TransferIn(BaseModel):
    mode: str = Field(..., max_length=16, description="blind | attended")
    target: dict = Field(..., description='{"expert": username} or {"queue": name}')
    notes: str | None = Field(None, max_length=NOTES_MAX)
    draft: dict | None = Field(None, description="the ticket draft for the next seat, a JSON object <= 8 KB")


class ConsultIn(BaseModel):
    action: str = Field(..., max_length=16, description=" | ".join(CONSULT_ACTIONS))


def _service(container):
    return running(container.transfers, "transfers are")


@router.get("/api/v1/agent/transfer/targets")
async def agent_transfer_targets(user=Depends(current_user), container=Depends(get_container)):
    """The experts/agents (with their live state) and queues this user can transfer to."""
    service = _service(container)
    await refresh_directory(container)
    return service.targets(user.username)


@router.post("/api/v1/agent/transfer", status_code=202)
async def agent_transfer(body: TransferIn, request: Request, user=Depends(current_user),
                         container=Depends(get_container), db: AsyncSession = Depends(get_db)):
    """Transfer the caller of the agent's answered call to an expert/agent or a queue.

    202: Asterisk accepted the transfer; ``call_transferred`` on the desk socket
    says when it happened. The next seat's screen pop carries the handoff."""
    service = _service(container)
    await refresh_directory(container)  # experts may have been added by `ctidesk user add`
    try:
        result = await service.transfer(user.username, body.mode, body.target, body.notes, body.draft)
    except TransferError as exc:
        raise HTTPException(exc.status, exc.message) from None
    target = body.target.get("expert") or f"queue:{body.target.get('queue')}"
    await audit(db=db, actor=user.username, action="agent.transfer", target=str(target),
                detail={"mode": body.mode, "call_id": result["call_id"], "handoff_id": result["handoff_id"],
                        "notes_chars": len(body.notes or "")},
                ip=client_ip(request))
    await db.commit()
    return result


@router.post("/api/v1/agent/transfer/consult", status_code=202)
async def agent_transfer_consult(body: ConsultIn, request: Request, user=Depends(current_user),
                                 container=Depends(get_container), db: AsyncSession = Depends(get_db)):
    """During the agent's attended transfer: ``threeway`` brings the caller into the
    talk (a 3-way consult), ``complete`` hands the caller over now, ``cancel``
    hangs up on the target and goes back to the caller.

    202: Asterisk took the command; ``call_transferred`` (mode ``threeway`` or
    ``attended``) on the desk socket says when it happened."""
    try:
        result = await _service(container).consult(user.username, body.action)
    except TransferError as exc:
        raise HTTPException(exc.status, exc.message) from None
    await audit(db=db, actor=user.username, action="agent.transfer_consult", target=result["call_id"],
                detail={"action": body.action, "handoff_id": result["handoff_id"]}, ip=client_ip(request))
    await db.commit()
    return result
