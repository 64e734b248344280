"""Customer revisits: made when a ticket is resolved, then worked through the API."""
import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from accounts.models import AuditLog
from tests.factories import bearers, make_customer
from tickets import callbacks, hooks, sla
from tickets.models import Callback, Ticket, TicketHistory

UTC = timezone.utc


@pytest.fixture
async def users(app, db):
    return await bearers(app, db, {name: (name, role) for name, role in (
        ("agent1", "agent"), ("agent2", "agent"), ("boss", "supervisor"))})


async def add_ticket(db, customer, state="new", type="repair", **fields):
    ticket = Ticket(customer_id=customer.id, type=type, state=state, description="x", version=1,
                    **fields)
    db.add(ticket)
    await db.commit()
    return ticket


async def rows(app, model, *where):
    async with app.state.container.sessionmaker() as s:
        return list((await s.execute(select(model).where(*where).order_by(model.id))).scalars())


async def count(app, model, *where) -> int:
    async with app.state.container.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


# --- the revisit made on resolution --------------------------------------------------------

async def test_resolving_creates_one_revisit(app, db, customer):
    resolved_at = datetime(2026, 3, 6, 7, 0, tzinfo=UTC)  # Friday 15:00 in Shanghai
    t = await add_ticket(db, customer, state="resolved", resolved_at=resolved_at)
    first = await callbacks.on_resolved(db=db, ticket=t, actor="agent1", old="in_progress",
                                        new="resolved")
    await db.commit()
    assert first is not None and first.state == "pending" and first.reason == "revisit"
    assert first.customer_id == customer.id and first.assignee is None and first.attempts == 0
    # one business day later: Monday 15:00 in Shanghai
    assert first.due_at == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
    again = await callbacks.on_resolved(db=db, ticket=t, actor="agent1", old="reopened", new="resolved")
    other = await callbacks.on_resolved(db=db, ticket=t, actor="agent1", old="new", new="assigned")
    await db.commit()
    assert again is None and other is None
    assert await count(app, Callback) == 1
    [row] = await rows(app, TicketHistory, TicketHistory.ticket_id == t.id)
    assert row.kind == "callback" and row.actor == "agent1" and str(first.id) in row.note

    # once the first revisit is done, a later resolution gets a new one
    first.state = "done"
    await db.commit()
    assert await callbacks.on_resolved(db=db, ticket=t, actor="x", old="reopened", new="resolved")
    await db.commit()
    assert await count(app, Callback, Callback.state == "pending") == 1


async def test_revisit_only_for_configured_types(app, db, customer):
    policy = dataclasses.replace(sla.default_policy(), revisit_types=frozenset({"repair"}))
    t = await add_ticket(db, customer, type="consultation", state="resolved")
    assert await callbacks.on_resolved(db=db, ticket=t, actor="a", old="new", new="resolved",
                                       sla_policy=policy) is None
    assert await count(app, Callback) == 0


async def test_resolution_through_the_ticket_service(app, db, customer):
    """The hook is registered: the lifecycle's own transition makes the revisit."""
    assert callbacks.on_resolved in hooks.on_transition
    from tickets import service

    t = await service.create(db=db, actor="agent1", type="repair", customer_id=customer.id,
                             description="no power")
    await service.transition(db=db, actor="agent1", ticket_id=t.id, to="resolved",
                             resolution="fuse replaced")
    await db.commit()
    [cb] = await rows(app, Callback, Callback.ticket_id == t.id)
    assert cb.due_at == sla.default_policy().revisit_due(t.resolved_at)
    await service.transition(db=db, actor="boss", ticket_id=t.id, to="reopened")
    await service.transition(db=db, actor="agent1", ticket_id=t.id, to="resolved", resolution="again")
    await db.commit()
    assert await count(app, Callback, Callback.ticket_id == t.id) == 1  # still the pending one


# --- creating by hand -----------------------------------------------------------------------

async def test_create_and_get(app, client, db, customer, users):
    t = await add_ticket(db, customer)
    due = "2026-03-09T10:00:00+08:00"
    r = await client.post("/api/v1/callbacks", headers=users["agent1"],
                          json={"customer_id": customer.id, "ticket_id": t.id, "due_at": due,
                                "assignee": "me", "notes": "asked for a call after 10"})
    assert r.status_code == 201, r.text
    cb = r.json()
    assert cb["customer_id"] == customer.id and cb["customer_name"] == "Zhang San"
    assert cb["ticket_id"] == t.id and cb["reason"] == "requested" and cb["state"] == "pending"
    assert cb["assignee"] == "agent1" and datetime.fromisoformat(cb["due_at"]) == datetime.fromisoformat(due)
    assert cb["attempts"] == 0 and cb["overdue"] is True and cb["notes"] == "asked for a call after 10"
    r = await client.get(f"/api/v1/callbacks/{cb['id']}", headers=users["agent2"])
    assert r.status_code == 200 and r.json() == cb
    assert (await client.get("/api/v1/callbacks/999", headers=users["agent1"])).status_code == 404
    [audit] = await rows(app, AuditLog, AuditLog.action == "callback.create")
    assert audit.actor == "agent1" and audit.target == f"callback:{cb['id']}"
    [hist] = await rows(app, TicketHistory, TicketHistory.ticket_id == t.id)
    assert hist.kind == "callback"

    r = await client.post("/api/v1/callbacks", headers=users["agent1"], json={"customer_id": customer.id})
    assert r.status_code == 201 and r.json()["assignee"] is None and r.json()["ticket_id"] is None


async def test_create_422_names_the_field(client, db, customer, users):
    other = await make_customer(db, name="Li Si", phones=["13900139000"])
    t = await add_ticket(db, other)
    cases = [
        ({}, "customer_id"),
        ({"customer_id": 999}, "customer_id"),
        ({"customer_id": customer.id, "ticket_id": t.id}, "ticket_id"),
        ({"customer_id": customer.id, "ticket_id": 999}, "ticket_id"),
        ({"customer_id": customer.id, "due_at": "2026-03-09T10:00:00"}, "due_at"),
        ({"customer_id": customer.id, "reason": "gossip"}, "reason"),
        ({"customer_id": customer.id, "assignee": "ghost"}, "assignee"),
    ]
    for body, field in cases:
        r = await client.post("/api/v1/callbacks", headers=users["boss"], json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", field], body
    r = await client.post("/api/v1/callbacks", headers=users["agent1"],
                          json={"customer_id": customer.id, "assignee": "agent2"})
    assert r.status_code == 403  # agents assign only to themselves


# --- results --------------------------------------------------------------------------------

@pytest.fixture
async def pending(client, customer, users, db):
    t = await add_ticket(db, customer, state="resolved")
    r = await client.post("/api/v1/callbacks", headers=users["boss"],
                          json={"customer_id": customer.id, "ticket_id": t.id, "reason": "revisit",
                                "assignee": "agent1"})
    assert r.status_code == 201, r.text
    return r.json()


async def result(client, auth, cb, **body):
    return await client.post(f"/api/v1/callbacks/{cb['id']}/result", headers=auth, json=body)


@pytest.mark.parametrize("body", [
    {"outcome": "reached"},                                   # required when reached
    {"outcome": "reached", "satisfaction": None},
    {"outcome": "reached", "satisfaction": 0},
    {"outcome": "reached", "satisfaction": 6},
    {"outcome": "reached", "satisfaction": "great"},
    {"outcome": "no_answer", "satisfaction": 3},             # only when reached
])
async def test_satisfaction_422(client, pending, users, body):
    r = await result(client, users["agent1"], pending, **body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "satisfaction"]


async def test_bad_outcome_422(client, pending, users):
    r = await result(client, users["agent1"], pending, outcome="maybe")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "outcome"]


async def test_reached(app, client, pending, users):
    r = await result(client, users["agent1"], pending, outcome="reached", satisfaction=4,
                     notes="happy with the repair", call_id="1700000000.7")
    assert r.status_code == 200, r.text
    cb = r.json()
    assert cb["state"] == "done" and cb["satisfaction"] == 4 and cb["outcome"] == "reached"
    assert cb["attempts"] == 1 and cb["done_at"] is not None and cb["overdue"] is False
    assert cb["call_id"] == "1700000000.7" and cb["notes"] == "happy with the repair"
    r = await result(client, users["agent1"], pending, outcome="reached", satisfaction=5)
    assert r.status_code == 409
    notes = [h.note for h in await rows(app, TicketHistory, TicketHistory.ticket_id == pending["ticket_id"],
                                        TicketHistory.kind == "callback")]
    assert notes[-1] == f"callback {pending['id']} attempt 1: reached, satisfaction 4/5; done"
    [audit] = await rows(app, AuditLog, AuditLog.action == "callback.result")
    assert json.loads(audit.detail)["satisfaction"] == 4


async def test_no_answer_retries_then_fails(client, pending, users):
    before = datetime.now(UTC)
    r = await result(client, users["agent1"], pending, outcome="no_answer")
    cb = r.json()
    assert cb["state"] == "pending" and cb["attempts"] == 1 and cb["outcome"] == "no_answer"
    assert datetime.fromisoformat(cb["due_at"]) >= before + timedelta(hours=2)  # 2 business hours on
    assert cb["overdue"] is False
    cb = (await result(client, users["agent1"], pending, outcome="busy")).json()
    assert cb["state"] == "pending" and cb["attempts"] == 2
    cb = (await result(client, users["agent1"], pending, outcome="no_answer")).json()
    assert cb["state"] == "failed" and cb["attempts"] == 3 and cb["done_at"] is not None


@pytest.mark.parametrize("outcome,state", [("wrong_number", "failed"), ("refused", "done")])
async def test_final_outcomes(client, pending, users, outcome, state):
    cb = (await result(client, users["agent1"], pending, outcome=outcome)).json()
    assert cb["state"] == state and cb["satisfaction"] is None and cb["attempts"] == 1


async def test_only_the_assignee_or_a_supervisor_records(client, customer, pending, users):
    assert (await result(client, users["agent2"], pending, outcome="busy")).status_code == 403
    assert (await result(client, users["boss"], pending, outcome="busy")).status_code == 200
    # an unassigned one becomes the worker's
    r = await client.post("/api/v1/callbacks", headers=users["boss"], json={"customer_id": customer.id})
    cb = (await result(client, users["agent2"], r.json(), outcome="busy")).json()
    assert cb["assignee"] == "agent2"


# --- assigning, rescheduling, cancelling ----------------------------------------------------

async def test_patch(app, client, customer, users):
    r = await client.post("/api/v1/callbacks", headers=users["boss"], json={"customer_id": customer.id})
    cid = r.json()["id"]
    url = f"/api/v1/callbacks/{cid}"
    r = await client.patch(url, headers=users["agent1"], json={"assignee": "me"})
    assert r.status_code == 200 and r.json()["assignee"] == "agent1"
    later = "2026-12-01T10:00:00+08:00"
    assert (await client.patch(url, headers=users["agent2"], json={"due_at": later})).status_code == 403
    r = await client.patch(url, headers=users["agent1"], json={"due_at": later})
    assert r.status_code == 200 and datetime.fromisoformat(r.json()["due_at"]) == datetime.fromisoformat(later)
    r = await client.patch(url, headers=users["agent1"], json={"due_at": "2026-12-01T10:00:00"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "due_at"]
    r = await client.patch(url, headers=users["agent1"], json={"assignee": "agent2"})
    assert r.status_code == 403
    r = await client.patch(url, headers=users["boss"], json={"assignee": "agent2"})
    assert r.status_code == 200 and r.json()["assignee"] == "agent2"
    r = await client.patch(url, headers=users["agent2"], json={"assignee": None})
    assert r.status_code == 200 and r.json()["assignee"] is None
    assert (await client.patch(url, headers=users["agent1"], json={"state": "cancelled"})).status_code == 403
    r = await client.patch(url, headers=users["boss"], json={"state": "done"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "state"]
    r = await client.patch(url, headers=users["boss"], json={"state": "cancelled"})
    assert r.status_code == 200 and r.json()["state"] == "cancelled" and r.json()["done_at"]
    assert (await client.patch(url, headers=users["boss"], json={"assignee": "me"})).status_code == 409
    assert (await client.patch("/api/v1/callbacks/999", headers=users["boss"], json={})).status_code == 404
    assert await count(app, AuditLog, AuditLog.action == "callback.update") == 5


# --- listing --------------------------------------------------------------------------------

@pytest.fixture
async def spread(db, customer):
    """Callbacks of two agents, some overdue."""
    other = await make_customer(db, name="Li Si", phones=["13900139000"])
    t = await add_ticket(db, customer, state="resolved")
    now = datetime.now(UTC)
    specs = {
        "a1_late": dict(assignee="agent1", due_at=now - timedelta(hours=3)),
        "a1_soon": dict(assignee="agent1", due_at=now + timedelta(hours=3)),
        "a2_late": dict(assignee="agent2", due_at=now - timedelta(days=2), ticket_id=t.id),
        "free_late": dict(assignee=None, due_at=now - timedelta(hours=1), customer_id=other.id),
        "done_late": dict(assignee="agent1", due_at=now - timedelta(days=3), state="done"),
    }
    out = {}
    for name, spec in specs.items():
        cb = Callback(**{"customer_id": customer.id, "state": "pending", "reason": "revisit",
                         "attempts": 0, **spec})
        db.add(cb)
        await db.commit()
        out[name] = cb.id
    out["other"], out["ticket"] = other.id, t.id
    return out


async def listed(client, auth, **params):
    r = await client.get("/api/v1/callbacks", headers=auth, params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]], r.json()["total"]


async def test_overdue_is_the_supervisors_view(client, spread, users):
    ids, total = await listed(client, users["boss"], overdue="true")
    assert ids == [spread["a2_late"], spread["a1_late"], spread["free_late"]] and total == 3
    assert await listed(client, users["agent1"], overdue="true") == ([spread["a1_late"]], 1)
    assert await listed(client, users["agent1"], overdue="true", assignee="me") == ([spread["a1_late"]], 1)
    r = await client.get("/api/v1/callbacks", headers=users["agent1"],
                         params={"overdue": "true", "assignee": "agent2"})
    assert r.status_code == 403
    ids, _ = await listed(client, users["boss"], overdue="true", assignee="agent2")
    assert ids == [spread["a2_late"]]
    r = await client.get("/api/v1/callbacks", headers=users["boss"], params={"overdue": "true"})
    assert all(c["overdue"] for c in r.json()["items"])


async def test_filters_and_pagination(client, spread, users):
    everyone = users["agent1"]
    ids, total = await listed(client, everyone)
    assert total == 5 and ids[0] == spread["done_late"]  # soonest due first
    assert await listed(client, everyone, state="done") == ([spread["done_late"]], 1)
    ids, _ = await listed(client, everyone, assignee="me", state="pending")
    assert ids == [spread["a1_late"], spread["a1_soon"]]
    assert await listed(client, everyone, customer_id=spread["other"]) == ([spread["free_late"]], 1)
    assert await listed(client, everyone, ticket_id=spread["ticket"]) == ([spread["a2_late"]], 1)
    ids, total = await listed(client, everyone, limit=2, offset=1)
    assert total == 5 and len(ids) == 2
    r = await client.get("/api/v1/callbacks", headers=everyone, params={"state": "lost"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "state"]
    r = await client.get("/api/v1/callbacks", headers=everyone, params={"limit": 0})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("method,url", [("GET", "/api/v1/callbacks"), ("POST", "/api/v1/callbacks"),
                                        ("PATCH", "/api/v1/callbacks/1"),
                                        ("POST", "/api/v1/callbacks/1/result")])
async def test_unauthenticated_401(client, method, url):
    assert (await client.request(method, url, json={})).status_code == 401
