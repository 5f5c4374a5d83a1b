"""``/crm lead``, ``/crm opp``, ``/crm log`` and ``/crm followup`` without arguments: they
open the matching modal (SPEC 5.1). The receipt of the submission comes back ephemeral in the
channel the command was typed in (:mod:`bot.listeners.views.submission`)."""

from __future__ import annotations

from bot.blocks.modals import (
    Origin,
    followup_modal,
    lead_modal,
    log_modal,
    opportunity_modal,
)
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.views.edit import edit_view
from crm.acting import Actor
from crm.errors import ValidationError


def open_view(ctx: CommandContext, view: dict) -> Reply:
    if not ctx.trigger_id:
        raise ValidationError("trigger", "Slack sent no trigger to open a form with; try again")
    ctx.client.views_open(trigger_id=ctx.trigger_id, view=view)
    return None


def _origin(ctx: CommandContext) -> Origin:
    return Origin(channel=ctx.channel_id)


@handles("lead", "")
def new_lead(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return open_view(ctx, lead_modal(_origin(ctx), assignee=ctx.user_id))


@handles("opp", "")
def new_opportunity(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return open_view(ctx, opportunity_modal(_origin(ctx), assignee=ctx.user_id))


@handles("log", "")
def log_communication(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return open_view(ctx, log_modal(_origin(ctx)))


@handles("followup", "")
def new_follow_up(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return open_view(ctx, followup_modal(_origin(ctx), assignee=ctx.user_id))


@handles("edit")
def edit_record(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    """``/crm edit L12``: the record's edit modal, filled in (refused here, with the role it
    needs, when the caller may not change it)."""
    return open_view(ctx, edit_view(actor, cmd.args["ref"], _origin(ctx)))
