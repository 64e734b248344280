"""A fresh PostgreSQL database per test, copied from a migrated template.

The switch is ``CTIDESK_TEST_DATABASE=postgresql`` (the runner's ``postgres``
tier sets it, with ``CTIDESK_TEST_POSTGRES_URL`` naming the throwaway
cluster of :mod:`tests.pgcluster`). With it, ``tests.factories.settings_for``
asks :func:`database_url` instead of naming a SQLite file; without it nothing
here runs and the unit tier is what it always was.

The template ``ctidesk_template`` is built once per test process by running
the migrations to head through asyncpg (so the tier also tests every
migration on PostgreSQL, whatever tables exist by then), then each test gets
``CREATE DATABASE t_<pid>_<n> TEMPLATE ctidesk_template`` (a file copy, a
few tens of milliseconds on the tier's in-memory cluster) and
:func:`drop_created` drops them after it. The maintenance work runs on its
own thread and event loop (``settings_for`` is synchronous and is called from
inside the tests' running loops), which also copies the next test's database
while a test runs and drops without making the next test wait.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.pgcluster import URL_ENV

SWITCH = "CTIDESK_TEST_DATABASE"
TEMPLATE = "ctidesk_template"

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgdb")
_lock = threading.Lock()
_seq = itertools.count(1)
_template_ready = False
_by_key: dict[tuple[str, str], str] = {}  # (tmp_path, name) -> database name, for this test
_spare: Future | None = None  # the next test's database, being copied
_dropping: list[Future] = []


class NoServer(RuntimeError):
    pass


def enabled() -> bool:
    value = os.environ.get(SWITCH, "sqlite").strip().lower()
    if value not in ("sqlite", "postgresql"):
        raise NoServer(f"{SWITCH}={value!r}: 'sqlite' (the default) or 'postgresql'")
    return value == "postgresql"


def server_url():
    raw = os.environ.get(URL_ENV)
    if not raw:
        raise NoServer(f"{SWITCH}=postgresql but {URL_ENV} is not set: run the tier through "
                       "tools/run_tests.py --tier postgres, which starts a throwaway cluster")
    return make_url(raw)


def url_of(database: str) -> str:
    return server_url().set(database=database).render_as_string(hide_password=False)


async def _admin(*statements: str, drop_template: bool = False) -> None:
    import asyncpg

    url = server_url()
    conn = await asyncpg.connect(user=url.username, password=url.password, database="postgres",
                                 host=url.query.get("host") or url.host, port=url.port)
    try:
        if drop_template and await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", TEMPLATE):
            await conn.execute(f"ALTER DATABASE {TEMPLATE} WITH is_template false")
            await conn.execute(f"DROP DATABASE {TEMPLATE} WITH (FORCE)")
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _on_admin_thread(fn, *args):
    return _pool.submit(fn, *args).result()


def _build_template() -> None:
    from alembic import command

    from ctidesk.migrate import alembic_config

    asyncio.run(_admin(f"CREATE DATABASE {TEMPLATE}", drop_template=True))
    command.upgrade(alembic_config(url_of(TEMPLATE)), "head")
    asyncio.run(_admin(f"ALTER DATABASE {TEMPLATE} WITH is_template true"))


def ensure_template() -> None:
    """Migrate the template to head once per process (raises if the server is not there)."""
    global _template_ready
    with _lock:
        if not _template_ready:
            try:
                _on_admin_thread(_build_template)
            except OSError as exc:
                raise NoServer(f"the PostgreSQL tier's server is not reachable at "
                               f"{server_url().render_as_string(hide_password=True)}: {exc}") from exc
            _template_ready = True


def _create() -> str:
    database = f"t_{os.getpid()}_{next(_seq)}"
    asyncio.run(_admin(f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}"))
    return database


def database_url(tmp_path: Path, name: str = "t") -> str:
    """The URL of this test's database ``name`` (what ``tmp_path/<name>.db`` is on SQLite):
    created from the template on first use, the same one after. The next one is
    copied on the admin thread while this test runs."""
    global _spare
    key = (str(tmp_path), name)
    if key not in _by_key:
        ensure_template()
        spare, _spare = _spare, None
        database = (spare or _pool.submit(_create)).result()
        _spare = _pool.submit(_create)
        _by_key[key] = database
    return url_of(_by_key[key])


def drop_created(tmp_path: Path | None = None) -> None:
    """Drop the databases made for ``tmp_path`` (a test's own), or all made so far
    (a module's end: its module-scoped fixtures' databases), on the admin thread
    without waiting. Open connections are cut: a test that did not dispose of its
    engine must not keep its database alive."""
    keys = [k for k in _by_key if tmp_path is None or k[0] == str(tmp_path)]
    names = [_by_key.pop(k) for k in keys]
    if names:
        _dropping.append(_pool.submit(asyncio.run, _admin(*(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)"
                                                             for n in names))))


def finish() -> list[str]:
    """At the end of the run: drop the spare, wait for the drops; what failed."""
    global _spare
    drop_created()
    if _spare is not None:
        try:
            _dropping.append(_pool.submit(asyncio.run, _admin(f"DROP DATABASE IF EXISTS {_spare.result()}")))
        except Exception:  # the spare's copy failed: nothing to drop
            _dropping.append(_spare)
        _spare = None
    problems = []
    for job in _dropping:
        try:
            job.result()
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
    _dropping.clear()
    return problems
