"""The one database handle, bound at start-up from ``DATABASE_URL``.

Models refer to :data:`database`, a proxy, so the same models serve SQLite (embedded default,
tests) and PostgreSQL (production) and the tests can point them at a throwaway database.
Peewee keeps one connection per thread; web threads and worker threads each open theirs with
``database.connection_context()`` and every use case runs inside ``database.atomic()``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, PostgresqlDatabase
from playhouse.db_url import connect as connect_url

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never block the writer
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL, much faster than FULL
    "cache_size": -64 * 1024,  # 64 MiB
}


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

    PostgreSQL URLs get the pooled driver: web and worker threads come and go, and a pool keeps
    reconnect cost off the hot path.
    """
    url, prepared = url_options(url)
    scheme = urlparse(url).scheme
    kwargs: dict[str, Any] = {}
    if scheme.startswith("sqlite"):
        # IMMEDIATE: a use case that reads then writes takes the write lock up front, so a
        # concurrent writer makes it wait (busy timeout) instead of failing "database is locked".
        kwargs.update(pragmas=SQLITE_PRAGMAS, timeout=15, lock_type="IMMEDIATE")
    elif scheme in ("postgres", "postgresql"):
        url = url.replace(f"{scheme}://", "postgresql+pool://", 1)
        # connect_timeout: a database that does not answer is said within seconds, not minutes
        kwargs.update(max_connections=32, stale_timeout=300, timeout=10, connect_timeout=5)
    db = connect_url(url, autorollback=False, **kwargs)
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
