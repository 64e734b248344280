"""Suggested articles for the screen pop (issue 14): cheap and never in the way.

``for_call`` runs one indexed query (``knowledge.service.suggest_sql``) and
returns at most five ``{id, title}``; any failure is logged and answers ``[]``
(a pop without suggestions beats a late pop). On SQLite it reads through its
own read-only ``sqlite3`` connection on the loop thread, as the pop's reader
does (an index lookup costs tens of microseconds; a thread hop through
aiosqlite costs milliseconds); elsewhere through the async session.
"""
from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import text
from sqlalchemy.engine import make_url

from knowledge import service

log = logging.getLogger(__name__)


class SqliteSuggester:
    answers_now = True  # for_call never waits: the pop calls it inline (issue 15)

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self.conn is None:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                        isolation_level=None)
            self.conn.execute("PRAGMA query_only=ON")
            self.conn.execute("PRAGMA busy_timeout=200")
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    async def for_call(self, *, customer_id: int | None, ivr_path=(), queue: str | None = None) -> list[dict]:
        try:
            sql, params = service.suggest_sql(service.pop_tags(ivr_path, queue), customer_id)
            return [{"id": i, "title": t} for i, t in self._connection().execute(sql, params)]
        except Exception:
            log.exception("knowledge suggestions for customer %s failed; the pop goes without", customer_id)
            return []


class OrmSuggester:
    def __init__(self, sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    def close(self) -> None:
        pass

    async def for_call(self, *, customer_id: int | None, ivr_path=(), queue: str | None = None) -> list[dict]:
        try:
            sql, params = service.suggest_sql(service.pop_tags(ivr_path, queue), customer_id)
            names = [f"p{i}" for i in range(len(params))]
            for name in names:
                sql = sql.replace("?", f":{name}", 1)
            async with self.sessionmaker() as db:
                rows = await db.execute(text(sql), dict(zip(names, params)))
                return [{"id": i, "title": t} for i, t in rows]
        except Exception:
            log.exception("knowledge suggestions for customer %s failed; the pop goes without", customer_id)
            return []


def make_suggester(settings, sessionmaker):
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteSuggester(url.database)
    return OrmSuggester(sessionmaker)
