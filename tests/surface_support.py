"""Shared by the modal, shortcut and App Home tests: ONE real web process per test module and
backend, a fresh Slack workspace (team) per test, and Slack's side of modals: the view the app
opened (recorded by FakeSlack) filled in and submitted back the way Slack does, state and
``private_metadata`` included.

Why not :meth:`tests.e2e_support.SlackClient.submit_view`: a submission must carry the view's
``private_metadata`` (where a modal came from) and element states shaped by the element
types; here they come from the very view the app opened, so a test cannot submit a field the
modal does not have.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crm.acting import Actor
from crm.companies import Profile, get_or_create_company, upsert_member
from crm.models import Company, Member
from tests.e2e_support import (
    Response,
    Site,
    SlackClient,
    SlackUserRef,
    check_all_payloads,
    check_view,
)
from tests.slack_fake import Call, FakeSlack, SlackUser

_teams = itertools.count(1)


@dataclass
class Team:
    """A workspace of its own: an admin (Slack admin), a manager and a rep."""

    team_id: str
    admin: SlackUserRef
    manager: SlackUserRef
    rep: SlackUserRef

    @property
    def company(self) -> Company:
        return Company.get(Company.team_id == self.team_id)

    def member(self, user: SlackUserRef) -> Member:
        return Member.get((Member.slack_user_id == user.id) & (Member.company == self.company))

    def actor(self, user: SlackUserRef) -> Actor:
        return Actor.for_member(self.member(user), "slack")


def make_team(site: Site, prefix: str) -> Team:
    """A new workspace whose company and members exist already (as after their first
    request), so tests can seed records through the services before Slack talks."""
    n = next(_teams)
    team_id = f"T{prefix}{n}"
    company = get_or_create_company(team_id, team_id.lower())
    refs = []
    for role in ("admin", "manager", "rep"):
        user = SlackUser(f"U{prefix}{n}{role.upper()}", f"{role.title()} {n}", team_id=team_id)
        user.is_admin = role == "admin"
        site.fake.add_user(user)
        member = upsert_member(
            company, Profile(slack_user_id=user.id, name=user.name, tz=user.tz, is_admin=False)
        )
        Member.update(role=role).where(Member.id == member.id).execute()
        refs.append(SlackUserRef(user.id, team_id, team_id.lower()))
    return Team(team_id, *refs)


@pytest.fixture
def slack_client(site: Site) -> Iterator[SlackClient]:
    """A Slack client for one test; every Block Kit payload it saw is validated at the end."""
    client = SlackClient(site.web)
    yield client
    assert check_all_payloads(client, site.fake) > 0


# --- waiting for what the app sent ---------------------------------------------------------------


def wait_until(fake: FakeSlack, found: Any, what: str, timeout: float = 10.0) -> Any:
    """Block until ``found(calls)`` returns something truthy (the app answers after its ack)."""
    deadline = time.monotonic() + timeout
    with fake.cond:
        while True:
            result = found(list(fake.calls))
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = sorted({c.method for c in fake.calls})
                raise AssertionError(f"no {what} arrived; seen: {seen}")
            fake.cond.wait(remaining)


def calls_for(
    fake: FakeSlack, method: str, user: SlackUserRef, calls: list[Call] | None = None
) -> list[Call]:
    """Calls of ``method`` concerning ``user`` (their trigger, DM, ephemeral or Home)."""
    out = []
    for call in fake.calls_to(method) if calls is None else calls:
        if call.method != method:
            continue
        a = call.args
        if user.id in (a.get("user_id"), a.get("user"), a.get("channel")) or user.id in str(
            a.get("trigger_id", "")
        ):
            out.append(call)
    return out


def wait_calls(
    fake: FakeSlack, method: str, user: SlackUserRef, count: int = 1, timeout: float = 10.0
) -> list[Call]:
    return wait_until(
        fake,
        lambda calls: (
            (found := calls_for(fake, method, user, calls)) and len(found) >= count and found
        ),
        f"{count} {method} for {user.id}",
        timeout,
    )


def opened_view(fake: FakeSlack, user: SlackUserRef, count: int = 1) -> dict[str, Any]:
    """The ``count``-th view the app opened for ``user``, validated like Slack would."""
    view = wait_calls(fake, "views.open", user, count)[count - 1].args["view"]
    check_view(view, "views.open")
    return view


def published_home(fake: FakeSlack, user: SlackUserRef, count: int = 1) -> dict[str, Any]:
    view = wait_calls(fake, "views.publish", user, count)[count - 1].args["view"]
    check_view(view, "views.publish")
    assert view["type"] == "home"
    return view


# --- Slack's side of a modal -------------------------------------------------------------------


def _element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind == "static_select":
        option = next((o for o in element["options"] if o["value"] == value), None)
        assert value is None or option is not None, f"{value!r} is not an option"
        return {"type": kind, "selected_option": option}
    if kind == "external_select":  # a type-ahead: the member picked the option ``value``
        option = {"text": {"type": "plain_text", "text": value}, "value": value}
        return {"type": kind, "selected_option": option if value else None}
    if kind == "multi_external_select":
        chosen = [{"text": {"type": "plain_text", "text": v}, "value": v} for v in value or []]
        return {"type": kind, "selected_options": chosen}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "checkboxes":
        chosen = [o for o in element["options"] if value]
        return {"type": kind, "selected_options": chosen}
    return {"type": kind, "value": value}


def _initial(element: dict[str, Any]) -> Any:
    if "initial_option" in element:
        return element["initial_option"]["value"]
    for key in ("initial_value", "initial_user", "initial_date"):
        if key in element:
            return element[key]
    return None


def state_of(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Slack's ``state.values`` for ``view``: each input at its initial value unless
    ``values`` says otherwise (``None`` empties it). A key the view lacks is an error."""
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    unknown = set(values) - set(inputs)
    assert not unknown, f"the modal has no field {sorted(unknown)}"
    state: dict[str, Any] = {}
    for block_id, element in inputs.items():
        value = values.get(block_id, _initial(element))
        state[block_id] = {element["action_id"]: _element_state(element, value)}
    return state


def submit(
    slack: SlackClient,
    view: dict[str, Any],
    user: SlackUserRef,
    values: dict[str, Any] | None = None,
    *,
    view_id: str | None = None,
) -> Response:
    """Submit ``view`` as ``user`` with ``values`` filled in (same ``view_id`` = same view
    submitted again, as a double click does)."""
    return slack.interact(
        {
            "type": "view_submission",
            "team": {"id": user.team_id, "domain": user.team_domain},
            "user": {"id": user.id, "team_id": user.team_id},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "trigger_id": f"{uuid.uuid4().hex[:8]}.{user.id}.trigger",
            "view": {
                "id": view_id or f"V{uuid.uuid4().hex[:10].upper()}",
                "team_id": user.team_id,
                "type": "modal",
                "callback_id": view["callback_id"],
                "blocks": view["blocks"],
                "private_metadata": view.get("private_metadata", ""),
                "state": {"values": state_of(view, values or {})},
                "hash": "h",
            },
        }
    )


def field_errors(r: Response) -> dict[str, str]:
    """The ``response_action: errors`` answer of a submission (fails on anything else)."""
    assert r.status == 200, r.text
    body = r.json()
    assert body and body.get("response_action") == "errors", body
    return body["errors"]


def closed(r: Response) -> None:
    """The submission was accepted: an empty acknowledgement closes the modal."""
    assert r.status == 200, r.text
    assert not r.body or r.json() in (None, {}), r.text


def buttons(blocks: list[dict[str, Any]], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        elements = list(block.get("elements", []))
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        found += [e for e in elements if e.get("action_id") == action_id]
    return found


def text_of(blocks: list[dict[str, Any]], fallback: str = "") -> str:
    parts = [fallback]
    for block in blocks:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []) + block.get("fields", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def click_in_view(
    slack: SlackClient,
    action_id: str,
    value: str,
    user: SlackUserRef,
    view: dict[str, Any],
    view_id: str = "VHOME",
) -> Response:
    """A button pressed on App Home (or in a modal): no response_url, the view comes along."""
    return slack.interact(
        {
            "type": "block_actions",
            "user": {"id": user.id, "team_id": user.team_id},
            "team": {"id": user.team_id, "domain": user.team_domain},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "trigger_id": f"{uuid.uuid4().hex[:8]}.{user.id}.trigger",
            "container": {"type": "view", "view_id": view_id},
            "view": {**view, "id": view_id, "private_metadata": view.get("private_metadata", "")},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
    )


def json_value(ref: str, stage: str) -> str:
    return json.dumps({"ref": ref, "stage": stage})
