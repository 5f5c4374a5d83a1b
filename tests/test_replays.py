"""A signed request retried by Slack (``X-Slack-Retry-Num``) or replayed byte for byte inside
the signature window repeats no effect (SPEC 10; issue 10 finding 5): commands, button
actions, modal submissions and events, against the real web process on both databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from crm import followups, leads, replays
from crm.clock import utcnow
from crm.models import AuditLog, Communication, FollowUp, ReceivedRequest
from tests.admin_support import Team, new_team
from tests.e2e_support import Site, SlackClient, posted_to, site_fixture
from tests.surface_support import calls_for, closed, opened_view, submit, wait_calls

site = site_fixture("RP")


@pytest.fixture
def team(site: Site) -> Team:
    return new_team(site.fake)


@pytest.fixture
def slack(site: Site) -> Iterator[SlackClient]:
    yield SlackClient(site.web)


def logged(site: Site, text: str, since: int = 0, timeout: float = 20.0) -> str:
    """Wait until the web process logged ``text`` after offset ``since`` of its log (a
    command's replay is dropped where it runs, after its acknowledgement); returns the line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in site.web.log()[since:].splitlines():
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{site.web.log()[-3000:]}")


def answers_to(site: Site, url: str) -> int:
    return len([c for c in site.fake.calls_to("response_url") if url.endswith(c.path)])


def test_a_command_replayed_byte_for_byte_logs_one_call(
    site: Site, slack: SlackClient, team: Team
) -> None:
    lead = leads.create_lead(team.rep.actor, name="Replay Target")
    url = site.fake.response_url(f"replay-log-{lead.id}")
    first = slack.command(
        f'log call L{lead.id} "Discussed pricing"', team.rep.ref, response_url=url
    )
    assert first.via == "response_url" and f"L{lead.id}" in first.text
    mark = len(site.web.log())
    again = slack.replay()
    assert again.status == 200 and again.body == b""  # acknowledged
    logged(site, "a retry or replay of a command already run", mark)
    comms = Communication.select().where(Communication.company == team.company)
    assert [c.content for c in comms] == ["Discussed pricing"]
    assert answers_to(site, url) == 1  # the replay was not even answered twice
    assert "Traceback" not in site.web.log()


def test_slacks_retries_of_a_followup_set_one_follow_up(
    site: Site, slack: SlackClient, team: Team
) -> None:
    lead = leads.create_lead(team.rep.actor, name="Retry Target")
    url = site.fake.response_url(f"replay-fu-{lead.id}")
    r = slack.command(
        f'followup L{lead.id} "Call back" due=tomorrow', team.rep.ref, response_url=url
    )
    assert r.via == "response_url" and "Call back" in r.text
    mark = len(site.web.log())
    for n in (1, 2):  # Slack's retries: the same body signed anew, with X-Slack-Retry-Num
        retried = slack.replay(retry=n)
        assert retried.status == 200 and retried.body == b""
    deadline = time.monotonic() + 20
    while site.web.log()[mark:].count("a retry or replay of a command already run") < 2:
        assert time.monotonic() < deadline, site.web.log()[-3000:]
        time.sleep(0.05)
    assert FollowUp.select().where(FollowUp.company == team.company).count() == 1
    assert answers_to(site, url) == 1


def test_a_replayed_button_click_changes_nothing_again(
    site: Site, slack: SlackClient, team: Team
) -> None:
    lead = leads.create_lead(team.rep.actor, name="Snooze Target")
    fu = followups.create_follow_up(
        team.rep.actor,
        subject_type="lead",
        subject_id=lead.id,
        title="Ring",
        due_at=utcnow() + timedelta(hours=1),
    )
    url = site.fake.response_url(f"replay-snooze-{fu.id}")
    assert (
        slack.click("followup_snooze_1d", f"{fu.id}:1d", team.rep.ref, response_url=url).status
        == 200
    )
    posted_to(site.fake, url)  # the snooze happened and was answered
    audited = AuditLog.select().where(AuditLog.company == team.company).count()
    snoozed = FollowUp.get_by_id(fu.id).snoozed_until
    mark = len(site.web.log())
    for replay in (slack.replay(), slack.replay(retry=1)):
        assert replay.status == 200 and replay.body == b""
    logged(site, "(retry 1): acknowledged, not repeated", mark)
    time.sleep(0.3)  # were it run, the click's work would be under way by now
    assert AuditLog.select().where(AuditLog.company == team.company).count() == audited
    assert FollowUp.get_by_id(fu.id).snoozed_until == snoozed
    assert answers_to(site, url) == 1


def test_a_replayed_modal_submission_logs_once(site: Site, slack: SlackClient, team: Team) -> None:
    lead = leads.create_lead(team.rep.actor, name="Modal Target")
    assert slack.command("log", team.rep.ref).status == 200
    view = opened_view(site.fake, team.rep.ref)
    values = {"ref": f"L{lead.id}", "type": "meeting", "content": "Walked through it"}
    closed(submit(slack, view, team.rep.ref, values))
    mark = len(site.web.log())
    replayed = slack.replay()
    assert replayed.status == 200 and replayed.body == b""
    logged(site, "already taken in", mark)
    assert Communication.select().where(Communication.company == team.company).count() == 1


def test_an_event_retried_by_slack_is_handled_once(
    site: Site, slack: SlackClient, team: Team
) -> None:
    home = {"type": "app_home_opened", "user": team.rep.id, "tab": "home", "channel": "D1"}
    assert slack.event(home, team_id=team.company.team_id).status == 200
    published = wait_calls(site.fake, "views.publish", team.rep.ref)
    assert len(published) == 1
    mark = len(site.web.log())
    assert slack.replay(retry=1).status == 200
    logged(site, "(retry 1): acknowledged, not repeated", mark)
    time.sleep(0.3)
    assert len(calls_for(site.fake, "views.publish", team.rep.ref)) == 1


def test_claims_are_one_row_per_request_and_pruned_after_an_hour(site: Site) -> None:
    assert replays.claim("test:prune-me") is True
    assert replays.claim("test:prune-me") is False
    ReceivedRequest.update(created_at=utcnow() - timedelta(hours=2)).where(
        ReceivedRequest.key == "test:prune-me"
    ).execute()
    assert replays.prune() >= 1
    assert replays.claim("test:prune-me") is True
    replays.release("test:prune-me")
    assert not ReceivedRequest.select().where(ReceivedRequest.key == "test:prune-me").exists()
