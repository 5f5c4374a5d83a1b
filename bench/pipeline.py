"""Benchmark: ``crm.analytics.pipeline_summary`` against the same query written by hand.

    .venv/bin/python -m bench.pipeline                      # SQLite file under /tmp
    .venv/bin/python -m bench.pipeline --database-url postgresql://postgres@127.0.0.1:5432/crm_bench

Dataset: ``--rows`` opportunities (default 1,000,000) spread evenly over 100 companies with 10
members and 100 customers each; stages cycle through all six (two thirds open), amounts and
creation dates vary, one deal in five carries an explicit probability. Built once with
``INSERT ... SELECT`` over a generated series and reused (see ``bench/_common.py``).

Timed, alternating, best of ``--rounds``: for every company, the team summary (system actor)
and one rep's own summary (member actor), each against hand-written SQL that returns the same
numbers. The goal is a ratio of at most 1.2: the service layer (scope checks, query building,
exact Decimal results) may cost at most a fifth on top of the database's own work.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from peewee import Database

from bench._common import (
    bulk_insert,
    compare,
    days_before_sql,
    ensure_dataset,
    explain,
    first_ids,
    is_pg,
    open_bench_database,
    parse_args,
    report,
    series_sql,
)
from crm import analytics
from crm.acting import Actor
from crm.models import OPEN_STAGES, OPPORTUNITY_STAGES, STAGE_PROBABILITY, Member

COMPANIES = 100
MEMBERS_PER_COMPANY = 10
CUSTOMERS_PER_COMPANY = 100
GOAL = 1.2
BASE_TIME = datetime(2026, 1, 1, 12, 0)


def build(db: Database, rows: int) -> None:
    now = BASE_TIME
    bulk_insert(
        db,
        "cms_companies",
        ["team_id", "name", "currency", "phone_region", "timezone", "created_at", "updated_at"],
        (
            (f"TBENCH{c:04d}", f"Bench {c}", "ZMW", "ZM", "Africa/Lusaka", now, now)
            for c in range(COMPANIES)
        ),
    )
    companies = first_ids(db, "cms_companies", COMPANIES)
    bulk_insert(
        db,
        "cms_members",
        [
            "company_id",
            "slack_user_id",
            "name",
            "tz",
            "role",
            "is_active",
            "created_at",
            "updated_at",
        ],
        (
            (cid, f"U{m:04d}", f"Rep {m}", "UTC", "rep", True, now, now)
            for cid in companies
            for m in range(MEMBERS_PER_COMPANY)
        ),
    )
    bulk_insert(
        db,
        "cms_customers",
        ["company_id", "name", "tags", "unsubscribed", "created_at", "updated_at"],
        (
            (cid, f"Customer {k}", "[]", "[]", now, now)
            for cid in companies
            for k in range(CUSTOMERS_PER_COMPANY)
        ),
    )
    first_company = companies[0]
    first_member = first_ids(db, "cms_members", 1)[0]
    first_customer = first_ids(db, "cms_customers", 1)[0]
    # ids are contiguous in insertion order: company k owns members/customers k*N .. k*N+N-1
    stage_case = " ".join(f"WHEN {k} THEN '{stage}'" for k, stage in enumerate(OPPORTUNITY_STAGES))
    default_case = " ".join(
        f"WHEN {k} THEN {STAGE_PROBABILITY[stage]}" for k, stage in enumerate(OPPORTUNITY_STAGES)
    )
    # psycopg2 reads "%" as a placeholder: the modulo operator is written "%%" there
    mod = "%%" if is_pg(db) else "%"
    created, created_params = days_before_sql(db, now, f"i {mod} 365")
    p = "%s" if is_pg(db) else "?"
    sql = f"""
        INSERT INTO cms_opportunities (
            company_id, name, customer_id, amount, probability, probability_explicit, stage,
            assigned_to_id, created_at, updated_at)
        SELECT
            {p} + (i {mod} {COMPANIES}),
            'Deal ' || i,
            {p} + (i {mod} {COMPANIES}) * {CUSTOMERS_PER_COMPANY} + (i / {COMPANIES}) {mod} {CUSTOMERS_PER_COMPANY},
            ((i * 7919) {mod} 100000) * 100 + (i {mod} 100),
            CASE WHEN i {mod} 5 = 0 THEN (i * 13) {mod} 101
                 ELSE CASE ((i / {COMPANIES}) {mod} 6) {default_case} END END,
            i {mod} 5 = 0,
            CASE ((i / {COMPANIES}) {mod} 6) {stage_case} END,
            {p} + (i {mod} {COMPANIES}) * {MEMBERS_PER_COMPANY} + (i / 7) {mod} {MEMBERS_PER_COMPANY},
            {created},
            {created}
        FROM {series_sql(db)}
    """
    params: list[Any] = [first_company, first_customer, first_member]
    params += created_params + created_params + [rows]
    db.execute_sql(sql, params)


# --- the two sides ---------------------------------------------------------------------------

RAW_SQL = (
    'SELECT stage, COUNT(id), SUM(amount), SUM(amount * probability) FROM "cms_opportunities" '
    "WHERE company_id = {p} AND stage IN ({stages}){member} GROUP BY stage"
)


def raw_summary(db: Database, company_id: int, member_id: int | None) -> dict[str, Any]:
    """The hand-written equivalent: same numbers (exact Decimals), no ORM."""
    p = "%s" if is_pg(db) else "?"
    sql = RAW_SQL.format(
        p=p,
        stages=", ".join([p] * len(OPEN_STAGES)),
        member=f" AND assigned_to_id = {p}" if member_id is not None else "",
    )
    params: list[Any] = [company_id, *OPEN_STAGES]
    if member_id is not None:
        params.append(member_id)
    found = {
        stage: (int(n), Decimal(int(cents)) / 100, Decimal(int(w)).scaleb(-4))
        for stage, n, cents, w in db.execute_sql(sql, params).fetchall()
    }
    zero = (0, Decimal("0.00"), Decimal(0))
    stages = {s: found.get(s, zero) for s in OPEN_STAGES}
    return {
        "stages": stages,
        "count": sum(v[0] for v in stages.values()),
        "amount": sum(v[1] for v in stages.values()),
        "weighted": sum(v[2] for v in stages.values()),
    }


def same(summary: analytics.PipelineSummary, raw: dict[str, Any]) -> bool:
    return (
        summary.count == raw["count"]
        and summary.amount == raw["amount"]
        and summary.weighted_amount == raw["weighted"]
        and all(
            (s.count, s.amount, s.weighted_amount) == raw["stages"][s.stage] for s in summary.stages
        )
    )


def main() -> int:
    args = parse_args("pipeline", __doc__.splitlines()[0], 1_000_000)
    db = open_bench_database(args.database_url)
    ensure_dataset(db, f"pipeline:{COMPANIES}", args.rows, lambda d: build(d, args.rows))
    companies = [r[0] for r in db.execute_sql("SELECT id FROM cms_companies ORDER BY id")]
    reps: dict[int, Member] = {}  # each company's first rep
    for m in Member.select().where(Member.company.in_(companies)).order_by(Member.id):
        reps.setdefault(m.company_id, m)
    system = [Actor.system(cid, "cli") for cid in companies]
    members = [Actor.for_member(reps[cid], "cli") for cid in companies]

    for actor in (system[0], members[0]):  # the service and the baseline agree
        summary = analytics.pipeline_summary(actor, team=actor.member_id is None)
        assert same(summary, raw_summary(db, actor.company_id, actor.member_id)), actor

    for label, actors in (("team", system), ("rep", members)):
        member = actors[0].member_id
        p = "%s" if is_pg(db) else "?"
        sql = RAW_SQL.format(
            p=p,
            stages=", ".join([p] * len(OPEN_STAGES)),
            member=f" AND assigned_to_id = {p}" if member is not None else "",
        )
        params = [actors[0].company_id, *OPEN_STAGES] + ([member] if member else [])
        print(f"plan ({label}): " + " | ".join(explain(db, sql, params)))
        cand, base = compare(
            args.rounds,
            actors,
            lambda a: analytics.pipeline_summary(a, team=a.member_id is None),
            lambda a: raw_summary(db, a.company_id, a.member_id),
        )
        report(
            f"pipeline_summary ({label}, {len(actors)} companies)",
            args.database_url,
            args.rows,
            cand,
            base,
            GOAL,
        )
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
