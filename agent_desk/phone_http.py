"""The agent's own phone account (issue 11): what the desk's softphone needs to
register, served only to that agent's session.

``GET /api/v1/agents/{username}/phone`` answers 403 to anybody but
``username`` (admins and supervisors included: SIP credentials belong to one
person) and audits both outcomes. The answer holds the digest HA1, never a
password (none is stored): JsSIP signs REGISTER and INVITE with ``ha1`` and
``realm``.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.phones import SIP_KINDS
from accounts.security import current_user
from accounts.service import audit
from ctidesk.deps import client_ip, get_container, get_db

router = APIRouter()


@router.get("/api/v1/agents/{username}/phone")
async def agent_phone(username: str, request: Request, user=Depends(current_user),
                      container=Depends(get_container), db: AsyncSession = Depends(get_db)):
    """The softphone account of ``username``: only for ``username`` themself."""
    if username != user.username:
        await audit(db=db, actor=user.username, action="phone.credentials_denied", target=username,
                    ip=client_ip(request))
        await db.commit()
        raise HTTPException(403, "SIP credentials are served only to their own agent")
    if user.phone not in SIP_KINDS or not user.extension or not user.sip_ha1:
        raise HTTPException(404, f"user {username!r} has no SIP phone (phone: {user.phone})")
    settings = container.settings
    host = urlsplit(settings.sip_wss_url).hostname or settings.sip_media_address
    await audit(db=db, actor=user.username, action="phone.credentials", target=username,
                detail={"kind": user.phone}, ip=client_ip(request))
    await db.commit()
    return {
        "kind": user.phone,
        "extension": user.extension,
        "uri": f"sip:{user.extension}@{host}",
        "authorization_user": user.extension,
        "realm": user.sip_realm,
        "ha1": user.sip_ha1,
        "ws_url": settings.sip_wss_url if user.phone == "webrtc" else None,
        "display_name": user.display_name or user.username,
    }


@router.get("/api/v1/agent/phone")
async def my_phone(request: Request, user=Depends(current_user), container=Depends(get_container),
                   db: AsyncSession = Depends(get_db)):
    """The caller's own softphone account (same answer as ``/agents/<me>/phone``)."""
    return await agent_phone(user.username, request, user, container, db)
