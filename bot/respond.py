"""Answering after the acknowledgement: run the work on the background pool and deliver what it
returns (or what went wrong) through ``response_url``.

For buttons and shortcuts, whose HTTP answer Slack ignores anyway: ``ack()`` at once, then
``respond_later(...)``; the member never waits on Slack's 3-second clock. "Answer or
apologise" lives here once: :func:`answer_or_apologise` turns whatever the work raised into
the member's message, :func:`deliver` sends a message and makes a failure to send one log line.
Slash commands (:mod:`bot.listeners.commands.crm`) and buttons alike go through them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import background
from bot.errors import describe_failure, request_id_of

log = logging.getLogger(__name__)

Reply = dict[str, Any] | None
_RESPONSE_URL_ONLY = frozenset({"replace_original", "delete_original", "response_type"})


def answer_or_apologise(work: Callable[[], Reply], request_id: str) -> Reply:
    """``work()``'s answer; a :class:`~crm.errors.CRMError` as its own message, anything else
    as a logged apology carrying ``request_id`` (never the original message replaced)."""
    try:
        return work()
    except Exception as e:
        return {**describe_failure(e, request_id), "replace_original": False}


def deliver(
    respond: Respond | None,
    reply: Reply,
    request_id: str,
    *,
    client: WebClient | None = None,
    user_id: str | None = None,
) -> None:
    """``reply`` through ``response_url``; without one, as a DM when ``client`` and
    ``user_id`` are given (a click in App Home or a modal), else one log line. A failure to
    deliver is one log line: the member's request itself already happened or was refused."""
    if reply is None:
        return
    try:
        if respond is not None and (not isinstance(respond, Respond) or respond.response_url):
            respond(**reply)
        elif client is not None and user_id:
            client.chat_postMessage(
                channel=user_id, **{k: v for k, v in reply.items() if k not in _RESPONSE_URL_ONLY}
            )
        else:
            log.info("request %s: no response_url to answer through", request_id)
    except Exception:
        log.exception("request %s: could not answer through response_url", request_id)


def respond_later(
    respond: Respond | None,
    request_id: str,
    work: Callable[[], Reply],
    *,
    client: WebClient | None = None,
    user_id: str | None = None,
) -> Future:
    """Run ``work`` on the background pool and :func:`deliver` its answer or apology (a DM
    to ``user_id`` when there is no ``response_url`` and a ``client`` is given)."""

    def run() -> None:
        reply = answer_or_apologise(work, request_id)
        deliver(respond, reply, request_id, client=client, user_id=user_id)

    return background.submit(run)


def answer_click(
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    work: Callable[[], Reply],
) -> Future:
    """:func:`respond_later` for a button: the answer goes to its ``response_url``, or as a
    DM when the button sat in a view (App Home, a modal), which has none."""
    return respond_later(
        respond if body.get("response_url") else None,
        request_id_of(context),
        work,
        client=context.client,
        user_id=context.user_id or "",
    )
