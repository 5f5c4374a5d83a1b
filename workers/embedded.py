"""``crm serve``: the embedded default (SPEC 1): web, workers and scheduler in ONE process.

- the web app (:func:`bot.web.create_app`) served by a threaded WSGI server in-process;
- a set of Dramatiq worker threads consuming an in-process broker (``REDIS_URL`` unset) or
  Redis (set);
- the scheduler, in the background, always the leader without Redis.

Nothing is lost even on ``SIGKILL``: the in-process queue dies with the process, but it only
carried work. On start the scheduler scans at once; what was due and not sent is found in
the database and sent, and a reminder claimed by the killed process becomes claimable again
after the claim timeout (:mod:`crm.reminders`), then goes out once.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import dramatiq
from werkzeug.serving import make_server

from crm.cli import connect_database
from crm.config import Settings
from crm.db import database
from crm.schema import migrate

__all__ = ["serve"]

log = logging.getLogger("crm.serve")


def serve(settings: Settings, *, host: str = "0.0.0.0", threads: int = 4) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    from workers import actors  # noqa: F401  (declares every actor)
    from workers.campaigns import enqueue
    from workers.composition import compose_embedded
    from workers.middleware import configure_logging
    from workers.scheduler import Scheduler, job_specs, lease_for

    configure_logging()
    settings.require_slack()
    connect_database(settings.database_url)
    db = database.obj
    with db.connection_context():
        applied = migrate(db)  # one command on a fresh machine: the schema comes along
    if applied:
        log.info("applied %d migration(s)", len(applied))

    # the web app before any worker or the scheduler starts: a Slack that does not answer
    # stops start-up before a worker claims a reminder or the scheduler fires
    workers, web_app = compose_embedded(settings, notify_campaign=enqueue)
    broker = workers.broker
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    scheduler = Scheduler(
        broker, lease_for(settings, workers.redis), job_specs(settings), blocking=False
    )
    scheduler.start()

    server = make_server(host, settings.port, web_app, threaded=True)
    mode = "Redis" if settings.redis_url else "in-process queue"
    log.info("serving on http://%s:%d (%s, %d worker threads)", host, settings.port, mode, threads)

    def stop(signum: int, frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        scheduler.shutdown()
        worker.stop(timeout=10_000)
        broker.close()
    return 0
