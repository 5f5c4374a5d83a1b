"""How fast does the web process acknowledge ``/crm lead add``, against Bolt doing nothing?

Two servers run in turn under the same gunicorn config (``bot/gunicorn_conf.py``, same worker
and thread counts), the same Flask adapter and the same Bolt settings:
- ``full``: the real web process (``bot.web:create_app()``): signature check, company and
  member resolution, grammar, ``crm.leads.create_lead`` (duplicate check, insert, audit,
  idempotency key) and the receipt, all inside the acknowledgement;
- ``bare``: a Bolt app whose ``/crm`` listener only calls ``ack()`` (the baseline).
``--users`` simulated members (each a distinct Slack user, each on its own keep-alive
connection) send Slack-signed ``/crm lead add`` commands back to back for ``--duration``
seconds per server. Latency is measured from sending the request to reading the full answer.
The Slack Web API is FakeSlack (the tests' stand-in) in this process.

Goal (SPEC 5.1 / the issue): full p99 <= 1.5x bare p99 and < 300 ms.

``--budgets 0`` adds a run with ``CRM_ACK_BUDGET_MS=0`` (every command acknowledged at once,
answered through ``response_url``): faster acks, slower answers. With ``--think 0`` both servers
are saturated and latency is concurrency / throughput, so the ratio compares throughputs of a
no-op and a real write; ``--think 1`` models people and compares service times.

    .venv/bin/python -m bench.ack [--duration 30] [--users 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import psycopg2
from flask import Flask, Response, request
from slack_bolt import Ack, App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot.app import web_client
from crm.config import load_settings
from crm.db import open_database
from crm.schema import migrate
from tests.e2e_support import ROOT, WebProcess, sign, start_web
from tests.slack_fake import FakeSlack, SlackUser

FIRST = ["Ana", "Ben", "Chipo", "Dan", "Eve", "Femi", "Grace", "Hugo", "Ines", "Joe"]


def bare_app() -> Flask:
    """The baseline: same settings, same client, same adapter; the listener only acks."""
    settings = load_settings()
    bolt = App(
        signing_secret=settings.slack_signing_secret,
        client=web_client(settings, settings.slack_bot_token),
        process_before_response=True,
    )

    @bolt.command("/crm")
    def crm(ack: Ack) -> None:
        ack()

    handler = SlackRequestHandler(bolt)
    flask = Flask(__name__)

    @flask.post("/slack/events")
    def events() -> Response:
        return handler.handle(request)

    @flask.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return flask


class AnswerSink:
    """Where ``response_url`` answers land: one event per URL, so each simulated member can
    wait for the answer to *its* command before typing the next one."""

    def __init__(self) -> None:
        self.events: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with sink.lock:
                    event = sink.events.get(self.path)
                if event is not None:
                    event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def expect(self, path: str) -> threading.Event:
        event = threading.Event()
        with self.lock:
            self.events[path] = event
        return event

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"


@dataclass
class Run:
    name: str
    acks: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    late: int = 0  # answers that came through response_url rather than in the ack
    errors: int = 0

    @staticmethod
    def pct(values: list[float], p: float) -> float:
        data = sorted(values)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))] * 1000


def _command_body(user_id: str, n: int, response_url: str) -> bytes:
    name = f"{FIRST[n % len(FIRST)]} {uuid.uuid4().hex[:12]}"
    form = {
        "team_id": "TBENCH",
        "team_domain": "bench",
        "channel_id": "C1",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": "/crm",
        "text": f'lead add "{name}" value=50k prob=40 source=referral',
        "response_url": response_url,
        "trigger_id": f"{uuid.uuid4().hex}.trigger",
    }
    return urlencode(form).encode()


def _user_loop(
    url: str,
    user_id: str,
    until: float,
    run: Run,
    sink: AnswerSink,
    lock: threading.Lock,
    think: float,
) -> None:
    """One member: send a command, wait for its answer (in the ack or via response_url),
    send the next; the way a person works through a list of leads."""
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    n = 0
    while time.monotonic() < until:
        path = f"/response/{user_id}/{n}"
        answered = sink.expect(path)
        body = _command_body(user_id, n, sink.url(path))
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        n += 1
        started = time.perf_counter()
        try:
            conn.request("POST", "/slack/events", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            with lock:
                run.errors += 1
            continue
        acked = time.perf_counter() - started
        inline = run.name == "bare" or b"Undo" in payload
        ok = response.status == 200 and (inline or answered.wait(30))
        done = time.perf_counter() - started
        with lock:
            if not ok:
                run.errors += 1
                continue
            run.acks.append(acked)
            run.answers.append(done)
            run.late += not inline
        if think:
            time.sleep(think)


def load(
    web: WebProcess, users: list[str], seconds: float, run: Run, sink: AnswerSink, think: float
) -> None:
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_user_loop, args=(web.url, u, until, run, sink, lock, think))
        for u in users
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure(
    name: str,
    app: str,
    args: argparse.Namespace,
    fake: FakeSlack,
    users: list[str],
    sink: AnswerSink,
    env: dict[str, str] | None = None,
) -> Run:
    extra = {"PYTHONPATH": str(ROOT), "GUNICORN_ACCESS_LOG": "", **(env or {})}
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_web(
            args.database_url,
            fake,
            Path(tmp),
            workers=args.workers,
            threads=args.threads,
            app=app,
            extra_env=extra,
        ) as web,
    ):
        load(web, users, args.warmup, Run(name), sink, args.think)  # members made, pools warm
        run = Run(name)
        load(web, users, args.duration, run, sink, args.think)
        return run


def prepare_database(url: str) -> None:
    """Migrate the database (creating a PostgreSQL one first if it does not exist)."""
    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        name = parsed.path.lstrip("/")
        admin = psycopg2.connect(
            host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres",
            password=parsed.password, dbname="postgres",
        )  # fmt: skip
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        admin.close()
    db = open_database(url)
    with db.connection_context():
        migrate(db)
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.ack", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per server")
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds first")
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated members")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (both)")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds a member pauses after each answer (0: back to back, saturating)",
    )
    parser.add_argument(
        "--budgets",
        default="",
        help="also run the web process with these CRM_ACK_BUDGET_MS values, e.g. 0,250",
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    args = parser.parse_args()
    sink = AnswerSink()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.database_url:
            args.database_url = f"sqlite:///{tmp}/bench_ack.db"
        prepare_database(args.database_url)
        with FakeSlack() as fake:
            users = [f"UB{i:04d}" for i in range(args.users)]
            for i, uid in enumerate(users):
                fake.add_user(SlackUser(uid, f"Bench User {i}", team_id="TBENCH"))
            bare = measure("bare", "bench.ack:bare_app()", args, fake, users, sink)
            runs = [measure("full", "bot.web:create_app()", args, fake, users, sink)]
            for budget in filter(None, args.budgets.split(",")):
                env = {"CRM_ACK_BUDGET_MS": budget.strip()}
                name = f"full@{budget.strip()}ms"
                runs.append(measure(name, "bot.web:create_app()", args, fake, users, sink, env))
    report(args, bare, runs)
    return 0


def report(args: Any, bare: Run, runs: list[Run]) -> None:
    backend = urlparse(args.database_url).scheme
    print(
        f"/crm lead add, {args.users} members x {args.duration:.0f}s each waiting for their "
        f"answer (+{args.think:g}s think time), gunicorn gthread {args.workers}x{args.threads}, "
        f"{backend}"
    )
    print(
        f"{'server':<12} {'commands':>8} {'errors':>6} {'cmd/s':>6} {'ack p50':>8} "
        f"{'ack p99':>8} {'answer p50':>10} {'answer p99':>10} {'via url':>7}"
    )
    for run in (bare, *runs):
        print(
            f"{run.name:<12} {len(run.acks):>8} {run.errors:>6} "
            f"{len(run.acks) / args.duration:>6.0f} {Run.pct(run.acks, 50):>8.1f} "
            f"{Run.pct(run.acks, 99):>8.1f} {Run.pct(run.answers, 50):>10.1f} "
            f"{Run.pct(run.answers, 99):>10.1f} {run.late:>7}"
        )
    print("(milliseconds; 'via url' = answers delivered through response_url after the ack)")
    for run in runs:
        p99 = Run.pct(run.acks, 99)
        ratio = p99 / Run.pct(bare.acks, 99)
        goal = "met" if ratio <= 1.5 and p99 < 300 else "NOT met"
        print(
            f"{run.name}: ack p50 ratio {Run.pct(run.acks, 50) / Run.pct(bare.acks, 50):.2f}x, "
            f"ack p99 ratio {ratio:.2f}x; goal (p99 <= 1.5x bare and < 300 ms) {goal}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
