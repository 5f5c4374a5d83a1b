"""crm.db.PostgresPool: a connection checked in a moment ago is handed out again without a
``SELECT 1``; an older one is pinged as peewee does, and a dead one never outlives one error."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from peewee import OperationalError

from crm.db import PostgresPool, database


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
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.backend != "postgres":
        pytest.skip("the pool serves PostgreSQL only")
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

    _terminate(db.url, first)  # the server drops it while it waits in the pool
    pool.connect()  # the ping finds it dead: discarded, a new connection instead
    second = _backend_pid()
    assert second != first and len(pings) == 2
    pool.close()

    monkeypatch.setattr(PostgresPool, "RECENT", 60.0)
    _terminate(db.url, second)
    pool.connect()  # recent, so not pinged: its first statement fails (an API answers 503)
    with pytest.raises(OperationalError):
        _backend_pid()
    pool.close()
    pool.connect()  # and it is gone from the pool: the next checkout works
    assert _backend_pid() not in (first, second)
