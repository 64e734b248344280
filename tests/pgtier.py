"""pytest plugin of the ``postgres`` tier: the database-touching tests, on PostgreSQL.

    CTIDESK_TEST_POSTGRES_URL=... python -m pytest -p tests.pgtier tests/unit tests/pg

(``tools/run_tests.py --tier postgres`` starts the throwaway cluster and does
this.) Loading the plugin turns the switch of :mod:`tests.pgdb` on, builds
the migrated template before the first test (no server: the run stops with
the reason, it does not skip), drops each test's databases after it, and
keeps only the tests that touch a database; the rest (AMI parsing, IVR
rules, pure functions) would only run twice for nothing.

A test touches the database when it uses one of the app fixtures
(``app``, ``db``, ``client``...), or when its module builds a database
(``make_app``, ``settings_for``, ``cli_environment``, ``make_engine``,
``create_app``, ``app_on_fake_ami``, ``live_app``, migrations) and the test has a ``tmp_path`` to put it in.
That is found from the code, not from a list, so new tests join by
themselves. ``@pytest.mark.sqlite_only`` leaves out a test about SQLite
itself (its file, its query plans, its fast reader).
"""
from __future__ import annotations

import os
import re

import pytest

from tests import pgdb

DB_FIXTURES = {"app", "db", "client", "customer", "pg_app"}
_BUILDS_A_DATABASE = re.compile(r"\b(make_app|settings_for|cli_environment|make_engine|create_app|"
                                r"app_on_fake_ami|live_app|migrate\.upgrade|database_url)\s*\(")
_module_builds: dict[str, bool] = {}


# On at import: ``-p`` plugins are imported before the initial conftests, and
# tests/pg/conftest.py decides at its import whether its tests are collected
# (set only in pytest_configure, which runs after them, tests/pg was silently
# left out of the tier).
os.environ[pgdb.SWITCH] = "postgresql"


def pytest_configure(config):
    os.environ[pgdb.SWITCH] = "postgresql"


def pytest_sessionstart(session):
    try:
        pgdb.ensure_template()
    except pgdb.NoServer as exc:
        pytest.exit(f"TIER POSTGRES CANNOT RUN: {exc}", returncode=3)


def pytest_sessionfinish(session):
    problems = pgdb.finish()
    if problems:  # the run's databases are throwaway: say so, the tests' results stand
        print(f"\npostgres tier: {len(problems)} database drop(s) failed, first: {problems[0]}")


def _builds_a_database(item) -> bool:
    path = str(item.path)
    if path not in _module_builds:
        try:
            _module_builds[path] = bool(_BUILDS_A_DATABASE.search(item.path.read_text(encoding="utf-8")))
        except OSError:
            _module_builds[path] = False
    return _module_builds[path]


def touches_database(item) -> bool:
    if item.get_closest_marker("sqlite_only"):
        return False
    if item.path.parent.name == "pg":  # tests/pg: PostgreSQL's own tests
        return True
    names = set(getattr(item, "fixturenames", ()))
    if names & DB_FIXTURES:
        return True
    return bool(names & {"tmp_path", "tmp_path_factory"}) and _builds_a_database(item)


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        (keep if touches_database(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True, scope="module")
def _module_postgres_databases():
    """Databases of module-scoped fixtures (made under ``tmp_path_factory``) live to the module's end."""
    yield
    pgdb.drop_created()


@pytest.fixture(autouse=True)
def _fresh_postgres_databases(request, _module_postgres_databases):
    own = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if own is not None:
        pgdb.drop_created(own)
