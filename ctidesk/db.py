"""Database plumbing: one declarative Base, one async engine per process.

SQLite (aiosqlite) is the embedded default; PostgreSQL (asyncpg) works through
the same URL setting and is tested by the runner's ``postgres`` tier. SQLite gets WAL mode and a busy timeout so the HTTP handlers and
the call writer can share the file without "database is locked" errors.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, MetaData, event, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if url.startswith("sqlite"):
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def claim_version(db: AsyncSession, model, row_id: int, version: int) -> bool:
    """The optimistic lock of a versioned row (tickets, articles, answer scripts):
    bump ``version`` to ``version + 1`` if it still is ``version``, in one UPDATE.
    False: another writer got there first (the caller says 409 or tries again)."""
    table = model.__table__
    result = await db.execute(update(table).where(table.c.id == row_id, table.c.version == version)
                              .values(version=version + 1))
    return result.rowcount == 1


def equal_to(model, **values) -> list:
    """``model.<name> == value`` for each of ``values`` that is given (not None): a list query's filters."""
    return [getattr(model, name) == value for name, value in values.items() if value is not None]


class like_any_case(FunctionElement):
    """``column LIKE pattern``, ASCII letters in any case, on every backend: SQLite's
    LIKE already ignores case (and can test it on an index's entries); PostgreSQL's
    does not, so there it is ``ILIKE`` (which its pg_trgm indexes serve)."""

    type = Boolean()
    inherit_cache = True
    name = "like_any_case"

    def self_group(self, against=None):
        return self  # a comparison already: no "= 1" around it where booleans are integers


@compiles(like_any_case)
def _like(element, compiler, **kw):
    column, pattern = element.clauses
    return f"{compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)}"


@compiles(like_any_case, "postgresql")
def _ilike(element, compiler, **kw):
    column, pattern = element.clauses
    return f"{compiler.process(column, **kw)} ILIKE {compiler.process(pattern, **kw)}"
