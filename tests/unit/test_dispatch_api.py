"""Service sites, technicians, suggestions and the dispatch moves of a ticket."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from accounts.models import AuditLog
from tests.factories import bearers
from tickets import dispatch
from tickets.models import Callback, ServiceSite, Technician, Ticket, TicketHistory


@pytest.fixture
async def users(app, db):
    return await bearers(app, db, {role: (name, role) for name, role in (
        ("agent1", "agent"), ("boss", "supervisor"), ("root", "admin"))})


async def add_ticket(db, customer, state="new", type="repair", region="beijing/haidian", **fields):
    ticket = Ticket(customer_id=customer.id, type=type, state=state, region=region,
                    description="no power", version=1, **fields)
    db.add(ticket)
    await db.commit()
    return ticket


async def add_site(db, name, regions="", skills="", active=True):
    site = ServiceSite(name=name, regions=regions, skills=skills, active=active)
    db.add(site)
    await db.commit()
    return site


async def add_tech(db, name, site=None, regions="", skills="", active=True):
    tech = Technician(name=name, site_id=site and site.id, regions=regions, skills=skills, active=active)
    db.add(tech)
    await db.commit()
    return tech


async def rows(app, model, *where, order=None):
    async with app.state.container.sessionmaker() as s:
        stmt = select(model).where(*where).order_by(order if order is not None else model.id)
        return list((await s.execute(stmt)).scalars())


async def count(app, model, *where) -> int:
    async with app.state.container.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


# --- sites and technicians ------------------------------------------------------------

async def test_site_crud_and_roles(app, client, users):
    body = {"name": "Haidian Repair", "regions": ["beijing/haidian", " beijing/chaoyang "],
            "skills": ["repair", "Air-Conditioner", "repair"], "phone": "010-5555-0001"}
    r = await client.post("/api/v1/sites", headers=users["agent"], json=body)
    assert r.status_code == 403
    r = await client.post("/api/v1/sites", headers=users["supervisor"], json=body)
    assert r.status_code == 201, r.text
    site = r.json()
    assert site == {"id": site["id"], "name": "Haidian Repair", "active": True,
                    "regions": ["beijing/haidian", "beijing/chaoyang"],
                    "skills": ["repair", "Air-Conditioner"], "phone": "010-5555-0001"}

    r = await client.get("/api/v1/sites", headers=users["agent"])  # any role reads
    assert r.status_code == 200 and r.json() == {"items": [site], "total": 1}
    r = await client.get("/api/v1/sites", headers=users["agent"], params={"region": "beijing/chaoyang/x"})
    assert r.json()["total"] == 1
    r = await client.get("/api/v1/sites", headers=users["agent"], params={"region": "shanghai"})
    assert r.json()["total"] == 0
    r = await client.get(f"/api/v1/sites/{site['id']}", headers=users["agent"])
    assert r.status_code == 200 and r.json() == site

    r = await client.patch(f"/api/v1/sites/{site['id']}", headers=users["agent"], json={"name": "X"})
    assert r.status_code == 403
    r = await client.patch(f"/api/v1/sites/{site['id']}", headers=users["admin"],
                           json={"skills": ["install"], "phone": None})
    assert r.status_code == 200 and r.json()["skills"] == ["install"] and r.json()["phone"] is None
    assert r.json()["name"] == "Haidian Repair"  # untouched

    r = await client.delete(f"/api/v1/sites/{site['id']}", headers=users["supervisor"])
    assert r.status_code == 204
    r = await client.get("/api/v1/sites", headers=users["agent"], params={"active": "true"})
    assert r.json()["total"] == 0
    r = await client.get(f"/api/v1/sites/{site['id']}", headers=users["agent"])
    assert r.json()["active"] is False  # deactivated, not deleted
    assert (await client.get("/api/v1/sites/999", headers=users["agent"])).status_code == 404
    assert (await client.patch("/api/v1/sites/999", headers=users["admin"], json={})).status_code == 404

    actions = [a.action for a in await rows(app, AuditLog, AuditLog.action.like("site.%"))]
    assert actions == ["site.create", "site.update", "site.deactivate"]


@pytest.mark.parametrize("body,loc", [
    ({"regions": ["x"]}, ["body", "name"]),
    ({"name": "   "}, ["body", "name"]),
    ({"name": "A", "regions": ["a,b"]}, ["body", "regions"]),
    ({"name": "A", "skills": "repair"}, ["body", "skills"]),
    ({"name": "A", "regions": ["x" * 81]}, ["body", "regions", 0]),
    ({"name": "A", "regions": [f"region-{i:03d}-" + "x" * 60 for i in range(6)]}, ["body", "regions"]),
    ({"name": "A", "colour": "red"}, ["body", "colour"]),
])
async def test_site_422_names_the_field(client, users, body, loc):
    r = await client.post("/api/v1/sites", headers=users["supervisor"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


async def test_technician_crud(app, client, db, users):
    site = await add_site(db, "Shop", regions="beijing", skills="repair")
    r = await client.post("/api/v1/technicians", headers=users["agent"], json={"name": "Wang"})
    assert r.status_code == 403
    r = await client.post("/api/v1/technicians", headers=users["supervisor"],
                          json={"name": "Wang Wu", "site_id": site.id, "regions": ["beijing"],
                                "skills": ["repair"]})
    assert r.status_code == 201, r.text
    tech = r.json()
    assert tech["site_id"] == site.id and tech["regions"] == ["beijing"] and tech["active"] is True
    r = await client.post("/api/v1/technicians", headers=users["supervisor"],
                          json={"name": "Li", "site_id": 999})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "site_id"]
    r = await client.get("/api/v1/technicians", headers=users["agent"], params={"site_id": site.id})
    assert [t["id"] for t in r.json()["items"]] == [tech["id"]]
    r = await client.patch(f"/api/v1/technicians/{tech['id']}", headers=users["supervisor"],
                           json={"site_id": None})
    assert r.status_code == 200 and r.json()["site_id"] is None
    r = await client.delete(f"/api/v1/technicians/{tech['id']}", headers=users["supervisor"])
    assert r.status_code == 204
    r = await client.get(f"/api/v1/technicians/{tech['id']}", headers=users["agent"])
    assert r.json()["active"] is False
    assert (await client.get("/api/v1/technicians/999", headers=users["agent"])).status_code == 404


@pytest.mark.parametrize("method,url", [("GET", "/api/v1/sites"), ("POST", "/api/v1/sites"),
                                        ("GET", "/api/v1/technicians"),
                                        ("POST", "/api/v1/tickets/1/dispatch"),
                                        ("GET", "/api/v1/tickets/1/dispatch/suggestions")])
async def test_unauthenticated_401(client, method, url):
    assert (await client.request(method, url, json={})).status_code == 401


# --- suggestions ---------------------------------------------------------------------

@pytest.fixture
async def network(db, customer):
    """Sites and technicians around Beijing, some already busy."""
    n = {
        "busy": await add_site(db, "Busy Beijing", regions="beijing", skills="repair"),
        "haidian": await add_site(db, "Haidian", regions="beijing/haidian,beijing/chaoyang",
                                  skills="repair,install"),
        "anywhere": await add_site(db, "Anywhere", regions="*", skills="*"),
        "shanghai": await add_site(db, "Shanghai", regions="shanghai", skills="repair"),
        "installer": await add_site(db, "Installers", regions="beijing", skills="install"),
        "closed": await add_site(db, "Closed", regions="beijing", skills="repair", active=False),
    }
    n["wang"] = await add_tech(db, "Wang", n["haidian"], regions="beijing", skills="repair")
    n["li"] = await add_tech(db, "Li", None, regions="beijing/haidian", skills="air-conditioner")
    n["zhao"] = await add_tech(db, "Zhao", n["closed"], regions="beijing", skills="repair")
    n["qian"] = await add_tech(db, "Qian", None, regions="beijing", skills="repair", active=False)
    for state in ("dispatched", "in_progress"):
        await add_ticket(db, customer, state=state, site_id=n["busy"].id)
    await add_ticket(db, customer, state="resolved", site_id=n["busy"].id)  # not load
    await add_ticket(db, customer, state="resolved", site_id=n["haidian"].id)
    await add_ticket(db, customer, state="dispatched", site_id=n["anywhere"].id)
    await add_ticket(db, customer, state="dispatched", technician_id=n["li"].id)
    return n


async def test_suggestions_rank_by_region_skill_and_load(client, db, customer, network, users):
    t = await add_ticket(db, customer, region="Beijing/Haidian", product_model="Air-Conditioner")
    r = await client.get(f"/api/v1/tickets/{t.id}/dispatch/suggestions", headers=users["agent"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket_id"] == t.id and body["region"] == "Beijing/Haidian"
    got = [(s["kind"], s["name"], s["load"]) for s in body["items"]]
    assert got == [("site", "Haidian", 0), ("site", "Anywhere", 1), ("site", "Busy Beijing", 2),
                   ("technician", "Wang", 0), ("technician", "Li", 1)]
    first = body["items"][0]
    assert first["site_id"] == network["haidian"].id and first["region"] == "beijing/haidian"
    assert first["skill"] == "repair"
    assert first["reason"] == "covers region Beijing/Haidian; skill repair; 0 open ticket(s)"
    assert body["items"][2]["reason"] == \
        "covers region Beijing/Haidian (as beijing); skill repair; 2 open ticket(s)"
    li = body["items"][-1]
    assert li["skill"] == "air-conditioner" and li["site_id"] is None  # by product, not type

    async def names(ticket):
        return [(s.kind, s.name) for s in await dispatch.suggest(db=db, ticket=ticket)]

    install = await add_ticket(db, customer, type="install", region="beijing/dongcheng")
    assert await names(install) == [("site", "Installers"), ("site", "Anywhere")]
    assert await names(await add_ticket(db, customer, region="tibet")) == [("site", "Anywhere")]
    assert await names(await add_ticket(db, customer, region=None)) == [("site", "Anywhere")]
    assert (await client.get("/api/v1/tickets/999/dispatch/suggestions",
                             headers=users["agent"])).status_code == 404


async def test_region_falls_back_to_the_customers(db, customer, network):
    from customers.models import Customer

    if not hasattr(Customer, "region"):
        pytest.skip("customers have no region yet")
    customer.region = "shanghai"
    await db.commit()
    t = await add_ticket(db, customer, region=None)
    assert [s.name for s in await dispatch.suggest(db=db, ticket=t)] == ["Shanghai", "Anywhere"]


def test_region_and_skill_matching():
    assert dispatch.region_match(["beijing"], "beijing") == "beijing"
    assert dispatch.region_match(["beijing"], "beijingshi") is None  # whole segments only
    assert dispatch.region_match(["beijing/haidian"], "beijing") is None  # narrower than asked
    assert dispatch.region_match(["*", "beijing"], "beijing/x") == "beijing"
    assert dispatch.region_match([], "beijing") is None
    t = Ticket(type="repair", product_model="AC-9", fault_type="leak")
    assert dispatch.skill_match(["install", "LEAK"], t) == "LEAK"
    assert dispatch.skill_match(["install"], t) is None


# --- dispatching ---------------------------------------------------------------------

START = datetime(2026, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=8)))


async def test_dispatch_explicit(app, client, db, customer, network, users):
    t = await add_ticket(db, customer, state="assigned", responded_at=datetime(2026, 3, 2, tzinfo=timezone.utc))
    body = {"site_id": network["haidian"].id, "technician_id": network["wang"].id,
            "appointment_start": START.isoformat(),
            "appointment_end": (START + timedelta(hours=2)).isoformat(), "version": 1}
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"], json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "dispatched" and out["version"] == 2 and out["suggestion"] is None
    assert out["site_id"] == network["haidian"].id and out["technician_id"] == network["wang"].id
    assert datetime.fromisoformat(out["appointment_start"]) == START
    assert out["responded_at"].startswith("2026-03-02")  # already responded: kept

    history = [(h.kind, h.field, h.old, h.new) for h in
               await rows(app, TicketHistory, TicketHistory.ticket_id == t.id)]
    assert history == [("dispatch", "state", "assigned", "dispatched"),
                       ("dispatch", "site_id", None, str(network["haidian"].id)),
                       ("dispatch", "technician_id", None, str(network["wang"].id)),
                       ("dispatch", "appointment_start", None, START.astimezone(timezone.utc).isoformat()),
                       ("dispatch", "appointment_end", None,
                        (START + timedelta(hours=2)).astimezone(timezone.utc).isoformat())]
    assert all(h.actor == "agent1" for h in await rows(app, TicketHistory))
    [audit] = await rows(app, AuditLog, AuditLog.action == "ticket.dispatch")
    assert audit.actor == "agent1" and audit.target == f"ticket:{t.id}"
    assert json.loads(audit.detail)["auto"] is False

    # a technician alone brings his site along
    t2 = await add_ticket(db, customer)
    r = await client.post(f"/api/v1/tickets/{t2.id}/dispatch", headers=users["agent"],
                          json={"technician_id": network["wang"].id})
    assert r.status_code == 200 and r.json()["site_id"] == network["haidian"].id
    assert r.json()["responded_at"] is not None  # out of new: a response


async def test_dispatch_automatic(client, db, customer, network, users):
    t = await add_ticket(db, customer, state="reopened")
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"])  # no body
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["site_id"] == network["haidian"].id and out["technician_id"] == network["wang"].id
    assert out["suggestion"]["name"] == "Haidian" and out["suggestion"]["load"] == 0
    # the next one goes elsewhere: Haidian now has one open ticket, like Anywhere,
    # and Haidian's region match is the more specific
    t2 = await add_ticket(db, customer)
    r = await client.post(f"/api/v1/tickets/{t2.id}/dispatch", headers=users["agent"], json={})
    assert r.json()["site_id"] == network["haidian"].id
    t3 = await add_ticket(db, customer)
    r = await client.post(f"/api/v1/tickets/{t3.id}/dispatch", headers=users["agent"], json={})
    assert r.json()["site_id"] == network["anywhere"].id and r.json()["technician_id"] is None
    # only a lone technician covers it
    t4 = await add_ticket(db, customer, region="beijing/haidian", type="consultation",
                          product_model="air-conditioner")
    await db.execute(ServiceSite.__table__.update().where(
        ServiceSite.id == network["anywhere"].id).values(active=False))
    await db.commit()
    r = await client.post(f"/api/v1/tickets/{t4.id}/dispatch", headers=users["agent"], json={})
    assert r.status_code == 200, r.text
    assert r.json()["site_id"] is None and r.json()["technician_id"] == network["li"].id


async def test_dispatch_when_nothing_fits_409(client, db, customer, network, users):
    await db.execute(ServiceSite.__table__.update().where(
        ServiceSite.id == network["anywhere"].id).values(active=False))
    await db.commit()
    t = await add_ticket(db, customer, region="tibet")
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"], json={})
    assert r.status_code == 409 and "tibet" in r.json()["detail"]
    assert (await db.get(Ticket, t.id)).state == "new"


@pytest.mark.parametrize("state", ["resolved", "in_progress", "dispatched", "closed", "cancelled"])
async def test_dispatch_from_wrong_state_409(client, db, customer, network, users, state):
    t = await add_ticket(db, customer, state=state)
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"],
                          json={"site_id": network["haidian"].id})
    assert r.status_code == 409, r.text
    assert r.json()["state"] == state and "new, assigned, reopened" in r.json()["detail"]


@pytest.mark.parametrize("make_body,loc", [
    (lambda n: {"site_id": n["closed"].id}, "site_id"),
    (lambda n: {"site_id": 999}, "site_id"),
    (lambda n: {"technician_id": n["qian"].id}, "technician_id"),
    (lambda n: {"technician_id": n["zhao"].id}, "technician_id"),  # his site is closed
    (lambda n: {"site_id": n["busy"].id, "technician_id": n["wang"].id}, "technician_id"),
    (lambda n: {"site_id": n["busy"].id, "appointment_start": "2026-03-03T09:00:00"},
     "appointment_start"),
    (lambda n: {"site_id": n["busy"].id, "appointment_start": START.isoformat(),
                "appointment_end": (START - timedelta(hours=1)).isoformat()}, "appointment_end"),
    (lambda n: {"site_id": "abc"}, "site_id"),
])
async def test_dispatch_422_names_the_field(client, db, customer, network, users, make_body, loc):
    t = await add_ticket(db, customer)
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"],
                          json=make_body(network))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", loc]


async def test_stale_version_409(client, db, customer, network, users):
    t = await add_ticket(db, customer)
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"],
                          json={"site_id": network["busy"].id, "version": 7})
    assert r.status_code == 409 and r.json()["current"]["version"] == 1
    assert (await client.post("/api/v1/tickets/999/dispatch", headers=users["agent"],
                              json={})).status_code == 404


# --- the site's answers ----------------------------------------------------------------

@pytest.fixture
async def dispatched(client, db, customer, network, users):
    t = await add_ticket(db, customer, assignee="agent1")
    r = await client.post(f"/api/v1/tickets/{t.id}/dispatch", headers=users["agent"],
                          json={"site_id": network["busy"].id, "appointment_start": START.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


async def test_accept(app, client, dispatched, users):
    tid = dispatched["id"]
    r = await client.post(f"/api/v1/tickets/{tid}/dispatch/accept", headers=users["agent"])
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "in_progress" and r.json()["version"] == dispatched["version"] + 1
    r = await client.post(f"/api/v1/tickets/{tid}/dispatch/accept", headers=users["agent"], json={})
    assert r.status_code == 409 and r.json()["state"] == "in_progress"
    assert await count(app, AuditLog, AuditLog.action == "ticket.dispatch_accept") == 1


async def test_reject_needs_a_reason(app, client, dispatched, users):
    tid = dispatched["id"]
    for body in ({}, {"reason": "   "}, {"reason": None}):
        r = await client.post(f"/api/v1/tickets/{tid}/dispatch/reject", headers=users["agent"], json=body)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = await client.post(f"/api/v1/tickets/{tid}/dispatch/reject", headers=users["agent"],
                          json={"reason": "no spare parts for this model"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "assigned" and out["site_id"] is None and out["appointment_start"] is None
    [state_row] = await rows(app, TicketHistory, TicketHistory.ticket_id == tid,
                             TicketHistory.field == "state", TicketHistory.new == "assigned")
    assert state_row.kind == "dispatch" and "no spare parts for this model" in state_row.note
    [audit] = await rows(app, AuditLog, AuditLog.action == "ticket.dispatch_reject")
    assert json.loads(audit.detail)["reason"] == "no spare parts for this model"
    # and it can go out again
    r = await client.post(f"/api/v1/tickets/{tid}/dispatch", headers=users["agent"], json={})
    assert r.status_code == 200 and r.json()["state"] == "dispatched"


async def test_complete(app, client, dispatched, users):
    tid = dispatched["id"]
    await client.post(f"/api/v1/tickets/{tid}/dispatch/accept", headers=users["agent"])
    body = {"resolution": "replaced the compressor",
            "parts_used": [{"part": "compressor", "qty": 1}, {"part": "screw M4", "qty": 6}],
            "fee": 120.5}
    r = await client.post(f"/api/v1/tickets/{tid}/dispatch/complete", headers=users["agent"], json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "resolved" and out["resolution"] == "replaced the compressor"
    assert out["parts_used"] == body["parts_used"] and out["fee"] == 120.5
    assert out["resolved_at"] is not None and out["site_id"] == dispatched["site_id"]
    fields = {h.field for h in await rows(app, TicketHistory, TicketHistory.ticket_id == tid,
                                          TicketHistory.kind == "dispatch")}
    assert {"resolution", "parts_used", "fee"} <= fields
    # resolving ran the transition hooks: a revisit is waiting
    [callback] = await rows(app, Callback, Callback.ticket_id == tid)
    assert callback.reason == "revisit" and callback.state == "pending"
    r = await client.post(f"/api/v1/tickets/{tid}/dispatch/complete", headers=users["agent"], json=body)
    assert r.status_code == 409


@pytest.mark.parametrize("body,loc", [
    ({"parts_used": [], "fee": 1}, ["body", "resolution"]),
    ({"resolution": " ", "fee": 1}, ["body", "resolution"]),
    ({"resolution": "ok", "fee": -1}, ["body", "fee"]),
    ({"resolution": "ok", "fee": 1.234}, ["body", "fee"]),
    ({"resolution": "ok"}, ["body", "fee"]),
    ({"resolution": "ok", "fee": 1, "parts_used": [{"part": "x", "qty": 0}]},
     ["body", "parts_used", 0, "qty"]),
    ({"resolution": "ok", "fee": 1, "parts_used": [{"qty": 1}]}, ["body", "parts_used", 0, "part"]),
    ({"resolution": "ok", "fee": 1, "parts_used": ["screw"]}, ["body", "parts_used", 0]),
])
async def test_complete_422_names_the_field(client, dispatched, users, body, loc):
    r = await client.post(f"/api/v1/tickets/{dispatched['id']}/dispatch/complete",
                          headers=users["agent"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


async def test_complete_straight_from_dispatched_and_free(client, dispatched, users):
    r = await client.post(f"/api/v1/tickets/{dispatched['id']}/dispatch/complete",
                          headers=users["agent"], json={"resolution": "reset the breaker", "fee": 0})
    assert r.status_code == 200 and r.json()["fee"] == 0 and r.json()["parts_used"] == []


def test_moves_agree_with_the_lifecycle_table():
    from tickets import states

    for sources, target in ((dispatch.DISPATCHABLE_FROM, "dispatched"),
                            (dispatch.ACCEPTABLE_FROM, "in_progress"),
                            (dispatch.REJECTABLE_FROM, "assigned"),
                            (dispatch.COMPLETABLE_FROM, "resolved")):
        for source in sources:
            assert target in states.TRANSITIONS[source], (source, target)
