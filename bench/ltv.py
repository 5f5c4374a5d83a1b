"""The nightly metrics job: ``crm.customer_value.recompute_all()`` against a hand-written
``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE``.

Dataset (``--rows`` orders, default 1,000,000; a tenth as many customers, 5% of them without
orders; 5 companies on the default tier thresholds). Both sides write every customer's row in
one statement (the steady state of the nightly job: every round updates existing rows). Before
timing, the two results are compared column by column, so the baseline does the same work.

    .venv/bin/python -m bench.ltv [--rows N] [--rounds R] [--database-url URL]
"""

from __future__ import annotations

import time
from datetime import datetime

from peewee import Database

from bench._common import (
    Timing,
    ensure_dataset,
    insert_companies,
    is_pg,
    open_bench_database,
    parse_args,
    report,
    series_sql,
)
from crm.customer_value import CHURN_STEPS, DAYS_PER_MONTH, recompute_all, tier_steps

NOW = datetime(2026, 3, 10, 9, 0, 0)
COMPANIES = 5
GOAL = 2.0


def _execute(db: Database, sql: str, params: list[object]) -> None:
    """psycopg2 reads ``%`` as a placeholder: the modulo operator is written ``%%`` there."""
    db.execute_sql(sql.replace(" % ", " %% ") if is_pg(db) else sql, params)


def _stamp(db: Database) -> object:
    return NOW if is_pg(db) else NOW.strftime("%Y-%m-%d %H:%M:%S")


def build(db: Database, orders: int) -> None:
    customers = max(1, orders // 10)
    buying = max(1, customers * 95 // 100)
    stamp = _stamp(db)
    p = "%s" if is_pg(db) else "?"
    insert_companies(db, "TLTV", COMPANIES, stamp)
    _execute(
        db,
        f"""INSERT INTO cms_customers (id, created_at, updated_at, company_id, name, tags,
                unsubscribed)
            SELECT i, {p}, {p}, 1 + i % {COMPANIES}, 'Customer ' || i, '[]', '[]'
            FROM {series_sql(db)}""",
        [stamp, stamp, customers],
    )
    if is_pg(db):
        db.execute_sql(
            "SELECT setval(pg_get_serial_sequence('cms_customers', 'id'), %s)", [customers]
        )
        ordered = (
            "(%s::timestamp - (i % 720) * interval '1 day' - (i % 86400) * interval '1 second')"
        )
    else:
        ordered = "datetime(?, printf('-%d days', i % 720), printf('-%d seconds', i % 86400))"
    # customer c = 1 + i % buying belongs to company 1 + c % COMPANIES
    _execute(
        db,
        f"""INSERT INTO cms_orders (created_at, updated_at, company_id, customer_id, amount, cost,
                ordered_at)
            SELECT {p}, {p}, 1 + (1 + i % {buying}) % {COMPANIES}, 1 + i % {buying},
                   (i * 7919) % 5000000,
                   CASE WHEN i % 5 = 0 THEN NULL ELSE ((i * 7919) % 5000000) * 6 / 10 END,
                   {ordered}
            FROM {series_sql(db)}""",
        [stamp, stamp, stamp, orders],
    )


def raw_sql(db: Database) -> tuple[str, list[object]]:
    """What a person would write by hand: aggregate once in a subquery, derive outside."""
    pg = is_pg(db)
    p = "%s" if pg else "?"
    epoch = (
        (lambda e: f"CAST(date_part('epoch', {e}) AS bigint)")
        if pg
        else (lambda e: f"CAST(strftime('%s', {e}) AS INTEGER)")
    )
    greatest = "GREATEST" if pg else "MAX"
    now = f"CAST({p} AS timestamp)" if pg else p
    tiers = " ".join(
        f"WHEN revenue >= {int(bound * 100)} THEN '{tier}'" for bound, tier in tier_steps()[:-1]
    )
    churn = " ".join(f"WHEN days >= {bound} THEN '{risk}'" for bound, risk in CHURN_STEPS[:-1])
    month = DAYS_PER_MONTH * 86400
    sql = f"""
        INSERT INTO cms_customer_metrics (company_id, customer_id, order_count, lifetime_value,
            average_order_value, purchase_frequency, first_purchase_at, last_purchase_at,
            days_since_last_purchase, total_revenue, total_profit, profit_margin, tier,
            churn_risk, computed_at, created_at, updated_at)
        SELECT company_id, id, n, revenue,
               COALESCE(CAST(ROUND(revenue * 1.0 / NULLIF(n, 0)) AS bigint), 0),
               COALESCE(n * 1.0 / {greatest}(1.0, ({epoch(now)} - {epoch("first_at")}) / {month}), 0),
               first_at, last_at, days, revenue, profit,
               profit * 100.0 / NULLIF(revenue, 0),
               CASE {tiers} ELSE 'bronze' END,
               CASE WHEN days IS NULL THEN NULL {churn} ELSE 'low' END,
               {now}, {now}, {now}
        FROM (SELECT agg0.*, CASE WHEN raw_days < 0 THEN 0 ELSE raw_days END AS days FROM (
            SELECT c.company_id, c.id, COUNT(o.id) AS n, COALESCE(SUM(o.amount), 0) AS revenue,
                   COALESCE(SUM(o.amount - COALESCE(o.cost, 0)), 0) AS profit,
                   MIN(o.ordered_at) AS first_at, MAX(o.ordered_at) AS last_at,
                   ({epoch(now)} - {epoch("MAX(o.ordered_at)")}) / 86400 AS raw_days
            FROM cms_customers c
            LEFT JOIN cms_orders o ON o.customer_id = c.id AND o.company_id = c.company_id
            WHERE c.company_id IN ({", ".join(str(i) for i in range(1, COMPANIES + 1))})
            GROUP BY c.id, c.company_id
        ) AS agg0) AS agg
        WHERE true
        ON CONFLICT (customer_id) DO UPDATE SET
            company_id = excluded.company_id, order_count = excluded.order_count,
            lifetime_value = excluded.lifetime_value,
            average_order_value = excluded.average_order_value,
            purchase_frequency = excluded.purchase_frequency,
            first_purchase_at = excluded.first_purchase_at,
            last_purchase_at = excluded.last_purchase_at,
            days_since_last_purchase = excluded.days_since_last_purchase,
            total_revenue = excluded.total_revenue, total_profit = excluded.total_profit,
            profit_margin = excluded.profit_margin, tier = excluded.tier,
            churn_risk = excluded.churn_risk, computed_at = excluded.computed_at,
            updated_at = excluded.updated_at
    """
    stamp = _stamp(db)
    return sql, [stamp] * 5


def fingerprint(db: Database) -> list[tuple]:
    """Every metric row, floats rounded, to check both sides wrote the same thing."""
    rows = db.execute_sql(
        "SELECT customer_id, company_id, order_count, lifetime_value, average_order_value,"
        " ROUND(CAST(purchase_frequency AS numeric), 6), first_purchase_at, last_purchase_at,"
        " days_since_last_purchase, total_revenue, total_profit,"
        " ROUND(CAST(profit_margin AS numeric), 6), tier, churn_risk, computed_at"
        " FROM cms_customer_metrics ORDER BY customer_id"
    ).fetchall()
    return [tuple(str(v) for v in row) for row in rows]


def main() -> None:
    args = parse_args("ltv", __doc__.splitlines()[0], 1_000_000)
    db = open_bench_database(args.database_url)
    ensure_dataset(db, "ltv", args.rows, lambda d: build(d, args.rows))
    sql, params = raw_sql(db)

    def ours() -> int:
        with db.atomic():
            return recompute_all(NOW)

    def theirs() -> int:
        with db.atomic():
            return db.execute_sql(sql, params).rowcount

    db.execute_sql("DELETE FROM cms_customer_metrics")
    theirs()
    expected = fingerprint(db)
    db.execute_sql("DELETE FROM cms_customer_metrics")
    ours()
    got = fingerprint(db)
    if got != expected:
        diff = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        raise SystemExit(f"results differ, e.g. service {got[diff]} vs raw {expected[diff]}")
    print(f"same result on both sides: {len(got):,} metric rows")
    cand, base = Timing("service", [], 1), Timing("raw SQL", [], 1)
    for _ in range(args.rounds):
        for timing, run in ((base, theirs), (cand, ours)):
            start = time.perf_counter()
            written = run()
            timing.rounds.append(time.perf_counter() - start)
            if written != len(got):
                raise SystemExit(f"{timing.label} wrote {written} rows, expected {len(got)}")
    report("recompute_all vs raw INSERT ... SELECT", args.database_url, args.rows, cand, base, GOAL)


if __name__ == "__main__":
    main()
