"""``/crm role @user rep|manager|admin`` and ``/crm settings ...`` (admins only, SPEC 10).

Both check the admin's right before anything else happens: a refused ``/crm role @new`` must
not even create the member it names (resolving ``@user`` may create one from ``users.info``).
The rule itself lives in :mod:`crm.permissions`; the refusal names the role needed.

``/crm settings`` without arguments shows the settings to any member (SPEC 10: reps read the
company's data); changing them is for admins. Every change answers with a receipt and Undo.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.blocks.common import (
    UNDO_ACTION,
    Block,
    actions,
    button,
    context,
    ephemeral,
    escape,
    fields_section,
    section,
)
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.values import member_id
from crm import companies, customer_value, permissions
from crm.acting import Actor
from crm.audit import snapshot
from crm.errors import ValidationError
from crm.models import ROLES, Company, Member
from crm.parsing import format_money, parse_choice, parse_money
from crm.tenancy import fetch

TIERS_HINT = "tiers=20k,50k,100k (silver, gold and platinum lower bounds)"
DIGEST_HINT = "digest #sales or digest off"


def undo_receipt(text: str, change_id: str) -> list[Block]:
    """A receipt whose subject is not a record reference (a member, the company)."""
    return [
        section(f":white_check_mark: {text}"),
        actions(button("Undo", UNDO_ACTION, change_id), block_id=f"receipt:{change_id}"[:255]),
    ]


# --- /crm role ----------------------------------------------------------------------------------


@handles("role")
def role(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    permissions.require(actor, "manage_roles")
    new_role = parse_choice(cmd.args["role"], "role", ROLES)
    member = fetch(Member, actor, member_id(ctx, cmd.args["user"], "user"), "member")
    mention = f"<@{member.slack_user_id}>"
    if member.role == new_role:
        text = f"{mention} already is {new_role}; nothing changed."
        notification = f"{member.name or 'The member'} already is {new_role}; nothing changed."
        return ephemeral([section(f":information_source: {text}")], notification)
    old_role = member.role
    changed = companies.set_role(actor, member.id, new_role)
    text = f"{mention} is now {new_role} (was {old_role})."
    notification = f"{member.name or 'The member'} is now {new_role} (was {old_role})."
    return ephemeral(undo_receipt(text, changed.change_id), notification)


# --- /crm settings ------------------------------------------------------------------------------


def parse_tiers(text: str) -> tuple[Decimal, Decimal, Decimal]:
    """``20k,50k,100k`` -> three amounts; whether they rise is the service's rule."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ValidationError("tiers", f'"{text[:40]}" is not three amounts', hint=TIERS_HINT)
    silver, gold, platinum = (parse_money(p, "tiers") for p in parts)
    return silver, gold, platinum


def settings_changes(cmd: Command) -> dict[str, Any]:
    """Keyword arguments of :func:`crm.companies.update_settings` from the command's words."""
    changes: dict[str, Any] = {}
    channel = cmd.args.get("channel")
    if cmd.args.get("digest") and channel is None:
        raise ValidationError(
            "digest", "which channel should get the weekly digest?", hint=DIGEST_HINT
        )
    if channel is not None:
        changes["digest_channel"] = "" if channel == "off" else channel
    o = cmd.options
    if "currency" in o:
        changes["currency"] = o["currency"]
    if "tiers" in o:
        changes["tiers"] = parse_tiers(o["tiers"])
    if "timezone" in o:
        changes["timezone"] = o["timezone"]
    if "region" in o:
        changes["phone_region"] = o["region"]
    if "discount" in o:
        changes["clv_discount"] = o["discount"]
    return changes


def settings_blocks(company: Company) -> list[Block]:
    from crm.insight.clv import clv_discount  # numpy and scipy load with the first use

    silver, gold, platinum = customer_value.tier_thresholds(company)
    money = company.currency
    tiers = " · ".join(
        f"{name} from {format_money(amount, money)}"
        for name, amount in (("silver", silver), ("gold", gold), ("platinum", platinum))
    )
    digest = f"<#{company.digest_channel}>" if company.digest_channel else "off"
    return [
        fields_section(
            [
                ("Currency", escape(company.currency)),
                ("Weekly pipeline digest", digest),
                ("Time zone", escape(company.timezone)),
                ("Phone region", escape(company.phone_region)),
                ("Customer tiers", tiers),
                (
                    "Lifetime-value discount",
                    f"{clv_discount(company):.2%} a month".replace(".00%", "%"),
                ),
            ]
        ),
        context(
            f"Admins change these with `/crm settings [{DIGEST_HINT}] [currency=ZMW] "
            "[tiers=20k,50k,100k] [timezone=Africa/Lusaka] [region=ZM] [discount=1%]`"
        ),
    ]


@handles("settings")
def settings(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    if not cmd.args and not cmd.options:
        company = companies.get_company(actor)
        blocks = [section("*Company settings*"), *settings_blocks(company)]
        return ephemeral(blocks, f"Company settings: currency {company.currency}")
    permissions.require(actor, "manage_settings")
    before = snapshot(companies.get_company(actor))
    company = companies.update_settings(actor, **settings_changes(cmd))
    if snapshot(company) == before:  # nothing was written, so there is nothing to undo
        text = "Those are the settings already; nothing changed."
        return ephemeral([section(f":information_source: {text}"), *settings_blocks(company)], text)
    text = "Settings updated."
    return ephemeral([*undo_receipt(text, company.change_id), *settings_blocks(company)], text)
