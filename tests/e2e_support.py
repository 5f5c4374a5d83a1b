"""End-to-end helpers: the REAL web process (gunicorn serving ``bot.web``) and a Slack stand-in
that talks to it the way Slack does.

- :func:`start_web` starts gunicorn on a free port with ``DATABASE_URL`` = the test database,
  ``SLACK_API_URL`` = a :class:`tests.slack_fake.FakeSlack`, a signing secret and (single
  workspace) a bot token, and waits for ``/healthz``;
- :class:`SlackClient` sends Slack-signed requests (v0 HMAC over ``v0:{timestamp}:{body}``):
  slash commands (form-encoded, ``response_url`` pointing at FakeSlack), interactivity
  payloads (form field ``payload``) and events (JSON). :meth:`SlackClient.command` returns
  the command's *answer* wherever it came from: the acknowledgement's body, or (when the
  acknowledgement is empty, as it is for every command that reaches a handler) the message
  the web process then posted to ``response_url``;
- :func:`check_blocks` / :func:`check_all_payloads` validate every Block Kit payload with
  ``slack_sdk.models`` and Slack's limits (50 blocks per message, 100 per modal/home, 3000
  characters per section text).

Usage in a test module: ``site = site_fixture("X")`` serves the module from the web process
the test process shares per backend (:class:`SharedWeb`; each test makes its own workspace),
``site_fixture("X", private=True)`` from one of its own; a test that needs its own settings
starts one::

    @pytest.fixture
    def web(db, tmp_path):
        with FakeSlack() as fake, start_web(db.url, fake, tmp_path) as proc:
            yield proc
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
from peewee import Database
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

from crm.db import database, open_database
from tests.conftest import (
    BACKENDS,
    TEST_SECRET_KEY,
    TestDB,
    migrated_database,
    private_pg_database,
)
from tests.slack_fake import Call, FakeSlack

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    # for a slash command's answer: "ack" (the HTTP answer itself) or "response_url" (posted
    # after an empty acknowledgement, which is then in ``ack``)
    via: str = "ack"
    ack: Response | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> Response:
    """One request; no redirects followed (the OAuth tests look at them)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as r:
            return Response(r.status, _lower(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, _lower(e.headers.items()), e.read())


def _lower(items: Any) -> dict[str, str]:
    """Header names lower-cased (HTTP names are case-insensitive; servers vary)."""
    return {k.lower(): v for k, v in items}


# --- the web process -------------------------------------------------------------------------


@dataclass
class WebProcess:
    url: str
    proc: subprocess.Popen[bytes]
    fake: FakeSlack
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def web_env(
    database_url: str,
    fake: FakeSlack,
    port: int,
    *,
    oauth: bool = False,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_", "REDIS_", "PUBLIC_", "CRM_", "WEB_"))
    }
    env.update(
        DATABASE_URL=database_url,
        SLACK_API_URL=fake.api_url,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        CRM_DEFAULT_CURRENCY="ZMW",
        CRM_HOME_REFRESH_INTERVAL="1",  # held back as in production, for less waiting
        PYTHONUNBUFFERED="1",
    )
    if oauth:
        env.update(
            SLACK_CLIENT_ID="111.222",
            SLACK_CLIENT_SECRET="client-secret",
            CRM_SECRET_KEY=TEST_SECRET_KEY,
        )
    else:
        env["SLACK_BOT_TOKEN"] = BOT_TOKEN
    env.update(extra or {})
    return env


@contextlib.contextmanager
def start_web(
    database_url: str,
    fake: FakeSlack,
    workdir: Path,
    *,
    oauth: bool = False,
    expect_healthy: bool = True,
    workers: int = 1,
    threads: int = 4,
    app: str = "bot.web:create_app()",
    extra_env: dict[str, str] | None = None,
) -> Iterator[WebProcess]:
    """Run gunicorn exactly as the Procfile does (same config file), on a free port.

    ``workdir`` becomes the process's working directory, so a developer's ``.env`` in the
    repository cannot leak into the test.
    """
    port = free_port()
    env = web_env(database_url, fake, port, oauth=oauth, extra=extra_env)
    log_path = workdir / f"web-{port}.log"
    cmd = [
        GUNICORN,
        "-c",
        str(ROOT / "bot" / "gunicorn_conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        app,
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    web = WebProcess(f"http://127.0.0.1:{port}", proc, fake, log_path, env)
    try:
        _wait_until_serving(web, expect_healthy)
        yield web
    finally:
        web.stop()


def _wait_until_serving(web: WebProcess, expect_healthy: bool, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise RuntimeError(f"web process exited ({web.proc.returncode}):\n{web.log()[-4000:]}")
        try:
            r = http("GET", f"{web.url}/healthz", timeout=2)
        except OSError as e:
            last = str(e)
        else:
            if r.status == 200 or not expect_healthy:
                return
            last = f"{r.status} {r.text}"
        time.sleep(0.1)
    raise RuntimeError(f"web process not serving after {timeout}s ({last}):\n{web.log()[-4000:]}")


def posted_to(fake: FakeSlack, url: str, timeout: float = 20.0) -> Call:
    """The first post the web process made to ``url`` (a FakeSlack ``response_url``), once it
    arrived: answers come asynchronously, and several may be in flight at once."""
    path = urlparse(url).path
    deadline = time.monotonic() + timeout
    with fake.cond:
        while True:
            for call in fake.calls:
                if call.method == "response_url" and call.path == path:
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"nothing was posted to {path} within {timeout:g}s")
            fake.cond.wait(remaining)


# --- a Slack that talks to the web process ----------------------------------------------------


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    verifier = SignatureVerifier(secret)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
    }


@dataclass
class SlackUserRef:
    id: str
    team_id: str = "TACME"
    team_domain: str = "acme"


_IDS = itertools.count(1)


@dataclass
class SlackClient:
    """Plays Slack's side of the HTTP conversation with the web process."""

    web: WebProcess
    responses: list[tuple[str, Response]] = field(default_factory=list)
    sent: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)  # for replay()
    # one count for every client of the test process: Slack never sends two requests alike
    # (trigger and event ids are unique), and the web process a module shares claims each
    # request once (crm.replays), so two tests' first commands must not be twins
    _ids: Iterator[int] = field(default_factory=lambda: _IDS)

    @property
    def events_url(self) -> str:
        return f"{self.web.url}/slack/events"

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        kind: str = "other",
    ) -> Response:
        all_headers = {"Content-Type": content_type, **sign(body, timestamp), **(headers or {})}
        r = http("POST", self.events_url, body, all_headers)
        self.responses.append((kind, r))
        self.sent.append((body, all_headers))
        return r

    def replay(self, index: int = -1, *, retry: int | None = None) -> Response:
        """Send the ``index``-th request again: byte for byte (an attacker's replay), or as
        Slack's ``retry``-th retry (the same body, signed anew, ``X-Slack-Retry-Num``)."""
        body, headers = self.sent[index]
        if retry is not None:
            headers = {
                **headers,
                **sign(body),
                "X-Slack-Retry-Num": str(retry),
                "X-Slack-Retry-Reason": "http_timeout",
            }
        return http("POST", self.events_url, body, headers)

    def command(
        self,
        text: str,
        user: SlackUserRef,
        *,
        response_url: str | None = None,
        timestamp: int | None = None,
        command: str = "/crm",
        trigger_id: str | None = None,
        headers: dict[str, str] | None = None,
        wait: bool = True,
        timeout: float = 20.0,
    ) -> Response:
        """Send a slash command and return its answer, as the member would see it.

        An empty 200 acknowledgement means the answer follows: this waits (up to
        ``timeout``) for the web process's post to ``response_url`` and returns it as a
        JSON :class:`Response` with ``via="response_url"`` (the acknowledgement in ``.ack``),
        or returns the empty acknowledgement itself once a Web API call carried this
        command's ``trigger_id`` (a modal opened: nothing is said in the channel). Anything
        else (a non-empty or refused acknowledgement) is returned as it came. ``wait=False``
        returns the acknowledgement without waiting. Same ``trigger_id`` = same invocation
        (what a Slack retry sends again).
        """
        n = next(self._ids)
        fake = self.web.fake
        url = response_url or fake.response_url(f"cmd{n}")
        trigger = trigger_id or f"{n}.{user.id}.trigger"
        form = {
            "token": "legacy-verification-token",
            "team_id": user.team_id,
            "team_domain": user.team_domain,
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user.id,
            "user_name": user.id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": url,
            "trigger_id": trigger,
        }
        body = urlencode(form).encode()
        sent = time.monotonic()
        ack = self.post(
            body,
            "application/x-www-form-urlencoded",
            timestamp=timestamp,
            headers=headers,
            kind="command",
        )
        if not wait or ack.status != 200 or ack.body or not url.startswith(fake.base_url):
            return ack
        return self._answer(ack, urlparse(url).path, trigger, sent, timeout, text)

    def _answer(
        self, ack: Response, path: str, trigger: str, sent: float, timeout: float, text: str
    ) -> Response:
        fake = self.web.fake
        deadline = time.monotonic() + timeout
        with fake.cond:
            while True:
                for call in fake.calls:
                    if call.at < sent:
                        continue
                    if call.method == "response_url" and call.path == path:
                        payload = json.dumps(call.args).encode()
                        headers = {"content-type": "application/json; charset=utf-8"}
                        return Response(200, headers, payload, via="response_url", ack=ack)
                    if call.args.get("trigger_id") == trigger:
                        return ack  # a modal opened; the acknowledgement was all
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"/crm {text!r}: empty acknowledgement and no answer at {path} "
                        f"within {timeout:g}s\n{self.web.log()[-3000:]}"
                    )
                fake.cond.wait(remaining)

    def interact(self, payload: dict[str, Any], *, timestamp: int | None = None) -> Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(
            body, "application/x-www-form-urlencoded", timestamp=timestamp, kind=payload["type"]
        )

    def suggest(
        self, action_id: str, value: str, user: SlackUserRef, *, block_id: str = "ref"
    ) -> Response:
        """A type-ahead's options request (``block_suggestion``) from an open modal."""
        return self.interact(
            {
                "type": "block_suggestion",
                "user": {"id": user.id, "team_id": user.team_id, "username": user.id.lower()},
                "team": {"id": user.team_id, "domain": user.team_domain},
                "api_app_id": "A1",
                "token": "legacy-verification-token",
                "container": {"type": "view", "view_id": "V1"},
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "view": {"id": "V1", "type": "modal", "callback_id": "m", "private_metadata": ""},
            }
        )

    def click(
        self,
        action_id: str,
        value: str,
        user: SlackUserRef,
        *,
        response_url: str | None = None,
        block_id: str = "b1",
    ) -> Response:
        n = next(self._ids)
        return self.interact(
            {
                "type": "block_actions",
                "user": {"id": user.id, "team_id": user.team_id, "username": user.id.lower()},
                "api_app_id": "A1",
                "token": "legacy-verification-token",
                "container": {"type": "message", "is_ephemeral": True},
                "trigger_id": f"{n}.{user.id}.trigger",
                "team": {"id": user.team_id, "domain": user.team_domain},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": "C0GENERAL", "name": "general"},
                "response_url": response_url or self.web.fake.response_url(f"act{n}"),
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": block_id,
                        "value": value,
                        "type": "button",
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        )

    def shortcut(
        self, callback_id: str, user: SlackUserRef, message: dict | None = None
    ) -> Response:
        n = next(self._ids)
        payload: dict[str, Any] = {
            "type": "message_action" if message else "shortcut",
            "callback_id": callback_id,
            "trigger_id": f"{n}.{user.id}.trigger",
            "user": {"id": user.id, "team_id": user.team_id},
            "team": {"id": user.team_id, "domain": user.team_domain},
            "token": "legacy-verification-token",
            "action_ts": f"{time.time():.6f}",
        }
        if message:
            payload.update(
                message=message,
                channel={"id": "C0GENERAL", "name": "general"},
                response_url=self.web.fake.response_url(f"sc{n}"),
            )
        return self.interact(payload)

    def submit_view(
        self, callback_id: str, values: dict[str, Any], user: SlackUserRef, view_id: str = "V1"
    ) -> Response:
        return self.interact(
            {
                "type": "view_submission",
                "team": {"id": user.team_id, "domain": user.team_domain},
                "user": {"id": user.id, "team_id": user.team_id},
                "api_app_id": "A1",
                "token": "legacy-verification-token",
                "trigger_id": f"{next(self._ids)}.{user.id}.trigger",
                "view": {
                    "id": view_id,
                    "type": "modal",
                    "callback_id": callback_id,
                    "state": {"values": values},
                    "private_metadata": "",
                    "hash": "h",
                },
            }
        )

    def event(self, event: dict[str, Any], team_id: str = "TACME") -> Response:
        n = next(self._ids)
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": team_id,
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{n}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
            }
        ).encode()
        return self.post(body, "application/json", kind="event")


# --- Block Kit validity --------------------------------------------------------------------

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000


def check_blocks(
    blocks: list[dict[str, Any]], limit: int = MESSAGE_BLOCKS, where: str = ""
) -> None:
    """Every block parses with slack_sdk.models and respects Slack's limits (raises otherwise)."""
    assert isinstance(blocks, list), f"{where}: blocks must be a list"
    assert len(blocks) <= limit, f"{where}: {len(blocks)} blocks > {limit}"
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, f"{where}: unknown block {raw!r}"
        block.to_dict()  # validates recursively (lengths, required fields)
        if raw.get("type") == "section":
            text = (raw.get("text") or {}).get("text", "")
            assert len(text) <= SECTION_TEXT, f"{where}: section text {len(text)} > {SECTION_TEXT}"
            assert raw.get("text") or raw.get("fields"), f"{where}: empty section"


def check_view(view: dict[str, Any], where: str = "") -> None:
    View(**view).to_dict()
    check_blocks(view.get("blocks", []), VIEW_BLOCKS, where)


def check_message(payload: Any, where: str = "") -> None:
    if not isinstance(payload, dict):
        return
    if "blocks" in payload:
        check_blocks(payload["blocks"], MESSAGE_BLOCKS, where)
        assert payload.get("text"), f"{where}: blocks without a text fallback"
    if isinstance(payload.get("view"), dict):
        check_view(payload["view"], where)


def check_all_payloads(client: SlackClient, fake: FakeSlack) -> int:
    """Validate every payload the web process produced: HTTP answers and calls to FakeSlack.
    Returns how many payloads carried blocks or a view (so a test can tell it checked some)."""
    checked = 0
    for kind, r in client.responses:
        if r.headers.get("content-type", "").startswith("application/json") and r.body:
            data = r.json()
            check_message(data, f"HTTP answer to {kind}")
            checked += isinstance(data, dict) and ("blocks" in data or "view" in data)
    for call in fake.calls:
        check_message(call.args, f"{call.method} call")
        checked += "blocks" in call.args or isinstance(call.args.get("view"), dict)
    return checked


# --- one web process per backend, shared by the e2e modules -----------------------------------


@dataclass
class Site:
    """A web process serving a test module (shared with the other modules of the test
    process unless made private); tests keep apart by Slack team id."""

    backend: str
    web: WebProcess
    fake: FakeSlack
    database: Database


class SharedWeb:
    """One web process per backend for the whole test process, each on a database of its
    own (a copy of the SQLite template; a PostgreSQL database that no ``db`` fixture
    truncates), started when a module first asks for that backend.

    Why: starting gunicorn and importing the Slack app costs more than most e2e tests, and a
    web process per module made up a good part of the suite's time. The modules sharing one
    already keep apart by team id (a new workspace per test); what a module may change of the
    shared FakeSlack (handlers, failures, rate limits) is reset when the next module starts.
    A module that needs a web process of its own (a fresh database, other settings) asks
    ``site_fixture(prefix, private=True)``.
    """

    def __init__(
        self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        self._request = request
        self._tmp = tmp_path_factory
        self._sites: dict[str, Site] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> SharedWeb:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def get(self, backend: str) -> Site:
        if backend not in self._sites:
            self._sites[backend] = self._start(backend)
        return self._sites[backend]

    def _start(self, backend: str) -> Site:
        workdir = self._tmp.mktemp(f"shared-web-{backend}")
        if backend == "postgres":
            url = self._stack.enter_context(private_pg_database())
            handle = open_database(url)
            handle.connect(reuse_if_open=True)
            self._stack.callback(_close, handle)
            db = TestDB(backend, url, handle)
        else:
            db = self._stack.enter_context(migrated_database(self._request, backend, workdir))
        fake = self._stack.enter_context(FakeSlack())
        web = self._stack.enter_context(start_web(db.url, fake, workdir))
        return Site(backend, web, fake, db.database)


def _close(handle: Database) -> None:
    if not handle.is_closed():
        handle.close()
    if hasattr(handle, "close_all"):
        handle.close_all()


def _serve_module(site: Site, *, shared: bool) -> Iterator[Site]:
    """A module's turn on ``site``: the test process's models bound to its database, a
    shared FakeSlack as new, and no traceback in what the web process logged meanwhile."""
    database.initialize(site.database)
    site.database.connect(reuse_if_open=True)
    if shared:
        site.fake.reset()  # a private one is new and keeps what the web process did at start
    mark = len(site.web.log())
    yield site
    time.sleep(0.2)  # let post-ack work (receipts, Home refreshes) finish
    log = site.web.log()[mark:]
    assert "Traceback" not in log, log[-4000:]


def site_fixture(
    prefix: str, *, private: bool = False, extra_env: dict[str, str] | None = None
) -> Any:
    """A module-scoped ``site`` fixture, one per backend: the test process's shared web
    process for that backend (:class:`SharedWeb`), or with ``private=True`` one started for
    this module alone on a fresh database. ``prefix`` names the private one's work folder;
    ``extra_env`` (private only) adds settings to its environment."""
    assert private or not extra_env, "settings of the shared web process are fixed"

    @pytest.fixture(scope="module", params=BACKENDS)
    def site(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Site]:
        backend = request.param
        if not private:
            sites = request.getfixturevalue("shared_web")
            yield from _serve_module(sites.get(backend), shared=True)
            return
        workdir = tmp_path_factory.mktemp(f"{prefix}-{backend}")
        with (
            migrated_database(request, backend, workdir) as db,
            FakeSlack() as fake,
            start_web(db.url, fake, workdir, extra_env=extra_env) as web,
        ):
            yield from _serve_module(Site(backend, web, fake, db.database), shared=False)

    return site
