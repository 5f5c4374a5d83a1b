"""``/crm log call|email|meeting|note <ref> "text" [in|out] [15m] [at=...]``: one
communication on a lead, customer or opportunity (rule 6 moves "last contacted" there)."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import truncate
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import as_typed, written
from crm import communications
from crm.acting import Actor
from crm.parsing import parse_datetime, parse_duration, parse_ref

SUBJECT_KINDS = ("lead", "customer", "opportunity")
DIRECTIONS = {"in": "inbound", "out": "outbound", "inbound": "inbound", "outbound": "outbound"}


def log_fields(cmd: Command, actor: Actor) -> dict[str, Any]:
    """Keyword arguments of :func:`crm.communications.log_communication`."""
    subject = parse_ref(cmd.args["ref"], "ref", kinds=SUBJECT_KINDS)
    fields: dict[str, Any] = {
        "subject_type": subject.kind,
        "subject_id": subject.id,
        "type": cmd.args["type"],
        "content": cmd.args["text"],
        "direction": DIRECTIONS[cmd.args.get("direction", "out")],
    }
    if "duration" in cmd.args:
        fields["duration_minutes"] = parse_duration(cmd.args["duration"], "duration")
    if "at" in cmd.options:
        fields["communicated_at"] = parse_datetime(cmd.options["at"], "at", actor.tz)
    return fields


@handles("log", "add")
def log(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    fields = log_fields(cmd, actor)
    with as_typed({"content": "text"}):
        comm = communications.log_communication(actor, **fields)
    label = str(parse_ref(cmd.args["ref"], "ref", kinds=SUBJECT_KINDS))
    way = "in" if comm.direction == "inbound" else "out"
    minutes = f" · {comm.duration_minutes} min" if comm.duration_minutes else ""
    return written(
        label,
        f'"{truncate(" ".join(comm.content.split()), 150)}"',
        comm.change_id,
        f"Logged {comm.type} ({way}{minutes}) on",
        "nothing changed",
    )
