"""Undo needs the right to make that change now (SPEC 10, issue 10 finding 1): over signed HTTP
against the real web process, on both databases. A manager's click on the Undo of an admin's
role or settings change is refused naming the role it needs and changes nothing; the admin's
own Undo still works; an author demoted since may no longer undo what they did as admin."""

from __future__ import annotations

import pytest

from crm.models import AuditLog, Company, Lead, Member
from tests.admin_support import Session, Team, answer_text, button_value, new_team, session_fixture
from tests.e2e_support import site_fixture

pytestmark = pytest.mark.slow


site = site_fixture("undo")
session = session_fixture(check_payloads=False)


@pytest.fixture
def team(session: Session) -> Team:
    return new_team(session.fake)


def role_of(member: Member) -> str:
    return Member.get_by_id(member.id).role


def reverted(change_id: str) -> bool:
    return (
        AuditLog.select()
        .where((AuditLog.change_id == change_id) & AuditLog.reverted_at.is_null(False))
        .exists()
    )


def test_a_manager_cannot_undo_an_admins_role_change(session: Session, team: Team) -> None:
    otto = team.rep2
    session.command(f"role <@{otto.id}|otto> admin", team.admin)
    body = session.command(f"role <@{otto.id}|otto> rep", team.admin)
    assert role_of(otto.member) == "rep"
    change_id = button_value(body, "undo")

    refused = answer_text(session.click("undo", change_id, team.manager))
    assert "Only admins may undo this: it needs the right to change roles" in refused
    assert "your role is manager" in refused
    assert role_of(otto.member) == "rep" and not reverted(change_id)
    # a rep is refused the same way
    refused = answer_text(session.click("undo", change_id, team.rep))
    assert "Only admins may undo this" in refused and "your role is rep" in refused
    assert role_of(otto.member) == "rep"

    # the admin who made it may undo it
    assert "Undone" in answer_text(session.click("undo", change_id, team.admin))
    assert role_of(otto.member) == "admin" and reverted(change_id)


def test_a_manager_cannot_undo_an_admins_settings_change(session: Session, team: Team) -> None:
    body = session.command("settings currency=USD", team.admin)
    change_id = button_value(body, "undo")
    assert Company.get_by_id(team.company.id).currency == "USD"

    refused = answer_text(session.click("undo", change_id, team.manager))
    assert "Only admins may undo this: it needs the right to change company settings" in refused
    assert Company.get_by_id(team.company.id).currency == "USD" and not reverted(change_id)

    assert "Undone" in answer_text(session.click("undo", change_id, team.admin))
    assert Company.get_by_id(team.company.id).currency == "ZMW"


def test_an_author_demoted_since_cannot_undo_their_admin_change(
    session: Session, team: Team
) -> None:
    # the manager is made admin, changes the currency, and is demoted again
    session.command(f"role <@{team.manager.id}|max> admin", team.admin)
    body = session.command("settings currency=EUR", team.manager)
    change_id = button_value(body, "undo")
    session.command(f"role <@{team.manager.id}|max> manager", team.admin)

    refused = answer_text(session.click("undo", change_id, team.manager))
    assert "Only admins may undo this" in refused and "your role is manager" in refused
    assert Company.get_by_id(team.company.id).currency == "EUR" and not reverted(change_id)


def test_record_changes_keep_their_rules(session: Session, team: Team) -> None:
    """Another rep may not undo a rep's lead; a manager may (their role edits every record)."""
    body = session.command('lead add "Undo Person" email=undo@example.com', team.rep)
    change_id = button_value(body, "undo")
    refused = answer_text(session.click("undo", change_id, team.rep2))
    assert "Only the person who made a change, managers and admins may undo it" in refused
    assert not reverted(change_id)
    assert "Undone" in answer_text(session.click("undo", change_id, team.manager))
    assert reverted(change_id)


def test_an_author_who_may_no_longer_edit_the_record_cannot_undo(
    session: Session, team: Team
) -> None:
    """The rep's lead was handed to another rep since: undoing its creation would delete a
    record the rep may no longer change."""
    body = session.command('lead add "Handed Over" email=handed@example.com', team.rep)
    change_id = button_value(body, "undo")
    lead = Lead.get((Lead.company == team.company.id) & (Lead.email == "handed@example.com"))
    session.command(f"lead assign L{lead.id} <@{team.rep2.id}|ned>", team.manager)
    assert Lead.get_by_id(lead.id).assigned_to_id == team.rep2.member.id
    refused = answer_text(session.click("undo", change_id, team.rep))
    assert "You may no longer change this record, so you may not undo your change" in refused
    assert not reverted(change_id)
    assert Lead.get_or_none(Lead.id == lead.id) is not None


def test_an_author_undoes_a_call_logged_on_someone_elses_lead(session: Session, team: Team) -> None:
    """Logging a call needs no right to edit the lead, so neither does undoing it, although
    the change also moved the lead's "last contacted"."""
    body = session.command('lead add "Not Mine" email=notmine@example.com', team.rep2)
    lead = Lead.get((Lead.company == team.company.id) & (Lead.email == "notmine@example.com"))
    assert button_value(body, "undo")
    logged = session.command(f'log call L{lead.id} "asked about pricing"', team.rep)
    assert Lead.get_by_id(lead.id).last_contacted_at is not None
    change_id = button_value(logged, "undo")
    assert "Undone" in answer_text(session.click("undo", change_id, team.rep))
    assert Lead.get_by_id(lead.id).last_contacted_at is None and reverted(change_id)
