"""Companies (one per Slack workspace) and their members, roles and settings.

The first request from a workspace creates its company; members come from Slack's
``users.info`` (workspace owners and admins start as ``admin``, everyone else as ``rep``) and
are refreshed by the adapter at most daily (:func:`member_needs_refresh`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import IntegrityError

from crm import permissions
from crm.acting import Actor
from crm.audit import change, snapshot
from crm.clock import utcnow
from crm.config import CURRENCY_CODES
from crm.db import database
from crm.errors import PermissionDenied, ValidationError
from crm.models import ROLES, Company, Member
from crm.sql_cache import Statement
from crm.tenancy import fetch

MEMBER_REFRESH_AGE = timedelta(days=1)


# every Slack request starts with these two (crm.sql_cache: rendered once, not per request)
_COMPANY_BY_TEAM = Statement(
    lambda team_id: Company.select().where(Company.team_id == team_id).limit(1)
)
_MEMBER_BY_SLACK_ID = Statement(
    lambda company_id, slack_user_id: (
        Member.scoped(company_id).where(Member.slack_user_id == slack_user_id).limit(1)
    )
)


def get_or_create_company(team_id: str, name: str = "", currency: str = "ZMW") -> Company:
    """Idempotent under concurrent first requests: the unique team id decides the winner."""
    found = _COMPANY_BY_TEAM.models(Company, team_id=team_id)
    if found:
        return found[0]
    try:
        with database.atomic():
            return Company.create(team_id=team_id, name=name or team_id, currency=currency)
    except IntegrityError:
        return Company.get(Company.team_id == team_id)


class UnknownWorkspace(PermissionDenied):
    """A signed request from a Slack team that is not one of our workspaces (SPEC 10)."""

    code = "workspace_unknown"


def company_for_team(
    team_id: str, *, authorized: bool, name: str = "", currency: str = "ZMW"
) -> Company:
    """The workspace of a Slack request's team; created on its first request only when
    ``authorized``: the team is the one Slack vouched for (an OAuth installation of it, or the
    single workspace of ``SLACK_BOT_TOKEN``, as ``auth.test`` named it).

    Why: any app Slack signs a request for could otherwise mint workspaces by sending its
    team id; a workspace comes into being only by installing the app or as the bot token's
    own team, and every other team is refused with a message saying so.
    """
    found = _COMPANY_BY_TEAM.models(Company, team_id=team_id)
    if found:
        return found[0]
    if not authorized:
        raise UnknownWorkspace(
            f"This Slack workspace ({team_id[:32]}) is not connected to this CRM. "
            "An admin of the CRM can connect it by installing the app."
        )
    return get_or_create_company(team_id, name=name, currency=currency)


def valid_tz(tz: str | None) -> str:
    if not tz:
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return tz


@dataclass(frozen=True)
class Profile:
    """What Slack's ``users.info`` tells us about a person."""

    slack_user_id: str
    name: str = ""
    email: str | None = None
    tz: str | None = None
    is_admin: bool = False  # workspace owner or admin


def upsert_member(company: Company, profile: Profile) -> Member:
    """Create the member on first sight (role from Slack), refresh name/email/tz afterwards.

    The role is only set at creation: later role changes are ours (``/crm role``), not Slack's.
    """
    now = utcnow()
    fields = {
        "name": profile.name[:200],
        "email": profile.email,
        "tz": valid_tz(profile.tz),
        "refreshed_at": now,
        "is_active": True,
    }
    member = Member.scoped(company.id).where(Member.slack_user_id == profile.slack_user_id).first()
    if member is None:
        try:
            with database.atomic():
                return Member.create(
                    company=company.id,
                    slack_user_id=profile.slack_user_id,
                    role="admin" if profile.is_admin else "rep",
                    **fields,
                )
        except IntegrityError:
            member = (
                Member.scoped(company.id).where(Member.slack_user_id == profile.slack_user_id).get()
            )
    Member.scoped_update(member, updated_at=now, **fields).where(Member.id == member.id).execute()
    return Member.scoped(member).where(Member.id == member.id).get()


def find_member(company_id: int, slack_user_id: str) -> Member | None:
    found = _MEMBER_BY_SLACK_ID.models(Member, company_id=company_id, slack_user_id=slack_user_id)
    return found[0] if found else None


def member_needs_refresh(member: Member | None) -> bool:
    return (
        member is None
        or member.refreshed_at is None
        or (utcnow() - member.refreshed_at > MEMBER_REFRESH_AGE)
    )


def set_role(actor: Actor, member_id: int, role: str) -> Member:
    """Admins only; the last admin cannot demote themselves (someone must manage roles)."""
    permissions.require(actor, "manage_roles")
    if role not in ROLES:
        raise ValidationError("role", f"{role!r} is not a role", hint="rep, manager or admin")
    with change(actor) as ch:
        member = fetch(Member, actor, member_id, "member")
        if member.role == "admin" and role != "admin":
            admins = Member.scoped(actor).where((Member.role == "admin") & Member.is_active).count()
            if admins <= 1:
                raise ValidationError(
                    "role",
                    "the workspace needs at least one admin",
                    hint="making someone else admin first",
                )
        before = snapshot(member)
        member.role = role
        member.save()
        ch.updated(member, before)
    member.change_id = ch.change_id
    return member


def update_settings(
    actor: Actor,
    *,
    currency: str | None = None,
    tiers: tuple[Decimal, Decimal, Decimal] | None = None,
    digest_channel: str | None = None,
    timezone: str | None = None,
    phone_region: str | None = None,
    clv_discount: str | None = None,
) -> Company:
    """Admins only. Tier thresholds must rise strictly (silver < gold < platinum);
    ``clv_discount`` is the monthly rate of the predicted 12-month value (SPEC 13)."""
    permissions.require(actor, "manage_settings")
    with change(actor) as ch:
        company = Company.get_by_id(actor.company_id)
        before = snapshot(company)
        if currency is not None:
            code = currency.strip().upper()
            if code not in CURRENCY_CODES:
                raise ValidationError(
                    "currency",
                    f"{currency!r} is not a supported currency",
                    hint="currency=ZMW or currency=USD",
                )
            company.currency = code
        if tiers is not None:
            if len(tiers) != 3 or not (0 < tiers[0] < tiers[1] < tiers[2]):
                raise ValidationError(
                    "tiers", "thresholds must be three rising amounts", hint="tiers=20k,50k,100k"
                )
            company.tier_thresholds = [str(t) for t in tiers]
        if digest_channel is not None:
            company.digest_channel = digest_channel or None
        if timezone is not None:
            if valid_tz(timezone) != timezone:
                raise ValidationError(
                    "timezone",
                    f"{timezone!r} is not an IANA time zone",
                    hint="timezone=Africa/Lusaka",
                )
            company.timezone = timezone
        if phone_region is not None:
            region = phone_region.strip().upper()
            if len(region) != 2 or not region.isalpha():
                raise ValidationError(
                    "region", f"{phone_region!r} is not a country code", hint="region=ZM"
                )
            company.phone_region = region
        if clv_discount is not None:
            from crm.insight.clv import parse_discount

            company.settings = {
                **(company.settings or {}),
                "clv_discount": parse_discount(clv_discount),
            }
        company.save()
        ch.updated(company, before)
    company.change_id = ch.change_id
    return company


def members(actor: Actor) -> list[Member]:
    return list(Member.scoped(actor).where(Member.is_active).order_by(Member.name))


def get_company(actor: Actor) -> Company:
    """The actor's own company (its settings)."""
    return Company.get_by_id(actor.company_id)


def slack_user_ids(actor: Actor, member_ids: Iterable[int]) -> dict[int, str]:
    """``{member id: Slack user id}`` of those members of the actor's company (to mention
    them); ids of other companies are simply absent."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    return dict(
        Member.scoped(actor, Member.id, Member.slack_user_id).where(Member.id.in_(ids)).tuples()
    )
