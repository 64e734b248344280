"""Migrations build exactly the schema the models describe, and upgrade data."""
from __future__ import annotations

import sqlite3

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ctidesk.db import Base
from ctidesk.schema import import_all_models
from ctidesk.migrate import alembic_config, include_name


def test_head_matches_the_models(tmp_path):
    db = tmp_path / "m.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{db}"), "head")
    import_all_models()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"render_as_batch": True,
                                                                        "include_name": include_name}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


CUSTOMER_X = ("INSERT INTO customers (name, kind, provisional, notes, created_at, updated_at) "
              "VALUES ('x', 'person', 0, '', '2026-01-01', '2026-01-01')")


def sql(db, *statements: str) -> list:
    """Run ``statements`` on the SQLite file ``db`` and commit: the rows of the last."""
    conn = sqlite3.connect(db)
    rows: list = []
    try:
        for statement in statements:
            rows = conn.execute(statement).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def upgraded(tmp_path, revision: str, *statements: str):
    """``(alembic config, file)`` of a SQLite file upgraded to ``revision``, then ``statements`` run on it."""
    db = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{db}")
    command.upgrade(cfg, revision)
    sql(db, *statements)
    return cfg, db


def test_existing_tickets_survive_the_upgrade_and_downgrade(tmp_path):
    cfg, db = upgraded(tmp_path, "0001", CUSTOMER_X,
                       "INSERT INTO tickets (customer_id, type, state, description, created_at, updated_at) "
                       "VALUES (1, 'repair', 'new', 'd', '2026-01-01', '2026-01-01')")
    command.upgrade(cfg, "head")
    assert sql(db, "SELECT priority, version, sla_breached FROM tickets") == [("normal", 1, 0)]
    command.downgrade(cfg, "0001")


def test_migration_0003_keeps_existing_customers(tmp_path):
    cfg, db = upgraded(tmp_path, "0002", CUSTOMER_X)
    command.upgrade(cfg, "0003")
    assert sql(db, "SELECT name, vip, value_class, region, merged_into_id FROM customers") == [
        ("x", 0, None, None, None)]
    # the screen-pop benchmark's raw insert still works
    sql(db, "INSERT INTO customers (id, name, kind, provisional, source_call_id, notes, created_at, "
            "updated_at) VALUES (7, 'y', 'person', 0, NULL, '', '2026-01-01', '2026-01-01')")
    command.downgrade(cfg, "0002")
    assert [r[0] for r in sql(db, "SELECT name FROM customers ORDER BY id")] == ["x", "y"]
