"""Product catalogue and fault taxonomy (issue 14): the admin API's rules (codes
stable, names required, parents existing and active, nothing deleted, every
change audited, admins only), repair tickets validated against the taxonomy
(422 naming the field, a phenomenon in its class, history rows), and the
business report's breakdown of repairs by fault."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from accounts.models import AuditLog
from tests.factories import bearers
from tickets.models import TicketHistory

WASHER = {"code": "washer", "name_zh": "洗衣机", "name_en": "Washing machine"}
DRUM = {"code": "wm-drum", "name_zh": "滚筒故障", "name_en": "Drum", "category_code": "WASHER"}
NOSPIN = {"code": "wm-nospin", "name_zh": "滚筒不转", "name_en": "Drum does not turn", "class_code": "WM-DRUM"}
BELT = {"code": "wm-belt", "name_zh": "皮带松脱", "name_en": "Loose belt", "phenomenon_code": "WM-NOSPIN",
        "remedy_zh": "上门更换皮带", "remedy_en": "Replace the belt on site"}


@pytest.fixture
async def h(app, db):
    return await bearers(app, db, {"admin": ("root", "admin"), "expert": ("erin", "expert"),
                                   "agent": ("alice", "agent"), "boss": ("sam", "supervisor")})


async def post(client, h, kind, body, who="admin"):
    return await client.post(f"/api/v1/catalog/{kind}", json=body, headers=h[who])


async def patch(client, h, kind, code, body, who="admin"):
    return await client.patch(f"/api/v1/catalog/{kind}/{code}", json=body, headers=h[who])


@pytest.fixture
async def taxonomy(client, h):
    """washer > WM-DRUM > WM-NOSPIN > WM-BELT, and a second class WM-WATER > WM-LEAK."""
    for kind, body in (("categories", WASHER), ("fault-classes", DRUM), ("fault-phenomena", NOSPIN),
                       ("fault-causes", BELT),
                       ("fault-classes", {"code": "wm-water", "name_zh": "漏水", "name_en": "Water",
                                          "category_code": "washer"}),
                       ("fault-phenomena", {"code": "wm-leak", "name_zh": "底部漏水", "name_en": "Leaks",
                                            "class_code": "wm-water"})):
        r = await post(client, h, kind, body)
        assert r.status_code == 201, (kind, r.text)


def field_of(r) -> list[str]:
    return [".".join(str(p) for p in d["loc"]) for d in r.json()["detail"]]


async def audits(app, prefix="catalog.") -> list[tuple]:
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.action.startswith(prefix))
                                .order_by(AuditLog.id))).scalars()
        return [(r.actor, r.action, r.target) for r in rows]


# --- the catalogue ----------------------------------------------------------------------------

async def test_products_and_models_codes_upper_case_and_audited(client, h, app):
    assert (await post(client, h, "categories", WASHER)).json()["item"]["code"] == "WASHER"
    r = await post(client, h, "models", {"code": "xqg100 ", "name_zh": "滚筒洗衣机 XQG100",
                                         "name_en": "Front loader XQG100", "category_code": "washer"})
    assert r.status_code == 201, r.text
    assert r.json()["item"] == {"code": "XQG100", "name_zh": "滚筒洗衣机 XQG100", "name_en": "Front loader XQG100",
                                "active": True, "sort": 0, "category_code": "WASHER"}
    r = await client.get("/api/v1/catalog/products", headers=h["agent"])  # every role reads
    assert [m["code"] for m in r.json()["models"]] == ["XQG100"]
    assert [c["code"] for c in r.json()["categories"]] == ["WASHER"]
    assert await audits(app) == [("root", "catalog.category.create", "category:WASHER"),
                                 ("root", "catalog.model.create", "model:XQG100")]


async def test_a_renamed_label_keeps_its_code_and_the_code_never_changes(client, h, app, taxonomy):
    r = await patch(client, h, "fault-phenomena", "wm-nospin", {"name_zh": "滚筒不转动"})
    assert r.status_code == 200 and r.json()["changed"] == ["name_zh"]
    assert r.json()["item"]["code"] == "WM-NOSPIN" and r.json()["item"]["name_zh"] == "滚筒不转动"
    r = await patch(client, h, "fault-phenomena", "WM-NOSPIN", {"code": "WM-OTHER"})
    assert r.status_code == 422 and field_of(r) == ["body.code"]
    async with app.state.container.sessionmaker() as s:
        row = (await s.execute(select(AuditLog).where(AuditLog.action == "catalog.fault_phenomenon.update"))).scalar_one()
    assert json.loads(row.detail) == {"changed": {"name_zh": ["滚筒不转", "滚筒不转动"]}}
    # nothing changed: nothing audited
    before = await audits(app)
    r = await patch(client, h, "fault-phenomena", "WM-NOSPIN", {"name_zh": "滚筒不转动"})
    assert r.json()["changed"] == [] and await audits(app) == before


@pytest.mark.parametrize("kind,body,field", [
    ("categories", {"code": "x", "name_en": "X"}, "body.name_zh"),
    ("categories", {"code": "x", "name_zh": " ", "name_en": "X"}, "body.name_zh"),
    ("categories", {"name_zh": "x", "name_en": "X"}, "body.code"),
    ("categories", {"code": "bad code!", "name_zh": "x", "name_en": "X"}, "body.code"),
    ("categories", {"code": "x" * 41, "name_zh": "x", "name_en": "X"}, "body.code"),
    ("categories", {"code": "x", "name_zh": "a\x07b", "name_en": "X"}, "body.name_zh"),
    ("categories", {"code": "x", "name_zh": "x", "name_en": "X", "active": "yes"}, "body.active"),
    ("categories", {"code": "x", "name_zh": "x", "name_en": "X", "sort": -1}, "body.sort"),
    ("categories", {"code": "x", "name_zh": "x", "name_en": "X", "class_code": "WM-DRUM"}, "body.class_code"),
    ("models", {"code": "m1", "name_zh": "x", "name_en": "X"}, "body.category_code"),
    ("models", {"code": "m1", "name_zh": "x", "name_en": "X", "category_code": "NOPE"}, "body.category_code"),
    ("fault-phenomena", {"code": "p", "name_zh": "x", "name_en": "X", "class_code": "NOPE"}, "body.class_code"),
    ("fault-causes", {"code": "c", "name_zh": "x", "name_en": "X"}, "body.phenomenon_code"),
    ("fault-causes", {"code": "c", "name_zh": "x", "name_en": "X", "phenomenon_code": "WM-NOSPIN",
                      "remedy_zh": 5}, "body.remedy_zh"),
    ("fault-causes", {"code": "c", "name_zh": "x", "name_en": "X", "phenomenon_code": "WM-NOSPIN",
                      "surprise": 1}, "body.surprise"),
])
async def test_invalid_input_names_the_field_and_saves_nothing(client, h, app, taxonomy, kind, body, field):
    before = await client.get("/api/v1/catalog/faults", headers=h["admin"])
    r = await post(client, h, kind, body)
    assert r.status_code == 422, r.text
    assert field_of(r) == [field]
    assert (await client.get("/api/v1/catalog/faults", headers=h["admin"])).json() == before.json()
    assert ("root", f"catalog.{kind}", "x") not in await audits(app)


async def test_a_taken_code_is_409_and_a_missing_one_404(client, h, taxonomy):
    assert (await post(client, h, "categories", WASHER)).status_code == 409
    assert (await patch(client, h, "categories", "NOPE", {"name_en": "x"})).status_code == 404
    assert (await post(client, h, "nonsense", WASHER)).status_code == 404


async def test_deactivated_parents_take_no_new_children_and_phenomena_do_not_move(client, h, taxonomy):
    assert (await patch(client, h, "fault-classes", "WM-DRUM", {"active": False})).status_code == 200
    r = await post(client, h, "fault-phenomena", {"code": "wm-noise", "name_zh": "噪音", "name_en": "Noise",
                                                  "class_code": "WM-DRUM"})
    assert r.status_code == 422 and field_of(r) == ["body.class_code"] and "deactivated" in r.text
    r = await patch(client, h, "fault-phenomena", "WM-NOSPIN", {"class_code": "WM-WATER"})
    assert r.status_code == 422 and field_of(r) == ["body.class_code"]
    # the tree still has the inactive class (nothing is deleted); pickers ask for active only
    tree = (await client.get("/api/v1/catalog/faults", headers=h["agent"])).json()["classes"]
    assert {c["code"]: c["active"] for c in tree} == {"WM-DRUM": False, "WM-WATER": True}
    active = (await client.get("/api/v1/catalog/faults?active=true", headers=h["agent"])).json()["classes"]
    assert [c["code"] for c in active] == ["WM-WATER"]


async def test_the_tree_has_causes_and_remedies_and_filters_by_category(client, h, taxonomy):
    await post(client, h, "categories", {"code": "fridge", "name_zh": "冰箱", "name_en": "Refrigerator"})
    await post(client, h, "fault-classes", {"code": "any-power", "name_zh": "不通电", "name_en": "No power"})
    await post(client, h, "fault-classes", {"code": "fr-cool", "name_zh": "制冷", "name_en": "Cooling",
                                            "category_code": "fridge"})
    tree = (await client.get("/api/v1/catalog/faults?category=washer", headers=h["agent"])).json()["classes"]
    assert sorted(c["code"] for c in tree) == ["ANY-POWER", "WM-DRUM", "WM-WATER"]  # its own and every product's
    drum = next(c for c in tree if c["code"] == "WM-DRUM")
    assert drum["phenomena"][0]["code"] == "WM-NOSPIN"
    assert drum["phenomena"][0]["causes"] == [{**{k: v for k, v in BELT.items() if k != "code"}, "code": "WM-BELT",
                                               "active": True, "sort": 0}]


@pytest.mark.parametrize("who", ["agent", "expert", "boss"])
async def test_only_admins_write(client, h, who):
    assert (await post(client, h, "categories", WASHER, who=who)).status_code == 403
    assert (await patch(client, h, "categories", "WASHER", {"name_en": "x"}, who=who)).status_code == 403


async def test_reads_need_a_login(client):
    assert (await client.get("/api/v1/catalog/products")).status_code == 401
    assert (await client.get("/api/v1/catalog/faults")).status_code == 401


# --- repair tickets pick from the taxonomy ----------------------------------------------------

async def new_ticket(client, h, customer, **fields):
    body = {"type": "repair", "customer_id": customer.id, "description": "drum", **fields}
    return await client.post("/api/v1/tickets", json=body, headers=h["agent"])


async def test_a_repair_ticket_takes_a_class_and_its_phenomenon(client, h, taxonomy, customer):
    r = await new_ticket(client, h, customer, fault_class_code="wm-drum", fault_phenomenon_code="WM-NOSPIN")
    assert r.status_code == 201, r.text
    assert (r.json()["fault_class_code"], r.json()["fault_phenomenon_code"]) == ("WM-DRUM", "WM-NOSPIN")
    # other types and repairs not classified yet may leave them empty
    assert (await new_ticket(client, h, customer, type="consultation")).status_code == 201
    assert (await new_ticket(client, h, customer)).json()["fault_class_code"] is None


@pytest.mark.parametrize("fields,field,word", [
    ({"fault_class_code": "NOPE"}, "fault_class_code", "NOPE"),
    ({"fault_class_code": "WM-DRUM", "fault_phenomenon_code": "NOPE"}, "fault_phenomenon_code", "NOPE"),
    ({"fault_class_code": "WM-DRUM", "fault_phenomenon_code": "WM-LEAK"}, "fault_phenomenon_code", "WM-DRUM"),
    ({"fault_phenomenon_code": "WM-NOSPIN"}, "fault_class_code", "fault_phenomenon_code"),
    ({"fault_class_code": 7}, "fault_class_code", "string"),
])
async def test_bad_fault_codes_are_422_naming_the_field(client, h, taxonomy, customer, fields, field, word):
    r = await new_ticket(client, h, customer, **fields)
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["body", field]]
    assert word in r.json()["detail"][0]["msg"]


async def test_inactive_codes_refused_for_new_use_but_kept_on_old_tickets(client, h, taxonomy, customer):
    ticket = (await new_ticket(client, h, customer, fault_class_code="WM-DRUM",
                               fault_phenomenon_code="WM-NOSPIN")).json()
    assert (await patch(client, h, "fault-phenomena", "WM-NOSPIN", {"active": False})).status_code == 200
    r = await new_ticket(client, h, customer, fault_class_code="WM-DRUM", fault_phenomenon_code="WM-NOSPIN")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "fault_phenomenon_code"]
    r = await client.post("/api/v1/tickets", json={"type": "repair", "customer_id": customer.id,
                                                   "description": "x", "fault_class_code": "WM-DRUM",
                                                   "fault_phenomenon_code": "WM-NOSPIN"},
                          headers={**h["agent"], "Accept-Language": "zh-CN"})
    assert "已停用" in r.json()["detail"][0]["msg"]
    # the old ticket still edits (its codes are not new use), and still says what it said
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", headers=h["agent"],
                           json={"version": ticket["version"], "address": "1 Main St",
                                 "fault_phenomenon_code": "WM-NOSPIN"})
    assert r.status_code == 200, r.text
    assert r.json()["fault_phenomenon_code"] == "WM-NOSPIN"


async def test_changes_are_checked_against_the_stored_class_and_go_to_history(client, h, app, taxonomy, customer):
    ticket = (await new_ticket(client, h, customer, fault_class_code="WM-DRUM",
                               fault_phenomenon_code="WM-NOSPIN")).json()
    # only the phenomenon: it must belong to the class the ticket has
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", headers=h["agent"],
                           json={"version": ticket["version"], "fault_phenomenon_code": "WM-LEAK"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "fault_phenomenon_code"]
    # only the class: the stored phenomenon no longer belongs
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", headers=h["agent"],
                           json={"version": ticket["version"], "fault_class_code": "WM-WATER"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "fault_phenomenon_code"]
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", headers=h["agent"],
                           json={"version": ticket["version"], "fault_class_code": "wm-water",
                                 "fault_phenomenon_code": "wm-leak"})
    assert r.status_code == 200, r.text
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(select(TicketHistory).where(TicketHistory.ticket_id == ticket["id"],
                                                            TicketHistory.kind == "field")
                                .order_by(TicketHistory.id))).scalars()
        changes = [(r.field, r.old, r.new) for r in rows]
    assert changes == [("fault_class_code", "WM-DRUM", "WM-WATER"), ("fault_phenomenon_code", "WM-NOSPIN", "WM-LEAK")]
    # cleared together
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", headers=h["agent"],
                           json={"version": r.json()["version"], "fault_class_code": "",
                                 "fault_phenomenon_code": None})
    assert r.status_code == 200 and r.json()["fault_class_code"] is None


# --- the report --------------------------------------------------------------------------------

async def test_business_report_counts_repairs_by_fault_with_current_labels(client, h, taxonomy, customer):
    for fields in ({"fault_class_code": "WM-DRUM", "fault_phenomenon_code": "WM-NOSPIN"},
                   {"fault_class_code": "WM-DRUM", "fault_phenomenon_code": "WM-NOSPIN"},
                   {"fault_class_code": "WM-WATER", "fault_phenomenon_code": "WM-LEAK"},
                   {"fault_class_code": "WM-DRUM"}, {}, {"type": "complaint", "fault_class_code": "WM-DRUM"}):
        assert (await new_ticket(client, h, customer, **fields)).status_code == 201
    await patch(client, h, "fault-phenomena", "WM-NOSPIN", {"name_en": "Drum will not turn"})  # renamed later
    now = datetime.now(timezone.utc)
    params = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    r = await client.get("/api/v1/reports/business", params=params, headers=h["boss"])
    assert r.status_code == 200, r.text
    table = r.json()["tables"]["repairs_by_fault"]
    assert table["rows"] == [
        ["WM-DRUM", "滚筒故障", "Drum", "WM-NOSPIN", "滚筒不转", "Drum will not turn", 2],
        ["WM-DRUM", "滚筒故障", "Drum", "", "", "", 1],
        ["WM-WATER", "漏水", "Water", "WM-LEAK", "底部漏水", "Leaks", 1],
        ["", "", "", "", "", "", 1]]
    assert r.json()["totals"]["repairs"] == 5
    csv = await client.get("/api/v1/reports/business", params={**params, "format": "csv",
                                                                "table": "repairs_by_fault"}, headers=h["boss"])
    assert csv.status_code == 200 and "WM-NOSPIN,滚筒不转,Drum will not turn,2" in csv.text
    # outside the period: nothing
    old = {"from": (now - timedelta(days=3)).isoformat(), "to": (now - timedelta(days=2)).isoformat()}
    r = await client.get("/api/v1/reports/business", params=old, headers=h["boss"])
    assert r.json()["tables"]["repairs_by_fault"]["rows"] == []


# --- the demo ----------------------------------------------------------------------------------

async def test_the_demo_seeds_the_taxonomy_and_scripts_once(app, client, h, customer):
    from catalog import demo as catalog_demo
    from ctidesk import demo
    from knowledge import demo as scripts_demo

    for _ in range(2):
        await demo.load_demo_data(app.state.container.settings)
    tree = (await client.get("/api/v1/catalog/faults?active=true", headers=h["agent"])).json()["classes"]
    assert [c["code"] for c in tree] == [c[0][0] for c in catalog_demo.FAULTS]
    for category in ("WASHER", "FRIDGE", "AC"):  # every appliance has classes with phenomena, causes, remedies
        own = [c for c in tree if c["category_code"] == category]
        assert own and all(p["causes"] and all(x["remedy_zh"] and x["remedy_en"] for x in p["causes"])
                           for c in own for p in c["phenomena"])
    models = (await client.get("/api/v1/catalog/products", headers=h["agent"])).json()["models"]
    assert {"XQG100", "KFR-35GW"} <= {m["code"] for m in models}  # what the demo customers' articles name
    for ticket_type in scripts_demo.SCRIPTS:
        for lang in ("zh-CN", "en"):
            r = await client.get("/api/v1/kb/scripts", params={"ticket_type": ticket_type, "lang": lang},
                                 headers=h["agent"])
            [script] = r.json()["items"]
            assert script["lang"] == lang and script["version"] == 1 and script["questions"]
    # a demo repair ticket can use it
    r = await new_ticket(client, h, customer, fault_class_code="WM-DRUM", fault_phenomenon_code="WM-NOSPIN")
    assert r.status_code == 201, r.text
