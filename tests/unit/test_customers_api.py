import json

import pytest
from sqlalchemy import func, select

from accounts.models import AuditLog
from customers import service
from customers.models import Customer, CustomerPhone
from tests.factories import bearer, make_customer, make_user


@pytest.fixture
async def auth(app, db):
    user = await make_user(db, username="agent1", role="agent", extension="1001")
    return bearer(app.state.container.settings, user)


# --- http ------------------------------------------------------------------

async def test_create_and_get(app, client, auth):
    r = await client.post("/api/v1/customers", headers=auth, json={
        "name": "Beijing Widgets Ltd", "kind": "company",
        "phones": ["010-5555-1234", "138 0013 8000"], "notes": "VIP"})
    assert r.status_code == 201, r.text
    card = r.json()
    assert card["name"] == "Beijing Widgets Ltd" and card["kind"] == "company"
    assert card["provisional"] is False and card["notes"] == "VIP"
    assert card["phones"] == [
        {"raw": "010-5555-1234", "normalized": "+861055551234", "kind": "landline"},
        {"raw": "138 0013 8000", "normalized": "+8613800138000", "kind": "mobile"}]
    assert card["created_at"].startswith("20")

    r = await client.get(f"/api/v1/customers/{card['id']}", headers=auth)
    assert r.status_code == 200 and r.json() == card


async def test_get_missing_404(client, auth):
    r = await client.get("/api/v1/customers/999999", headers=auth)
    assert r.status_code == 404


@pytest.mark.parametrize("phones", [["13800138000abc"], ["010-5555-1234", "anonymous"],
                                    ["'; DROP TABLE customers; --"]])
async def test_invalid_phone_422_names_phones(app, client, auth, phones):
    r = await client.post("/api/v1/customers", headers=auth, json={"name": "X", "phones": phones})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "phones", len(phones) - 1]
    assert phones[-1] in err["msg"]
    async with app.state.container.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Customer))).scalar_one() == 0


async def test_bad_body_422(client, auth):
    r = await client.post("/api/v1/customers", headers=auth, json={"name": "X", "kind": "alien"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "kind"]
    r = await client.post("/api/v1/customers", headers=auth, json={"phones": "13800138000"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phones"]


@pytest.mark.parametrize("method,url", [("GET", "/api/v1/customers"),
                                        ("GET", "/api/v1/customers/1"),
                                        ("POST", "/api/v1/customers")])
async def test_unauthenticated_401(client, method, url):
    r = await client.request(method, url, json={"name": "x", "phones": []})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("spelling", ["010-5555-1234", "+86 10 55551234", "01055551234",
                                      "8601055551234", "0086 (10) 5555.1234"])
async def test_search_by_phone_any_spelling(client, db, auth, spelling):
    wanted = await make_customer(db, name="Li Lei", phones=["(010) 5555 1234"])
    await make_customer(db, name="Other", phones=["021-5555-1234", "55551234"])
    r = await client.get("/api/v1/customers", headers=auth, params={"phone": spelling})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1 and [c["id"] for c in body["items"]] == [wanted.id]


async def test_search_by_name_and_pagination(client, db, auth):
    for i in range(5):
        await make_customer(db, name=f"Wang {i}", phones=[f"1390000000{i}"])
    await make_customer(db, name="Zhao 100%_", phones=[])
    r = await client.get("/api/v1/customers", headers=auth,
                         params={"q": "wang", "limit": 2, "offset": 1})
    body = r.json()
    assert body["total"] == 5 and len(body["items"]) == 2
    r = await client.get("/api/v1/customers", headers=auth, params={"q": "%_"})
    assert [c["name"] for c in r.json()["items"]] == ["Zhao 100%_"]  # LIKE wildcards escaped
    r = await client.get("/api/v1/customers", headers=auth, params={"phone": "not a number"})
    assert r.json() == {"items": [], "total": 0}
    r = await client.get("/api/v1/customers", headers=auth, params={"limit": 0})
    assert r.status_code == 422


async def test_create_writes_audit(app, client, auth):
    r = await client.post("/api/v1/customers", headers=auth,
                          json={"name": "Han Meimei", "phones": ["13800138000"]})
    cid = r.json()["id"]
    async with app.state.container.sessionmaker() as s:
        [row] = (await s.execute(select(AuditLog).where(
            AuditLog.action == "customer.create"))).scalars().all()
    assert row.actor == "agent1" and row.target == f"customer:{cid}"
    assert json.loads(row.detail)["phones"] == ["+8613800138000"]
    assert auth["Authorization"].split()[1] not in row.detail


# --- service ---------------------------------------------------------------

async def test_shared_number_ordering(db):
    """Non-provisional first, then the most recently updated."""
    older = await make_customer(db, name="Dad", phones=["010-6666-1234"])
    prov = await service.get_or_create_provisional(
        db=db, number_raw="01066661234", caller_name="", call_id="c-1", country_code="86")
    await db.commit()
    newer = await make_customer(db, name="Mum", phones=["+86 10 6666 1234"])
    found = await service.find_by_phone(db=db, phone="66661234 ", country_code="86")
    assert found == []  # no area code: cannot be the same number
    found = await service.find_by_phone(db=db, phone="010 6666 1234", country_code="86")
    assert [c.id for c in found] == [newer.id, older.id, prov.id]


async def test_find_by_phone_garbage(db):
    await make_customer(db, phones=["13800138000"])
    for junk in ["", "anonymous", "'; DROP TABLE customer_phones; --", "%", "1" * 500]:
        assert await service.find_by_phone(db=db, phone=junk, country_code="86") == []


async def test_provisional_idempotent_per_call_id(db):
    args = dict(number_raw="+86 138 0013 8000", caller_name="ZHANG SAN", country_code="86")
    first = await service.get_or_create_provisional(db=db, call_id="1700000000.42", **args)
    await db.commit()
    second = await service.get_or_create_provisional(db=db, call_id="1700000000.42", **args)
    await db.commit()
    assert first.id == second.id and first.provisional
    third = await service.get_or_create_provisional(db=db, call_id="1700000000.43", **args)
    await db.commit()
    assert third.id != first.id
    count = (await db.execute(select(func.count()).select_from(Customer))).scalar_one()
    assert count == 2
    card = service.card(first)
    assert card["phones"] == [{"raw": "+86 138 0013 8000", "normalized": "+8613800138000",
                               "kind": "mobile"}]
    assert [c.id for c in await service.find_by_phone(db=db, phone="13800138000",
                                                       country_code="86")] == [third.id, first.id]


async def test_provisional_loser_of_a_race_gets_the_winner(app, monkeypatch):
    """Another writer commits the same call between our lookup and our insert:
    the unique source_call_id refuses the duplicate and we return theirs."""
    sm = app.state.container.sessionmaker
    async with sm() as a:
        winner = await service.get_or_create_provisional(
            db=a, number_raw="13800138000", caller_name="A", call_id="race", country_code="86")
        await a.commit()
    real_query, calls = service._by_id_query, []

    def blind_first_lookup():
        calls.append(1)
        query = real_query()
        return query.where(Customer.id == -1) if len(calls) == 1 else query

    monkeypatch.setattr(service, "_by_id_query", blind_first_lookup)
    async with sm() as b:
        again = await service.get_or_create_provisional(
            db=b, number_raw="13800138000", caller_name="B", call_id="race", country_code="86")
        await b.commit()
    assert len(calls) == 2 and again.id == winner.id and again.name == "A"
    async with sm() as s:
        assert (await s.execute(select(func.count()).select_from(Customer))).scalar_one() == 1


@pytest.mark.parametrize("given,stored", [
    ("<script>alert('x')</script>", "<script>alert('x')</script>"),
    ("Robert'); DROP TABLE customers;--", "Robert'); DROP TABLE customers;--"),
    ("{{7*7}} ${jndi:ldap://x}", "{{7*7}} ${jndi:ldap://x}"),
    ("张三\x00\x07\x1b[31m", "张三[31m"),
    ("Li\r\nSet-Cookie: x=1", "LiSet-Cookie: x=1"),
    ("\u202eevil\u202c", "evil"),
    ("A" * 200, "A" * 80),
    ("<unknown>", ""),
    (None, ""),
])
async def test_provisional_caller_name(db, given, stored):
    c = await service.get_or_create_provisional(db=db, number_raw="13800138000",
                                                caller_name=given, call_id="x", country_code="86")
    await db.commit()
    again = await service.get(db=db, customer_id=c.id)
    assert again.name == stored


@pytest.mark.parametrize("number", [None, "", "anonymous", "<unknown>", "garbage!"])
async def test_provisional_without_usable_number(db, number):
    c = await service.get_or_create_provisional(db=db, number_raw=number, caller_name="Someone",
                                                call_id="anon-1", country_code="86")
    await db.commit()
    assert c.provisional and c.phones == [] and c.name == "Someone"


async def test_create_rejects_bad_phone_by_name(db):
    with pytest.raises(ValueError, match="'abc'"):
        await service.create(db=db, name="X", phones=["13800138000", "abc"])
    with pytest.raises(ValueError, match="kind"):
        await service.create(db=db, name="X", kind="alien", phones=[])


async def test_same_number_twice_stored_once_and_shared_numbers_allowed(db):
    a = await make_customer(db, name="A", phones=["13800138000", "+86 138 0013 8000"])
    b = await make_customer(db, name="B", phones=["13800138000"])
    assert len(a.phones) == 1 and len(b.phones) == 1
    n = (await db.execute(select(func.count()).select_from(CustomerPhone))).scalar_one()
    assert n == 2


async def test_phones_load_eagerly_in_a_fresh_session(app, db):
    c = await make_customer(db, name="A", phones=["13800138000"])
    async with app.state.container.sessionmaker() as fresh:
        [found] = await service.find_by_phone(db=fresh, phone="138-0013-8000", country_code="86")
        loaded = await service.get(db=fresh, customer_id=c.id)
    # Session closed: any lazy load would raise now.
    assert service.card(found)["phones"][0]["normalized"] == "+8613800138000"
    assert loaded.phones[0].kind == "mobile"
