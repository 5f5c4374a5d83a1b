"""Database fixtures: every test that asks for ``db`` runs on SQLite and on PostgreSQL.

``CRM_TEST_BACKENDS`` (default ``sqlite,postgres``) narrows the backends while developing;
CI runs both. PostgreSQL gets one throwaway database per test process (made at start,
dropped at the end), migrated once and truncated between tests; SQLite gets a fresh copy of a
migrated template file per test. Both are built by the real migrations, not create_tables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from peewee import Database, PostgresqlDatabase

from crm import runtime
from crm.acting import Actor
from crm.companies import Profile, get_or_create_company, upsert_member
from crm.config import Settings, load_settings
from crm.db import database, open_database
from crm.models import ALL_MODELS, Company, Member
from crm.schema import migrate

BACKENDS = [
    b.strip()
    for b in os.environ.get("CRM_TEST_BACKENDS", "sqlite,postgres").split(",")
    if b.strip()
]
PG_ADMIN_DSN = os.environ.get(
    "CRM_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PG_URL_BASE = os.environ.get("CRM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")

# CRM_SECRET_KEY of the test process and of every web process started with OAuth (both read
# the Slack installations they store)
TEST_SECRET_KEY = "pWtMcwYmHmZQdEq0z3oSMwlTByyQZqNAWysEyK3y3nE="
runtime.install(runtime.Runtime(load_settings(), TEST_SECRET_KEY))


@pytest.fixture(autouse=True)
def suite_runtime() -> Iterator[None]:
    """A test that composes a process in this one (``crm chat``, a worker root) leaves the
    suite's runtime (its key, its settings) to the next test."""
    previous = runtime.current()
    yield
    runtime.install(previous)


@contextlib.contextmanager
def settings_in_use(settings: Settings) -> Iterator[Settings]:
    """This process's runtime with these settings (the suite's key kept) until the block
    ends, then the runtime it had before."""
    previous = runtime.install(replace(runtime.current(), settings=settings))
    try:
        yield settings
    finally:
        runtime.install(previous)


@dataclass
class TestDB:
    backend: str
    url: str
    database: Database


def _pg_admin(sql: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@contextlib.contextmanager
def private_pg_database() -> Iterator[str]:
    """The URL of a migrated PostgreSQL database of its own, dropped afterwards."""
    name = f"crm_test_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG_URL_BASE}/{name}"
        db = open_database(url)
        with db.connection_context():
            migrate(db)
        db.close_all() if hasattr(db, "close_all") else db.close()
        yield url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The test process's PostgreSQL database, truncated by every ``db`` fixture."""
    with private_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def shared_web(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """One web process per backend for the whole test process (see
    :class:`tests.e2e_support.SharedWeb`; modules get theirs through ``site_fixture``)."""
    from tests.e2e_support import SharedWeb  # it imports this module

    with SharedWeb(request, tmp_path_factory) as sites:
        yield sites


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "crm.db"
    db = open_database(f"sqlite:///{path}")
    with db.connection_context():
        migrate(db)
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def _truncate_pg(db: Database) -> None:
    tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
    db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@contextlib.contextmanager
def migrated_database(
    request: pytest.FixtureRequest, backend: str, workdir: Path
) -> Iterator[TestDB]:
    """A migrated, empty database: a copy of the SQLite template in ``workdir``, or the
    session's PostgreSQL database truncated. The ``db`` fixture makes one per test; e2e
    modules make one per module and keep tests apart by team id."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = workdir / "crm.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
        handle = open_database(url)
    elif backend == "postgres":
        url = request.getfixturevalue("pg_url")
        handle = open_database(url)
        with handle.connection_context():
            _truncate_pg(handle)
    else:
        raise pytest.UsageError(f"unknown backend {backend!r} in CRM_TEST_BACKENDS")
    handle.connect(reuse_if_open=True)
    try:
        yield TestDB(backend, url, handle)
    finally:
        if not handle.is_closed():
            handle.close()
        if isinstance(handle, PostgresqlDatabase) and hasattr(handle, "close_all"):
            handle.close_all()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDB]:
    with migrated_database(request, request.param, tmp_path) as handle:
        yield handle


@pytest.fixture(params=[b for b in BACKENDS if b == "postgres"])
def pg_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDB]:
    """``db`` for what exists on PostgreSQL only (the connection pool, its round trips): such
    a test runs once, on PostgreSQL, rather than being skipped on SQLite."""
    with migrated_database(request, request.param, tmp_path) as handle:
        yield handle


@contextlib.contextmanager
def round_trips() -> Iterator[list[str]]:
    """The messages this thread's PostgreSQL connection sends while the block runs (one per
    ``cursor.execute``: one message out, one answer back)."""
    sent: list[str] = []

    class Counting(psycopg2.extensions.cursor):
        def execute(self, sql: Any, params: Any = None) -> Any:
            sent.append(sql if isinstance(sql, str) else sql.decode())
            return super().execute(sql, params)

    conn = database.connection()
    conn.cursor_factory = Counting
    try:
        yield sent
    finally:
        conn.cursor_factory = psycopg2.extensions.cursor


# --- people --------------------------------------------------------------------------------


def make_company(team_id: str = "TACME", name: str = "Acme") -> Company:
    return get_or_create_company(team_id, name)


def make_member(
    company: Company, user_id: str, role: str = "rep", tz: str = "Africa/Lusaka"
) -> Member:
    member = upsert_member(company, Profile(slack_user_id=user_id, name=user_id.title(), tz=tz))
    if member.role != role:
        Member.update(role=role).where(Member.id == member.id).execute()
        member = Member.get_by_id(member.id)
    return member


@dataclass
class Workspace:
    company: Company
    admin: Member
    manager: Member
    rep: Member
    rep2: Member

    def actor(self, member: Member | None = None, origin: str = "slack") -> Actor:
        return Actor.for_member(member or self.admin, origin)  # type: ignore[arg-type]

    @property
    def system(self) -> Actor:
        return Actor.system(self.company.id, "cli")


def make_workspace(team_id: str, name: str) -> Workspace:
    company = make_company(team_id, name)
    prefix = team_id[1:3]
    return Workspace(
        company=company,
        admin=make_member(company, f"U{prefix}ADMIN", "admin"),
        manager=make_member(company, f"U{prefix}MGR", "manager"),
        rep=make_member(company, f"U{prefix}REP1", "rep"),
        rep2=make_member(company, f"U{prefix}REP2", "rep", tz="America/New_York"),
    )


@pytest.fixture
def acme(db: TestDB) -> Workspace:
    return make_workspace("TACME", "Acme")


@pytest.fixture
def globex(db: TestDB) -> Workspace:
    return make_workspace("TGLOBEX", "Globex")


__all__ = [
    "TestDB",
    "Workspace",
    "database",
    "make_company",
    "make_member",
    "make_workspace",
    "migrated_database",
    "private_pg_database",
]
