"""What a member sees when something goes wrong (SPEC 5.4), and the Bolt error handler.

Two kinds of failure:
- expected ones (:class:`crm.errors.CRMError`: bad input, not found, not allowed) render as
  their own message, which names the field and the right form;
- anything else is a bug or an outage: it is logged with a short request id, and the member
  gets an apology carrying that id, so support can find the traceback. Never Slack's own
  "dispatch_failed"/timeout error: the HTTP answer is a 200 whenever Slack would show one.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_bolt import BoltContext, BoltResponse
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.blocks.common import Block, ephemeral, error_message, section
from crm.errors import CRMError

log = logging.getLogger("bot.errors")


def new_request_id() -> str:
    return uuid.uuid4().hex[:10]


def request_id_of(context: BoltContext | dict[str, Any] | None) -> str:
    rid = (context or {}).get("request_id")
    return rid if isinstance(rid, str) else new_request_id()


def apology_text(request_id: str) -> str:
    return (
        "Sorry, something went wrong on our side and your request was not completed. "
        f"If it happens again, tell your admin the reference `{request_id}`."
    )


def apology(request_id: str) -> dict[str, Any]:
    return apology_message(apology_text(request_id))


def apology_message(text: str) -> dict[str, Any]:
    return ephemeral([section(f":x: {text}")], text)


def render_error(error: CRMError, usage: tuple[str, ...] = ()) -> dict[str, Any]:
    return ephemeral(error_message(error.message, usage=usage), error.message)


def describe_failure(error: Exception, request_id: str) -> dict[str, Any]:
    """The message for any exception: its own words if expected, else a logged apology."""
    if isinstance(error, CRMError):
        return render_error(error)
    log.error("request %s failed", request_id, exc_info=error)
    return apology(request_id)


def _apology_view(message: dict[str, Any]) -> dict[str, Any]:
    blocks: list[Block] = message["blocks"]
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Sorry"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def handle_error(
    error: Exception,
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    response: BoltResponse | None,
) -> BoltResponse | None:
    """Bolt's global error handler, for listeners and middleware alike.

    ``response`` is still ours to shape when nothing was sent to Slack yet; otherwise the
    answer goes through ``response_url`` or, lacking one, a DM from the bot.
    """
    request_id = request_id_of(context)
    message = describe_failure(error, request_id)
    kind = body.get("type") if isinstance(body, dict) else None
    if kind == "view_submission":
        return BoltResponse(
            status=200,
            body={"response_action": "update", "view": _apology_view(message)},
        )
    if isinstance(body, dict) and body.get("command") and response is not None:
        return BoltResponse(
            status=200,
            body=json.dumps(message),
            headers={"content-type": "application/json;charset=utf-8"},
        )
    if kind == "event_callback" or (isinstance(body, dict) and "event" in body):
        if isinstance(error, CRMError):  # refused (an unknown team): a retry would be too
            log.info("request %s: event refused: %s", request_id, error.message)
            return BoltResponse(status=200, body="")
        return None  # nobody asked; a 500 lets Slack retry the event
    try:
        if respond is not None and body.get("response_url"):
            respond(**message, replace_original=False)
        elif context.user_id:
            client.chat_postMessage(
                channel=context.user_id, text=message["text"], blocks=message["blocks"]
            )
    except Exception as e:  # the message itself failed: the log line above is what is left
        log.warning(
            "request %s: could not deliver the error message (%s: %s)",
            request_id,
            type(e).__name__,
            str(e)[:200].replace("\n", " "),
        )
    return BoltResponse(status=200, body="")
