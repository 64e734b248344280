"""tests/pg: PostgreSQL's own tests, run only by the ``postgres`` tier
(``-p tests.pgtier``, which points tests.factories at a fresh database per test).
Outside it they stop at once: they are about PostgreSQL, not skipped on SQLite."""
from __future__ import annotations

import pytest

from tests import pgdb
from tests.unit.conftest import app, client, customer, db  # noqa: F401  (the same fixtures)


@pytest.fixture(autouse=True)
def _on_postgresql():
    if not pgdb.enabled():
        pytest.fail("tests/pg runs in the postgres tier: tools/run_tests.py --tier postgres")
