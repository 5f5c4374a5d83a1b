"""The JSON API's keyset pages read one index range, on both databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from crm import collections
from crm.clock import utcnow
from crm.db import database
from crm.models import Campaign, Communication, Customer, FollowUp, Lead, Opportunity
from tests.conftest import Workspace

if TYPE_CHECKING:  # a module-level Test* name would be collected as a test class
    from tests.conftest import TestDB


@contextmanager
def selects_sent() -> Iterator[list[tuple[str, Any]]]:
    """The plain SQL of every SELECT the block sends (PostgreSQL's prepared statements off, so
    the pre-rendered lead page is sent as text too)."""
    sent: list[tuple[str, Any]] = []
    real = database.obj.execute_sql
    prepares = getattr(database.obj, "prepared_statements", None)

    def spy(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if sql.lstrip().upper().startswith("SELECT"):
            sent.append((sql, params))
        return real(sql, params, *args, **kwargs)

    database.obj.execute_sql = spy
    if prepares is not None:
        database.obj.prepared_statements = False
    try:
        yield sent
    finally:
        del database.obj.execute_sql
        if prepares is not None:
            database.obj.prepared_statements = prepares


def _plan(db: TestDB, sql: str, params: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN "
    rows = database.execute_sql(prefix + sql, params).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


# one row of each table (its required columns), copied 256 times per company
PAGES: dict[str, tuple[type[Any], dict[str, Any], Callable[..., list[Any]]]] = {
    "leads": (Lead, {"name": "Lead"}, collections.leads),
    "customers": (Customer, {"name": "Customer"}, collections.customers),
    "opportunities": (Opportunity, {"name": "Deal"}, collections.opportunities),
    "communications": (
        Communication,
        {"communicable_type": "lead", "communicable_id": 1, "type": "call"},
        collections.communications,
    ),
    "follow-ups": (
        FollowUp,
        {"followable_type": "lead", "followable_id": 1, "title": "Call", "due_at": utcnow()},
        collections.follow_ups,
    ),
    "campaigns": (Campaign, {"name": "Spring", "channel": "email"}, collections.campaigns),
}


def _fill(model: type[Any], row: dict[str, Any], company_id: int, copies: int) -> None:
    model.create(company=company_id, **row)
    columns = ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields if f.name != "id")
    table = model._meta.table_name
    while model.scoped(company_id).count() < copies:
        database.execute_sql(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{table}" '
            f"WHERE company_id = {company_id}"
        )


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_page_reads_the_company_id_index_not_every_row_of_the_company(
    db: TestDB, acme: Workspace, globex: Workspace, name: str
) -> None:
    """``company = ? [AND id > ?] ORDER BY id LIMIT n`` is one range of ``(company_id, id)``.
    Without that index PostgreSQL read every row of the company through another company index
    and sorted them: 5 ms for the first page of 10 in a 14,000-lead workspace, growing with it.
    Two companies' rows are in the table, with PostgreSQL's statistics of them."""
    model, row, page = PAGES[name]
    table = model._meta.table_name
    for company in (acme.company.id, globex.company.id):
        _fill(model, row, company, 256)
    if db.backend == "postgres":
        database.execute_sql(f'ANALYZE "{table}"')
    for after in (None, 42):
        with selects_sent() as sent:
            page(acme.actor(), after=after, limit=10)
        queries = [(sql, params) for sql, params in sent if f'FROM "{table}"' in sql]
        assert len(queries) == 1, sent
        plan = _plan(db, *queries[0])
        assert f"{table}_company_id_id" in plan, plan
