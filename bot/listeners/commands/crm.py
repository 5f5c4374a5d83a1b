"""The ``/crm`` dispatcher: parse, find the handler for (noun, verb), run it, answer.

Slack wants an acknowledgement within 3 seconds, always (SPEC 5.1). Handlers run on the
background pool (:mod:`bot.background`) while the request thread waits:
- a handler that finishes within :data:`ACK_BUDGET` is answered in the acknowledgement itself
  (one round trip: the fastest answer Slack can show);
- a slower one (a lock wait, a slow Slack call) is acknowledged empty at the deadline and its
  answer follows through ``response_url`` when it is done;
- a handler declared ``slow`` (charts, large lists) is acknowledged at once and answered
  through ``response_url``.
Expected refusals (:class:`~crm.errors.CRMError`) render as their message; anything else is
logged with the request id and answered with an apology (:mod:`bot.errors`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import background, home_refresh
from bot.blocks.common import ephemeral, error_message
from bot.errors import describe_failure, render_error, request_id_of
from bot.grammar import COMMANDS, Command, UsageError, parse
from crm.actors import Actor
from crm.errors import CRMError, ValidationError
from crm.models import Company, Member

log = logging.getLogger(__name__)

# How long after the request reached Bolt the answer may still ride in the acknowledgement;
# past it, the ack goes out empty and the answer follows through response_url. At most 2 s
# (Slack allows 3 s end to end). CRM_ACK_BUDGET_MS tunes it per deployment: 0 acknowledges
# every command at once (bench/ack.py measures both; see its docstring for the trade-off).
ACK_BUDGET = min(float(os.environ.get("CRM_ACK_BUDGET_MS", "1500")), 2000.0) / 1000
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
    slow: bool


REGISTRY: dict[tuple[str, str], Registration] = {}
_TABLE = {spec.key: spec for spec in COMMANDS}


def handles(noun: str, verb: str = "", *, slow: bool | None = None) -> Callable[[Handler], Handler]:
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
        REGISTRY[key] = Registration(fn, _TABLE[key].slow if slow is None else slow)
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


def _deliver_later(ctx: CommandContext, reply: Reply) -> None:
    if reply is None or ctx.respond is None:
        return
    try:
        ctx.respond(**reply)
    except Exception:
        log.exception("request %s: could not answer through response_url", ctx.request_id)


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
    ctx = CommandContext(
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
    actor: Actor = context["actor"]
    future = background.submit(lambda: run_handler(registration, parsed, actor, ctx))
    # a receipt (an Undo button) means the member changed something: refresh their App Home
    future.add_done_callback(
        lambda f: home_refresh.after_reply(ctx.client, actor, ctx.user_id, f.result())
    )
    if registration.slow:
        ack()
        future.add_done_callback(lambda f: _deliver_later(ctx, f.result()))
        return
    started = context.get("started_at") or time.monotonic()
    try:
        reply = future.result(timeout=max(0.0, started + ACK_BUDGET - time.monotonic()))
    except FutureTimeout:
        log.warning("request %s: /crm %s %s over budget", ctx.request_id, *parsed.key)
        ack()
        future.add_done_callback(lambda f: _deliver_later(ctx, f.result()))
        return
    ack(reply) if reply is not None else ack()


def register(app: Any) -> None:
    app.command("/crm")(crm_command)
