"""The one database handle, bound at start-up from ``DATABASE_URL``.

Models refer to :data:`database`, a proxy, so the same models serve SQLite (embedded default,
tests) and PostgreSQL (production) and the tests can point them at a throwaway database.
Peewee keeps one connection per thread; web threads and worker threads each open theirs with
``database.connection_context()`` and every use case runs inside ``database.atomic()``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, PostgresqlDatabase
from playhouse.db_url import connect as connect_url
from playhouse.db_url import parse as parse_url
from playhouse.pool import PooledPostgresqlDatabase

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never block the writer
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL, much faster than FULL
    "cache_size": -64 * 1024,  # 64 MiB
}


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool, without a ``SELECT 1`` on every checkout of a connection
    that came back to the pool in the last :attr:`RECENT` seconds and is idle.

    peewee pings each connection it hands out, a round trip made while holding the pool's
    lock, so under load every request of every thread of a web process queued behind one
    ping (one in ten of a lead create's round trips). A connection checked in a moment ago
    was working a moment ago; the ping cannot rule out its dying in the next millisecond
    either, so an older connection is pinged as before and a dead recent one fails its first
    statement, which every adapter already answers ("the database is unavailable; retry")
    and which discards it. The same bargain as HikariCP's ``aliveBypassWindowMs`` (500 ms).
    """

    RECENT = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked_in: dict[int, float] = {}

    def _is_closed(self, conn: Any) -> bool:
        since = self._checked_in.get(self.conn_key(conn))
        if (
            since is not None
            and time.monotonic() - since < self.RECENT
            and not conn.closed
            and self._adapter.txn_status(conn) == self._adapter.txn_idle
        ):
            return False
        return bool(super()._is_closed(conn))

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        self._checked_in[self.conn_key(conn)] = time.monotonic()
        super()._close(conn, close_conn)

    def _close_raw(self, conn: Any) -> None:
        self._checked_in.pop(self.conn_key(conn), None)
        super()._close_raw(conn)

    # --- statements that ride with the next one -------------------------------------------
    #
    # peewee sends BEGIN as a statement of its own, a round trip that does nothing else, on
    # every transaction; a lead create's audit rows and search words are two INSERTs whose
    # answer nobody reads, each a round trip before the COMMIT. psycopg2 sends a string of
    # several statements as one message and answers with the last one's result, so such
    # statements wait (per thread and connection) to go in front of the next statement sent,
    # the COMMIT included. A transaction that sent nothing commits or rolls back without a
    # round trip. An error in a waiting statement is raised by the statement it rode with
    # (the COMMIT at the latest) inside the same transaction, which the rollback that
    # follows closes, as peewee's atomic() does for any failing statement.

    def begin(self, isolation_level: Any = None) -> None:
        level = self._isolation_level if isolation_level is None else isolation_level
        statement = "BEGIN"
        if level:
            statement += f" TRANSACTION ISOLATION LEVEL {self._adapter.isolation_level_str(level)}"
        self._state.waiting = (self.connection(), [statement])

    def defer(self, sql: str, params: Any) -> bool:
        """Send ``sql`` with the next statement of this transaction instead of now; ``False``
        outside a transaction (the caller runs it itself: there is no COMMIT to ride with)."""
        if not self.in_transaction():
            return False
        text = self.cursor().mogrify(sql, params).decode()
        conn, queue = getattr(self._state, "waiting", None) or (None, [])
        if conn is not self._state.conn:
            queue = []
        self._state.waiting = (self._state.conn, [*queue, text])
        return True

    def _waiting(self) -> list[str]:
        waiting = getattr(self._state, "waiting", None)
        if waiting is None:
            return []
        self._state.waiting = None
        conn, queue = waiting
        return queue if conn is self._state.conn else []  # not a reconnected thread's

    def _execute_cursor(self, sql: str, params: Any, **cursor_options: Any) -> Any:
        queue = self._waiting()
        if queue:
            sql = _ahead(queue, sql)
        return super()._execute_cursor(sql, params, **cursor_options)

    def commit(self) -> None:
        queue = self._waiting()
        if not queue:
            super().commit()
        elif queue[1:] or not _opens(queue):  # else a BEGIN alone: nothing to commit
            super()._execute_cursor(_ahead(queue, "COMMIT"), None)

    def rollback(self) -> None:
        queue = self._waiting()  # what waits is dropped: the transaction ends without it
        if not _opens(queue):  # else the server never saw this transaction
            super().rollback()


def _opens(queue: list[str]) -> bool:
    """Whether the waiting statements start the transaction (its BEGIN was not sent yet)."""
    return bool(queue) and queue[0].startswith("BEGIN")


def _ahead(queue: list[str], sql: str) -> str:
    """``sql`` behind the waiting statements. They are final text (mogrified), and psycopg2
    still %-formats the whole string (peewee passes ``()`` for no parameters): their % signs
    are doubled so the formatting gives them back unchanged."""
    return "; ".join([*(text.replace("%", "%%") for text in queue), sql])


def url_options(url: str) -> tuple[str, bool]:
    """Our own option out of ``DATABASE_URL`` (the rest goes to the driver as given):
    ``prepared_statements=on|off`` (default on); :class:`ValueError` for any other value."""
    base, _, query = url.partition("?")
    kept, prepared = [], "on"
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        if name == "prepared_statements":
            prepared = value.lower()
        else:
            kept.append(pair)
    if prepared not in ("on", "off"):
        raise ValueError(f"prepared_statements must be on or off, not {prepared!r}")
    return (f"{base}?{'&'.join(kept)}" if kept else base), prepared == "on"


def open_database(url: str) -> Database:
    """Build (but do not connect) the database for ``url`` and bind the models to it.

    PostgreSQL URLs get the pooled driver (:class:`PostgresPool`): web and worker threads come
    and go, and a pool keeps reconnect cost off the hot path.
    """
    url, prepared = url_options(url)
    scheme = urlparse(url).scheme
    kwargs: dict[str, Any] = {"autorollback": False}
    if scheme.startswith("sqlite"):
        # IMMEDIATE: a use case that reads then writes takes the write lock up front, so a
        # concurrent writer makes it wait (busy timeout) instead of failing "database is locked".
        kwargs.update(pragmas=SQLITE_PRAGMAS, timeout=15, lock_type="IMMEDIATE")
    elif scheme in ("postgres", "postgresql"):
        # connect_timeout: a database that does not answer is said within seconds, not minutes
        kwargs.update(max_connections=32, stale_timeout=300, timeout=10, connect_timeout=5)
    if scheme in ("postgres", "postgresql"):
        db: Database = PostgresPool(**{**parse_url(url), **kwargs})
    else:
        db = connect_url(url, **kwargs)
    db.prepared_statements = isinstance(db, PostgresqlDatabase) and prepared
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def prepares_statements() -> bool:
    """Whether hot statements run as server-side prepared statements (PostgreSQL, unless
    ``DATABASE_URL`` says ``?prepared_statements=off``, as a transaction-pooling PgBouncer
    needs): see :mod:`crm.sql_cache`."""
    return getattr(database.obj, "prepared_statements", False)


def ensure_connected() -> None:
    """Open this thread's connection if it is not open yet (CLI and long-lived threads)."""
    if database.is_closed():
        database.connect(reuse_if_open=True)
