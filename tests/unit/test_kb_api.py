"""Knowledge base (issue 14): roles, drafts, versions, optimistic locking,
search (Chinese substrings, English words, product filter, hostile input),
attaching an article to a ticket, and the audit rows of every write."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from accounts.models import AuditLog
from knowledge import render, service
from knowledge.models import KbArticleLabel, KbArticleVersion
from tests.factories import bearers
from tickets.models import Ticket, TicketHistory

DRUM = {"title": "洗衣机滚筒不转怎么办", "body": "先检查**门锁**是否关好，再看皮带。\n\n[说明书](https://example.com/m)",
        "products": ["xqg100 "], "fault_codes": ["e21"], "tags": ["Repair", "support"]}
E21 = {"title": "Error E21: the drum does not drain", "body": "Clean the drain filter, then run a spin cycle.",
       "products": ["XQG80"], "fault_codes": ["E21"], "tags": ["repair"]}


@pytest.fixture
async def h(app, db):
    return await bearers(app, db, {"admin": ("root", "admin"), "expert": ("erin", "expert"),
                                   "agent": ("alice", "agent"), "boss": ("sam", "supervisor")})


async def create(client, h, body, who="expert", publish=True) -> dict:
    r = await client.post("/api/v1/kb/articles", json=body, headers=h[who])
    assert r.status_code == 201, r.text
    art = r.json()
    if publish:
        r = await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h[who])
        assert r.status_code == 200, r.text
        art = r.json()
    return art


async def audit_actions(app) -> list[tuple[str, str, str]]:
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars()
        return [(r.actor, r.action, r.target) for r in rows]


async def search(client, h, who="agent", **params):
    return await client.get("/api/v1/kb/search", params=params, headers=h[who])


# --- roles and drafts ------------------------------------------------------------------------

async def test_editors_create_drafts_that_readers_cannot_see(client, h, app):
    art = await create(client, h, DRUM, publish=False)
    assert art["state"] == "draft" and art["version"] == 1 and art["author"] == "erin"
    assert art["products"] == ["XQG100"] and art["fault_codes"] == ["E21"] and art["tags"] == ["repair", "support"]
    for who in ("agent", "boss"):
        r = await client.get(f"/api/v1/kb/articles/{art['id']}", headers=h[who])
        assert r.status_code == 404, (who, r.text)
        assert (await search(client, h, who, q="滚筒不转")).json()["items"] == []
    assert (await client.get(f"/api/v1/kb/articles/{art['id']}", headers=h["admin"])).status_code == 200
    assert [i["id"] for i in (await search(client, h, "expert", q="滚筒不转")).json()["items"]] == [art["id"]]
    r = await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h["admin"])
    assert r.json()["state"] == "published" and r.json()["published_at"]
    r = await client.get(f"/api/v1/kb/articles/{art['id']}", headers=h["agent"])
    assert r.status_code == 200 and r.json()["title"] == DRUM["title"]
    r = await client.post(f"/api/v1/kb/articles/{art['id']}/unpublish", headers=h["expert"])
    assert r.json()["state"] == "draft"
    assert (await client.get(f"/api/v1/kb/articles/{art['id']}", headers=h["agent"])).status_code == 404


@pytest.mark.parametrize("who", ["agent", "boss"])
async def test_readers_may_not_write(client, h, who):
    assert (await client.post("/api/v1/kb/articles", json=DRUM, headers=h[who])).status_code == 403
    art = await create(client, h, DRUM)
    r = await client.put(f"/api/v1/kb/articles/{art['id']}", json={**DRUM, "version": art["version"]},
                         headers=h[who])
    assert r.status_code == 403
    for action in ("publish", "unpublish", "versions"):
        method = client.get if action == "versions" else client.post
        r = await method(f"/api/v1/kb/articles/{art['id']}/{action}", headers=h[who])
        assert r.status_code == 403, (action, r.text)


async def test_anonymous_is_401(client):
    assert (await client.get("/api/v1/kb/search", params={"q": "drum"})).status_code == 401
    assert (await client.post("/api/v1/kb/articles", json=DRUM)).status_code == 401


# --- versions and optimistic locking ---------------------------------------------------------

async def test_every_save_keeps_the_previous_version(client, h, app):
    art = await create(client, h, DRUM, publish=False)  # v1
    r = await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["admin"],
                         json={**DRUM, "body": "新的说明", "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["editor"] == "root" and r.json()["author"] == "erin"
    r = await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h["expert"], json={"version": 2})
    assert r.json()["version"] == 3
    versions = (await client.get(f"/api/v1/kb/articles/{art['id']}/versions", headers=h["expert"])).json()
    assert [(v["version"], v["state"], v["editor"]) for v in versions] == [
        (3, "published", "erin"), (2, "draft", "root"), (1, "draft", "erin")]
    assert versions[2]["body"] == DRUM["body"] and versions[1]["body"] == "新的说明"
    # publishing again changes nothing and adds no version
    r = await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h["expert"])
    assert r.json()["version"] == 3
    async with app.state.container.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(KbArticleVersion))).scalar_one() == 3


async def test_a_stale_version_is_409_and_changes_nothing(client, h):
    art = await create(client, h, DRUM, publish=False)
    first = await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["expert"],
                             json={**DRUM, "title": "first editor", "version": 1})
    assert first.status_code == 200
    second = await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["admin"],
                              json={**DRUM, "title": "second editor", "version": 1})
    assert second.status_code == 409 and "version 2" in second.json()["detail"]
    now = (await client.get(f"/api/v1/kb/articles/{art['id']}", headers=h["expert"])).json()
    assert now["title"] == "first editor" and now["version"] == 2
    r = await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h["expert"], json={"version": 1})
    assert r.status_code == 409


async def test_put_needs_the_version(client, h):
    art = await create(client, h, DRUM)
    r = await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["expert"], json=DRUM)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "version"]


async def test_unknown_article_is_404(client, h):
    assert (await client.get("/api/v1/kb/articles/999", headers=h["expert"])).status_code == 404
    r = await client.put("/api/v1/kb/articles/999", headers=h["expert"], json={**DRUM, "version": 1})
    assert r.status_code == 404


@pytest.mark.parametrize("body, field", [
    ({**DRUM, "title": "   "}, "title"),
    ({**DRUM, "title": "x" * 201}, "title"),
    ({**DRUM, "products": ["ok", " "]}, "products"),
    ({**DRUM, "tags": "repair"}, "tags"),
    ({**DRUM, "body": "a\x00b"}, "body"),
    ({**DRUM, "colour": "red"}, "colour"),
    ({k: v for k, v in DRUM.items() if k != "title"}, "title"),
])
async def test_invalid_input_is_422_naming_the_field(client, h, body, field):
    r = await client.post("/api/v1/kb/articles", json=body, headers=h["expert"])
    assert r.status_code == 422, r.text
    assert any(field in map(str, e["loc"]) for e in r.json()["detail"]), r.json()


# --- rendering ---------------------------------------------------------------------------------

async def test_bodies_render_markdown_but_never_html_or_script_links(client, h):
    hostile = {"title": "<img src=x onerror=alert(1)>", "body": (
        "**bold** <script>alert(1)</script> [a](javascript:alert(1)) [b](JAVA\tSCRIPT:alert(1)) "
        "[c](data:text/html,x) [d](https://ok.example/x) [e](/api/v1/kb/articles/1) "
        "<a href='javascript:x'>raw</a> ![i](vbscript:x)")}
    art = await create(client, h, hostile)
    html = art["body_html"]
    assert "<strong>bold</strong>" in html and '<a href="https://ok.example/x">d</a>' in html
    assert '<a href="/api/v1/kb/articles/1">e</a>' in html
    assert "<script" not in html and "&lt;script&gt;" in html and "<a href='" not in html
    assert re.findall(r"<a href=\"([^\"]*)\"", html) == ["https://ok.example/x", "/api/v1/kb/articles/1"]
    assert "<img" not in html and 'src="vbscript' not in html
    assert art["title"] == hostile["title"]  # stored intact; the desk shows it with textContent


def test_link_allow_list():
    assert render.link_allowed("https://a.example") and render.link_allowed("mailto:x@y.z")
    assert render.link_allowed("/kb/1") and render.link_allowed("#part") and render.link_allowed("a/b:c")
    for bad in ("javascript:alert(1)", " JaVaScRiPt:x", "java\nscript:x", "data:text/html,x", "file:///etc",
                "vbscript:x", "x:y"):
        assert not render.link_allowed(bad), bad


# --- search --------------------------------------------------------------------------------------

async def test_chinese_substring_is_found_ranked(client, h):
    drum = await create(client, h, DRUM)
    other = await create(client, h, {"title": "空调不制冷", "body": "滤网太脏时滚筒……不，是风量会变小。"})
    r = await search(client, h, q="滚筒不转")
    assert r.status_code == 200 and r.json()["mode"] == "fts"
    assert [i["id"] for i in r.json()["items"]] == [drum["id"]]
    r = await search(client, h, q="滚筒")  # two characters: below a trigram, the LIKE fallback
    assert r.json()["mode"] == "like"
    assert {i["id"] for i in r.json()["items"]} == {drum["id"], other["id"]}
    assert (await search(client, h, q="滚筒不转了吗")).json()["items"] == []


async def test_english_words_rank_title_hits_first(client, h):
    in_body = await create(client, h, {"title": "Spin cycle tips", "body": "If you see error e21 check the filter."})
    in_title = await create(client, h, E21)
    r = await search(client, h, q="e21")
    assert [i["id"] for i in r.json()["items"]] == [in_title["id"], in_body["id"]]
    assert r.json()["items"][0]["score"] > r.json()["items"][1]["score"]
    # several words: all must match, in any order; a short word filters
    r = await search(client, h, q="filter DRAIN")
    assert [i["id"] for i in r.json()["items"]] == [in_title["id"]]
    r = await search(client, h, q="drain E2")
    assert [i["id"] for i in r.json()["items"]] == [in_title["id"]]


async def test_product_filter(client, h):
    drum = await create(client, h, DRUM)
    e21 = await create(client, h, E21)
    both = await search(client, h, q="drum 滚筒")
    assert both.json()["items"] == []  # all words must match
    assert [i["id"] for i in (await search(client, h, q="E21")).json()["items"]] == [e21["id"]]
    r = await search(client, h, q="the", product="xqg80")
    assert [i["id"] for i in r.json()["items"]] == [e21["id"]]
    r = await search(client, h, q="the", product="XQG100")
    assert r.json()["items"] == []
    r = await search(client, h, q="皮带", product="XQG100")
    assert [i["id"] for i in r.json()["items"]] == [drum["id"]]
    for partial in ("XQG10", "QG100", "XQG1000"):  # a whole model, not a piece of one
        assert (await search(client, h, q="皮带", product=partial)).json()["items"] == [], partial
    r = await search(client, h, q="xqg100")  # a model name is searchable text too
    assert [i["id"] for i in r.json()["items"]] == [drum["id"]]


async def test_search_follows_edits(client, h):
    art = await create(client, h, E21)
    r = await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["expert"],
                         json={**E21, "title": "Door lock fault", "body": "门锁坏了", "version": art["version"]})
    assert r.status_code == 200
    assert (await search(client, h, q="drain")).json()["items"] == []
    assert [i["id"] for i in (await search(client, h, q="门锁坏")).json()["items"]] == [art["id"]]
    assert [i["id"] for i in (await search(client, h, q="door lock")).json()["items"]] == [art["id"]]


HOSTILE = ['"', '""', '*', 'AND OR NEAR(', "'; DROP TABLE kb_articles; --", 'title:drum', '^drum',
           'drum*', '(((', 'NOT', 'a"b"c', '{title body}: x', '%', '_', '\\', 'NEAR("a" "b", 2)',
           '滚筒"不转', "e21'", '- drum', '+', 'OR', '"滚筒不转']


@pytest.mark.parametrize("q", HOSTILE)
async def test_hostile_queries_never_break_the_match(client, h, app, q):
    await create(client, h, {**E21, "body": E21["body"] + ' Quotes " and % and _ and \\ and NEAR( too.'})
    r = await search(client, h, q=q)
    assert r.status_code == 200, r.text
    for hit in r.json()["items"]:  # what it finds really contains every word
        art = (await client.get(f"/api/v1/kb/articles/{hit['id']}", headers=h["agent"])).json()
        for term in q.split():
            assert term.lower() in (art["title"] + " " + art["body"]).lower(), (q, term)
    async with app.state.container.sessionmaker() as s:  # nothing dropped
        assert (await s.execute(text("SELECT count(*) FROM kb_articles"))).scalar_one() == 1


async def test_literal_operators_are_searched_as_text(client, h):
    art = await create(client, h, {"title": "NEAR( and OR", "body": 'a "quoted" word, 100% _sure_'})
    for q in ("NEAR(", '"quoted"', "100%", "_sure_", "AND OR NEAR("):
        r = await search(client, h, q=q)
        assert [i["id"] for i in r.json()["items"]] == [art["id"]], q  # words, not operators
    r = await search(client, h, q="%")  # LIKE wildcards are escaped: only the article with a %
    assert [i["id"] for i in r.json()["items"]] == [art["id"]]


@pytest.mark.parametrize("params, field", [
    ({"q": ""}, "q"), ({"q": "   "}, "q"), ({}, "q"), ({"q": "x" * 201}, "q"), ({"q": "a\x01b"}, "q"),
    ({"q": " ".join(f"w{i}" for i in range(13))}, "q"), ({"q": "drum", "limit": 0}, "limit"),
    ({"q": "drum", "limit": 51}, "limit"), ({"q": "drum", "limit": "x"}, "limit"),
    ({"q": "drum", "product": " "}, "product"),
])
async def test_bad_search_input_is_422_naming_the_field(client, h, params, field):
    r = await search(client, h, **params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == field


def test_fts_strings_are_quoted():
    from knowledge import searchsql

    assert searchsql.fts_string('a"b') == '"a""b"'
    sql, params, mode = searchsql.search_sql(['NEAR("x"', "ab"], product=None, limit=5, published_only=True)
    assert mode == "fts" and params["match"] == '"NEAR(""x"""' and params["s0"] == "%ab%"
    assert searchsql.like_pattern("50%_\\") == "%50\\%\\_\\\\%"


# --- labels, tickets, audit ------------------------------------------------------------------------

async def test_labels_follow_the_article(client, h, app):
    art = await create(client, h, DRUM)
    await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["expert"],
                     json={**DRUM, "products": ["KFR-35GW"], "tags": [], "version": art["version"]})
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(select(KbArticleLabel.kind, KbArticleLabel.value)
                                .order_by(KbArticleLabel.kind))).all()
    assert rows == [("fault", "E21"), ("product", "KFR-35GW")]


async def test_attach_an_article_to_a_ticket(client, h, app, db, customer):
    art = await create(client, h, DRUM)
    draft = await create(client, h, E21, publish=False)
    ticket = Ticket(customer_id=customer.id, type="repair", state="new", description="drum", version=1)
    db.add(ticket)
    await db.commit()
    r = await client.post(f"/api/v1/tickets/{ticket.id}/articles", json={"article_id": art["id"]},
                          headers=h["agent"])
    assert r.status_code == 201, r.text
    assert r.json()["title"] == DRUM["title"]
    history = (await client.get(f"/api/v1/tickets/{ticket.id}/history", headers=h["agent"])).json()
    assert [(x["kind"], x["new"], x["note"], x["actor"]) for x in history if x["kind"] == "article"] == [
        ("article", str(art["id"]), DRUM["title"], "alice")]
    again = await client.post(f"/api/v1/tickets/{ticket.id}/articles", json={"article_id": art["id"]},
                              headers=h["agent"])
    assert again.status_code == 409
    r = await client.post(f"/api/v1/tickets/{ticket.id}/articles", json={"article_id": draft["id"]},
                          headers=h["agent"])
    assert r.status_code == 404  # an agent cannot attach what it cannot read
    r = await client.post("/api/v1/tickets/9999/articles", json={"article_id": art["id"]}, headers=h["agent"])
    assert r.status_code == 404 and "ticket" in r.json()["detail"]
    r = await client.post(f"/api/v1/tickets/{ticket.id}/articles", json={"article_id": "x"}, headers=h["agent"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "article_id"]
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(select(TicketHistory).where(TicketHistory.kind == "article"))).scalars().all()
    assert len(rows) == 1
    assert ("alice", "ticket.article_attach", f"ticket:{ticket.id}") in await audit_actions(app)


async def test_every_write_is_audited(client, h, app):
    art = await create(client, h, DRUM, publish=False)
    await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["admin"], json={**DRUM, "version": 1})
    await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h["expert"])
    await client.post(f"/api/v1/kb/articles/{art['id']}/publish", headers=h["expert"])  # no change: no row
    await client.post(f"/api/v1/kb/articles/{art['id']}/unpublish", headers=h["expert"])
    await client.put(f"/api/v1/kb/articles/{art['id']}", headers=h["admin"], json={**DRUM, "version": 1})  # 409
    target = f"kb_article:{art['id']}"
    assert [a for a in await audit_actions(app) if a[2] == target] == [
        ("erin", "kb.article.create", target), ("root", "kb.article.update", target),
        ("erin", "kb.article.publish", target), ("erin", "kb.article.unpublish", target)]


async def test_unfiltered_search_ranks_the_newest_matches_a_product_filter_all(client, h, monkeypatch):
    from knowledge import searchsql

    monkeypatch.setattr(service, "RANK_WINDOW", 2)  # the count that decides
    monkeypatch.setattr(searchsql, "RANK_WINDOW", 2)  # the window the SQL takes
    best = await create(client, h, {"title": "drain pump", "body": "drain", "products": ["P1"]})
    older = await create(client, h, {"title": "Other", "body": "the drain again", "products": ["P1"]})
    newest = await create(client, h, {"title": "More", "body": "a drain", "products": ["P1"]})
    r = await search(client, h, q="drain")
    assert {i["id"] for i in r.json()["items"]} == {older["id"], newest["id"]}
    r = await search(client, h, q="drain", product="p1")
    assert [i["id"] for i in r.json()["items"]][0] == best["id"] and len(r.json()["items"]) == 3


async def test_the_demo_seeds_published_articles_once(app, client, h):
    from ctidesk import demo

    for _ in range(2):
        await demo.load_demo_data(app.state.container.settings)
    r = await search(client, h, q="滚筒不转")
    assert [i["title"] for i in r.json()["items"]] == ["洗衣机滚筒不转怎么办"]
    r = await search(client, h, q="E21", product="XQG100")
    assert len(r.json()["items"]) == 4
    async with app.state.container.sessionmaker() as s:
        assert (await s.execute(text("SELECT count(*), min(state), max(state) FROM kb_articles"))).one() == (
            len(demo.DEMO_ARTICLES), "published", "published")
