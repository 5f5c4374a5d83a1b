"""crm.db.PostgresPool: a connection checked in a moment ago is handed out again without a
``SELECT 1``; an older one is pinged as peewee does, and a dead one never outlives one error."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from peewee import OperationalError

from crm.db import PostgresPool, database
from tests.conftest import round_trips


def _backend_pid() -> int:
    return int(database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])


def _terminate(url: str, pid: int) -> None:
    admin = psycopg2.connect(url.partition("?")[0])
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        admin.close()


def test_recently_checked_in_connections_skip_the_ping(
    pg_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = database.obj
    assert isinstance(pool, PostgresPool)
    pings: list[Any] = []
    ping = pool._adapter.is_connection_closed

    def counted(conn: Any) -> bool:
        pings.append(conn)
        return bool(ping(conn))

    monkeypatch.setattr(pool._adapter, "is_connection_closed", counted)
    pool.close()
    pool.connect()
    first = _backend_pid()
    pool.close()

    pool.connect()  # checked in a moment ago: the same connection, no round trip
    assert _backend_pid() == first and pings == []
    pool.close()

    monkeypatch.setattr(PostgresPool, "RECENT", 0.0)
    pool.connect()  # "long" ago: pinged first, as peewee's own pool does
    assert _backend_pid() == first and len(pings) == 1
    pool.close()

    _terminate(pg_db.url, first)  # the server drops it while it waits in the pool
    pool.connect()  # the ping finds it dead: discarded, a new connection instead
    second = _backend_pid()
    assert second != first and len(pings) == 2
    pool.close()

    monkeypatch.setattr(PostgresPool, "RECENT", 60.0)
    _terminate(pg_db.url, second)
    pool.connect()  # recent, so not pinged: its first statement fails (an API answers 503)
    with pytest.raises(OperationalError):
        _backend_pid()
    pool.close()
    pool.connect()  # and it is gone from the pool: the next checkout works
    assert _backend_pid() not in (first, second)


def _round_trips(work: Any) -> list[str]:
    with round_trips() as sent:
        work()
    return sent


def test_begin_goes_with_the_first_statement(pg_db: Any) -> None:
    """A transaction of two statements is three round trips (statement, statement, COMMIT),
    not four; one that sent nothing costs none; a failing first statement leaves no
    transaction open behind it."""
    database.connect(reuse_if_open=True)

    def two() -> None:
        with database.atomic():
            database.execute_sql("SELECT 1")
            database.execute_sql("SELECT 2")

    sent = _round_trips(two)
    assert sent == ["BEGIN; SELECT 1", "SELECT 2", "COMMIT"]

    def empty() -> None:
        with database.atomic():
            pass

    assert _round_trips(empty) == []

    def failing() -> None:
        with database.atomic():
            database.execute_sql("SELECT * FROM no_such_table")

    with pytest.raises(Exception, match="no_such_table"):
        _round_trips(failing)
    conn = database.connection()
    assert conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE

    def begin_then_rollback() -> None:
        database.begin()
        database.rollback()

    assert _round_trips(begin_then_rollback) == []
    assert _round_trips(lambda: database.execute_sql("SELECT 3")) == ["SELECT 3"]  # no BEGIN left


def test_an_insert_nobody_reads_rides_with_the_next_statement(pg_db: Any) -> None:
    """``defer``: sent in front of the next statement, or of the COMMIT; dropped with a
    rollback; its error raised where it is sent, leaving nothing of the transaction; a %
    in its values arrives as it is."""
    pool = database.obj
    database.execute_sql("CREATE TEMP TABLE IF NOT EXISTS waits (v text PRIMARY KEY)")
    database.execute_sql("DELETE FROM waits")

    def two_inserts_then_read() -> None:
        with database.atomic():
            assert pool.defer("INSERT INTO waits VALUES (%s)", ["50% off"])
            assert pool.defer("INSERT INTO waits VALUES (%s)", ["b"])
            rows = database.execute_sql("SELECT count(*) FROM waits WHERE v LIKE %s", ["%"])
            assert rows.fetchone()[0] == 2  # sent first, in order, and seen

    sent = _round_trips(two_inserts_then_read)
    assert sent[0].startswith("BEGIN; INSERT INTO waits VALUES ('50%% off'); INSERT INTO")
    assert sent[1:] == ["COMMIT"] and len(sent) == 2

    def insert_then_commit() -> None:
        with database.atomic():
            database.execute_sql("SELECT 1")
            pool.defer("INSERT INTO waits VALUES (%s)", ["c"])

    sent = _round_trips(insert_then_commit)
    assert sent == ["BEGIN; SELECT 1", "INSERT INTO waits VALUES ('c'); COMMIT"]

    def rolled_back() -> None:
        with database.atomic() as txn:
            database.execute_sql("SELECT 1")
            pool.defer("INSERT INTO waits VALUES (%s)", ["never"])
            txn.rollback()

    assert _round_trips(rolled_back)[-1] == "ROLLBACK"

    def duplicate() -> None:
        with database.atomic():
            pool.defer("INSERT INTO waits VALUES (%s)", ["d"])
            pool.defer("INSERT INTO waits VALUES (%s)", ["b"])  # the primary key again

    with pytest.raises(Exception, match="duplicate key"):
        _round_trips(duplicate)
    assert not pool.defer("INSERT INTO waits VALUES (%s)", ["x"])  # no transaction: not kept
    values = [v for (v,) in database.execute_sql("SELECT v FROM waits ORDER BY v")]
    assert values == ["50% off", "b", "c"]
    conn = database.connection()
    assert conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
