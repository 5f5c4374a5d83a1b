"""``/crm segment add "Name" <criteria>``, ``/crm segment list``, ``/crm segment S2``.

The criteria words are parsed by :func:`crm.segments.parse_criteria_text` (the same grammar
as everywhere), after the Slack grammar has unwrapped them; a quoted value
(``industry="real estate"``) is quoted again here, because the grammar hands the trailing
words over without their quotes.
"""

from __future__ import annotations

import re
import shlex

from bot.blocks.common import ephemeral
from bot.blocks.segments import (
    SAMPLE_SIZE,
    segment_blocks,
    segment_list_blocks,
    segment_receipt,
)
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.values import ref_id
from crm import segments
from crm.acting import Actor
from crm.tenancy import ref_label

_CRITERION_RE = re.compile(r"(?P<head>[a-z_]+\s*(?:>=|<=|=>|=<|>|<|=))(?P<value>.*)", re.I | re.S)


def criteria_words(rest: tuple[str, ...]) -> str:
    """The trailing words as one criteria text, each value quoted again where the shell-like
    split of :func:`~crm.segments.parse_criteria_text` would otherwise cut it (spaces,
    apostrophes)."""
    words = []
    for word in rest:
        match = _CRITERION_RE.fullmatch(word)
        words.append(match["head"] + shlex.quote(match["value"]) if match else shlex.quote(word))
    return " ".join(words)


@handles("segment", "add")
def add(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    criteria = segments.parse_criteria_text(criteria_words(cmd.rest))
    segment = segments.create_segment(actor, name=cmd.args["name"], criteria=criteria)
    label = ref_label("segment", segment.id)
    return ephemeral(
        segment_receipt(segment),
        f"Created {label} {segment.name}: {segment.customer_count} customers",
    )


@handles("segment", "list")
def list_(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    found = segments.list_segments(actor, limit=100)
    return ephemeral(segment_list_blocks(found), f"{len(found)} segment(s)")


@handles("segment", "show")
def show(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    sid = ref_id(cmd.args["ref"], "segment")
    found = segments.sample_segment(actor, sid, SAMPLE_SIZE)
    segment, count = found.segment, found.count
    label = ref_label("segment", segment.id)
    return ephemeral(
        segment_blocks(segment, count, found.customers, ctx.company.currency),
        f"{label} {segment.name}: {count} customers",
    )
