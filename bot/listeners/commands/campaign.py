"""``/crm campaign ...`` (SPEC 6): the New campaign form, the list, a campaign's card, its
preview, and the sending controls (send, schedule, pause, resume, cancel, and ``pause all``,
the admins' kill switch). Managers and admins run campaigns; reps see them (the service
says so when a rep tries)."""

from __future__ import annotations

from bot.blocks.campaigns import campaign_list_blocks, campaign_modal, preview_blocks
from bot.blocks.common import ephemeral, section
from bot.blocks.modals import Origin
from bot.campaign_card import card, post_live
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.modals import open_view
from crm import permissions
from crm.acting import Actor
from crm.campaigns import service
from crm.models import Campaign
from crm.tenancy import ref_label


def _card_reply(actor: Actor, campaign: Campaign, ctx: CommandContext, note: str = "") -> Reply:
    blocks, text = card(actor, campaign, ctx.company.currency)
    if note:
        blocks = [section(note), *blocks]
    return ephemeral(blocks, f"{note} {text}".strip())


@handles("campaign", "")
def new(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    permissions.require(actor, "manage_campaigns")
    return open_view(ctx, campaign_modal(Origin(channel=ctx.channel_id), actor.tz))


@handles("campaign", "list")
def list_(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    found = service.list_campaigns(actor)
    return ephemeral(campaign_list_blocks(found), f"{len(found)} campaign(s)")


@handles("campaign", "show")
def show(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return _card_reply(actor, service.get_campaign(actor, cmd.args["ref"]), ctx)


@handles("campaign", "preview")
def preview(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    p = service.preview(actor, cmd.args["ref"])
    blocks = preview_blocks(
        p,
        ctx.company.currency,
        can_run=permissions.has(actor, "manage_campaigns"),
        figures=service.figures(p.campaign),
    )
    return ephemeral(blocks, f"Preview of {ref_label('campaign', p.campaign.id)}")


@handles("campaign", "send")
def send(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    campaign = service.send_now(actor, cmd.args["ref"])
    post_live(ctx.client, actor, ctx.user_id, campaign, ctx.company.currency)
    note = f":outbox_tray: Sending to {campaign.audience_count - campaign.skipped_count}; "
    return _card_reply(actor, campaign, ctx, note + "the card in your DM with the app follows it.")


@handles("campaign", "schedule")
def schedule(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    campaign = service.schedule(actor, cmd.args["ref"], cmd.options["at"])
    return _card_reply(actor, campaign, ctx, ":alarm_clock: Scheduled.")


@handles("campaign", "pause")
def pause(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    if cmd.args["ref"].lower() == "all":
        paused = service.pause_all(actor)
        names = ", ".join(ref_label("campaign", c.id) for c in paused) or "none was sending"
        text = f":octagonal_sign: Kill switch: {len(paused)} campaign(s) paused ({names})."
        return ephemeral([section(text)], text)
    return _card_reply(actor, service.pause(actor, cmd.args["ref"]), ctx, "Paused.")


@handles("campaign", "resume")
def resume(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    campaign = service.resume(actor, cmd.args["ref"])
    if campaign.status == "sending":
        post_live(ctx.client, actor, ctx.user_id, campaign, ctx.company.currency)
    return _card_reply(actor, campaign, ctx, "Resumed.")


@handles("campaign", "cancel")
def cancel(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return _card_reply(actor, service.cancel(actor, cmd.args["ref"]), ctx, "Cancelled.")
