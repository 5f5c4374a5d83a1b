"""Helpers of the ``/crm`` record command tests (their fixtures are in
:mod:`tests.records_fixtures`): ONE real web process (gunicorn serving ``bot.web``) per test
module and backend, and a fresh Slack workspace (team) per test.

Starting gunicorn costs about a second and a half; the record tests send well over a hundred
commands, so they share the process and keep apart by team id instead of truncating tables
(every query of the app is company-scoped, which is exactly what rule 8 promises). The test
process opens the same database to check what the commands did.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from crm.acting import Actor
from crm.models import Company, Member
from tests.e2e_support import SlackClient, SlackUserRef
from tests.slack_fake import Call, FakeSlack

_answers = itertools.count(1)


@dataclass
class Team:
    """A workspace of its own: an admin, two reps, and the members they become."""

    team_id: str
    admin: SlackUserRef
    rep: SlackUserRef
    rep2: SlackUserRef

    @property
    def company(self) -> Company:
        return Company.get(Company.team_id == self.team_id)

    def member(self, user: SlackUserRef) -> Member:
        return Member.get((Member.slack_user_id == user.id) & (Member.company == self.company))

    def actor(self, user: SlackUserRef) -> Actor:
        return Actor.for_member(self.member(user), "slack")


def check_action_ids(client: SlackClient, fake: FakeSlack) -> None:
    """Slack refuses a block whose elements share an ``action_id`` (``invalid_blocks``);
    slack_sdk's models do not check it, so every payload of the test is checked here."""
    payloads = [r.json() for _, r in client.responses if r.body.startswith(b"{")]
    payloads += [c.args for c in fake.calls]
    for payload in payloads:
        for block in payload.get("blocks") or []:
            ids = [e.get("action_id") for e in block.get("elements", []) if e.get("action_id")]
            assert len(ids) == len(set(ids)), f"duplicate action_id in {block}"


def wait_call(fake: FakeSlack, path: str, timeout: float = 10.0) -> Call:
    """The post the web process made to ``path`` (a response_url), once it arrives."""
    deadline = time.monotonic() + timeout
    with fake.cond:
        while True:
            for call in fake.calls:
                if call.path == path:
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"nothing was posted to {path}")
            fake.cond.wait(remaining)


def ask(slack: SlackClient, text: str, user: SlackUserRef) -> dict[str, Any]:
    """Run ``/crm <text>`` and return the answer, whether it rode in the acknowledgement or
    came later through ``response_url`` (slow lists, a busy machine)."""
    name = f"ans{next(_answers)}"
    fake = slack.web.fake
    r = slack.command(text, user, response_url=fake.response_url(name))
    assert r.status == 200, r.text
    if r.body and r.headers.get("content-type", "").startswith("application/json"):
        return r.json()
    return wait_call(fake, f"/response/{name}").args


def click(slack: SlackClient, action_id: str, value: str, user: SlackUserRef) -> dict[str, Any]:
    """Press a button; return what the app posted back to the message's response_url."""
    name = f"btn{next(_answers)}"
    fake = slack.web.fake
    r = slack.click(action_id, value, user, response_url=fake.response_url(name))
    assert r.status == 200, r.text
    return wait_call(fake, f"/response/{name}").args


def text_of(payload: dict[str, Any]) -> str:
    """Everything a member reads in a message: the fallback text and every block's text."""
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []) + block.get("fields", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def buttons(payload: dict[str, Any], action_id: str | None = None) -> list[dict[str, Any]]:
    """Every button in the message (in sections' accessories and actions blocks)."""
    found = []
    for block in payload.get("blocks", []):
        elements = list(block.get("elements", []))
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        found += [
            e
            for e in elements
            if e.get("type") == "button" and (action_id is None or e["action_id"] == action_id)
        ]
    return found


def undo_id(payload: dict[str, Any]) -> str:
    (undo,) = buttons(payload, "undo")
    return str(undo["value"])


def ref_in(payload: dict[str, Any], prefix: str) -> int:
    """The id of the first ``<prefix>123`` the answer names in bold (``*L12*``)."""
    text = text_of(payload)
    marker = f"*{prefix}"
    start = text.index(marker) + len(marker)
    digits = ""
    for ch in text[start:]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits)


def warned(payload: dict[str, Any]) -> str:
    """The warning of a refused command (fails if the answer is not one)."""
    text = text_of(payload)
    assert ":warning:" in text, text
    return text
