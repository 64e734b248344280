"""Supervisor HTTP/WS surface (thin): wallboard feed, agent control, monitoring, pages.

Every route is for the ``supervisor`` and ``admin`` roles only and every
action that changes something on the floor is written to the audit log with
who did it to whom.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.security import authenticate_same_origin, require_roles
from accounts.service import audit
from agent_desk.pages import add_pages
from cti.actions import ActionFailed
from cti.model import device_of
from ctidesk.aio import cancel_and_wait
from ctidesk.deps import client_ip, get_container, get_db, running
from ctidesk.runtime import refresh_directory
from supervisor.feed import FeedClient
from supervisor.service import get_config

log = logging.getLogger(__name__)
router = APIRouter()
SUPERVISORS = ("supervisor", "admin")
supervisor_only = require_roles(*SUPERVISORS)

add_pages(router, {"/wallboard": "wallboard.html", "/reports": "reports.html"})


def _supervisor(container):
    return running(container.supervisor, "the supervisor service is")


@router.get("/api/v1/supervisor/snapshot")
async def snapshot(user=Depends(supervisor_only), container=Depends(get_container)):
    return _supervisor(container).live.snapshot()


@router.get("/api/v1/supervisor/config")
async def supervisor_config(user=Depends(supervisor_only), container=Depends(get_container)):
    return get_config(container).public()


@router.websocket("/ws/supervisor")
async def supervisor_socket(websocket: WebSocket):
    """Snapshot, then events; coalesced and resynced per client (see supervisor.feed)."""
    container = websocket.app.state.container
    user = await authenticate_same_origin(websocket, SUPERVISORS)
    if user is None:
        return
    sup = container.supervisor
    await websocket.accept()
    if sup is None:
        await websocket.close(code=1013, reason="supervisor service not running")
        return
    live = sup.live

    def snapshot_text() -> str:
        return json.dumps(live.snapshot(), ensure_ascii=False, default=str)

    client = FeedClient(websocket.send_text, snapshot_text, name=user.username)
    sup.feed.add(client)
    sender = asyncio.create_task(client.run())
    receiver = asyncio.create_task(_receive(websocket, client))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sup.feed.remove(client)
        await cancel_and_wait(sender, receiver)
        with contextlib.suppress(Exception):
            await websocket.close()


async def _receive(websocket: WebSocket, client: FeedClient) -> None:
    try:
        while True:
            text = await websocket.receive_text()
            if text == "ping":
                client.offer(("pong",), '{"type": "pong"}')
            elif text == "resync":
                client.request_resync("requested by the client")
    except WebSocketDisconnect:
        return


# -- agent control -------------------------------------------------------------

class PauseIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=32)
    queue: str | None = Field(None, min_length=1, max_length=64)


class QueueIn(BaseModel):
    queue: str | None = Field(None, min_length=1, max_length=64)


async def _agent(container, username: str):
    directory = container.directory
    info = directory.by_username.get(username)
    if info is None:
        await refresh_directory(container)
        info = directory.by_username.get(username)
    if info is None:
        raise HTTPException(404, f"no agent {username!r} with a phone extension")
    return info


def _member_queues(container, info, queue: str | None) -> list[str]:
    model = container.bridge.model if container.bridge else container.model
    queues = model.member_queues(info.interface) if model else []
    if queue is not None:
        if queue not in queues:
            raise HTTPException(409, f"{info.username} is not logged in to queue {queue!r}")
        return [queue]
    if not queues:
        raise HTTPException(409, f"{info.username} is not logged in to any queue")
    return queues


class _OnAgent:
    """A supervisor acting on the agent ``username`` of the path, in their queues."""

    def __init__(self, username: str, request: Request, user=Depends(supervisor_only),
                 container=Depends(get_container), db: AsyncSession = Depends(get_db)) -> None:
        self.username, self.request, self.user, self.container, self.db = username, request, user, container, db

    async def in_each_queue(self, queue: str | None, action: str, do, **detail) -> list[str]:
        """``await do(queue, interface)`` in ``queue`` or each queue the agent is in, audited as
        ``action`` (with ``detail``) and committed: the queues."""
        info = await _agent(self.container, self.username)
        queues = _member_queues(self.container, info, queue)
        for q in queues:
            await do(q, info.interface)
        await audit(db=self.db, actor=self.user.username, action=action, target=self.username,
                    detail={"queues": queues, **detail}, ip=client_ip(self.request))
        await self.db.commit()
        return queues


@router.post("/api/v1/supervisor/agents/{username}/pause")
async def pause_agent(body: PauseIn, on: _OnAgent = Depends()):
    """Pause an agent in one queue or all their queues, with a reason code from config."""
    reasons = get_config(on.container).pause_reasons
    if body.reason not in reasons:
        raise HTTPException(422, [{"loc": ["body", "reason"], "type": "value_error",
                                   "msg": f"unknown pause reason {body.reason!r}; use one of {', '.join(reasons)}"}])
    queues = await on.in_each_queue(
        body.queue, "supervisor.agent_pause",
        lambda q, interface: on.container.actions.queue_pause(queue=q, interface=interface, paused=True,
                                                              reason=body.reason),
        reason=body.reason)
    return {"agent": on.username, "paused": True, "reason": body.reason, "queues": queues}


@router.post("/api/v1/supervisor/agents/{username}/unpause")
async def unpause_agent(body: QueueIn | None = None, on: _OnAgent = Depends()):
    queues = await on.in_each_queue(
        body.queue if body else None, "supervisor.agent_unpause",
        lambda q, interface: on.container.actions.queue_pause(queue=q, interface=interface, paused=False))
    return {"agent": on.username, "paused": False, "queues": queues}


@router.post("/api/v1/supervisor/agents/{username}/logout")
async def logout_agent(body: QueueIn | None = None, on: _OnAgent = Depends()):
    """Take an agent out of one queue (or all): app_queue stops offering them calls."""
    queues = await on.in_each_queue(
        body.queue if body else None, "supervisor.agent_queue_logout",
        lambda q, interface: on.container.actions.queue_remove(queue=q, interface=interface))
    return {"agent": on.username, "removed_from": queues}


# -- listen / whisper / barge --------------------------------------------------

class MonitorIn(BaseModel):
    agent: str = Field(..., min_length=1, max_length=64)
    mode: Literal["listen", "whisper", "barge"]


@router.post("/api/v1/supervisor/monitor", status_code=202)
async def monitor(body: MonitorIn, request: Request, user=Depends(supervisor_only),
                  container=Depends(get_container), db: AsyncSession = Depends(get_db)):
    """Call the supervisor's own phone and, when answered, ChanSpy the agent's call.

    listen: hear both sides, nobody hears you; whisper: the agent hears you,
    the caller does not; barge: both hear you."""
    await refresh_directory(container)
    directory = container.directory
    me = directory.by_username.get(user.username)
    if me is None:
        raise HTTPException(409, f"you ({user.username}) have no phone extension; an admin must set one")
    info = await _agent(container, body.agent)
    if info.username == user.username:
        raise HTTPException(422, "you cannot monitor yourself")
    model = container.bridge.model if container.bridge else None
    device = device_of(info.interface)
    call = model.answered_call_of(device) if model else None
    channel = model.agent_leg(call, device) if call is not None else None
    if channel is None:
        raise HTTPException(409, f"{body.agent} is not on a call")
    call_id = call.id
    spy_id = f"ctidesk-spy-{uuid.uuid4().hex[:16]}"
    sup = _supervisor(container)
    session = {"call_id": spy_id, "agent": info.username, "by": user.username, "mode": body.mode,
               "target_call": call_id, "channel": channel}
    notify = body.mode in get_config(container).monitoring_notice

    def ended(sess: dict) -> None:
        if notify:
            container.hub.send(sess["agent"], {"type": "monitoring_stopped", "mode": sess["mode"]})
        sup.feed.offer(("m", sess["call_id"]), {"type": "monitoring_stopped", **{k: sess[k] for k in (
            "agent", "by", "mode", "target_call")}})

    session["on_end"] = ended
    sup.live.spy_calls[spy_id] = session
    try:
        await container.actions.chanspy(phone=me.interface, target_channel=channel, mode=body.mode, spy_id=spy_id,
                                        caller_id=f'"Monitor {info.extension}" <{info.extension}>')
    except ActionFailed:
        sup.live.spy_calls.pop(spy_id, None)
        raise
    await audit(db=db, actor=user.username, action=f"supervisor.monitor_{body.mode}", target=info.username,
                detail={"call_id": call_id, "channel": channel, "spy_call": spy_id}, ip=client_ip(request))
    await db.commit()
    if notify:
        container.hub.send(info.username, {"type": "monitoring_started", "mode": body.mode,
                                           "by": me.display_name})
    sup.feed.offer(("m", spy_id), {"type": "monitoring_started", "agent": info.username, "by": user.username,
                                   "mode": body.mode, "target_call": call_id})
    return {"status": "calling_your_phone", "spy_call_id": spy_id, "agent": info.username, "mode": body.mode,
            "channel": channel, "agent_notified": notify}
