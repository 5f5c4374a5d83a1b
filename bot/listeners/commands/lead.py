"""``/crm lead ...`` handlers: parse the words, call :mod:`crm.leads`, render."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    ephemeral,
    escape,
    fields_section,
    receipt,
    section,
)
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.values import member_id, ref_id
from crm import leads
from crm.actors import Actor
from crm.duplicates import DuplicateFound
from crm.models import Lead
from crm.parsing import format_money, parse_money, parse_percent
from crm.tenancy import ref_label

USE_EXISTING_ACTION = "lead_use_existing"
CREATE_ANYWAY_ACTION = "lead_create_anyway"


def lead_fields(cmd: Command, ctx: CommandContext) -> dict[str, Any]:
    """Keyword arguments of :func:`crm.leads.create_lead` from ``/crm lead add`` words."""
    o = cmd.options
    fields: dict[str, Any] = {"name": cmd.args["name"]}
    for option, name in (("email", "email"), ("phone", "phone"), ("company", "company_name")):
        if option in o:
            fields[name] = o[option]
    for option in ("source", "priority"):
        if option in o:
            fields[option] = o[option]
    if "value" in o:
        fields["estimated_value"] = parse_money(o["value"], "value")
    if "prob" in o:
        fields["probability"] = parse_percent(o["prob"], "prob")
    if "assign" in o:
        fields["assigned_to_id"] = member_id(ctx, o["assign"], "assign")
    return fields


def create(
    actor: Actor, ctx: CommandContext, cmd: Command, key: str, *, allow_duplicate: bool = False
) -> Reply:
    try:
        lead = leads.create_lead(
            actor, **lead_fields(cmd, ctx), idempotency_key=key, allow_duplicate=allow_duplicate
        )
    except DuplicateFound as dup:
        return duplicates_reply(dup, cmd.text, key)
    label = ref_label("lead", lead.id)
    return ephemeral(receipt(label, lead.name, lead.change_id), f"Created {label} {lead.name}")


def duplicates_reply(dup: DuplicateFound, text: str, key: str) -> Reply:
    """SPEC 5.1: offer "Use L12" / "Create anyway" instead of creating a twin."""
    blocks: list[Block] = [section(":mag: This looks like a lead or customer you already have:")]
    for candidate in dup.candidates[:5]:
        blocks.append(
            section(
                f"*{candidate.ref}* {escape(candidate.record.name)} "
                f"({escape(', '.join(candidate.reasons))})",
                accessory=button(f"Use {candidate.ref}", USE_EXISTING_ACTION, candidate.ref),
            )
        )
    again = json.dumps({"text": text, "key": f"{key}:anyway"})
    if len(again) <= 2000:
        blocks.append(actions(button("Create anyway", CREATE_ANYWAY_ACTION, again)))
    else:
        blocks.append(context("Add a detail that tells them apart and try again."))
    return ephemeral(blocks, dup.message)


@handles("lead", "add")
def add(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    # trigger_id is unique per invocation: a retried delivery of the same command replays
    return create(actor, ctx, cmd, f"slack:cmd:{ctx.trigger_id or ctx.request_id}")


def lead_card(lead: Lead, currency: str) -> list[Block]:
    label = ref_label("lead", lead.id)
    value = format_money(lead.estimated_value, currency) if lead.estimated_value else "—"
    assignee = f"<@{lead.assigned_to.slack_user_id}>" if lead.assigned_to_id else "nobody"
    return [
        section(f"*{label}* {escape(lead.name)}"),
        fields_section(
            [
                ("Status", lead.status),
                ("Priority", lead.priority),
                ("Value", value),
                ("Probability", f"{lead.probability}%" if lead.probability is not None else "—"),
                ("Email", escape(lead.email or "—")),
                ("Phone", escape(lead.phone or "—")),
                ("Company", escape(lead.company_name or "—")),
                ("Assigned to", assignee),
            ]
        ),
        context(f"source {lead.source}"),
    ]


@handles("lead", "show")
def show(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    lead = leads.get_lead(actor, ref_id(cmd.args["ref"], "lead"))
    label = ref_label("lead", lead.id)
    return ephemeral(lead_card(lead, ctx.company.currency), f"{label} {lead.name}")
