"""Suggested articles in the screen pop (issue 14): for the caller's products
and IVR choices, published only, at most five, and never in the pop's way."""
from __future__ import annotations

import pytest

from customers.models import CustomerProduct
from knowledge import service
from knowledge.models import KbArticle
from tests.factories import make_customer
from tests.fakeami import event
from tests.live import app_on_fake_ami, desks, push


def ring(linkedid, number, agents):
    c = dict(Channel=f"PJSIP/trunk-{linkedid[-4:]}", Uniqueid=linkedid, Linkedid=linkedid,
             CallerIDNum=number, CallerIDName="caller", Exten="4000", Context="ctidesk-inbound")
    out = [event("Newchannel", ChannelState="4", **c),
           event("QueueCallerJoin", Queue="support", Position="1", Count="1", **c)]
    for username, ext in agents:
        out.append(event("AgentCalled", Queue="support", Interface=f"Local/{ext}@agents/n", MemberName=username,
                         DestChannel=f"Local/{ext}@agents-0000{ext};1", **c))
    return out


async def add_article(db, title, *, state="published", products=(), tags=()):
    article = await service.create(db=db, actor="erin", role="expert", title=title, body="b",
                                   products=products, tags=tags)
    if state == "published":
        await service.set_state(db=db, actor="erin", role="expert", article_id=article.id, state="published")
    await db.commit()
    return article.id


@pytest.fixture
async def env(tmp_path):
    async with app_on_fake_ami(tmp_path, [("alice", dict(extension="1001", queues=["support"]))]) as (app, fake):
        async with app.state.container.sessionmaker() as db:
            zhang = await make_customer(db, name="张三", phones=["13800138000"])
            db.add(CustomerProduct(customer_id=zhang.id, model="xqg100"))
            await db.commit()
            ids = {
                "both": await add_article(db, "洗衣机滚筒不转", products=["XQG100"], tags=["support"]),
                "product": await add_article(db, "XQG100 installation guide", products=["XQG100"]),
                "queue": await add_article(db, "Support greeting script", tags=["support"]),
                "draft": await add_article(db, "Draft on XQG100", state="draft", products=["XQG100"],
                                           tags=["support"]),
                "sales": await add_article(db, "Sales promotion", tags=["sales"], products=["KFR-35GW"]),
            }
        async with desks(app.state.base_url, {"alice": True}) as clients:
            yield app, fake, clients["alice"], ids


async def test_the_pop_suggests_articles_for_the_product_and_the_queue(env):
    app, fake, alice, ids = env
    await push(fake, ring("1800000100.1", "13800138000", [("alice", "1001")]))
    pop = await alice.next_of("screen_pop")
    got = [s["id"] for s in pop["kb_suggestions"]]
    assert got[0] == ids["both"]  # two labels shared beat one
    assert set(got) == {ids["both"], ids["product"], ids["queue"]}
    assert {s["title"] for s in pop["kb_suggestions"]} >= {"洗衣机滚筒不转"}


async def test_an_unknown_caller_gets_the_queue_articles_at_most_five(env):
    app, fake, alice, ids = env
    async with app.state.container.sessionmaker() as db:
        for i in range(6):
            await add_article(db, f"support note {i}", tags=["support"])
    await push(fake, ring("1800000101.1", "02155550123", [("alice", "1001")]))
    pop = await alice.next_of("screen_pop")
    assert len(pop["kb_suggestions"]) == 5
    assert ids["product"] not in [s["id"] for s in pop["kb_suggestions"]]
    assert ids["draft"] not in [s["id"] for s in pop["kb_suggestions"]]


async def test_a_failing_knowledge_base_still_pops(env):
    app, fake, alice, ids = env
    async with app.state.container.engine.begin() as conn:
        from sqlalchemy import text
        await conn.execute(text("ALTER TABLE kb_articles RENAME TO kb_gone"))
    await push(fake, ring("1800000102.1", "13800138000", [("alice", "1001")]))
    pop = await alice.next_of("screen_pop")
    assert pop["kb_suggestions"] == [] and pop["customer"]["name"] == "张三"
    assert pop["lookup_failed"] is False


def test_ivr_choices_become_tags():
    path = [{"node": "welcome", "type": "hours", "outcome": "open"},
            {"node": "closed_menu", "type": "menu", "digits": "3", "outcome": "route", "intent": "Repair"},
            {"node": "to_support", "type": "queue", "outcome": "queue", "queue": "support"}]
    assert service.pop_tags(path, "support") == ["welcome", "closed_menu", "repair", "to_support", "support"]
    assert service.pop_tags([], None) == []


def test_the_suggestion_query_uses_the_label_index(tmp_path):
    import sqlite3

    from sqlalchemy import create_engine

    from ctidesk.db import Base
    from ctidesk.schema import import_all_models

    import_all_models()
    engine = create_engine(f"sqlite:///{tmp_path}/s.db")
    Base.metadata.create_all(engine)
    engine.dispose()
    sql, params = service.suggest_sql(["support", "repair"], 7)
    plan = " ".join(r[-1] for r in sqlite3.connect(tmp_path / "s.db").execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "ix_kb_article_labels_kind_value" in plan and "SCAN l" not in plan, plan
    assert KbArticle.__tablename__ in sql


@pytest.mark.sqlite_only  # reads the SQLite file too; PostgreSQL's suggester: tests/pg/test_postgres.py
async def test_the_orm_suggester_answers_the_same(app, db, customer):
    """The suggester used off SQLite files (PostgreSQL, in-memory) runs the same query."""
    from knowledge.suggest import OrmSuggester, SqliteSuggester

    db.add(CustomerProduct(customer_id=customer.id, model="XQG100"))
    await db.commit()
    both = await add_article(db, "drum", products=["XQG100"], tags=["support"])
    tagged = await add_article(db, "queue", tags=["support"])
    await add_article(db, "draft", state="draft", tags=["support"])
    path = [{"node": "to_support", "type": "queue"}]
    orm = await OrmSuggester(app.state.container.sessionmaker).for_call(customer_id=customer.id, ivr_path=path)
    assert [s["id"] for s in orm] == [both, tagged]
    raw = SqliteSuggester(str(app.state.container.settings.state_dir / "t.db"))
    try:
        assert await raw.for_call(customer_id=customer.id, ivr_path=path) == orm
        assert await raw.for_call(customer_id=None, ivr_path=[], queue=None) == []
    finally:
        raw.close()
