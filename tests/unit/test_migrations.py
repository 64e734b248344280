"""Migrations build exactly the schema the models describe, and upgrade data."""
from __future__ import annotations

import sqlite3

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ctidesk.db import Base
from ctidesk.schema import import_all_models
from ctidesk.migrate import alembic_config


def test_head_matches_the_models(tmp_path):
    db = tmp_path / "m.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{db}"), "head")
    import_all_models()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"render_as_batch": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_existing_tickets_survive_the_upgrade_and_downgrade(tmp_path):
    db = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{db}")
    command.upgrade(cfg, "0001")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO customers (name, kind, provisional, notes, created_at, updated_at) "
                 "VALUES ('x', 'person', 0, '', '2026-01-01', '2026-01-01')")
    conn.execute("INSERT INTO tickets (customer_id, type, state, description, created_at, updated_at) "
                 "VALUES (1, 'repair', 'new', 'd', '2026-01-01', '2026-01-01')")
    conn.commit()
    conn.close()
    command.upgrade(cfg, "head")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT priority, version, sla_breached FROM tickets").fetchall() == [("normal", 1, 0)]
    conn.close()
    command.downgrade(cfg, "0001")
