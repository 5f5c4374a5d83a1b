"""``/crm followup ...`` and ``/crm followups`` end to end, over real HTTP against the real web
process, on both backends: set, complete (and Undo through the real button), cancel, snooze,
list overdue first with pages; each with its bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from crm import followups
from crm.clock import utcnow
from crm.models import FollowUp, Lead
from tests.e2e_support import SlackClient
from tests.records_support import Team, ask, buttons, click, ref_in, text_of, undo_id, warned

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)  # the site, team, outsider and slack fixtures


def new_lead(slack: SlackClient, team: Team) -> Lead:
    return Lead.get_by_id(ref_in(ask(slack, 'lead add "Jane Doe"', team.rep), "L"))


def new_follow_up(slack: SlackClient, team: Team, lead: Lead, due: str = "tomorrow") -> FollowUp:
    answer = ask(slack, f'followup L{lead.id} "Call back" due="{due}"', team.rep)
    return FollowUp.get_by_id(ref_in(answer, "F"))


def test_followup_add_sets_one_on_a_record(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    ask(slack, "help", team.rep2)
    answer = ask(
        slack,
        f'followup L{lead.id} "Send the proposal" due="tomorrow 3pm" priority=high '
        f"assign=<@{team.rep2.id}|bee>",
        team.rep,
    )
    fu = FollowUp.get_by_id(ref_in(answer, "F"))
    assert (fu.followable_type, fu.followable_id, fu.title, fu.priority, fu.status) == (
        "lead",
        lead.id,
        "Send the proposal",
        "high",
        "pending",
    )
    assert fu.assigned_to_id == team.member(team.rep2).id
    assert fu.due_at.minute == 0 and fu.due_at > utcnow()  # 15:00 in the member's zone
    text = text_of(answer)
    assert f"Created *F{fu.id}* Send the proposal" in text and f"<@{team.rep2.id}>" in text
    assert undo_id(answer)

    count = FollowUp.select().count()
    assert 'due: "someday" is not a date' in warned(
        ask(slack, f'followup L{lead.id} "x" due=someday', team.rep)
    )
    assert 'priority: "urgent" is not one of' in warned(
        ask(slack, f'followup L{lead.id} "x" due=tomorrow priority=urgent', team.rep)
    )
    assert "due= is required" in warned(ask(slack, f'followup L{lead.id} "x"', team.rep))
    assert "is a segment; here it must be" in warned(
        ask(slack, 'followup S1 "x" due=tomorrow', team.rep)
    )
    assert FollowUp.select().count() == count


def test_followup_done_and_undo_through_the_button(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    fu = new_follow_up(slack, team, lead, due="yesterday")  # overdue at once (rule 5)
    assert fu.status == "overdue"

    assert "is a lead; here it must be a follow-up" in warned(
        ask(slack, f"followup done L{lead.id}", team.rep)
    )
    assert FollowUp.get_by_id(fu.id).status == "overdue"

    answer = ask(slack, f'followup done F{fu.id} "she said yes"', team.rep)
    assert f"Completed *F{fu.id}* Call back" in text_of(answer)
    done = FollowUp.get_by_id(fu.id)
    assert (done.status, done.completion_notes) == ("completed", "she said yes")
    assert "already completed" in text_of(ask(slack, f"followup done F{fu.id}", team.rep))

    undone = click(slack, "undo", undo_id(answer), team.rep)
    assert "Undone" in text_of(undone)
    back = FollowUp.get_by_id(fu.id)
    assert (back.status, back.completed_at, back.completion_notes) == ("overdue", None, None)


def test_followup_cancel(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    fu = new_follow_up(slack, team, lead)
    answer = ask(slack, f"followup cancel f{fu.id}", team.rep)
    assert f"Cancelled *F{fu.id}* Call back" in text_of(answer) and undo_id(answer)
    assert FollowUp.get_by_id(fu.id).status == "cancelled"
    assert "already cancelled" in text_of(ask(slack, f"followup cancel F{fu.id}", team.rep))
    assert 'ref: "x9" is not a record reference such as L12' in warned(
        ask(slack, "followup cancel x9", team.rep)
    )
    assert "F999999 not found" in warned(ask(slack, "followup cancel F999999", team.rep))
    assert FollowUp.get_by_id(fu.id).status == "cancelled"


def test_followup_snooze_silences_reminders(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    fu = new_follow_up(slack, team, lead, due="yesterday")
    answer = ask(slack, f"followup snooze F{fu.id} 1d", team.rep)
    assert f"Snoozed *F{fu.id}* Call back" in text_of(answer) and undo_id(answer)
    snoozed = FollowUp.get_by_id(fu.id)
    expected = utcnow() + timedelta(days=1)
    assert abs((snoozed.snoozed_until - expected).total_seconds()) < 120
    assert snoozed.due_at == fu.due_at  # the due time stays: it is still late

    assert 'delay: "soon" is not a date' in warned(
        ask(slack, f"followup snooze F{fu.id} soon", team.rep)
    )
    assert "delay: must be in the future" in warned(
        ask(slack, f'followup snooze F{fu.id} "2 days ago"', team.rep)
    )
    assert FollowUp.get_by_id(fu.id).snoozed_until == snoozed.snoozed_until


def test_followups_lists_overdue_first_whose_and_pages(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    ask(slack, "help", team.rep2)
    rep, rep2 = team.actor(team.rep), team.member(team.rep2)
    now = utcnow()
    for i in range(22):
        followups.create_follow_up(
            rep,
            subject_type="lead",
            subject_id=lead.id,
            title=f"Later {i:02d}",
            due_at=now + timedelta(days=1, minutes=i),
        )
    late = followups.create_follow_up(
        rep,
        subject_type="lead",
        subject_id=lead.id,
        title="Late one",
        due_at=now - timedelta(hours=2),
    )
    theirs = followups.create_follow_up(
        rep,
        subject_type="lead",
        subject_id=lead.id,
        title="Theirs",
        due_at=now + timedelta(hours=1),
        assigned_to_id=rep2.id,
    )

    first = ask(slack, "followups", team.rep)
    text = text_of(first)
    assert "Your open follow-ups* (1-20)" in text and "*overdue*" in text
    assert text.index("Late one") < text.index("Later 00") and "Theirs" not in text
    assert len(re.findall(r"\*F\d+\*", text)) == 20
    assert str(late.id) in [b["value"] for b in buttons(first, "followup_done")]
    (more,) = buttons(first, "list_page")
    second = text_of(click(slack, "list_page", more["value"], team.rep))
    assert "(21-23)" in second and "Later 21" in second and "Late one" not in second

    overdue = text_of(ask(slack, "followups overdue", team.rep))
    assert "Late one" in overdue and "Later" not in overdue
    theirs_text = text_of(ask(slack, f"followups <@{team.rep2.id}|bee>", team.rep))
    assert f"*F{theirs.id}* Theirs" in theirs_text and "Late one" not in theirs_text
    assert "Theirs" in text_of(ask(slack, "followups mine", team.rep2))
    team_page = text_of(ask(slack, "followups team", team.rep))
    assert "The team's open follow-ups* (1-20)" in team_page and "Late one" in team_page

    # the Done button on a list row is the reminder's own, and works from here too
    done = click(slack, "followup_done", str(late.id), team.rep)
    assert f"F{late.id}" in text_of(done) and FollowUp.get_by_id(late.id).status == "completed"

    assert "did you mean one of mine, overdue, team" in warned(
        ask(slack, "followups everything", team.rep)
    )
    assert "is not a member of this workspace" in warned(
        ask(slack, "followups <@U0NOBODY|ghost>", team.rep)
    )
