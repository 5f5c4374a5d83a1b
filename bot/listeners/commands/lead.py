"""``/crm lead ...`` handlers: parse the words, call :mod:`crm.leads` (or read a card from
:mod:`crm.cards`), render with :mod:`bot.blocks.leads`."""

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
    receipt,
    section,
)
from bot.blocks.leads import lead_card, lead_row
from bot.blocks.lists import PAGE_SIZE, paged_list
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import pager, whose, written
from bot.listeners.commands.values import member_id, ref_id
from crm import cards, leads
from crm.acting import Actor
from crm.duplicates import DuplicateFound
from crm.parsing import parse_money, parse_percent
from crm.tenancy import ref_label

USE_EXISTING_ACTION = "lead_use_existing"
CREATE_ANYWAY_ACTION = "lead_create_anyway"
UNASSIGN = ("none", "nobody")
ME = ("me", "mine")


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


@handles("lead", "show")
def show(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    card = cards.lead_card(actor, ref_id(cmd.args["ref"], "lead"))
    return ephemeral(lead_card(card, ctx.company.currency), f"{card.ref} {card.record.name}")


@handles("lead", "list")
def list_leads(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return lead_page(cmd, actor, ctx, 0)


@pager("lead", "list")
def lead_page(cmd: Command, actor: Actor, ctx: CommandContext, offset: int) -> Reply:
    found = leads.list_leads(
        actor,
        status=cmd.args.get("status"),
        assigned_to_id=whose(cmd, ctx),
        source=cmd.options.get("source"),
        sort=cmd.options.get("sort"),
        limit=PAGE_SIZE + 1,
        offset=offset,
    )
    people = cards.people_of(actor, {lead.assigned_to_id for lead in found})
    currency = ctx.company.currency
    by_score = cmd.options.get("sort") == "score"
    scores: dict[int, int] = {}
    if by_score:
        from crm.insight.leadscore import lead_scores  # numpy loads with the first use

        scores = lead_scores(actor, [lead.id for lead in found])
    rows = [
        lead_row(lead, people.get(lead.assigned_to_id), currency, scores.get(lead.id))
        for lead in found
    ]
    blocks = paged_list(
        "Leads, highest score first" if by_score else "Leads, most urgent first",
        rows,
        offset=offset,
        has_more=len(found) > PAGE_SIZE,
        command_text=cmd.text,
        empty="No leads match; /crm lead add creates one.",
        hint="`/crm lead L12` opens one.",
    )
    return ephemeral(blocks, f"{len(rows[:PAGE_SIZE])} leads")


@handles("lead", "status")
def status(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    lead = leads.set_lead_status(
        actor,
        ref_id(cmd.args["ref"], "lead"),
        cmd.args["status"],
        reason=cmd.options.get("reason"),
    )
    label = ref_label("lead", lead.id)
    return written(
        label, f"{lead.name} → {lead.status}", lead.change_id, "Moved", "nothing changed"
    )


@handles("lead", "assign")
def assign(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    who = cmd.args["user"]
    assignee = None if who.lower() in UNASSIGN else member_id(ctx, who, "user")
    lead = leads.assign_lead(actor, ref_id(cmd.args["ref"], "lead"), assignee)
    label = ref_label("lead", lead.id)
    whom = "nobody" if assignee is None else f"<@{ctx.user_id if who.lower() in ME else who}>"
    return written(
        label, lead.name, lead.change_id, "Reassigned", "nothing changed", detail=f"now {whom}"
    )


@handles("lead", "convert")
def convert(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    lead_id = ref_id(cmd.args["ref"], "lead")
    customer = leads.convert_lead(actor, lead_id)
    label = ref_label("customer", customer.id)
    return written(
        ref_label("lead", lead_id),
        f"{customer.name} to customer {label}",
        customer.change_id,
        "Converted",
        "nothing changed",
    )
