"""The web process (SPEC 1): Flask at the edge, Bolt behind one route.

Routes: ``POST /slack/events`` (commands, shortcuts, interactivity, events), ``GET
/slack/install`` and ``GET /slack/oauth_redirect`` (OAuth mode), ``GET /healthz``. The JSON API
(``/cms/crm/``) and campaign tracking (``/t/``) mount through :data:`EXTENSIONS`.

Every ``/slack/events`` request passes :mod:`bot.request_guard` first (a malformed request is
answered 400/401 with one log line before Bolt parses anything) and is claimed once by its
replay key (:mod:`crm.replays`): Slack's retry or a replay of a signed request is
acknowledged and repeats nothing.

Run it with gunicorn: ``gunicorn -c bot/gunicorn_conf.py 'bot.web:create_app()'`` (the
Procfile's ``web`` line). Each gunicorn worker calls :func:`create_app` itself after the fork,
so no database connection or thread pool is shared across processes.
"""

from __future__ import annotations

import importlib
import logging
import time

from flask import Flask, Response, jsonify, request
from peewee import DatabaseError
from slack_bolt import BoltContext
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.adapter.flask.handler import to_bolt_request, to_flask_response
from slack_bolt.request.internals import build_context

from bot import background, request_guard
from bot.app import INSTALL_PATH, REDIRECT_PATH, build_app
from crm import replays
from crm.config import Settings, load_settings
from crm.db import database

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Slack's largest payloads (a modal of 100 blocks) are far smaller

# "module:function" factories called as ``function(flask_app, settings)`` to mount the JSON
# API blueprint and the /t/ tracking routes; each feature adds its line here.
EXTENSIONS: tuple[str, ...] = ("bot.api:mount", "bot.tracking:mount")


def _first_time(key: str) -> bool:
    """Claim ``key``; ``False`` for a retry or replay, which is acknowledged and dropped.

    With the database unreachable the request goes on unclaimed: it needs the database for
    anything it would do, and fails there with its apology (a 503 here would only show the
    member Slack's own error instead)."""
    try:
        first = replays.claim(key)
    except DatabaseError as e:
        log.warning("slack request not claimed: database unavailable (%s)", type(e).__name__)
        return True
    if not first:
        log.info(
            "slack request %s already taken in (retry %s): acknowledged, not repeated",
            key[:24],
            (request.headers.get("X-Slack-Retry-Num") or "none")[:4],
        )
    return first


def _release(key: str) -> None:
    """Nothing took effect (a 5xx answer): give the key back, so Slack's retry may run."""
    try:
        replays.release(key)
    except DatabaseError as e:
        log.warning("slack request %s: claim kept (%s)", key[:24], type(e).__name__)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require_slack()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    bolt = build_app(settings)  # composes the process (bot/composition.py) first
    slack = SlackRequestHandler(bolt)

    app = Flask(__name__)
    app.config["CRM_SETTINGS"] = settings
    app.config["BOLT_APP"] = bolt
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    secret = settings.slack_signing_secret or ""

    @app.post("/slack/events")
    def slack_events() -> Response:
        try:
            checked = request_guard.check(
                request.headers, request.get_data(cache=True), secret, time.time()
            )
        except request_guard.Refused as refused:
            log.warning("slack request refused (%d): %s", refused.status, refused.reason)
            return Response(refused.body, refused.status, mimetype="text/plain")
        key = checked.replay_key
        if key is not None and checked.kind != "command" and not _first_time(key):
            return Response("", 200)
        bolt_request = to_bolt_request(request)
        if checked.kind == "command" and bolt_request.body != checked.payload:
            # Bolt reads any form body containing the word "payload" as an interaction
            # (request.internals.parse_body) and loses a command such as `lead add "payload
            # test"`; the guard's strict parse of the form is the one to use
            bolt_request.body = dict(checked.payload)
            bolt_request.context = build_context(BoltContext(), bolt_request.body)
        if checked.kind == "command":
            # claimed where it runs, after the acknowledgement, which touches no database
            # (bot.listeners.commands.crm.run_command)
            bolt_request.context["replay_key"] = key
        # post-ack jobs of this request start when its answer is written (bot.background)
        with background.answer_first() as answered:
            response = to_flask_response(bolt.dispatch(bolt_request))
        response.call_on_close(answered)
        if key is not None and checked.kind != "command" and response.status_code >= 500:
            _release(key)
        return response

    if bolt.oauth_flow is not None:

        @app.get(INSTALL_PATH)
        def slack_install() -> Response:
            return slack.handle(request)

        @app.get(REDIRECT_PATH)
        def slack_oauth_redirect() -> Response:
            return slack.handle(request)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """Up means "can reach the database": a web process without it answers nobody."""
        started = time.perf_counter()
        try:
            database.connect(reuse_if_open=True)
            database.execute_sql("SELECT 1")
        except Exception as e:
            log.warning("healthz: database unreachable: %s", e)
            return jsonify(ok=False, database="unreachable"), 503
        ms = round((time.perf_counter() - started) * 1000, 1)
        return jsonify(ok=True, database="ok", database_ms=ms), 200

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        background.release_connection()

    for path in EXTENSIONS:
        module, _, attr = path.partition(":")
        getattr(importlib.import_module(module), attr)(app, settings)
    return app
