"""IVR API: the menu in force (supervisors) and the product catalogue (read by
everyone, written by supervisors, audited); bad input is a 4xx naming it."""
from __future__ import annotations

from sqlalchemy import select

from accounts.models import AuditLog
from tests.factories import bearer, quick_user


async def headers(app, db, username, role):
    return bearer(app.state.container.settings, await quick_user(db, username, role))


async def test_catalogue_crud_roles_and_audit(app, client, db):
    sup = await headers(app, db, "sam", "supervisor")
    agent = await headers(app, db, "alice", "agent")
    body = {"model": "KFR-35GW", "name": "空调", "info": {"zh-CN": "保修六年。", "en": "Six years."}}
    assert (await client.put("/api/v1/ivr/products/8801", json=body, headers=agent)).status_code == 403
    r = await client.put("/api/v1/ivr/products/8801", json=body, headers=sup)
    assert r.status_code == 200 and r.json() == {"code": "8801", **body}
    r = await client.get("/api/v1/ivr/products", headers=agent)
    assert [p["code"] for p in r.json()] == ["8801"]
    assert (await client.get("/api/v1/ivr/products/8801", headers=agent)).json()["name"] == "空调"
    r = await client.put("/api/v1/ivr/products/8801", json={**body, "name": "空调 2"}, headers=sup)
    assert r.json()["name"] == "空调 2"
    assert (await client.delete("/api/v1/ivr/products/8801", headers=agent)).status_code == 403
    assert (await client.delete("/api/v1/ivr/products/8801", headers=sup)).status_code == 204
    assert (await client.get("/api/v1/ivr/products/8801", headers=agent)).status_code == 404
    actions = (await db.execute(select(AuditLog.action).where(AuditLog.actor == "sam"))).scalars().all()
    assert actions == ["ivr.product.create", "ivr.product.update", "ivr.product.delete"]
    assert (await client.get("/api/v1/ivr/products")).status_code == 401


async def test_bad_products_are_4xx(app, client, db):
    sup = await headers(app, db, "sam", "supervisor")
    assert (await client.put("/api/v1/ivr/products/88a1", json={"name": "x"}, headers=sup)).status_code == 422
    assert (await client.put("/api/v1/ivr/products/1", json={"name": " "}, headers=sup)).status_code == 422
    r = await client.put("/api/v1/ivr/products/1", json={"name": "x", "info": {"english!": "y"}}, headers=sup)
    assert r.status_code == 422
    r = await client.put("/api/v1/ivr/products/1", json={"name": "x", "price": 3}, headers=sup)
    assert r.status_code == 422
    assert (await client.delete("/api/v1/ivr/products/77", headers=sup)).status_code == 404


async def test_menu_view_for_supervisors(app, client, db):
    sup = await headers(app, db, "sam", "supervisor")
    agent = await headers(app, db, "alice", "agent")
    assert (await client.get("/api/v1/ivr/menu", headers=agent)).status_code == 403
    body = (await client.get("/api/v1/ivr/menu", headers=sup)).json()
    assert body["valid"] is True and body["problems"] == [] and body["languages"] == ["zh-CN", "en"]
    assert body["tree"][0].startswith("welcome: hours") and body["serving"] is None  # no FastAGI in this app
