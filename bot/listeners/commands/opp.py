"""``/crm opp ...`` handlers: parse the words, call :mod:`crm.opportunities` (or read a card
from :mod:`crm.cards`), render with :mod:`bot.blocks.opportunities`."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import ephemeral
from bot.blocks.lists import PAGE_SIZE, paged_list
from bot.blocks.opportunities import STAGE_LABELS, opportunity_card, opportunity_list_row
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import as_typed, pager, whose, written
from bot.listeners.commands.values import member_id, ref_id
from crm import cards, opportunities
from crm.acting import Actor
from crm.errors import ValidationError
from crm.parsing import format_money, parse_date, parse_money, parse_percent
from crm.tenancy import ref_label


def _label(opp: Any) -> str:
    return ref_label("opportunity", opp.id)


def opp_fields(cmd: Command, actor: Actor, ctx: CommandContext) -> dict[str, Any]:
    """Keyword arguments of :func:`crm.opportunities.create_opportunity`."""
    o = cmd.options
    if ("customer" in o) == ("lead" in o):
        raise ValidationError(
            "customer", "give exactly one customer or lead", hint="customer=C3 or lead=L12"
        )
    fields: dict[str, Any] = {
        "name": cmd.args["name"],
        "amount": parse_money(o["amount"], "amount"),
    }
    if "customer" in o:
        fields["customer_id"] = ref_id(o["customer"], "customer", "customer")
    else:
        fields["lead_id"] = ref_id(o["lead"], "lead", "lead")
    if "prob" in o:
        fields["probability"] = parse_percent(o["prob"], "prob")
    if "stage" in o:
        fields["stage"] = o["stage"]
    if "close" in o:
        fields["expected_close_date"] = parse_date(o["close"], "close", actor.tz)
    if "assign" in o:
        fields["assigned_to_id"] = member_id(ctx, o["assign"], "assign")
    return fields


@handles("opp", "add")
def add(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    fields = opp_fields(cmd, actor, ctx)
    # trigger_id is unique per invocation: a retried delivery of the same command replays
    key = f"slack:cmd:{ctx.trigger_id or ctx.request_id}"
    with as_typed({"probability": "prob", "expected_close_date": "close"}):
        opp = opportunities.create_opportunity(actor, **fields, idempotency_key=key)
    money = format_money(opp.amount, ctx.company.currency)
    return written(
        _label(opp),
        opp.name,
        opp.change_id,
        "Created",
        "already created",
        detail=f"{STAGE_LABELS[opp.stage]} · {money} · {opp.probability}%",
    )


@handles("opp", "show")
def show(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    card = cards.opportunity_card(actor, ref_id(cmd.args["ref"], "opportunity"))
    blocks = opportunity_card(card, ctx.company.currency)
    return ephemeral(blocks, f"{card.ref} {card.record.name}")


@handles("opp", "list")
def list_opps(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return opp_page(cmd, actor, ctx, 0)


@pager("opp", "list")
def opp_page(cmd: Command, actor: Actor, ctx: CommandContext, offset: int) -> Reply:
    """Open deals unless a stage is named (``closed_won`` lists the won ones), newest first."""
    stage = cmd.args.get("stage")
    found = opportunities.list_opportunities(
        actor,
        stage=stage,
        open_only=stage is None,
        assigned_to_id=whose(cmd, ctx),
        limit=PAGE_SIZE + 1,
        offset=offset,
    )
    people = cards.people_of(actor, {o.assigned_to_id for o in found})
    currency = ctx.company.currency
    rows = [opportunity_list_row(o, people.get(o.assigned_to_id), currency) for o in found]
    title = f"Opportunities: {STAGE_LABELS[stage]}" if stage else "Open opportunities"
    blocks = paged_list(
        title,
        rows,
        offset=offset,
        has_more=len(found) > PAGE_SIZE,
        command_text=cmd.text,
        empty="None; /crm opp add creates one.",
        hint="`/crm opp O7` opens one.",
    )
    return ephemeral(blocks, f"{title}: {len(rows[:PAGE_SIZE])}")


@handles("opp", "stage")
def stage(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    opp = opportunities.move_stage(actor, ref_id(cmd.args["ref"], "opportunity"), cmd.args["stage"])
    return written(
        _label(opp),
        f"{opp.name} → {STAGE_LABELS[opp.stage]}",
        opp.change_id,
        "Moved",
        "already there; nothing changed",
        detail=f"probability now {opp.probability}%",
    )


@handles("opp", "won")
def won(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    o = cmd.options
    amount = parse_money(o["amount"], "amount") if "amount" in o else None
    day = parse_date(o["date"], "date", actor.tz) if "date" in o else None
    with as_typed({"close_date": "date"}):
        opp = opportunities.mark_won(
            actor, ref_id(cmd.args["ref"], "opportunity"), amount=amount, close_date=day
        )
    money = format_money(opp.amount, ctx.company.currency)
    customer = ref_label("customer", opp.customer_id)
    return written(
        _label(opp),
        f"{opp.name} as won",
        opp.change_id,
        "Closed",
        "nothing changed",
        detail=f"closed {opp.actual_close_date} · order of {money} recorded for {customer}",
    )


@handles("opp", "lost")
def lost(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    opp = opportunities.mark_lost(
        actor, ref_id(cmd.args["ref"], "opportunity"), reason=cmd.options["reason"]
    )
    return written(_label(opp), f"{opp.name} as lost", opp.change_id, "Closed", "nothing changed")
