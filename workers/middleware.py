"""Everything cross-cutting about running a message, as Dramatiq middleware (like Dramatiq's own
``TimeLimit`` or ``Retries``): the actors themselves stay "parse, call one service, send".

- :class:`DatabasePerMessage`: the database is opened once per process (from
  ``DATABASE_URL``, unless the process already did, as ``crm serve`` and the tests do), and each
  message runs with a connection of its thread: a pooled PostgreSQL connection is checked out
  for the message and given back after it; SQLite keeps one connection per thread.
- :class:`CompanyContext`: the company a message works for (its ``company_id`` argument), in a
  context variable that logging and the Slack calls read.
- :class:`MessageLog`: one line per message with its id, actor, company, outcome and duration;
  :class:`ContextFilter` puts message id and company on every log line of the message.
- :class:`RefuseStubInCli`: a worker started with Dramatiq's CLI but without ``REDIS_URL``
  would consume an in-process queue nobody writes to; it stops with one clear line instead.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from crm.config import Settings
from crm.db import database, open_database

__all__ = [
    "CompanyContext",
    "ContextFilter",
    "DatabasePerMessage",
    "MessageLog",
    "RefuseStubInCli",
    "configure_logging",
    "current_company",
    "current_message_id",
]

log = logging.getLogger("crm.workers")

current_company: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "crm_company", default=None
)
current_message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "crm_message_id", default=None
)


def _company_of(message: Any) -> int | None:
    value = message.kwargs.get("company_id") if isinstance(message.kwargs, dict) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class DatabasePerMessage(Middleware):
    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url

    def _ensure_open(self) -> None:
        if database.obj is None:
            open_database(self.url)

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        self._ensure_open()

    def before_process_message(self, broker: Any, message: Any) -> None:
        self._ensure_open()
        database.connect(reuse_if_open=True)

    def _release(self) -> None:
        # a pooled connection goes back to the pool; a SQLite one stays with its thread
        if hasattr(database.obj, "_in_use") and not database.is_closed():
            database.close()

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self._release()

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self._release()


class CompanyContext(Middleware):
    def before_process_message(self, broker: Any, message: Any) -> None:
        current_company.set(_company_of(message))
        current_message_id.set(message.message_id)

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        current_company.set(None)
        current_message_id.set(None)

    after_skip_message = after_process_message  # type: ignore[assignment]


class ContextFilter(logging.Filter):
    """Adds ``message_id`` and ``company_id`` to every record (``-`` outside a message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.message_id = current_message_id.get() or "-"
        record.company_id = current_company.get() or "-"
        return True


class MessageLog(Middleware):
    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def before_process_message(self, broker: Any, message: Any) -> None:
        self._started[message.message_id] = time.monotonic()

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        started = self._started.pop(message.message_id, None)
        took = f"{(time.monotonic() - started) * 1000:.0f}ms" if started else "?"
        company = _company_of(message)
        retries = message.options.get("retries", 0)
        if exception is None:
            log.info(
                "message %s %s company=%s done in %s",
                message.message_id,
                message.actor_name,
                company,
                took,
            )
        else:
            log.warning(
                "message %s %s company=%s failed after %s (attempt %d): %r",
                message.message_id,
                message.actor_name,
                company,
                took,
                retries + 1,
                exception,
            )

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self._started.pop(message.message_id, None)


class RefuseStubInCli(Middleware):
    def after_process_boot(self, broker: Any) -> None:
        # emitted only by Dramatiq's CLI, never by the in-process worker of ``crm serve``
        if isinstance(broker, StubBroker):
            raise SystemExit(
                "REDIS_URL is required for `dramatiq workers.actors`: separate worker processes "
                "share their queue through Redis (without Redis, `crm serve` runs the workers "
                "in-process)"
            )


LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [message=%(message_id)s company=%(company_id)s] %(message)s"
)


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines that name the message and company they belong to (``crm serve``,
    ``crm scheduler``); APScheduler's line per firing is left out as noise."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
    root.setLevel(level)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
