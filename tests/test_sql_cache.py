"""crm.sql_cache: a query rendered once per shape runs exactly like peewee's own rendering."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from crm.models import Lead, Opportunity
from crm.sql_cache import Statement
from tests.conftest import Workspace

T = datetime(2026, 3, 10, 14, 0)


def _recent(company_id: int, since: datetime, status: str | None) -> Lead:
    return (
        Lead.select(Lead.id)
        .where(
            (Lead.company == company_id)
            & (Lead.created_at >= since - timedelta(days=1))
            & (Lead.status.is_null() if status is None else Lead.status == status)
        )
        .order_by(Lead.id)
    )


RECENT = Statement(_recent)


def test_renders_once_per_shape_and_binds_each_call(acme: Workspace) -> None:
    old = Lead.create(company=acme.company.id, name="Old", created_at=T - timedelta(days=3))
    new = Lead.create(company=acme.company.id, name="New", created_at=T)
    ids = [Lead.create(company=acme.company.id, name=f"L{i}", created_at=T).id for i in range(2)]
    for since, expected in ((T, [new.id, *ids]), (T - timedelta(days=2), [old.id, new.id, *ids])):
        sql, params = RECENT.sql(company_id=acme.company.id, since=since, status="new")
        want_sql, want_params = _recent(acme.company.id, since, "new").sql()
        assert (sql, params) == (want_sql, list(want_params))  # the derived "since - 1 day" too
        rows = [r[0] for r in RECENT.execute(company_id=acme.company.id, since=since, status="new")]
        assert rows == expected
    # None renders IS NULL: another shape, rendered on its own
    sql, params = RECENT.sql(company_id=acme.company.id, since=T, status=None)
    assert "IS NULL" in sql and sql == _recent(acme.company.id, T, None).sql()[0]


def test_rowcount_of_an_update(acme: Workspace) -> None:
    leads = [Lead.create(company=acme.company.id, name=f"L{i}") for i in range(3)]
    rename = Statement(
        lambda lead_id, name: Lead.update(name=name).where(Lead.id == lead_id)  # type: ignore[misc]
    )
    assert rename.rowcount(lead_id=leads[1].id, name="Renamed") == 1
    assert rename.rowcount(lead_id=-5, name="Nobody") == 0
    assert [lead.name for lead in Lead.select().order_by(Lead.id)] == ["L0", "Renamed", "L2"]


def test_a_parameter_the_query_converts_is_refused(acme: Workspace) -> None:
    """Money goes to the database as cents: a marker would not survive, so no rendering."""
    reprice = Statement(
        lambda opp_id, amount: Opportunity.update(amount=amount).where(Opportunity.id == opp_id)  # type: ignore[misc]
    )
    with pytest.raises(RuntimeError, match="amount"):
        reprice.sql(opp_id=1, amount=12)  # 12 units, 1200 cents
    with pytest.raises(TypeError):
        reprice.sql(opp_id=1, amount=[1])  # unhashable values cannot name a shape


def test_postgres_runs_it_as_a_prepared_statement_per_connection(db, acme: Workspace) -> None:
    """Prepared once per connection, then executed by name; ``prepared_statements=off`` on the
    URL (a transaction-pooling PgBouncer) runs the plain SQL instead."""
    from crm.db import database, prepares_statements

    lead = Lead.create(company=acme.company.id, name="Prepared")
    rename = Statement(lambda lead_id, name: Lead.update(name=name).where(Lead.id == lead_id))  # type: ignore[misc]
    if db.backend != "postgres":  # SQLite caches its own statements: plain SQL, same result
        assert not prepares_statements()
        assert rename.rowcount(lead_id=lead.id, name="Plain") == 1
        assert Lead.get_by_id(lead.id).name == "Plain"
        return

    def prepared() -> set[str]:
        cursor = database.execute_sql("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}

    assert rename.rowcount(lead_id=lead.id, name="Once") == 1
    assert rename.rowcount(lead_id=lead.id, name="Twice") == 1
    names = prepared()
    assert len([n for n in names if n.startswith("crm_statement_")]) >= 1
    database.obj.prepared_statements = False
    try:
        other = Statement(lambda lead_id: Lead.delete().where(Lead.id == lead_id))  # type: ignore[misc]
        assert other.rowcount(lead_id=lead.id) == 1
        assert prepared() == names  # nothing new prepared
    finally:
        database.obj.prepared_statements = True
    assert Lead.select().where(Lead.id == lead.id).count() == 0


def test_inserts_are_rendered_once_per_shape_and_store_what_peewee_stores(
    db, acme: Workspace
) -> None:
    """``Model.create`` goes through :func:`crm.sql_cache.insert_row`: money in cents, JSON,
    booleans, dates, foreign keys given as rows, and the new key, as peewee would have."""
    from datetime import date
    from decimal import Decimal

    from crm import sql_cache
    from crm.db import database
    from crm.models import Company, Customer

    lead = Lead.create(company=acme.company, name="Jane", tags=["vip", "q3"], probability=40)
    rendered = {k for k in sql_cache._inserts if k[0] is Lead}
    again = Lead.create(company=acme.company, name="John", tags=["vip"], probability=10)
    assert {k for k in sql_cache._inserts if k[0] is Lead} == rendered  # same shape, no render
    assert again.id == lead.id + 1 and not again.dirty_fields
    if db.backend == "postgres":  # and prepared, like the Statements
        held = database.execute_sql(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ('PREPARE crm_statement_% AS INSERT INTO "cms_leads"%',),
        ).fetchone()[0]
        assert held == 1
    opp = Opportunity.create(
        company=acme.company.id,
        name="Deal",
        lead=lead,
        amount=Decimal("1234.56"),
        probability_explicit=True,
        expected_close_date=date(2026, 12, 1),
    )
    raw = database.execute_sql(
        "SELECT amount, probability_explicit, expected_close_date, lead_id FROM cms_opportunities "
        f"WHERE id = {int(opp.id)}"
    ).fetchone()
    assert (raw[0], bool(raw[1]), str(raw[2]), raw[3]) == (123456, True, "2026-12-01", lead.id)
    stored = Opportunity.get_by_id(opp.id)
    assert (stored.amount, stored.lead_id, stored.expected_close_date) == (
        Decimal("1234.56"),
        lead.id,
        date(2026, 12, 1),
    )
    assert Lead.get_by_id(lead.id).tags == ["vip", "q3"]
    # a unique index still refuses a twin, as an IntegrityError the services catch
    from peewee import IntegrityError

    with pytest.raises(IntegrityError), database.atomic():
        Company.create(team_id=acme.company.team_id, name="Twin")
    assert Customer.create(company=acme.company.id, name="Kept").id is not None


def test_multi_row_inserts_are_rendered_once_per_row_count(
    acme: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search words of every create: one INSERT of n rows, rendered once per n, storing
    what peewee's ``insert_many`` stores (the defaults of the fields not given included)."""
    from crm import sql_cache
    from crm.models import SearchTerm

    def rows(record_id: int, *terms: str) -> list[dict[str, object]]:
        return [
            {"company": acme.company.id, "kind": "l", "record_id": record_id, "term": t}
            for t in terms
        ]

    monkeypatch.setattr(sql_cache, "_multi_inserts", {})  # what earlier tests rendered aside
    sql_cache.insert_rows(SearchTerm, rows(1, "jane", "doe"))
    shapes = {k for k in sql_cache._multi_inserts if k[0] is SearchTerm}
    sql_cache.insert_rows(SearchTerm, rows(2, "john", "roe"))
    assert {k for k in sql_cache._multi_inserts if k[0] is SearchTerm} == shapes
    sql_cache.insert_rows(SearchTerm, rows(3, "one"))
    assert len({k for k in sql_cache._multi_inserts if k[0] is SearchTerm}) == len(shapes) + 1
    stored = list(SearchTerm.select().order_by(SearchTerm.record_id, SearchTerm.term))
    assert [(s.record_id, s.term, s.weight) for s in stored] == [
        (1, "doe", 1), (1, "jane", 1), (2, "john", 1), (2, "roe", 1), (3, "one", 1),
    ]  # fmt: skip (weight: the field's default, as insert_many fills it)
    sql_cache.insert_rows(SearchTerm, [])  # nothing to write is no statement, no error
    assert SearchTerm.select().count() == 5
