"""Bolt's OAuth stores on our own tables (multi-workspace mode, SPEC 2).

slack-sdk ships file, SQLite and SQLAlchemy stores; ours keeps installations in the CRM's
database (PostgreSQL in production) so that every web process on every machine sees the same
installs and state, and :func:`bot.gateway.bot_token` (used by the workers) reads the very rows
written here.

One row per installation event in ``slack_installations``: the bot token sits in its own
column (the one the gateway reads); the rest of slack-sdk's ``Installation`` is kept as JSON
in ``data`` so nothing Slack tells us at install time is lost. "Latest row wins" gives token
rotation and re-installs for free. The calling request owns the database connection (opened
here if needed, released when the request ends).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from crm.clock import utcnow
from crm.db import ensure_connected
from crm.models import SlackInstallation, SlackOAuthState

log = logging.getLogger(__name__)

# Installation fields stored in columns rather than in ``data``
_COLUMNS = ("enterprise_id", "team_id", "user_id", "bot_token", "bot_id", "bot_user_id")


class PeeweeInstallationStore(InstallationStore):
    def __init__(self, client_id: str) -> None:
        self.client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return log

    # --- writing ------------------------------------------------------------------------------
    def save(self, installation: Installation) -> None:
        data = {k: v for k, v in vars(installation).items() if k not in _COLUMNS}
        ensure_connected()
        SlackInstallation.create(
            client_id=self.client_id,
            enterprise_id=installation.enterprise_id,
            team_id=None if installation.is_enterprise_install else installation.team_id,
            user_id=installation.user_id or "",
            bot_token=installation.bot_token,
            bot_id=installation.bot_id,
            bot_user_id=installation.bot_user_id,
            data=data,
            installed_at=utcnow(),
        )

    def save_bot(self, bot: Bot) -> None:
        """Bots are rows of :meth:`save` already; token rotation saves a whole installation."""
        if bot.bot_token is None:
            return
        self.save(
            Installation(
                app_id=bot.app_id,
                enterprise_id=bot.enterprise_id,
                enterprise_name=bot.enterprise_name,
                team_id=bot.team_id,
                team_name=bot.team_name,
                bot_token=bot.bot_token,
                bot_id=bot.bot_id,
                bot_user_id=bot.bot_user_id,
                bot_scopes=bot.bot_scopes,
                bot_refresh_token=bot.bot_refresh_token,
                bot_token_expires_at=bot.bot_token_expires_at,
                is_enterprise_install=bot.is_enterprise_install,
                user_id="",
            )
        )

    # --- reading ------------------------------------------------------------------------------
    def _query(self, enterprise_id: str | None, team_id: str | None, is_enterprise: bool | None):
        model = SlackInstallation
        team = None if is_enterprise else team_id
        return (
            model.select()
            .where(
                (model.client_id == self.client_id)
                & (
                    model.enterprise_id.is_null()
                    if enterprise_id is None
                    else model.enterprise_id == enterprise_id
                )
                & (model.team_id.is_null() if team is None else model.team_id == team)
            )
            .order_by(model.installed_at.desc(), model.id.desc())
        )

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        ensure_connected()
        row = (
            self._query(enterprise_id, team_id, is_enterprise_install)
            .where(SlackInstallation.bot_token.is_null(False))
            .first()
        )
        return None if row is None else _installation(row).to_bot()

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        ensure_connected()
        query = self._query(enterprise_id, team_id, is_enterprise_install)
        if user_id is not None:
            query = query.where(SlackInstallation.user_id == user_id)
        row = query.first()
        if row is None:
            return None
        installation = _installation(row)
        if user_id is not None or installation.bot_token is None:
            # The installer's row may predate a newer bot token (re-install by someone
            # else): the bot token is per workspace, so take the latest one.
            bot = self.find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            )
            if bot is not None:
                installation.bot_token = bot.bot_token
                installation.bot_id = bot.bot_id
                installation.bot_user_id = bot.bot_user_id
                installation.bot_scopes = bot.bot_scopes
                installation.bot_refresh_token = bot.bot_refresh_token
                installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    # --- deleting (tokens_revoked / app_uninstalled events) --------------------------------------
    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        ensure_connected()
        ids = [r.id for r in self._query(enterprise_id, team_id, False)]
        if ids:
            SlackInstallation.update(bot_token=None, bot_id=None, bot_user_id=None).where(
                SlackInstallation.id.in_(ids)
            ).execute()

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        ensure_connected()
        query = self._query(enterprise_id, team_id, False)
        if user_id is not None:
            query = query.where(SlackInstallation.user_id == user_id)
        ids = [r.id for r in query]
        if ids:
            SlackInstallation.delete().where(SlackInstallation.id.in_(ids)).execute()


def _installation(row: SlackInstallation) -> Installation:
    data: dict[str, Any] = dict(row.data or {})
    # slack-sdk keeps timestamps as floats/ints and scopes as lists: JSON round-trips them
    return Installation(
        **data,
        enterprise_id=row.enterprise_id,
        team_id=row.team_id,
        user_id=row.user_id,
        bot_token=row.bot_token,
        bot_id=row.bot_id,
        bot_user_id=row.bot_user_id,
    )


class PeeweeOAuthStateStore(OAuthStateStore):
    """One-time ``state`` values for the install flow (CSRF protection), shared by all web
    processes through the database."""

    def __init__(self, expiration_seconds: int = 600) -> None:
        self.expiration = timedelta(seconds=expiration_seconds)

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        ensure_connected()
        SlackOAuthState.create(state=state, expire_at=utcnow() + self.expiration)
        return state

    def consume(self, state: str) -> bool:
        """True once per unexpired state: the delete decides, so two callbacks racing with
        the same state cannot both succeed."""
        ensure_connected()
        deleted = (
            SlackOAuthState.delete()
            .where((SlackOAuthState.state == state) & (SlackOAuthState.expire_at > utcnow()))
            .execute()
        )
        SlackOAuthState.delete().where(SlackOAuthState.expire_at <= utcnow()).execute()
        return deleted == 1
