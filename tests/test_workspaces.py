"""Which Slack teams are workspaces (SPEC 10; issue 10 findings 7 and 13): only an OAuth
install or the bot token's own team (``auth.test`` at start-up) makes one; a signed request
from any other team is refused with a message saying so and creates nothing; and ``crm token
create --team T`` works for the bot token's team as soon as the web process has started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import pytest

from crm.models import ApiToken, Company, Member
from crm.tokens import authenticate
from tests.e2e_support import (
    Site,
    SlackClient,
    SlackUserRef,
    http,
    posted_to,
    site_fixture,
    start_web,
)
from tests.slack_fake import FakeSlack, SlackUser

if TYPE_CHECKING:
    from tests.conftest import TestDB

site = site_fixture("WS", private=True)  # its first test needs a fresh database

STRANGER = SlackUserRef("USTRANGE", "TSTRANGER", "strangers")
CRM = Path(sys.executable).with_name("crm")
REFUSAL = "This Slack workspace (TSTRANGER) is not connected to this CRM"


@pytest.fixture
def slack(site: Site) -> Iterator[SlackClient]:
    site.fake.add_user(SlackUser(STRANGER.id, "Sam Stranger", team_id=STRANGER.team_id))
    yield SlackClient(site.web)
    assert not Company.select().where(Company.team_id == STRANGER.team_id).exists()
    assert not Member.select().where(Member.slack_user_id == STRANGER.id).exists()
    assert "Traceback" not in site.web.log()


def test_the_bot_tokens_team_is_a_workspace_from_start_up(site: Site) -> None:
    (company,) = Company.select()  # before any request reached the web process
    assert (company.team_id, company.name) == ("TACME", "Acme")
    assert site.fake.calls_to("auth.test")[0].token == "xoxb-test-token"


def test_a_command_from_an_unknown_team_is_refused(site: Site, slack: SlackClient) -> None:
    r = slack.command("help", STRANGER)
    assert r.status == 200  # acknowledged; the refusal follows through response_url
    r = slack.command('lead add "Mallory"', STRANGER)
    assert r.via == "response_url" and REFUSAL in r.text
    assert "installing the app" in r.text


def test_a_click_a_shortcut_and_a_modal_from_an_unknown_team_are_refused(
    site: Site, slack: SlackClient
) -> None:
    url = site.fake.response_url("stranger-click")
    assert slack.click("undo", "c0ffee", STRANGER, response_url=url).status == 200
    assert REFUSAL in json.dumps(posted_to(site.fake, url).args)
    # a shortcut has no response_url: the refusal goes by DM, which Slack refuses for a user
    # of another workspace; that is one log line, not a traceback
    site.fake.fail_methods["chat.postMessage"] = "channel_not_found"
    try:
        mark = len(site.web.log())
        assert slack.shortcut("new_lead", STRANGER).status == 200
        deadline = time.monotonic() + 10
        while "could not deliver the error message" not in site.web.log()[mark:]:
            assert time.monotonic() < deadline, site.web.log()[-2000:]
            time.sleep(0.05)
    finally:
        del site.fake.fail_methods["chat.postMessage"]
    r = slack.submit_view("lead_modal", {}, STRANGER)
    assert r.status == 200 and REFUSAL in r.text
    assert r.json()["response_action"] == "update"


def test_an_event_from_an_unknown_team_is_acknowledged_and_dropped(
    site: Site, slack: SlackClient
) -> None:
    mark = len(site.web.log())
    home = {"type": "app_home_opened", "user": STRANGER.id, "tab": "home", "channel": "D9"}
    r = slack.event(home, team_id=STRANGER.team_id)
    assert r.status == 200  # not a 500: Slack would retry a refusal three times
    deadline = time.monotonic() + 10
    while "event refused" not in site.web.log()[mark:]:
        assert time.monotonic() < deadline, site.web.log()[-2000:]
        time.sleep(0.05)
    assert not [
        c for c in site.fake.calls_to("views.publish") if c.args.get("user_id") == STRANGER.id
    ]
    # events Bolt lets through without a token of the team's own (app_uninstalled,
    # tokens_revoked) do not vouch for it either
    for kind in ("app_uninstalled", "tokens_revoked"):
        assert slack.event({"type": kind}, team_id=STRANGER.team_id).status < 500


def test_token_create_works_for_the_bot_tokens_team_at_once(site: Site, tmp_path: Path) -> None:
    """Finding 13: no /crm was ever sent for TACME, yet the token is made for it."""
    env = {**os.environ, "DATABASE_URL": site.web.env["DATABASE_URL"], "COLUMNS": "160"}
    made = subprocess.run(
        [str(CRM), "token", "create", "--team", "TACME", "--name", "zapier"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    plaintext = made.stdout.strip().splitlines()[-1]
    actor = authenticate(plaintext)
    assert actor is not None
    assert actor.company_id == Company.get(Company.team_id == "TACME").id
    assert ApiToken.get(ApiToken.name == "zapier").company_id == actor.company_id

    other = subprocess.run(
        [str(CRM), "token", "create", "--team", "TSTRANGER"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "no workspace with team id 'TSTRANGER'; workspaces: TACME" in other.stderr

    # the workspace the token belongs to is the one the bot's own team then uses
    site.fake.add_user(SlackUser("UACMEREP", "Ann Acme"))
    slack = SlackClient(site.web)
    assert slack.command("help", SlackUserRef("UACMEREP")).status == 200
    assert Member.get(Member.slack_user_id == "UACMEREP").company_id == actor.company_id


def test_oauth_only_an_installed_team_becomes_a_workspace(db: TestDB, tmp_path: Path) -> None:
    with FakeSlack() as fake, start_web(db.url, fake, tmp_path, oauth=True) as web:
        fake.add_user(SlackUser(STRANGER.id, "Sam Stranger", team_id=STRANGER.team_id))
        client = SlackClient(web)
        r = client.command('lead add "Mallory"', STRANGER, wait=False)
        assert r.status < 500
        assert Company.select().count() == 0

        start = http("GET", f"{web.url}/slack/install")
        state = parse_qs(urlparse(start.headers["location"]).query)["state"][0]
        cookie = start.headers["set-cookie"].split(";")[0]
        done = http(
            "GET",
            f"{web.url}/slack/oauth_redirect?code=abc&state={state}",
            headers={"Cookie": cookie},
        )
        assert done.status == 200, done.text
        # the install made the workspace: a token can be made before anyone used /crm
        (company,) = Company.select()
        assert (company.team_id, company.name) == ("TNEW", "New")
        assert "Traceback" not in web.log()
