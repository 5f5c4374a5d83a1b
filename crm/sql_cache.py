"""Peewee queries rendered to SQL once per shape, then run with fresh values.

On a hot path the cost of a keyed statement is peewee writing its SQL, not the database
running it: ~0.3-2 ms of Python to render an UPDATE or a joined SELECT against ~0.1 ms for
the database to execute it (``bench/reminders.py``, ``bench/ack.py``). A :class:`Statement`
keeps the one definition of a query in peewee, where the rules stay readable and in one
place, and renders it once per database kind and *shape*: the builder is called with marker
values standing in for the parameters, and every marker found in the rendered parameters
becomes a slot that later calls fill with their real values. A parameter derived from a
datetime (``now - timedelta(hours=24)``) is recognised as its marker shifted by a constant.

:func:`insert_row` does the same for ``Model.create``/``save`` of a new row: peewee renders
the INSERT once per model, database and set of columns, and later rows only convert their
values (``field.db_value``) and send them. :func:`insert_rows` is its multi-row form (the
search words a change writes), rendered once per model, set of columns and row count.

On PostgreSQL each rendering is also a server-side prepared statement, per connection
(``PREPARE`` once, then ``EXECUTE``): the database then skips parsing and planning too, which
for the reminder claim (a five-table join) is most of its cost. Prepared statements are
session state, so behind a transaction-pooling PgBouncer they must be switched off:
``?prepared_statements=off`` on ``DATABASE_URL`` (see :func:`crm.db.open_database`).

What cannot be pre-rendered is refused when first rendered, not run wrongly: a value the
query converts (money to cents, a list to JSON) never shows up as its marker, and that is
an error naming the parameter. Values that change the SQL itself (``None`` renders
``IS NULL``, booleans, tuples for ``IN``) are part of the shape, so each variant gets its
own rendering.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from peewee import Model, Query

from crm.db import database, prepares_statements

__all__ = ["Statement", "insert_row", "insert_rows"]

_INT_MARK = -918_273_000
_STR_MARK = "\x00statement-parameter-"
_TIME_MARK = datetime(1100, 1, 1)
_TIME_SPACING = timedelta(days=2000)
_TIME_REACH = timedelta(days=400)  # a derived datetime lies this close to its marker

Binder = Callable[[Mapping[str, Any]], Any]
_PLACEHOLDER = re.compile(r"%([%s])")
_names = itertools.count(1)
# which prepared statements each PostgreSQL connection holds (they die with the connection)
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Rendered:
    sql: str
    binders: tuple[Binder, ...]
    name: str  # of its prepared statement, on PostgreSQL

    def prepare_sql(self) -> str:
        """``PREPARE name AS ...`` with peewee's ``%s`` placeholders numbered ``$1..$n``."""
        numbers = itertools.count(1)
        body = _PLACEHOLDER.sub(
            lambda m: "%" if m.group(1) == "%" else f"${next(numbers)}", self.sql
        )
        return f"PREPARE {self.name} AS {body}"

    @functools.cached_property
    def execute_sql(self) -> str:
        """``EXECUTE name(%s, ...)``, one slot per parameter (worked out once)."""
        count = sum(1 for m in _PLACEHOLDER.finditer(self.sql) if m.group(1) == "s")
        slots = ", ".join(["%s"] * count)
        return f"EXECUTE {self.name}({slots})" if slots else f"EXECUTE {self.name}"


def _on_connection(rendered: _Rendered) -> str:
    """What to send on this thread's connection: the SQL, or ``EXECUTE`` of the prepared
    statement (prepared first if this connection does not hold it yet)."""
    if not prepares_statements():
        return rendered.sql
    held = _prepared.setdefault(database.connection(), set())
    if rendered.name not in held:
        database.execute_sql(rendered.prepare_sql())
        held.add(rendered.name)
    return rendered.execute_sql


def _markable(value: Any) -> bool:
    return isinstance(value, int | str | datetime) and not isinstance(value, bool)


def _marker(index: int, value: Any) -> Any:
    if isinstance(value, datetime):
        return _TIME_MARK + index * _TIME_SPACING
    if isinstance(value, str):
        return f"{_STR_MARK}{index}"
    return _INT_MARK - index


def _shape(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        (name, type(value) if _markable(value) else value) for name, value in sorted(values.items())
    )


def _shifted(name: str, shift: timedelta) -> Binder:
    return lambda values: values[name] + shift


def _constant(value: Any) -> Binder:
    return lambda values: value


class Statement:
    """One query definition, ``build(**values)``, rendered once per database and shape."""

    def __init__(self, build: Callable[..., Query]) -> None:
        self.build = build
        self._rendered: dict[tuple[Any, ...], _Rendered] = {}
        self._lock = threading.Lock()

    def _rendering(self, values: Mapping[str, Any]) -> _Rendered:
        key = (type(database.obj), _shape(values))
        rendered = self._rendered.get(key)
        if rendered is None:
            with self._lock:
                rendered = self._rendered.get(key) or self._render(values)
                self._rendered[key] = rendered
        return rendered

    def sql(self, **values: Any) -> tuple[str, list[Any]]:
        """The SQL text and parameters for ``values``, as peewee would write them."""
        rendered = self._rendering(values)
        return rendered.sql, [bind(values) for bind in rendered.binders]

    def _bound(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        rendered = self._rendering(values)
        return _on_connection(rendered), [bind(values) for bind in rendered.binders]

    def execute(self, **values: Any) -> Any:
        """Run it; the DB-API cursor (rows, ``rowcount``)."""
        return database.execute_sql(*self._bound(values))

    def rowcount(self, **values: Any) -> int:
        """Run an UPDATE or DELETE; how many rows it changed."""
        return self.execute(**values).rowcount

    def models(self, model: type[Model], **values: Any) -> list[Any]:
        """Run a SELECT; its rows as ``model`` instances (extra columns as attributes)."""
        sql, params = self._bound(values)
        return list(model.raw(sql, *params))

    def _render(self, values: Mapping[str, Any]) -> _Rendered:
        markers = {
            name: _marker(i, value) if _markable(value) else value
            for i, (name, value) in enumerate(sorted(values.items()))
        }
        slots = {
            (type(mark), mark): name for name, mark in markers.items() if _markable(values[name])
        }
        times = [(mark, name) for (kind, mark), name in slots.items() if kind is datetime]
        text, params = self.build(**markers).sql()
        binders: list[Binder] = []
        used: set[str] = set()
        for param in params:
            name = slots.get((type(param), param)) if _markable(param) else None
            if name is not None:
                binders.append(operator.itemgetter(name))
                used.add(name)
                continue
            near = [
                (mark, name)
                for mark, name in times
                if isinstance(param, datetime) and abs(param - mark) < _TIME_REACH
            ]
            if near:
                mark, name = near[0]
                binders.append(_shifted(name, param - mark))
                used.add(name)
            else:
                binders.append(_constant(param))
        missing = sorted(set(slots.values()) - used)
        if missing:
            raise RuntimeError(
                f"{self.build.__qualname__}: parameter(s) {', '.join(missing)} do not reach the "
                "SQL as given (converted or unused), so this query cannot be pre-rendered"
            )
        return _Rendered(text, tuple(binders), f"crm_statement_{next(_names)}")


_UNRENDERED = object()
# (model, database class, column names) -> the INSERT, or None where peewee's own path is kept
_inserts: dict[tuple[Any, ...], _Rendered | None] = {}


def insert_row(instance: Model) -> Any:
    """INSERT ``instance`` as a new row (auto-increment key); the new key, or
    :data:`NotImplemented` when this shape keeps peewee's own path.

    The first row of a shape is checked against peewee: if peewee would send other
    parameters than the fields' ``db_value`` in column order (a field that peewee treats
    specially), the shape is left to peewee for good.
    """
    model = type(instance)
    meta = model._meta
    data = instance.__data__.copy()
    instance._populate_unsaved_relations(data)
    data.pop(meta.primary_key.name, None)
    fields = sorted((meta.fields[name] for name in data), key=operator.attrgetter("_sort_key"))
    params = [field.db_value(data[field.name]) for field in fields]
    returning = database.returning_clause
    key = (model, type(database.obj), tuple(field.name for field in fields))
    rendered = _inserts.get(key, _UNRENDERED)
    if rendered is _UNRENDERED:
        query = model.insert(**data)
        if returning:
            query = query.returning(meta.primary_key)
        sql, peewee_params = query.sql()
        same = list(peewee_params) == params
        name = f"crm_statement_{next(_names)}"
        rendered = _inserts[key] = _Rendered(sql, (), name) if same else None
    if rendered is None:
        return NotImplemented
    cursor = database.execute_sql(_on_connection(rendered), params)
    return cursor.fetchone()[0] if returning else cursor.lastrowid


MAX_RENDERED_ROWS = 64
"""Larger batches (imports, reindexing) keep peewee's own path: they are rare, and one
rendering per row count would pile up prepared statements on every connection."""
# (model, database class, column names, row count) -> the INSERT, or None (peewee's path)
_multi_inserts: dict[tuple[Any, ...], _Rendered | None] = {}


def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts of field name to value, all with the same names) in one
    statement, as ``model.insert_many(rows).execute()`` would, without peewee writing the
    SQL again each time: a record's search words are one such INSERT on every create, and
    rendering it cost more than the database took to run it.

    Defaults of the fields not given are filled in as peewee does; the first batch of a shape
    is checked against peewee's own rendering, and a shape peewee treats otherwise keeps
    peewee's path for good. Nothing is returned, so on PostgreSQL inside a transaction the
    INSERT is sent with the transaction's next statement, its COMMIT at the latest, instead of
    as a round trip of its own (:meth:`crm.db.PostgresPool.defer`).
    """
    if not rows:
        return
    meta = model._meta
    given = rows[0].keys()
    missing = [(f.name, d) for f, d in meta.defaults.items() if f.name not in given]
    full = []
    for row in rows:
        values = dict(row)
        for name, default in missing:
            values[name] = default() if callable(default) else default
        full.append(values)
    fields = sorted((meta.fields[name] for name in full[0]), key=operator.attrgetter("_sort_key"))
    key = (model, type(database.obj), tuple(f.name for f in fields), len(full))
    rendered = _multi_inserts.get(key, _UNRENDERED)
    if len(full) > MAX_RENDERED_ROWS:
        rendered = None
    params = [f.db_value(values[f.name]) for values in full for f in fields]
    if rendered is _UNRENDERED:
        sql, peewee_params = model.insert_many(full).sql()
        same = list(peewee_params) == params
        name = f"crm_statement_{next(_names)}"
        rendered = _multi_inserts[key] = _Rendered(sql, (), name) if same else None
    if rendered is None:
        model.insert_many(full).execute()
        return
    sql = _on_connection(rendered)
    defer = getattr(database.obj, "defer", None)  # PostgreSQL: see crm.db.PostgresPool
    if defer is None or not defer(sql, params):
        database.execute_sql(sql, params)
