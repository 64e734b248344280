from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from accounts.models import AuditLog
from tickets import hooks, service
from tickets.models import ServiceSite, Technician, Ticket, TicketCall, TicketHistory
from tests.factories import bearer, make_customer, make_user

OWN_KINDS = ("created", "field", "transition", "comment", "link")  # other packages add others
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.fixture
async def agent(app, db):
    return await make_user(db, username="agent1", role="agent", extension="1001")


@pytest.fixture
async def auth(app, agent):
    return bearer(app.state.container.settings, agent)


@pytest.fixture
async def sup_auth(app, db):
    user = await make_user(db, username="boss", role="supervisor")
    return bearer(app.state.container.settings, user)


async def new_ticket(client, auth, customer_id, **fields):
    body = {"type": "repair", "customer_id": customer_id, "description": "no power", **fields}
    r = await client.post("/api/v1/tickets", headers=auth, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def move(client, auth, ticket_id, to, **body):
    return await client.post(f"/api/v1/tickets/{ticket_id}/transitions", headers=auth,
                             json={"to": to, **body})


async def count(app, model, *where) -> int:
    async with app.state.container.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


# --- create ----------------------------------------------------------------

async def test_create_minimal(client, auth, customer):
    t = await new_ticket(client, auth, customer.id)
    assert t["type"] == "repair" and t["state"] == "new" and t["priority"] == "normal"
    assert t["description"] == "no power" and t["customer_id"] == customer.id
    assert t["version"] == 1 and t["created_by"] == "agent1" and t["calls"] == []
    assert t["parts_used"] == [] and t["fee"] is None and t["assignee"] is None
    assert t["created_at"].startswith("20") and t["responded_at"] is None
    r = await client.get(f"/api/v1/tickets/{t['id']}", headers=auth)
    assert r.status_code == 200 and r.json() == t


async def test_create_full(app, client, db, auth, customer):
    site = ServiceSite(name="Haidian shop", regions="haidian")
    db.add(site)
    await db.flush()
    tech = Technician(name="Wang Wu", site_id=site.id)
    db.add(tech)
    await db.commit()
    t = await new_ticket(
        client, auth, customer.id, type="install", priority="urgent", description="  new AC unit  ",
        product_model="KFR-35GW", product_serial="SN123", fault_type="none",
        fault_phenomenon="-", fault_cause="-", fault_measure="install",
        address="1 Zhongguancun St", region="haidian",
        appointment_start="2025-05-01T09:00:00+08:00", appointment_end="2025-05-01T12:00:00+08:00",
        assignee="agent1", site_id=site.id, technician_id=tech.id,
        parts_used=["bracket", " pipe 3m "], fee=120.5, call_id="1714521600.42")
    assert t["type"] == "install" and t["priority"] == "urgent"
    assert t["description"] == "new AC unit"
    assert t["product_model"] == "KFR-35GW" and t["fault_measure"] == "install"
    assert t["appointment_start"] == "2025-05-01T01:00:00+00:00"  # stored in UTC
    assert t["appointment_end"] == "2025-05-01T04:00:00+00:00"
    assert t["assignee"] == "agent1" and t["site_id"] == site.id and t["technician_id"] == tech.id
    assert t["parts_used"] == [{"part": "bracket", "qty": 1}, {"part": "pipe 3m", "qty": 1}] and t["fee"] == 120.5
    assert t["call_id"] == "1714521600.42" and t["calls"] == ["1714521600.42"]
    assert t["state"] == "new"  # an assignee does not move the state: transitions do


@pytest.mark.parametrize("body,field,words", [
    ({"type": "warranty"}, "type", "repair, install, complaint"),
    ({"type": None}, "type", "required"),
    ({"description": None}, "description", "required"),
    ({"description": "   "}, "description", "required"),
    ({"customer_id": 999999}, "customer_id", "999999 does not exist"),
    ({"priority": "asap"}, "priority", "low, normal, high, urgent"),
    ({"appointment_start": "2025-05-01T09:00:00"}, "appointment_start", "time zone"),
    ({"appointment_start": "2025-05-01T12:00:00+08:00",
      "appointment_end": "2025-05-01T09:00:00+08:00"}, "appointment_end", "appointment_start"),
    ({"assignee": "nobody"}, "assignee", "no user nobody"),
    ({"site_id": 77}, "site_id", "77 does not exist"),
    ({"fee": -1}, "fee", "between 0 and"),
    ({"product_model": "x" * 81}, "product_model", "at most 80"),
    ({"call_id": "  "}, "call_id", "required"),
])
async def test_create_422_names_the_field(app, client, auth, customer, body, field, words):
    r = await client.post("/api/v1/tickets", headers=auth, json={
        "type": "repair", "customer_id": customer.id, "description": "d", **body})
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", field]
    assert field in err["msg"] and words in err["msg"]
    assert await count(app, Ticket) == 0


async def test_create_422_in_chinese(client, auth, customer):
    r = await client.post("/api/v1/tickets", headers={**auth, **ZH}, json={
        "type": "repair", "customer_id": customer.id, "description": "", "priority": "asap"})
    assert r.status_code == 422
    errors = {e["loc"][1]: e["msg"] for e in r.json()["detail"]}  # every bad field at once
    assert errors == {"description": "description 为必填项",
                      "priority": "priority 必须是以下之一：low, normal, high, urgent"}
    r = await client.post("/api/v1/tickets", headers={**auth, "Accept-Language": "zh-CN"},
                          json={"type": "repair", "customer_id": 424242, "description": "d"})
    assert r.json()["detail"][0]["msg"] == "customer_id 424242 不存在"
    r = await client.post("/api/v1/tickets", headers={**auth, "Accept-Language": "en-US,zh;q=0.5"},
                          json={"type": "repair", "customer_id": 424242, "description": "d"})
    assert r.json()["detail"][0]["msg"] == "customer_id 424242 does not exist"


async def test_body_validation_by_fastapi_names_the_field(client, auth, customer):
    r = await client.post("/api/v1/tickets", headers=auth, json={
        "type": "repair", "customer_id": "abc", "description": "d"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "customer_id"]
    r = await client.post("/api/v1/tickets", headers=auth, json={
        "type": "repair", "customer_id": customer.id, "description": "d", "colour": "red"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "colour"]


# --- list ------------------------------------------------------------------

async def test_list_filters_and_pagination(app, client, db, auth, sup_auth, customer):
    other = await make_customer(db, name="Li Si", phones=["13900139000"])
    await make_user(db, username="agent2")
    site = ServiceSite(name="Chaoyang shop")
    db.add(site)
    await db.commit()
    a = await new_ticket(client, auth, customer.id, assignee="agent1")
    b = await new_ticket(client, auth, customer.id, type="install", assignee="agent2",
                         site_id=site.id)
    c = await new_ticket(client, auth, other.id, type="complaint", assignee="agent1")
    d = await new_ticket(client, auth, other.id)
    assert (await move(client, auth, b["id"], "dispatched")).status_code == 200
    assert (await move(client, auth, c["id"], "resolved", resolution="apologised")).status_code == 200
    assert (await move(client, sup_auth, d["id"], "cancelled", reason="duplicate")).status_code == 200
    now = datetime.now(timezone.utc)
    for ticket, hours in ((a, 2), (b, 30), (c, 50), (d, 100)):  # set by hand, whatever SLA chose
        await service.update(db=db, actor="sla", ticket_id=ticket["id"], version=None, system=True,
                             changes={"due_resolve_at": now + timedelta(hours=hours)})
    await db.commit()

    async def ids(**params):
        r = await client.get("/api/v1/tickets", headers=auth, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"]) or "limit" in params
        return [t["id"] for t in body["items"]]

    assert await ids() == [d["id"], c["id"], b["id"], a["id"]]  # newest first
    assert await ids(type="install") == [b["id"]]
    assert await ids(state=["new", "dispatched"]) == [b["id"], a["id"]]
    assert await ids(state="resolved,cancelled") == [d["id"], c["id"]]
    assert await ids(customer_id=other.id) == [d["id"], c["id"]]
    assert await ids(assignee="me") == [c["id"], a["id"]]
    assert await ids(assignee="agent2") == [b["id"]]
    assert await ids(site_id=site.id) == [b["id"]]
    assert await ids(due_before=(now + timedelta(hours=24)).isoformat()) == [a["id"]]
    later = (now + timedelta(hours=24)).isoformat()
    # a due list comes most urgent first (due in 2, 30, 50, 100 hours: a, b, c, d)
    assert await ids(due_after=later) == [b["id"], c["id"], d["id"]]
    assert await ids(due_after=now.isoformat(),
                     due_before=(now + timedelta(hours=40)).isoformat()) == [a["id"], b["id"]]
    assert await ids(open="true") == [b["id"], a["id"]]
    assert await ids(open="true", assignee="me") == [a["id"]]
    assert await ids(open="true", state="cancelled") == []

    r = await client.get("/api/v1/tickets", headers=auth, params={"limit": 2, "offset": 1})
    body = r.json()
    assert body["total"] == 4 and body["limit"] == 2 and body["offset"] == 1
    assert [t["id"] for t in body["items"]] == [c["id"], b["id"]]


@pytest.mark.parametrize("params,field", [({"state": "open"}, "state"), ({"type": "x"}, "type"),
                                          ({"due_before": "2025-01-01T00:00:00"}, "due_before"),
                                          ({"limit": 201}, "limit"), ({"offset": -1}, "offset")])
async def test_list_bad_filter_422(client, auth, params, field):
    r = await client.get("/api/v1/tickets", headers=auth, params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", field]


# --- edit and optimistic locking -------------------------------------------

async def test_patch_then_stale_patch_409(app, client, auth, sup_auth, customer):
    t = await new_ticket(client, auth, customer.id)
    url = f"/api/v1/tickets/{t['id']}"
    r = await client.patch(url, headers=auth, json={"version": 1, "priority": "high",
                                                    "address": "2 Wudaokou"})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["priority"] == "high" and first["address"] == "2 Wudaokou"
    assert first["version"] == 2

    # a second agent still holds version 1
    r = await client.patch(url, headers=sup_auth, json={"version": 1, "priority": "low",
                                                        "fault_type": "power"})
    assert r.status_code == 409
    body = r.json()
    assert "version 2" in body["detail"] and body["current"]["priority"] == "high"
    assert body["current"]["version"] == 2 and body["current"]["fault_type"] is None
    r = await client.get(url, headers=auth)
    assert r.json()["priority"] == "high" and r.json()["fault_type"] is None
    assert r.json()["version"] == 2

    r = await client.patch(url, headers={**sup_auth, **ZH}, json={"version": 1, "region": "x"})
    assert r.status_code == 409 and "已被他人修改" in r.json()["detail"]

    # nothing really changed: no bump, no history
    r = await client.patch(url, headers=auth, json={"version": 2, "priority": "high"})
    assert r.status_code == 200 and r.json()["version"] == 2
    assert await count(app, TicketHistory, TicketHistory.kind == "field") == 2
    assert await count(app, AuditLog, AuditLog.action == "ticket.update") == 1


@pytest.mark.parametrize("body,field,code", [
    ({"state": "closed"}, "state", "use_transition"),
    ({"resolution": "done"}, "resolution", "use_transition"),
    ({"type": "install"}, "type", "not_editable"),
    ({"customer_id": 2}, "customer_id", "not_editable"),
    ({"description": ""}, "description", "required"),
    ({"priority": None}, "priority", "invalid_choice"),
])
async def test_patch_refuses(client, auth, customer, body, field, code):
    t = await new_ticket(client, auth, customer.id)
    r = await client.patch(f"/api/v1/tickets/{t['id']}", headers=auth, json={"version": 1, **body})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", field] and err["type"] == code and field in err["msg"]
    r = await client.get(f"/api/v1/tickets/{t['id']}", headers=auth)
    assert r.json()["version"] == 1


async def test_patch_needs_version_and_clears_fields(client, auth, customer):
    t = await new_ticket(client, auth, customer.id, address="old", fee=10)
    url = f"/api/v1/tickets/{t['id']}"
    r = await client.patch(url, headers=auth, json={"priority": "high"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "version"]
    r = await client.patch(url, headers=auth, json={"version": 1, "address": None, "fee": None})
    assert r.status_code == 200 and r.json()["address"] is None and r.json()["fee"] is None
    r = await client.patch("/api/v1/tickets/999999", headers=auth, json={"version": 1})
    assert r.status_code == 404


async def test_stale_version_in_the_service(app, db, agent, customer):
    """Two sessions read version 1; the second writer is refused, not merged."""
    ticket = await service.create(db=db, actor="agent1", type="repair", customer_id=customer.id,
                                  description="d")
    await db.commit()
    async with app.state.container.sessionmaker() as other:
        mine = await service.get(db=other, ticket_id=ticket.id)
        assert mine.version == 1
        await service.update(db=db, actor="agent1", ticket_id=ticket.id, version=1,
                             changes={"fault_type": "power"})
        await db.commit()
        with pytest.raises(service.StaleVersion) as info:
            await service.update(db=other, actor="boss", ticket_id=ticket.id, version=1,
                                 changes={"fault_type": "water"})
        assert info.value.current.fault_type == "power" and info.value.current.version == 2


# --- transitions -----------------------------------------------------------

async def test_transitions(app, client, auth, sup_auth, customer):
    t = await new_ticket(client, auth, customer.id)
    tid = t["id"]
    r = await move(client, auth, tid, "assigned")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "assigned" and r.json()["version"] == 2
    assert r.json()["responded_at"] is not None

    r = await move(client, auth, tid, "closed")
    assert r.status_code == 409
    assert r.json() == {
        "detail": "cannot go from assigned to closed; legal: dispatched, in_progress, "
                  "pending_customer, resolved, cancelled",
        "legal": ["dispatched", "in_progress", "pending_customer", "resolved", "cancelled"]}
    r = await client.post(f"/api/v1/tickets/{tid}/transitions", headers={**auth, **ZH},
                          json={"to": "closed"})
    assert r.status_code == 409 and r.json()["detail"].startswith("不能从 assigned 转为 closed")

    r = await move(client, auth, tid, "resolved")
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "resolution"] and "resolution" in err["msg"]
    r = await move(client, auth, tid, "resolved", resolution="   ")
    assert r.status_code == 422
    r = await client.post(f"/api/v1/tickets/{tid}/transitions", headers={**auth, **ZH},
                          json={"to": "resolved"})
    assert r.json()["detail"][0]["msg"] == "工单转为 resolved 时必须填写 resolution"

    r = await move(client, auth, tid, "resolved", resolution="replaced fuse", version=1)
    assert r.status_code == 409 and r.json()["current"]["state"] == "assigned"
    r = await move(client, auth, tid, "resolved", resolution="replaced fuse", version=2)
    assert r.status_code == 200
    assert r.json()["resolution"] == "replaced fuse" and r.json()["resolved_at"] is not None
    assert (await move(client, auth, tid, "closed")).status_code == 200

    r = await move(client, auth, tid, "reopened")
    assert r.status_code == 403 and "supervisor" in r.json()["detail"]
    r = await move(client, sup_auth, tid, "reopened", reason="customer called again")
    assert r.status_code == 200 and r.json()["state"] == "reopened"
    assert r.json()["resolved_at"] is None

    r = await move(client, auth, tid, "cancelled", reason="duplicate")
    assert r.status_code == 403
    r = await move(client, sup_auth, tid, "cancelled")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = await move(client, sup_auth, tid, "cancelled", reason="duplicate of #1")
    assert r.status_code == 200
    assert r.json()["state"] == "cancelled" and r.json()["cancel_reason"] == "duplicate of #1"
    r = await move(client, sup_auth, tid, "reopened")
    assert r.status_code == 409 and r.json()["legal"] == []
    assert r.json()["detail"] == "cannot go from cancelled to reopened; legal: none"

    r = await move(client, auth, tid, "done")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "to"]
    r = await move(client, auth, 999999, "assigned")
    assert r.status_code == 404

    async with app.state.container.sessionmaker() as s:
        actions = [(a.actor, a.action) for a in (await s.execute(
            select(AuditLog).where(AuditLog.action.like("ticket.%")).order_by(AuditLog.id))).scalars()]
    assert actions == [("agent1", "ticket.create"), ("agent1", "ticket.transition"),
                       ("agent1", "ticket.transition"), ("agent1", "ticket.transition"),
                       ("boss", "ticket.transition"), ("boss", "ticket.transition")]


# --- history, comments, calls ----------------------------------------------

async def test_history_in_order_with_actors(client, auth, sup_auth, customer):
    t = await new_ticket(client, auth, customer.id, call_id="call-1")
    tid = t["id"]
    r = await client.patch(f"/api/v1/tickets/{tid}", headers=sup_auth,
                           json={"version": 1, "priority": "urgent", "fault_type": "power"})
    assert r.status_code == 200
    assert (await move(client, auth, tid, "in_progress")).status_code == 200
    r = await client.post(f"/api/v1/tickets/{tid}/comments", headers=sup_auth,
                          json={"text": " customer is elderly, call before visiting "})
    assert r.status_code == 201 and r.json()["kind"] == "comment" and r.json()["actor"] == "boss"
    r = await client.post(f"/api/v1/tickets/{tid}/calls", headers=auth, json={"call_id": "call-2"})
    assert r.status_code == 200

    r = await client.get(f"/api/v1/tickets/{tid}/history", headers=auth)
    assert r.status_code == 200
    rows = [h for h in r.json() if h["kind"] in OWN_KINDS]
    assert [(h["kind"], h["actor"], h["field"], h["old"], h["new"], h["note"]) for h in rows] == [
        ("created", "agent1", None, None, "new", "repair"),
        ("link", "agent1", "call_id", None, "call-1", None),
        ("field", "boss", "priority", "normal", "urgent", None),
        ("field", "boss", "fault_type", None, "power", None),
        ("transition", "agent1", "state", "new", "in_progress", None),
        ("comment", "boss", None, None, None, "customer is elderly, call before visiting"),
        ("link", "agent1", "call_id", None, "call-2", None),
    ]
    ats = [h["at"] for h in rows]
    assert ats == sorted(ats)

    r = await client.post(f"/api/v1/tickets/{tid}/comments", headers={**auth, **ZH}, json={})
    assert r.status_code == 422 and r.json()["detail"][0]["msg"] == "text 为必填项"
    for url in ("history", "comments"):
        r = await client.request("GET" if url == "history" else "POST",
                                 f"/api/v1/tickets/999999/{url}", headers=auth, json={"text": "x"})
        assert r.status_code == 404


async def test_link_call_is_idempotent(app, client, auth, customer):
    t = await new_ticket(client, auth, customer.id, call_id="1714521600.42")
    url = f"/api/v1/tickets/{t['id']}/calls"
    r = await client.post(url, headers=auth, json={"call_id": "1714521600.42"})
    assert r.status_code == 200
    assert r.json() == {"ticket_id": t["id"], "call_id": "1714521600.42", "linked": False,
                        "calls": ["1714521600.42"]}
    r = await client.post(url, headers=auth, json={"call_id": "1714521999.7"})
    assert r.json()["linked"] is True and r.json()["calls"] == ["1714521600.42", "1714521999.7"]
    r = await client.post(url, headers=auth, json={"call_id": "1714521999.7"})
    assert r.json()["linked"] is False
    assert await count(app, TicketCall) == 2
    assert await count(app, TicketHistory, TicketHistory.kind == "link") == 2
    assert await count(app, AuditLog, AuditLog.action == "ticket.link_call") == 1
    r = await client.get(f"/api/v1/tickets/{t['id']}", headers=auth)
    assert r.json()["calls"] == ["1714521600.42", "1714521999.7"] and r.json()["version"] == 1
    r = await client.post(url, headers=auth, json={})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "call_id"]
    r = await client.post("/api/v1/tickets/999999/calls", headers=auth, json={"call_id": "x"})
    assert r.status_code == 404

    async with app.state.container.sessionmaker() as s:
        found = await service.tickets_for_call(db=s, call_id="1714521999.7")
    assert [x.id for x in found] == [t["id"]]


@pytest.mark.parametrize("method,url", [
    ("GET", "/api/v1/tickets"), ("POST", "/api/v1/tickets"), ("GET", "/api/v1/tickets/1"),
    ("PATCH", "/api/v1/tickets/1"), ("POST", "/api/v1/tickets/1/transitions"),
    ("GET", "/api/v1/tickets/1/history"), ("POST", "/api/v1/tickets/1/comments"),
    ("POST", "/api/v1/tickets/1/calls")])
async def test_unauthenticated_401(client, method, url):
    r = await client.request(method, url, json={})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


# --- hooks -----------------------------------------------------------------

@pytest.fixture
def seen():
    """Hooks that record what they saw and write in the caller's transaction."""
    calls = []

    async def created(*, db, ticket, actor, call_id=None, **kw):
        # the uncommitted ticket is visible: same session, same transaction
        state = (await db.execute(select(Ticket.state).where(Ticket.id == ticket.id))).scalar_one()
        calls.append(("created", ticket.id, actor, call_id, state))
        ticket.sla_level = "gold"
        db.add(TicketHistory(ticket_id=ticket.id, actor="sla", kind="sla", note="due times set"))

    async def moved(*, db, ticket, actor, old, new, resolution=None, reason=None, **kw):
        state = (await db.execute(select(Ticket.state).where(Ticket.id == ticket.id))).scalar_one()
        calls.append(("transition", ticket.id, actor, old, new, resolution, state))

    hooks.register("on_created", created)
    hooks.register("on_created", created)  # twice is once
    hooks.register("on_transition", moved)
    yield calls
    hooks.unregister("on_created", created)
    hooks.unregister("on_transition", moved)


async def test_hooks_run_in_the_same_transaction(client, auth, customer, seen):
    t = await new_ticket(client, auth, customer.id, call_id="c-9")
    assert t["sla_level"] == "gold"
    r = await move(client, auth, t["id"], "resolved", resolution="fixed")
    assert r.status_code == 200
    assert seen == [("created", t["id"], "agent1", "c-9", "new"),
                    ("transition", t["id"], "agent1", "new", "resolved", "fixed", "resolved")]
    r = await client.get(f"/api/v1/tickets/{t['id']}", headers=auth)
    assert r.json()["sla_level"] == "gold"
    r = await client.get(f"/api/v1/tickets/{t['id']}/history", headers=auth)
    assert [h["note"] for h in r.json() if h["kind"] == "sla"] == ["due times set"]


async def test_hook_rows_roll_back_with_the_ticket(app, db, customer, seen):
    ticket = await service.create(db=db, actor="agent1", type="repair", customer_id=customer.id,
                                  description="d")
    assert ticket.sla_level == "gold" and seen[0][0] == "created"
    await db.rollback()
    assert await count(app, Ticket) == 0 and await count(app, TicketHistory) == 0


async def test_failing_hook_fails_the_write(app, client, auth, customer):
    async def broken(**kw):
        raise RuntimeError("sla table missing")

    hooks.register("on_updated", broken)
    try:
        t = await new_ticket(client, auth, customer.id)
        with pytest.raises(RuntimeError):
            await client.patch(f"/api/v1/tickets/{t['id']}", headers=auth,
                               json={"version": 1, "priority": "high"})
    finally:
        hooks.unregister("on_updated", broken)
    r = await client.get(f"/api/v1/tickets/{t['id']}", headers=auth)
    assert r.json()["priority"] == "normal" and r.json()["version"] == 1


def test_unknown_hook_name():
    with pytest.raises(ValueError):
        hooks.register("on_deleted", lambda **kw: None)
