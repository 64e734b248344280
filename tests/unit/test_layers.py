"""The layering rules of issue 12.4, checked on the source: no import cycles
between modules (lazy imports inside functions count: they only hide a cycle),
no private names imported across packages, and the core (settings, db, bus,
errors, deps, journal, calendar) imports no domain package."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accounts", "agent_desk", "basedata", "catalog", "cti", "ctidesk", "customers", "ivr",
            "knowledge", "recordings", "sandbox", "supervisor", "tickets")
CORE = ("ctidesk.aio", "ctidesk.settings", "ctidesk.db", "ctidesk.bus", "ctidesk.errors", "ctidesk.deps", "ctidesk.journal",
        "ctidesk.calendar", "ctidesk.logs", "ctidesk.wire")


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, modules: dict) -> list[tuple[str, str]]:
    """(imported module, name) pairs of project modules, at any depth of the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub, "") if sub in modules else (node.module, alias.name))
    return out


def _graph():
    modules = _modules()
    graph = {name: set() for name in modules}
    names = {}
    for name, path in modules.items():
        for target, imported in _imports(path, modules):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                graph[name].add(target)
                names.setdefault(name, []).append((target, imported))
    return graph, names


def test_no_import_cycles():
    graph, _ = _graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    # a package's __init__ importing its own modules is not a cycle worth naming
    cycles = [c for c in cycles if len({m.split(".")[0] for m in c}) > 1 or len(c) > 2]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_packages():
    _, names = _graph()
    bad = [f"{src} imports {mod}.{name}" for src, items in names.items() for mod, name in items
           if name.startswith("_") and not name.startswith("__") and mod.split(".")[0] != src.split(".")[0]]
    assert not bad, bad


def test_core_imports_no_domain_package():
    graph, _ = _graph()
    bad = [f"{m} -> {t}" for m in CORE if m in graph for t in graph[m] if not t.startswith("ctidesk.")]
    bad += [f"{m} -> {t}" for m in CORE if m in graph for t in graph[m]
            if t.startswith("ctidesk.") and t not in CORE]
    assert not bad, bad


def test_every_package_is_checked_here_and_installed():
    """A new top-level package must join PACKAGES (so the rules above see it) and
    pyproject's package list (or an installed ``ctidesk`` cannot import it: two
    packages of issue 14 were missing there while the tests, run from the
    checkout, passed)."""
    import fnmatch
    import tomllib

    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert found == set(PACKAGES)
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert [p for p in sorted(found) if not any(fnmatch.fnmatch(p, pattern) for pattern in include)] == []
