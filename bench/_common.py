"""Shared benchmark plumbing: arguments, databases, cached datasets, bulk inserts, timing.

Every benchmark compares a service function against the equivalent hand-written SQL in the
same process and on the same data, and prints the ratio (SPEC 12); absolute times depend on
the machine, the ratio much less.

Datasets are big (a million rows), so building one is done once and kept: the default SQLite
file lives under /tmp keyed by dataset and size, and every database carries a ``bench_meta``
marker row naming the dataset and size it holds. A database whose marker does not match is
emptied and rebuilt (so two benchmarks sharing one PostgreSQL database take turns rebuilding;
give each its own ``--database-url`` to keep both). The build is one transaction that writes
the marker last, so an interrupted build leaves no half-dataset that looks complete.
Rows go in with ``executemany`` and ``INSERT ... SELECT`` over a generated series, never the
ORM row by row.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2
from peewee import Database, PostgresqlDatabase

from crm.db import open_database
from crm.models import ALL_MODELS
from crm.schema import migrate

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/crm_bench"
BATCH = 10_000


def parse_args(name: str, description: str, default_rows: int) -> argparse.Namespace:
    """``--database-url`` (default: a SQLite file under /tmp for this dataset and size),
    ``--rows``, ``--rounds``."""
    parser = argparse.ArgumentParser(prog=f"bench.{name}", description=description)
    parser.add_argument(
        "--database-url",
        help=f"peewee URL; default sqlite:////tmp/crm_bench_{name}_<rows>.db; try {PG_DEFAULT}",
    )
    parser.add_argument("--rows", type=int, default=default_rows, help="dataset size")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (best is kept)")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if not args.database_url:
        args.database_url = f"sqlite:////tmp/crm_bench_{name}_{args.rows}.db"
    return args


def _ensure_pg_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist yet."""
    parts = urlparse(url)
    dbname = parts.path.lstrip("/")
    conn = psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        conn.close()


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextlib.contextmanager
def private_postgres(database: str) -> Iterator[str]:
    """A PostgreSQL server of the benchmark's own, started like the peer's (``initdb`` with the
    server's defaults; ``listen_addresses`` 127.0.0.1, ``max_connections`` 200), with an empty
    ``database``; yields its URL and stops the server afterwards.

    Why not the machine's shared server: its CI configuration turns autovacuum off, so a table
    that grows during a run keeps the statistics of the empty table it was, and the planner
    guesses among indexes that all start with ``company_id`` (one such guess read every row of
    the company on each lead create, slower with every run). Production runs autovacuum, and
    so does the peer's server; measuring both sides on server defaults compares the code.
    """
    root = Path(tempfile.mkdtemp(prefix="crm-bench-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def as_postgres(*cmd: str) -> None:  # initdb refuses to run as root
        user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*user, *cmd], check=True, capture_output=True)

    as_postgres(
        str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
    )
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200"
    pg_ctl = str(PG_BIN / "pg_ctl")
    as_postgres(
        pg_ctl, "-D", str(data), "-l", str(root / "postgres.log"), "-w", "-o", options, "start"
    )
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/{database}"
        _ensure_pg_database(url)
        yield url
    finally:
        as_postgres(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def open_bench_database(url: str) -> Database:
    """Open (creating if needed) and migrate the benchmark database."""
    scheme = urlparse(url).scheme
    if scheme in ("postgres", "postgresql"):
        _ensure_pg_database(url)
    elif scheme.startswith("sqlite"):
        Path(urlparse(url).path).parent.mkdir(parents=True, exist_ok=True)
    db = open_database(url)
    db.connect(reuse_if_open=True)
    migrate(db)
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS bench_meta (dataset VARCHAR(64) PRIMARY KEY, rows BIGINT)"
    )
    return db


def is_pg(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


def ensure_dataset(
    db: Database, dataset: str, rows: int, build: Callable[[Database], None]
) -> bool:
    """Build the dataset unless the database already holds exactly it; True if built now."""
    found = db.execute_sql(f"SELECT rows FROM bench_meta WHERE dataset = {_p(db)}", (dataset,))
    row = found.fetchone()
    if row is not None and int(row[0]) == rows:
        return False
    started = time.perf_counter()
    print(f"building dataset {dataset!r} with {rows:,} rows ...", flush=True)
    with db.atomic():
        empty_tables(db)
        build(db)
        db.execute_sql(
            f"INSERT INTO bench_meta (dataset, rows) VALUES ({_p(db)}, {_p(db)})",
            (dataset, rows),
        )
    analyze(db)
    print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
    return True


def _p(db: Database) -> str:
    return "%s" if is_pg(db) else "?"


def empty_tables(db: Database) -> None:
    """Every table of the product (and the dataset marker) emptied, ids restarted on PostgreSQL."""
    db.execute_sql("DELETE FROM bench_meta")
    if is_pg(db):
        tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
        db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return
    for model in reversed(ALL_MODELS):  # children first: foreign keys are enforced
        db.execute_sql(f'DELETE FROM "{model._meta.table_name}"')


def analyze(db: Database) -> None:
    """Fresh planner statistics, as a production database would have after autovacuum."""
    db.execute_sql("ANALYZE")


def bulk_insert(
    db: Database, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """``executemany`` in batches (psycopg2 and sqlite3 both take the rows as one call)."""
    marks = ", ".join([_p(db)] * len(columns))
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'
    count, batch = 0, []
    cursor = db.cursor()
    for row in rows:
        batch.append(tuple(row))
        if len(batch) >= BATCH:
            cursor.executemany(sql, batch)
            count, batch = count + len(batch), []
    if batch:
        cursor.executemany(sql, batch)
        count += len(batch)
    return count


def insert_companies(db: Database, prefix: str, count: int, stamp: Any) -> None:
    """Companies 1..count (explicit ids), team ids ``<prefix><n>``: every bench's first step."""
    bulk_insert(
        db,
        "cms_companies",
        [
            "id",
            "team_id",
            "name",
            "currency",
            "phone_region",
            "timezone",
            "created_at",
            "updated_at",
        ],
        [
            (i, f"{prefix}{i}", f"Bench {i}", "ZMW", "ZM", "Africa/Lusaka", stamp, stamp)
            for i in range(1, count + 1)
        ],
    )


def series_sql(db: Database) -> str:
    """A FROM-clause source of integers ``i`` from 1 to the bound parameter, on either database
    (``INSERT ... SELECT`` over it generates rows inside the database, no Python loop)."""
    if is_pg(db):
        return "generate_series(1::bigint, %s::bigint) AS n(i)"  # i * 7919 outgrows int4
    return "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i FROM n) AS n"


def days_before_sql(db: Database, base: datetime, days_expr: str) -> tuple[str, list[Any]]:
    """SQL for ``base - days_expr days`` as a naive timestamp, with its parameters."""
    if is_pg(db):
        return f"(%s::timestamp - ({days_expr}) * interval '1 day')", [base]
    return f"datetime(?, '-' || ({days_expr}) || ' days')", [base.strftime("%Y-%m-%d %H:%M:%S")]


def first_ids(db: Database, table: str, n: int) -> list[int]:
    cursor = db.execute_sql(f'SELECT id FROM "{table}" ORDER BY id LIMIT {int(n)}')
    return [r[0] for r in cursor.fetchall()]


@dataclass
class Timing:
    label: str
    rounds: list[float]  # seconds per round
    calls: int  # calls per round

    @property
    def best(self) -> float:
        return min(self.rounds)

    @property
    def per_call_ms(self) -> float:
        return self.best / self.calls * 1000

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)


def compare(
    rounds: int,
    calls: Sequence[Any],
    candidate: Callable[[Any], Any],
    baseline: Callable[[Any], Any],
) -> tuple[Timing, Timing]:
    """Time both over the same inputs, alternating rounds so caches and noise hit both alike.

    One untimed warm-up round each first (page cache, prepared plans, imports).
    """
    for arg in calls:
        candidate(arg)
        baseline(arg)
    cand, base = Timing("service", [], len(calls)), Timing("raw SQL", [], len(calls))
    for _ in range(rounds):
        for timing, fn in ((base, baseline), (cand, candidate)):
            start = time.perf_counter()
            for arg in calls:
                fn(arg)
            timing.rounds.append(time.perf_counter() - start)
    return cand, base


def report(title: str, db_url: str, rows: int, cand: Timing, base: Timing, goal: float) -> float:
    """Print both timings and the ratio; returns the ratio (best round against best round)."""
    ratio = cand.best / base.best
    safe_url = db_url.split("@")[-1] if "@" in db_url else db_url
    print(f"{title} on {safe_url} ({rows:,} rows)")
    for t in (base, cand):
        print(
            f"  {t.label:<8} best {t.best * 1000:9.1f} ms / {t.calls} calls "
            f"({t.per_call_ms:.3f} ms per call; median round {t.median * 1000:.1f} ms)"
        )
    verdict = "ok" if ratio <= goal else "OVER GOAL"
    print(f"  ratio service/raw = {ratio:.3f}  (goal <= {goal}: {verdict})")
    sys.stdout.flush()
    return ratio


def explain(db: Database, sql: str, params: Sequence[Any]) -> list[str]:
    """The query plan, to show which index serves a query."""
    prefix = "EXPLAIN " if is_pg(db) else "EXPLAIN QUERY PLAN "
    cursor = db.execute_sql(prefix + sql, params)
    return [" ".join(str(c) for c in row if c is not None) for row in cursor.fetchall()]


# --- the Slack stand-in in its own process ----------------------------------------------------


def _serve_fake(conn: Connection, users: list[tuple[str, str, str]]) -> None:
    from tests.slack_fake import FakeSlack, SlackUser

    with FakeSlack() as fake:
        for user_id, name, team_id in users:
            fake.add_user(SlackUser(user_id, name, team_id=team_id))
        conn.send(fake.api_url)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "clear":
                fake.clear()
                conn.send(True)
            elif command == "posts":
                conn.send(
                    [(c.args.get("channel"), c.at) for c in fake.calls_to("chat.postMessage")]
                )


class FakeSlackProcess:
    """FakeSlack in a child process: the measuring process's threads must not share its GIL
    with the stand-in's work (parsing every posted message and view), or the servers'
    calls to Slack would show up as latency of the load generator."""

    def __init__(self, users: Iterable[tuple[str, str, str]] = ()) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_fake, args=(child, list(users)), daemon=True)
        self.proc.start()
        self.api_url: str = self.conn.recv()

    def posts(self) -> list[tuple[str, float]]:
        self.conn.send("posts")
        return self.conn.recv()

    def clear(self) -> None:
        self.conn.send("clear")
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)

    def __enter__(self) -> FakeSlackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
