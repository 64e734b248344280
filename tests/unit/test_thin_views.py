"""Thin views (issue 12.3): HTTP modules translate; queries live in the
packages' service modules (``recordings.queries``, ``ivr.catalog``,
``tickets.callbacks`` ...), which raise ``ctidesk.errors``."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES_SKIPPED = ("tests", "bench", "tools", "sandbox", "dev", "migrations", "build")
QUERY = re.compile(r"\bselect\(|\bdb\.execute\(")


def http_modules() -> list[Path]:
    found = set(ROOT.glob("*/http*.py")) | set(ROOT.glob("*/*_http.py"))
    return sorted(p for p in found if not p.parent.name.startswith(".") and p.parent.name not in PACKAGES_SKIPPED)


def test_the_http_modules_are_found():
    names = {f"{p.parent.name}/{p.name}" for p in http_modules()}
    assert {"recordings/http.py", "ivr/http.py", "agent_desk/http.py", "tickets/http.py"} <= names, names


def test_no_http_module_builds_or_runs_a_query():
    offenders = []
    for path in http_modules():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if QUERY.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "queries belong in the package's service module:\n" + "\n".join(offenders)


def test_the_rule_sees_a_query():
    assert QUERY.search("rows = (await db.execute(select(Recording))).scalars()")
    assert QUERY.search("stmt = select(User.id)")
    assert not QUERY.search("selected = preselect(x)")
