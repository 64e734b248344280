"""Answer scripts (话术) by ticket type and language (issue 14), the KB editor's
article list and Markdown preview: who writes, what is refused (naming the
field), the optimistic lock, the language fallback, the audit rows."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from accounts.models import AuditLog
from tests.factories import bearers

REPAIR_ZH = {"opening": "您好，这里是售后服务中心，请问有什么可以帮您？",
             "questions": ["请问是什么产品、什么型号？", "故障是什么时候开始的？"], "closing": "感谢来电，再见。"}


@pytest.fixture
async def h(app, db):
    return await bearers(app, db, {"admin": ("root", "admin"), "expert": ("erin", "expert"),
                                   "agent": ("alice", "agent"), "boss": ("sam", "supervisor")})


async def put(client, h, ticket_type="repair", lang="zh-CN", body=None, who="expert"):
    return await client.put(f"/api/v1/kb/scripts/{ticket_type}/{lang}", json=body or REPAIR_ZH, headers=h[who])


async def test_an_expert_writes_a_script_and_an_agent_reads_it_for_the_type(client, h, app):
    r = await put(client, h)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["questions"] == REPAIR_ZH["questions"]
    r = await client.get("/api/v1/kb/scripts", params={"ticket_type": "repair", "lang": "zh-CN"}, headers=h["agent"])
    assert r.status_code == 200
    [script] = r.json()["items"]
    assert (script["ticket_type"], script["lang"], script["opening"]) == ("repair", "zh-CN", REPAIR_ZH["opening"])
    # no English script yet: the agent gets the Chinese one rather than nothing
    r = await client.get("/api/v1/kb/scripts", params={"ticket_type": "repair", "lang": "en"}, headers=h["agent"])
    assert [s["lang"] for s in r.json()["items"]] == ["zh-CN"]
    r = await client.get("/api/v1/kb/scripts", params={"ticket_type": "install", "lang": "en"}, headers=h["agent"])
    assert r.json()["items"] == []
    async with app.state.container.sessionmaker() as s:
        rows = list((await s.execute(select(AuditLog).where(AuditLog.action == "kb.script.save"))).scalars())
    assert [(a.actor, a.target) for a in rows] == [("erin", "kb_script:repair:zh-CN")]


async def test_saves_need_the_version_read_and_keep_what_they_replaced(client, h, app):
    await put(client, h)
    body = {**REPAIR_ZH, "closing": "祝您生活愉快！"}
    r = await put(client, h, body=body)  # no version: it exists already
    assert r.status_code == 409 and "version" in r.json()["detail"]
    r = await put(client, h, body={**body, "version": 1}, who="admin")
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["editor"] == "root"
    r = await put(client, h, body={**body, "version": 1})  # stale
    assert r.status_code == 409 and "version 2" in r.json()["detail"]
    async with app.state.container.sessionmaker() as s:
        rows = list((await s.execute(select(AuditLog).where(AuditLog.action == "kb.script.save")
                                     .order_by(AuditLog.id))).scalars())
    before = json.loads(rows[-1].detail)["before"]
    assert before["closing"] == REPAIR_ZH["closing"] and before["version"] == 1


@pytest.mark.parametrize("who", ["agent", "boss"])
async def test_readers_may_not_write_scripts(client, h, who):
    assert (await put(client, h, who=who)).status_code == 403


@pytest.mark.parametrize("path,body,field", [
    ("/api/v1/kb/scripts/nonsense/zh-CN", REPAIR_ZH, ["path", "ticket_type"]),
    ("/api/v1/kb/scripts/repair/fr", REPAIR_ZH, ["path", "lang"]),
    ("/api/v1/kb/scripts/repair/en", {"opening": "", "questions": [], "closing": " "}, ["body", "opening"]),
    ("/api/v1/kb/scripts/repair/en", {"opening": "x" * 4001}, ["body", "opening"]),
    ("/api/v1/kb/scripts/repair/en", {"opening": "hi", "questions": ["a\x00b"]}, ["body", "questions[0]"]),
    ("/api/v1/kb/scripts/repair/en", {"opening": "hi", "questions": ["q"] * 31}, ["body", "questions"]),
])
async def test_bad_scripts_are_422_naming_the_field(client, h, path, body, field):
    r = await client.put(path, json=body, headers=h["expert"])
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == field


async def test_bad_query_is_422(client, h):
    r = await client.get("/api/v1/kb/scripts", params={"ticket_type": "x"}, headers=h["agent"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "ticket_type"]
    assert (await client.get("/api/v1/kb/scripts")).status_code == 401


# --- the KB editor's list and preview ---------------------------------------------------------

async def test_the_article_list_shows_drafts_to_editors_only(client, h):
    draft = (await client.post("/api/v1/kb/articles", json={"title": "草稿", "body": "x"}, headers=h["expert"])).json()
    pub = (await client.post("/api/v1/kb/articles", json={"title": "已发布", "body": "y"}, headers=h["expert"])).json()
    await client.post(f"/api/v1/kb/articles/{pub['id']}/publish", headers=h["expert"])
    r = await client.get("/api/v1/kb/articles", headers=h["expert"])
    assert [(a["id"], a["state"]) for a in r.json()] == [(pub["id"], "published"), (draft["id"], "draft")]
    r = await client.get("/api/v1/kb/articles", headers=h["agent"])
    assert [a["id"] for a in r.json()] == [pub["id"]]
    assert (await client.get("/api/v1/kb/articles?state=draft", headers=h["agent"])).json() == []
    r = await client.get("/api/v1/kb/articles?state=nonsense", headers=h["expert"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "state"]


async def test_the_preview_is_the_servers_safe_rendering(client, h):
    r = await client.post("/api/v1/kb/preview", json={"body": "**门锁** <script>x</script> [a](javascript:alert(1))"},
                          headers=h["expert"])
    assert r.status_code == 200
    html = r.json()["html"]
    assert "<strong>门锁</strong>" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert "href" not in html  # the javascript: link stays text
    assert (await client.post("/api/v1/kb/preview", json={"body": "x"}, headers=h["agent"])).status_code == 403
