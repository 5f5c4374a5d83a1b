"""Random requests against the real web process's ``/slack/events`` (SPEC 10, issue 10):
random bytes, random form bodies and random JSON payloads, signed and unsigned, and Slack-
shaped payloads with random values reaching the real listeners. No answer is a 5xx, and the
module's log ends without a traceback (checked by the ``site`` fixture at teardown).

Sized to run in a few seconds per backend: each example is one local HTTP request."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.companies import get_or_create_company
from tests.e2e_support import Site, http, sign, site_fixture
from tests.slack_fake import SlackUser

site = site_fixture("Z")

TEAM, USER = "TFUZZ", "UFUZZ"
FUZZ = settings(
    max_examples=int(os.environ.get("CRM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Any text but lone surrogates (not UTF-8 at all), NUL and control characters included.
CHARS = st.characters(codec="utf-8")
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
    ]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(CHARS, max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(CHARS, max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
ACTION_IDS = st.sampled_from(
    [
        "undo",
        "followup_done",
        "followup_snooze_1h",
        "followup_open",
        "open_record",
        "opp_stage",
        "list_page",
        "audit_page_newer",
        "lead_use_existing",
        "lead_create_anyway",
        "customer_create_anyway",
        "pipeline_share",
        "nobody_listens",
    ]
)
CALLBACKS = st.sampled_from(
    ["lead_modal", "opportunity_modal", "log_modal", "followup_modal", "new_lead", "log_to_crm"]
)


@pytest.fixture
def web(site: Site) -> Site:
    site.fake.add_user(SlackUser(USER, "Fuzzy", team_id=TEAM))
    get_or_create_company(TEAM, "Fuzz")
    return site


def post(site: Site, body: bytes, content_type: str, signed: bool) -> int:
    headers = {"Content-Type": content_type} if content_type else {}
    if signed:
        headers.update(sign_bytes(body))
    r = http("POST", f"{site.web.url}/slack/events", body, headers)
    assert r.status < 500, (r.status, body[:300], r.text[:300])
    return r.status


def sign_bytes(body: bytes) -> dict[str, str]:
    """``sign`` for any bytes (slack_sdk's signer decodes the body as UTF-8 first)."""
    import hashlib
    import hmac

    from tests.e2e_support import SIGNING_SECRET

    ts = str(int(time.time()))
    mac = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest()}


@FUZZ
@given(body=st.binary(max_size=300), content_type=CONTENT_TYPES, signed=st.booleans())
def test_random_bytes(web: Site, body: bytes, content_type: str, signed: bool) -> None:
    post(web, body, content_type, signed)


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["payload", "command", "text", "team_id", "user_id", "ssl_check"])
        | st.text(CHARS, max_size=8),
        st.text(CHARS, max_size=40) | JSON_VALUES.map(json.dumps),
        max_size=5,
    ),
    signed=st.booleans(),
)
def test_random_form_bodies(web: Site, form: dict[str, str], signed: bool) -> None:
    post(web, urlencode(form).encode(), "application/x-www-form-urlencoded", signed)


@FUZZ
@given(payload=JSON_VALUES, as_form=st.booleans(), signed=st.booleans())
def test_random_json_payloads(web: Site, payload: Any, as_form: bool, signed: bool) -> None:
    text = json.dumps(payload)
    if as_form:
        post(
            web, urlencode({"payload": text}).encode(), "application/x-www-form-urlencoded", signed
        )
    else:
        post(web, text.encode(), "application/json", signed)


def _slack_shaped() -> st.SearchStrategy[dict[str, Any]]:
    """Payloads shaped like Slack's, for our team and user, with random values where the
    listeners read them: what a signed request can make a listener see."""
    user = st.fixed_dictionaries({"id": st.just(USER), "team_id": st.just(TEAM)})
    team = st.fixed_dictionaries({"id": st.just(TEAM), "domain": st.just("fuzz")})
    action = st.fixed_dictionaries(
        {"action_id": ACTION_IDS, "block_id": st.text(CHARS, max_size=10)},
        optional={"value": st.text(CHARS, max_size=45), "type": st.just("button")},
    )
    state_value = st.fixed_dictionaries(
        {},
        optional={
            "type": st.text(CHARS, max_size=10),
            "value": st.none() | st.text(CHARS, max_size=45),
            "selected_option": st.none()
            | st.fixed_dictionaries({"value": st.text(CHARS, max_size=20)}),
            "selected_user": st.none() | st.text(CHARS, max_size=12),
            "selected_date": st.none() | st.text(CHARS, max_size=12),
        },
    )
    values = st.dictionaries(
        st.sampled_from(["ref", "name", "title", "due", "value", "type", "content", "stage"]),
        st.dictionaries(st.just("value"), state_value, min_size=1, max_size=1),
        max_size=6,
    )
    common = {"user": user, "team": team, "trigger_id": st.just("1.2.fuzz")}
    return st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("block_actions"),
                "actions": st.lists(action, min_size=1, max_size=2),
                **common,
            },
            # on a message (answered through FakeSlack's response_url, set in the test), or
            # on App Home / in a modal (the view comes along)
            optional={
                "response_url": st.just("FAKE"),
                "container": st.fixed_dictionaries(
                    {"type": st.sampled_from(["message", "view"])},
                    optional={"view_id": st.text(CHARS, max_size=8)},
                ),
                "view": st.fixed_dictionaries(
                    {
                        "id": st.text(CHARS, min_size=1, max_size=8),
                        "type": st.sampled_from(["home", "modal"]),
                    },
                    optional={
                        "private_metadata": st.text(CHARS, max_size=30)
                        | JSON_VALUES.map(json.dumps)
                    },
                ),
            },
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("view_submission"),
                "view": st.fixed_dictionaries(
                    {
                        "id": st.text(CHARS, min_size=1, max_size=10),
                        "type": st.just("modal"),
                        "callback_id": CALLBACKS,
                        "state": st.fixed_dictionaries({"values": values}),
                        "private_metadata": st.text(CHARS, max_size=40)
                        | JSON_VALUES.map(json.dumps),
                    }
                ),
                **common,
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["shortcut", "message_action"]),
                "callback_id": CALLBACKS,
                **common,
            },
            optional={"message": st.fixed_dictionaries({"text": st.text(CHARS, max_size=40)})},
        ),
    )


@FUZZ
@given(payload=_slack_shaped())
def test_slack_shaped_payloads_with_random_values(web: Site, payload: dict[str, Any]) -> None:
    if "response_url" in payload:
        payload["response_url"] = web.fake.response_url("fuzz")
    post(
        web,
        urlencode({"payload": json.dumps(payload)}).encode(),
        "application/x-www-form-urlencoded",
        True,
    )


@FUZZ
@given(text=st.text(CHARS, max_size=80))
def test_random_command_text(web: Site, text: str) -> None:
    form = {
        "command": "/crm",
        "text": text,
        "team_id": TEAM,
        "user_id": USER,
        "response_url": web.fake.response_url("fuzz"),
        "trigger_id": "1.2.fuzz",
    }
    post(web, urlencode(form).encode(), "application/x-www-form-urlencoded", True)


def test_the_signer_matches_the_suites(web: Site) -> None:
    """The fuzz tests sign raw bytes themselves; for UTF-8 bodies that is the suite's signer."""
    body = b"command=%2Fcrm&text=help"
    assert sign_bytes(body)["X-Slack-Signature"] == sign(body)["X-Slack-Signature"]
