"""Composition root of the Slack side: Settings in, a wired Bolt :class:`App` out.

Wiring only. Every Web API client Bolt uses is derived from the one built here, so all of
them honour ``SLACK_API_URL`` and carry the gateway's retry handlers:
- ``app.client`` is ours;
- the per-request ``context.client`` is a copy Bolt makes of ``app.client`` in
  ``App._init_context`` (base_url, retry handlers, headers, timeout), with the request's token;
- in OAuth mode, ``OAuthFlow`` (``oauth.v2.access``) and ``InstallationStoreAuthorize``
  (``auth.test``) receive ``app.client`` too (``App.__init__`` passes ``client=self._client``).
``tests/test_web.py`` proves it end to end: every call lands on the local Slack stand-in.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator

from peewee import DatabaseError
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.oauth.callback_options import CallbackOptions, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import background, gateway
from bot.composition import compose_web
from bot.context import crm_context
from bot.errors import handle_error, new_request_id
from bot.installations import PeeweeInstallationStore, PeeweeOAuthStateStore
from bot.listeners import register_all
from bot.listeners.commands.crm import abandon_command, run_command
from crm.companies import company_for_team
from crm.config import ConfigError, Settings, Unreachable
from crm.models import Company

log = logging.getLogger(__name__)

BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "im:history",  # a reminder worker that took over a stale claim checks the DM first
    "users:read",
    "users:read.email",
    "files:read",
    "files:write",
)
INSTALL_PATH = "/slack/install"
# seconds a Web API call (connect and answer) may take: an unreachable Slack is said at start
# within this (times slack-sdk's two connection retries), not after minutes of silence
WEB_TIMEOUT = 10
REDIRECT_PATH = "/slack/oauth_redirect"


class CRMApp(App):
    """Bolt's App with one request boundary: an id for the logs and the apology, and the
    database connection given back when the dispatch ends (whatever happened)."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        req.context["request_id"] = new_request_id()
        req.context["started_at"] = time.monotonic()
        try:
            return super().dispatch(req)
        finally:
            background.release_connection()


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Start-up only (nothing else runs yet): ``logger`` says nothing below CRITICAL."""
    log_ = logging.getLogger(logger)
    level = log_.level
    log_.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log_.setLevel(level)


def web_client(settings: Settings, token: str | None = None) -> WebClient:
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=WEB_TIMEOUT,
        retry_handlers=gateway.retry_handlers(max_rate_limit_wait=gateway.WEB_MAX_RATE_LIMIT_WAIT),
    )


def oauth_settings(settings: Settings) -> OAuthSettings:
    assert settings.slack_client_id and settings.slack_client_secret
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        redirect_uri=f"{settings.public_url}{REDIRECT_PATH}",
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        install_page_rendering_enabled=False,  # /slack/install goes straight to Slack
        installation_store=PeeweeInstallationStore(settings.slack_client_id),
        installation_store_bot_only=True,
        state_store=PeeweeOAuthStateStore(),
        callback_options=CallbackOptions(
            success=functools.partial(_installed, currency=settings.default_currency),
            failure=lambda args: args.default.failure(args),
        ),
    )


def _installed(args: SuccessArgs, currency: str) -> BoltResponse:
    """An OAuth install brings its workspace into being (SPEC 10), so the admin's first
    ``crm token create --team T`` works before anyone has used ``/crm``."""
    installation = args.installation
    team_id = (
        installation.enterprise_id if installation.is_enterprise_install else installation.team_id
    )
    if team_id:
        try:
            company_for_team(
                team_id, authorized=True, name=installation.team_name or "", currency=currency
            )
        finally:
            background.release_connection()
    return args.default.success(args)


def adopt_bot_workspace(client: WebClient, settings: Settings) -> Company | None:
    """The single workspace of ``SLACK_BOT_TOKEN`` exists from start-up (SPEC 10).

    Its team is the one ``auth.test`` names for the token, the only team besides OAuth
    installs that may become a workspace. Made here rather than on the first ``/crm``, so
    ``crm token create --team T`` works as soon as the app has started; and here rather than
    in the CLI, so the CLI stays a database tool that never needs Slack to be reachable.
    """
    auth = client.auth_test()
    enterprise = auth.get("is_enterprise_install") and auth.get("enterprise_id")
    team_id = str(enterprise or auth.get("team_id") or "")
    if not team_id:
        raise ConfigError("SLACK_BOT_TOKEN: Slack's auth.test named no team for this token")
    try:
        return company_for_team(
            team_id,
            authorized=True,
            name=str(auth.get("team") or ""),
            currency=settings.default_currency,
        )
    except DatabaseError as e:  # /healthz reports it; the team is still vouched for later
        log.warning(
            "workspace %s not created at start-up: database unavailable (%s)",
            team_id,
            type(e).__name__,
        )
        return None
    finally:
        background.release_connection()


def build_app(settings: Settings, *, register: bool = True) -> App:
    """The Bolt app for these settings: single-workspace with ``SLACK_BOT_TOKEN``, or
    multi-workspace OAuth with installations in the database.

    ``process_before_response=True``: Bolt runs middleware and listeners on the request
    thread and answers when they return. Long work is handed on by the listeners themselves
    (``/crm`` commands to :mod:`bot.command_runner`, buttons to :mod:`bot.background`), which
    keeps one thread and one database connection per request instead of Bolt's
    poll-every-10-ms hand-off to its own pool.

    The process is composed first (:func:`bot.composition.compose_web`: the runtime, the
    database, the API's rate limiter), with this app's ``/crm`` handlers to run commands.
    """
    settings.require_slack()
    compose_web(
        settings,
        run_command=functools.partial(run_command, settings=settings),
        abandon_command=abandon_command,
    )
    common = {
        "name": "slack-crm",
        "signing_secret": settings.slack_signing_secret or "",
        "process_before_response": True,
        "listener_executor": background.executor(),
    }
    if settings.slack_bot_token:
        # Bolt checks the token with auth.test here, the first call to Slack; its retries are
        # not logged one by one: a Slack that does not answer is one line (Unreachable)
        try:
            with _quiet("slack_sdk.web.base_client"):
                app: App = CRMApp(client=web_client(settings, settings.slack_bot_token), **common)
                adopt_bot_workspace(app.client, settings)
        except (SlackClientError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise Unreachable(
                "Slack Web API", "SLACK_API_URL", settings.slack_api_url, reason
            ) from None
    else:
        app = CRMApp(client=web_client(settings), oauth_settings=oauth_settings(settings), **common)
    return assemble(app, settings, register=register)


def assemble(app: App, settings: Settings, *, register: bool = True) -> App:
    """The middleware, error handler and listeners every front door shares: Slack over HTTP,
    Socket Mode, and ``crm chat`` (:mod:`bot.chat`), so all three run the same code."""
    app.use(crm_context(settings))
    app.error(handle_error)
    if register:
        register_all(app)
    return app
