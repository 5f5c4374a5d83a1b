"""gunicorn settings of the web process (the Procfile's ``web`` line).

Why gthread: a Slack request is a few milliseconds of Python around waits on the database and
on Slack's Web API (``users.info``, ``response_url``), so threads overlap those waits cheaply,
while the GIL makes more than one worker per core pointless. Async workers (gevent/eventlet)
would need monkey-patched psycopg2 and slack-sdk's urllib client for little gain.

- ``workers``: ``WEB_CONCURRENCY`` (the convention most platforms set), default 2 = one per
  core on a small instance; several machines each run their own (SPEC 1).
- ``threads``: ``WEB_THREADS``, default 8 per worker. Each request thread may hand work to
  :mod:`bot.background` (12 threads); 8 + 12 + a margin stays under the 32 pooled PostgreSQL
  connections per process that :func:`crm.db.open_database` allows.
- ``timeout`` 30 s is the worker heartbeat (a stuck worker is restarted), not a request limit:
  the ``/crm`` dispatcher answers Slack within 3 s on its own.
- ``graceful_timeout`` 20 s lets in-flight requests and their post-ack work finish on deploys.
- ``keepalive`` 75 s: Slack and load balancers reuse connections; a short keep-alive would
  make them reconnect (and pay TLS at the proxy) for every request.
- No ``preload_app``: each worker builds its Bolt app, thread pool and database handle after
  the fork, so nothing with an open socket or a thread is shared across processes.
- Each worker then forks its handler process, where its ``/crm`` commands run after their
  acknowledgement (:mod:`bot.command_runner`), and waits for it when it exits.
"""

import os
import signal
import sys

from crm.config import ConfigError, load_settings

try:  # validated before gunicorn forks anything: one line naming the variable, exit 2
    _settings = load_settings()
    _settings.require_slack()
except ConfigError as _exc:
    print(f"configuration: {_exc}", file=sys.stderr)
    sys.exit(2)

bind = _settings.gunicorn_bind or f"0.0.0.0:{_settings.port}"
worker_class = "gthread"
workers = _settings.web_concurrency
threads = _settings.web_threads
timeout = 30
# the heartbeat touches a file every second: on a RAM disk, so a disk busy with the database's
# fsyncs cannot stall a worker's main loop behind the filesystem journal (gunicorn's own advice)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
graceful_timeout = 20
keepalive = 75
accesslog = None if _settings.gunicorn_access_log == "off" else _settings.gunicorn_access_log
errorlog = "-"
loglevel = _settings.log_level


def post_worker_init(worker: object) -> None:
    """After the app is built in this worker:

    - hand the GIL over every 1 ms instead of 5 ms: a request thread waiting to send a
      3-second-critical ack should not sit behind a handler thread building SQL;
    - ``gc.freeze()``: everything loaded so far (modules, the Bolt app, models, babel's data)
      lives as long as the worker, so the collector stops walking it. A full collection then
      scans only what requests made since, instead of stalling every thread for tens of
      milliseconds (measured ~55 ms on this app's heap) in the middle of acknowledgements;
    - last, fork the handler process (:mod:`bot.command_runner`): after the freeze, so it
      shares the frozen heap, and before the worker starts any thread.
    """
    import gc
    import sys

    sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()

    from bot import command_runner

    def replace_worker() -> None:  # the handler process died: a graceful restart brings one
        os.kill(os.getpid(), signal.SIGTERM)

    command_runner.start_process(close=worker.sockets, on_lost=replace_worker)


def worker_exit(server: object, worker: object) -> None:
    """The worker has answered its last request: its handler process finishes the commands it
    was given before the worker is gone (within ``graceful_timeout``, less a margin)."""
    from bot import command_runner

    command_runner.stop(timeout=graceful_timeout - 2)
