"""Rule 5's scan: ``crm.followups.mark_overdue(now)`` against the hand-written UPDATE.

Dataset (``--rows``, default 1,000,000 follow-ups over 10 companies): 1% pending and newly due
in the hour before ``NOW`` (10,000 at the default size), 40% completed, 20% overdue since days,
the rest pending and due in the future. Each round first puts the newly-due rows back to
pending (untimed), then times one scan in its own transaction; both sides must move exactly
the newly-due rows.

    .venv/bin/python -m bench.overdue [--rows N] [--rounds R] [--database-url URL]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from peewee import Database

from bench._common import (
    Timing,
    ensure_dataset,
    explain,
    insert_companies,
    is_pg,
    open_bench_database,
    parse_args,
    report,
    series_sql,
)
from crm.followups import mark_overdue

NOW = datetime(2026, 3, 10, 9, 0, 0)
COMPANIES = 10
GOAL = 2.0


def _p(db: Database) -> str:
    return "%s" if is_pg(db) else "?"


def _execute(db: Database, sql: str, params: list[object]) -> None:
    """psycopg2 reads ``%`` as a placeholder: the modulo operator is written ``%%`` there."""
    db.execute_sql(sql.replace(" % ", " %% ") if is_pg(db) else sql, params)


def _shift(db: Database, seconds_expr: str) -> tuple[str, list[object]]:
    """SQL for ``NOW + seconds_expr seconds`` (negative moves back), with its parameter."""
    if is_pg(db):
        return f"(%s::timestamp + ({seconds_expr}) * interval '1 second')", [NOW]
    return (
        f"datetime(?, printf('%+d seconds', {seconds_expr}))",
        [NOW.strftime("%Y-%m-%d %H:%M:%S")],
    )


def build(db: Database, rows: int) -> None:
    stamp = NOW if is_pg(db) else NOW.strftime("%Y-%m-%d %H:%M:%S")
    insert_companies(db, "TBENCH", COMPANIES, stamp)
    # bucket = i % 100: 0 newly due (last hour), 1-40 completed, 41-60 overdue for days,
    # 61-99 pending and due in the future
    seconds = (
        "CASE WHEN i % 100 = 0 THEN -(i % 3600)"
        " WHEN i % 100 <= 60 THEN -86400 - (i % 8640000)"
        " ELSE 3600 + (i % 8640000) END"
    )
    due_sql, due_params = _shift(db, seconds)
    status = (
        "CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 100 <= 40 THEN 'completed'"
        " WHEN i % 100 <= 60 THEN 'overdue' ELSE 'pending' END"
    )
    p = _p(db)
    _execute(
        db,
        f"""INSERT INTO cms_follow_ups (created_at, updated_at, company_id, followable_type,
                followable_id, title, due_at, priority, status, reminder_count)
            SELECT {p}, {p}, 1 + i % {COMPANIES}, 'lead', i, 'Call back', {due_sql}, 'medium',
                   {status}, 0
            FROM {series_sql(db)}""",
        [stamp, stamp, *due_params, rows],
    )


def reset(db: Database) -> int:
    """Put the newly-due rows back to pending (the older overdue ones are due days ago)."""
    since_sql, params = _shift(db, "-3600")
    with db.atomic():
        return db.execute_sql(
            f"UPDATE cms_follow_ups SET status = 'pending' "
            f"WHERE status = 'overdue' AND due_at > {since_sql}",
            params,
        ).rowcount


def raw_sql(db: Database) -> tuple[str, list[object]]:
    p = _p(db)
    now = NOW if is_pg(db) else NOW.strftime("%Y-%m-%d %H:%M:%S")
    sql = (
        f"UPDATE cms_follow_ups SET status = 'overdue', updated_at = {p} "
        f"WHERE status = 'pending' AND due_at <= {p}"
    )
    return sql, [now, now]


def timed(db: Database, label: str, rounds: int, run: Callable[[], int], expect: int) -> Timing:
    timing = Timing(label, [], 1)
    for _ in range(rounds):
        assert reset(db) in (0, expect)
        start = time.perf_counter()
        with db.atomic():
            moved = run()
        timing.rounds.append(time.perf_counter() - start)
        if moved != expect:
            raise SystemExit(f"{label} moved {moved} rows, expected {expect}")
    return timing


def main() -> None:
    args = parse_args("overdue", __doc__.splitlines()[0], 1_000_000)
    db = open_bench_database(args.database_url)
    ensure_dataset(db, "overdue", args.rows, lambda d: build(d, args.rows))
    expect = args.rows // 100
    sql, params = raw_sql(db)
    print("plan:", " | ".join(explain(db, sql, params)))

    def ours() -> int:
        return mark_overdue(NOW)

    def theirs() -> int:
        return db.execute_sql(sql, params).rowcount

    # warm-up once each, then alternate so caches and noise hit both alike
    timed(db, "service", 1, ours, expect)
    timed(db, "raw SQL", 1, theirs, expect)
    cand, base = Timing("service", [], 1), Timing("raw SQL", [], 1)
    for _ in range(args.rounds):
        base.rounds += timed(db, "raw SQL", 1, theirs, expect).rounds
        cand.rounds += timed(db, "service", 1, ours, expect).rounds
    reset(db)
    report("mark_overdue vs raw UPDATE", args.database_url, args.rows, cand, base, GOAL)


if __name__ == "__main__":
    main()
