"""``/crm customer C3``, ``/crm customer add ...`` and ``/crm order C3 amount=...``: customers
and their purchases (which feed lifetime value, tier and churn risk through crm.customer_value)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.blocks.common import ephemeral
from bot.blocks.customers import customer_card, duplicate_blocks
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import as_typed, written
from bot.listeners.commands.values import member_id, ref_id
from crm import cards, customers
from crm.acting import Actor
from crm.clock import utcnow
from crm.duplicates import DuplicateFound
from crm.parsing import format_money, parse_date, parse_money
from crm.tenancy import ref_label


@handles("customer", "show")
def show(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    card = cards.customer_card(actor, ref_id(cmd.args["ref"], "customer"))
    blocks = customer_card(card, ctx.company.currency)
    return ephemeral(blocks, f"{card.ref} {card.record.name}")


def customer_fields(cmd: Command, ctx: CommandContext) -> dict[str, Any]:
    """Keyword arguments of :func:`crm.customers.create_customer`."""
    o = cmd.options
    fields: dict[str, Any] = {"name": cmd.args["name"]}
    for option, name in (
        ("email", "email"),
        ("phone", "phone"),
        ("company", "company_name"),
        ("industry", "industry"),
    ):
        if option in o:
            fields[name] = o[option]
    if "tags" in o:
        fields["tags"] = [t for t in o["tags"].split(",") if t.strip()]
    if "assign" in o:
        fields["assigned_to_id"] = member_id(ctx, o["assign"], "assign")
    return fields


def create(
    actor: Actor, ctx: CommandContext, cmd: Command, key: str, *, allow_duplicate: bool = False
) -> Reply:
    """Create the customer, or offer "Use C3" / "Create anyway" when it looks like a twin;
    Create anyway runs this again with ``allow_duplicate`` under ``key:anyway``."""
    try:
        with as_typed({"company_name": "company"}):
            customer = customers.create_customer(
                actor,
                **customer_fields(cmd, ctx),
                idempotency_key=key,
                allow_duplicate=allow_duplicate,
            )
    except DuplicateFound as dup:
        again = json.dumps({"text": cmd.text, "key": f"{key}:anyway"})
        return ephemeral(duplicate_blocks(dup, again if len(again) <= 2000 else None), dup.message)
    label = ref_label("customer", customer.id)
    return written(label, customer.name, customer.change_id, "Created", "already created")


@handles("customer", "add")
def add(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    # trigger_id is unique per invocation: a retried delivery of the same command replays
    return create(actor, ctx, cmd, f"slack:cmd:{ctx.trigger_id or ctx.request_id}")


def ordered_at(text: str, tz: str) -> datetime | None:
    """``date=`` is a day in the member's zone: today means now (so the order is not in the
    future before 09:00), another day means noon there (clear of midnight in any zone)."""
    day = parse_date(text, "date", tz)
    zone = ZoneInfo(tz or "UTC")
    if day == utcnow().replace(tzinfo=UTC).astimezone(zone).date():
        return None
    return datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


@handles("order")
def order(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    o = cmd.options
    amount = parse_money(o["amount"], "amount")
    cost = parse_money(o["cost"], "cost") if "cost" in o else None
    moment = ordered_at(o["date"], actor.tz) if "date" in o else None
    with as_typed({"ordered_at": "date"}):
        placed = customers.add_order(
            actor,
            ref_id(cmd.args["ref"], "customer"),
            amount=amount,
            cost=cost,
            ordered_at=moment,
            external_ref=o.get("ref"),
        )
    money = format_money(placed.amount, ctx.company.currency)
    label = ref_label("customer", placed.customer_id)
    on = f"{placed.ordered_at:%Y-%m-%d}"
    if not placed.created:
        return written(label, f"order {placed.external_ref}", None, "", "already recorded")
    ref = f" · ref {placed.external_ref}" if placed.external_ref else ""
    return written(
        label,
        "",
        placed.change_id,
        f"Recorded an order of {money} for",
        "nothing changed",
        detail=f"ordered {on}{ref} · lifetime value and tier refreshed",
    )
