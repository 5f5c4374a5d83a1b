"""The ``/crm`` dispatcher: parse, acknowledge, then find who is asking, run the handler and
answer through ``response_url``.

Slack wants an acknowledgement within 3 seconds, always (SPEC 5.1), and the member sees
nothing until it arrives. So the acknowledgement waits for nothing that could be slow:
- a command that does not parse, or has no handler yet, is answered in the acknowledgement
  itself: the grammar is pure Python (~0.1 ms) and touches neither the database nor Slack;
- every other command is acknowledged empty at once (before any database query or
  ``users.info`` call: :mod:`bot.context` leaves the member's resolution to us for commands),
  and handed on as a :class:`CommandJob` to :mod:`bot.command_runner` (the web worker's
  handler process, or this process's background pool), where :func:`run_command` resolves
  company and member, runs the handler, and posts its answer to ``response_url``.
Why not answer fast handlers in the acknowledgement: "fast" is only known by waiting, and a
request thread that waits holds Slack's clock, a gunicorn thread and (under load) a queue
position that every other member's acknowledgement sits behind; ``bench/ack.py`` measured
it (the ack p99 tracked the handler's p99). A ``response_url`` answer costs one local POST.

Nothing is lost once the acknowledgement went out: the job is queued before the listener
returns, and a worker that is shut down first lets its handler process finish every job it
was given (``graceful_timeout``).
Expected refusals (:class:`~crm.errors.CRMError`, including "Slack could not tell us who you
are") render as their message; anything else is logged with the request id and answered with
an apology that carries it (:mod:`bot.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from peewee import DatabaseError
from slack_bolt import Ack, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import command_runner, gateway, home_refresh
from bot.blocks.common import ephemeral, error_message
from bot.context import resolve_crm_context, vouched_for
from bot.errors import apology_message, describe_failure, render_error, request_id_of
from bot.grammar import COMMANDS, Command, UsageError, parse
from bot.respond import deliver
from crm import replays
from crm.acting import Actor
from crm.config import Settings
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


@dataclass(frozen=True)
class CommandJob:
    """A ``/crm`` command after its acknowledgement, as plain data: what the member sent, the
    command as the dispatcher parsed it (once, to decide the acknowledgement), and who Bolt
    said they are. Plain (dataclasses of strings and tuples), so that the same job runs on
    this process's pool or crosses a pipe to the handler process (:mod:`bot.command_runner`)
    unchanged."""

    body: dict[str, Any]
    command: Command
    request_id: str
    team_id: str | None
    enterprise_id: str | None
    user_id: str | None
    bot_user_id: str | None
    bot_token: str | None
    team_authorized: bool = False  # bot.context.vouched_for, decided where Bolt authorized
    replay_key: str | None = None  # bot.request_guard: claimed once, where the command runs

    @classmethod
    def of(cls, context: BoltContext, body: dict[str, Any], command: Command) -> CommandJob:
        return cls(
            body=body,
            command=command,
            request_id=request_id_of(context),
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            user_id=context.user_id,
            bot_user_id=context.bot_user_id,
            bot_token=context.bot_token,
            team_authorized=vouched_for(context),
            replay_key=context.get("replay_key"),
        )


def command_context(
    job: CommandJob, settings: Settings, respond: Respond | None, client: WebClient | None = None
) -> tuple[Actor, CommandContext]:
    """Who is asking (resolved now, after the acknowledgement) and what the handler may need;
    ``client`` is Slack's Web API unless a front door without Slack (``crm chat``) gives its
    own."""
    client = client or gateway.client(
        settings, job.bot_token or "", max_rate_limit_wait=gateway.WEB_MAX_RATE_LIMIT_WAIT
    )
    context = BoltContext(
        team_id=job.team_id,
        enterprise_id=job.enterprise_id,
        user_id=job.user_id,
        bot_user_id=job.bot_user_id,
    )
    context["team_authorized"] = job.team_authorized
    actor = resolve_crm_context(context, job.body, client, settings.default_currency)
    if actor is None:
        raise LookupError("a /crm command without a workspace member")
    return actor, CommandContext(
        client=client,
        respond=respond,
        company=context["company"],
        member=context["member"],
        user_id=job.user_id or "",
        channel_id=job.body.get("channel_id"),
        trigger_id=job.body.get("trigger_id"),
        request_id=job.request_id,
        body=job.body,
    )


def run_command(job: CommandJob, settings: Settings, client: WebClient | None = None) -> Reply:
    """After the acknowledgement, wherever :mod:`bot.command_runner` runs it: who is asking,
    the handler, the answer through ``response_url``. Whatever the member's command does, it
    is answered (an error as its message, a failure as an apology); returns that answer.
    The command comes parsed in the job: the dispatcher parsed it to acknowledge it."""
    if not _first_run(job):
        return None
    url = job.body.get("response_url")
    respond = Respond(response_url=url) if url else None
    parsed = job.command
    registration = REGISTRY.get(parsed.key)
    if registration is None:
        raise LookupError(f"/crm {parsed.text!r} reached a runner without a handler")
    try:
        actor, ctx = command_context(job, settings, respond, client)
    except Exception as e:  # nobody to run it as: say why (a CRMError) or apologise
        reply = describe_failure(e, job.request_id)
        deliver(respond, reply, job.request_id)
        return reply
    reply = run_handler(registration, parsed, actor, ctx)
    deliver(respond, reply, job.request_id)
    _after_reply(ctx, actor, reply)
    return reply


def _first_run(job: CommandJob) -> bool:
    """Claim the command's replay key (:mod:`crm.replays`); ``False`` for Slack's retry or a
    replay of a command already run, which is dropped (its acknowledgement went out). With
    the database unreachable it runs unclaimed and fails where it needs it, with an apology."""
    if job.replay_key is None:
        return True
    try:
        first = replays.claim(job.replay_key)
    except DatabaseError as e:
        log.warning(
            "request %s: not claimed, database unavailable (%s)", job.request_id, type(e).__name__
        )
        return True
    if not first:
        log.info("request %s: a retry or replay of a command already run; dropped", job.request_id)
    return first


def abandon_command(job: CommandJob) -> None:
    """The handler process died while it ran this command (:mod:`bot.command_runner`): part
    of it may have happened, so it is not run again; the member is told to check."""
    text = (
        "Sorry, this command was interrupted on our side and may not have completed. "
        f"Please check before trying it again; the reference is `{job.request_id}`."
    )
    log.error("request %s: interrupted when its handler process died", job.request_id)
    url = job.body.get("response_url")
    deliver(Respond(response_url=url) if url else None, apology_message(text), job.request_id)


def _after_reply(ctx: CommandContext, actor: Actor, reply: Reply) -> None:
    """What follows an answer without the member waiting for it: App Home after a write."""
    try:
        home_refresh.after_reply(ctx.client, actor, ctx.user_id, reply)
    except Exception:
        log.exception("request %s: App Home refresh failed", ctx.request_id)


def crm_command(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
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
    command_runner.submit(CommandJob.of(context, body, parsed))


def register(app: Any) -> None:
    app.command("/crm")(crm_command)
