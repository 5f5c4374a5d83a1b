"""The rules that keep the layers apart (docs/architecture.md), read from the source with ``ast``.

Nothing is imported: each test parses the files of ``crm/``, ``bot/`` and ``workers/`` and
looks at their ``import`` statements (at module level *and* inside functions: an import moved
into a function still ties the two modules together, it only hides the tie until run time).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crm", "bot", "workers")

# crm/ is the domain: it may use the database and plain libraries, never a delivery mechanism
ADAPTERS = (
    "bot",
    "workers",
    "slack_sdk",
    "slack_bolt",
    "dramatiq",
    "flask",
    "gunicorn",
    "apscheduler",
    "redis",
)


@dataclass(frozen=True)
class Import:
    """One imported name, as the module it lands in (``crm.audit``) and where it was written."""

    target: str
    module: str
    line: int


@cache
def modules() -> dict[str, Path]:
    """Every module of the three packages by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _written(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every dotted name an import statement of ``path`` names, relative imports resolved."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base.pop()
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source, node.lineno
            for alias in node.names:  # ``from crm import audit`` imports the module crm.audit
                yield f"{source}.{alias.name}", node.lineno


def imports(module: str) -> list[Import]:
    """What ``module`` imports; names inside the three packages are cut to the module holding
    them (``crm.audit.change`` -> ``crm.audit``), others are kept as written."""
    known = modules()
    found = []
    for name, line in _written(module, known[module]):
        target = name
        while target and target not in known:
            target = target.rpartition(".")[0]
        found.append(Import(target or name, module, line))
    return found


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {imported module of ours: first line importing it}."""
    known = modules()
    edges: dict[str, dict[str, int]] = {}
    for module in known:
        edges[module] = {}
        for imp in imports(module):
            if imp.target in known and imp.target != module:
                edges[module].setdefault(imp.target, imp.line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_shortest_cycle(edges, group) for group in groups]


def _shortest_cycle(edges: dict[str, dict[str, int]], group: set[str]) -> list[str]:
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(edges[v]):
                if w == start:
                    return [*paths[v], start]
                if w in group and w not in paths:
                    paths[w] = [*paths[v], w]
                    following.append(w)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not a cycle")  # pragma: no cover


def _describe(edges: dict[str, dict[str, int]], cycle: list[str]) -> str:
    return " ; ".join(f"{a} (line {edges[a][b]}) -> {b}" for a, b in pairwise(cycle))


def test_no_import_cycle_in_crm_bot_or_workers() -> None:
    edges = graph()
    found = cycles(edges)
    assert not found, "import cycles (break them, see docs/architecture.md):\n" + "\n".join(
        _describe(edges, c) for c in found
    )


def test_the_cycle_finder_finds_and_names_a_cycle() -> None:
    """The check above can fail: a cycle hidden in a function is found and spelled out."""
    edges = {"a": {"b": 3}, "b": {"c": 9}, "c": {"a": 40, "d": 1}, "d": {}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
    assert _describe(edges, ["a", "b", "c", "a"]) == (
        "a (line 3) -> b ; b (line 9) -> c ; c (line 40) -> a"
    )
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_function_level_imports_count(tmp_path: Path) -> None:
    source = "import os\n\ndef f():\n    from crm import audit\n    from .db import database\n"
    path = tmp_path / "x.py"
    path.write_text(source)
    assert sorted(_written("crm.x", path)) == [
        ("crm", 4),
        ("crm.audit", 4),
        ("crm.db", 5),
        ("crm.db.database", 5),
        ("os", 1),
    ]


def test_crm_imports_no_adapter() -> None:
    """The domain knows nothing of Slack, Dramatiq, Redis, Flask or the web process."""
    leaks = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for module in modules()
        if module == "crm" or module.startswith("crm.")
        for imp in imports(module)
        if imp.target.split(".")[0] in ADAPTERS
    ]
    assert not leaks, "crm/ must not import an adapter:\n" + "\n".join(leaks)


QUERY_METHODS = frozenset(
    {
        "select",
        "get",
        "get_or_none",
        "get_by_id",
        "get_or_create",
        "create",
        "insert",
        "insert_many",
        "insert_from",
        "bulk_create",
        "bulk_update",
        "update",
        "delete",
        "delete_by_id",
        "replace",
        "raw",
    }
)


def orm_queries(path: Path) -> list[str]:
    """``Model.select(...)``-style calls on names imported from ``crm.models`` (or on a
    ``peewee``/``crm.db`` import), as ``line: Model.method``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    models: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("crm.models", "crm.db", "peewee"):
            models.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "crm":
            models.update(a.asname or a.name for a in node.names if a.name in ("models", "db"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner, method = node.func.value, node.func.attr
        if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name):
            name = f"{owner.value.id}.{owner.attr}" if owner.value.id in models else None
        else:
            name = owner.id if isinstance(owner, ast.Name) and owner.id in models else None
        if name is not None and method in QUERY_METHODS:
            found.append(f"{node.lineno}: {name}.{method}")
    return found


def test_listeners_do_not_query_the_orm() -> None:
    """Listeners parse, call a service, render: a query in a listener is a rule (tenancy,
    permissions) the services cannot vouch for."""
    leaks = [
        f"{path.relative_to(ROOT)}:{query}"
        for path in sorted((ROOT / "bot" / "listeners").rglob("*.py"))
        for query in orm_queries(path)
    ]
    assert not leaks, "listeners must go through crm services:\n" + "\n".join(leaks)


def test_the_orm_query_finder_sees_queries(tmp_path: Path) -> None:
    path = tmp_path / "listener.py"
    path.write_text(
        "from crm.models import Member, ROLES\nfrom crm import models\nfrom crm import audit\n"
        "def f(ids):\n"
        "    a = Member.select().where(Member.id.in_(ids))\n"
        "    b = models.Lead.get_or_none(id=1)\n"
        "    c = audit.history(1, 2, 3)\n"  # a service: fine
        "    d = {}.get('x')\n"
    )
    assert sorted(orm_queries(path)) == ["5: Member.select", "6: models.Lead.get_or_none"]


def test_crm_loads_no_adapter_by_name() -> None:
    """No ``importlib.import_module("workers.cli")`` either: a string in ``crm/`` that is
    the name of a module of ``bot/`` or ``workers/`` is an import in disguise. (The layers
    above register themselves with ``crm``: workers.cli.main imports the CLI's commands.)"""
    adapters = {m for m in modules() if m.split(".")[0] in ("bot", "workers")}
    leaks = [
        f"{path.relative_to(ROOT)}:{node.lineno} names {node.value}"
        for path in sorted((ROOT / "crm").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in adapters
    ]
    assert not leaks, "\n".join(leaks)


def test_every_rule_in_docs_architecture_names_a_test_that_exists() -> None:
    """docs/architecture.md says which test enforces each rule: a renamed or deleted test must
    not leave the document pointing at nothing."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text)
    assert len(named) >= 8, named
    for path, test in named:
        source = ROOT / path
        assert source.exists(), f"docs/architecture.md names {path}, which does not exist"
        if test:
            assert re.search(rf"^def {test}\(", source.read_text(encoding="utf-8"), re.M), (
                f"docs/architecture.md names {path}::{test}, which does not exist"
            )


# where a process's wiring is decided (docs/architecture.md, "Where a new thing goes")
COMPOSITION_ROOTS = frozenset({"crm.runtime", "bot.composition", "workers.composition"})
# module globals a module may rebind itself: state of the running process, not its wiring
PROCESS_STATE = {
    ("crm.replays", "global _last_prune"): "when this process last deleted expired replay keys",
    ("bot.background", "global _executor"): "the pool, built on first use (after gunicorn's fork)",
    ("bot.command_runner", "global _link"): "the pipe to the handler process this worker forked",
}


def process_globals(path: Path) -> list[tuple[str, int]]:
    """Module globals that ``path`` rebinds from a function (``global``), and ``configure``
    functions it defines, as ``(what, line)``: the ways a module takes wiring of its own."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Global):
            found.extend((f"global {name}", node.lineno) for name in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "configure":
            found.append(("def configure", node.lineno))
    return found


def test_process_wiring_lives_in_the_composition_roots() -> None:
    """Settings, keys, brokers, runners and limiters are installed by ``crm/runtime.py``,
    ``bot/composition.py`` and ``workers/composition.py`` and read from there; a module that
    keeps a global of its own set by a ``configure()`` call is wiring nobody can find."""
    leaks = [
        f"{path.relative_to(ROOT)}:{line} {what}"
        for module, path in modules().items()
        if module not in COMPOSITION_ROOTS
        for what, line in sorted(set(process_globals(path)), key=lambda found: found[1])
        if (module, what) not in PROCESS_STATE
    ]
    assert not leaks, "wire the process in a composition root instead:\n" + "\n".join(leaks)


def test_the_wiring_finder_sees_globals_and_configure(tmp_path: Path) -> None:
    path = tmp_path / "planted.py"
    path.write_text(
        "_settings = None\n_cache = {}\n"
        "def configure(settings):\n"
        "    global _settings\n"
        "    _settings = settings\n"
        "def remember(key, value):\n"
        "    _cache[key] = value\n"  # a cache filled in place: not a rebinding
    )
    assert process_globals(path) == [("def configure", 3), ("global _settings", 4)]
