"""SIP credentials belong to one agent (issue 11): ``GET /api/v1/agents/{user}/phone``
answers only that agent's own session; anybody else gets 403, and both are audited.

Users are made with ``accounts.service.create_user`` (what ``ctidesk user add``
calls) on the unit tier's own database: nothing here touches the sandbox
Asterisk (no CLI, so no ``ctidesk_pjsip_agents.conf`` written, no reload).
"""
from __future__ import annotations

from sqlalchemy import select

from accounts import phones, service
from accounts.models import AuditLog
from tests.factories import PASSWORD, bearer


async def sip_agent(db, username: str, extension: str, phone: str = "sip"):
    user = await service.create_user(db=db, username=username, password=PASSWORD, role="agent",
                                     extension=extension, queues=["support"], phone=phone, sip_realm="ctidesk")
    await db.commit()
    return user


async def test_agent_gets_own_sip_account_and_never_another_agents(app, client, db):
    settings = app.state.container.settings
    alice = await sip_agent(db, "alice", "1001")
    bob = await sip_agent(db, "bob", "1002")
    bob_password = bob.sip_password_once  # what `ctidesk user add` prints once

    mine = await client.get("/api/v1/agents/alice/phone", headers=bearer(settings, alice))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["kind"], body["extension"], body["authorization_user"], body["realm"]) == (
        "sip", "1001", "1001", "ctidesk")
    assert body["ha1"] == alice.sip_ha1 and len(body["ha1"]) == 32
    assert (await client.get("/api/v1/agent/phone", headers=bearer(settings, alice))).json() == body

    theirs = await client.get("/api/v1/agents/bob/phone", headers=bearer(settings, alice))
    assert theirs.status_code == 403
    assert bob.sip_ha1 not in theirs.text and "ha1" not in theirs.text
    # bob's own session gets bob's, and it is the digest of the password he was given
    own = (await client.get("/api/v1/agents/bob/phone", headers=bearer(settings, bob))).json()
    assert own["ha1"] == phones.ha1("1002", "ctidesk", bob_password)
    assert bob_password not in own.values()  # never the password itself

    rows = list((await db.execute(select(AuditLog).where(AuditLog.action.like("phone.%"))
                                  .order_by(AuditLog.id))).scalars())
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("alice", "phone.credentials", "alice"), ("alice", "phone.credentials", "alice"),
        ("alice", "phone.credentials_denied", "bob"), ("bob", "phone.credentials", "bob")]


async def test_supervisor_and_admin_cannot_fetch_an_agents_sip_account_either(app, client, db):
    settings = app.state.container.settings
    await sip_agent(db, "alice", "1001")
    for role in ("supervisor", "admin"):
        boss = await service.create_user(db=db, username=f"boss-{role}", password=PASSWORD, role=role)
        await db.commit()
        r = await client.get("/api/v1/agents/alice/phone", headers=bearer(settings, boss))
        assert r.status_code == 403, (role, r.text)


async def test_unknown_user_is_403_not_404_and_no_token_is_401(app, client, db):
    settings = app.state.container.settings
    alice = await sip_agent(db, "alice", "1001")
    # probing names must not tell which users exist
    assert (await client.get("/api/v1/agents/nobody/phone", headers=bearer(settings, alice))).status_code == 403
    assert (await client.get("/api/v1/agents/alice/phone")).status_code == 401


async def test_local_phone_agent_has_no_sip_account(app, client, db):
    settings = app.state.container.settings
    carol = await service.create_user(db=db, username="carol", password=PASSWORD, role="agent",
                                      extension="1003", phone="local")
    await db.commit()
    r = await client.get("/api/v1/agents/carol/phone", headers=bearer(settings, carol))
    assert r.status_code == 404 and "no SIP phone" in r.text
