"""The New campaign modal's submission (``/crm campaign``) and the Schedule form of a
campaign's card. Every field goes to :func:`crm.campaigns.service.create_campaign` as typed;
its refusals (an unknown template field, a schedule in the past, a negative budget, an empty
audience, a channel with no gateway configured) come back under the field they name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.campaigns import CAMPAIGN_VIEW, SCHEDULE_VIEW
from bot.blocks.common import ephemeral, section
from bot.blocks.modals import submitted_values
from bot.errors import request_id_of
from bot.listeners.views.submission import Created, Submission, field_message, handle
from bot.respond import deliver
from crm.acting import Actor
from crm.campaigns import service
from crm.errors import CRMError
from crm.models import Campaign
from crm.tenancy import ref_label

# service field names that are not the modal's block ids
FIELDS = {
    "audience": "segment",
    "customer_ids": "customers",
    "segment_id": "segment",
    "scheduled_at": "schedule",
    "target_channel": "target",
    "goal_type": "goal",
}


def prepare(sub: Submission) -> Callable[[], Campaign]:
    goal = sub.text("goal")
    fields: dict[str, Any] = {
        "name": sub.text("name") or "",
        "channel": sub.text("channel") or "email",
        "body": sub.text("body") or "",
        "goal_type": None if goal in (None, "none") else goal,
    }
    optional = {
        "segment_id": "segment",
        "subject": "subject",
        "scheduled_at": "schedule",
        "budget": "budget",
        "cost": "cost",
        "goal_value": "goal_value",
        "attribution_days": "attribution_days",
        "target_channel": "target",
        "event_at": "event_at",
        "event_location": "event_location",
    }
    for name, block in optional.items():
        value = sub.text(block)
        if value is not None:
            fields[name] = value
    customers = sub.values.get("customers")
    if isinstance(customers, list) and customers:
        fields["customer_ids"] = [c for c in customers if isinstance(c, str)]
    return partial(service.create_campaign, sub.actor, **fields)


def describe(campaign: Campaign) -> Created:
    verb = "Scheduled" if campaign.status == "scheduled" else "Saved"
    return Created(ref_label("campaign", campaign.id), campaign.name, campaign.change_id, verb)


def submit(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    handle(
        ack,
        body,
        context,
        client,
        model=Campaign,
        prepare=prepare,
        describe=describe,
        default_block="name",
        fields=FIELDS,
    )


def submit_schedule(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """The card's Schedule form: the campaign rides in the view's metadata."""
    view = body.get("view") or {}
    campaign_ref = str(view.get("private_metadata") or "").partition("|")[0]
    actor: Actor = context["actor"]
    at = submitted_values(view).get("schedule")
    try:
        campaign = service.schedule(actor, campaign_ref, at)
    except CRMError as e:
        ack(response_action="errors", errors={"schedule": field_message(e)[:2000]})
        return
    ack()
    text = (
        f":alarm_clock: {ref_label('campaign', campaign.id)} {campaign.name} is scheduled for "
        f"{campaign.scheduled_at:%Y-%m-%d %H:%M} UTC."
    )
    deliver(
        None,
        ephemeral([section(text)], text),
        request_id_of(context),
        client=client,
        user_id=context.user_id,
    )


def register(app: App) -> None:
    app.view(CAMPAIGN_VIEW)(submit)
    app.view(SCHEDULE_VIEW)(submit_schedule)
