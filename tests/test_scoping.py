"""Rule 8 by construction: every query on a tenant table goes through ``Model.scoped(...)``.

``crm.models.TenantModel.scoped(company, *fields)`` is the one entry point that reads a
company's rows (``scoped_update`` / ``scoped_delete`` change them); a query that must cross
companies says so with ``Model.unscoped(..., why="...")``. This test reads ``crm/``, ``bot/``
and ``workers/`` with ``ast`` (nothing is imported) and fails on any other ``select``, ``get``,
``get_or_none``, ``get_by_id``, ``filter``, ``update``, ``delete`` or ``raw`` on a tenant
model, so a forgotten ``company ==`` is a red suite rather than a data leak found in review.

What counts as a tenant model in a file:
- a class of ``crm/models.py`` derived from ``TenantModel``, imported by name or reached as
  ``models.Lead``;
- a name assigned from one (``model = Lead``) or from its ``.alias()``;
- a variable that holds "some model" in code written for several: one named ``model``,
  ``cls``, ``child`` or ``*_model``, or a parameter annotated ``type[...]``, unless it is
  assigned a model that is not a tenant table (``model = SlackInstallation``).
Raw SQL: a string (docstrings aside) that reads or changes a tenant table (``FROM``, ``JOIN``,
``UPDATE`` followed by its table name) must carry its ``company_id`` condition in the same
string.

``crm/models.py``'s own entry points are where the scope is written, so they are not checked.
A module whose every query is keyed by an id the system itself minted (the campaign dispatch
engine) may say so once with a module-level ``CROSSES_COMPANIES = "why"``; the list of such
modules is pinned below, so a new one is a reviewed change.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crm", "bot", "workers")
MODELS = ROOT / "crm" / "models.py"

UNSCOPED_METHODS = frozenset(
    {
        "select",
        "get",
        "get_or_none",
        "get_by_id",
        "get_or_create",
        "filter",
        "update",
        "delete",
        "delete_by_id",
        "raw",
    }
)
# modules that state CROSSES_COMPANIES (see the module docstring); keep this list short
WHOLE_MODULES = frozenset({"crm/campaigns/dispatch.py", "crm/migrations/0011_search_terms_slim.py"})
MARKED = frozenset({"unscoped", "unscoped_update", "unscoped_delete"})
GENERIC_NAMES = frozenset({"model", "cls", "child"})
# (file, function) pairs not checked: where the scope itself is written, and the runner of
# pre-rendered statements (crm.sql_cache), whose SQL comes from builders that are checked here
ENTRY_POINTS = frozenset(
    {
        *(("crm/models.py", name) for name in ("scoped", "scoped_update", "scoped_delete")),
        *(("crm/models.py", name) for name in MARKED),
        ("crm/sql_cache.py", "models"),
    }
)


@dataclass(frozen=True)
class Schema:
    """The tenant models and tables of ``crm/models.py``, and its other models."""

    tenant_models: frozenset[str]
    other_models: frozenset[str]
    tenant_tables: frozenset[str]


@cache
def schema(source: str | None = None) -> Schema:
    tree = ast.parse(source if source is not None else MODELS.read_text(encoding="utf-8"))
    classes = {
        node.name: (node, [b.id for b in node.bases if isinstance(b, ast.Name)])
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    tenant = {"TenantModel"}
    grown = True
    while grown:
        grown = False
        for name, (_, bases) in classes.items():
            if name not in tenant and tenant.intersection(bases):
                tenant.add(name)
                grown = True
    models = {"BaseModel"}
    grown = True
    while grown:
        grown = False
        for name, (_, bases) in classes.items():
            if name not in models and models.intersection(bases):
                models.add(name)
                grown = True
    tables = set()
    for name in tenant:
        if name not in classes:
            continue
        for node in ast.walk(classes[name][0]):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "table_name" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                tables.add(node.value.value)
    return Schema(frozenset(tenant), frozenset(models - tenant), frozenset(tables))


def _names(target: ast.expr) -> list[ast.expr]:
    return list(target.elts) if isinstance(target, ast.Tuple) else [target]


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _text(node: ast.expr) -> str | None:
    """The literal text of a string or f-string (its placeholders dropped)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, schema: Schema) -> None:
        self.path = path
        self.schema = schema
        self.imported: dict[str, str] = {}  # name -> "tenant" | "other"
        self.module_alias: set[str] = set()  # ``from crm import models``
        self.scopes: list[dict[str, str]] = []  # assignments, innermost function last
        self.function: list[str] = []
        self.found: list[str] = []

    # --- what names mean -----------------------------------------------------------------
    def imports(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "crm.models":
                for alias in node.names:
                    name = alias.asname or alias.name
                    if alias.name in self.schema.tenant_models:
                        self.imported[name] = "tenant"
                    elif alias.name in self.schema.other_models:
                        self.imported[name] = "other"
            elif isinstance(node, ast.ImportFrom) and node.module == "crm":
                self.module_alias.update(
                    a.asname or a.name for a in node.names if a.name == "models"
                )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "crm.models" and alias.asname:
                        self.module_alias.add(alias.asname)

    def assignments(self, body: list[ast.stmt], args: ast.arguments | None) -> dict[str, str]:
        """What the names assigned in ``body`` (not in nested functions) hold."""
        local: dict[str, str] = {}
        self.scopes.append(local)
        if args is not None:
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.annotation is not None and ast.unparse(arg.annotation).startswith("type["):
                    local[arg.arg] = "tenant"
        nodes: list[ast.AST] = []
        stack: list[ast.AST] = list(body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            nodes.append(node)
            stack.extend(ast.iter_child_nodes(node))
        for _ in range(2):  # an alias of an alias
            for node in nodes:
                if not isinstance(node, ast.Assign):
                    continue
                values = _names(node.value)
                for target in node.targets:
                    targets = _names(target)
                    if len(targets) != len(values):
                        continue
                    for t, v in zip(targets, values, strict=True):
                        kind = self.kind(v)
                        if isinstance(t, ast.Name) and kind is not None:
                            local[t.id] = kind
        return self.scopes.pop()

    def kind(self, node: ast.expr) -> str | None:
        """``"tenant"``, ``"other"`` (a model, not a tenant table) or None (not a model)."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return self.kind(node.func.value) if node.func.attr == "alias" else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in self.module_alias:
                if node.attr in self.schema.tenant_models:
                    return "tenant"
                if node.attr in self.schema.other_models:
                    return "other"
            return None
        if isinstance(node, ast.Name):
            for scope in reversed(self.scopes):
                if node.id in scope:
                    return scope[node.id]
            if node.id in self.imported:
                return self.imported[node.id]
            if node.id in GENERIC_NAMES or node.id.endswith("_model"):
                return "tenant"
        return None

    # --- what is called ------------------------------------------------------------------
    def visit_Module(self, node: ast.Module) -> None:
        self.imports(node)
        self.scopes.append(self.assignments(node.body, None))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scopes.append(self.assignments(node.body, node.args))
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Attribute)
            and (self.path, self.function[-1] if self.function else "") not in ENTRY_POINTS
            and self.kind(node.func.value) == "tenant"
        ):
            owner, method = ast.unparse(node.func.value), node.func.attr
            if method in UNSCOPED_METHODS:
                self.found.append(f"{self.path}:{node.lineno}: {owner}.{method}(...) is not scoped")
            elif method in MARKED:
                why = next((k.value for k in node.keywords if k.arg == "why"), None)
                text = _text(why) if why is not None else None
                if not text or not text.strip():
                    self.found.append(
                        f"{self.path}:{node.lineno}: {owner}.{method}(...) needs why='...'"
                    )
        self.generic_visit(node)


def _raw_sql(path: str, tree: ast.AST, schema: Schema) -> Iterator[str]:
    tables = "|".join(sorted(map(re.escape, schema.tenant_tables), key=len, reverse=True))
    touches = re.compile(rf"\b(?:FROM|JOIN|UPDATE)\s+\"?({tables})\b", re.IGNORECASE)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.Constant) and id(node) not in docstrings
        ):
            text = _text(node)
        else:
            continue
        match = touches.search(text or "")
        if match and "company_id" not in text:
            yield f"{path}:{node.lineno}: raw SQL on {match.group(1)} without company_id"


def crosses_companies(tree: ast.Module) -> str | None:
    """The module's ``CROSSES_COMPANIES`` reason, if it states one."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "CROSSES_COMPANIES" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and node.value.value.strip()
        ):
            return node.value.value
    return None


def unscoped_queries(source: str, path: str = "x.py", models: str | None = None) -> list[str]:
    """Every query of ``source`` on a tenant table that is neither scoped nor marked."""
    tree = ast.parse(source, path)
    if crosses_companies(tree):
        return []
    found = _Finder(path, schema(models))
    found.visit(tree)
    return [*found.found, *_raw_sql(path, tree, schema(models))]


def sources() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def test_every_query_on_a_tenant_table_is_scoped_or_marked() -> None:
    found = [line for path, source in sources() for line in unscoped_queries(source, path)]
    assert not found, (
        "query a tenant table through Model.scoped(actor, ...) (rule 8), or mark a query "
        "that must cross companies with Model.unscoped(..., why='...'):\n" + "\n".join(found)
    )


def test_whole_module_exemptions_are_the_pinned_ones() -> None:
    """A module-wide ``CROSSES_COMPANIES`` turns the check off for a file: only the reviewed
    ones may say it."""
    stating = {path for path, source in sources() if crosses_companies(ast.parse(source))}
    assert stating == WHOLE_MODULES


def test_the_schema_is_read_from_the_models() -> None:
    s = schema()
    assert {"Lead", "Member", "FollowUp", "AuditLog", "CampaignRecipient"} <= s.tenant_models
    assert {"Company", "SlackInstallation"} <= s.other_models
    assert not s.tenant_models & s.other_models
    assert {"cms_leads", "cms_orders"} <= s.tenant_tables


PLANTED = """\
from crm import models
from crm.models import Lead, Member as M, SlackInstallation, Company
from peewee import SQL


def forgotten(actor, ids):
    a = Lead.select().where(Lead.id.in_(ids))                                # 7
    b = M.get_or_none(M.slack_user_id == "U1")                               # 8
    c = models.FollowUp.update(status="done").where(models.FollowUp.id == 1)  # 9
    own = Lead.alias("own")
    d = own.select(own.id)                                                   # 11
    e = Lead.unscoped(Lead.id)                                               # 12
    f = Lead.unscoped(Lead.id, why="")                                       # 13
    g = "SELECT id FROM cms_leads WHERE id = %s"                             # 14
    return a, b, c, d, e, f, g


def generic(model: type, record_id):
    return model.get_by_id(record_id)                                        # 19


def fine(actor, ids, team):
    a = Lead.scoped(actor).where(Lead.id.in_(ids))
    b = M.scoped(actor.company_id).where(M.slack_user_id == "U1").first()
    c = models.FollowUp.scoped_update(actor, status="done")
    own = Lead.alias("own")
    d = own.scoped(actor, own.id)
    e = Lead.unscoped(Lead.id, why="the scheduler scans every workspace")
    model = SlackInstallation
    f = model.select().where(model.team_id == team)
    g = Company.get_or_none(Company.team_id == team)
    h = "SELECT id FROM cms_leads WHERE company_id = %s AND id = %s"
    i = {}.get("x")
    return a, b, c, d, e, f, g, h, i
"""


def test_the_checker_catches_a_planted_unscoped_query() -> None:
    """The check above can fail: each forgotten scope of ``PLANTED`` is named, line by line,
    and none of the scoped or marked queries is."""
    found = unscoped_queries(PLANTED, "planted.py")
    assert [line.split(": ", 1)[0] for line in found] == [
        f"planted.py:{n}" for n in (7, 8, 9, 11, 12, 13, 19, 14)
    ], found
    assert found[0] == "planted.py:7: Lead.select(...) is not scoped"
    assert found[4] == "planted.py:12: Lead.unscoped(...) needs why='...'"
    assert found[-1] == "planted.py:14: raw SQL on cms_leads without company_id"
    exempt = 'CROSSES_COMPANIES = "a reason"\n' + PLANTED
    assert unscoped_queries(exempt, "planted.py") == []
    assert len(unscoped_queries('CROSSES_COMPANIES = ""\n' + PLANTED, "planted.py")) == 8
