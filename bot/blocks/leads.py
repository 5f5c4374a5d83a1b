"""Block Kit for leads: the card (``/crm lead L12``, the "open record" button) and list rows.

Pure functions of a :class:`crm.cards.Card` (or a lead plus the people map): no queries.
"""

from __future__ import annotations

from bot.blocks.common import Block, button, context, edit_button, escape, fields_section, section
from bot.blocks.followups import when
from bot.blocks.insight import lead_score_blocks
from bot.blocks.lists import Row, activity_blocks, person
from crm.cards import Card
from crm.models import Lead, Opportunity
from crm.parsing import format_money
from crm.tenancy import ref_label

OPEN_RECORD = "open_record"  # answered by bot/listeners/actions/records.py (value "L12")

_STATUS_ICONS = {
    "new": ":new:",
    "contacted": ":speech_balloon:",
    "qualified": ":dart:",
    "won": ":trophy:",
    "lost": ":x:",
}


def _money(amount: object, currency: str) -> str:
    return format_money(amount, currency) if amount else "—"  # type: ignore[arg-type]


def opportunity_row(opp: Opportunity, assignee: str | None, currency: str) -> Row:
    """A deal under a lead or customer card, with a button that opens it."""
    label = ref_label("opportunity", opp.id)
    text = (
        f"*{label}* {escape(opp.name)} · {opp.stage} · {_money(opp.amount, currency)} "
        f"({opp.probability}%) · {person(assignee)}"
    )
    return Row(text, button("Open", OPEN_RECORD, label))


def lead_card(card: Card, currency: str) -> list[Block]:
    lead: Lead = card.record
    icon = _STATUS_ICONS.get(lead.status, "")
    blocks: list[Block] = [
        section(f"{icon} *{card.ref}* {escape(lead.name)}", accessory=edit_button(card.ref)),
        fields_section(
            [
                ("Status", lead.status),
                ("Priority", lead.priority),
                ("Value", _money(lead.estimated_value, currency)),
                ("Probability", f"{lead.probability}%" if lead.probability is not None else "—"),
                ("Email", escape(lead.email or "—")),
                ("Phone", escape(lead.phone or "—")),
                ("Company", escape(lead.company_name or "—")),
                ("Assigned to", person(card.person(lead.assigned_to_id))),
            ]
        ),
    ]
    notes = [f"source {lead.source}"]
    if lead.last_contacted_at:
        notes.append(f"last contacted {when(lead.last_contacted_at, '{date_short}')}")
    if lead.tags:
        notes.append("tags " + escape(", ".join(lead.tags)))
    blocks.append(context(" · ".join(notes)))
    blocks += lead_score_blocks(card.insight)
    if lead.status == "lost" and lead.lost_reason:
        blocks.append(section(f"*Lost because*\n> {escape(lead.lost_reason[:500])}"))
    if card.customer is not None:
        customer_ref = ref_label("customer", card.customer.id)
        blocks.append(
            section(
                f":handshake: Converted to *{customer_ref}* {escape(card.customer.name)}",
                accessory=button(f"Open {customer_ref}", OPEN_RECORD, customer_ref),
            )
        )
    return blocks + related_blocks(card, currency)


def related_blocks(card: Card, currency: str) -> list[Block]:
    """What a lead or customer card shows under its details: recent communications, open
    follow-ups and the record's opportunities."""
    blocks = activity_blocks(card)
    if card.opportunities:
        blocks.append(section("*Opportunities*"))
        for opp in card.opportunities:
            row = opportunity_row(opp, card.person(opp.assigned_to_id), currency)
            blocks.append(section(row.text, accessory=row.accessory))
    return blocks


def lead_row(lead: Lead, assignee: str | None, currency: str, score: int | None = None) -> Row:
    """One lead in ``/crm lead list`` (with its lead score when the list is sorted by it)."""
    flag = " :red_circle:" if lead.priority == "high" else ""
    parts = [
        f"*{ref_label('lead', lead.id)}* {escape(lead.name)}{flag}",
        *([f"score {score}"] if score is not None else []),
        lead.status,
        _money(lead.estimated_value, currency),
        person(assignee),
    ]
    if lead.company_name:
        parts.append(escape(lead.company_name))
    return Row(" · ".join(parts))
