"""The ``/crm`` dispatcher: parse, acknowledge, then find who is asking, run the handler and
answer through ``response_url``.

Slack wants an acknowledgement within 3 seconds, always (SPEC 5.1), and the member sees
nothing until it arrives. So the acknowledgement waits for nothing that could be slow:
- a command that does not parse, or has no handler yet, is answered in the acknowledgement
  itself: the grammar is pure Python (~0.1 ms) and touches neither the database nor Slack;
- every other command is acknowledged empty at once (before any database query or
  ``users.info`` call: :mod:`bot.context` leaves the member's resolution to us for commands),
  and the background pool (:mod:`bot.background`) resolves company and member, runs the
  handler, and posts its answer to ``response_url``.
Why not answer fast handlers in the acknowledgement: "fast" is only known by waiting, and a
request thread that waits holds Slack's clock, a gunicorn thread and (under load) a queue
position that every other member's acknowledgement sits behind; ``bench/ack.py`` measured
it (the ack p99 tracked the handler's p99). A ``response_url`` answer costs one local POST.

Nothing is lost once the acknowledgement went out: the job is queued before the listener
returns, and a worker that is shut down finishes its queued jobs (``graceful_timeout``).
Expected refusals (:class:`~crm.errors.CRMError`, including "Slack could not tell us who you
are") render as their message; anything else is logged with the request id and answered with
an apology that carries it (:mod:`bot.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import background, home_refresh
from bot.blocks.common import ephemeral, error_message
from bot.context import RESOLVER
from bot.errors import describe_failure, render_error, request_id_of
from bot.grammar import COMMANDS, Command, UsageError, parse
from crm.actors import Actor
from crm.errors import CRMError, ValidationError
from crm.models import Company, Member

log = logging.getLogger(__name__)

Reply = dict[str, Any] | None


@dataclass(frozen=True)
class CommandContext:
    """What a handler may need besides the command and the actor."""

    client: WebClient
    respond: Respond | None
    company: Company
    member: Member
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    request_id: str
    body: dict[str, Any]


Handler = Callable[[Command, Actor, CommandContext], Reply]


@dataclass(frozen=True)
class Registration:
    handler: Handler


REGISTRY: dict[tuple[str, str], Registration] = {}
_TABLE = {spec.key: spec for spec in COMMANDS}


def handles(noun: str, verb: str = "") -> Callable[[Handler], Handler]:
    """Register a handler for a row of :data:`bot.grammar.COMMANDS`.

    Fails at import for a (noun, verb) the grammar does not know, or registered twice, so a
    typo cannot leave a command silently unanswered.
    """
    key = (noun, verb)
    if key not in _TABLE:
        raise LookupError(f"/crm {noun} {verb} is not in bot.grammar.COMMANDS")

    def register(fn: Handler) -> Handler:
        if key in REGISTRY:
            raise LookupError(f"/crm {noun} {verb} already has a handler")
        REGISTRY[key] = Registration(fn)
        return fn

    return register


def usage_reply(error: UsageError) -> dict[str, Any]:
    return ephemeral(error_message(error.message, usage=error.usages), str(error))


def run_handler(
    registration: Registration, cmd: Command, actor: Actor, ctx: CommandContext
) -> Reply:
    """Run one handler and turn whatever happens into a message (never raises)."""
    try:
        return registration.handler(cmd, actor, ctx)
    except ValidationError as e:
        return render_error(e, (cmd.spec.usage,))
    except CRMError as e:
        return render_error(e)
    except Exception as e:
        return describe_failure(e, ctx.request_id)


def command_context(
    context: BoltContext, body: dict[str, Any], respond: Respond | None
) -> tuple[Actor, CommandContext]:
    """Who is asking (resolved now, after the acknowledgement) and what the handler may need."""
    resolve = context.get(RESOLVER)
    actor: Actor | None = resolve() if resolve is not None else context.get("actor")
    if actor is None:
        raise LookupError("a /crm command without a workspace member")
    return actor, CommandContext(
        client=context.client,
        respond=respond,
        company=context["company"],
        member=context["member"],
        user_id=context.user_id or "",
        channel_id=body.get("channel_id"),
        trigger_id=body.get("trigger_id"),
        request_id=request_id_of(context),
        body=body,
    )


def answer(
    registration: Registration,
    cmd: Command,
    context: BoltContext,
    body: dict[str, Any],
    respond: Respond | None,
) -> Reply:
    """After the acknowledgement, on the background pool: who is asking, the handler, the
    answer through ``response_url``. Never raises; returns what it answered."""
    request_id = request_id_of(context)
    try:
        actor, ctx = command_context(context, body, respond)
    except Exception as e:  # nobody to run it as: say why (a CRMError) or apologise
        reply = describe_failure(e, request_id)
        _deliver(respond, reply, request_id)
        return reply
    reply = run_handler(registration, cmd, actor, ctx)
    _deliver(respond, reply, request_id)
    _after_reply(ctx, actor, reply)
    return reply


def _deliver(respond: Respond | None, reply: Reply, request_id: str) -> None:
    if reply is None or respond is None:
        return
    try:
        respond(**reply)
    except Exception:
        log.exception("request %s: could not answer through response_url", request_id)


def _after_reply(ctx: CommandContext, actor: Actor, reply: Reply) -> None:
    """What follows an answer without the member waiting for it: App Home after a write."""
    try:
        home_refresh.after_reply(ctx.client, actor, ctx.user_id, reply)
    except Exception:
        log.exception("request %s: App Home refresh failed", ctx.request_id)


def crm_command(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    parsed = parse(body.get("text") or "")
    if isinstance(parsed, UsageError):
        ack(usage_reply(parsed))
        return
    registration = REGISTRY.get(parsed.key)
    if registration is None:
        title = " ".join(p for p in parsed.key if p)
        text = f"`/crm {title}` is not available yet."
        ack(ephemeral(error_message(text, usage=(parsed.spec.usage,)), text))
        return
    ack()  # sent when this listener returns, a few lines below
    # queued before the listener returns, so a shutdown right after the ack still runs it
    background.submit(lambda: answer(registration, parsed, context, body, respond))


def register(app: Any) -> None:
    app.command("/crm")(crm_command)
