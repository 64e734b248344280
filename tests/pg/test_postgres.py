"""What is PostgreSQL's own: the cluster and migrations, the pg_trgm text searches
(Chinese substrings included), and the readers that SQLite serves from its file.

Everything else runs here too: the postgres tier replays the database-touching
unit tests against PostgreSQL (tests/pgtier.py)."""
from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from ctidesk.db import Base, utcnow
from ctidesk.migrate import alembic_config, include_name, include_object_for
from ctidesk.schema import import_all_models
from tests.factories import bearer, make_customer, quick_user, seed_pop_caller

TRIGRAM_INDEXES = {"ix_customers_name_trgm", "ix_recordings_description_trgm", "ix_recordings_tags_trgm",
                   "ix_kb_articles_title_trgm", "ix_kb_articles_body_trgm", "ix_kb_articles_products_trgm"}


async def scalar(db, sql: str, **params):
    return (await db.execute(text(sql), params)).scalar_one()


async def plan(db, statement, params: dict | None = None) -> str:
    """The plan PostgreSQL picks when it may neither scan whole tables nor walk a btree
    (so a GIN index that can serve the query must be named; on a few test rows it
    would rather scan)."""
    if not isinstance(statement, str):
        statement = str(statement.compile(dialect=db.bind.dialect, compile_kwargs={"literal_binds": True}))
    async with db.bind.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))
        await conn.execute(text("SET enable_indexscan = off"))
        rows = (await conn.execute(text("EXPLAIN " + statement), params or {})).scalars().all()
    return "\n".join(rows)


async def test_a_utf8_cluster_where_chinese_makes_trigrams(app, db):
    assert db.bind.dialect.name == "postgresql"
    assert await scalar(db, "SHOW server_encoding") == "UTF8"
    assert (await scalar(db, "SHOW lc_ctype")).lower().replace("-", "") == "c.utf8"
    # under the plain C locale this is {}: no Chinese substring would use an index
    assert len(await scalar(db, "SELECT show_trgm('张三丰')")) >= 3
    script = ScriptDirectory.from_config(alembic_config(str(db.bind.url)))
    assert await scalar(db, "SELECT version_num FROM alembic_version") == script.get_current_head()


async def test_migrations_build_exactly_the_models_plus_the_trigram_indexes(app, db):
    import_all_models()
    async with app.state.container.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts={
            "include_name": include_name, "include_object": include_object_for("postgresql")}), Base.metadata))
    assert diff == [], f"models and migrations differ on PostgreSQL: {diff}"
    names = set((await db.execute(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_trgm'"))).scalars())
    assert names == TRIGRAM_INDEXES
    # the partial indexes are partial here too
    where = await scalar(db, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tickets_open_due'")
    assert "WHERE" in where and "'new'" in where


async def test_migration_0014_goes_down_and_up_again(app, db):
    import asyncio

    from alembic import command

    cfg = alembic_config(app.state.container.settings.effective_database_url)
    await app.state.container.engine.dispose()
    await asyncio.to_thread(command.downgrade, cfg, "0013")
    assert await scalar(db, "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%\\_trgm'") == 0
    await db.rollback()
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await scalar(db, "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%\\_trgm'") == len(TRIGRAM_INDEXES)


async def test_customer_names_found_by_any_substring_chinese_or_any_case(app, db, client):
    from customers.models import Customer

    zhang = await make_customer(db, name="张三丰", phones=["13800138001"])
    await make_customer(db, name="李四", phones=["13800138002"])
    widgets = await make_customer(db, name="Beijing Widgets Ltd", phones=["01055551234"])
    auth = bearer(app.state.container.settings, await quick_user(db, "agent1", "agent"))
    for q, expected in (("三丰", [zhang.id]), ("张三丰", [zhang.id]), ("WIDGETS", [widgets.id]),
                        ("widgets ltd", [widgets.id]), ("王五", [])):
        r = await client.get("/api/v1/customers", params={"q": q}, headers=auth)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["items"]] == expected, q
    query = select(Customer.id).where(Customer.name.icontains("张三丰", autoescape=True))
    assert "ix_customers_name_trgm" in await plan(db, query)


async def test_recording_descriptions_and_tags_found_by_any_substring(app, db, client):
    from recordings.models import Recording
    from recordings.queries import search_query

    now = utcnow()
    rows = [Recording(kind="full", status="stored", description=d, tags=t, started_at=now - timedelta(minutes=i))
            for i, (d, t) in enumerate([("客户说洗衣机滚筒不转，要上门", "repair,vip"),
                                        ("Customer asks about the DRAIN filter", ""),
                                        ("", ""), ("", "投诉")])]
    db.add_all(rows)
    await db.commit()
    auth = bearer(app.state.container.settings, await quick_user(db, "sup", "supervisor"))
    for q, expected in (("滚筒不转", [rows[0].id]), ("滚筒", [rows[0].id]), ("drain filter", [rows[1].id]),
                        ("Drain", [rows[1].id]), ("VIP", [rows[0].id]), ("投诉", [rows[3].id]),
                        ("不存在的", [])):
        r = await client.get("/api/v1/recordings", params={"q": q}, headers=auth)
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()["items"]] == expected, q
    shown = await plan(db, search_query(q="滚筒不转"))
    assert "ix_recordings_description_trgm" in shown and "ix_recordings_tags_trgm" in shown


async def test_kb_search_is_served_by_the_trigram_indexes(app, db):
    from knowledge import pgsearch

    sql, params, mode = pgsearch.search_sql(["滚筒不转", "E21"], product=None, limit=5, published_only=False)
    assert mode == "fts"
    for name in sorted(params, key=len, reverse=True):  # EXPLAIN the query with its own values
        sql = sql.replace(f":{name}", _literal(params[name]))
    shown = await plan(db, sql)
    assert "ix_kb_articles_title_trgm" in shown and "ix_kb_articles_body_trgm" in shown


def _literal(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


async def test_the_pop_reader_and_the_suggester_answer_from_postgresql(app, db):
    """SQLite gets readers that read its file directly; PostgreSQL the ORM ones,
    and they must give the screen pop the same answers."""
    from agent_desk.lookup import OrmPopReader, make_reader
    from customers.models import CustomerProduct
    from knowledge import service as kb
    from knowledge.suggest import OrmSuggester, make_suggester

    c = app.state.container
    zhang, prov = await seed_pop_caller(db)
    db.add(CustomerProduct(customer_id=zhang.id, model="XQG100"))
    await db.commit()
    reader = make_reader(c.settings, c.sessionmaker)
    assert isinstance(reader, OrmPopReader)
    assert await reader.match("+8613800138000") == [(zhang.id, False), (prov.id, True)]
    assert await reader.match("+8613900000000") == []
    card = await reader.card(zhang.id)
    assert card["name"] == "张三" and card["phones"][1]["normalized"] == "+861055551234"
    assert await reader.card(999) is None
    history = await reader.history(customer_id=zhang.id, numbers=["+8613800138000"], exclude_call_id="c2",
                                   limit=10)
    assert [h["id"] for h in history] == ["c1", "c0"] and history[0]["duration_s"] == 60
    assert [t["description"] for t in await reader.open_tickets(zhang.id)] == ["<b>E21</b>"]

    ids = []
    for title, products, tags in (("滚筒不转", ["XQG100"], ["support"]), ("排队须知", [], ["support"])):
        article = await kb.create(db=db, actor="erin", role="expert", title=title, body="b", products=products,
                                  tags=tags)
        await kb.set_state(db=db, actor="erin", role="expert", article_id=article.id, state="published")
        ids.append(article.id)
    await kb.create(db=db, actor="erin", role="expert", title="草稿", body="b", tags=["support"])
    await db.commit()
    suggester = make_suggester(c.settings, c.sessionmaker)
    assert isinstance(suggester, OrmSuggester)
    got = await suggester.for_call(customer_id=zhang.id, ivr_path=[{"node": "to_support", "type": "queue"}])
    assert [s["id"] for s in got] == ids
