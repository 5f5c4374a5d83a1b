"""Block Kit for opportunities: the card with its stage buttons, list rows, and the receipt
line of a won deal. Pure functions of a :class:`crm.cards.Card`: no queries."""

from __future__ import annotations

import json

from bot.blocks.common import Block, actions, button, edit_button, escape, fields_section, section
from bot.blocks.leads import OPEN_RECORD
from bot.blocks.lists import Row, activity_blocks, person
from crm.cards import Card
from crm.models import OPEN_STAGES, Opportunity
from crm.opportunities import weighted_amount
from crm.parsing import format_money
from crm.tenancy import ref_label

OPP_STAGE = "opp_stage"  # answered by bot/listeners/actions/records.py
STAGE_LABELS = {
    "prospecting": "Prospecting",
    "qualification": "Qualification",
    "proposal": "Proposal",
    "negotiation": "Negotiation",
    "closed_won": "Won",
    "closed_lost": "Lost",
}


def stage_value(opp_id: int, stage: str) -> str:
    """The value of a stage button: ``{"ref": "O7", "stage": "proposal"}``."""
    return json.dumps({"ref": ref_label("opportunity", opp_id), "stage": stage})


def stage_buttons(opp: Opportunity) -> list[Block]:
    """Buttons to move an open (or reopen a lost) deal to the other open stages; a won deal
    has none (its order stands; Undo reverts a mistaken win).

    One actions block per button: Slack refuses a block whose elements share an action_id,
    and the stage handler listens to the one ``opp_stage`` id (the stage rides in the value).
    """
    if opp.stage == "closed_won":
        return []
    return [
        actions(
            button(f"→ {STAGE_LABELS[s]}", OPP_STAGE, stage_value(opp.id, s)),
            block_id=f"opp_stage:{opp.id}:{s}",
        )
        for s in OPEN_STAGES
        if s != opp.stage
    ]


def _of(card: Card) -> tuple[str, Block | None]:
    """Whom the deal is for, and a button that opens that record."""
    for record, kind in ((card.customer, "customer"), (card.lead, "lead")):
        if record is not None:
            label = ref_label(kind, record.id)
            return f"{label} {escape(record.name)}", button(f"Open {label}", OPEN_RECORD, label)
    return "—", None


def opportunity_card(card: Card, currency: str) -> list[Block]:
    opp: Opportunity = card.record
    weighted = weighted_amount(opp.amount, opp.probability)
    pairs = [
        ("Stage", STAGE_LABELS.get(opp.stage, opp.stage)),
        ("Amount", format_money(opp.amount, currency)),
        ("Probability", f"{opp.probability}%" + ("" if opp.probability_explicit else " (stage)")),
        ("Weighted", format_money(weighted, currency)),
        ("Expected close", str(opp.expected_close_date or "—")),
        ("Assigned to", person(card.person(opp.assigned_to_id))),
    ]
    if opp.actual_close_date:
        pairs.append(("Closed on", str(opp.actual_close_date)))
    whom, open_button = _of(card)
    blocks: list[Block] = [
        section(f":moneybag: *{card.ref}* {escape(opp.name)}", accessory=edit_button(card.ref)),
        fields_section(pairs),
        section(f"*For* {whom}", accessory=open_button),
    ]
    if opp.stage == "closed_lost" and opp.loss_reason:
        blocks.append(section(f"*Lost because*\n> {escape(opp.loss_reason[:500])}"))
    blocks += stage_buttons(opp)
    blocks += activity_blocks(card)
    return blocks


def opportunity_list_row(opp: Opportunity, assignee: str | None, currency: str) -> Row:
    """One deal in ``/crm opp list``."""
    parts = [
        f"*{ref_label('opportunity', opp.id)}* {escape(opp.name)}",
        STAGE_LABELS.get(opp.stage, opp.stage),
        f"{format_money(opp.amount, currency)} ({opp.probability}%)",
    ]
    if opp.expected_close_date and opp.stage in OPEN_STAGES:
        parts.append(f"close {opp.expected_close_date}")
    parts.append(person(assignee))
    return Row(" · ".join(parts))
