"""Who is asking: a Bolt global middleware that puts the CRM's view of the request into
Bolt's context.

- ``context["company"]``: the workspace's company, created on its first request only for the
  team Slack vouched for (:func:`vouched_for`; currency from ``CRM_DEFAULT_CURRENCY``): any
  other team is refused (:class:`crm.companies.UnknownWorkspace`);
- ``context["member"]``: the Slack user as a member, created on first sight and refreshed from
  ``users.info`` at most daily (name, email, IANA time zone; owners/admins start as ``admin``);
- ``context["actor"]``: the :class:`crm.acting.Actor` every service call takes.

Buttons, modals, shortcuts and events get these before their listener runs. Slash commands
do not: resolving them costs database queries and, on first sight, a ``users.info`` call,
and Slack's clock runs until the command is acknowledged (SPEC 5.1). The ``/crm``
dispatcher acknowledges first and calls :func:`resolve_crm_context` where the command runs
(:mod:`bot.command_runner`), where a failure is answered through ``response_url`` like any
other (:mod:`bot.listeners.commands.crm`).

The database connection this needs is opened lazily by the first query and given back when
Bolt's dispatch ends (:class:`bot.app.CRMApp`) or the background job ends
(:func:`bot.background.with_db`): Bolt's global middleware cannot wrap the listener
(``next()`` only flags "continue"), so the request's boundary is the dispatch call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.request.payload_utils import is_slash_command
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from crm.acting import Actor
from crm.companies import (
    Profile,
    company_for_team,
    find_member,
    member_needs_refresh,
    upsert_member,
)
from crm.config import Settings
from crm.errors import CRMError, ValidationError
from crm.models import Company, Member

log = logging.getLogger(__name__)


class SlackLookupFailed(CRMError):
    """Slack could not tell us who someone is; nothing was changed."""

    code = "slack_unavailable"
    status = 503


def profile_from_slack(user: dict[str, Any]) -> Profile:
    profile = user.get("profile") or {}
    name = (
        user.get("real_name")
        or profile.get("real_name")
        or profile.get("display_name")
        or user.get("name")
        or user.get("id", "")
    )
    return Profile(
        slack_user_id=user["id"],
        name=name,
        email=profile.get("email") or None,
        tz=user.get("tz"),
        is_admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
    )


def member_for(client: WebClient, company: Company, slack_user_id: str) -> Member:
    """The member for a Slack user of ``company``; created or refreshed from ``users.info``.

    Also used to resolve ``assign=@someone``: a colleague who never used the bot becomes a
    member the first time someone names them. A refresh that fails keeps the stored data; a
    first sight that fails refuses, because a member's role is decided at creation and
    guessing "rep" for the workspace owner would lock them out of admin work.
    """
    member = find_member(company.id, slack_user_id)
    if not member_needs_refresh(member):
        return member  # type: ignore[return-value]
    try:
        user = client.users_info(user=slack_user_id)["user"]
    except SlackApiError as e:
        reason = e.response.get("error", "error") if e.response is not None else "error"
        if member is not None:
            log.warning(
                "users.info for %s failed (%s); using stored profile", slack_user_id, reason
            )
            return member
        if reason in ("user_not_found", "user_not_visible"):
            raise ValidationError(
                "user", f"<@{slack_user_id}> is not a member of this workspace"
            ) from None
        raise SlackLookupFailed(
            f"Slack did not tell us who <@{slack_user_id}> is ({reason}); please try again "
            "in a minute."
        ) from None
    return upsert_member(company, profile_from_slack(user))


def _team_name(body: dict[str, Any]) -> str:
    team = body.get("team")
    if isinstance(team, dict):
        return str(team.get("domain") or team.get("name") or "")
    return str(body.get("team_domain") or "")


def vouched_for(context: BoltContext) -> bool:
    """Bolt's authorization found this request's team: an OAuth installation of it, or the
    team ``auth.test`` names for ``SLACK_BOT_TOKEN``. Only such a team may become a workspace
    on its first request; a team merely named in a signed payload may not (SPEC 10)."""
    if "team_authorized" in context:  # a command job carries the answer across processes
        return bool(context["team_authorized"])
    result = context.authorize_result
    if result is None or not (result.bot_token or result.user_token):
        return False  # app_uninstalled, tokens_revoked: Bolt vouches for no token of theirs
    if context.team_id and result.team_id == context.team_id:
        return True
    return bool(context.enterprise_id and result.enterprise_id == context.enterprise_id)


def resolve_crm_context(
    context: BoltContext, body: dict[str, Any], client: WebClient, currency: str
) -> Actor | None:
    """Put company, member and actor into ``context`` (creating them on first sight) and
    return the actor; ``None`` when nobody acts (no team, or the bot's own user)."""
    if "actor" in context:
        return context["actor"]
    team_id = context.team_id or context.enterprise_id
    if not team_id:
        return None
    company = company_for_team(
        team_id, authorized=vouched_for(context), name=_team_name(body), currency=currency
    )
    context["company"] = company
    user_id = context.user_id
    if not user_id or (context.bot_user_id and user_id == context.bot_user_id):
        return None
    member = member_for(client, company, user_id)
    context["member"] = member
    context["actor"] = Actor.for_member(member, "slack")
    return context["actor"]


def crm_context(settings: Settings) -> Callable[..., None]:
    """The global middleware, closed over the settings it needs."""

    def attach_crm_context(
        context: BoltContext, body: dict[str, Any], client: WebClient, next: Callable[[], None]
    ) -> None:
        if not is_slash_command(body):  # a command resolves after its acknowledgement
            resolve_crm_context(context, body, client, settings.default_currency)
        next()

    return attach_crm_context
