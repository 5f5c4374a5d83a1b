"""``/crm find <words>``: leads, customers and opportunities matching what the member
remembers (:func:`crm.search.find_records`), best match first, a page at a time, each with
its ref and an Open button."""

from __future__ import annotations

from bot.blocks.common import button, ephemeral, escape
from bot.blocks.leads import OPEN_RECORD
from bot.blocks.lists import PAGE_SIZE, Row, paged_list
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import pager
from crm import search
from crm.acting import Actor
from crm.parsing import format_money
from crm.tenancy import ref_label

_NOUNS = {"lead": "lead", "customer": "customer", "opportunity": "deal"}


def found_row(found: search.Found, currency: str) -> Row:
    """``*L12* Jane Doe · lead · jane@doe.io · +260… · Doe & Co`` and an Open button."""
    r = found.record
    label = ref_label(found.kind, r.id)
    parts = [f"*{label}* {escape(r.name)}", _NOUNS[found.kind]]
    if found.kind == "opportunity":
        parts += [r.stage, format_money(r.amount, currency)]
    else:
        parts += [escape(v) for v in (r.email, r.phone, r.company_name) if v]
        if found.kind == "lead":
            parts.append(r.status)
    return Row(" · ".join(parts), button("Open", OPEN_RECORD, label))


@handles("find")
def find(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return find_page(cmd, actor, ctx, 0)


@pager("find")
def find_page(cmd: Command, actor: Actor, ctx: CommandContext, offset: int) -> Reply:
    text = " ".join(cmd.rest)
    found = search.find_records(actor, text, limit=PAGE_SIZE + 1, offset=offset)
    rows = [found_row(f, ctx.company.currency) for f in found]
    title = f'Found for "{text[:60]}"'
    blocks = paged_list(
        title,
        rows,
        offset=offset,
        has_more=len(found) > PAGE_SIZE,
        command_text=cmd.text,
        empty="nothing; try fewer or shorter words (the start of a name is enough)",
        hint="Each word must start a word of the name, email, phone or company.",
    )
    return ephemeral(blocks, f"{title}: {len(rows[:PAGE_SIZE])}")
