"""Desk pages, the agent websocket and queue login/logout (thin layer)."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.security import ROLES, authenticate_same_origin, current_user
from accounts.service import audit
from agent_desk.hub import Connection
from agent_desk.pages import STATIC, add_pages
from agent_desk.state import agent_state
from customers.phone import dial_string
from ctidesk.deps import client_ip, get_container, get_db
from ctidesk.errors import Conflict, Invalid
from ctidesk.runtime import refresh_directory
from tickets import callbacks

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/", include_in_schema=False)
async def root():
    return RedirectResponse("/desk")


add_pages(router, {"/login": "login.html", "/desk": "desk.html"})


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str):
    """Static assets by bare file name: no path from a request reaches the disk unchecked."""
    if "/" in name or "\\" in name or name.startswith("."):
        raise HTTPException(404)
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path)


def _agent_info(container, user):
    info = container.directory.by_username.get(user.username)
    if info is None:
        raise Conflict(f"user {user.username!r} has no phone extension; an admin must set one")
    return info


async def _membership_settled(container, info, *, member: bool, timeout: float = 3.0) -> None:
    """Wait (bounded) until the live model shows the agent in (or out of) all
    their queues. Asterisk answers QueueAdd before it sends QueueMemberAdded,
    so a state read straight after the action is the old one; the desk would
    show it and could overwrite the newer state its socket already pushed.
    On a timeout the answer carries whatever the model says (the socket
    pushes the change when it lands)."""
    bridge = container.bridge
    if bridge is None:
        return
    model = bridge.model

    def settled() -> bool:
        present = set(model.member_queues(info.interface))
        return set(info.queues) <= present if member else not (present & set(info.queues))

    if settled():
        return
    done = asyncio.Event()
    unsubscribe = container.bus.subscribe(lambda _e: done.set() if settled() else None)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except asyncio.TimeoutError:
        log.warning("the model did not show %s %s their queues within %.0f s", info.username,
                    "in" if member else "out of", timeout)
    finally:
        unsubscribe()


@router.post("/api/v1/agent/login")
async def agent_login(request: Request, user=Depends(current_user), container=Depends(get_container),
                      db: AsyncSession = Depends(get_db)):
    """Add the agent's phone to each of their queues (idempotent)."""
    await refresh_directory(container)  # users are added by `ctidesk user add`, another process
    info = _agent_info(container, user)
    for queue in info.queues:
        await container.actions.queue_add(queue=queue, interface=info.interface, member_name=info.username,
                                          state_interface=info.state_interface)
    await _membership_settled(container, info, member=True)
    await audit(db=db, actor=user.username, action="agent.queue_login", target=",".join(info.queues),
                ip=client_ip(request))
    await db.commit()
    return {"queues": list(info.queues), **_state(container, info)}


@router.post("/api/v1/agent/logout")
async def agent_logout(request: Request, user=Depends(current_user), container=Depends(get_container),
                       db: AsyncSession = Depends(get_db)):
    info = _agent_info(container, user)
    for queue in info.queues:
        await container.actions.queue_remove(queue=queue, interface=info.interface)
    await _membership_settled(container, info, member=False)
    await audit(db=db, actor=user.username, action="agent.queue_logout", target=",".join(info.queues),
                ip=client_ip(request))
    await db.commit()
    return {"queues": [], **_state(container, info)}


class DialIn(BaseModel):
    number: str | None = Field(None, min_length=1, max_length=64)  # default: the callback's customer
    callback_id: int | None = None


@router.post("/api/v1/agent/dial", status_code=202)
async def agent_dial(body: DialIn, request: Request, user=Depends(current_user),
                     container=Depends(get_container), db: AsyncSession = Depends(get_db)):
    """Click to dial: ring the agent's own phone, then the customer (ctidesk-outbound).

    Sent once: if AMI drops before Asterisk confirms, the agent is told to check
    rather than the call being retried (a customer must not be rung twice)."""
    await refresh_directory(container)
    info = _agent_info(container, user)
    number = body.number
    if number is None and body.callback_id is not None:
        number = await callbacks.dial_number(db=db, callback_id=body.callback_id)
    if number is None:
        raise Invalid("no number given and the callback's customer has no dialable phone", field="body.number")
    digits = dial_string(number, country_code=container.settings.default_country_code)
    if digits is None:
        raise Invalid(f"not a dialable number: {number!r}", field="body.number")
    variables = [f"CTIDESK_DIALED_BY={user.username}"]
    if body.callback_id is not None:
        variables.append(f"CTIDESK_CALLBACK={body.callback_id}")
    # Sent once (the action layer never re-sends): if Asterisk does not confirm,
    # the agent is told to check rather than a customer being rung twice.
    await container.actions.originate(channel=info.interface, context="ctidesk-outbound", exten=digits,
                                      caller_id=f"<{info.extension}>", variables=variables)
    await audit(db=db, actor=user.username, action="agent.dial", target=digits,
                detail={"callback_id": body.callback_id}, ip=client_ip(request))
    await db.commit()
    return {"status": "dialing", "number": digits, "extension": info.extension}


@router.get("/api/v1/agent/state")
async def get_agent_state(user=Depends(current_user), container=Depends(get_container)):
    return _state(container, _agent_info(container, user))


def _state(container, info) -> dict:
    s = agent_state(container.bridge.model if container.bridge else None, info)
    s.pop("type")
    return {"state": s["state"], "member_of": s["queues"], "paused_reason": s["paused_reason"]}


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket):
    container = websocket.app.state.container
    user = await authenticate_same_origin(websocket, ROLES)
    if user is None:
        return
    await websocket.accept()
    conn = Connection(user.username, user.role)
    container.hub.add(conn)
    info = container.directory.by_username.get(user.username)
    if info is None and user.extension:
        await refresh_directory(container)
        info = container.directory.by_username.get(user.username)
    model = container.bridge.model if container.bridge else None
    hello = {"type": "hello", "user": {"username": user.username, "display_name": user.display_name,
                                       "role": user.role, "extension": user.extension,
                                       "queues": user.queue_list, "phone": user.phone or "local"},
             "agent_state": agent_state(model, info) if info else None}
    conn.push_json(hello)
    writer = asyncio.create_task(_writer(websocket, conn))
    try:
        while True:
            text = await websocket.receive_text()
            if text == "ping":
                conn.push_json({"type": "pong"})
    except WebSocketDisconnect:
        pass
    finally:
        container.hub.remove(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _writer(websocket: WebSocket, conn: Connection) -> None:
    while True:
        text = await conn.outbox.get()
        if text is None:
            log.warning("desk socket of %s fell behind; closing it so it reconnects fresh", conn.username)
            await websocket.close(code=4008, reason="too slow")
            return
        await websocket.send_text(text)


@router.get("/api/v1/ws-schema", include_in_schema=False)
async def ws_schema():
    """The JSON Schema of every websocket frame (docs/ws-schema.json), beside /openapi.json."""
    from ctidesk.ws_schema import schema

    return schema()
