"""Block Kit for ``/crm segment ...``: receipts, the list, and one segment with a sample of its
customers. Criteria are shown in the form members type them (``tier=gold,platinum
ltv>=20000 last_purchase>90d``), so what the bot shows can be typed back."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bot.blocks.common import Block, context, edit_button, escape, fields_section, receipt, section
from crm.models import CustomerSegment
from crm.parsing import format_money
from crm.segments import SampleCustomer
from crm.tenancy import ref_label

__all__ = [
    "SampleCustomer",
    "criteria_text",
    "segment_blocks",
    "segment_list_blocks",
    "segment_receipt",
]

SAMPLE_SIZE = 10
_TYPED = {
    "churn_risk": "churn",
    "lifetime_value": "ltv",
    "days_since_last_purchase": "last_purchase",
}
_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def _value(key: str, value: Any) -> str:
    text = f"{value}d" if key == "days_since_last_purchase" else str(value)
    if key == "lifetime_value":  # stored as "20000.00"; typed as 20000
        amount = Decimal(str(value))
        text = str(int(amount)) if amount == amount.to_integral_value() else str(amount)
    return f'"{text}"' if " " in text else text


def criteria_text(criteria: dict[str, Any]) -> str:
    """The stored (validated) criteria as command words."""
    parts = []
    for key, value in criteria.items():
        word = _TYPED.get(key, key)
        if isinstance(value, dict):
            parts += [f"{word}{_OPS.get(op, op)}{_value(key, v)}" for op, v in value.items()]
        elif isinstance(value, list):
            parts.append(f"{word}={','.join(_value(key, v) for v in value)}")
        else:
            parts.append(f"{word}={_value(key, value)}")
    return " ".join(parts)


def _customers(count: int) -> str:
    return f"{count} customer{'' if count == 1 else 's'}"


def segment_receipt(segment: CustomerSegment) -> list[Block]:
    label = ref_label("segment", segment.id)
    return [
        *receipt(label, segment.name, segment.change_id),
        context(
            f"{_customers(segment.customer_count)} match now · "
            f"`{escape(criteria_text(segment.criteria))}`"
        ),
    ]


def segment_list_blocks(segments: Sequence[CustomerSegment]) -> list[Block]:
    if not segments:
        return [
            section(
                'No segments yet. Create one: `/crm segment add "Gold at risk" tier=gold churn=high`'
            )
        ]
    lines = [
        f"*{ref_label('segment', s.id)}* {escape(s.name)} · {_customers(s.customer_count)} · "
        f"`{escape(criteria_text(s.criteria))}`"
        for s in segments
    ]
    blocks: list[Block] = [section(":busts_in_silhouette: *Segments*")]
    for i in range(0, len(lines), 10):  # ten per section keeps each far below 3000 characters
        blocks.append(section("\n".join(lines[i : i + 10])))
    blocks.append(context("Counts as of the last recount · `/crm segment S2` for the customers"))
    return blocks


def segment_blocks(
    segment: CustomerSegment, count: int, sample: Sequence[SampleCustomer], currency: str
) -> list[Block]:
    label = ref_label("segment", segment.id)
    blocks: list[Block] = [
        section(
            f":busts_in_silhouette: *{label}* {escape(segment.name)}", accessory=edit_button(label)
        ),
        fields_section(
            [
                ("Criteria", f"`{escape(criteria_text(segment.criteria))}`"),
                ("Customers now", str(count)),
            ]
        ),
    ]
    if segment.description:
        blocks.append(context(escape(segment.description[:500])))
    if sample:
        lines = [
            f"*{ref_label('customer', c.id)}* {escape(c.name)} · {c.tier} · "
            f"{format_money(c.lifetime_value, currency)}"
            for c in sample
        ]
        blocks.append(section("\n".join(lines)))
        if count > len(sample):
            blocks.append(context(f"First {len(sample)} of {count}, by name"))
    else:
        blocks.append(context("No customer matches these criteria right now."))
    return blocks
