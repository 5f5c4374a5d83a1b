"""Malformed requests to ``/slack/events`` (SPEC 10; issue 10 findings 3 and 4): the real web
process answers 400 or 401 with a short body naming what is wrong, logs exactly one line and
no traceback, and changes nothing. One web process per backend for the module."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from crm.models import Company, FollowUp, Lead
from tests.e2e_support import (
    SIGNING_SECRET,
    Response,
    Site,
    SlackClient,
    SlackUserRef,
    http,
    posted_to,
    sign,
    site_fixture,
)
from tests.slack_fake import SlackUser

site = site_fixture("G")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
REP = SlackUserRef("UGREP", "TGUARD", "guard")


@pytest.fixture
def web(site: Site) -> Iterator[Site]:
    """The module's web process, with the workspace the valid-looking requests come from."""
    site.fake.add_user(SlackUser(REP.id, "Grace Guard", team_id=REP.team_id))
    Company.get_or_create(team_id=REP.team_id, defaults={"name": "Guard"})
    yield site


@dataclass
class Sent:
    response: Response
    log: str  # what the web process logged while answering


def send(
    site: Site,
    body: bytes,
    content_type: str = FORM,
    *,
    signed: bool = True,
    timestamp: str | None = None,
) -> Sent:
    """POST ``body`` as Slack would (signed) or as a stranger would; returns the answer and
    the server log lines it caused."""
    headers = {"Content-Type": content_type}
    if signed or timestamp is not None:  # a malformed timestamp is signed correctly too
        timestamp = str(int(time.time())) if timestamp is None else timestamp
        mac = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, "sha256")
        headers.update(
            {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + mac.hexdigest()}
        )
    before = len(site.web.log())
    response = http("POST", f"{site.web.url}/slack/events", body, headers)
    time.sleep(0.05)  # the log line is written before the answer; let the file catch up
    return Sent(response, site.web.log()[before:])


def refused(sent: Sent, status: int, says: str) -> None:
    r = sent.response
    assert r.status == status, (r.status, r.text)
    assert says in r.text, r.text
    assert len(r.body) < 300 and r.headers["content-type"].startswith("text/plain")
    assert "Traceback" not in sent.log, sent.log
    lines = [line for line in sent.log.splitlines() if "refused" in line]
    assert len(lines) == 1, sent.log
    assert f"refused ({status})" in lines[0]


def form_payload(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def counts() -> tuple[int, int, int]:
    return Company.select().count(), Lead.select().count(), FollowUp.select().count()


# --- finding 3: anything malformed before authentication -------------------------------------

UNSIGNED = [
    ("bad JSON", b"{not json", JSON),
    ("payload not JSON", b"payload=%7Bnot", FORM),
    ("payload a list", b"payload=[1]", FORM),
    ("bad form encoding", b"payload=%E0%A4%A&&=x=%ZZ", FORM),
    ("bad UTF-8", b"payload=\xff\xfe", FORM),
    ("a good command", urlencode({"command": "/crm", "text": "help"}).encode(), FORM),
]


@pytest.mark.parametrize(("case", "body", "ctype"), UNSIGNED, ids=[c[0] for c in UNSIGNED])
def test_an_unsigned_request_is_refused_before_its_body_is_read(
    web: Site, case: str, body: bytes, ctype: str
) -> None:
    before = counts()
    refused(send(web, body, ctype, signed=False), 401, "X-Slack-Signature are required")
    assert counts() == before


def test_a_body_over_a_megabyte_is_refused_unread(web: Site) -> None:
    sent = send(web, b"payload=" + b"x" * (1024 * 1024 + 1), signed=False)
    assert sent.response.status == 413 and "Traceback" not in sent.log


def test_a_wrong_signature_is_refused_whatever_the_body(web: Site) -> None:
    headers = {"Content-Type": JSON, **sign(b"{}")}
    before = len(web.web.log())
    r = http("POST", f"{web.web.url}/slack/events", b"{not json", headers)
    assert r.status == 401 and "does not match" in r.text
    assert "Traceback" not in web.web.log()[before:]


# --- finding 4: a malformed timestamp ----------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["abc", "1e3", "9" * 400, "-5", "17.5"])
def test_a_malformed_timestamp_is_refused(web: Site, timestamp: str) -> None:
    body = urlencode({"command": "/crm", "text": "help", "team_id": "TGUARD"}).encode()
    refused(send(web, body, timestamp=timestamp), 401, "X-Slack-Request-Timestamp must be whole")


def test_a_timestamp_outside_the_window_is_refused(web: Site) -> None:
    body = urlencode({"command": "/crm", "text": "help"}).encode()
    refused(send(web, body, timestamp=str(int(time.time()) - 301)), 401, "5 minutes")


# --- finding 4: signed bodies that are not what Slack sends (14 cases and more) ---------------

DEEP = "[" * 5000 + "]" * 5000
SIGNED = [
    ("payload not JSON", b"payload=%7Bnot", FORM, "payload is not JSON"),
    ("payload empty", b"payload=", FORM, "payload is not JSON"),
    ("payload null", b"payload=null", FORM, "payload must be a JSON object, not null"),
    ("payload a list", b"payload=%5B1%5D", FORM, "payload must be a JSON object, not a list"),
    ("payload a number", b"payload=42", FORM, "payload must be a JSON object, not a number"),
    ("payload a string", b"payload=%22hi%22", FORM, "not a string"),
    ("payload bad UTF-8", b"payload=%7B%22type%22%3A%22%FF%22%7D", FORM, "not application/x-www"),
    ("body bad UTF-8", b"payload=\xff\xfe", FORM, "not UTF-8"),
    ("payload 5,000 deep", ("payload=" + quote(DEEP)).encode(), FORM, "levels deep"),
    (
        "payload 5,000 deep in an object",
        ("payload=" + quote('{"type":"block_actions","x":' + DEEP + "}")).encode(),
        FORM,
        "levels deep",
    ),
    ("form without fields", b"text=help", FORM, "needs a command or a payload"),
    ("form field twice", b"payload=%7B%7D&payload=%7B%7D", FORM, "more than once"),
    ("JSON body not JSON", b"{not json", JSON, "body is not JSON"),
    ("JSON body a list", b"[1]", JSON, "body must be a JSON object, not a list"),
    ("JSON body 5,000 deep", DEEP.encode(), JSON, "levels deep"),
    ("other content type", b"<xml/>", "text/xml", "Content-Type must be"),
    ("command without user", b"command=%2Fcrm&team_id=TGUARD&text=help", FORM, "user_id"),
    ("event without event", b'{"type":"event_callback","event_id":"Ev1"}', JSON, "body.event"),
]


def _actions(actions: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": REP.id, "team_id": REP.team_id},
        "team": {"id": REP.team_id, "domain": "guard"},
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:9/never-called",
        "actions": actions,
    }


SIGNED_PAYLOADS = [
    ("actions empty", _actions([]), "payload.actions must not be empty"),
    ("actions null", _actions(None), "payload.actions must be a list"),
    ("actions a dict", _actions({"action_id": "undo"}), "payload.actions must be a list"),
    ("action without id", _actions([{"value": "1"}]), "payload.actions[0].action_id is required"),
    ("action value a number", _actions([{"action_id": "undo", "value": 7}]), ".value must be"),
    ("no type", {"user": {"id": REP.id}}, "payload.type is required"),
    (
        "click with nowhere to answer",
        {k: v for k, v in _actions([{"action_id": "undo"}]).items() if k != "response_url"},
        "payload needs response_url or view",
    ),
]


@pytest.mark.parametrize(("case", "body", "ctype", "says"), SIGNED, ids=[c[0] for c in SIGNED])
def test_a_signed_malformed_body_is_a_400(
    web: Site, case: str, body: bytes, ctype: str, says: str
) -> None:
    before = counts()
    refused(send(web, body, ctype), 400, says)
    assert counts() == before


@pytest.mark.parametrize(
    ("case", "payload", "says"), SIGNED_PAYLOADS, ids=[c[0] for c in SIGNED_PAYLOADS]
)
def test_a_signed_payload_of_the_wrong_shape_is_a_400(
    web: Site, case: str, payload: dict[str, Any], says: str
) -> None:
    before = counts()
    refused(send(web, form_payload(payload)), 400, says)
    assert counts() == before


# --- finding 4: payloads that reached listeners and crashed them (10 cases) -----------------


def _view(values: Any, user: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": REP.team_id, "domain": "guard"},
        "trigger_id": "1.2.3",
        "view": {
            "id": "VGUARD",
            "type": "modal",
            "callback_id": "lead_modal",
            "private_metadata": "",
            "state": {"values": values},
        },
    }
    if user is not None:
        payload["user"] = user
    return payload


def _no_user(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "user"}


SHAPES = [
    ("button without user", _no_user(_actions([{"action_id": "undo", "value": "x"}])), "user"),
    ("modal without user", _view({}), "payload.user is required"),
    (
        "shortcut without user",
        {"type": "shortcut", "callback_id": "new_lead", "trigger_id": "1.2"},
        "payload.user is required",
    ),
    ("user a string", {**_actions([{"action_id": "undo"}]), "user": "U1"}, "payload.user"),
    ("user without id", {**_actions([{"action_id": "undo"}]), "user": {"name": "x"}}, "id"),
    (
        "state values a list",
        _view([], {"id": REP.id}),
        "payload.view.state.values must be an object",
    ),
    (
        "state value a number",
        _view({"name": {"value": {"type": "plain_text_input", "value": 5}}}, {"id": REP.id}),
        "payload.view.state.values.name.value.value must be text or null",
    ),
    (
        "selected option a string",
        _view(
            {"stage": {"value": {"type": "static_select", "selected_option": "won"}}},
            {"id": REP.id},
        ),
        "selected_option",
    ),
    (
        "selected users not a list",
        _view({"who": {"value": {"selected_users": "U1"}}}, {"id": REP.id}),
        "payload.view.state.values.who.value.selected_users must be a list",
    ),
    (
        "view without state",
        {**_view({}, {"id": REP.id}), "view": {"id": "V", "type": "modal", "callback_id": "c"}},
        "state",
    ),
]


@pytest.mark.parametrize(("case", "payload", "says"), SHAPES, ids=[c[0] for c in SHAPES])
def test_a_payload_a_listener_could_not_read_is_a_400(
    web: Site, case: str, payload: dict[str, Any], says: str
) -> None:
    before = counts()
    refused(send(web, form_payload(payload)), 400, says)
    assert counts() == before


@pytest.mark.parametrize("action", ["followup_done", "followup_snooze_1h", "followup_open"])
def test_a_40_digit_button_value_gets_a_clear_message(web: Site, action: str) -> None:
    client = SlackClient(web.web)
    url = web.fake.response_url(f"guard-{action}")
    value = "9" * 40 + (":1h" if "snooze" in action else "")
    before = len(web.web.log())
    r = client.click(action, value, REP, response_url=url)
    assert r.status == 200 and r.body == b""
    text = json.dumps(posted_to(web.fake, url).args)
    assert "followup: " in text and "try F9" in text, text
    assert "Sorry, something went wrong" not in text
    assert "Traceback" not in web.web.log()[before:]


def test_a_command_with_the_word_payload_in_it_is_still_a_command(web: Site) -> None:
    """Bolt alone reads such a form as an interaction and loses the command."""
    r = SlackClient(web.web).command('lead add "pete the payload"', REP)
    assert r.via == "response_url" and "pete the payload" in r.text, r.text
    assert Lead.select().where(Lead.name == "pete the payload").count() == 1


def test_a_good_request_still_passes(web: Site) -> None:
    client = SlackClient(web.web)
    r = client.command("help", REP)
    assert r.status == 200 and "/crm lead add" in r.text


def test_a_button_without_a_value_in_a_view_gets_a_clear_message(web: Site) -> None:
    """Found by the fuzz test: Done on a card in a modal read ``value`` unguarded."""
    client = SlackClient(web.web)
    before = len(web.web.log())
    payload = {
        **_actions([{"action_id": "followup_done", "block_id": "b1", "type": "button"}]),
        "container": {"type": "view", "view_id": "VCARD"},
        "view": {"id": "VCARD", "type": "modal", "private_metadata": ""},
    }
    del payload["response_url"]
    assert client.interact(payload).status == 200
    dm = web.fake.wait_for("chat.postMessage")
    said = [c.args.get("text", "") for c in dm if c.args.get("channel") == REP.id]
    assert any("followup: " in text and "F9" in text for text in said), said
    assert "Traceback" not in web.web.log()[before:]
