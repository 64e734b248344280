"""Base data edited in the browser (issue 14): SLA levels, the business calendar,
pause reasons and the IVR menu as versioned documents. Every kind round-trips;
a bad document is a 422 naming each field and changes nothing; a stale base is
a 409; saves and restores are audited; only admins; and what is saved is what
the SLA engine, the calendar and the FastAGI server use next, without a restart."""
from __future__ import annotations

import copy
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from accounts.models import AuditLog
from basedata.models import ConfigDocument
from basedata.service import hydrate
from ctidesk import calendar as center_calendar
from tests.factories import bearers, make_app
from tests.unit.test_ivr_agi import FakeAsterisk, agi_server, keys, until
from tickets import sla

SHANGHAI = ZoneInfo("Asia/Shanghai")
XMAS_10AM = datetime(2026, 12, 25, 10, 0, tzinfo=SHANGHAI)  # a Friday: open by the shipped calendar
URL = "/api/v1/basedata"


@pytest.fixture(autouse=True)
def forget_live_documents():
    """What a test put in force is process-wide (as in ``serve``): later tests start from the files."""
    yield
    sla.use_policy(None)
    center_calendar.use_center(None, None)


@pytest.fixture
async def h(app, db):
    return await bearers(app, db, {"admin": ("root", "admin"), "boss": ("sam", "supervisor"),
                                   "agent": ("alice", "agent"), "expert": ("erin", "expert")})


async def get(client, h, kind):
    r = await client.get(f"{URL}/{kind}", headers=h["admin"])
    assert r.status_code == 200, r.text
    return r.json()


async def put(client, h, kind, body, version, who="admin", comment=""):
    return await client.put(f"{URL}/{kind}", json={"version": version, "body": body, "comment": comment},
                            headers=h[who])


async def rows(app, model):
    async with app.state.container.sessionmaker() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


def problems(r) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {p["path"]: p["msg"] for p in r.json()["detail"]}


def edited(doc: dict, kind: str) -> dict:
    body = copy.deepcopy(doc["body"])
    if kind == "sla":
        body["levels"]["info"]["respond_within"] = "6h"
    elif kind == "calendar":
        body["holidays"].append("2026-12-25")
    elif kind == "pause_reasons":
        body["coaching"] = {"en": "Coaching", "zh-CN": "辅导"}
    else:
        body["nodes"]["main"]["choices"]["2"] = "to_operator"
    return body


# --- round trips, and the live objects follow ----------------------------------------------

@pytest.mark.parametrize("kind", ["sla", "calendar", "pause_reasons", "ivr"])
async def test_every_kind_round_trips_from_its_file_to_a_stored_version(client, h, app, kind):
    doc = await get(client, h, kind)
    assert (doc["version"], doc["source"], doc["saved_by"]) == (0, "file", None)
    assert doc["body"] == app.state.container.basedata.file_body(kind)
    body = edited(doc, kind)
    r = await put(client, h, kind, body, 0, comment="change one thing")
    assert r.status_code == 200, r.text
    saved = r.json()
    assert (saved["version"], saved["source"], saved["saved_by"], saved["comment"]) == (
        1, "database", "root", "change one thing")
    again = await get(client, h, kind)
    assert again["body"] == body and again["version"] == 1
    (row,) = await rows(app, ConfigDocument)
    assert (row.kind, row.version, json.loads(row.body)) == (kind, 1, body)
    r = await client.get(f"{URL}/{kind}/versions", headers=h["admin"])
    assert [(v["version"], v["saved_by"]) for v in r.json()] == [(1, "root")]


async def test_a_new_holiday_closes_the_center_for_the_slas_and_the_ivr_at_once(client, h, app):
    policy = sla.default_policy()
    assert policy.levels["standard"].calendar.is_open(XMAS_10AM)
    settings = app.state.container.settings
    assert center_calendar.load_center(settings.calendar_config).is_open(XMAS_10AM)
    doc = await get(client, h, "calendar")
    r = await put(client, h, "calendar", edited(doc, "calendar"), 0)
    assert r.status_code == 200, r.text
    assert not center_calendar.load_center(settings.calendar_config).is_open(XMAS_10AM)
    fresh = sla.default_policy()
    assert not fresh.levels["standard"].calendar.is_open(XMAS_10AM)
    # The scheduler built before the save reads the policy in force at its next pass.
    scheduler = sla.SlaScheduler(app.state.container.sessionmaker, app.state.container.bus)
    assert not scheduler.policy.levels["standard"].calendar.is_open(XMAS_10AM)
    # An IVR menu that says hours = "center" is checked on the same calendar.
    ivr = await get(client, h, "ivr")
    ivr["body"]["nodes"]["welcome"]["schedule"] = "center"
    r = await put(client, h, "ivr", ivr["body"], 0)
    assert r.status_code == 200, r.text
    menu = app.state.container.basedata.ivr_menu
    assert not menu.schedules["center"].is_open(XMAS_10AM)


async def test_a_new_sla_level_is_what_the_next_ticket_gets(client, h, app, customer):
    doc = await get(client, h, "sla")
    body = edited(doc, "sla")
    body["levels"]["info"] = {"respond_within": "30m", "resolve_within": "4h", "hours": "24x7"}
    assert (await put(client, h, "sla", body, 0)).status_code == 200
    r = await client.post("/api/v1/tickets", headers=h["admin"], json={
        "type": "consultation", "customer_id": customer.id, "description": "how to descale"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["sla_level"] == "info"
    opened = datetime.fromisoformat(t["created_at"])
    assert (datetime.fromisoformat(t["due_response_at"]) - opened).total_seconds() == pytest.approx(1800, abs=2)


async def test_pause_reasons_saved_are_what_supervisors_see(client, h, app):
    doc = await get(client, h, "pause_reasons")
    assert (await put(client, h, "pause_reasons", edited(doc, "pause_reasons"), 0)).status_code == 200
    r = await client.get("/api/v1/supervisor/config", headers=h["boss"])
    assert r.status_code == 200, r.text
    assert r.json()["pause_reasons"]["coaching"] == {"en": "Coaching", "zh-CN": "辅导"}


async def test_the_ivr_engine_takes_a_new_choice_on_the_next_call_and_keeps_the_last_good_menu(
        client, h, app, tmp_path):
    path = tmp_path / "ivr.toml"
    path.write_text(app.state.container.settings.ivr_config.read_text(encoding="utf-8"), encoding="utf-8")
    async with agi_server(path) as server:
        app.state.container.ivr_menus = server.menus
        await FakeAsterisk(server.port, keys("2")).run()
        await until(lambda: len(server.events) == 1)
        assert server.events[0].queue == "sales"
        doc = await get(client, h, "ivr")
        assert (await put(client, h, "ivr", edited(doc, "ivr"), 0)).status_code == 200
        await FakeAsterisk(server.port, keys("2"), n=2).run()
        await until(lambda: len(server.events) == 2)
        assert server.events[1].queue == "operator"
        bad = edited(doc, "ivr")
        bad["nodes"]["main"]["choices"]["2"] = "to_mars"
        found = problems(await put(client, h, "ivr", bad, 1))
        assert "unknown target 'to_mars'" in found['nodes.main.choices."2"']
        await FakeAsterisk(server.port, keys("2"), n=3).run()
        await until(lambda: len(server.events) == 3)
        assert server.events[2].queue == "operator"  # the last good menu
        # A file edit does not fight the stored menu.
        path.write_text(path.read_text(encoding="utf-8").replace('"2" = "to_sales"', '"2" = "to_support"'),
                        encoding="utf-8")
        await FakeAsterisk(server.port, keys("2"), n=4).run()
        await until(lambda: len(server.events) == 4)
        assert server.events[3].queue == "operator"
        # The menu view shows the saved menu in force, not the edited file.
        view = (await client.get("/api/v1/ivr/menu", headers=h["boss"])).json()
        assert view["origin"] == "database v1" and view["valid"] and view["problems"] == []
        assert any("operator" in line for line in view["tree"])


# --- bad input, conflicts, audit, restore, roles ---------------------------------------------

async def test_an_invalid_document_is_a_422_naming_each_field_and_nothing_changes(client, h, app):
    before = sla.default_policy()
    doc = await get(client, h, "sla")
    body = copy.deepcopy(doc["body"])
    body["levels"]["complaint"]["respond_within"] = "2x"
    body["types"]["repair"] = "gold"
    found = problems(await put(client, h, "sla", body, 0))
    assert set(found) == {"levels.complaint.respond_within", "types.repair"}
    assert "'2x'" in found["levels.complaint.respond_within"] and "'gold'" in found["types.repair"]
    cal = await get(client, h, "calendar")
    cal["body"]["holidays"] = ["2026-13-01"]
    cal["body"]["timezone"] = "Mars/Olympus"
    cal["body"]["weekly"]["mon"] = ["18:00-09:00"]
    found = problems(await put(client, h, "calendar", cal["body"], 0))
    assert set(found) == {"holidays[0]", "timezone", "weekly.mon"}
    found = problems(await put(client, h, "pause_reasons", {"bad code!": {"en": "x"}, "meal": {"zh-CN": "用餐"}}, 0))
    assert set(found) == {"bad code!", "meal.en"}
    assert sla.default_policy() is before
    assert center_calendar.load_center(app.state.container.settings.calendar_config).is_open(XMAS_10AM)
    assert await rows(app, ConfigDocument) == [] and await rows(app, AuditLog) == []
    for kind in ("sla", "calendar", "pause_reasons"):
        assert (await get(client, h, kind))["version"] == 0
    # The same checks without saving, for the editor's "Check" button.
    r = await client.post(f"{URL}/sla/check", json={"body": body}, headers=h["admin"])
    assert r.status_code == 200 and r.json()["valid"] is False
    assert {p["path"] for p in r.json()["problems"]} == {"levels.complaint.respond_within", "types.repair"}
    r = await client.post(f"{URL}/sla/check", json={"body": doc["body"]}, headers=h["admin"])
    assert r.json() == {"valid": True, "problems": []}


async def test_a_stale_base_version_is_a_409_and_the_first_save_stays(client, h, app):
    doc = await get(client, h, "pause_reasons")
    first = {**doc["body"], "coaching": {"en": "Coaching"}}
    second = {**doc["body"], "lunch": {"en": "Lunch"}}
    assert (await put(client, h, "pause_reasons", first, 0)).status_code == 200
    r = await put(client, h, "pause_reasons", second, 0)
    assert r.status_code == 409 and "version 1" in r.json()["detail"]
    now = await get(client, h, "pause_reasons")
    assert now["version"] == 1 and "coaching" in now["body"] and "lunch" not in now["body"]
    assert len(await rows(app, ConfigDocument)) == 1


async def test_saves_and_restores_are_audited_and_a_restore_is_a_new_checked_version(client, h, app):
    doc = await get(client, h, "calendar")
    v1 = edited(doc, "calendar")
    assert (await put(client, h, "calendar", v1, 0, comment="Christmas")).status_code == 200
    v2 = {**v1, "holidays": v1["holidays"] + ["2026-12-31"]}
    assert (await put(client, h, "calendar", v2, 1)).status_code == 200
    r = await client.post(f"{URL}/calendar/versions/1/restore", json={"version": 1}, headers=h["admin"])
    assert r.status_code == 409  # the restore, too, starts from the version in force
    r = await client.post(f"{URL}/calendar/versions/1/restore", json={"version": 2}, headers=h["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 3 and r.json()["body"] == v1 and r.json()["comment"] == "restored version 1"
    cal = center_calendar.load_center(app.state.container.settings.calendar_config)
    assert not cal.is_open(XMAS_10AM) and cal.is_open(datetime(2026, 12, 31, 10, tzinfo=SHANGHAI))
    r = await client.get(f"{URL}/calendar/versions/2", headers=h["admin"])
    assert r.json()["body"] == v2
    assert (await client.get(f"{URL}/calendar/versions/9", headers=h["admin"])).status_code == 404
    audit = [(a.actor, a.action, a.target, json.loads(a.detail)) for a in await rows(app, AuditLog)]
    assert [(a, b, c) for a, b, c, _ in audit] == [
        ("root", "basedata.save", "calendar:v1"), ("root", "basedata.save", "calendar:v2"),
        ("root", "basedata.restore", "calendar:v3")]
    assert audit[0][3]["summary"] == "~holidays" and audit[0][3]["comment"] == "Christmas"
    assert audit[2][3]["restored_from"] == 1 and audit[2][3]["base"] == 2


async def test_a_restart_serves_the_newest_stored_version(client, h, app, tmp_path):
    doc = await get(client, h, "calendar")
    assert (await put(client, h, "calendar", edited(doc, "calendar"), 0)).status_code == 200
    center_calendar.use_center(None, None)  # as a new process would start
    again = await make_app(tmp_path)
    try:
        settings = again.state.container.settings
        assert center_calendar.load_center(settings.calendar_config).is_open(XMAS_10AM)  # the file, until...
        assert await hydrate(live=again.state.container.basedata,
                             sessionmaker=again.state.container.sessionmaker) == ["calendar v1"]
        assert not center_calendar.load_center(settings.calendar_config).is_open(XMAS_10AM)
        assert not sla.default_policy().levels["standard"].calendar.is_open(XMAS_10AM)
    finally:
        await again.state.container.engine.dispose()


@pytest.mark.parametrize("who", ["boss", "agent", "expert"])
async def test_only_admins_read_or_write_base_data(client, h, who):
    doc = await get(client, h, "pause_reasons")
    assert (await client.get(f"{URL}/pause_reasons", headers=h[who])).status_code == 403
    assert (await put(client, h, "pause_reasons", doc["body"], 0, who=who)).status_code == 403
    assert (await client.get(f"{URL}/pause_reasons/versions", headers=h[who])).status_code == 403
    r = await client.post(f"{URL}/pause_reasons/check", json={"body": doc["body"]}, headers=h[who])
    assert r.status_code == 403
    r = await client.post(f"{URL}/pause_reasons/versions/1/restore", json={"version": 0}, headers=h[who])
    assert r.status_code == 403
    assert (await client.get(f"{URL}/pause_reasons")).status_code == 401
    assert (await client.get(f"{URL}/nonsense", headers=h["admin"])).status_code == 422
