"""Every Slack listener, registered on the Bolt app by :func:`register_all`.

Layout (Slack's starter template): one package per kind of request, one small module per
listener, each package with ``register(app)``. A listener is an entrypoint: it parses what Slack
sent, calls ONE ``crm/`` service with the member's :class:`~crm.acting.Actor`, and renders Block
Kit with :mod:`bot.blocks`. Business rules never live here.

What every listener can rely on (put there by :mod:`bot.context`, a global middleware):
``context["actor"]``, ``context["member"]``, ``context["company"]``, ``context["request_id"]``,
and ``context.client`` (a WebClient honouring ``SLACK_API_URL``). The request thread's database
connection opens on first use and is given back when the request ends. Unexpected exceptions
go to :func:`bot.errors.handle_error` (logged with the request id, apology to the member).

What the payload is guaranteed to hold (checked by :mod:`bot.request_guard` before Bolt sees
the request; a payload that breaks it was answered 400): ``body["user"]["id"]`` on every
interaction, a non-empty ``body["actions"]`` of objects with an ``action_id`` (and a ``value``
that is text when present) on a click, which also carries a ``response_url`` or a ``view``;
``view.state.values`` as objects with strings where Slack puts strings; a signed request is
run at most once (:mod:`crm.replays`). Values are still the sender's text: parse ids with the
reference rules (:func:`crm.parsing.parse_record_id`), never a bare ``int()``. A new field a
listener reads goes into the guard's schema too.

How to add a ``/crm`` command handler
    1. The command must have a row in :data:`bot.grammar.COMMANDS` (usage, args, options);
       help text comes from that row.
    2. In ``bot/listeners/commands/<noun>.py``::

           from bot.listeners.commands.crm import CommandContext, handles

           @handles("lead", "status")            # (noun, verb) of the table row
           def status(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
               lead = leads.set_lead_status(actor, ref_id(cmd.args["ref"], "lead"),
                                            cmd.args["status"], reason=cmd.options.get("reason"))
               return ephemeral(receipt(ref_label("lead", lead.id), lead.name, lead.change_id),
                                text=f"L{lead.id} moved")

       Return a message dict (``ephemeral(...)``) or ``None`` (e.g. after
       ``ctx.client.views_open(trigger_id=ctx.trigger_id, view=...)``). Raise
       ``crm.errors.CRMError`` subclasses freely: they render as their message.
       The dispatcher acknowledges every command before any database or Slack call and
       :mod:`bot.command_runner` runs the handler (in the web worker's handler process, so
       it gets plain data: the command, the actor, ``ctx``); its reply goes out through
       ``response_url``.
    3. Add the module to ``HANDLER_MODULES`` in ``bot/listeners/commands/__init__.py``.

How to add a button (action)
    Create ``bot/listeners/actions/<name>.py`` with ``register(app)`` doing
    ``app.action("<action_id>")(fn)``; ``fn(ack, body, context, respond)`` calls ``ack()``
    first, then the service; answer with ``respond(...)`` (``replace_original=True`` to
    update the message the button sits on). Work that may be slow goes through
    ``bot.background.submit`` after ``ack()``. Add the module to ``MODULES`` in
    ``bot/listeners/actions/__init__.py``. The Undo button (:mod:`.actions.undo`) is the model.

How to add a modal
    Open it from a command handler or shortcut with ``ctx.client.views_open(trigger_id=...,
    view=...)`` using a ``callback_id``; handle the submission in
    ``bot/listeners/views/<name>.py`` with ``app.view("<callback_id>")(fn)``. Validation
    errors go back on the field: ``ack(response_action="errors", errors={"<block_id>": msg})``
    (catch ``ValidationError`` and map ``error.field`` to the block id). Use the view id as the
    idempotency key so a double submit creates one record. Register the module in
    ``bot/listeners/views/__init__.py``; shortcuts likewise under ``shortcuts/``
    (``app.shortcut("<callback_id>")``) and events under ``events/`` (``app.event("...")``).
"""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, events, functions, options, shortcuts, views


def register_all(app: App) -> None:
    for package in (commands, actions, options, shortcuts, views, events, functions):
        package.register(app)
