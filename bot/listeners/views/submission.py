"""What every modal submission does around its one service call (SPEC 5.1, 5.2).

:func:`handle` is the whole life of a submission:
1. read the view's values and origin (:mod:`bot.blocks.modals`);
2. ``prepare`` (the modal's module) parses the values and does the Slack look-ups (the
   assignee's ``users.info``, the message's permalink) *before* any transaction opens, so no
   database lock is held across a Slack call; it returns the one service call to make;
3. that call runs once per view: the view id is the idempotency key, so a double submit (a
   double click, Slack's retry) replays the first record instead of making a twin;
4. an expected refusal (:class:`~crm.errors.CRMError`) goes back onto the field it is about
   (``response_action: errors``) and nothing is stored; the modal stays open to fix it;
5. on success the modal closes, and after the acknowledgement the receipt with its Undo button
   reaches the member (ephemeral in the channel the modal came from, else a DM) and their App
   Home is refreshed.

Why the view id goes through :func:`crm.idempotency.once` here instead of down into the use
case: not every create use case takes an idempotency key (communications and follow-ups do
not), and one mechanism for all four modals also tells us whether this submission was a
replay, which decides whether a second receipt would be a confusing duplicate. The
transaction is opened by ``once`` in ``crm``, not by this adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import background, home_refresh
from bot.blocks.common import Block, fallback, receipt
from bot.blocks.modals import Origin, submitted_values
from bot.context import member_for
from bot.errors import request_id_of
from crm import idempotency
from crm.acting import Actor
from crm.errors import CRMError, InvalidFields, NotFound, ValidationError
from crm.models import BaseModel, Company

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# service field names that differ from the block ids of the modals
COMMON_FIELDS = {
    "user": "assign",
    "assigned_to": "assign",
    "assignee": "assign",
    "probability": "prob",
    "estimated_value": "value",
    "company_name": "company",
    "expected_close_date": "close",
    "customer": "ref",
    "lead": "ref",
    "opportunity": "ref",
    "subject_type": "ref",
    "communicated_at": "at",
    "due_at": "due",
}


@dataclass(frozen=True)
class Submission:
    """What a modal's ``prepare`` gets: the submitted values, the origin and the caller."""

    actor: Actor
    values: dict[str, Any]
    origin: Origin
    client: WebClient
    company: Company
    user_id: str
    team_domain: str | None

    def text(self, block_id: str) -> str | None:
        value = self.values.get(block_id)
        return value if isinstance(value, str) else None

    def assignee(self) -> int | None:
        """The member picked in the ``assign`` users_select (created on first sight);
        ``None`` when the field was emptied: unassigned."""
        user = self.text("assign")
        return None if user is None else member_for(self.client, self.company, user).id


@dataclass(frozen=True)
class Created:
    """A record the submission made (or replayed), as the receipt names it."""

    label: str
    title: str
    change_id: str
    verb: str = "Created"


def field_message(error: CRMError) -> str:
    """The error as it reads under its field: no ``field:`` prefix, no ``field=`` in the
    example (the member is typing into the box, not writing a command)."""
    text = error.message
    if error.field:
        text = text.removeprefix(f"{error.field}: ").replace(f"{error.field}=", "")
    return text


def errors_for(
    error: CRMError, block_ids: tuple[str, ...], default: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """``{block_id: message}`` for ``response_action: errors``: the field the error names, or
    (an unknown field, a "not found", a refusal) the block most likely at fault. Several bad
    fields (:class:`~crm.errors.InvalidFields`) each show under their own box."""
    if isinstance(error, InvalidFields):
        shown: dict[str, str] = {}
        for each in reversed(error.errors):  # the first error wins a box two would share
            shown.update(errors_for(each, block_ids, default, extra))
        return shown
    field = error.field or ""
    block = extra.get(field) or (field if field in block_ids else COMMON_FIELDS.get(field))
    if block in block_ids:
        return {block: field_message(error)[:2000]}
    fallback = "ref" if isinstance(error, NotFound) and "ref" in block_ids else default
    return {fallback: error.message[:2000]}


def handle(
    ack: Ack,
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    *,
    model: type[M],
    prepare: Callable[[Submission], Callable[[], M]],
    describe: Callable[[M], Created],
    default_block: str,
    fields: Mapping[str, str] | None = None,
    refusal: Callable[[CRMError], dict[str, str] | None] | None = None,
) -> None:
    view = body.get("view") or {}
    block_ids = tuple(
        b["block_id"]
        for b in view.get("blocks", [])
        if b.get("type") == "input" and b.get("block_id")
    )
    actor: Actor = context["actor"]
    sub = Submission(
        actor=actor,
        values=submitted_values(view),
        origin=Origin.load(view.get("private_metadata")),
        client=client,
        company=context["company"],
        user_id=context.user_id or "",
        team_domain=(body.get("team") or {}).get("domain"),
    )
    try:
        create = prepare(sub)
        record, replayed = idempotency.once(actor, f"slack:view:{view.get('id')}", model, create)
    except CRMError as e:
        errors = (refusal(e) if refusal else None) or errors_for(
            e, block_ids, default_block, fields or {}
        )
        ack(response_action="errors", errors=errors)
        return
    ack()
    if not replayed:
        after_write(
            client, actor, sub.user_id, sub.origin, describe(record), request_id_of(context)
        )


def after_write(
    client: WebClient, actor: Actor, user_id: str, origin: Origin, done: Created, request_id: str
) -> None:
    """After the acknowledgement: the receipt to the member, then their App Home refreshed."""
    text = f"{done.verb} {done.label} {done.title}"
    blocks = receipt(done.label, done.title, done.change_id, verb=done.verb)

    def work() -> None:
        try:
            deliver(client, user_id, origin.channel, blocks, text)
        except Exception:
            log.exception("request %s: could not deliver the receipt", request_id)

    background.submit(work)
    home_refresh.refresh(client, actor, user_id)


def deliver(
    client: WebClient, user_id: str, channel: str | None, blocks: list[Block], text: str
) -> None:
    """Ephemeral in ``channel`` when the modal came from one; a DM otherwise, or when Slack
    refuses the ephemeral (the bot is not in that channel, or it is someone else's DM)."""
    text = fallback(text)
    if channel:
        try:
            client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)
            return
        except SlackApiError as e:
            log.info("ephemeral receipt in %s refused (%s); sending a DM", channel, e.response)
    client.chat_postMessage(channel=user_id, text=text, blocks=blocks)


def permalink(client: WebClient, origin: Origin, team_domain: str | None) -> str | None:
    """The link of the message a shortcut acted on: ``chat.getPermalink``, or when Slack will
    not say (the bot cannot see that conversation) the link built the way Slack builds it."""
    if not (origin.channel and origin.message_ts):
        return None
    try:
        link = client.chat_getPermalink(channel=origin.channel, message_ts=origin.message_ts)
        if isinstance(link.get("permalink"), str):
            return link["permalink"]
    except SlackApiError as e:
        log.info("chat.getPermalink refused (%s); building the link", e.response)
    domain = origin.team_domain or team_domain
    if not domain:
        return None
    return f"https://{domain}.slack.com/archives/{origin.channel}/p{origin.message_ts.replace('.', '')}"


def required(sub: Submission, block_id: str, what: str, example: str) -> str:
    """A value the modal marks required (Slack enforces it; a hand-made payload may not)."""
    value = sub.text(block_id)
    if value is None:
        raise ValidationError(block_id, f"{what} is required", hint=example)
    return value
