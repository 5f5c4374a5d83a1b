"""``/crm audit <ref>``: the record's history from :func:`crm.audit.history`, a page at a time.

A record that was deleted (an undone create, say) still has a history, so the answer is built
from the audit rows alone; no rows in the member's company reads "not found" (rule 8: another
company's record looks exactly like a missing one). The Newer/Older buttons
(:mod:`bot.listeners.actions.audit`) call :func:`audit_page` with another offset.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.audit import PAGE_SIZE, audit_blocks, member_ids
from bot.blocks.common import ephemeral
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from crm import companies
from crm.acting import Actor
from crm.audit import history
from crm.errors import NotFound, ValidationError
from crm.parsing import parse_ref

MAX_OFFSET = 1000  # history is read newest first; a page this deep is a job for the API


def audit_page(actor: Actor, ref_text: str, offset: int, currency: str) -> dict[str, Any]:
    """One page of ``ref_text``'s history as an ephemeral message."""
    ref = parse_ref(ref_text, "ref")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ValidationError("offset", f"must be 0-{MAX_OFFSET}", hint="/crm audit L12")
    rows = history(actor, ref.kind, ref.id, limit=offset + PAGE_SIZE + 1)
    page = rows[offset : offset + PAGE_SIZE]
    if not page:
        if offset == 0:
            raise NotFound(f"{ref} not found")
        raise NotFound(f"{ref} has no older changes")
    slack_ids = companies.slack_user_ids(actor, member_ids(page))
    blocks = audit_blocks(
        ref=str(ref),
        rows=page,
        offset=offset,
        has_more=len(rows) > offset + PAGE_SIZE,
        tz=actor.tz,
        currency=currency,
        slack_ids=slack_ids,
    )
    return ephemeral(blocks, f"History of {ref}: {len(page)} changes")


@handles("audit")
def audit(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return audit_page(actor, cmd.args["ref"], 0, ctx.company.currency)
