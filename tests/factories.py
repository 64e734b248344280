"""Test data and a ready app: build what a test needs in one line."""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from fastapi import FastAPI

from ctidesk.app import create_app
from ctidesk.db import Base, make_engine
from ctidesk.settings import Settings
from tests.conftest import TEST_HASH_COST
from tests import pgdb

SECRET_KEY = "unit-test-signing-key-" + "0123456789abcdef" * 3
PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def database_url(tmp_path: Path, name: str = "t") -> str:
    """The test's database ``name``: the SQLite file ``tmp_path/<name>.db``, or with
    ``CTIDESK_TEST_DATABASE=postgresql`` a fresh PostgreSQL database already
    migrated to head (:mod:`tests.pgdb`). The one switch between the two."""
    if pgdb.enabled():
        return pgdb.database_url(tmp_path, name)
    return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"


def settings_for(tmp_path: Path, **overrides) -> Settings:
    # A sandbox root of the test's own (never provisioned): the unit tier must
    # not write agents' PJSIP endpoints into the machine's sandbox Asterisk.
    overrides.setdefault("sandbox_root", tmp_path / "sandbox-root")
    # argon2 at its floor, as everywhere in the tests (tests/conftest.py says why).
    for name, value in TEST_HASH_COST.items():
        overrides.setdefault(name.removeprefix("CTIDESK_").lower(), int(value))
    return Settings().with_(state_dir=tmp_path, database_url=database_url(tmp_path),
                            secret_key=SECRET_KEY, **overrides)


def import_models() -> None:
    from ctidesk.schema import import_all_models

    try:
        import_all_models()
    except ModuleNotFoundError as exc:  # a sibling package not written yet
        if not (exc.name or "").startswith(("cti", "tickets")):
            raise
        import accounts.models  # noqa: F401
        import customers.models  # noqa: F401
        import tickets.models  # noqa: F401


def cli_environment(tmp_path: Path) -> dict:
    """The environment of a ``ctidesk`` CLI command on a fresh database (``cli.db``), tables created."""
    import_models()
    url = database_url(tmp_path, "cli")

    async def create_tables():
        if pgdb.enabled():
            return  # copied from the migrated template
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await engine.dispose()

    asyncio.run(create_tables())
    return {"CTIDESK_DATABASE_URL": url, "CTIDESK_STATE_DIR": str(tmp_path),
            "CTIDESK_SECRET_KEY": SECRET_KEY, "CTIDESK_CONFIG": str(tmp_path / "none.toml")}


async def make_app(tmp_path: Path, **overrides) -> FastAPI:
    """The full app on a fresh database (:func:`database_url`), tables created (no lifespan run)."""
    import_models()
    app = create_app(settings_for(tmp_path, **overrides), start_bridge=False)
    if pgdb.enabled():
        return app  # copied from the migrated template
    async with app.state.container.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return app


async def make_user(db, username: str | None = None, role: str = "agent", password: str = PASSWORD,
                    extension: str | None = None, queues=(), display_name: str | None = None):
    from accounts import service

    user = await service.create_user(db=db, username=username or f"user{next(_seq)}",
                                     password=password, role=role, extension=extension,
                                     queues=queues, display_name=display_name)
    await db.commit()
    return user


async def make_customer(db, name: str = "Zhang San", phones=("13800138000",), kind: str = "person",
                        notes: str = "", **kwargs):
    from customers import service

    customer = await service.create(db=db, name=name, kind=kind, phones=list(phones), notes=notes,
                                    **kwargs)
    await db.commit()
    return customer


def bearer(settings: Settings, user) -> dict:
    from accounts.security import issue_token

    return {"Authorization": f"Bearer {issue_token(settings, user)}"}


async def quick_user(db, username: str, role: str):
    """A user who never logs in with a password: skips argon2, which dominates setup time."""
    from accounts.models import User

    user = User(username=username, password_hash=f"unused-{username}", role=role,
                display_name=username, active=True)
    db.add(user)
    await db.commit()
    return user


async def bearers(app, db, people: dict[str, tuple[str, str]]) -> dict[str, dict]:
    """Bearer headers of :func:`quick_user` users by key: ``{key: (username, role)}``."""
    settings = app.state.container.settings
    return {key: bearer(settings, await quick_user(db, name, role)) for key, (name, role) in people.items()}


async def seed_pop_caller(db):
    """What a screen pop reads, for the pop readers' tests on either database:
    张三 (two phones, VIP) with three answered calls yesterday, an open and a
    closed ticket, and a provisional record on the same mobile. ``(zhang, prov)``."""
    from datetime import timedelta

    from cti.models import CallRecord
    from ctidesk.db import utcnow
    from tickets.models import Ticket

    zhang = await make_customer(db, name="张三", phones=["13800138000", "010-5555-1234"], notes="VIP")
    prov = await make_customer(db, name="", phones=["13800138000"], provisional=True, source_call_id="x")
    start = utcnow() - timedelta(days=1)
    for i in range(3):
        db.add(CallRecord(call_id=f"c{i}", caller_number_raw="13800138000", caller_number="+8613800138000",
                          customer_id=zhang.id, created_at=start + timedelta(minutes=i), queue="support",
                          agent_username="alice", answered_at=start + timedelta(minutes=i, seconds=5),
                          ended_at=start + timedelta(minutes=i, seconds=65), outcome="answered"))
    db.add(Ticket(customer_id=zhang.id, type="repair", state="new", description="<b>E21</b>"))
    db.add(Ticket(customer_id=zhang.id, type="install", state="closed", description="done"))
    await db.commit()
    return zhang, prov
