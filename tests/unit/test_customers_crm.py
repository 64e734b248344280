"""Customers CRM: records with their parts, search filters, the 360 timeline,
merging duplicates and deleting, through the HTTP API."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from accounts.models import AuditLog
from cti.models import CallRecord
from customers import service
from customers.models import Customer, CustomerPhone, CustomerProduct, CustomerTag
from tests.factories import bearer, make_customer, make_user
from tickets.models import Callback, Ticket

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def users(app, db):
    settings = app.state.container.settings
    out = {}
    for role in ("agent", "supervisor", "admin"):
        user = await make_user(db, username=f"{role}1", role=role)
        out[role] = bearer(settings, user)
    return out


@pytest.fixture
async def auth(app, db):
    """Just an agent (each user costs an argon2 hash)."""
    return bearer(app.state.container.settings, await make_user(db, username="agent1", role="agent"))


async def audits(app, action):
    async with app.state.container.sessionmaker() as s:
        return list((await s.execute(select(AuditLog).where(AuditLog.action == action)
                                     .order_by(AuditLog.id))).scalars())


async def count(app, model, *where):
    async with app.state.container.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


def call(customer_id, call_id, at, ended=True, **kw):
    return CallRecord(call_id=call_id, customer_id=customer_id, created_at=at, caller_number_raw="13800138000",
                      caller_number="+8613800138000", answered_at=at + timedelta(seconds=5),
                      ended_at=at + timedelta(minutes=2) if ended else None, outcome="answered", **kw)


FULL = {
    "name": "Beijing Widgets Ltd", "kind": "company", "phones": ["010-5555-1234"],
    "region": "北京市朝阳区", "industry": "manufacturing", "value_class": "b", "vip": True,
    "class_reason": "500 units a year", "tags": ["Key Account", " key  account ", "华北"],
    "notes": "gate code 1234",
    "addresses": [{"label": "office", "text": "北京市朝阳区建国路 1 号"},
                  {"label": "plant", "text": "天津市 2 号", "region": "天津", "is_default": True}],
    "contacts": [{"name": "Li Lei", "role": "purchasing", "phone": "139-0000-1111"}],
    "products": [{"model": "WX-200", "serial": "sn-0001 ", "purchase_date": "2025-01-10",
                  "warranty_end": "2027-01-10", "install_address": "天津市 2 号"}],
}


# --- CRUD --------------------------------------------------------------------

async def test_create_full_record_and_get(client, auth):
    r = await client.post("/api/v1/customers", headers=auth, json=FULL)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["value_class"] == "B" and c["vip"] is True and c["class_reason"] == "500 units a year"
    assert c["tags"] == ["key account", "华北"]  # normalised, deduplicated
    assert c["region"] == "北京市朝阳区" and c["industry"] == "manufacturing"
    assert [(a["label"], a["is_default"]) for a in c["addresses"]] == [("office", False), ("plant", True)]
    assert c["contacts"][0] | {"id": 0} == {"id": 0, "name": "Li Lei", "role": "purchasing",
                                           "phone": "139-0000-1111", "phone_normalized": "+8613900001111",
                                           "notes": ""}
    assert c["products"][0] | {"id": 0} == {"id": 0, "model": "WX-200", "serial": "SN-0001",
                                           "purchase_date": "2025-01-10", "warranty_end": "2027-01-10",
                                           "install_address": "天津市 2 号"}
    assert c["merged_into_id"] is None and c["merged_at"] is None
    r = await client.get(f"/api/v1/customers/{c['id']}", headers=auth)
    assert r.status_code == 200 and r.json() == c


async def test_card_keeps_the_screen_pop_shape(db):
    """The raw-SQL pop reader builds the card from these columns only."""
    c = await service.create(db=db, name="X", phones=["13800138000"], tags=["a"], region="r")
    assert set(service.card(c)) == {"id", "name", "kind", "provisional", "phones", "notes", "created_at"}


@pytest.mark.parametrize("body,loc,words", [
    ({"name": "X", "value_class": "E"}, ["body", "value_class"], "'A'"),
    ({"name": "X", "vip": "maybe"}, ["body", "vip"], "bool"),
    ({"name": "X", "tags": ["ok", ""]}, ["body", "tags", 1], "empty"),
    ({"name": "X", "tags": ["a,b"]}, ["body", "tags", 0], "must not contain"),
    ({"name": "X", "tags": ["x" * 41]}, ["body", "tags", 0], "too long"),
    ({"name": "X", "products": [{"model": "M", "purchase_date": "2025-13-01"}]},
     ["body", "products", 0, "purchase_date"], "date"),
    ({"name": "X", "products": [{"model": "M", "purchase_date": "2025-02-01", "warranty_end": "2025-01-01"}]},
     ["body", "products", 0, "warranty_end"], "before the purchase"),
    ({"name": "X", "products": [{"purchase_date": "2025-02-01"}]}, ["body", "products", 0, "model"],
     "model or a serial"),
    ({"name": "X", "contacts": [{"name": "Li", "phone": "12ab"}]}, ["body", "contacts", 0, "phone"], "12ab"),
    ({"name": "X", "contacts": [{"role": "boss"}]}, ["body", "contacts", 0, "name"], "required"),
    ({"name": "X", "addresses": [{"text": ""}]}, ["body", "addresses", 0, "text"], "at least 1"),
    ({"name": " ", "phones": []}, ["body", "name"], "name or a phone"),
    ({"name": "X", "region": "r" * 81}, ["body", "region"], "at most 80"),
])
async def test_create_422_names_the_field(app, client, auth, body, loc, words):
    r = await client.post("/api/v1/customers", headers=auth, json=body)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["loc"] == loc and words in err["msg"], err
    assert await count(app, Customer) == 0


async def test_patch_changes_only_what_is_sent_and_audits(app, client, auth):
    c = (await client.post("/api/v1/customers", headers=auth, json=FULL)).json()
    r = await client.patch(f"/api/v1/customers/{c['id']}", headers=auth, json={
        "name": "Beijing Widgets Co.", "value_class": "a", "vip": False, "class_reason": None,
        "tags": ["华北", "new"], "phones": ["+86 10 5555 1234", "13800138000"]})
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["name"], p["value_class"], p["vip"], p["class_reason"]) == ("Beijing Widgets Co.", "A", False, None)
    assert sorted(p["tags"]) == ["new", "华北"]
    # a number already stored keeps its row and its original spelling
    assert [ph["raw"] for ph in p["phones"]] == ["010-5555-1234", "13800138000"]
    assert p["region"] == c["region"] and p["products"] == c["products"]  # untouched
    [row] = await audits(app, "customer.update")
    detail = json.loads(row.detail)
    assert detail["value_class"] == ["B", "A"] and detail["vip"] == [True, False]
    assert detail["phones"] == [["+861055551234"], ["+861055551234", "+8613800138000"]]
    assert "industry" not in detail
    r = await client.patch(f"/api/v1/customers/{c['id']}", headers=auth, json={})
    assert r.status_code == 200 and len(await audits(app, "customer.update")) == 1  # no-op: no audit


@pytest.mark.parametrize("body,loc", [
    ({"name": None}, ["body", "name"]),
    ({"vip": None}, ["body", "vip"]),
    ({"value_class": "Z"}, ["body", "value_class"]),
    ({"kind": "alien"}, ["body", "kind"]),
    ({"colour": "red"}, ["body", "colour"]),
    ({"phones": ["13800138000", "nope"]}, ["body", "phones", 1]),
    ({"tags": "vip"}, ["body", "tags"]),
    ({"name": "", "phones": []}, ["body", "name"]),
])
async def test_patch_422_names_the_field(app, client, auth, body, loc):
    c = (await client.post("/api/v1/customers", headers=auth, json={"name": "A", "phones": ["13800138000"]})).json()
    r = await client.patch(f"/api/v1/customers/{c['id']}", headers=auth, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    again = (await client.get(f"/api/v1/customers/{c['id']}", headers=auth)).json()
    assert again["name"] == "A" and len(again["phones"]) == 1


async def test_patch_missing_404(client, auth):
    r = await client.patch("/api/v1/customers/999", headers=auth, json={"name": "x"})
    assert r.status_code == 404


async def test_delete_rules(app, client, db, users):
    plain = await make_customer(db, name="Nobody", phones=["13900000001"])
    with_ticket = await make_customer(db, name="Has ticket", phones=["13900000002"])
    prov = await service.get_or_create_provisional(db=db, number_raw="13900000003", caller_name="",
                                                   call_id="c-prov")
    busy = await service.get_or_create_provisional(db=db, number_raw="13900000004", caller_name="",
                                                   call_id="c-busy")
    real_with_call = await make_customer(db, name="Caller", phones=["13900000005"])
    db.add_all([Ticket(customer_id=with_ticket.id, type="repair"), call(prov.id, "c-prov", T0),
                call(busy.id, "c-busy", T0, ended=False), call(real_with_call.id, "c-real", T0)])
    await db.commit()

    r = await client.delete(f"/api/v1/customers/{plain.id}", headers=users["supervisor"])
    assert r.status_code == 403
    r = await client.delete(f"/api/v1/customers/{plain.id}", headers=users["admin"])
    assert r.status_code == 204
    r = await client.delete(f"/api/v1/customers/{with_ticket.id}", headers=users["admin"])
    assert r.status_code == 409 and "1 tickets" in r.json()["detail"] and "merge" in r.json()["detail"]
    r = await client.delete(f"/api/v1/customers/{real_with_call.id}", headers=users["admin"])
    assert r.status_code == 409 and "1 calls" in r.json()["detail"]
    r = await client.delete(f"/api/v1/customers/{busy.id}", headers=users["admin"])
    assert r.status_code == 409 and "in progress" in r.json()["detail"]
    r = await client.delete(f"/api/v1/customers/{prov.id}", headers=users["admin"])
    assert r.status_code == 204
    assert await count(app, CallRecord, CallRecord.call_id == "c-prov", CallRecord.customer_id.is_(None)) == 1
    r = await client.delete("/api/v1/customers/99999", headers=users["admin"])
    assert r.status_code == 404
    assert await count(app, Customer) == 3
    assert [a.target for a in await audits(app, "customer.delete")] == [f"customer:{plain.id}",
                                                                        f"customer:{prov.id}"]


# --- parts -------------------------------------------------------------------

async def test_phones_add_and_remove(app, client, auth):
    c = (await client.post("/api/v1/customers", headers=auth, json={"name": "A", "phones": ["13800138000"]})).json()
    url = f"/api/v1/customers/{c['id']}/phones"
    r = await client.post(url, headers=auth, json={"phone": "010 5555 1234"})
    assert r.status_code == 201 and [p["normalized"] for p in r.json()["phones"]] == [
        "+8613800138000", "+861055551234"]
    r = await client.post(url, headers=auth, json={"phone": "+86 138 0013 8000"})
    assert r.status_code == 409
    r = await client.post(url, headers=auth, json={"phone": "garbage"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phone"]
    r = await client.delete(f"{url}/01055551234", headers=auth)  # any spelling
    assert r.status_code == 200 and len(r.json()["phones"]) == 1
    r = await client.delete(f"{url}/%2B8613800138000", headers=auth)  # the stored form
    assert r.status_code == 200 and r.json()["phones"] == []
    r = await client.delete(f"{url}/13800138000", headers=auth)
    assert r.status_code == 404
    assert [a.action for a in await audits(app, "customer.phone_add")] == ["customer.phone_add"]


async def test_addresses_contacts_products(client, auth):
    c = (await client.post("/api/v1/customers", headers=auth, json={"name": "A", "kind": "company"})).json()
    base = f"/api/v1/customers/{c['id']}"
    first = (await client.post(f"{base}/addresses", headers=auth, json={"text": "addr 1"})).json()
    assert first["addresses"][0]["is_default"] is True  # the first becomes the default
    r = await client.post(f"{base}/addresses", headers=auth, json={"text": "addr 2", "is_default": True})
    assert [a["is_default"] for a in r.json()["addresses"]] == [False, True]
    r = await client.delete(f"{base}/addresses/{r.json()['addresses'][1]['id']}", headers=auth)
    assert [(a["text"], a["is_default"]) for a in r.json()["addresses"]] == [("addr 1", True)]

    r = await client.post(f"{base}/contacts", headers=auth, json={"name": "Han", "phone": "13900001111"})
    assert r.status_code == 201 and r.json()["contacts"][0]["phone_normalized"] == "+8613900001111"
    r = await client.post(f"{base}/contacts", headers=auth, json={"name": "Han", "phone": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phone"]

    r = await client.post(f"{base}/products", headers=auth, json={"model": "M1", "serial": "abc123"})
    assert r.status_code == 201 and r.json()["products"][0]["serial"] == "ABC123"
    r = await client.post(f"{base}/products", headers=auth, json={"model": "M1", "serial": "ABC123 "})
    assert r.status_code == 409
    r = await client.post(f"{base}/products", headers=auth, json={"model": "M1", "warranty_end": "soon"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "warranty_end"]
    pid = (await client.get(base, headers=auth)).json()["products"][0]["id"]
    r = await client.delete(f"{base}/products/{pid}", headers=auth)
    assert r.status_code == 200 and r.json()["products"] == []
    r = await client.delete(f"{base}/products/{pid}", headers=auth)
    assert r.status_code == 404
    r = await client.delete(f"{base}/widgets/1", headers=auth)
    assert r.status_code == 422


# --- search ------------------------------------------------------------------

@pytest.fixture
async def population(db):
    a = await service.create(db=db, name="张三 Zhang San", phones=["138-0013-8000"], region="广东省深圳市",
                             value_class="A", vip=True, tags=["vip-line"],
                             products=[{"model": "AC-1", "serial": "KX2025-0001"}])
    b = await service.create(db=db, name="Zhang Wei", phones=["010-5555-1234"], region="北京市",
                             value_class="B", tags=["dealer"], kind="company",
                             contacts=[{"name": "Li", "phone": "139 0000 2222"}],
                             products=[{"model": "AC-2", "serial": "KX2025-0002"}])
    c = await service.create(db=db, name="Wang Fang", phones=["021-6666-7777"], region="广东省广州市",
                             tags=["dealer"], products=[{"model": "TV", "serial": "TV-9"}])
    await db.commit()
    return a, b, c


@pytest.mark.parametrize("params,expected", [
    ({"q": "zhang"}, "ab"),
    ({"q": "ZHANG san"}, "a"),  # every word, any case
    ({"q": "张三"}, "a"),
    ({"q": "0013 8000"}, "a"),  # phone fragment, separators ignored
    ({"q": "5555"}, "b"),
    ({"q": "555"}, ""),  # fewer than 4 digits: not a phone fragment
    ({"q": "010-5555-1234"}, "b"),  # trunk 0: matched as a whole number
    ({"q": "2222"}, "b"),  # a contact's number
    ({"q": "kx2025"}, "ab"),  # serial prefix
    ({"q": "dealer"}, "bc"),  # tag
    ({"serial": "KX2025-0002"}, "b"),
    ({"serial": "kx2025"}, "ab"),
    ({"serial": "KX2026"}, ""),
    ({"tag": "DEALER"}, "bc"),
    ({"value_class": "a"}, "a"),
    ({"vip": "true"}, "a"),
    ({"vip": "false"}, "bc"),
    ({"region": "广东"}, "ac"),
    ({"kind": "company"}, "b"),
    ({"tag": "dealer", "region": "北京"}, "b"),
    ({"phone": "+86 10 55551234"}, "b"),
])
async def test_search_filters(client, auth, population, params, expected):
    ids = {population[i].id: "abc"[i] for i in range(3)}
    r = await client.get("/api/v1/customers", headers=auth, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "".join(sorted(ids[i["id"]] for i in body["items"])) == expected
    assert body["total"] == len(expected)


async def test_search_items_carry_classification_and_paginate(client, auth, population):
    r = await client.get("/api/v1/customers", headers=auth, params={"q": "kx2025", "limit": 1, "offset": 1})
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    item = body["items"][0]
    assert {"value_class", "vip", "tags", "region", "industry", "merged_into_id"} <= set(item)
    r = await client.get("/api/v1/customers", headers=auth, params={"value_class": "E"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "value_class"]


# --- timeline ----------------------------------------------------------------

async def test_timeline_merges_kinds_in_time_order(client, db, auth):
    c = await make_customer(db, name="T", phones=["13800138000"])
    other = await make_customer(db, name="Other", phones=["13900000000"])
    ticket = Ticket(customer_id=c.id, type="repair", created_at=T0 + timedelta(hours=1), description="broken")
    db.add_all([call(c.id, "call-1", T0), ticket, call(c.id, "call-2", T0 + timedelta(hours=3)),
                call(other.id, "call-x", T0 + timedelta(hours=2))])
    await db.flush()
    db.add(Callback(customer_id=c.id, ticket_id=ticket.id, created_at=T0 + timedelta(hours=2), reason="revisit"))
    await db.commit()

    r = await client.get(f"/api/v1/customers/{c.id}/timeline", headers=auth)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["kind"], i["id"]) for i in items] == [
        ("call", "call-2"), ("callback", items[1]["id"]), ("ticket", ticket.id), ("call", "call-1")]
    assert items[0]["duration_s"] == 115 and items[2]["description"] == "broken"
    assert items[1]["ticket_id"] == ticket.id and items[0]["at"] > items[1]["at"] > items[2]["at"]
    r = await client.get(f"/api/v1/customers/{c.id}/timeline", headers=auth, params={"order": "asc", "limit": 2})
    assert [i["kind"] for i in r.json()["items"]] == ["call", "ticket"]
    r = await client.get("/api/v1/customers/9999/timeline", headers=auth)
    assert r.status_code == 404


# --- merge -------------------------------------------------------------------

@pytest.fixture
async def duplicates(db):
    """A known customer, and the provisional record an unknown number made
    when they called from their new phone, with history on both."""
    known = await service.create(db=db, name="Zhang San", phones=["13800138000"], tags=["vip"],
                                 addresses=[{"text": "home"}],
                                 products=[{"model": "AC", "serial": "S-1"}])
    prov = await service.get_or_create_provisional(db=db, number_raw="13900001234", caller_name="ZHANG",
                                                   call_id="c-new")
    prov.notes = "called about the AC"
    prov.phones.append(CustomerPhone(raw="138 0013 8000", normalized="+8613800138000", kind="mobile"))
    prov.tags.append(CustomerTag(tag="vip"))
    prov.tags.append(CustomerTag(tag="new"))
    await db.flush()
    await service.add_address(db=db, customer=prov, text="office")
    await service.add_contact(db=db, customer=prov, name="Wife", phone="13700000000")
    await service.add_product(db=db, customer=prov, model="AC", serial="S-1")  # the same unit
    await service.add_product(db=db, customer=prov, model="TV", serial="S-2")
    ticket = Ticket(customer_id=prov.id, type="repair", created_at=T0)
    db.add_all([call(known.id, "c-old", T0 - timedelta(days=5)), call(prov.id, "c-new", T0), ticket])
    await db.flush()
    db.add(Callback(customer_id=prov.id, ticket_id=ticket.id, created_at=T0 + timedelta(hours=1)))
    await db.commit()
    return known, prov


async def test_merge_moves_everything_and_audits_once(app, client, auth, duplicates):
    known, prov = duplicates
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=auth, json={"from_id": prov.id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["already_merged"] is False and body["merged_id"] == prov.id
    assert body["moved"] == {"calls": 1, "tickets": 1, "callbacks": 1, "phones": 1,
                             "phones_dropped_as_duplicates": 1, "tags": 1, "addresses": 1, "contacts": 1,
                             "products": 1, "products_dropped_as_duplicates": 1}
    s = body["customer"]
    assert sorted(p["normalized"] for p in s["phones"]) == ["+8613800138000", "+8613900001234"]
    assert sorted(s["tags"]) == ["new", "vip"]
    assert [(a["text"], a["is_default"]) for a in s["addresses"]] == [("home", True), ("office", False)]
    assert [p["serial"] for p in s["products"]] == ["S-1", "S-2"]
    assert s["notes"] == "called about the AC" and s["name"] == "Zhang San" and s["provisional"] is False

    timeline = (await client.get(f"/api/v1/customers/{known.id}/timeline", headers=auth)).json()
    assert [i["kind"] for i in timeline["items"]] == ["callback", "call", "ticket", "call"]
    assert timeline["merged_ids"] == [prov.id]
    husk = (await client.get(f"/api/v1/customers/{prov.id}", headers=auth)).json()
    assert husk["merged_into_id"] == known.id and husk["merged_at"] and husk["phones"] == []
    assert husk["products"] == [] and husk["contacts"] == []
    [row] = await audits(app, "customer.merge")
    assert row.actor == "agent1" and row.target == f"customer:{known.id}"
    assert json.loads(row.detail)["moved"]["calls"] == 1 and json.loads(row.detail)["from_id"] == prov.id
    # the husk is hidden from search and from the number lookup
    found = (await client.get("/api/v1/customers", headers=auth, params={"phone": "13900001234"})).json()
    assert [c["id"] for c in found["items"]] == [known.id]
    found = (await client.get("/api/v1/customers", headers=auth,
                              params={"q": "zhang", "include_merged": "true"})).json()
    assert found["total"] == 2
    assert await count(app, CustomerProduct) == 2

    # idempotent: again is a no-op with no second audit row
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=auth, json={"from_id": prov.id})
    assert r.status_code == 200 and r.json()["already_merged"] is True and r.json()["moved"] == {}
    assert len(await audits(app, "customer.merge")) == 1


async def test_merge_again_picks_up_a_call_that_was_in_progress(app, client, db, users, duplicates):
    known, prov = duplicates
    await client.post(f"/api/v1/customers/{known.id}/merge", headers=users["supervisor"],
                      json={"from_id": prov.id})
    # the call writer still had the old id for a call in flight
    db.add(call(prov.id, "c-late", T0 + timedelta(hours=5)))
    await db.commit()
    timeline = (await client.get(f"/api/v1/customers/{known.id}/timeline", headers=users["agent"])).json()
    assert timeline["items"][0]["id"] == "c-late"  # shown before any re-merge
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=users["supervisor"],
                          json={"from_id": prov.id})
    assert r.json() == r.json() | {"already_merged": True, "moved": {"calls": 1}}
    assert await count(app, CallRecord, CallRecord.customer_id == prov.id) == 0
    assert len(await audits(app, "customer.merge")) == 2


async def test_merge_refusals(app, client, db, users, duplicates):
    known, prov = duplicates
    other = await make_customer(db, name="Other", phones=["13600000000"])
    third = await make_customer(db, name="Third", phones=["13500000000"])
    sup, agent = users["supervisor"], users["agent"]
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=sup, json={"from_id": known.id})
    assert r.status_code == 409 and "itself" in r.json()["detail"]
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=agent, json={"from_id": other.id})
    assert r.status_code == 403  # agents merge only provisional records
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=sup, json={"from_id": 9999})
    assert r.status_code == 404
    r = await client.post("/api/v1/customers/9999/merge", headers=sup, json={"from_id": other.id})
    assert r.status_code == 404
    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=sup, json={"from_id": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "from_id"]

    r = await client.post(f"/api/v1/customers/{known.id}/merge", headers=sup, json={"from_id": other.id})
    assert r.status_code == 200
    r = await client.post(f"/api/v1/customers/{other.id}/merge", headers=sup, json={"from_id": third.id})
    assert r.status_code == 409 and "merged into" in r.json()["detail"]  # into a husk
    r = await client.post(f"/api/v1/customers/{third.id}/merge", headers=sup, json={"from_id": other.id})
    assert r.status_code == 409 and "already merged" in r.json()["detail"]
    r = await client.patch(f"/api/v1/customers/{other.id}", headers=sup, json={"name": "x"})
    assert r.status_code == 409  # a husk is read-only
    r = await client.post(f"/api/v1/customers/{other.id}/phones", headers=sup, json={"phone": "13100000000"})
    assert r.status_code == 409
    assert len(await audits(app, "customer.merge")) == 1


async def test_merge_flattens_chains(db):
    a = await make_customer(db, name="A", phones=["13100000001"])
    b = await make_customer(db, name="B", phones=["13100000002"])
    c = await make_customer(db, name="C", phones=["13100000003"])
    await service.merge(db=db, into_id=b.id, from_id=a.id)
    result = await service.merge(db=db, into_id=c.id, from_id=b.id)
    await db.commit()
    assert result.moved["merged_records"] == 1
    assert await service.merged_ids(db=db, customer_id=c.id) == [a.id, b.id]
    assert sorted(p.normalized for p in result.survivor.phones) == [
        "+8613100000001", "+8613100000002", "+8613100000003"]
    [found] = await service.find_by_phone(db=db, phone="13100000001")
    assert found.id == c.id

