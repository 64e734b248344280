"""The fast SQLite pop reader answers exactly what the ORM reader answers."""
from __future__ import annotations

import asyncio

import pytest

from agent_desk.lookup import OrmPopReader, SqlitePopReader, make_reader
from ctidesk import migrate
from ctidesk.db import make_engine, make_sessionmaker
from tests.factories import seed_pop_caller, settings_for


@pytest.mark.sqlite_only  # PostgreSQL's pop reader: tests/pg/test_postgres.py
async def test_sqlite_reader_matches_the_orm_reader(tmp_path):
    settings = settings_for(tmp_path)
    await asyncio.to_thread(migrate.upgrade, settings)
    engine = make_engine(settings.effective_database_url)
    sm = make_sessionmaker(engine)
    async with sm() as db:
        zhang, prov = await seed_pop_caller(db)
    fast = make_reader(settings, sm)
    assert isinstance(fast, SqlitePopReader)
    slow = OrmPopReader(sm, "86")
    assert await fast.match("+8613800138000") == await slow.match("+8613800138000") == [
        (zhang.id, False), (prov.id, True)]
    assert await fast.match("+8613900000000") == []
    assert await fast.card(zhang.id) == await slow.card(zhang.id)
    assert (await fast.card(zhang.id))["phones"][1]["normalized"] == "+861055551234"
    assert await fast.card(999) is None
    kw = dict(customer_id=zhang.id, numbers=["+8613800138000"], exclude_call_id="c2", limit=10)
    history = await fast.history(**kw)
    assert history == await slow.history(**kw)
    assert [h["id"] for h in history] == ["c1", "c0"] and history[0]["duration_s"] == 60
    assert await fast.open_tickets(zhang.id) == await slow.open_tickets(zhang.id)
    assert [t["description"] for t in await fast.open_tickets(zhang.id)] == ["<b>E21</b>"]
    fast.close()
    await engine.dispose()
