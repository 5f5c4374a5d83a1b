"""The web process (SPEC 1): Flask at the edge, Bolt behind one route.

Routes: ``POST /slack/events`` (commands, shortcuts, interactivity, events), ``GET
/slack/install`` and ``GET /slack/oauth_redirect`` (OAuth mode), ``GET /healthz``. The JSON API
(``/cms/crm/``) and campaign tracking (``/t/``) mount through :data:`EXTENSIONS`.

Run it with gunicorn: ``gunicorn -c bot/gunicorn_conf.py 'bot.web:create_app()'`` (the
Procfile's ``web`` line). Each gunicorn worker calls :func:`create_app` itself after the fork,
so no database connection or thread pool is shared across processes.
"""

from __future__ import annotations

import importlib
import logging
import time

from flask import Flask, Response, jsonify, request
from slack_bolt.adapter.flask import SlackRequestHandler

from bot import background
from bot.app import INSTALL_PATH, REDIRECT_PATH, build_app
from crm.config import Settings, load_settings
from crm.db import database, open_database

log = logging.getLogger(__name__)

# "module:function" factories called as ``function(flask_app, settings)`` to mount the JSON
# API blueprint and the /t/ tracking routes; each feature adds its line here.
EXTENSIONS: tuple[str, ...] = ()


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require_slack()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    open_database(settings.database_url)
    bolt = build_app(settings)
    slack = SlackRequestHandler(bolt)

    app = Flask(__name__)
    app.config["CRM_SETTINGS"] = settings
    app.config["BOLT_APP"] = bolt

    @app.post("/slack/events")
    def slack_events() -> Response:
        # post-ack jobs of this request start when its answer is written (bot.background)
        with background.answer_first() as answered:
            response = slack.handle(request)
        response.call_on_close(answered)
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
