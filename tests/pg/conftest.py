"""tests/pg: PostgreSQL's own tests, run only by the ``postgres`` tier
(``-p tests.pgtier``, which points tests.factories at a fresh database per test).
A plain ``pytest tests`` on SQLite does not collect them (they are about
PostgreSQL; the runner's tier fails loudly if it cannot get its server)."""
from __future__ import annotations

import pytest

from tests import pgdb
from tests.unit.conftest import app, client, customer, db  # noqa: F401  (the same fixtures)


if not pgdb.enabled():
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(autouse=True)
def _on_postgresql():
    if not pgdb.enabled():
        pytest.fail("tests/pg runs in the postgres tier: tools/run_tests.py --tier postgres")
