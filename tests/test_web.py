"""The web process end to end: gunicorn serving ``bot.web`` over real HTTP, Slack-signed
requests, the real database of the ``db`` fixture, and FakeSlack as the Slack Web API."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import pytest

from crm.clock import utcnow
from crm.models import AuditLog, Company, IdempotencyKey, Lead, Member, SlackInstallation
from tests.e2e_support import (
    SlackClient,
    SlackUserRef,
    WebProcess,
    check_all_payloads,
    free_port,
    http,
    posted_to,
    start_web,
)
from tests.slack_fake import Call, FakeSlack, SlackUser

if TYPE_CHECKING:
    from tests.conftest import TestDB

pytestmark = pytest.mark.slow

JANE = SlackUser("UJANE", "Jane Admin", "jane@acme.io", tz="Africa/Lusaka", is_admin=True)
BOB = SlackUser("UBOB", "Bob Rep", "bob@acme.io", tz="America/New_York")
GINA = SlackUser("UGINA", "Gina Globex", "gina@globex.io", team_id="TGLOBEX")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        for user in (JANE, BOB, GINA):
            fake.add_user(user)
        yield fake


@pytest.fixture
def web(db: TestDB, fake: FakeSlack, tmp_path: Path) -> Iterator[WebProcess]:
    with start_web(db.url, fake, tmp_path) as proc:
        yield proc


@pytest.fixture
def slack(web: WebProcess, fake: FakeSlack) -> Iterator[SlackClient]:
    client = SlackClient(web)
    yield client
    check_all_payloads(client, fake)


def ref(user: SlackUser) -> SlackUserRef:
    return SlackUserRef(user.id, user.team_id, user.team_id.lower())


def answer_text(payload: dict) -> str:
    """Everything a member reads in a message: the fallback text and every block's text."""
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []) + block.get("fields", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


# --- process and security ----------------------------------------------------------------------


def test_healthz_checks_the_database(web: WebProcess) -> None:
    r = http("GET", f"{web.url}/healthz")
    assert r.status == 200
    assert r.json()["database"] == "ok"


def test_a_wrong_signature_is_refused(slack: SlackClient, db: TestDB) -> None:
    r = slack.post(
        b"command=%2Fcrm&text=help&team_id=TACME&user_id=UJANE",
        "application/x-www-form-urlencoded",
        headers={"X-Slack-Signature": "v0=" + "0" * 64},
    )
    assert r.status == 401
    assert Member.select().count() == 0


def test_a_request_older_than_five_minutes_is_refused(slack: SlackClient, db: TestDB) -> None:
    r = slack.command("help", ref(JANE), timestamp=int(time.time()) - 6 * 60)
    assert r.status == 401
    assert Member.select().count() == 0


def test_first_request_creates_company_and_members_from_users_info(
    slack: SlackClient, fake: FakeSlack, db: TestDB
) -> None:
    assert slack.command("help", ref(JANE)).status == 200
    assert slack.command("help", ref(BOB)).status == 200
    company = Company.get(Company.team_id == "TACME")
    assert company.currency == "ZMW"
    jane = Member.get(Member.slack_user_id == "UJANE")
    bob = Member.get(Member.slack_user_id == "UBOB")
    assert (jane.role, jane.name, jane.email, jane.tz) == (
        "admin",
        "Jane Admin",
        "jane@acme.io",
        "Africa/Lusaka",
    )
    assert (bob.role, bob.tz) == ("rep", "America/New_York")
    # a member is looked up at most daily, not on every request
    slack.command("help", ref(JANE))
    assert len(fake.calls_to("users.info")) == 2
    assert {c.token for c in fake.calls_to("users.info")} == {"xoxb-test-token"}


# --- /crm help ------------------------------------------------------------------------------


def test_help_lists_commands(slack: SlackClient) -> None:
    r = slack.command("", ref(BOB))
    assert r.status == 200
    assert (r.via, r.ack and r.ack.body) == ("response_url", b"")  # acked empty, then answered
    body = r.json()
    assert body["response_type"] == "ephemeral"
    text = answer_text(body)
    assert "/crm lead add" in text and "/crm pipeline" in text and "/crm campaign send" in text
    topic = answer_text(slack.command("help lead", ref(BOB)).json())
    assert "/crm lead convert L12" in topic and "/crm pipeline" not in topic


def test_bad_input_gets_usage_not_an_error(slack: SlackClient, db: TestDB) -> None:
    r = slack.command("lead frobnicate", ref(BOB))
    assert r.via == "ack"  # the grammar alone answers it: no database, no Slack call
    text = answer_text(r.json())
    assert '"frobnicate" is not something I can do with lead' in text
    assert "/crm lead add" in text
    assert Member.select().count() == 0


# --- acknowledgement first ---------------------------------------------------------------------


@pytest.fixture
def users_info_gate(fake: FakeSlack) -> Iterator[threading.Event]:
    """``users.info`` answers only once the test opens the gate (a Slack that is slow to say
    who someone is); opened at teardown whatever happened."""
    gate = threading.Event()

    def held(call: Call) -> dict:
        gate.wait(30)
        user = fake.users[str(call.args.get("user"))]
        return {"ok": True, "user": user.as_api()}

    fake.handlers["users.info"] = held
    yield gate
    gate.set()


def test_a_command_is_acknowledged_before_anything_is_looked_up(
    slack: SlackClient, fake: FakeSlack, db: TestDB, users_info_gate: threading.Event
) -> None:
    """A member seen for the first time: the acknowledgement does not wait for ``users.info``
    (nor the database); the command still runs once Slack answers, and its receipt arrives."""
    ack = slack.command('lead add "Early Bird"', ref(BOB), wait=False)
    assert (ack.status, ack.body) == (200, b"")
    fake.wait_for("users.info", 1)  # the background job is waiting on Slack right now
    assert Lead.select().count() == 0
    users_info_gate.set()
    answer = fake.wait_for("response_url", 1)[-1]  # the only command: its answer
    lead = Lead.get(Lead.name == "Early Bird")
    assert f"L{lead.id}" in answer_text(answer.args)
    assert lead.assigned_to.slack_user_id == "UBOB"


def test_a_retried_command_creates_one_lead(
    slack: SlackClient, fake: FakeSlack, db: TestDB
) -> None:
    """Slack sends the same invocation again (same trigger_id, ``X-Slack-Retry-Num``) while
    the first is still being handled: both get the receipt of the one lead."""
    text = 'lead add "Twin Peaks" email=twin@peaks.io'
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(
                lambda headers: slack.command(
                    text, ref(BOB), trigger_id="T.RETRY", headers=headers
                ),
                [{}, retry, {**retry, "X-Slack-Retry-Num": "2"}],
            )
        )
    (lead,) = Lead.select()
    (key,) = IdempotencyKey.select()
    assert [f"L{lead.id}" in answer_text(r.json()) for r in answers] == [True] * 3
    assert {_receipt_change_id(r.json()) for r in answers} == {key.change_id}


def test_a_command_acknowledged_before_a_shutdown_is_still_answered(
    web: WebProcess, fake: FakeSlack, db: TestDB, users_info_gate: threading.Event
) -> None:
    """A deploy stops the web process right after it acknowledged a command whose work had
    not finished: the worker's handler process finishes it before the worker exits."""
    slack = SlackClient(web)
    ack = slack.command('lead add "Last Orders"', ref(BOB), wait=False)
    assert (ack.status, ack.body) == (200, b"")
    fake.wait_for("users.info", 1)
    stopping = threading.Thread(target=web.stop)
    stopping.start()  # SIGTERM, then wait for the process to exit
    deadline = time.monotonic() + 10
    while "Handling signal: term" not in web.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Handling signal: term" in web.log()
    users_info_gate.set()
    stopping.join(30)
    assert web.proc.poll() is not None
    lead = Lead.get(Lead.name == "Last Orders")
    (answer,) = fake.calls_to("response_url")
    assert f"L{lead.id}" in answer_text(answer.args)


# --- lead add, Undo ---------------------------------------------------------------------------


def _receipt_change_id(payload: dict) -> str:
    for block in payload["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "undo":
                return element["value"]
    raise AssertionError(f"no Undo button in {payload}")


def test_lead_add_answers_a_receipt_and_undo_removes_it_once(
    slack: SlackClient, fake: FakeSlack, db: TestDB
) -> None:
    r = slack.command('lead add "Jane Doe" email=<mailto:jane@x.io|jane@x.io> value=50k', ref(BOB))
    body = r.json()
    lead = Lead.get(Lead.name == "Jane Doe")
    assert (lead.email, lead.estimated_value) == ("jane@x.io", 50000)
    assert lead.assigned_to.slack_user_id == "UBOB"
    assert f"L{lead.id}" in answer_text(body)
    change_id = _receipt_change_id(body)

    slack.click("undo", change_id, ref(BOB), response_url=fake.response_url("undo1"))
    first = posted_to(fake, fake.response_url("undo1"))
    assert "Undone" in answer_text(first.args)
    assert first.args.get("replace_original") is True
    assert Lead.get_or_none(Lead.id == lead.id) is None

    slack.click("undo", change_id, ref(BOB), response_url=fake.response_url("undo2"))
    second = posted_to(fake, fake.response_url("undo2"))
    assert "already undone" in answer_text(second.args)
    assert Lead.select().count() == 0


def test_undo_after_ten_minutes_is_refused(slack: SlackClient, fake: FakeSlack, db: TestDB) -> None:
    change_id = _receipt_change_id(slack.command('lead add "Old News"', ref(BOB)).json())
    # the web process runs on the real clock, so the change is made old instead
    AuditLog.update(created_at=utcnow() - timedelta(minutes=11)).where(
        AuditLog.change_id == change_id
    ).execute()
    slack.click("undo", change_id, ref(BOB), response_url=fake.response_url("late"))
    answer = posted_to(fake, fake.response_url("late"))
    assert "within 10 minutes" in answer_text(answer.args)
    assert Lead.select().count() == 1


def test_lead_add_with_a_bad_value_says_what_is_wrong_and_creates_nothing(
    slack: SlackClient, db: TestDB
) -> None:
    text = answer_text(slack.command('lead add "Jane Doe" value=12x', ref(BOB)).json())
    assert 'value: "12x" is not an amount; try' in text
    assert "/crm lead add" in text  # the usage line
    assert Lead.select().count() == 0


def test_a_duplicate_offers_use_or_create_anyway(
    slack: SlackClient, fake: FakeSlack, db: TestDB
) -> None:
    slack.command('lead add "Jane Doe" email=jane@x.io', ref(BOB))
    body = slack.command('lead add "Janet Doe" email=JANE@x.io', ref(BOB)).json()
    assert "Use L" in json.dumps(body)
    anyway = next(
        e
        for b in body["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == "lead_create_anyway"
    )
    for n in (1, 2):  # a double click
        url = fake.response_url(f"anyway{n}")
        slack.click("lead_create_anyway", anyway["value"], ref(BOB), response_url=url)
    for n in (1, 2):
        posted_to(fake, fake.response_url(f"anyway{n}"))
    assert Lead.select().count() == 2


def test_another_workspace_cannot_see_a_lead(slack: SlackClient, db: TestDB) -> None:
    Company.create(team_id="TGLOBEX", name="Globex")  # installed too
    slack.command('lead add "Acme Secret"', ref(BOB))
    lead = Lead.get(Lead.name == "Acme Secret")
    own = answer_text(slack.command(f"lead L{lead.id}", ref(BOB)).json())
    assert "Acme Secret" in own
    other = answer_text(slack.command(f"lead l{lead.id}", ref(GINA)).json())
    assert f"L{lead.id} not found" in other and "Acme Secret" not in other
    assert Member.get(Member.slack_user_id == "UGINA").company.team_id == "TGLOBEX"


# --- failures ---------------------------------------------------------------------------------


def test_an_unreachable_database_gets_an_apology_with_a_request_id(
    db: TestDB, fake: FakeSlack, tmp_path: Path
) -> None:
    """A real failure, not a planted one: the database the process was given is not there."""
    if db.backend == "postgres":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/crm"
    else:
        url = f"sqlite:///{tmp_path}/missing-dir/crm.db"
    with start_web(url, fake, tmp_path, expect_healthy=False) as web:
        assert http("GET", f"{web.url}/healthz").status == 503
        client = SlackClient(web)
        r = client.command('lead add "Jane Doe"', ref(BOB))
        assert r.status == 200
        text = answer_text(r.json())
        assert "Sorry, something went wrong" in text
        request_id = text.split("reference `")[1].split("`")[0]
        assert len(request_id) == 10
        deadline = time.monotonic() + 5
        while request_id not in web.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"request {request_id} failed" in web.log()
        check_all_payloads(client, fake)


# --- OAuth ----------------------------------------------------------------------------------


def test_oauth_install_stores_the_installation_and_serves_the_new_workspace(
    db: TestDB, fake: FakeSlack, tmp_path: Path
) -> None:
    fake.add_user(SlackUser("UNEWBIE", "New Person", team_id="TNEW", is_owner=True))
    with start_web(db.url, fake, tmp_path, oauth=True) as web:
        start = http("GET", f"{web.url}/slack/install")
        assert start.status == 302
        authorize = urlparse(start.headers["location"])
        query = parse_qs(authorize.query)
        assert authorize.netloc == "slack.com"
        assert "commands" in query["scope"][0]
        assert query["redirect_uri"] == [f"{web.url}/slack/oauth_redirect"]
        cookie = start.headers["set-cookie"].split(";")[0]
        state = query["state"][0]

        forged = http("GET", f"{web.url}/slack/oauth_redirect?code=abc&state=forged")
        assert forged.status >= 400 and SlackInstallation.select().count() == 0

        done = http(
            "GET",
            f"{web.url}/slack/oauth_redirect?code=abc&state={state}",
            headers={"Cookie": cookie},
        )
        assert done.status == 200, done.text
        (exchange,) = fake.calls_to("oauth.v2.access")
        assert exchange.args["code"] == "abc"
        row = SlackInstallation.get(SlackInstallation.team_id == "TNEW")
        assert row.bot_token == "xoxb-installed" and row.user_id == "UINSTALLER"

        client = SlackClient(web)
        body = client.command("help", SlackUserRef("UNEWBIE", "TNEW", "new")).json()
        assert "/crm lead add" in answer_text(body)
        assert Member.get(Member.slack_user_id == "UNEWBIE").role == "admin"
        assert {c.token for c in fake.calls_to("users.info")} == {"xoxb-installed"}
        check_all_payloads(client, fake)


def test_manifest_matches_the_app() -> None:
    """The manifest in the repo asks for what the app uses (no YAML parser needed: the
    entries are checked line by line)."""
    from bot.app import BOT_SCOPES, REDIRECT_PATH

    text = (Path(__file__).resolve().parent.parent / "manifest.yml").read_text()
    assert "command: /crm" in text and "should_escape: true" in text
    for scope in BOT_SCOPES:
        assert f"      - {scope}\n" in text
    for callback in ("log_to_crm", "lead_from_message", "follow_up_on_message", "new_lead"):
        assert f"callback_id: {callback}" in text
    assert "/slack/events" in text and REDIRECT_PATH in text and "app_home_opened" in text
