"""Benchmark P9: the modals' type-ahead (``block_suggestion``) in a big workspace.

    .venv/bin/python -m bench.suggest                      # SQLite file under /tmp
    .venv/bin/python -m bench.suggest --database-url postgresql://postgres@127.0.0.1:5432/crm_bench_suggest
    .venv/bin/python -m bench.suggest --rows 20000 --requests 500   # quicker

Dataset: ``--rows`` leads (default 100,000) in one workspace, and 99 other workspaces with a
hundredth as many each beside it (their words share the index); names, emails, phones and
company names drawn from everyday lists, so a two-letter prefix matches thousands of leads.
Index rows are written by :func:`crm.search.rows_for`, exactly as the app writes them.

Timed: ``--requests`` answers (default 2,000) for 20 members of the big workspace, each
typing 2 to 6 characters of a word some lead has (a name, a surname, a company, an email,
phone digits), through :func:`bot.listeners.options.records.suggestions`: the whole answer
after Slack's request was verified (query, records, option texts). Printed: p50 and p99 per
answer (goal: p99 < 100 ms), the same requests answered by the ``LIKE '%typed%'`` scan the
index replaced (the baseline, same sitting), the ratio, and the query plan's use of the index.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from datetime import datetime
from typing import Any

from peewee import Database

from bench._common import (
    BATCH,
    PG_DEFAULT,
    analyze,
    ensure_dataset,
    explain,
    insert_companies,
    is_pg,
    open_bench_database,
)
from bot.listeners.options.records import suggestions
from crm import search
from crm.acting import Actor
from crm.models import Lead, Member

COMPANIES = 100
MEMBERS = 20
GOAL_P99_MS = 100.0
STAMP = datetime(2026, 1, 1, 12, 0)
FIRST = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "chanda",
    "mwila",
    "bwalya",
    "mutale",
    "natasha",
    "chileshe",
    "mulenga",
    "musonda",
    "kabwe",
    "banda",
    "phiri",
    "zulu",
    "tembo",
    "lungu",
    "daka",
    "mumba",
    "sakala",
    "janet",
    "jane",
    "jackson",
    "jacob",
    "jasmine",
    "kelvin",
    "kennedy",
    "grace",
    "gift",
    "given",
    "memory",
    "precious",
]
LAST = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "banda",
    "phiri",
    "mwale",
    "tembo",
    "lungu",
    "zulu",
    "mbewe",
    "ngoma",
    "chanda",
    "mulenga",
    "bwalya",
    "sichone",
    "kunda",
]
BUSINESS = [
    "acme",
    "initech",
    "umbrella",
    "globex",
    "hooli",
    "soylent",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "tyrell",
    "aperture",
    "zambeef",
    "shoprite",
    "copperbelt",
    "kafue",
    "lusaka",
    "ndola",
    "kitwe",
    "livingstone",
    "chipata",
    "solwezi",
    "mansa",
    "mongu",
    "kasama",
    "choma",
    "mazabuka",
    "kabwe",
    "monze",
]
SUFFIX = ("ltd", "limited", "trading", "holdings", "enterprises", "farms", "motors", "foods")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.suggest", description=__doc__.split("\n")[0])
    p.add_argument("--database-url", help=f"default: a SQLite file under /tmp; try {PG_DEFAULT}")
    p.add_argument("--rows", type=int, default=100_000, help="leads in the big workspace")
    p.add_argument("--requests", type=int, default=2_000, help="type-ahead answers timed")
    p.add_argument("--seed", type=int, default=9)
    args = p.parse_args()
    if args.rows < 100:
        p.error("--rows must be at least 100")
    if not args.database_url:
        args.database_url = f"sqlite:////tmp/crm_bench_suggest_{args.rows}.db"
    return args


class _Row:
    """What :func:`crm.search.rows_for` reads of a lead."""

    __slots__ = ("company_id", "company_name", "email", "id", "name", "phone")

    def __init__(self, **values: Any) -> None:
        for k, v in values.items():
            setattr(self, k, v)


def _leads(rng: random.Random, company: int, count: int, first_id: int) -> list[_Row]:
    out = []
    for n in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        business = f"{rng.choice(BUSINESS)} {rng.choice(SUFFIX)}"
        out.append(
            _Row(
                id=first_id + n,
                company_id=company,
                name=f"{first.title()} {last.title()}",
                email=f"{first}.{last}{rng.randrange(1000)}@{business.split()[0]}.co.zm",
                phone=f"+26097{rng.randrange(10**7):07d}",
                company_name=business.title(),
            )
        )
    return out


def _copy(db: Database, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL (executemany there is a statement per row), executemany on SQLite."""
    if not rows:
        return
    if is_pg(db):
        buf = io.StringIO()
        for row in rows:
            buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        buf.seek(0)
        cols = ", ".join(f'"{c}"' for c in columns)
        db.cursor().copy_expert(f'COPY "{table}" ({cols}) FROM STDIN', buf)
        return
    marks = ", ".join("?" * len(columns))
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor = db.cursor()
    for start in range(0, len(rows), BATCH):
        cursor.executemany(
            f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows[start : start + BATCH]
        )


def build(rows: int, seed: int) -> Any:
    def run(db: Database) -> None:
        rng = random.Random(seed)
        insert_companies(db, "TSUGGEST", COMPANIES, STAMP)
        members = [
            (c, f"U{c:03d}M{m:02d}", f"Member {m}", "rep", "UTC", True, STAMP, STAMP)
            for c in range(1, COMPANIES + 1)
            for m in range(MEMBERS if c == 1 else 2)
        ]
        _copy(db, "cms_members",
              ["company_id", "slack_user_id", "name", "role", "tz", "is_active", "created_at",
               "updated_at"],
              members)  # fmt: skip
        next_id = 1
        for company in range(1, COMPANIES + 1):
            count = rows if company == 1 else max(1, rows // 100)
            leads = _leads(rng, company, count, next_id)
            next_id += count
            _copy(
                db,
                "cms_leads",
                ["id", "company_id", "name", "email", "phone", "company_name", "source",
                 "status", "priority", "tags", "created_at", "updated_at"],
                [(r.id, r.company_id, r.name, r.email, r.phone, r.company_name, "other", "new",
                  "medium", "[]", STAMP, STAMP) for r in leads],
            )  # fmt: skip
            terms = search.rows_for("lead", leads)
            _copy(
                db,
                "cms_search_terms",
                ["company_id", "kind", "record_id", "term", "weight", "created_at", "updated_at"],
                [(t["company"], t["kind"], t["record_id"], t["term"], t["weight"], STAMP, STAMP)
                 for t in terms],
            )  # fmt: skip
        if is_pg(db):
            db.execute_sql(
                "SELECT setval(pg_get_serial_sequence('cms_leads', 'id'), "
                "(SELECT MAX(id) FROM cms_leads))"
            )
        analyze(db)

    return run


def _typed(rng: random.Random, sample: list[tuple[str, str, str, str]]) -> str:
    """2-6 characters a member would type: the start of a name, surname, company, email or
    phone digits of a lead that exists."""
    name, email, phone, business = rng.choice(sample)
    word = rng.choice(
        [*name.lower().split(), business.lower().split()[0], email, phone.removeprefix("+260")]
    )
    return word[: rng.randint(2, 6)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    args = parse()
    db = open_bench_database(args.database_url)
    started = time.perf_counter()
    built = ensure_dataset(db, "suggest", args.rows, build(args.rows, args.seed))
    if built:
        print(f"dataset built in {time.perf_counter() - started:.0f}s")
    if is_pg(db):
        # the steady state autovacuum keeps: a visibility map, so the covering index is read
        # alone (a freshly COPYed table would send every match to the heap)
        conn = db.connection()
        conn.commit()
        conn.autocommit = True
        try:
            conn.cursor().execute("VACUUM ANALYZE cms_search_terms")
        finally:
            conn.autocommit = False
    rng = random.Random(args.seed + 1)
    actors = [
        Actor.for_member(m, "slack")
        for m in Member.select().where(Member.company == 1).order_by(Member.id).limit(MEMBERS)
    ]
    sample = list(
        Lead.select(Lead.name, Lead.email, Lead.phone, Lead.company_name)
        .where(Lead.company == 1)
        .order_by(Lead.id)
        .limit(2000)
        .tuples()
    )
    requests = [(actors[i % len(actors)], _typed(rng, sample)) for i in range(args.requests)]
    kinds = ("lead", "customer", "opportunity")
    p = "%s" if is_pg(db) else "?"
    like = (
        f"SELECT id, name FROM cms_leads WHERE company_id = {p} AND "
        f"(LOWER(name) LIKE {p} OR LOWER(email) LIKE {p} OR phone LIKE {p} "
        f"OR LOWER(company_name) LIKE {p}) ORDER BY id DESC LIMIT 20"
    )

    def candidate(req: tuple[Actor, str]) -> Any:
        return suggestions(req[0], kinds, req[1])

    def baseline(req: tuple[Actor, str]) -> Any:
        pattern = f"%{req[1]}%"
        return db.execute_sql(like, (1, pattern, pattern, pattern, pattern)).fetchall()

    for req in requests[:50]:  # warm-up: page cache, plans
        candidate(req)
        baseline(req)
    times: dict[str, list[float]] = {"type-ahead": [], "LIKE '%typed%'": []}
    for req in requests:
        for label, fn in (("LIKE '%typed%'", baseline), ("type-ahead", candidate)):
            t0 = time.perf_counter()
            fn(req)
            times[label].append((time.perf_counter() - t0) * 1000)
    answered = [len(candidate(r)) for r in requests[:200]]

    safe = args.database_url.split("@")[-1]
    print(f"bench.suggest on {safe}: {args.rows:,} leads in the workspace, "
          f"{COMPANIES - 1} others with {max(1, args.rows // 100):,} each; "
          f"{args.requests:,} answers for {len(actors)} members, 2-6 characters typed")  # fmt: skip
    for label, values in times.items():
        print(
            f"  {label:16s} p50 {statistics.median(values):7.2f} ms   "
            f"p99 {_pct(values, 0.99):7.2f} ms   max {max(values):7.2f} ms"
        )
    p99 = _pct(times["type-ahead"], 0.99)
    base99 = _pct(times["LIKE '%typed%'"], 0.99)
    print(f"  options per answer: mean {statistics.mean(answered):.1f} (at most 20)")
    print(f"  ratio p99 type-ahead / LIKE scan: {p99 / base99:.3f}")
    print(f"  goal p99 < {GOAL_P99_MS:.0f} ms: {'met' if p99 < GOAL_P99_MS else 'NOT met'}")
    probe = search.one_word_query(1, ["l", "c", "o"], "ja").limit(160)
    sql, params = probe.sql()
    print("  query plan of one typed word ('ja'):")
    for line in explain(db, sql, params):
        print(f"    {line}")


if __name__ == "__main__":
    main()
