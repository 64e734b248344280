"""Calls API and the health check (thin: translate HTTP to service calls)."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.security import current_user, decode_token
from cti import service
from customers.phone import search_keys
from ctidesk.deps import get_container, get_db

router = APIRouter()

ALL_CALLS_ROLES = ("supervisor", "admin")


@router.get("/api/v1/calls")
async def list_calls(
    from_: datetime | None = Query(None, alias="from", description="ISO 8601, inclusive"),
    to: datetime | None = Query(None, description="ISO 8601, exclusive"),
    number: str | None = Query(None, max_length=64),
    agent: str | None = Query(None, max_length=64),
    queue: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    user=Depends(current_user),
    db: AsyncSession = Depends(get_db),
):
    """Calls, newest first. Agents and experts see only the calls they took."""
    for name, value in (("from", from_), ("to", to)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"'{name}' needs a time zone (e.g. 2026-11-23T08:00:00+08:00)")
    if user.role not in ALL_CALLS_ROLES:
        if agent not in (None, user.username):
            raise HTTPException(403, "agents may only list their own calls")
        agent = user.username
    numbers = None
    if number:
        numbers = search_keys(number) or [number]
    rows = await service.search(db=db, start=from_, end=to, numbers=numbers, agent=agent, queue=queue,
                                limit=limit, offset=offset)
    from ivr.survey import surveys_for  # issue 14: each call's post-call survey

    surveys = await surveys_for(db=db, call_ids=[c.call_id for c in rows])
    return {"items": [{**service.call_dict(c), "survey": surveys.get(c.call_id)} for c in rows],
            "limit": limit, "offset": offset}


@router.get("/api/v1/calls/{call_id}")
async def get_call(call_id: str, user=Depends(current_user), db: AsyncSession = Depends(get_db)):
    call = await service.get(db=db, call_id=call_id)
    if call is None or (user.role not in ALL_CALLS_ROLES
                        and user.username not in (call.agent_username, call.transferred_from)):
        raise HTTPException(404, "no such call")
    from agent_desk.transfer import call_handoffs  # issue 11: every transfer with its handoff

    from ivr.survey import surveys_for  # issue 14: the post-call survey

    surveys = await surveys_for(db=db, call_ids=[call.call_id])
    return {**service.call_dict(call), "transfers": await call_handoffs(db, call.call_id),
            "survey": surveys.get(call.call_id)}


@router.get("/healthz")
async def healthz(request: Request, container=Depends(get_container)):
    """Open to load balancers: says only whether AMI is connected.

    With several instances (``redis_url``) only the leader holds the AMI
    connection: a follower without one is healthy (``cluster.role``), so a load
    balancer keeps sending desks to it. With a supervisor/admin bearer token it
    adds the bridge's counters."""
    bridge = container.bridge
    connected = bool(bridge and bridge.connected)
    cluster = container.cluster
    follower = cluster is not None and not cluster.leader
    writers = _writers(container)
    stored = all(w.health()["status"] == "ok" for w in writers.values())
    # "storage": the journalled writers (calls, report records). Degraded means
    # the database refuses writes: events are journalled and retried, not lost.
    body = {"status": "ok" if (connected or follower) and stored else "degraded", "ami_connected": connected,
            "storage": "ok" if stored else "degraded"}
    if cluster is not None:
        body["cluster"] = {"role": "follower" if follower else "leader"}
    auth = request.headers.get("authorization", "")
    if bridge is not None and auth.lower().startswith("bearer "):
        try:
            claims = decode_token(container.settings, auth[7:])
        except Exception:
            claims = {}
        if claims.get("role") in ALL_CALLS_ROLES:
            proto = bridge.protocol
            body["ami"] = {"host": bridge.host, "port": bridge.port, "version": bridge.version,
                           "connects": bridge.connects, "resyncs": bridge.resyncs,
                           "last_error": bridge.last_error,
                           "events_seen": proto.events_seen if proto else None,
                           "malformed": proto.malformed if proto else None,
                           "handler_errors": bridge.model.handler_errors,
                           "live_calls": len(bridge.model.calls)}
            body["writers"] = {name: w.health() for name, w in writers.items()}
    return body


def _writers(container) -> dict:
    """The journalled writers running in this process, by name."""
    found = {}
    store = container.store
    if store is not None:
        found["calls"] = store
    supervisor = container.supervisor
    if supervisor is not None:
        found["supervisor"] = supervisor.store
    return found
