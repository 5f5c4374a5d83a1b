"""Answering after the acknowledgement: run the work on the background pool and deliver what it
returns (or what went wrong) through ``response_url``.

For buttons and shortcuts, whose HTTP answer Slack ignores anyway: ``ack()`` at once, then
``respond_later(...)``; the member never waits on Slack's 3-second clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_bolt.context.respond import Respond

from bot import background
from bot.errors import describe_failure

log = logging.getLogger(__name__)

Reply = dict[str, Any] | None


def respond_later(respond: Respond | None, request_id: str, work: Callable[[], Reply]) -> Future:
    def run() -> None:
        try:
            reply = work()
        except Exception as e:  # CRMError renders as its message, the rest as an apology
            reply = {**describe_failure(e, request_id), "replace_original": False}
        if reply is None:
            return
        if respond is None or (isinstance(respond, Respond) and not respond.response_url):
            # a click on App Home or in a modal (crm chat passes a respond of its own)
            log.info("request %s: no response_url to answer through", request_id)
            return
        try:
            respond(**reply)
        except Exception:
            log.exception("request %s: could not answer through response_url", request_id)

    return background.submit(run)
