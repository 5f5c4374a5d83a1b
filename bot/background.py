"""Work that must not hold up Slack's 3-second acknowledgement.

One bounded thread pool per web process runs command handlers and post-ack work. Each job
gets its own database connection (peewee keeps one per thread) and returns it when done, so
pool threads never sit on pooled PostgreSQL connections between jobs.

Sizing: the web process runs ``threads`` request threads per worker (see
``bot/gunicorn_conf.py``); the pool is as large again, so that every request thread can hand
off a job without queueing, and both together stay under the PostgreSQL pool's 32
connections per process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from crm.db import database

T = TypeVar("T")

POOL_SIZE = int(os.environ.get("CRM_HANDLER_THREADS", "12"))
_executor = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="crm-handler")


def executor() -> ThreadPoolExecutor:
    return _executor


def with_db(fn: Callable[[], T]) -> T:
    """Run ``fn`` holding this thread's connection only for its duration."""
    with database.connection_context():
        return fn()


def submit(fn: Callable[[], T]) -> Future[T]:
    return _executor.submit(with_db, fn)


def release_connection() -> None:
    """Give back this thread's connection (if a query opened one) at the end of a request."""
    if database.obj is not None and not database.is_closed():
        database.close()
