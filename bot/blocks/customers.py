"""Block Kit for customers: the card with lifetime value, tier and churn risk (rules 3, 4),
and the "looks like one you already have" answer of ``/crm customer add``."""

from __future__ import annotations

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    edit_button,
    escape,
    fields_section,
    section,
)
from bot.blocks.followups import when
from bot.blocks.insight import customer_outlook_blocks
from bot.blocks.leads import OPEN_RECORD, related_blocks
from bot.blocks.lists import person
from crm.cards import Card
from crm.duplicates import DuplicateFound
from crm.models import NO_METRICS_TIER, Customer, CustomerMetric
from crm.parsing import format_money
from crm.tenancy import ref_label

NO_PURCHASES = "no purchases"
USE_EXISTING_ACTION = "customer_use_existing"
CREATE_ANYWAY_ACTION = "customer_create_anyway"
_TIER_ICONS = {
    "bronze": ":3rd_place_medal:",
    "silver": ":2nd_place_medal:",
    "gold": ":1st_place_medal:",
    "platinum": ":gem:",
}


def customer_card(card: Card, currency: str) -> list[Block]:
    customer: Customer = card.record
    metric = card.metric
    orders = metric.order_count if metric else 0
    if metric is None or not orders:
        ltv, tier, churn, last = (
            format_money(0, currency),
            NO_METRICS_TIER,
            NO_PURCHASES,
            NO_PURCHASES,
        )
        average = "—"
    else:
        ltv = format_money(metric.lifetime_value, currency)
        tier, churn = metric.tier, metric.churn_risk or NO_PURCHASES
        last = when(metric.last_purchase_at, "{date_short}") if metric.last_purchase_at else "—"
        if metric.days_since_last_purchase is not None:
            last += f" ({metric.days_since_last_purchase} days ago)"
        average = format_money(metric.average_order_value, currency)
    blocks: list[Block] = [
        section(
            f"{_TIER_ICONS.get(tier, '')} *{card.ref}* {escape(customer.name)}",
            accessory=edit_button(card.ref),
        ),
        fields_section(
            [
                ("Lifetime value", ltv),
                ("Tier", tier),
                ("Churn risk", churn),
                ("Orders", f"{orders} · average {average}" if orders else "0"),
                ("Last purchase", last),
                ("Email", escape(customer.email or "—")),
                ("Phone", escape(customer.phone or "—")),
                ("Company", escape(customer.company_name or "—")),
                ("Assigned to", person(card.person(customer.assigned_to_id))),
            ]
        ),
    ]
    if metric is not None and orders:
        blocks.append(value_fields(metric, currency))
    blocks += customer_outlook_blocks(card.insight, currency)
    notes = []
    if customer.industry:
        notes.append(f"industry {escape(customer.industry)}")
    if customer.tags:
        notes.append("tags " + escape(", ".join(customer.tags)))
    if customer.unsubscribed:
        notes.append("unsubscribed from " + ", ".join(customer.unsubscribed))
    if notes:
        blocks.append(context(" · ".join(notes)))
    if card.lead is not None:
        lead_ref = ref_label("lead", card.lead.id)
        blocks.append(
            section(
                f"Came from lead *{lead_ref}* {escape(card.lead.name)}",
                accessory=button(f"Open {lead_ref}", OPEN_RECORD, lead_ref),
            )
        )
    return blocks + related_blocks(card, currency)


def value_fields(metric: CustomerMetric, currency: str) -> Block:
    """The rest of rule 3's figures (lifetime value, tier, churn risk, last purchase and the
    average order are in the card's first fields)."""
    margin = "—" if metric.profit_margin is None else f"{metric.profit_margin:.1f}%"
    first = when(metric.first_purchase_at, "{date_short}") if metric.first_purchase_at else "—"
    return fields_section(
        [
            ("Total revenue", format_money(metric.total_revenue, currency)),
            ("Total profit", format_money(metric.total_profit, currency)),
            ("Profit margin", margin),
            ("Purchase frequency", f"{metric.purchase_frequency:.2f} orders a month"),
            ("First purchase", first),
            ("Average order", format_money(metric.average_order_value, currency)),
        ]
    )


def duplicate_blocks(dup: DuplicateFound, again: str | None) -> list[Block]:
    """SPEC 5.1: offer "Use C3" / "Create anyway" instead of creating a twin. ``again`` is
    the Create anyway button's value (None when the command is too long to carry)."""
    blocks: list[Block] = [section(":mag: This looks like a customer you already have:")]
    for candidate in dup.candidates[:5]:
        blocks.append(
            section(
                f"*{candidate.ref}* {escape(candidate.record.name)} "
                f"({escape(', '.join(candidate.reasons))})",
                accessory=button(f"Use {candidate.ref}", USE_EXISTING_ACTION, candidate.ref),
            )
        )
    if again is not None:
        blocks.append(actions(button("Create anyway", CREATE_ANYWAY_ACTION, again)))
    else:
        blocks.append(context("Add a detail that tells them apart and try again."))
    return blocks
